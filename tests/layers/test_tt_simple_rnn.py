import keras
import numpy as np
import pytest

from tests.helpers import to_numpy
from tests.layers import _tt_rnn_helpers as h
from ttrnn import TTSimpleRNN
from ttrnn import TTSimpleRNNCell
from ttrnn.testing import run_layer_test

ARGS = {"tt_input_shape": h.INS, "tt_output_shape": h.OUTS, "tt_ranks": h.RANKS}


def _rnn(**kwargs):
    kwargs.setdefault("bias_initializer", "random_normal")
    return TTSimpleRNN(h.INS, h.OUTS, h.RANKS, **kwargs)


def _built(layer, steps=5):
    layer.build((None, steps, h.FEATURES))
    return layer


def _linear_rnn(**kwargs):
    """Linear, bias-free: outputs expose the dropout masks directly."""
    layer = _built(
        TTSimpleRNN(
            h.INS,
            h.OUTS,
            h.RANKS,
            activation=None,
            use_bias=False,
            return_sequences=True,
            **kwargs,
        )
    )
    return layer


class TestTTSimpleRNN:
    def test_layer(self):
        run_layer_test(
            TTSimpleRNN,
            {**ARGS, "bias_initializer": "random_normal",
             "return_sequences": True},
            input_shape=(3, 5, h.FEATURES),
            expected_output_shape=(3, 5, 6),
            expected_num_trainable_weights=4,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=1,
        )  # fmt: skip

    def test_layer_variant(self):
        run_layer_test(
            TTSimpleRNN,
            {**ARGS, "activation": "keras2_hard_sigmoid",
             "kernel_initializer": keras.initializers.RandomNormal(0.0, 0.1),
             "bias_regularizer": "l1", "dropout": 0.1, "seed": 2},
            input_shape=(3, 5, h.FEATURES),
            expected_output_shape=(3, 6),
            expected_num_losses=1,
            run_training_check=False,
            run_mixed_precision_check=False,
        )  # fmt: skip
        run_layer_test(TTSimpleRNNCell, ARGS)  # config only

    def test_cores_and_parameter_counts(self):
        layer = _built(_rnn())
        assert [tuple(c.shape) for c in layer.cores] == [
            (1, 3, 2, 2),
            (2, 4, 3, 1),
        ]
        assert tuple(layer.recurrent_kernel.shape) == (6, 6)
        assert tuple(layer.bias.shape) == (6,)
        # Yang et al. 2017, Table 1, "TT layer": one gate, either layout.
        for layout in ("shared", "separate"):
            counts = [
                h.core_param_count(TTSimpleRNNCell, r, layout)
                for r in (3, 4, 5)
            ]
            assert counts == [1752, 2976, 4520]

    @pytest.mark.parametrize(
        "kwargs, masked",
        [
            ({"return_sequences": True, "return_state": True}, False),
            ({"go_backwards": True, "return_state": True}, True),
        ],
    )
    def test_correctness_against_keras_simple_rnn(self, kwargs, masked):
        layer = _built(_rnn(**kwargs))
        twin = h.keras_twin(keras.layers.SimpleRNN, layer, **kwargs)
        x = h.sequences()
        mask = h.ragged_mask() if masked else None
        h.assert_same(layer(x, mask=mask), twin(x, mask=mask))

    def test_input_dropout_one_mask_per_sequence(self):
        layer = _linear_rnn(dropout=0.5)
        layer.recurrent_kernel.assign(np.zeros((6, 6), "float32"))
        # Four copies of one frame repeated over time.
        frame = h.sequences(batch=1, steps=1)
        x = np.tile(frame, (4, 5, 1))
        y = to_numpy(layer(x, training=True))
        # One mask per sequence: every step of a sequence alike ...
        np.testing.assert_allclose(y, np.repeat(y[:, :1], 5, axis=1), 1e-6)
        # ... but a mask of its own per sequence and per batch.
        assert np.max(np.abs(y[0] - y[1])) > 1e-3
        again = to_numpy(layer(x, training=True))
        assert np.max(np.abs(y - again)) > 1e-3
        # No dropout at inference: x @ W exactly.
        expected = frame[0, 0] @ h.dense_kernel(layer)
        h.assert_same(layer(x), np.broadcast_to(expected, (4, 5, 6)))

    def test_recurrent_dropout_one_mask_per_sequence(self):
        layer = _linear_rnn(recurrent_dropout=0.5)
        layer.recurrent_kernel.assign(np.eye(6, dtype="float32"))
        x = np.zeros((4, 3, 12), "float32")
        x[:, 0] = h.sequences(batch=1, steps=1)[0, 0]
        y = to_numpy(layer(x, training=True))
        h0, h1, h2 = y[:, 0], y[:, 1], y[:, 2]  # h1 = h0 m, h2 = h1 m'
        ratio = h1 / h0
        assert set(np.round(np.unique(ratio), 5)) <= {0.0, 2.0}
        np.testing.assert_allclose(h2 * h0, h1 * h1, rtol=1e-5, atol=1e-6)
        assert np.max(np.abs(h1[0] - h1[1])) > 1e-3  # per-sample masks
        h.assert_same(layer(x), np.broadcast_to(h0, (3, 4, 6)).swapaxes(0, 1))

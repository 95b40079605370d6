import os

import keras
import numpy as np
import pytest

from tests.helpers import to_numpy
from tests.layers import _tt_rnn_helpers as h
from ttrnn import TTSimpleRNN
from ttrnn import TTSimpleRNNCell


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
    def test_basics(self):
        layer = _rnn(return_sequences=True)
        y = layer(h.sequences())
        assert tuple(y.shape) == (3, 5, 6)
        assert [tuple(c.shape) for c in layer.cores] == [
            (1, 3, 2, 2),
            (2, 4, 3, 1),
        ]
        assert tuple(layer.recurrent_kernel.shape) == (6, 6)
        assert tuple(layer.bias.shape) == (6,)
        assert layer.compute_output_shape((None, 7, 12)) == (None, 7, 6)
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

    def test_config_and_saving_round_trip(self, tmp_path):
        layer = _rnn(
            activation="keras2_hard_sigmoid",
            kernel_initializer=keras.initializers.RandomNormal(0.0, 0.1),
            bias_regularizer="l1",
            dropout=0.1,
            seed=2,
        )
        h.config_round_trip(layer)
        model = keras.Sequential([keras.Input((5, 12)), layer])
        path = os.path.join(tmp_path, "rnn.keras")
        h.save_and_load(model, path, h.sequences())

import keras
import numpy as np
import pytest

from tests.helpers import to_numpy
from tests.layers import _tt_rnn_helpers as h
from ttrnn import TTLSTM
from ttrnn import TTLSTMCell
from ttrnn import activations
from ttrnn.testing import run_layer_test

ARGS = {"tt_input_shape": h.INS, "tt_output_shape": h.OUTS, "tt_ranks": h.RANKS}


def _lstm(**kwargs):
    kwargs.setdefault("bias_initializer", "random_normal")
    return TTLSTM(h.INS, h.OUTS, h.RANKS, **kwargs)


def _built(layer, steps=5):
    layer.build((None, steps, h.FEATURES))
    return layer


class TestTTLSTM:
    def test_layer(self):
        run_layer_test(
            TTLSTM,
            {**ARGS, "return_state": True},
            input_shape=(3, 5, h.FEATURES),
            expected_output_shape=[(3, 6), (3, 6), (3, 6)],
            expected_num_trainable_weights=4,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=1,
        )

    def test_layer_variant(self):
        run_layer_test(
            TTLSTM,
            {**ARGS, "unit_forget_bias": False,
             "recurrent_activation": "keras2_hard_sigmoid",
             "kernel_initializer": "orthogonal", "recurrent_regularizer": "l2",
             "tt_gate_layout": "separate", "return_sequences": True},
            input_shape=(3, 5, h.FEATURES),
            expected_output_shape=(3, 5, 6),
            expected_num_trainable_weights=10,
            expected_num_losses=1,
            run_training_check=False,
            run_mixed_precision_check=False,
        )  # fmt: skip
        run_layer_test(TTLSTMCell, {**ARGS, "unit_forget_bias": False})

    def test_cores_and_states(self):
        layer = TTLSTM(h.INS, h.OUTS, h.RANKS, return_state=True)
        out, state_h, state_c = layer(h.sequences())
        np.testing.assert_array_equal(to_numpy(out), to_numpy(state_h))
        cell = layer.cell
        assert [tuple(c.shape) for c in cell.cores] == [
            (1, 3, 8, 2),  # n_0 = 4 gates * 2
            (2, 4, 3, 1),
        ]
        assert tuple(cell.recurrent_kernel.shape) == (6, 24)
        # unit_forget_bias: gate order i, f, c, o; only f starts at 1.
        expected_bias = np.concatenate([np.zeros(6), np.ones(6), np.zeros(12)])
        np.testing.assert_array_equal(to_numpy(cell.bias), expected_bias)
        again = TTLSTM.from_config(
            _lstm(
                unit_forget_bias=False,
                recurrent_activation="keras2_hard_sigmoid",
            ).get_config()
        )
        assert not again.unit_forget_bias
        assert again.recurrent_activation is activations.keras2_hard_sigmoid

    @pytest.mark.parametrize(
        "layout, recurrent_activation",
        [("shared", "sigmoid"), ("separate", "keras2_hard_sigmoid")],
    )
    def test_correctness_against_keras_lstm(self, layout, recurrent_activation):
        kwargs = {
            "return_sequences": True,
            "return_state": True,
            "recurrent_activation": recurrent_activation,
        }
        layer = _lstm(tt_gate_layout=layout, **kwargs)
        x = h.sequences()
        out = layer(x)
        kwargs["recurrent_activation"] = activations.get(recurrent_activation)
        twin = h.keras_twin(keras.layers.LSTM, layer, **kwargs)
        h.assert_same(out, twin(x))

    def test_masking_backwards_without_forget_bias(self):
        kwargs = {"go_backwards": True, "return_sequences": True}
        layer = _built(_lstm(unit_forget_bias=False, use_bias=False, **kwargs))
        assert layer.bias is None
        x, mask = h.sequences(), h.ragged_mask()
        twin = keras.layers.LSTM(6, use_bias=False, **kwargs)
        twin.build((None, 5, 12))
        twin.set_weights(h.keras_weights(layer))
        h.assert_same(layer(x, mask=mask), twin(x, mask=mask))

    def test_statefulness(self):
        x = h.sequences(batch=2, steps=6)
        stateful = _lstm(stateful=True, return_state=True)
        model = keras.Sequential([keras.Input((3, 12), batch_size=2), stateful])
        model(x[:, :3])
        second = model(x[:, 3:])
        whole = _built(_lstm(return_state=True))
        whole.set_weights(stateful.get_weights())
        h.assert_same(second, whole(x))  # h and c carried over
        stateful.reset_state()
        h.assert_same(model(x[:, 3:]), whole(x[:, 3:]))

    def test_bidirectional_with_mask(self):
        x, mask = h.sequences(), h.ragged_mask()
        bi = keras.layers.Bidirectional(_lstm(), merge_mode="sum")
        y = bi(x, mask=mask)
        twin = keras.layers.Bidirectional(keras.layers.LSTM(6), "sum")
        twin.build((None, 5, 12))
        twin.set_weights(
            h.keras_weights(bi.forward_layer)
            + h.keras_weights(bi.backward_layer)
        )
        h.assert_same(y, twin(x, mask=mask))

    def test_dropout_changes_training_not_inference(self):
        layer = _built(_lstm(dropout=0.3, recurrent_dropout=0.3))
        plain = _built(_lstm())
        plain.set_weights(layer.get_weights())
        x = h.sequences()
        expected = to_numpy(plain(x))
        h.assert_same(layer(x), expected)  # training defaults to False
        trained = to_numpy(layer(x, training=True))
        assert np.max(np.abs(trained - expected)) > 1e-3
        mask = layer.cell.get_recurrent_dropout_mask(keras.ops.ones((2, 6)))
        assert tuple(mask.shape) == (4, 2, 6)  # one mask per gate

    @pytest.mark.parametrize(
        "layout, expected",
        [("shared", (2040, 3360, 5000)), ("separate", (7008, 11904, 18080))],
    )
    def test_parameter_counts_of_yang_2017_table_1(self, layout, expected):
        counts = [h.core_param_count(TTLSTMCell, r, layout) for r in (3, 4, 5)]
        assert tuple(counts) == expected

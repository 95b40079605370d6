import os

import keras
import numpy as np
import pytest

from tests.helpers import to_numpy
from tests.layers import _tt_rnn_helpers as h
from ttrnn import TTLSTM
from ttrnn import TTLSTMCell
from ttrnn import activations


def _lstm(**kwargs):
    kwargs.setdefault("bias_initializer", "random_normal")
    return TTLSTM(h.INS, h.OUTS, h.RANKS, **kwargs)


def _built(layer, steps=5):
    layer.build((None, steps, h.FEATURES))
    return layer


class TestTTLSTM:
    def test_basics(self):
        layer = TTLSTM(h.INS, h.OUTS, h.RANKS, return_state=True)
        out, state_h, state_c = layer(h.sequences())
        assert tuple(out.shape) == (3, 6)
        np.testing.assert_array_equal(to_numpy(out), to_numpy(state_h))
        assert tuple(state_c.shape) == (3, 6)
        cell = layer.cell
        assert [tuple(c.shape) for c in cell.cores] == [
            (1, 3, 8, 2),  # n_0 = 4 gates * 2
            (2, 4, 3, 1),
        ]
        assert tuple(cell.recurrent_kernel.shape) == (6, 24)
        # unit_forget_bias: gate order i, f, c, o; only f starts at 1.
        expected_bias = np.concatenate([np.zeros(6), np.ones(6), np.zeros(12)])
        np.testing.assert_array_equal(to_numpy(cell.bias), expected_bias)
        assert layer.compute_output_shape((None, 7, 12)) == (
            (None, 6),
            (None, 6),
            (None, 6),
        )

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

    def test_config_and_saving_round_trip(self, tmp_path):
        layer = _lstm(
            unit_forget_bias=False,
            recurrent_activation="keras2_hard_sigmoid",
            kernel_initializer="orthogonal",
            recurrent_regularizer="l2",
            tt_gate_layout="separate",
            return_sequences=True,
        )
        again = h.config_round_trip(layer)
        assert not again.unit_forget_bias
        h.config_round_trip(layer.cell)
        model = keras.Sequential([keras.Input((5, 12)), layer])
        path = os.path.join(tmp_path, "lstm.keras")
        loaded = h.save_and_load(model, path, h.sequences())
        assert loaded.layers[0].recurrent_activation is (
            activations.keras2_hard_sigmoid
        )

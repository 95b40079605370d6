import os

import keras
import numpy as np
import pytest

from tests.helpers import to_numpy
from tests.layers import _tt_rnn_helpers as h
from ttrnn import TTGRU
from ttrnn import TTGRUCell
from ttrnn import activations
from ttrnn import tt
from ttrnn.layers import _tt_rnn_inputs
from ttrnn.testing import run_layer_test

ARGS = {"tt_input_shape": h.INS, "tt_output_shape": h.OUTS, "tt_ranks": h.RANKS}


def _gru(**kwargs):
    kwargs.setdefault("bias_initializer", "random_normal")
    return TTGRU(h.INS, h.OUTS, h.RANKS, **kwargs)


def _moving_dots(n, rng, steps=6):
    """A dot moving left, right, up or down on a 4 x 8 grid, plus noise."""
    x = 0.1 * rng.standard_normal((n, steps, 4, 8)).astype("float32")
    y = rng.integers(0, 4, n)
    moves = {0: (0, -1), 1: (0, 1), 2: (-1, 0), 3: (1, 0)}
    for i in range(n):
        dr, dc = moves[int(y[i])]
        r = rng.integers(0, 4) if dr == 0 else (3 if dr < 0 else 0)
        c = rng.integers(0, 8) if dc == 0 else (7 if dc < 0 else 0)
        for t in range(steps):
            x[i, t, (r + dr * t) % 4, (c + dc * t) % 8] += 1.0
    return x.reshape(n, steps, 32), y


class TestTTGRU:
    def test_layer(self):
        run_layer_test(
            TTGRU,
            {**ARGS, "bias_initializer": "random_normal",
             "return_sequences": True, "return_state": True},
            input_shape=(3, 5, h.FEATURES),
            expected_output_shape=[(3, 5, 6), (3, 6)],
            expected_num_trainable_weights=4,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=1,
        )  # fmt: skip

    def test_layer_variant(self):
        run_layer_test(
            TTGRU,
            {**ARGS, "recurrent_activation": "keras2_hard_sigmoid",
             "reset_after": False, "kernel_initializer": "he_normal",
             "kernel_regularizer": keras.regularizers.L2(0.01),
             "recurrent_constraint": "non_neg", "dropout": 0.25,
             "recurrent_dropout": 0.25, "seed": 5, "return_sequences": True,
             "go_backwards": True, "tt_gate_layout": "separate",
             "tt_strategy": "rtl", "name": "ttgru"},
            input_shape=(3, 5, h.FEATURES),
            expected_output_shape=(3, 5, 6),
            expected_num_trainable_weights=8,
            expected_num_losses=6,
            run_training_check=False,
            run_mixed_precision_check=False,
        )  # fmt: skip
        run_layer_test(TTGRUCell, ARGS)  # config only

    def test_cores_and_arguments(self):
        layer = _built(_gru())
        cell = layer.cell
        assert layer.units == 6 and layer.input_dim == 12
        # Shared layout: the first output mode carries the 3 gates.
        assert [tuple(c.shape) for c in cell.cores] == [
            (1, 3, 6, 2),
            (2, 4, 3, 1),
        ]
        assert [tuple(c.shape) for c in cell.cores] == cell.tt_core_shapes
        assert tuple(cell.recurrent_kernel.shape) == (6, 18)
        assert tuple(cell.bias.shape) == (2, 18)  # reset_after=True
        assert layer.cores is cell.cores
        expected = tt.num_params((3, 4), (6, 3), (1, 2, 1)) + 6 * 18 + 36
        assert layer.count_params() == expected
        again = TTGRU(
            [3, 4], [2, 3], 2, recurrent_activation="keras2_hard_sigmoid",
            kernel_initializer="he_normal",
        )  # fmt: skip
        assert again.recurrent_activation is activations.keras2_hard_sigmoid
        assert again.tt_ranks == (1, 2, 1)
        assert isinstance(again.kernel_initializer, tt.TTVarianceScaling)

    @pytest.mark.parametrize("strategy", ["auto", "rtl[1,1]/chunked"])
    @pytest.mark.parametrize("layout", ["shared", "separate"])
    @pytest.mark.parametrize("reset_after", [True, False])
    def test_correctness_against_keras_gru(self, reset_after, layout, strategy):
        kwargs = {"return_sequences": True, "return_state": True}
        layer = _gru(
            reset_after=reset_after,
            tt_gate_layout=layout,
            tt_strategy=strategy,
            **kwargs,
        )
        x = h.sequences()
        out = layer(x)
        twin = h.keras_twin(
            keras.layers.GRU, layer, reset_after=reset_after, **kwargs
        )
        h.assert_same(out, twin(x))
        # The drop-in claim: in the shared layout to_dense(cores) *is* the
        # Keras kernel; in both, layer.to_dense() is.
        np.testing.assert_allclose(
            to_numpy(layer.to_dense()), h.dense_kernel(layer), atol=1e-6
        )
        if layout == "shared":
            np.testing.assert_allclose(
                to_numpy(tt.to_dense(layer.cores)),
                h.dense_kernel(layer),
                atol=1e-6,
            )
        else:
            assert len(layer.cores) == 6  # 3 gates x d = 2, gate-major
            shapes = [tuple(c.shape) for c in layer.cores]
            assert shapes == layer.cell.tt_core_shapes
            assert layer.cores[2].path.endswith("core_r_0")

    @pytest.mark.parametrize(
        "go_backwards, return_sequences", [(False, True), (True, False)]
    )
    def test_masking(self, go_backwards, return_sequences):
        kwargs = {
            "go_backwards": go_backwards,
            "return_sequences": return_sequences,
            "reset_after": False,
        }
        layer = _gru(**kwargs)
        x, mask = h.sequences(), h.ragged_mask()
        twin = h.keras_twin(keras.layers.GRU, _built(layer), **kwargs)
        h.assert_same(layer(x, mask=mask), twin(x, mask=mask))

    def test_masking_layer_and_unroll(self):
        x = h.sequences()
        x[0, -2:] = 0.0
        inputs = keras.Input((5, 12))
        masked = keras.layers.Masking(0.0)(inputs)
        layer = _gru(return_sequences=True, unroll=True)
        model = keras.Model(inputs, layer(masked))
        twin = h.keras_twin(
            keras.layers.GRU, layer, return_sequences=True, unroll=True
        )
        expected = twin(x, mask=np.any(x != 0, axis=-1))
        h.assert_same(model(x), expected)

    def test_cells_alone_in_keras_rnn(self):
        # Per-step TT map (cells in keras.layers.RNN, stacked) == the
        # layers' map over the whole sequence.
        cells = [
            TTGRUCell(h.INS, h.OUTS, h.RANKS, bias_initializer="ones"),
            TTGRUCell((2, 3), (3, 1), 2, reset_after=False),
        ]
        rnn = keras.layers.RNN(cells, return_sequences=True)
        x = h.sequences()
        y = rnn(x)
        first = _built(_gru(return_sequences=True))
        second = TTGRU((2, 3), (3, 1), 2, reset_after=False)
        second.build((None, 5, 6))
        first.set_weights(cells[0].get_weights())
        second.set_weights(cells[1].get_weights())
        h.assert_same(y[:, -1], second(first(x)))

    def test_time_chunks_match_one_pass(self, monkeypatch):
        layer = _built(_gru(return_sequences=True))
        calls = []
        original = layer.cell.input_map

        def spy(inputs, *args):
            calls.append(tuple(inputs.shape))
            return original(inputs, *args)

        monkeypatch.setattr(layer.cell, "input_map", spy)
        # Budget of 2 frames: batch 3 * 2 frames * 12 features.
        monkeypatch.setattr(_tt_rnn_inputs, "MAX_PROJECTION_VALUES", 72)
        x = h.sequences()
        y = layer(x)
        assert calls == [(3, 2, 12), (3, 2, 12), (3, 1, 12)]
        twin = h.keras_twin(keras.layers.GRU, layer, return_sequences=True)
        h.assert_same(y, twin(x))

    def test_bidirectional(self):
        x, mask = h.sequences(), h.ragged_mask()
        bi = keras.layers.Bidirectional(_gru(return_sequences=True))
        y = bi(x, mask=mask)
        forward, backward = bi.forward_layer, bi.backward_layer
        assert isinstance(backward, TTGRU) and backward.go_backwards
        twin = keras.layers.Bidirectional(
            keras.layers.GRU(6, return_sequences=True)
        )
        twin.build((None, 5, 12))
        twin.set_weights(h.keras_weights(forward) + h.keras_weights(backward))
        h.assert_same(y, twin(x, mask=mask))

    def test_dropout_changes_training_not_inference(self):
        layer = _gru(dropout=0.5, recurrent_dropout=0.5, seed=3)
        plain = _built(_gru())
        x = h.sequences()
        layer.build(x.shape)
        plain.set_weights(layer.get_weights())
        expected = to_numpy(plain(x))
        h.assert_same(layer(x, training=False), expected)
        train_a = to_numpy(layer(x, training=True))
        train_b = to_numpy(layer(x, training=True))
        assert np.max(np.abs(train_a - expected)) > 1e-3
        assert np.max(np.abs(train_a - train_b)) > 1e-3  # new masks per batch
        # Masks are not kept between calls.
        assert layer.cell._dropout_mask is None
        assert layer.cell._recurrent_dropout_mask is None
        # One recurrent mask per gate, cached for all steps until reset.
        state = keras.ops.ones((4, 6))
        mask = to_numpy(layer.cell.get_recurrent_dropout_mask(state))
        assert mask.shape == (3, 4, 6)
        assert set(np.unique(mask)) <= {0.0, 2.0}
        assert not np.array_equal(mask[0], mask[1])  # independent gates
        again = layer.cell.get_recurrent_dropout_mask(state)
        np.testing.assert_array_equal(mask, to_numpy(again))
        layer.cell.reset_recurrent_dropout_mask()
        fresh = layer.cell.get_recurrent_dropout_mask(state)
        assert not np.array_equal(mask, to_numpy(fresh))

    def test_learns_moving_dots(self):
        # A TTGRU layer (map over the whole sequence) feeding a TTGRUCell
        # with dropout alone in keras.layers.RNN (map per step; Keras draws
        # its masks outside the loop, which JAX's compiled step needs).
        rng = np.random.default_rng(7)
        x, y = _moving_dots(256, rng)
        x_test, y_test = _moving_dots(256, rng)
        cell = TTGRUCell((4, 4), (4, 4), 3, dropout=0.1, recurrent_dropout=0.1)
        model = keras.Sequential(
            [
                keras.Input((6, 32)),
                TTGRU((4, 8), (4, 4), 3, return_sequences=True),
                keras.layers.RNN(cell),
                keras.layers.Dense(4),
            ]
        )
        model.compile(
            keras.optimizers.Adam(2e-2),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        before = [to_numpy(v) for v in model.trainable_weights]
        model.fit(x, y, batch_size=32, epochs=8, verbose=0)
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
        assert accuracy > 0.85  # chance: 0.25
        for b, v in zip(before, model.trainable_weights):
            assert np.max(np.abs(b - to_numpy(v))) > 1e-4

    @pytest.mark.parametrize(
        "layout, expected",
        [("shared", (1944, 3232, 4840)), ("separate", (5256, 8928, 13560))],
    )
    def test_parameter_counts_of_yang_2017_table_1(self, layout, expected):
        counts = [h.core_param_count(TTGRUCell, r, layout) for r in (3, 4, 5)]
        assert tuple(counts) == expected

    def test_bidirectional_saving(self, tmp_path):
        model = keras.Sequential(
            [
                keras.Input((5, 12)),
                keras.layers.Bidirectional(TTGRU((3, 4), (1, 2), 2)),
            ]
        )
        path = os.path.join(tmp_path, "gru.keras")
        loaded = h.save_and_load(model, path, h.sequences())
        assert isinstance(loaded.layers[0].forward_layer, TTGRU)

    def test_separate_layout_seeds_and_regularizes_every_gate(self):
        layer = _built(
            _gru(
                tt_gate_layout="separate",
                kernel_initializer=tt.TTVarianceScaling(seed=11),
                kernel_regularizer=keras.regularizers.L2(0.5),
            )
        )
        # A seeded initialiser still draws distinct gates.
        z, r, hh = (to_numpy(layer.cores[2 * g]) for g in range(3))
        assert not np.allclose(z, r) and not np.allclose(r, hh)
        expected = sum(0.5 * np.sum(to_numpy(c) ** 2) for c in layer.cores)
        assert len(layer.losses) == 6
        total = sum(float(to_numpy(v)) for v in layer.losses)
        np.testing.assert_allclose(total, expected, rtol=1e-5)

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"tt_gate_layout": "both"}, r"tt_gate_layout.*'both'"),
            ({"dropout": 1.0}, r"dropout.*\[0, 1\)\. Received: dropout=1.0"),
            ({"recurrent_dropout": -0.1}, r"Received: recurrent_dropout=-0"),
            ({"recurrent_activation": "nope"}, r"nope"),
        ],
    )
    def test_invalid_arguments(self, kwargs, match):
        args = {
            "tt_input_shape": h.INS,
            "tt_output_shape": h.OUTS,
            "tt_ranks": h.RANKS,
        }
        args.update(kwargs)
        with pytest.raises(ValueError, match=match):
            TTGRU(**args)

    def test_wrong_input_dim(self):
        with pytest.raises(
            ValueError,
            match=r"Received: tt_input_shape=\(3, 4\) \(product 12\) for an "
            r"input of 10 features",
        ):
            _gru()(np.ones((2, 3, 10), "float32"))

    def test_gate_expanded_ranks_are_validated(self):
        # Shared layout: cut 1 of (3, 4) x (3 * 2, 3) allows rank 12.
        with pytest.warns(UserWarning, match=r"largest useful rank 12"):
            layer = TTGRU(h.INS, h.OUTS, 20)
        assert layer.tt_ranks == (1, 12, 1)


def _built(layer, steps=5):
    layer.build((None, steps, h.FEATURES))
    return layer

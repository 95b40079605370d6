"""The video TT-MLP (Table 2 of the 2017 paper): its weights, its mean
over the unmasked frames, against a NumPy reference."""

import itertools
import math

import keras
import numpy as np
import pytest

from ttrnn.experiments import experiment
from ttrnn.experiments import info
from ttrnn.experiments import models
from ttrnn.experiments import registry


def _dense_kernel(cores):
    """W (M, N) of TT cores (r, m, n, r'), by NumPy alone: rows
    (i_0..i_{d-1}) and columns (j_0..j_{d-1}) in C order."""
    w = cores[0][0]  # (m0, n0, r1)
    for core in cores[1:]:
        w = np.tensordot(w, core, axes=([-1], [0]))
    w = w[..., 0]  # (m0, n0, m1, n1, ...)
    d = len(cores)
    w = w.transpose(list(range(0, 2 * d, 2)) + list(range(1, 2 * d, 2)))
    rows = math.prod(c.shape[1] for c in cores)
    return w.reshape(rows, -1)


def _weights(ins, outs, ranks):
    return sum(
        ranks[k] * ins[k] * outs[k] * ranks[k + 1] for k in range(len(ins))
    )


class TestTTMLP:
    def test_weights_match_table_2(self):
        e = registry.get("ucf11")
        assert "tt-mlp" in e.models
        model, loss = models.build_recurrent(e, "tt-mlp", 57600, 11)
        assert loss == "sparse_categorical_crossentropy"
        rows = info.layer_rows(model)
        assert [r["layer"] for r in rows] == ["frames_tt", "head"]
        tt_row = rows[0]
        # 1*8*4*8 + 8*20*2*8 + 8*20*2*8 + 8*18*16*1
        assert tt_row["input_to_hidden"] == 256 + 2560 + 2560 + 2304 == 7680
        assert tt_row["input_to_hidden"] == e.paper["tt-mlp"]["input_to_hidden"]
        assert tt_row["tt_input_shape"] == [8, 20, 20, 18]
        assert tt_row["tt_output_shape"] == [4, 2, 2, 16]
        assert tt_row["tt_ranks"] == [1, 8, 8, 8, 1]
        assert tt_row["dense_equivalent"] == 57600 * 256

    def test_the_only_uniform_rank_layout_of_7680_weights(self):
        """docs/experiments.md: with the input modes 8x20x20x18, a hidden
        size of 256, no output mode of 1 and one rank at every cut,
        4x2x2x16 at rank 8 is the one layout with the paper's 7,680
        weights (8x1x1x32 at rank 8 is the other with modes of 1)."""
        ins = (8, 20, 20, 18)
        found = [
            (outs, r)
            for outs in itertools.product((1, 2, 4, 8, 16, 32), repeat=4)
            if math.prod(outs) == 256 and min(outs) > 1
            for r in range(1, 17)
            if _weights(ins, outs, (1, r, r, r, 1)) == 7680
        ]
        assert found == [((4, 2, 2, 16), 8)]
        assert experiment.TT_MLP_OUTPUT_SHAPE == (4, 2, 2, 16)
        assert experiment.TT_MLP_RANKS == (1, 8, 8, 8, 1)

    def test_correctness_with_padding_mask(self):
        """uint8 frames with a padding mask: the output is the head on the
        mean of relu(frame @ W + b) over the unmasked frames, whatever
        the padded frames hold."""
        e = registry.get("ucf11")
        keras.utils.set_random_seed(3)
        model, _ = models.build_recurrent(
            e, "tt-mlp", 1152, 11, masking=True, pixels=(128.0, 1 / 128)
        )
        rng = np.random.default_rng(0)
        frames = rng.integers(0, 256, (3, 6, 1152)).astype("uint8")
        mask = np.ones((3, 6), bool)
        mask[0, :2] = False  # 4 real frames, pre-padded with noise
        mask[1, :5] = False  # 1 real frame
        got = model.predict([frames, mask], verbose=0)

        layer = model.get_layer("frames_tt")
        w = _dense_kernel([keras.ops.convert_to_numpy(c) for c in layer.cores])
        b = keras.ops.convert_to_numpy(layer.bias)
        head_w, head_b = model.get_layer("head").get_weights()
        x = (frames.astype("float64") - 128.0) / 128
        hidden = np.maximum(x @ w + b, 0.0)
        pooled = np.stack(
            [hidden[i][mask[i]].mean(axis=0) for i in range(len(frames))]
        )
        logits = pooled @ head_w + head_b
        expected = np.exp(logits - logits.max(axis=1, keepdims=True))
        expected /= expected.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
        # The padded frames change nothing: the same clips, no padding.
        alone = model.predict([frames[1:2, 5:], mask[1:2, 5:]], verbose=0)
        np.testing.assert_allclose(got[1:2], alone, rtol=1e-5, atol=1e-7)

    def test_masking_of_zero_padded_float_frames(self):
        e = registry.get("ucf11")
        keras.utils.set_random_seed(4)
        model, _ = models.build_recurrent(e, "tt-mlp", 1152, 11, masking=True)
        assert model.get_layer("masking") is not None
        rng = np.random.default_rng(1)
        clip = rng.uniform(-1, 1, (1, 3, 1152)).astype("float32")
        padded = np.concatenate([np.zeros((1, 4, 1152), "float32"), clip], 1)
        np.testing.assert_allclose(
            model.predict(padded, verbose=0),
            model.predict(clip, verbose=0),
            rtol=1e-5,
            atol=1e-7,
        )

    def test_tt_ranks_override(self):
        e = registry.get("ucf11")
        # A run's default ranks are the TT-MLP's, not the TT-RNNs'.
        assert e.ranks(None, "tt-mlp") == [1, 8, 8, 8, 1]
        assert e.ranks(None, "tt-gru") == [1, 4, 4, 4, 1]
        assert e.ranks(3, "tt-mlp") == 3
        model, _ = models.build_recurrent(
            e, "tt-mlp", 57600, 11, tt_ranks=(1, 4, 4, 4, 1)
        )
        row = info.layer_rows(model)[0]
        assert row["input_to_hidden"] == _weights(
            (8, 20, 20, 18), (4, 2, 2, 16), (1, 4, 4, 4, 1)
        )

    def test_invalid_arguments(self):
        e = registry.get("ucf11")
        with pytest.raises(registry.ExperimentError, match="product of"):
            models.build_recurrent(
                e, "tt-mlp", 1152, 11, tt_input_shape=(8, 8, 6, 7)
            )

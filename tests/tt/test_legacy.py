"""Legacy import of 2017 TT-RNN checkpoints into the Keras 3 layers."""

import keras
import numpy as np

from tests.helpers import dense_from_cores
from tests.helpers import to_numpy
from ttrnn import TTGRU
from ttrnn import activations
from ttrnn import tt


def _legacy_flat(rng, ins, outs, ranks):
    """A flat kernel in the documented 2017 layout, and its blocks.

    Cores stored last first, core k as an (m_k r_{k+1}, r_k n_k) matrix in
    C order, i.e. indexed C_k[i_k, a_{k+1}, a_k, j_k].
    """
    d = len(ins)
    blocks = {
        k: rng.standard_normal((ins[k], ranks[k + 1], ranks[k], outs[k]))
        for k in range(d)
    }
    flat = np.concatenate([blocks[k].ravel() for k in reversed(range(d))])
    return flat, blocks


def _legacy_dense(blocks, d):
    """W[(i_0..), (j_0..)] = sum_a prod_k C_k[i_k, a_{k+1}, a_k, j_k]."""
    res = np.ones((1, 1, 1))  # (rows, cols, a_k)
    for k in range(d):
        rows, cols, _ = res.shape
        m, _, _, n = blocks[k].shape
        res = np.einsum("IJa,ibaj->IiJjb", res, blocks[k])
        res = res.reshape(rows * m, cols * n, -1)
    return res[:, :, 0]


class TestLegacyTTGRU:
    def test_2017_tt_gru_checkpoint_runs_as_keras_gru(self, rng):
        # A 2017 TT-GRU: first output mode times 3 gates, Keras 2 GRU
        # semantics (reset before the matmul, Keras 2 hard sigmoid).
        ins, units_modes, ranks = (3, 4), (2, 3), (1, 2, 1)
        gate_modes = (3 * units_modes[0],) + units_modes[1:]
        flat, blocks = _legacy_flat(rng, ins, gate_modes, ranks)
        w_2017 = _legacy_dense(blocks, 2)
        cores = tt.from_legacy_kernel(flat, ins, gate_modes, ranks)
        np.testing.assert_allclose(dense_from_cores(cores), w_2017, 1e-12)

        layer = TTGRU(
            ins,
            units_modes,
            ranks,
            recurrent_activation="keras2_hard_sigmoid",
            reset_after=False,
            bias_initializer="random_normal",
            return_sequences=True,
        )
        layer.build((None, 4, 12))
        weights = layer.get_weights()
        layer.set_weights(
            [c.astype("float32") for c in cores] + weights[len(cores) :]
        )
        twin = keras.layers.GRU(
            6,
            recurrent_activation=activations.keras2_hard_sigmoid,
            reset_after=False,
            return_sequences=True,
        )
        twin.build((None, 4, 12))
        twin.set_weights([w_2017.astype("float32")] + weights[len(cores) :])
        x = rng.standard_normal((2, 4, 12)).astype("float32")
        np.testing.assert_allclose(
            to_numpy(layer(x)), to_numpy(twin(x)), rtol=1e-5, atol=1e-5
        )

    def test_formula_for_three_cores(self, rng):
        ins, outs, ranks = (2, 3, 2), (4, 1, 3), (1, 3, 2, 1)
        flat, blocks = _legacy_flat(rng, ins, outs, ranks)
        cores = tt.from_legacy_kernel(flat, ins, outs, ranks)
        np.testing.assert_allclose(
            dense_from_cores(cores), _legacy_dense(blocks, 3), rtol=1e-12
        )

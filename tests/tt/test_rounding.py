import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import random_cores
from ttrnn import tt
from ttrnn.tt import rounding

INS, OUTS = (2, 3, 4), (3, 2, 2)


def _inflate(rng, cores, extra):
    """Same W at ranks r_k + extra: G_k A_k and A_k^+ G_{k+1}."""
    cores = [np.array(c) for c in cores]
    for k in range(len(cores) - 1):
        r = cores[k].shape[3]
        a = rng.standard_normal((r, r + extra))  # full row rank
        cores[k] = np.einsum("imnr,rs->imns", cores[k], a)
        cores[k + 1] = np.einsum(
            "sr,rmnj->smnj", np.linalg.pinv(a), cores[k + 1]
        )
    return cores


def _unfolding(w, ins, outs, k):
    """W as a (prod_{j<k} m_j n_j) x (rest) matrix, by NumPy alone."""
    d = len(ins)
    perm = [ax for j in range(d) for ax in (j, d + j)]
    t = w.reshape(tuple(ins) + tuple(outs)).transpose(perm)
    rows = int(np.prod([ins[j] * outs[j] for j in range(k)]))
    return t.reshape(rows, -1)


class TestRoundCores:
    def test_exact_rounding_removes_redundant_ranks(self, rng):
        cores = random_cores(rng, INS, OUTS, (1, 2, 3, 1))
        big = _inflate(rng, cores, extra=3)
        assert [c.shape[3] for c in big] == [5, 6, 1]
        w = dense_from_cores(big)
        small = tt.round_cores(big)
        assert [c.shape for c in small] == [
            (1, 2, 3, 2),
            (2, 3, 2, 3),
            (3, 4, 2, 1),
        ]
        np.testing.assert_allclose(
            dense_from_cores(small), w, rtol=1e-9, atol=1e-9 * abs(w).max()
        )

    def test_exact_ranks_are_the_unfolding_ranks(self, rng):
        cores = random_cores(rng, (2, 2, 2, 2), (2, 2, 2, 2), (1, 3, 9, 2, 1))
        w = dense_from_cores(cores)
        ranks = tt.cores_modes(tt.round_cores(cores))[2]
        expected = [1] + [
            np.linalg.matrix_rank(_unfolding(w, (2,) * 4, (2,) * 4, k))
            for k in range(1, 4)
        ]
        assert list(ranks) == expected + [1]

    @pytest.mark.parametrize("rank", [1, 2, 4])
    def test_two_cores_give_the_best_low_rank_matrix(self, rng, rank):
        # d = 2: rounding to rank r is the truncated SVD (Eckart-Young) of
        # the (m_0 n_0) x (m_1 n_1) unfolding.
        cores = random_cores(rng, (3, 4), (2, 5), (1, 6, 1))
        w = dense_from_cores(cores)
        unf = _unfolding(w, (3, 4), (2, 5), 1)
        u, s, vt = np.linalg.svd(unf)
        best = (u[:, :rank] * s[:rank]) @ vt[:rank]
        rounded = tt.round_cores(cores, max_rank=rank)
        got = _unfolding(dense_from_cores(rounded), (3, 4), (2, 5), 1)
        np.testing.assert_allclose(got, best, atol=1e-10 * s[0])

    @pytest.mark.parametrize("eps", [0.0, 0.05, 0.3, 0.8])
    def test_eps_bound(self, rng, eps):
        cores = random_cores(rng, (3, 2, 4, 2), (2, 3, 2, 2), (1, 5, 6, 4, 1))
        w = dense_from_cores(cores)
        rounded = tt.round_cores(cores, eps=eps)
        err = np.linalg.norm(dense_from_cores(rounded) - w)
        assert err <= eps * np.linalg.norm(w) + 1e-10 * np.linalg.norm(w)
        old = tt.cores_modes(cores)[2]
        new = tt.cores_modes(rounded)[2]
        assert all(a <= b for a, b in zip(new, old))
        if eps >= 0.3:
            assert sum(new) < sum(old)

    def test_max_rank_list_and_cap(self, rng):
        cores = random_cores(rng, INS, OUTS, (1, 5, 5, 1))
        rounded = tt.round_cores(cores, max_rank=(1, 2, 3, 1))
        assert tt.cores_modes(rounded)[2] == (1, 2, 3, 1)

    def test_accepts_float32_and_returns_float64(self, rng):
        cores = [
            c.astype("float32")
            for c in random_cores(rng, INS, OUTS, (1, 2, 2, 1))
        ]
        assert all(c.dtype == np.float64 for c in tt.round_cores(cores))

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"eps": -0.1}, r"`eps` must be >= 0. Received: eps=-0.1"),
            ({"max_rank": 0}, r"`max_rank` must be >= 1"),
            ({"max_rank": (1, 2, 1)}, r"d \+ 1 = 4"),
        ],
    )
    def test_invalid_arguments(self, rng, kwargs, match):
        cores = random_cores(rng, INS, OUTS, (1, 2, 2, 1))
        with pytest.raises(ValueError, match=match):
            tt.round_cores(cores, **kwargs)


class TestNormsAndErrors:
    def test_dense_numpy_matches_reference(self, rng):
        cores = random_cores(rng, INS, OUTS, (1, 3, 2, 1))
        np.testing.assert_allclose(
            rounding.dense_numpy(cores), dense_from_cores(cores), rtol=1e-12
        )

    def test_norm_and_relative_error(self, rng):
        a = random_cores(rng, INS, OUTS, (1, 3, 2, 1))
        b = random_cores(rng, INS, OUTS, (1, 2, 4, 1))
        wa, wb = dense_from_cores(a), dense_from_cores(b)
        assert rounding.norm(a) == pytest.approx(np.linalg.norm(wa))
        assert tt.relative_error(a, b) == pytest.approx(
            np.linalg.norm(wa - wb) / np.linalg.norm(wb)
        )
        # Accurate for tiny errors too (no cancellation).
        tiny = [c.copy() for c in b]
        tiny[0] = tiny[0] * (1 + 1e-12)
        assert tt.relative_error(tiny, b) == pytest.approx(1e-12, rel=1e-3)

    def test_relative_error_mismatched_modes(self, rng):
        a = random_cores(rng, INS, OUTS, (1, 2, 2, 1))
        b = random_cores(rng, OUTS, INS, (1, 2, 2, 1))
        with pytest.raises(ValueError, match=r"same modes"):
            tt.relative_error(a, b)


@pytest.mark.parametrize("k", [0, 1])
def test_gauge_moves_keep_the_matrix_and_orthogonalise(k):
    rng = np.random.default_rng(3)
    cores = [
        np.asarray(c, np.float64)
        for c in random_cores(rng, INS, OUTS, (1, 2, 3, 1))
    ]
    reference = dense_from_cores(cores)
    rounding.move_right(cores, k)
    np.testing.assert_allclose(dense_from_cores(cores), reference, atol=1e-12)
    left = cores[k].reshape(-1, cores[k].shape[3])
    np.testing.assert_allclose(left.T @ left, np.eye(left.shape[1]), atol=1e-12)
    rounding.move_left(cores, k + 1)
    np.testing.assert_allclose(dense_from_cores(cores), reference, atol=1e-12)
    right = cores[k + 1].reshape(cores[k + 1].shape[0], -1)
    np.testing.assert_allclose(
        right @ right.T, np.eye(right.shape[0]), atol=1e-12
    )

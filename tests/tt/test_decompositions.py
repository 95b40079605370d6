import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.helpers import dense_from_cores
from tests.helpers import random_cores
from ttrnn import tt


class TestFromDense:
    def test_exact_recovery_of_known_tt_rank(self, rng):
        ins, outs, ranks = (3, 4, 2), (2, 3, 5), (1, 2, 3, 1)
        w = dense_from_cores(random_cores(rng, ins, outs, ranks))
        cores = tt.from_dense(w, ins, outs)
        assert [c.shape[-1] for c in cores] == [2, 3, 1]
        np.testing.assert_allclose(dense_from_cores(cores), w, atol=1e-10)

    def test_max_rank_recovers_exact_when_large_enough(self, rng):
        ins, outs, ranks = (3, 4, 2), (2, 3, 5), (1, 2, 2, 1)
        w = dense_from_cores(random_cores(rng, ins, outs, ranks))
        cores = tt.from_dense(w, ins, outs, max_rank=2)
        np.testing.assert_allclose(dense_from_cores(cores), w, atol=1e-10)

    def test_max_rank_caps(self, rng):
        w = rng.standard_normal((24, 30))
        cores = tt.from_dense(w, (2, 3, 4), (5, 3, 2), max_rank=3)
        assert max(c.shape[0] for c in cores) <= 3
        cores = tt.from_dense(w, (2, 3, 4), (5, 3, 2), max_rank=(1, 2, 4, 1))
        assert [c.shape[-1] for c in cores] == [2, 4, 1]

    @pytest.mark.parametrize("eps", [0.5, 0.1, 0.01])
    def test_eps_bound_holds(self, rng, eps):
        w = rng.standard_normal((36, 40))
        cores = tt.from_dense(w, (3, 3, 4), (2, 4, 5), eps=eps)
        err = np.linalg.norm(dense_from_cores(cores) - w)
        assert err <= eps * np.linalg.norm(w) * (1 + 1e-9)

    def test_eps_truncates_noise_to_true_rank(self, rng):
        ins, outs, ranks = (4, 4, 4), (4, 4, 4), (1, 2, 2, 1)
        w = dense_from_cores(random_cores(rng, ins, outs, ranks))
        noisy = w + 1e-6 * rng.standard_normal(w.shape)
        cores = tt.from_dense(noisy, ins, outs, eps=1e-3)
        assert [c.shape[-1] for c in cores] == [2, 2, 1]

    def test_matches_numpy_svd_for_two_cores(self, rng):
        # For d = 2 the best rank-r TT-SVD error is the SVD tail of the
        # (m0 n0, m1 n1) reshaping (Eckart-Young), computed independently.
        w = rng.standard_normal((6, 20))
        t = w.reshape(2, 3, 4, 5).transpose(0, 2, 1, 3).reshape(8, 15)
        s = np.linalg.svd(t, compute_uv=False)
        cores = tt.from_dense(w, (2, 3), (4, 5), max_rank=3)
        err = np.linalg.norm(dense_from_cores(cores) - w)
        np.testing.assert_allclose(err, np.sqrt(np.sum(s[3:] ** 2)), rtol=1e-8)

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"eps": -0.1}, "eps"),
            ({"max_rank": 0}, "max_rank"),
            ({"max_rank": (1, 2)}, "max_rank"),
        ],
    )
    def test_bad_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            tt.from_dense(np.ones((4, 4)), (2, 2), (2, 2), **kwargs)

    def test_wrong_matrix_shape(self):
        with pytest.raises(ValueError, match=r"matrix.*\(4, 6\)"):
            tt.from_dense(np.ones((4, 5)), (2, 2), (2, 3))


@settings(max_examples=40, deadline=None)
@given(d=st.integers(1, 4), data=st.data())
def test_tt_svd_property(d, data):
    ins = tuple(data.draw(st.integers(1, 4)) for _ in range(d))
    outs = tuple(data.draw(st.integers(1, 4)) for _ in range(d))
    ranks = (1,) + tuple(data.draw(st.integers(1, 3)) for _ in range(d - 1))
    ranks += (1,)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    w = dense_from_cores(random_cores(rng, ins, outs, ranks))
    # Exact: recovers W, and never needs more than the true ranks.
    cores = tt.from_dense(w, ins, outs)
    np.testing.assert_allclose(dense_from_cores(cores), w, atol=1e-8)
    for k in range(d - 1):
        assert cores[k].shape[-1] <= ranks[k + 1]
    # eps: the Frobenius bound holds for arbitrary matrices.
    eps = data.draw(st.floats(0.01, 0.9))
    noise = rng.standard_normal(w.shape)
    approx = tt.from_dense(noise, ins, outs, eps=eps)
    err = np.linalg.norm(dense_from_cores(approx) - noise)
    assert err <= eps * np.linalg.norm(noise) * (1 + 1e-9)


class TestFromLegacyKernel:
    def test_matches_2017_formula(self, rng):
        # Independent reference: the 2017 forward pass in NumPy, written
        # from the documented layout (flat vector, last core first, core k
        # as an (m_k r_{k+1}, r_k n_k) matrix C_k[i_k, a_{k+1}, a_k, j_k]).
        ins, outs, ranks = (3, 4, 2), (2, 2, 3), (1, 3, 2, 1)
        d = 3
        blocks = {
            k: rng.standard_normal((ins[k] * ranks[k + 1], ranks[k] * outs[k]))
            for k in range(d)
        }
        flat = np.concatenate([blocks[k].ravel() for k in reversed(range(d))])
        x = rng.standard_normal((5, 24))
        # 2017 forward: right to left over cores, as in the Theano code.
        out = x.reshape(-1, ins[-1])  # (B m_<d-1, m_{d-1} r_d)
        for k in reversed(range(d)):
            out = out.reshape(-1, ins[k] * ranks[k + 1]) @ blocks[k]
            # (B m_<k n_>k..., r_k n_k): move n_k to the front
            out = out.reshape(-1, outs[k]).T
        expected = out.reshape(int(np.prod(outs)), -1).T
        cores = tt.from_legacy_kernel(flat, ins, outs, ranks)
        np.testing.assert_allclose(
            x @ dense_from_cores(cores), expected, rtol=1e-10
        )

    def test_wrong_size(self):
        with pytest.raises(ValueError, match=r"flat.*40 values"):
            tt.from_legacy_kernel(np.ones(7), (2, 2), (2, 2), (1, 5, 1))

"""ALS in an output metric against dense least squares (NumPy only)."""

import numpy as np
import pytest

from ttrnn.tt import from_dense
from ttrnn.tt.output_als import als
from ttrnn.tt.rounding import dense_numpy

RNG = np.random.default_rng(5)
INS, OUTS = (2, 3, 2), (2, 2, 3)


def _loss(cores, target, metric):
    error = dense_numpy(cores) - target
    return float(np.sum(error * (metric @ error)))


def _metric(rank=4, rows=12):
    """A = X^T X / n for inputs near a subspace: ill-conditioned."""
    x = RNG.standard_normal((60, rank)) @ RNG.standard_normal((rank, rows))
    x += 0.05 * RNG.standard_normal((60, rows))
    return x.T @ x / 60


def _best_core(cores, k, target, metric):
    """The loss minimised over core k alone, the others fixed, by dense
    least squares over the images of core k's unit vectors."""
    shape = cores[k].shape
    columns = []
    for i in range(int(np.prod(shape))):
        unit = np.zeros(int(np.prod(shape)))
        unit[i] = 1
        trial = list(cores)
        trial[k] = unit.reshape(shape)
        columns.append(dense_numpy(trial).ravel())
    basis = np.array(columns).T  # vec(V) = basis @ vec(core k)
    root = np.linalg.cholesky(metric + 1e-12 * np.eye(len(metric)))
    # tr(E^T A E) = ||L^T E||_F^2, E = V - T, row-major vec over (i, j).
    lift = np.kron(root.T, np.eye(target.shape[1]))
    g = np.linalg.lstsq(lift @ basis, lift @ target.ravel(), rcond=None)[0]
    trial = list(cores)
    trial[k] = g.reshape(shape)
    return _loss(trial, target, metric)


@pytest.mark.parametrize("ranks", [(1, 2, 2, 1), (1, 3, 2, 1)])
def test_last_core_solved_is_the_least_squares_optimum(ranks):
    target = RNG.standard_normal((12, 12))
    metric = _metric()
    start = from_dense(target, INS, OUTS, max_rank=ranks)
    cores, losses = als(start, target, metric, sweeps=2, ridge=0, tol=0)
    # A sweep ends on core 1 (then moves its R factor into core 0, which
    # leaves V and the span over core 1 unchanged).
    best = _best_core(cores, 1, target, metric)
    np.testing.assert_allclose(losses[-1], best, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        losses[-1], _loss(cores, target, metric), rtol=1e-10
    )
    assert [c.shape for c in cores] == [c.shape for c in start]


def test_losses_never_rise_and_beat_the_tt_svd():
    target = RNG.standard_normal((12, 12))
    metric = _metric()
    start = from_dense(target, INS, OUTS, max_rank=2)
    cores, losses = als(start, target, metric, sweeps=8, tol=0)
    assert len(losses) == 9
    assert losses[0] == pytest.approx(_loss(start, target, metric))
    assert np.all(np.diff(losses) <= 1e-12 * losses[0])
    assert losses[-1] < 0.5 * losses[0]


def test_exact_where_the_metric_sees_only_a_kronecker_subspace():
    # Inputs u (x) z: only 6 of 12 input directions are ever seen, and
    # a TT-matrix of rank 2 holds W on them exactly.
    u = np.array([1.0, 2.0])
    x = np.einsum("i,nj->nij", u, RNG.standard_normal((80, 6)))
    metric = x.reshape(80, 12).T @ x.reshape(80, 12) / 80
    target = RNG.standard_normal((12, 12))
    start = from_dense(target, INS, OUTS, max_rank=(1, 2, 6, 1))
    _, losses = als(start, target, metric, sweeps=6, ridge=0, tol=0)
    assert losses[-1] < 1e-10 * losses[0]


def test_identity_metric_keeps_an_exact_tt_matrix():
    cores = from_dense(RNG.standard_normal((12, 12)), INS, OUTS, max_rank=2)
    target = dense_numpy(cores)
    found, losses = als(cores, target, np.eye(12), sweeps=2)
    assert losses[0] < 1e-20
    np.testing.assert_allclose(dense_numpy(found), target, atol=1e-10)

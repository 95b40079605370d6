"""Row-weighted ALS (ttrnn.tt.weighted_als) against dense references:
brute-force weighted least squares on the reconstructed matrix."""

import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import random_cores
from ttrnn import tt
from ttrnn.tt import weighted_als

INS, OUTS, RANKS = (3, 4, 5), (2, 3, 2), (1, 3, 4, 1)


def _case(seed, rows=25):
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((60, 12))
    picked = np.sort(rng.choice(60, rows, replace=False))
    weights = rng.random(rows) + 0.1
    cores = random_cores(rng, INS, OUTS, RANKS)
    return table, picked, weights, cores


def _loss(cores, table, rows, weights):
    err = dense_from_cores(cores)[rows] - table[rows]
    return float(weights @ (err**2).sum(1))


def test_table_rows_are_the_rows_of_the_dense_matrix():
    _, rows, _, cores = _case(0)
    got = weighted_als.table_rows(cores, rows[::-1])
    np.testing.assert_allclose(got, dense_from_cores(cores)[rows[::-1]])


@pytest.mark.parametrize("k", [0, 1, 2])
def test_core_update_is_the_weighted_least_squares_solution(k):
    table, rows, weights, cores = _case(1)
    new = weighted_als.solve_core(cores, k, rows, table[rows], weights)
    # Brute force: the matrix is linear in core k; build its Jacobian
    # column by column from dense reconstructions and solve the weighted
    # least squares over all entries of the chosen rows.
    columns = []
    for unit in np.eye(cores[k].size):
        trial = list(cores)
        trial[k] = unit.reshape(cores[k].shape)
        columns.append(dense_from_cores(trial)[rows].ravel())
    jac = np.stack(columns, 1)
    root = np.repeat(np.sqrt(weights), table.shape[1])
    best = np.linalg.lstsq(
        jac * root[:, None], table[rows].ravel() * root, rcond=None
    )[0]
    np.testing.assert_allclose(new.ravel(), best, rtol=1e-6, atol=1e-6)


def test_weighted_loss_never_increases_across_sweeps():
    table, rows, weights, _ = _case(2)
    start = tt.from_dense(table, INS, OUTS, max_rank=RANKS)
    cores, losses = weighted_als.als(
        start, rows, table[rows], weights, sweeps=6
    )
    assert np.all(np.diff(losses) <= 1e-12 * losses[0])
    assert losses[-1] < 0.9 * losses[0]
    assert losses[-1] == pytest.approx(_loss(cores, table, rows, weights))
    assert losses[0] == pytest.approx(_loss(start, table, rows, weights))


def test_uniform_weights_and_full_ranks_reproduce_the_table():
    rng = np.random.default_rng(3)
    table = rng.standard_normal((60, 12))
    full = tt.cores_modes(tt.from_dense(table, INS, OUTS))[2]
    start = random_cores(rng, INS, OUTS, full)
    cores, losses = weighted_als.als(
        start, np.arange(60), table, np.ones(60), sweeps=2
    )
    np.testing.assert_allclose(dense_from_cores(cores), table, atol=1e-8)
    assert losses[-1] < 1e-16 * losses[0]


def test_rows_of_weight_zero_do_not_count():
    table, rows, weights, cores = _case(4)
    weights[::3] = 0.0
    other = table.copy()
    other[rows[::3]] = 100.0  # only zero-weight rows change
    a, _ = weighted_als.als(cores, rows, table[rows], weights, sweeps=2)
    b, _ = weighted_als.als(cores, rows, other[rows], weights, sweeps=2)
    np.testing.assert_allclose(dense_from_cores(a), dense_from_cores(b))


def test_fit_rows_beats_tt_svd_on_the_weighted_rows():
    table, rows, weights, _ = _case(5)
    full = np.zeros(60)
    full[rows] = weights
    cores, loss = weighted_als.fit_rows(table, full, INS, OUTS, RANKS)
    plain = tt.from_dense(table, INS, OUTS, max_rank=RANKS)
    assert tt.cores_modes(cores)[2] == RANKS
    assert loss == pytest.approx(_loss(cores, table, rows, weights))
    assert loss < 0.5 * _loss(plain, table, rows, weights)


def test_rows_in_chunks_give_the_same_update(monkeypatch):
    table, rows, weights, cores = _case(6)
    whole = weighted_als.solve_core(cores, 1, rows, table[rows], weights)
    monkeypatch.setattr(weighted_als, "CHUNK", 1)  # one row at a time
    parts = weighted_als.solve_core(cores, 1, rows, table[rows], weights)
    np.testing.assert_allclose(parts, whole, rtol=1e-6, atol=1e-8)

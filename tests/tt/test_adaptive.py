"""Rank allocation and truncation math (ttrnn.tt.adaptive), in NumPy."""

import numpy as np
import pytest

from ttrnn.tt import adaptive
from ttrnn.tt import effective_ranks
from ttrnn.tt import round_cores
from ttrnn.tt.rounding import dense_numpy


def _random_cores(rng, ins, outs, ranks):
    return [
        rng.standard_normal((ranks[k], m, n, ranks[k + 1]))
        for k, (m, n) in enumerate(zip(ins, outs))
    ]


def _unfolding_values(cores, k):
    """Singular values of W's unfolding after core k, from dense W."""
    ins = [c.shape[1] for c in cores]
    outs = [c.shape[2] for c in cores]
    d = len(cores)
    w = dense_numpy(cores).reshape(*ins, *outs)
    w = w.transpose([a for i in range(d) for a in (i, d + i)])
    rows = int(np.prod([ins[i] * outs[i] for i in range(k + 1)]))
    return np.linalg.svd(w.reshape(rows, -1), compute_uv=False)


def _left_product(cores, k):
    """X_{<k}: rows (i_0 j_0 ... i_{k-1} j_{k-1}), columns r_k."""
    x = np.ones((1, 1))
    for core in cores[:k]:
        r, m, n, r_next = core.shape
        x = (x @ core.reshape(r, -1)).reshape(-1, r_next)
    return x


def test_effective_ranks_drop_zero_slices():
    rng = np.random.default_rng(0)
    cores = _random_cores(rng, (2, 3, 2), (2, 2, 3), (1, 4, 5, 1))
    cores[0][..., 3] = 0  # column 3 of core 0
    cores[2][1:] = 0  # rows 1.. of core 2
    assert effective_ranks(cores) == (1, 3, 1, 1)
    # Two gates: the larger rank at each cut.
    assert effective_ranks(cores[:2] + cores[:2], groups=2) == (1, 3, 1)
    with pytest.raises(ValueError, match="`groups` must divide"):
        effective_ranks(cores, groups=2)


def test_spectra_are_the_unfoldings_singular_values():
    rng = np.random.default_rng(1)
    cores = _random_cores(rng, (2, 3, 2), (3, 2, 2), (1, 3, 4, 1))
    values, norm = adaptive.spectra(cores)
    for k, sv in enumerate(values):
        ref = _unfolding_values(cores, k)
        np.testing.assert_allclose(sv, ref[: sv.size], rtol=1e-10)
        assert np.all(ref[sv.size :] < 1e-10 * ref[0])
    np.testing.assert_allclose(norm, np.linalg.norm(dense_numpy(cores)))


def _cost(rank, size, k):
    return rank[k - 1] * size[k - 1] + size[k] * rank[k + 1]


@pytest.mark.parametrize("budget", [120, 400, 777, 1500])
def test_allocate_meets_the_budget_exactly(budget):
    rng = np.random.default_rng(2)
    chains = [
        _random_cores(rng, (2, 3, 2, 2), (2, 2, 3, 2), (1, 4, 6, 4, 1)),
        _random_cores(rng, (4, 4), (3, 3), (1, 8, 1)),
    ]
    spectra = [adaptive.spectra(c) for c in chains]
    sizes = [[c.shape[1] * c.shape[2] for c in chain] for chain in chains]
    ranks = adaptive.allocate(
        [s[0] for s in spectra], [s[1] for s in spectra], sizes, budget
    )
    total = sum(adaptive.params(r, s) for r, s in zip(ranks, sizes))
    assert total <= budget
    # No single rank more fits (each cut below its full rank).
    for rank, size, chain in zip(ranks, sizes, chains):
        for k in range(1, len(rank) - 1):
            if rank[k] < chain[k].shape[0]:
                assert total + _cost(rank, size, k) > budget


def test_allocate_compares_relative_singular_values_across_layers():
    rng = np.random.default_rng(3)
    # Chain A is exactly rank 2 at its cut; chain B is full rank 6.
    low = _random_cores(rng, (3, 3), (3, 3), (1, 2, 1))
    a = [
        np.pad(low[0], [(0, 0)] * 3 + [(0, 4)]),
        np.pad(low[1], [(0, 4)] + [(0, 0)] * 3),
    ]
    a[0][..., 2:] = 1e-6 * rng.standard_normal((1, 3, 3, 4))
    b = _random_cores(rng, (3, 3), (3, 3), (1, 6, 1))
    sizes = [[9, 9], [9, 9]]
    for scale in (1.0, 1e4):  # the scale of a layer does not matter
        chains = [[c * scale for c in a], b]
        spectra = [adaptive.spectra(c) for c in chains]
        ranks = adaptive.allocate(
            [s[0] for s in spectra], [s[1] for s in spectra], sizes, 8 * 18
        )
        assert ranks == [[1, 2, 1], [1, 6, 1]]


def test_allocate_eps_bounds_each_matrix_error():
    rng = np.random.default_rng(4)
    chain = _random_cores(rng, (2, 3, 2), (2, 2, 3), (1, 4, 6, 1))
    values, norm = adaptive.spectra(chain)
    (ranks,) = adaptive.allocate([values], [norm], [[4, 6, 6]], eps=0.3)
    cut = round_cores(chain, max_rank=ranks)
    err = np.linalg.norm(dense_numpy(cut) - dense_numpy(chain))
    assert err <= 0.3 * norm
    assert ranks != [1, 4, 6, 1]
    with pytest.raises(ValueError, match="`target_params` must be at least"):
        adaptive.allocate([values], [norm], [[4, 6, 6]], target_params=10)


def test_truncate_rounds_pads_and_maps_the_left_products():
    rng = np.random.default_rng(5)
    chain = _random_cores(rng, (2, 3, 2), (2, 2, 3), (1, 4, 6, 1))
    new, maps = adaptive.truncate(chain, [1, 3, 4, 1])
    assert [c.shape for c in new] == [c.shape for c in chain]
    assert effective_ranks(new) == (1, 3, 4, 1)
    ref = round_cores(chain, max_rank=[1, 3, 4, 1])
    np.testing.assert_allclose(dense_numpy(new), dense_numpy(ref), atol=1e-12)
    # X'_{<k} = X_{<k} A_k holds exactly up to the first truncated cut
    # (beyond it, A_k is the least-squares fit), and at every cut for a
    # change of gauge.
    for ranks, cuts in (([1, 3, 4, 1], [1]), ([1, 4, 6, 1], [1, 2])):
        new, maps = adaptive.truncate(chain, ranks)
        for k in cuts:
            x_new = _left_product(new, k)[:, : maps[k].shape[1]]
            np.testing.assert_allclose(
                _left_product(chain, k) @ maps[k], x_new, atol=1e-10
            )


def test_carried_first_moment_is_the_new_gradient():
    """Without truncation (a change of gauge only), the gradient of a
    loss linear in W, carried, equals the gradient at the new cores."""
    rng = np.random.default_rng(6)
    chain = _random_cores(rng, (2, 3), (3, 2), (1, 3, 1))
    target = rng.standard_normal(dense_numpy(chain).shape)

    def grads(cores):
        out = []
        for k, core in enumerate(cores):
            g = np.zeros_like(core)
            for idx in np.ndindex(core.shape):
                basis = np.zeros_like(core)
                basis[idx] = 1.0
                trial = list(cores)
                trial[k] = basis  # W is linear in each core
                g[idx] = np.sum(target * dense_numpy(trial))
            out.append(g)
        return out

    new, maps = adaptive.truncate(chain, [1, 3, 1])
    old_grads, new_grads = grads(chain), grads(new)
    for k in range(2):
        carried = adaptive.carry_moments(old_grads[k], maps[k], maps[k + 1])
        np.testing.assert_allclose(carried, new_grads[k], atol=1e-10)
    second = adaptive.carry_moments(
        old_grads[0] ** 2, maps[0], maps[1], second=True
    )
    assert np.all(second >= 0)


def test_tied_copies_get_the_ranks_of_one():
    # G equal TT-matrices tied (count G, budget G * B) rank as one with B:
    # the tied cost per weight is that of one copy.
    rng = np.random.default_rng(3)
    cores = _random_cores(rng, (2, 3, 4), (2, 2, 3), (1, 5, 6, 1))
    values, norm = adaptive.spectra(cores)
    sizes = [c.shape[1] * c.shape[2] for c in cores]
    tied_values, tied_norm = adaptive.tie([(values, norm)] * 3)
    assert tied_norm == 1.0
    for tied, sv in zip(tied_values, values):
        np.testing.assert_allclose(tied, np.sqrt(3) * sv / norm)
    for budget in (60, 90, 130):
        one = adaptive.allocate([values], [norm], [sizes], budget)
        three = adaptive.allocate(
            [tied_values], [1.0], [sizes], 3 * budget, counts=[3]
        )
        assert three == one
        assert 3 * adaptive.params(three[0], sizes) <= 3 * budget

"""The look-ahead rank search: budget, monotone, and the planted ranks
found where brute force over every rank tuple knows them (NumPy only)."""

import itertools

import numpy as np
import pytest

from ttrnn.tt import from_dense
from ttrnn.tt import num_params
from ttrnn.tt import rank_search
from ttrnn.tt.factorize import ranks_for_budget
from ttrnn.tt.output_als import als
from ttrnn.tt.rounding import dense_numpy
from ttrnn.tt.shapes import max_ranks

INS, OUTS = (2, 3, 2, 2), (3, 2, 2, 2)


def _maximal(ranks, ins, outs, budget, caps=None):
    """Whether `ranks` fits and no single rank more does."""
    if num_params(ins, outs, ranks) > budget:
        return False
    top = list(max_ranks(ins, outs))
    if caps is not None:
        top = [min(t, c) for t, c in zip(top, caps)]
    for k in range(1, len(ranks) - 1):
        grown = list(ranks)
        grown[k] += 1
        if grown[k] <= top[k] and num_params(ins, outs, grown) <= budget:
            return False
    return True


def _all_maximal(ins, outs, budget):
    """Every rank tuple that fits with no single rank more (brute force)."""
    top = max_ranks(ins, outs)
    inner = [range(1, t + 1) for t in top[1:-1]]
    return [
        (1, *middle, 1)
        for middle in itertools.product(*inner)
        if _maximal((1, *middle, 1), ins, outs, budget)
    ]


@pytest.mark.parametrize(
    "budget,caps",
    [(150, None), (300, None), (500, None)]
    + [(150, (1, 6, 5, 4, 1)), (300, (1, 6, 5, 4, 1))],
)
def test_neighbours_fit_the_budget_with_no_rank_more(budget, caps):
    start = ranks_for_budget(INS, OUTS, max_params=budget)
    if caps is not None:
        start = tuple(min(r, c) for r, c in zip(start, caps))
    assert _maximal(start, INS, OUTS, budget, caps)
    moves = rank_search.neighbours(start, INS, OUTS, budget, caps)
    assert moves
    for (up, down), ranks in moves.items():
        assert up != down
        assert ranks != start
        assert ranks[up] > start[up] and ranks[down] < start[down]
        assert _maximal(ranks, INS, OUTS, budget, caps)
        if caps is not None:
            assert all(r <= c for r, c in zip(ranks, caps))
    assert len(set(moves.values())) == len(moves)


def _scrambled_judge(calls):
    """A loss with many local minima, fixed per tuple."""

    def judge(ranks):
        calls.append(ranks)
        seed = int(np.dot(ranks, [1, 7, 131, 2003, 1]))
        return float(np.random.default_rng(seed).random()), ranks

    return judge


@pytest.mark.parametrize("budget", [150, 300, 500])
def test_search_never_ends_worse_than_its_starts(budget):
    even = ranks_for_budget(INS, OUTS, max_params=budget)
    calls = []
    judge = _scrambled_judge(calls)
    starts = [even, *rank_search.neighbours(even, INS, OUTS, budget).values()]
    starts = starts[:2]
    ranks, loss, value = rank_search.search(
        starts, INS, OUTS, budget, judge, most=1000
    )
    searched = list(calls)
    assert len(searched) == len(set(searched))  # each judged once
    assert value == ranks
    assert loss == judge(ranks)[0]
    assert loss <= min(judge(s)[0] for s in starts)
    assert _maximal(ranks, INS, OUTS, budget)
    # It stops at a local minimum (no cap reached).
    for trial in rank_search.neighbours(ranks, INS, OUTS, budget).values():
        assert judge(trial)[0] >= loss


def test_search_judges_at_most_most():
    calls = []
    rank_search.search(
        [ranks_for_budget(INS, OUTS, max_params=500)],
        INS,
        OUTS,
        500,
        _scrambled_judge(calls),
        most=3,
    )
    assert len(calls) <= 3


def _random_tt(ranks, rng):
    return [
        rng.standard_normal((a, m, n, b))
        for a, m, n, b in zip(ranks[:-1], INS, OUTS, ranks[1:])
    ]


def test_search_finds_the_planted_ranks_brute_force_knows():
    # The target is a TT-matrix of ranks `planted`, the budget exactly
    # its weights: only those ranks fit it exactly. The start, the
    # near-uniform ranks of the same budget, is far from them.
    rng = np.random.default_rng(3)
    planted = (1, 2, 9, 2, 1)
    budget = num_params(INS, OUTS, planted)
    target = dense_numpy(_random_tt(planted, rng))
    x = rng.standard_normal((200, 24)) @ rng.standard_normal((24, 24))
    metric = x.T @ x / 200

    def judge(ranks):
        cores = from_dense(target, INS, OUTS, max_rank=ranks)
        cores, losses = als(cores, target, metric, sweeps=1)
        return losses[-1] / np.sum(target * (metric @ target)), cores

    tuples = _all_maximal(INS, OUTS, budget)
    losses = {ranks: judge(ranks)[0] for ranks in tuples}
    best = min(losses, key=losses.get)
    assert best == planted
    assert losses[best] < 1e-10
    start = ranks_for_budget(INS, OUTS, max_params=budget)
    assert start != planted and losses[start] > 1e-3
    ranks, loss, cores = rank_search.search([start], INS, OUTS, budget, judge)
    assert ranks == planted
    assert loss < 1e-10
    np.testing.assert_allclose(dense_numpy(cores), target, atol=1e-6)

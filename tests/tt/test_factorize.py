import itertools
import math

import numpy as np
import pytest

from ttrnn import tt


def _brute_force_spread(n, d):
    """Smallest spread (sum of squared log-modes) over all d-tuples."""
    divisors = [k for k in range(1, n + 1) if n % k == 0]
    best = math.inf
    for combo in itertools.combinations_with_replacement(divisors, d - 1):
        rest = n
        for f in combo:
            if rest % f:
                break
            rest //= f
        else:
            modes = list(combo) + [rest]
            best = min(best, sum(math.log(m) ** 2 for m in modes))
    return best


class TestBalancedModes:
    @pytest.mark.parametrize(
        "n, d",
        [(1024, 4), (784, 4), (1000, 3), (96, 3), (12, 5), (1, 3), (720, 2)],
    )
    def test_most_balanced_against_brute_force(self, n, d):
        modes = tt.balanced_modes(n, d)
        assert len(modes) == d and math.prod(modes) == n
        assert list(modes) == sorted(modes)
        spread = sum(math.log(m) ** 2 for m in modes)
        assert spread == pytest.approx(_brute_force_spread(n, d), abs=1e-9)

    def test_known_factorisations(self):
        assert tt.balanced_modes(1024, 4) == (4, 4, 8, 8)
        assert tt.balanced_modes(57600, 4) == (15, 15, 16, 16)

    @pytest.mark.parametrize("n, d", [(1031, 3), (1031, 2), (2 * 1031, 4)])
    def test_bad_dim_suggests_padding(self, n, d):
        size, modes = tt.suggest_padding(n, d)
        assert size > n and math.prod(modes) == size
        pattern = (
            rf"`units`={n} does not factor well into d={d}.*1031.*"
            rf"Zero-pad to {size} = {' x '.join(map(str, modes))}"
            rf".*Received: units={n}, d={d}"
        )
        with pytest.raises(ValueError, match=pattern):
            tt.balanced_modes(n, d, name="units")

    def test_padding_target_is_the_nearest_good_size(self):
        size, modes = tt.suggest_padding(1031, 3)
        assert (size, modes) == (1040, (8, 10, 13))
        # Independently: every size in between has a balanced factorisation
        # with a mode above 1.5 * size^(1/3) (and above 8).
        for s in range(1031, 1040):
            divisors = [k for k in range(1, s + 1) if s % k == 0]
            best = min(
                max(a, b, s // (a * b))
                for a in divisors
                for b in divisors
                if s % (a * b) == 0
            )
            assert best > max(1.5 * s ** (1 / 3), 8)

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"n": 0, "d": 2}, r"`n` must be an int >= 1. Received: n=0"),
            ({"n": 8, "d": 0}, r"`d` must be an int >= 1. Received: d=0"),
            ({"n": 8.5, "d": 2}, r"Received: n=8.5"),
        ],
    )
    def test_invalid_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            tt.balanced_modes(**kwargs)


class TestAutoShapes:
    @pytest.mark.parametrize(
        "m, n, d",
        [(1024, 1024, 4), (784, 256, 4), (57600, 256, 6), (100, 10, 3)],
    )
    def test_products_and_chosen_d(self, m, n, d):
        ins, outs = tt.auto_shapes(m, n)
        assert len(ins) == len(outs) == d == tt.choose_d(m, n)
        assert math.prod(ins) == m and math.prod(outs) == n

    def test_pairs_large_with_small_and_big_cores_at_the_ends(self):
        ins, outs = tt.auto_shapes(1024, 1024)
        assert [a * b for a, b in zip(ins, outs)] == [32, 32, 32, 32]
        ins, outs = tt.auto_shapes(720, 24, d=3)
        sizes = [a * b for a, b in zip(ins, outs)]
        assert max(sizes[0], sizes[-1]) == max(sizes)
        assert sorted(ins) == sorted(tt.balanced_modes(720, 3))
        assert sorted(outs) == sorted(tt.balanced_modes(24, 3))

    def test_given_d(self):
        ins, outs = tt.auto_shapes(1024, 1024, d=2)
        assert ins == (32, 32) and outs == (32, 32)

    def test_prime_dim_names_the_argument(self):
        with pytest.raises(ValueError, match=r"`input_dim`=1031.*pad"):
            tt.auto_shapes(1031, 64, d=2)

    def test_pair_modes(self):
        assert tt.factorize.pair_modes((2, 8, 4), (3, 5, 7)) == (7, 3, 5)


def _params(ins, outs, ranks):
    return sum(
        ranks[k] * m * n * ranks[k + 1]
        for k, (m, n) in enumerate(zip(ins, outs))
    )


class TestRanksForBudget:
    @pytest.mark.parametrize(
        "ins, outs, budget",
        [
            ((4, 8, 8, 4), (4, 8, 8, 4), 1248),
            ((4, 8, 8, 4), (8, 4, 4, 8), 10_000),
            ((8, 20, 20, 18), (4, 4, 4, 12), 5_000),
            ((2, 3), (3, 2), 10_000),  # everything fits: the max ranks
        ],
    )
    def test_largest_ranks_within_budget(self, ins, outs, budget):
        ranks = tt.ranks_for_budget(ins, outs, max_params=budget)
        bounds = tt.max_ranks(ins, outs)
        assert ranks[0] == ranks[-1] == 1
        assert all(r <= b for r, b in zip(ranks, bounds))
        assert _params(ins, outs, ranks) <= budget
        # Near-uniform: the unclipped inner ranks are r or r + 1, ...
        free = [k for k in range(1, len(ins)) if ranks[k] < bounds[k]]
        low = min((ranks[k] for k in free), default=0)
        assert all(ranks[k] in (low, low + 1) for k in free)
        # ... and maximal: raising any rank-r cut to r + 1 breaks the budget.
        for k in free:
            if ranks[k] == low:
                raised = list(ranks)
                raised[k] += 1
                assert _params(ins, outs, raised) > budget

    def test_paper_figure(self):
        # MNIST [4,8,8,4] -> [4,8,8,4] rank 3: 1,248 weights (REFERENCE).
        ranks = tt.ranks_for_budget((4, 8, 8, 4), (4, 8, 8, 4), max_params=1248)
        assert ranks == (1, 3, 3, 3, 1)

    def test_compression_is_a_budget(self):
        ins, outs = (4, 8, 8, 4), (8, 4, 4, 8)
        by_ratio = tt.ranks_for_budget(ins, outs, compression=100)
        by_count = tt.ranks_for_budget(ins, outs, max_params=1024**2 // 100)
        assert by_ratio == by_count
        assert 1024**2 / _params(ins, outs, by_ratio) >= 100

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({}, r"exactly one of `max_params` and `compression`"),
            (
                {"max_params": 10, "compression": 2.0},
                r"exactly one.*Received: max_params=10, compression=2.0",
            ),
            ({"max_params": 10}, r"rank 1.*has 32 weights.*budget 10 of 256"),
            ({"compression": 0}, r"`compression` must be > 0"),
        ],
    )
    def test_invalid_budgets(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            tt.ranks_for_budget((4, 4), (4, 4), **kwargs)


def test_large_dim_is_fast_and_exact():
    modes = tt.balanced_modes(2**40 * 3, 5)
    assert math.prod(modes) == 2**40 * 3
    assert np.ptp(np.log2(modes)) <= 2

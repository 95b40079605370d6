"""Tests of the length buckets (`ttrnn.data.buckets`)."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ttrnn.data.buckets import bucket_lengths
from ttrnn.data.buckets import bucket_rows
from ttrnn.data.buckets import check_buckets
from ttrnn.data.buckets import padding_overhead
from ttrnn.data.buckets import plan_batches
from ttrnn.data.buckets import planned_frames

lengths_st = st.lists(st.integers(1, 60), min_size=1, max_size=40)


def _padded_frames(lengths, buckets):
    """Brute force: every clip padded to its smallest bucket."""
    return sum(min(b for b in buckets if b >= n) for n in lengths)


def _batched_frames(lengths, buckets, batch_size):
    plan = plan_batches(lengths, buckets, batch_size)
    return sum(t * len(i) for t, i in plan)


def _computed_frames(plan):
    """Frames the batches of a plan compute: rows x padded length."""
    return sum(len(indices) * length for length, indices in plan)


def _video_lengths(clips, long_clips, seed=0):
    """Clip lengths like UCF11's: log-normal, median 180 frames, sigma
    0.6, clipped to 30..1,492, with `long_clips` of 1,492 frames."""
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.normal(np.log(180), 0.6, clips))
    lengths = np.clip(np.round(lengths), 30, 1492).astype(np.int64)
    lengths[rng.choice(clips, long_clips, replace=False)] = 1492
    return lengths


class TestBucketLengths:
    @settings(max_examples=60, deadline=None)
    @given(lengths_st, st.integers(1, 4))
    def test_optimal_against_brute_force(self, lengths, k):
        values = sorted(set(lengths))
        buckets = bucket_lengths(lengths, k)
        assert buckets[-1] == max(lengths)
        assert len(buckets) <= k
        best = min(
            _padded_frames(lengths, (*rest, values[-1]))
            for r in range(min(k, len(values)))
            for rest in itertools.combinations(values[:-1], r)
        )
        assert _padded_frames(lengths, buckets) == best

    @settings(max_examples=40, deadline=None)
    @given(lengths_st, st.integers(1, 4), st.integers(1, 6))
    def test_batch_aware_optimal_for_plans(self, lengths, k, batch_size):
        values = sorted(set(lengths))
        buckets = bucket_lengths(lengths, k, batch_size=batch_size)
        assert buckets[-1] == max(lengths)
        best = min(
            _batched_frames(lengths, (*rest, values[-1]), batch_size)
            for r in range(min(k, len(values)))
            for rest in itertools.combinations(values[:-1], r)
        )
        assert _batched_frames(lengths, buckets, batch_size) == best
        plan = plan_batches(lengths, buckets, batch_size)
        assert sorted({t for t, _ in plan}) == list(buckets)

    @settings(max_examples=40, deadline=None)
    @given(lengths_st, st.integers(1, 4), st.integers(1, 6), st.integers(1, 90))
    def test_frame_budget_never_pads_more(self, lengths, k, batch_size, budget):
        """Under a frame budget the buckets pad no more than those planned
        for full batches (or clip by clip), measured on the real plan."""

        def padded(buckets):
            plan = plan_batches(
                lengths, buckets, batch_size, max_batch_frames=budget
            )
            return sum(t * len(i) for t, i in plan)

        chosen = bucket_lengths(
            lengths, k, batch_size=batch_size, max_batch_frames=budget
        )
        assert chosen[-1] == max(lengths) and len(chosen) <= k
        for other in (
            bucket_lengths(lengths, k, batch_size=batch_size),
            bucket_lengths(lengths, k),
        ):
            assert padded(chosen) <= padded(other)

    def test_one_bucket_is_the_longest_clip(self):
        assert bucket_lengths([5, 9, 2], 1) == (9,)

    @pytest.mark.parametrize(
        "lengths, k, match",
        [
            ([], 2, "must not be empty"),
            ([3, 0], 2, "lengths >= 1"),
            ([3, 4], 0, "num_buckets"),
            ([3, 4], 2.5, "num_buckets"),
        ],
    )
    def test_invalid(self, lengths, k, match):
        with pytest.raises(ValueError, match=match):
            bucket_lengths(lengths, k)


class TestCheckBuckets:
    def test_sorted_unique(self):
        assert check_buckets([10, 4, 10], [3, 9]) == (4, 10)

    @pytest.mark.parametrize(
        "buckets, match",
        [
            ([4, 8], r"longest clip \(9 frames\)"),
            ([4, 2.5, 9], "positive int"),
            ([0, 9], "positive int"),
            ("abc", "positive int"),
        ],
    )
    def test_invalid(self, buckets, match):
        with pytest.raises(ValueError, match=match):
            check_buckets(buckets, [3, 9])


class TestPlanBatches:
    @settings(max_examples=80, deadline=None)
    @given(
        lengths_st,
        st.integers(1, 4),
        st.integers(1, 7),
        st.integers(0, 2**31 - 1),
    )
    def test_every_clip_once_full_batches(self, lengths, k, batch_size, seed):
        buckets = bucket_lengths(lengths, k, batch_size=batch_size)
        plan = plan_batches(
            lengths, buckets, batch_size, np.random.default_rng(seed)
        )
        assert len(plan) == math.ceil(len(lengths) / batch_size)
        members = np.concatenate([i for _, i in plan])
        real = members[members >= 0]
        # Every clip exactly once; dummy rows only to fill one batch.
        np.testing.assert_array_equal(np.sort(real), np.arange(len(lengths)))
        assert (members < 0).sum() == len(plan) * batch_size - len(lengths)
        assert sum((i < 0).any() for _, i in plan) <= 1
        for length, indices in plan:
            assert len(indices) == batch_size
            assert length in buckets
            for i in indices[indices >= 0]:
                assert lengths[i] <= length

    @settings(max_examples=80, deadline=None)
    @given(
        lengths_st,
        st.integers(1, 4),
        st.integers(1, 7),
        st.integers(1, 200),
        st.integers(0, 2**31 - 1),
    )
    def test_frame_budget(self, lengths, k, batch_size, budget, seed):
        buckets = bucket_lengths(lengths, k, batch_size=batch_size)
        plan = plan_batches(
            lengths,
            buckets,
            batch_size,
            np.random.default_rng(seed),
            max_batch_frames=budget,
        )
        members = np.concatenate([i for _, i in plan])
        real = members[members >= 0]
        np.testing.assert_array_equal(np.sort(real), np.arange(len(lengths)))
        assert sum((i < 0).any() for _, i in plan) <= 1
        for length, indices in plan:
            rows = len(indices)
            # One row count per bucket: the most under the budget.
            assert rows == max(1, min(batch_size, budget // length))
            assert rows * length <= budget or rows == 1
            for i in indices[indices >= 0]:
                assert lengths[i] <= length
        # The count does not depend on the shuffle (Keras asks for it
        # once); a fixed order gives the same count.
        assert len(plan) == len(
            plan_batches(lengths, buckets, batch_size, max_batch_frames=budget)
        )

    def test_bucket_rows(self):
        assert bucket_rows((10, 20), 4) == (4, 4)
        assert bucket_rows((10, 20, 90), 4, max_batch_frames=40) == (4, 2, 1)
        with pytest.raises(ValueError, match="max_batch_frames"):
            bucket_rows((10,), 4, max_batch_frames=0)

    @settings(max_examples=40, deadline=None)
    @given(lengths_st, st.integers(1, 4), st.integers(0, 2**31 - 1))
    def test_longest_first_then_shortest(self, lengths, k, seed):
        buckets = bucket_lengths(lengths, k, batch_size=2)
        plan = plan_batches(
            lengths, buckets, 2, np.random.default_rng(seed), 4 * max(lengths)
        )
        sizes = [t for t, _ in plan]
        assert sizes[0] == max(sizes)
        if len(plan) > 1:
            assert sizes[1] == min(sizes[1:])
            if min(sizes) < max(sizes):
                assert sizes[1] == min(sizes)

    def test_shuffles_reproducibly_and_between_epochs(self):
        lengths = np.random.default_rng(1).integers(1, 100, 64)
        buckets = bucket_lengths(lengths, 4, batch_size=4)

        def epochs(seed):
            rng = np.random.default_rng(seed)
            return [
                np.concatenate(
                    [i for _, i in plan_batches(lengths, buckets, 4, rng)]
                )
                for _ in range(2)
            ]

        first, second = epochs(7)
        again, _ = epochs(7)
        np.testing.assert_array_equal(first, again)
        assert not np.array_equal(first, second)
        # Batches of different buckets interleave: not sorted by length.
        plan = plan_batches(lengths, buckets, 4, np.random.default_rng(7))
        order = [t for t, _ in plan]
        assert order != sorted(order) and order != sorted(order)[::-1]

    def test_fixed_order_without_rng(self):
        lengths = [5, 1, 9, 3, 9, 2]
        plan = plan_batches(lengths, (3, 9), 2)
        # Longest first, then the shortest, then the rest by length.
        assert [t for t, _ in plan] == [9, 3, 9]
        np.testing.assert_array_equal(plan[0][1], [0, 2])
        np.testing.assert_array_equal(plan[1][1], [3, 5])
        # The incomplete batch of bucket 9 borrows clip 1 from bucket 3.
        np.testing.assert_array_equal(plan[2][1], [4, 1])

    def test_padding_overhead(self):
        lengths = [5, 1, 9, 3, 9, 2]
        plan = plan_batches(lengths, (3, 9), 2)
        # 9+9, 9+9 (clip 1 borrowed up), 3+3 over 29 real frames.
        assert padding_overhead(lengths, plan) == pytest.approx(42 / 29)


class TestMoreBuckets:
    @settings(max_examples=60, deadline=None)
    @given(
        lengths_st,
        st.integers(1, 7),
        st.integers(1, 200),
        st.integers(0, 2**31 - 1),
    )
    def test_planned_frames_are_the_plans(
        self, lengths, batch_size, budget, seed
    ):
        """`planned_frames` counts what any shuffled plan computes."""
        buckets = bucket_lengths(lengths, 3, batch_size=batch_size)
        for max_batch_frames in (None, budget):
            plan = plan_batches(
                lengths,
                buckets,
                batch_size,
                np.random.default_rng(seed),
                max_batch_frames=max_batch_frames,
            )
            assert planned_frames(
                lengths, buckets, batch_size, max_batch_frames
            ) == _computed_frames(plan)

    @settings(max_examples=40, deadline=None)
    @given(lengths_st, st.integers(1, 6), st.integers(1, 150))
    def test_more_buckets_never_pad_more(self, lengths, batch_size, budget):
        padded = []
        for k in range(1, 8):
            buckets = bucket_lengths(
                lengths, k, batch_size=batch_size, max_batch_frames=budget
            )
            assert len(buckets) <= k and buckets[-1] == max(lengths)
            plan = plan_batches(
                lengths, buckets, batch_size, max_batch_frames=budget
            )
            padded.append(_computed_frames(plan))
            # No bucket whose clips all top up longer batches: every
            # bucket is a batch shape (JAX: one compile each).
            assert sorted({t for t, _ in plan}) == list(buckets)
        assert padded == sorted(padded, reverse=True)

    @pytest.mark.parametrize(
        "budget, count, before, after",
        # The figures of RESULTS.md "Length buckets per backend": 8
        # buckets against JAX's default (24) at its budget, and against
        # TensorFlow's and torch's (32) at theirs.
        [(4096, 24, 1.170, 1.059), (8192, 32, 1.175, 1.053)],
    )
    def test_padding_falls_on_ucf11_lengths(self, budget, count, before, after):
        lengths = _video_lengths(1280, long_clips=26)
        real = lengths.sum()
        padding = {}
        for k in (8, count):
            buckets = bucket_lengths(lengths, k, 16, max_batch_frames=budget)
            plan = plan_batches(
                lengths,
                buckets,
                16,
                np.random.default_rng(0),
                max_batch_frames=budget,
            )
            # Every clip once, in a batch at least its length.
            members = np.concatenate([i for _, i in plan])
            assert sorted(members[members >= 0]) == list(range(len(lengths)))
            for length, indices in plan:
                assert (lengths[indices[indices >= 0]] <= length).all()
            padding[k] = _computed_frames(plan) / real
        assert padding[8] == pytest.approx(before, abs=0.002)
        assert padding[count] == pytest.approx(after, abs=0.002)

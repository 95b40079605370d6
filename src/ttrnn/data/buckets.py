"""Length buckets for batches of variable-length clips.

Padding every batch to its own longest clip costs twice: a new graph for
every new length (JAX and TensorFlow compile per input shape) and, with
random batches of log-normal lengths, two to three times the real frames
computed. Bucketing pads each batch to one of a few fixed lengths instead,
chosen to minimise the padded frames, and fills batches with clips of
similar length.

Pure NumPy functions: `bucket_lengths` chooses the padded lengths,
`bucket_rows` the rows of each bucket's batches under a frame budget,
`plan_batches` deals one epoch's clips into full batches, and
`planned_frames` counts the frames such a plan computes.
"""

import numpy as np

from ttrnn.data._checks import check_int

# The dynamic programme's working matrix: at most this many values.
_DP_BLOCK_VALUES = 2**20


def bucket_lengths(
    lengths, num_buckets, batch_size=None, max_batch_frames=None
):
    """The padded lengths that minimise the padding of `lengths`.

    Every clip is padded to the smallest bucket length at least its own.
    Without `batch_size`, the buckets minimise the total padded frames of
    the clips. With it, they minimise the frames computed by the batches
    of `plan_batches`: with full batches, each batch costs `batch_size`
    times the bucket of its longest clip, and the batches' longest clips
    are every `batch_size`-th length in decreasing order, whatever the
    shuffle. Dynamic programming over the distinct lengths,
    O(num_buckets * distinct^2) in NumPy. The longest clip always sets
    the last bucket.

    With `max_batch_frames` (batches of long buckets hold fewer rows,
    `bucket_rows`) the rows depend on the buckets chosen, which the
    dynamic programme cannot see: it runs for several batch sizes, and
    of its answers for every count up to `num_buckets` the buckets whose
    `plan_batches` computes the fewest frames (`planned_frames`) win, so
    a larger `num_buckets` never pads more.

    Args:
        lengths: int array-like of clip lengths (frames), all >= 1.
        num_buckets: the most buckets to use (fewer when there are fewer
            distinct lengths).
        batch_size: rows per batch, or `None` to pad clip by clip.
        max_batch_frames: with `batch_size`, the frame budget of
            `plan_batches`, or `None`.

    Returns:
        A tuple of increasing ints.

    Example:
    >>> bucket_lengths([3, 4, 4, 10, 11, 30], 3)
    (4, 11, 30)
    >>> bucket_lengths([3, 4, 4, 10, 11, 30], 3, batch_size=2)
    (4, 10, 30)
    """
    num_buckets = check_int("num_buckets", num_buckets)
    if max_batch_frames is not None and batch_size is not None:
        return _budget_buckets(
            lengths, num_buckets, batch_size, max_batch_frames
        )
    buckets = _optimal_buckets(lengths, num_buckets, batch_size)[-1]
    if batch_size is None:
        return buckets
    return _used_buckets(lengths, buckets, batch_size)


def _optimal_buckets(lengths, num_buckets, batch_size=None):
    """The dynamic programme of `bucket_lengths`: the best buckets for
    every count from 1 to `num_buckets` (fewer where there are fewer
    distinct lengths), as a list of tuples, the best single bucket first.
    """
    values, counts = _distinct(lengths)  # validates
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size)
        # Full batches: the batches' longest clips are every
        # `batch_size`-th length in decreasing order.
        tops = np.repeat(values, counts)[::-1][::batch_size]
        values, counts = _distinct(tops)
    k = min(num_buckets, len(values))
    # cost(i, j): clips with lengths values[i..j-1] padded to values[j-1].
    count_prefix = np.concatenate([[0], np.cumsum(counts)]).astype(float)
    frame_prefix = np.concatenate([[0], np.cumsum(values * counts)])
    frame_prefix = frame_prefix.astype(float)
    n = len(values)
    best = np.full((k + 1, n + 1), np.inf)
    choice = np.zeros((k + 1, n + 1), dtype=np.int64)
    best[0, 0] = 0.0
    starts = np.arange(n + 1)[:, None]
    # Columns j at a time, so that an (n + 1) x block matrix stays small.
    block = max(1, _DP_BLOCK_VALUES // (n + 1))
    for b in range(1, k + 1):
        for lo in range(1, n + 1, block):
            j = np.arange(lo, min(n + 1, lo + block))[None, :]
            cost = values[j - 1] * (count_prefix[j] - count_prefix[starts]) - (
                frame_prefix[j] - frame_prefix[starts]
            )
            total = best[b - 1][:, None] + cost
            total[starts >= j] = np.inf  # the bucket holds values[i..j-1]
            at = np.argmin(total, axis=0)  # the first of equal costs
            best[b, j[0]] = total[at, np.arange(j.shape[1])]
            choice[b, j[0]] = at
    answers = []
    for count in range(1, k + 1):
        buckets, j = [], n
        for b in range(count, 0, -1):
            buckets.append(int(values[j - 1]))
            j = choice[b, j]
        answers.append(tuple(sorted(set(buckets))))
    return answers


def _budget_buckets(lengths, num_buckets, batch_size, max_batch_frames):
    """`bucket_lengths` under a frame budget: of the dynamic programme's
    answers for every count up to `num_buckets` and every batch size a
    bucket can get, the one whose plan computes the fewest frames (then
    the fewest buckets). Every answer for a smaller count is among the
    candidates, so more buckets never pad more."""
    batch_size = check_int("batch_size", batch_size)
    max_batch_frames = check_int("max_batch_frames", max_batch_frames)
    lengths = np.asarray(lengths)
    values, _ = _distinct(lengths)  # validates
    sizes = {None, batch_size}
    sizes |= set(bucket_rows(values, batch_size, max_batch_frames))
    candidates = {
        buckets
        for size in sizes
        for buckets in _optimal_buckets(lengths, num_buckets, size)
    }
    candidates = {
        _used_buckets(lengths, buckets, batch_size, max_batch_frames)
        for buckets in candidates
    }
    return min(
        sorted(candidates),
        key=lambda buckets: (
            planned_frames(lengths, buckets, batch_size, max_batch_frames),
            len(buckets),
        ),
    )


def check_buckets(buckets, lengths):
    """Validates explicit bucket lengths against clip lengths.

    Returns:
        The bucket lengths as a sorted tuple of ints.

    Raises:
        ValueError: for non-positive or non-integer lengths, or when the
            longest clip exceeds the last bucket.
    """
    try:
        values = tuple(sorted({check_int("buckets", b) for b in buckets}))
    except (TypeError, ValueError) as error:
        raise ValueError(
            "Argument `buckets` must be an int (how many) or a list of "
            f"positive int lengths. Received: buckets={buckets!r}"
        ) from error
    longest = int(np.max(lengths)) if len(lengths) else 0
    if not values or values[-1] < longest:
        raise ValueError(
            "The last bucket must hold the longest clip "
            f"({longest} frames). Received: buckets={list(values)}"
        )
    return values


def bucket_of(lengths, buckets):
    """Index of the bucket of each clip (smallest bucket >= its length)."""
    return np.searchsorted(np.asarray(buckets), np.asarray(lengths))


def bucket_rows(buckets, batch_size, max_batch_frames=None):
    """Rows per batch of each bucket: `batch_size`, or fewer where a
    batch of `batch_size` rows of that length would exceed
    `max_batch_frames` padded frames (never fewer than one row).

    Example:
    >>> bucket_rows((100, 400, 1500), 16, max_batch_frames=4000)
    (16, 10, 2)
    """
    batch_size = check_int("batch_size", batch_size)
    if max_batch_frames is None:
        return tuple(batch_size for _ in buckets)
    max_batch_frames = check_int("max_batch_frames", max_batch_frames)
    return tuple(
        max(1, min(batch_size, max_batch_frames // int(b))) for b in buckets
    )


def plan_batches(lengths, buckets, batch_size, rng=None, max_batch_frames=None):
    """Deals one epoch's clips into full batches of one bucket each.

    Clips are shuffled within their buckets (when `rng` is given). Going
    from the longest bucket down, each bucket's clips fill whole batches;
    an incomplete batch is topped up with clips borrowed from the next
    shorter buckets (padded to its length), so only one batch of the
    epoch, of the shortest length involved, can lack clips: it is filled
    with dummy rows (index -1). Every clip appears exactly once, every
    batch of a bucket holds that bucket's rows (`bucket_rows`: all
    `batch_size` without `max_batch_frames`), and the number of batches
    does not depend on the shuffle.

    With `rng`, batches come in random order (without, longest first),
    except that the first is always one of the longest and, where lengths
    differ, the second one of the shortest: the largest batch shows its
    memory at once, and a consumer that infers shapes from the first two
    batches (Keras' `tf.data` input does) sees the sizes that vary as
    varying.

    Args:
        lengths: int array `(clips,)` of clip lengths.
        buckets: increasing bucket lengths; the last holds every clip.
        batch_size: rows per batch.
        rng: a `numpy.random.Generator` shuffling clips within buckets and
            the order of the batches, or `None` for a fixed order.
        max_batch_frames: the most padded frames (rows x length) a batch
            may hold, or `None` for `batch_size` rows in every bucket.
            Bounds the memory of the longest batches: their rows shrink,
            the other batches keep `batch_size`.

    Returns:
        A list of `(bucket_length, indices)` pairs, `indices` an int
        array of clip indices, -1 for dummy rows.
    """
    lengths = np.asarray(lengths)
    rows = bucket_rows(buckets, batch_size, max_batch_frames)
    which = bucket_of(lengths, buckets)
    members = []
    for b in range(len(buckets)):
        clips = np.flatnonzero(which == b)
        if rng is not None:
            clips = rng.permutation(clips)
        members.append(list(clips))
    batches, pending, pending_bucket = [], [], None
    for b in range(len(buckets) - 1, -1, -1):
        clips = members[b]
        if pending:  # top up the longer bucket's incomplete batch
            take = min(rows[pending_bucket] - len(pending), len(clips))
            pending += clips[:take]
            clips = clips[take:]
            if len(pending) == rows[pending_bucket]:
                batches.append((buckets[pending_bucket], pending))
                pending, pending_bucket = [], None
        for start in range(0, len(clips), rows[b]):
            part = clips[start : start + rows[b]]
            if len(part) == rows[b]:
                batches.append((buckets[b], part))
            else:
                pending, pending_bucket = list(part), b
    if pending:
        pending += [-1] * (rows[pending_bucket] - len(pending))
        batches.append((buckets[pending_bucket], pending))
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    _lead_with_extremes(batches)
    return [(int(t), np.asarray(i, dtype=np.int64)) for t, i in batches]


def planned_frames(lengths, buckets, batch_size, max_batch_frames=None):
    """The frames (rows x bucket length, dummy rows included) that
    `plan_batches` computes in an epoch, from the clip counts alone: the
    same for every shuffle.

    Example:
    >>> planned_frames([5, 1, 9, 3, 9, 2], (3, 9), 2)
    42
    """
    rows = bucket_rows(buckets, batch_size, max_batch_frames)
    batches = _batches_per_bucket(lengths, buckets, rows)
    return int(sum(n * r * t for n, r, t in zip(batches, rows, buckets)))


def _batches_per_bucket(lengths, buckets, rows):
    """How many batches of each bucket `plan_batches` deals (the same
    for every shuffle)."""
    members = np.bincount(bucket_of(lengths, buckets), minlength=len(buckets))
    batches = [0] * len(buckets)
    pending, pending_bucket = 0, None
    for b in range(len(buckets) - 1, -1, -1):
        clips = int(members[b])
        if pending:  # the longer bucket's incomplete batch takes clips
            take = min(rows[pending_bucket] - pending, clips)
            pending += take
            clips -= take
            if pending == rows[pending_bucket]:
                batches[pending_bucket] += 1
                pending, pending_bucket = 0, None
        batches[b] += clips // rows[b]
        if clips % rows[b]:
            pending, pending_bucket = clips % rows[b], b
    if pending:
        batches[pending_bucket] += 1
    return batches


def _used_buckets(lengths, buckets, batch_size, max_batch_frames=None):
    """The buckets that hold batches. A bucket whose clips all top up a
    longer bucket's batch deals none; without it its clips join the
    next longer bucket, which also dealt none or holds that batch, so
    the plan computes the same frames with one compiled shape less."""
    rows = bucket_rows(buckets, batch_size, max_batch_frames)
    batches = _batches_per_bucket(lengths, buckets, rows)
    return tuple(t for t, n in zip(buckets, batches) if n)


def _lead_with_extremes(batches):
    """Moves a longest batch first and a shortest second, in place."""
    sizes = [t for t, _ in batches]
    longest = int(np.argmax(sizes))
    batches[0], batches[longest] = batches[longest], batches[0]
    if len(batches) > 1 and min(sizes) < max(sizes):
        sizes = [t for t, _ in batches]
        shortest = 1 + int(np.argmin(sizes[1:]))
        batches[1], batches[shortest] = batches[shortest], batches[1]


def padding_overhead(lengths, batches):
    """Computed frames over real frames for a plan of `plan_batches`
    (dummy rows included): 1.0 means no padding."""
    real = int(np.sum(lengths))
    padded = sum(t * len(i) for t, i in batches)
    return padded / real if real else 1.0


def _distinct(lengths):
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        raise ValueError("Argument `lengths` must not be empty.")
    if lengths.ndim != 1 or np.any(lengths < 1):
        raise ValueError(
            "Argument `lengths` must be a 1-D array of lengths >= 1. "
            f"Received: shape {lengths.shape}, min {lengths.min()}"
        )
    values, counts = np.unique(lengths.astype(np.int64), return_counts=True)
    return values, counts

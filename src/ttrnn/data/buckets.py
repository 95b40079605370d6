"""Length buckets for batches of variable-length clips.

Padding every batch to its own longest clip costs twice: a new graph for
every new length (JAX and TensorFlow compile per input shape) and, with
random batches of log-normal lengths, two to three times the real frames
computed. Bucketing pads each batch to one of a few fixed lengths instead,
chosen to minimise the padded frames, and fills batches with clips of
similar length.

Pure NumPy functions: `bucket_lengths` chooses the padded lengths,
`bucket_rows` the rows of each bucket's batches under a frame budget,
`plan_batches` deals one epoch's clips into full batches.
"""

import numpy as np

from ttrnn.data._checks import check_int


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
    O(num_buckets * distinct^2). The longest clip always sets the last
    bucket.

    With `max_batch_frames` (batches of long buckets hold fewer rows,
    `bucket_rows`) the rows depend on the buckets chosen, which the
    dynamic programme cannot see: it runs for several batch sizes and the
    buckets whose `plan_batches` computes the fewest padded frames win.

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
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size)
        _distinct(lengths)  # validates
        tops = np.sort(np.asarray(lengths))[::-1][::batch_size]
        lengths = tops
    num_buckets = check_int("num_buckets", num_buckets)
    values, counts = _distinct(lengths)
    k = min(num_buckets, len(values))
    # cost(i, j): clips with lengths values[i..j] padded to values[j].
    count_prefix = np.concatenate([[0], np.cumsum(counts)])
    frame_prefix = np.concatenate([[0], np.cumsum(values * counts)])
    n = len(values)
    best = np.full((k + 1, n + 1), np.inf)
    choice = np.zeros((k + 1, n + 1), dtype=np.int64)
    best[0, 0] = 0.0
    starts = np.arange(n)
    for b in range(1, k + 1):
        for j in range(1, n + 1):
            # The last bucket holds values[i..j-1], for i in [0, j).
            i = starts[:j]
            cost = values[j - 1] * (count_prefix[j] - count_prefix[i]) - (
                frame_prefix[j] - frame_prefix[i]
            )
            total = best[b - 1, i] + cost
            at = int(np.argmin(total))
            best[b, j] = total[at]
            choice[b, j] = at
    buckets, j = [], n
    for b in range(k, 0, -1):
        buckets.append(int(values[j - 1]))
        j = choice[b, j]
    return tuple(sorted(set(buckets)))


def _budget_buckets(lengths, num_buckets, batch_size, max_batch_frames):
    """`bucket_lengths` under a frame budget: the best of the dynamic
    programme's answers for the batch sizes a bucket can get."""
    batch_size = check_int("batch_size", batch_size)
    max_batch_frames = check_int("max_batch_frames", max_batch_frames)
    lengths = np.asarray(lengths)
    _distinct(lengths)  # validates
    sizes = {None, batch_size}
    sizes |= set(bucket_rows(np.unique(lengths), batch_size, max_batch_frames))

    def padded(buckets):
        plan = plan_batches(
            lengths, buckets, batch_size, max_batch_frames=max_batch_frames
        )
        return sum(t * len(i) for t, i in plan)

    candidates = [
        bucket_lengths(lengths, num_buckets, size)
        for size in sorted(sizes, key=lambda s: s or 0)
    ]
    return min(candidates, key=padded)


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

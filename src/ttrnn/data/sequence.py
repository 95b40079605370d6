"""A Keras `PyDataset` streaming batches of cached video clips."""

import math
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np

from ttrnn.backends import zero_copy_batch
from ttrnn.data._checks import check_int
from ttrnn.data.buckets import bucket_lengths
from ttrnn.data.buckets import check_buckets
from ttrnn.data.buckets import plan_batches


class VideoSequence(keras.utils.PyDataset):
    """Streams batches of clips from a `FrameCache` for `Model.fit`.

    The clips are decoded into the cache first (`cache.prepare(dataset)`,
    with a progress bar; broken clips are skipped with a warning), then each
    batch reads only its own clips from memory-mapped files, so memory stays
    bounded at full clip length.

    Frames are returned as `(pixel - center) * scale` in float32, or as
    the raw uint8 pixels with `dtype="uint8"` (4x less memory and
    bandwidth; the model casts and centres them itself, e.g. a TT-RNN
    with `input_scale` and `input_offset`, or `keras.layers.Rescaling`).
    Two modes:

    - `num_frames=16` (the default, fast): each clip gives `num_frames`
      frames at evenly spaced positions over its whole length (frames
      repeat if the clip is shorter); no padding.
    - `num_frames=None` (the protocol of the 2017 TT-RNN paper): every
      frame (after `every` and `max_frames`), zero PRE-padded to the
      longest clip of the batch, or to `max_length` if given (longer clips
      keep their first `max_length` frames). Pre-padding puts the real
      frames last, next to the last hidden state the classifier reads.
      Padded steps are exactly 0 after centring, so `keras.layers.Masking
      (mask_value=0.0)` masks them (a real frame is masked only if all its
      pixels equal `center`); or pass `return_mask=True` to get the mask
      (needed with uint8 frames, where a black frame is all zeros too).

    Length buckets (`buckets=`, all-frames mode only): each batch is
    padded to one of a few fixed lengths instead of its own longest clip,
    so JAX and TensorFlow compile at most one graph per bucket, and clips
    of similar length share batches (see `ttrnn.data.buckets`). Clips are
    shuffled within their buckets and batches across buckets every epoch,
    from `seed`. Every batch of a bucket then holds the same number of
    rows (`batch_size`, or fewer under `max_batch_frames`): the one batch
    an epoch that lacks clips is filled with dummy rows (all padding,
    label 0), and batches come with sample weights, 1 for clips and 0 for
    dummy rows, as `(x, y, sample_weight)`.
    `padding_overhead` gives padded frames / real frames of the epoch.

    The next batch is read in a background thread while the model trains
    on the current one (`prefetch=True`, with the default `workers=1`).
    All-frames uint8 batches are filled by plain file reads from the cache
    (not a memory map, whose pages would count in the process's memory)
    and, under JAX, handed over without a copy (DLPack).

    Args:
        dataset: a `VideoDataset`.
        cache: a `FrameCache`; its `frame_shape`, `every` and `max_frames`
            set how clips are decoded.
        batch_size: clips per batch. Defaults to 16.
        num_frames: frames sampled per clip, or `None` for all frames with
            padding. Defaults to 16.
        max_length: with `num_frames=None`, a fixed padded length, or
            `None` for the longest clip of each batch. Defaults to `None`.
        every: with `num_frames=None`, keep one cached frame out of
            `every`. Defaults to 1.
        max_frames: with `num_frames=None`, keep at most the first
            `max_frames` frames of a clip. Defaults to `None`.
        center: value subtracted from the pixels. Defaults to 128.0.
            Not applied to uint8 frames.
        scale: factor applied after centring. Defaults to 1.0. Not
            applied to uint8 frames.
        dtype: `"float32"` (centred and scaled) or `"uint8"` (raw
            pixels). Defaults to `"float32"`.
        buckets: with `num_frames=None`, `None` (pad each batch to its
            longest clip), an int (the most buckets, lengths chosen to
            minimise padding, `bucket_lengths`) or a list of padded
            lengths (the last at least the longest clip). Defaults to
            `None`.
        max_batch_frames: with `buckets`, the most padded frames (rows x
            length) in a batch: the batches of the longest buckets get
            fewer than `batch_size` rows (`bucket_rows`), so the largest
            batch, and the training step's memory, no longer grows with
            the longest clip. `None` keeps `batch_size` rows everywhere.
            Defaults to `None`.
        flatten: return frames flattened to `height * width * 3` features
            (what TT layers consume) instead of `(height, width, 3)`.
            Defaults to `True`.
        return_mask: also return a boolean mask `(batch, steps)` of the
            real frames, as `((x, mask), y)`. Defaults to `False`.
        shuffle: reshuffle the clips at the start and after every epoch.
            Defaults to `True`.
        seed: seed of the shuffling: epoch `e`'s order depends on
            `(seed, e)` only (see `set_epoch`). Defaults to `None` (a
            fresh seed).
        prefetch: read the next batch in a background thread. Defaults
            to `True`.
        shard: `(index, count)`: this process's part of every batch, for
            data-parallel training over `count` processes
            (`ttrnn.distribution`): each process reads only its own rows
            from the cache. Defaults to `None` (whole batches).
        batch_multiple: pad every batch with dummy rows (weight 0) to a
            multiple of this many rows (the devices the batch is split
            over; a multiple of the shard count). Defaults to 1. With a
            shard or a multiple above 1, batches carry sample weights.
        verbose: progress bar while caching (1) or not (0). Defaults to 1.
        **kwargs: `workers`, `use_multiprocessing` and `max_queue_size` of
            `keras.utils.PyDataset`.

    Returns batches `(x, y)`: `x` float32 (or uint8) of shape `(batch,
    steps, height * width * 3)` (or `(batch, steps, height, width, 3)`),
    `y` int32 class indices `(batch,)`, or float32 multi-hot `(batch,
    classes)` for multi-label data; `((x, mask), y)` with `return_mask`;
    and a third element, the sample weights, with `buckets`. Without
    buckets the last batch may be smaller. A float32 batch takes
    `batch * steps * height * width * 3 * 4` bytes (a batch of 16 UCF11
    clips padded to 1,492 frames is 5.5 GB), a uint8 batch a quarter of
    that (1.4 GB).

    Example:

    >>> ucf11 = load_ucf11("data/UCF11")  # doctest: +SKIP
    >>> cache = FrameCache("/tmp/ucf11-cache")  # doctest: +SKIP
    >>> train, test = ucf11.folds(5)[0]  # doctest: +SKIP
    >>> seq = VideoSequence(ucf11.subset(train), cache)  # doctest: +SKIP
    >>> model.fit(seq, epochs=100)  # doctest: +SKIP
    """

    def __init__(
        self,
        dataset,
        cache,
        batch_size=16,
        num_frames=16,
        max_length=None,
        every=1,
        max_frames=None,
        center=128.0,
        scale=1.0,
        flatten=True,
        return_mask=False,
        shuffle=True,
        seed=None,
        verbose=1,
        dtype="float32",
        buckets=None,
        max_batch_frames=None,
        prefetch=True,
        shard=None,
        batch_multiple=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.batch_size = check_int("batch_size", batch_size)
        self.num_frames = check_int("num_frames", num_frames, allow_none=True)
        self.max_length = check_int("max_length", max_length, allow_none=True)
        self.every = check_int("every", every)
        self.max_frames = check_int("max_frames", max_frames, allow_none=True)
        if self.num_frames is not None and (
            max_length is not None or every != 1 or max_frames is not None
        ):
            raise ValueError(
                "Arguments `max_length`, `every` and `max_frames` apply only "
                "with num_frames=None (all frames). Received: "
                f"num_frames={num_frames}, max_length={max_length}, "
                f"every={every}, max_frames={max_frames}"
            )
        if dtype not in ("float32", "uint8"):
            raise ValueError(
                "Argument `dtype` must be 'float32' or 'uint8'. "
                f"Received: dtype={dtype!r}"
            )
        if buckets is not None and self.num_frames is not None:
            raise ValueError(
                "Argument `buckets` applies only with num_frames=None (all "
                f"frames). Received: num_frames={num_frames}, "
                f"buckets={buckets!r}"
            )
        if max_batch_frames is not None and buckets is None:
            raise ValueError(
                "Argument `max_batch_frames` applies only with `buckets`. "
                f"Received: max_batch_frames={max_batch_frames!r}, "
                "buckets=None"
            )
        self.max_batch_frames = check_int(
            "max_batch_frames", max_batch_frames, allow_none=True
        )
        self.dtype = dtype
        self.center = float(center)
        self.scale = float(scale)
        self.flatten = bool(flatten)
        self.return_mask = bool(return_mask)
        self.shuffle = bool(shuffle)
        self.cache = cache
        self.dataset = cache.prepare(dataset, verbose=verbose)
        if len(self.dataset) == 0:
            raise ValueError(
                f"No readable clip in dataset {dataset.name!r} "
                f"({len(dataset)} clips listed)."
            )
        self.lengths = np.array(
            [self._length(clip) for clip in self.dataset.clips]
        )
        self.buckets = None
        if buckets is not None:
            if isinstance(buckets, (int, np.integer)) and not isinstance(
                buckets, bool
            ):
                self.buckets = bucket_lengths(
                    self.lengths,
                    buckets,
                    self.batch_size,
                    max_batch_frames=self.max_batch_frames,
                )
            else:
                self.buckets = check_buckets(buckets, self.lengths)
        self.prefetch = bool(prefetch)
        self.shard, self.batch_multiple = _check_shard(shard, batch_multiple)
        # Each epoch's order is a function of (seed, epoch) alone, so a
        # resumed run or a second `fit` can replay it (`set_epoch`).
        self._seed = (
            np.random.SeedSequence().entropy if seed is None else int(seed)
        )
        self.epoch = 0
        self._order = np.arange(len(self.dataset))
        self._plan = None
        self._lookahead = None  # (index, future) of the prefetched batch
        self._executor = None
        self._new_epoch()

    def __len__(self):
        if self._plan is not None:
            return len(self._plan)  # the same every epoch
        return math.ceil(len(self.dataset) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(
                f"Batch index {index} out of range for {len(self)} batches."
            )
        batch = None
        if self._lookahead is not None:
            ahead, future = self._lookahead
            self._lookahead = None
            batch = future.result()
            if ahead != index:
                batch = None
        if batch is None:
            batch = self._batch(index)
        if self.prefetch and self.workers <= 1 and index + 1 < len(self):
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    1, thread_name_prefix="ttrnn-prefetch"
                )
            future = self._executor.submit(self._batch, index + 1)
            self._lookahead = (index + 1, future)
        return batch

    def on_epoch_end(self):
        self._drop_lookahead()
        self.epoch += 1
        self._new_epoch()

    def set_epoch(self, epoch):
        """Makes the next batches those of epoch `epoch` (0-based): the
        order a run resumed after `epoch` epochs would have seen."""
        self._drop_lookahead()
        self.epoch = check_int("epoch", epoch, low=0)
        self._new_epoch()

    def members(self, index):
        """Clip indices (into `dataset`) of batch `index` this epoch;
        -1 marks a dummy row."""
        if self._plan is not None:
            members = self._plan[index][1]
        else:
            start = index * self.batch_size
            members = self._order[start : start + self.batch_size]
        extra = -len(members) % self.batch_multiple
        if extra:
            members = np.concatenate([members, np.full(extra, -1)])
        return members

    @property
    def padding_overhead(self):
        """Frames computed / real frames in this epoch's batches (dummy
        rows included); 1.0 without padding."""
        real = int(self.lengths.sum())
        if self._plan is not None:
            padded = sum(t * len(i) for t, i in self._plan)
        elif self.num_frames is not None:
            return 1.0
        else:
            padded = 0
            for index in range(len(self)):
                members = self.members(index)
                real = members[members >= 0]
                steps = self.max_length or int(self.lengths[real].max())
                padded += steps * len(members)
        return padded / real if real else 1.0

    def _new_epoch(self):
        rng = np.random.default_rng([self._seed, self.epoch])
        if self.buckets is not None:
            self._plan = plan_batches(
                self.lengths,
                self.buckets,
                self.batch_size,
                rng if self.shuffle else None,
                max_batch_frames=self.max_batch_frames,
            )
        elif self.shuffle:
            self._order = rng.permutation(len(self.dataset))

    def _drop_lookahead(self):
        if self._lookahead is not None:
            self._lookahead[1].result()
            self._lookahead = None

    def _batch(self, index):
        members = self.members(index)
        steps = None if self._plan is None else self._plan[index][0]
        if self.shard is not None:
            # Every process pads to the same length: the whole batch's.
            if steps is None and self.num_frames is None:
                real = members[members >= 0]
                steps = self.max_length or int(self.lengths[real].max())
            part, count = self.shard
            rows = len(members) // count
            members = members[part * rows : (part + 1) * rows]
        real = members >= 0
        x, mask = self._frames(members, steps)
        labels = self.dataset.labels[np.where(real, members, 0)]
        if self.dataset.multi_label:
            y = labels.astype("float32")
        else:
            y = labels.astype("int32")
        y[~real] = 0
        if self.dtype == "uint8" and not self.use_multiprocessing:
            x = zero_copy_batch(x)
        inputs = (x, mask) if self.return_mask else x
        weighted = self.shard is not None or self.batch_multiple > 1
        if self._plan is not None or weighted:
            return inputs, y, real.astype("float32")
        return inputs, y

    def __getstate__(self):
        # Threads do not pickle (multiprocessing workers): start afresh.
        state = self.__dict__.copy()
        state["_executor"] = None
        state["_lookahead"] = None
        return state

    def __del__(self):
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False)

    def _length(self, clip):
        if self.num_frames is not None:
            return self.num_frames
        length = math.ceil(self.cache.num_frames(clip) / self.every)
        for limit in (self.max_frames, self.max_length):
            if limit is not None:
                length = min(length, limit)
        return length

    def _frames(self, members, steps=None):
        height, width = self.cache.frame_shape
        if self.num_frames is not None:
            steps = self.num_frames
        elif steps is None:  # the longest real clip (-1: a dummy row)
            real = members[members >= 0]
            steps = self.max_length or int(self.lengths[real].max())
        x = np.zeros((len(members), steps, height, width, 3), self.dtype)
        mask = np.zeros((len(members), steps), bool)
        direct = (
            self.num_frames is None
            and self.every == 1
            and self.dtype == "uint8"
        )
        for row, member in enumerate(members):
            if member < 0:  # a dummy row: all padding
                continue
            clip = self.dataset.clips[member]
            if direct:  # file reads straight into the batch (no mmap RSS)
                offset = steps - int(self.lengths[member])
                self.cache.read_into(clip, x[row, offset:])
                mask[row, offset:] = True
                continue
            frames = self._clip(clip)
            offset = steps - len(frames)
            x[row, offset:] = frames
            if self.dtype == "float32":
                x[row, offset:] -= self.center
                x[row, offset:] *= self.scale
            mask[row, offset:] = True
        if self.flatten:
            x = x.reshape(len(members), steps, height * width * 3)
        return x, mask

    def _clip(self, clip):
        frames = self.cache.load(clip)
        if self.num_frames is not None:
            last = len(frames) - 1
            picks = np.rint(np.linspace(0, last, self.num_frames))
            return frames[picks.astype(np.int64)]
        frames = frames[:: self.every]
        limit = min(
            v for v in (self.max_frames, self.max_length, len(frames)) if v
        )
        return frames[:limit]


def _check_shard(shard, batch_multiple):
    multiple = check_int("batch_multiple", batch_multiple)
    if shard is None:
        return None, multiple
    try:
        part, count = (int(v) for v in shard)
    except (TypeError, ValueError):
        part, count = -1, 0
    if not 0 <= part < count or multiple % count:
        raise ValueError(
            "Argument `shard` must be a pair (index, count) with 0 <= "
            "index < count, and `batch_multiple` a multiple of count. "
            f"Received: shard={shard!r}, batch_multiple={batch_multiple!r}"
        )
    return (part, count), multiple

"""A Keras `PyDataset` streaming batches of cached video clips."""

import math

import keras
import numpy as np

from ttrnn.data._checks import check_int


class VideoSequence(keras.utils.PyDataset):
    """Streams batches of clips from a `FrameCache` for `Model.fit`.

    The clips are decoded into the cache first (`cache.prepare(dataset)`,
    with a progress bar; broken clips are skipped with a warning), then each
    batch reads only its own clips from memory-mapped files, so memory stays
    bounded at full clip length.

    Frames are returned as `(pixel - center) * scale` in float32. Two
    modes:

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
      pixels equal `center`); or pass `return_mask=True` to get the mask.

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
        scale: factor applied after centring. Defaults to 1.0.
        flatten: return frames flattened to `height * width * 3` features
            (what TT layers consume) instead of `(height, width, 3)`.
            Defaults to `True`.
        return_mask: also return a boolean mask `(batch, steps)` of the
            real frames, as `((x, mask), y)`. Defaults to `False`.
        shuffle: reshuffle the clips at the start and after every epoch.
            Defaults to `True`.
        seed: seed of the shuffling. Defaults to `None`.
        verbose: progress bar while caching (1) or not (0). Defaults to 1.
        **kwargs: `workers`, `use_multiprocessing` and `max_queue_size` of
            `keras.utils.PyDataset`.

    Returns batches `(x, y)`: `x` float32 of shape `(batch, steps,
    height * width * 3)` (or `(batch, steps, height, width, 3)`), `y` int32
    class indices `(batch,)`, or float32 multi-hot `(batch, classes)` for
    multi-label data. The last batch may be smaller. A batch takes
    `batch * steps * height * width * 3 * 4` bytes (a batch of 16 UCF11
    clips padded to 1,492 frames is 5.5 GB): cap `max_length` or sample
    `num_frames` when memory is short.

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
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.dataset))
        if self.shuffle:
            self._rng.shuffle(self._order)

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(
                f"Batch index {index} out of range for {len(self)} batches."
            )
        start = index * self.batch_size
        members = self._order[start : start + self.batch_size]
        x, mask = self._frames(members)
        labels = self.dataset.labels[members]
        if self.dataset.multi_label:
            y = labels.astype("float32")
        else:
            y = labels.astype("int32")
        if self.return_mask:
            return (x, mask), y
        return x, y

    def on_epoch_end(self):
        if self.shuffle:
            self._rng.shuffle(self._order)

    def _length(self, clip):
        if self.num_frames is not None:
            return self.num_frames
        length = math.ceil(self.cache.num_frames(clip) / self.every)
        for limit in (self.max_frames, self.max_length):
            if limit is not None:
                length = min(length, limit)
        return length

    def _frames(self, members):
        height, width = self.cache.frame_shape
        steps = self.max_length or int(self.lengths[members].max())
        if self.num_frames is not None:
            steps = self.num_frames
        x = np.zeros((len(members), steps, height, width, 3), "float32")
        mask = np.zeros((len(members), steps), bool)
        for row, member in enumerate(members):
            frames = self._clip(self.dataset.clips[member])
            offset = steps - len(frames)
            x[row, offset:] = frames
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

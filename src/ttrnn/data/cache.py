"""An on-disk cache of decoded clips, so each clip is decoded only once.

Each clip is stored as one uint8 `.npy` file of shape
`(frames, height, width, 3)`, read back memory-mapped: a batch touches only
its own clips, so full-length datasets far larger than memory (UCF11 at
full length is about 137 GB) stream from disk.
"""

import hashlib
import json
import os
import tempfile
import warnings

import keras
import numpy as np

from ttrnn.data import npy_header
from ttrnn.data._checks import check_frame_shape
from ttrnn.data._checks import check_int
from ttrnn.data.clips import SkippedClipWarning
from ttrnn.data.video import TruncatedVideoWarning
from ttrnn.data.video import VideoReadError
from ttrnn.data.video import read_video

_VERSION = 1
# Notes beside a clip's cache file: why it failed (no frames), or why
# its frames are fewer than they should be (a truncated file).
_FAILED = ".failed"
_TRUNCATED = ".truncated"


def _read_note(path):
    with open(path, encoding="utf-8") as file:
        return file.read().strip()


class FrameCache:
    """Decodes clips once into per-clip uint8 `.npy` files.

    The cache key of a clip is its absolute path, size and modification
    time together with the decoding settings, so an edited file or other
    settings decode afresh. A clip that fails to decode leaves a `.failed`
    note, so it is reported (with a `SkippedClipWarning`) but not decoded
    again; a truncated one (fewer frames than it should have) is cached
    with a `.truncated` note, so every later `prepare` warns again
    (`TruncatedVideoWarning`).

    Args:
        cache_dir: directory of the cache files (created if needed).
        frame_shape: `(height, width)` frames are resized to. Defaults to
            `(120, 160)`.
        every: keep one decoded frame out of `every`. Defaults to 1.
        max_frames: keep at most this many frames a clip, or `None` for
            all. Defaults to `None`.

    Example:

    >>> cache = FrameCache("/tmp/ucf11-cache")  # doctest: +SKIP
    >>> ucf11 = cache.prepare(load_ucf11("data/UCF11"))  # doctest: +SKIP
    >>> frames = cache.load(ucf11.clips[0])  # doctest: +SKIP
    """

    def __init__(
        self, cache_dir, frame_shape=(120, 160), every=1, max_frames=None
    ):
        self.cache_dir = os.fspath(cache_dir)
        self.frame_shape = check_frame_shape(frame_shape)
        self.every = check_int("every", every)
        self.max_frames = check_int("max_frames", max_frames, allow_none=True)
        os.makedirs(self.cache_dir, exist_ok=True)

    def path_for(self, clip):
        """Returns the cache file path of a clip.

        Args:
            clip: path of the video file.

        Returns:
            The path of its `.npy` cache file (which may not exist yet).
        """
        clip = os.path.abspath(os.fspath(clip))
        stat = os.stat(clip)
        settings = [
            _VERSION,
            clip,
            stat.st_size,
            stat.st_mtime_ns,
            self.frame_shape,
            self.every,
            self.max_frames,
        ]
        digest = hashlib.sha1(json.dumps(settings).encode()).hexdigest()
        stem = os.path.splitext(os.path.basename(clip))[0]
        return os.path.join(self.cache_dir, f"{stem}-{digest[:16]}.npy")

    def contains(self, clip):
        """Whether a clip is decoded in the cache.

        Args:
            clip: path of the video file.

        Returns:
            `True` if its cache file exists.
        """
        return os.path.isfile(self.path_for(clip))

    def load(self, clip):
        """Returns the cached frames of a clip, memory-mapped read-only.

        Args:
            clip: path of the video file.

        Returns:
            A read-only uint8 array `(frames, height, width, 3)`.

        Raises:
            KeyError: if the clip is not in the cache (see `prepare`).
        """
        # not np.load: its header parser is not thread-safe (npy_header)
        return npy_header.memmap(self._cached_path(clip))

    def read_into(self, clip, out):
        """Reads a clip's first `len(out)` frames into `out`.

        Plain file reads, not a memory map: the pages land in the OS's
        page cache, not in the process's resident memory, so streaming
        long clips does not add their size to the RSS.

        Args:
            clip: path of the video file.
            out: a C-contiguous uint8 array `(n, height, width, 3)` with
                `n` at most the clip's frame count.

        Raises:
            KeyError: if the clip is not in the cache.
            ValueError: if `out` does not fit the cached frames.
        """
        path = self._cached_path(clip)
        with open(path, "rb") as file:
            shape, fortran, dtype = npy_header.read(file)
            if (
                fortran
                or dtype != np.uint8
                or out.dtype != np.uint8
                or not out.flags.c_contiguous
                or out.shape[1:] != tuple(shape[1:])
                or len(out) > shape[0]
            ):
                raise ValueError(
                    f"Argument `out` must be a C-contiguous uint8 array of "
                    f"at most {shape[0]} frames of {tuple(shape[1:])}. "
                    f"Received: out of shape {out.shape}, dtype {out.dtype}"
                )
            view = memoryview(out.reshape(-1))
            done = 0
            while done < len(view):
                read = file.readinto(view[done:])
                if not read:
                    raise OSError(f"{path!r} ended early (truncated file).")
                done += read

    def _cached_path(self, clip):
        path = self.path_for(clip)
        if not os.path.isfile(path):
            raise KeyError(
                f"Clip {clip!r} is not in the cache {self.cache_dir!r}; "
                "call `FrameCache.prepare(dataset)` first."
            )
        return path

    def num_frames(self, clip):
        """Number of cached frames of a clip (reads only the file header).

        Args:
            clip: path of the video file.

        Returns:
            The number of frames.
        """
        return self.load(clip).shape[0]

    def prepare(self, dataset, verbose=1, return_details=False):
        """Decodes the clips missing from the cache and drops broken ones.

        Shows a Keras progress bar while decoding. Clips that are missing,
        unreadable or corrupt are reported with a `SkippedClipWarning` and
        left out; they never stop the run. Clips cut short are kept with
        the frames read and reported with a `TruncatedVideoWarning`, on
        every call: the cache notes the truncation beside their frames.

        Args:
            dataset: a `VideoDataset`.
            verbose: 1 shows a progress bar, 2 one line when done, 0
                nothing. Defaults to 1.
            return_details: also return which clips were skipped or
                truncated, and why. Defaults to `False`.

        Returns:
            The `VideoDataset` of the clips now in the cache; with
            `return_details`, `(dataset, details)`, `details` a dict with
            `"skipped"` and `"truncated"`, each mapping a clip's path to
            the reason.
        """
        keep, todo, failed = [], [], []
        for index, clip in enumerate(dataset.clips):
            try:
                path = self.path_for(clip)
            except OSError as error:
                failed.append((clip, str(error)))
                continue
            if os.path.isfile(path):
                keep.append(index)
            elif os.path.isfile(path + _FAILED):
                failed.append((clip, _read_note(path + _FAILED)))
            else:
                todo.append(index)
        if todo:
            progbar = keras.utils.Progbar(
                len(todo), verbose=verbose, unit_name="clip"
            )
            for step, index in enumerate(todo, 1):
                clip = dataset.clips[index]
                error = self._decode(clip)
                if error is None:
                    keep.append(index)
                else:
                    failed.append((clip, error))
                progbar.update(step)
        for clip, error in failed:
            warnings.warn(
                f"Skipping clip {clip!r}: {error}",
                SkippedClipWarning,
                stacklevel=2,
            )
        truncated = {}
        for index in sorted(keep):
            clip = dataset.clips[index]
            note = self.path_for(clip) + _TRUNCATED
            if os.path.isfile(note):
                truncated[os.fspath(clip)] = _read_note(note)
                warnings.warn(
                    truncated[os.fspath(clip)],
                    TruncatedVideoWarning,
                    stacklevel=2,
                )
        kept = dataset.subset(sorted(keep))
        if not return_details:
            return kept
        skipped = {os.fspath(clip): error for clip, error in failed}
        return kept, {"skipped": skipped, "truncated": truncated}

    def _decode(self, clip):
        """Decodes one clip into the cache; returns an error text or None.

        A truncation warning is noted in a `.truncated` file beside the
        frames (written first), which `prepare` reports on every call."""
        path = self.path_for(clip)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", TruncatedVideoWarning)
                frames = read_video(
                    clip, self.frame_shape, self.every, self.max_frames
                )
        except (VideoReadError, OSError) as error:
            with open(path + _FAILED, "w", encoding="utf-8") as file:
                file.write(str(error))
            return str(error)
        for warning in caught:
            if issubclass(warning.category, TruncatedVideoWarning):
                with open(path + _TRUNCATED, "w", encoding="utf-8") as file:
                    file.write(str(warning.message))
            else:  # not ours to keep: shown as it would have been
                warnings.warn_explicit(
                    warning.message,
                    warning.category,
                    warning.filename,
                    warning.lineno,
                )
        self._write(path, frames)
        return None

    def store(self, clip, frames):
        """Puts already decoded frames of a clip into the cache.

        For frames that come from elsewhere (another decoder, generated
        data): `prepare` then finds the clip cached and never decodes it.

        Args:
            clip: path of the (existing) video file the frames stand for.
            frames: uint8 array `(frames, height, width, 3)` of this
                cache's `frame_shape`.

        Returns:
            The path of the cache file.
        """
        frames = np.asarray(frames)
        expected = (*self.frame_shape, 3)
        if (
            frames.dtype != np.uint8
            or frames.ndim != 4
            or frames.shape[1:] != expected
            or len(frames) == 0
        ):
            raise ValueError(
                "Argument `frames` must be a non-empty uint8 array of shape "
                f"(frames, {expected[0]}, {expected[1]}, 3). Received: "
                f"{frames.dtype} array of shape {frames.shape}"
            )
        path = self.path_for(clip)
        self._write(path, frames)
        return path

    def _write(self, path, frames):
        # Write to a temporary file and rename it, so an interrupted run
        # never leaves a truncated cache file behind.
        handle, temporary = tempfile.mkstemp(
            dir=self.cache_dir, suffix=".npy.tmp"
        )
        try:
            with os.fdopen(handle, "wb") as file:
                np.save(file, frames)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise

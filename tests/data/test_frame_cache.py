"""Tests of the on-disk decode cache."""

import os

import numpy as np
import pytest

from tests.data.data_helpers import TINY
from tests.data.data_helpers import ramp_clip
from ttrnn.data import cache as cache_module
from ttrnn.data.cache import FrameCache
from ttrnn.data.clips import SkippedClipWarning
from ttrnn.data.clips import VideoDataset
from ttrnn.data.video import write_video


def make_dataset(folder, lengths=(3, 5, 4), corrupt=()):
    """Clips of ramps of the given lengths; indices in `corrupt` are junk."""
    clips = []
    for i, length in enumerate(lengths):
        path = os.path.join(folder, f"clip{i}.avi")
        if i in corrupt:
            with open(path, "wb") as file:
                file.write(b"junk" * 50)
        else:
            write_video(path, ramp_clip(length, start=10 + i))
        clips.append(path)
    return VideoDataset(
        name="test",
        clips=tuple(clips),
        labels=np.arange(len(clips), dtype=np.int32),
        class_names=tuple(f"c{i}" for i in range(len(clips))),
    )


def fail_to_decode(*args, **kwargs):
    raise AssertionError("the cache decoded a clip again")


class TestFrameCache:
    def test_prepare_and_load(self, av, tmp_path):
        data = make_dataset(tmp_path)
        cache = FrameCache(tmp_path / "cache", frame_shape=(8, 10))
        ready = cache.prepare(data, verbose=0)
        assert ready.clips == data.clips
        for i, clip in enumerate(data.clips):
            frames = cache.load(clip)
            assert isinstance(frames, np.memmap)
            assert not frames.flags.writeable
            assert frames.shape == ((3, 5, 4)[i], 8, 10, 3)
            np.testing.assert_array_equal(
                frames[:, 0, 0, 0], 10 + i + 20 * np.arange(len(frames))
            )
            assert cache.num_frames(clip) == len(frames)
        leftovers = [n for n in os.listdir(tmp_path / "cache") if "tmp" in n]
        assert leftovers == []

    def test_read_into_reads_what_load_maps(self, tmp_path):
        clip = tmp_path / "clip.mpg"
        clip.write_bytes(b"stands for a video")
        cache = FrameCache(tmp_path / "cache", frame_shape=(6, 7))
        frames = np.random.default_rng(0).integers(
            0, 256, (9, 6, 7, 3), dtype=np.uint8
        )
        cache.store(str(clip), frames)
        batch = np.zeros((2, 12, 6, 7, 3), np.uint8)
        cache.read_into(str(clip), batch[1, 3:])  # all 9 frames
        cache.read_into(str(clip), batch[0, 8:])  # the first 4
        np.testing.assert_array_equal(batch[1, 3:], cache.load(str(clip)))
        np.testing.assert_array_equal(batch[0, 8:], frames[:4])
        assert not batch[1, :3].any() and not batch[0, :8].any()
        with pytest.raises(ValueError, match="at most 9 frames"):
            cache.read_into(str(clip), np.zeros((10, 6, 7, 3), np.uint8))
        with pytest.raises(ValueError, match="`out`"):
            cache.read_into(str(clip), np.zeros((3, 6, 7, 3), np.float32))
        other = tmp_path / "other.mpg"
        other.write_bytes(b"never cached")
        with pytest.raises(KeyError, match="not in the cache"):
            cache.read_into(str(other), batch[0])
        # A cache file cut short is an error, not a half-filled batch.
        path = cache.path_for(str(clip))
        with open(path, "r+b") as file:
            file.truncate(os.path.getsize(path) - 10)
        with pytest.raises(OSError, match="ended early"):
            cache.read_into(str(clip), batch[1, 3:])

    def test_second_pass_does_not_decode(self, av, tmp_path, monkeypatch):
        data = make_dataset(tmp_path)
        FrameCache(tmp_path / "cache", (8, 10)).prepare(data, verbose=0)
        monkeypatch.setattr(cache_module, "read_video", fail_to_decode)
        cache = FrameCache(tmp_path / "cache", (8, 10))
        assert cache.prepare(data, verbose=0).clips == data.clips
        assert len(cache.load(data.clips[1])) == 5

    def test_other_settings_decode_again(self, av, tmp_path):
        data = make_dataset(tmp_path, lengths=(6,))
        first = FrameCache(tmp_path / "cache", (8, 10))
        second = FrameCache(tmp_path / "cache", (8, 10), every=2, max_frames=2)
        first.prepare(data, verbose=0)
        assert not second.contains(data.clips[0])
        second.prepare(data, verbose=0)
        np.testing.assert_array_equal(
            second.load(data.clips[0])[:, 0, 0, 0], [10, 50]
        )
        assert len(first.load(data.clips[0])) == 6

    def test_changed_file_decodes_again(self, av, tmp_path):
        data = make_dataset(tmp_path, lengths=(3,))
        cache = FrameCache(tmp_path / "cache", (8, 10))
        cache.prepare(data, verbose=0)
        write_video(data.clips[0], ramp_clip(7))
        stat = os.stat(data.clips[0])
        os.utime(data.clips[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        assert not cache.contains(data.clips[0])
        cache.prepare(data, verbose=0)
        assert cache.num_frames(data.clips[0]) == 7

    def test_corrupt_clip_is_skipped_with_warning(
        self, av, tmp_path, monkeypatch
    ):
        data = make_dataset(tmp_path, corrupt=(1,))
        cache = FrameCache(tmp_path / "cache", (8, 10))
        with pytest.warns(SkippedClipWarning, match="clip1.avi"):
            ready = cache.prepare(data, verbose=0)
        assert ready.clips == (data.clips[0], data.clips[2])
        np.testing.assert_array_equal(ready.labels, [0, 2])
        # The failure is remembered: reported again, not decoded again.
        monkeypatch.setattr(cache_module, "read_video", fail_to_decode)
        with pytest.warns(SkippedClipWarning, match="Cannot decode"):
            again = cache.prepare(data, verbose=0)
        assert again.clips == ready.clips

    def test_missing_clip_is_skipped_with_warning(self, av, tmp_path):
        data = make_dataset(tmp_path, lengths=(3, 3))
        os.remove(data.clips[0])
        cache = FrameCache(tmp_path / "cache", (8, 10))
        with pytest.warns(SkippedClipWarning, match="clip0.avi"):
            ready = cache.prepare(data, verbose=0)
        assert ready.clips == data.clips[1:]

    def test_load_before_prepare(self, av, tmp_path):
        data = make_dataset(tmp_path, lengths=(3,))
        cache = FrameCache(tmp_path / "cache", TINY)
        with pytest.raises(KeyError, match="prepare"):
            cache.load(data.clips[0])

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"frame_shape": (0, 4)}, "frame_shape"),
            ({"every": 0}, "every"),
            ({"max_frames": 0}, "max_frames"),
        ],
    )
    def test_invalid_arguments(self, tmp_path, kwargs, match):
        with pytest.raises(ValueError, match=match):
            FrameCache(tmp_path, **kwargs)

"""Tests of read_video and write_video on real files written here."""

import sys
import warnings

import numpy as np
import pytest

from tests.data.data_helpers import TINY
from tests.data.data_helpers import ramp_clip
from ttrnn.data import video
from ttrnn.data.cache import FrameCache
from ttrnn.data.clips import SkippedClipWarning
from ttrnn.data.clips import VideoDataset
from ttrnn.data.video import VideoReadError
from ttrnn.data.video import read_video
from ttrnn.data.video import write_video


def random_clip(num_frames=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (num_frames, *TINY, 3), dtype=np.uint8)


def smooth_clip(num_frames=6):
    y, x = np.mgrid[: TINY[0], : TINY[1]]
    frames = [
        np.stack([x * 4 + t, y * 6, 200 - x * 3 - t], axis=-1)
        for t in range(num_frames)
    ]
    return np.clip(frames, 0, 255).astype(np.uint8)


class TestWriteRead:
    @pytest.mark.parametrize("suffix", [".avi", ".mkv", ".mp4"])
    def test_lossless_round_trip(self, av, tmp_path, suffix):
        frames = random_clip()
        path = tmp_path / f"clip{suffix}"
        write_video(path, frames)
        np.testing.assert_array_equal(read_video(path, None), frames)

    def test_mpeg1_round_trip_is_close(self, av, tmp_path):
        frames = smooth_clip()
        path = tmp_path / "clip.mpg"
        write_video(path, frames)
        decoded = read_video(path, None)
        assert decoded.shape == frames.shape
        error = np.abs(decoded.astype(int) - frames.astype(int))
        assert error.mean() < 3.0
        assert error.max() <= 40

    def test_resize_keeps_colours_and_layout(self, av, tmp_path):
        frames = np.zeros((2, *TINY, 3), np.uint8)
        frames[:, :, TINY[1] // 2 :] = 255
        path = tmp_path / "halves.avi"
        write_video(path, frames)
        decoded = read_video(path, frame_shape=(8, 10))
        assert decoded.shape == (2, 8, 10, 3)
        assert decoded.dtype == np.uint8
        np.testing.assert_array_equal(decoded[:, :, :4], 0)
        np.testing.assert_array_equal(decoded[:, :, 6:], 255)

    def test_every_and_max_frames(self, av, tmp_path):
        path = tmp_path / "ramp.avi"
        write_video(path, ramp_clip(10))
        levels = read_video(path, every=3)[:, 0, 0, 0]
        np.testing.assert_array_equal(levels, [10, 70, 130, 190])
        levels = read_video(path, every=2, max_frames=3)[:, 0, 0, 0]
        np.testing.assert_array_equal(levels, [10, 50, 90])

    def test_default_frame_shape_is_120_by_160(self, av, tmp_path):
        path = tmp_path / "clip.avi"
        write_video(path, random_clip(2))
        assert read_video(path).shape == (2, 120, 160, 3)


class TestErrors:
    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="No video file"):
            read_video(tmp_path / "absent.avi")

    def test_garbage_file(self, av, tmp_path):
        path = tmp_path / "garbage.avi"
        path.write_bytes(b"not a video" * 100)
        with pytest.raises(VideoReadError, match="Cannot decode video"):
            read_video(path)
        assert issubclass(VideoReadError, OSError)

    def test_truncated_file(self, av, tmp_path):
        path = tmp_path / "clip.mp4"
        write_video(path, random_clip())
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
        with pytest.raises(VideoReadError):
            read_video(path)

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"frame_shape": (0, 5)}, "frame_shape"),
            ({"frame_shape": (5,)}, "frame_shape"),
            ({"every": 0}, "every"),
            ({"every": 1.5}, "every"),
            ({"max_frames": -1}, "max_frames"),
        ],
    )
    def test_invalid_read_arguments(self, tmp_path, kwargs, match):
        with pytest.raises(ValueError, match=match):
            read_video(tmp_path / "any.avi", **kwargs)

    def test_invalid_write_arguments(self, av, tmp_path):
        frames = random_clip()
        with pytest.raises(ValueError, match="must end in one of"):
            write_video(tmp_path / "clip.gif", frames)
        with pytest.raises(ValueError, match="uint8 array"):
            write_video(tmp_path / "clip.avi", frames.astype(np.float32))
        with pytest.raises(ValueError, match="uint8 array"):
            write_video(tmp_path / "clip.avi", frames[..., 0])
        with pytest.raises(ValueError, match="fps in"):
            write_video(tmp_path / "clip.mpg", frames, fps=12)
        with pytest.raises(ValueError, match="even frame height"):
            write_video(tmp_path / "clip.mpg", frames[:, :31])

    def test_missing_pyav_names_the_extra(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "av", None)
        with pytest.raises(ImportError, match=r"ttrnn\[video\]"):
            video.require_av()


def _cut(path, fraction=0.5):
    """Truncates the file at `path` to `fraction` of its bytes."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


class TestTruncatedFiles:
    """A file cut in half, as a broken download leaves it."""

    @pytest.mark.parametrize("suffix", [".avi", ".mkv"])
    def test_half_a_file_is_corrupt(self, av, tmp_path, suffix):
        # AVI states 48 frames in its header, Matroska 2 s at 24 fps.
        path = tmp_path / f"clip{suffix}"
        write_video(path, random_clip(48))
        _cut(path)
        with pytest.raises(
            VideoReadError,
            match=rf"clip\{suffix}' is truncated or corrupt: its container "
            r"announces 48 frames, (1?\d|2[0-3]) decoded",
        ):
            read_video(path, None)

    def test_half_an_mpeg1_file_warns_and_drops_the_cut_frame(
        self, av, tmp_path
    ):
        # An MPEG-1 program stream states no length; the decoder flags the
        # picture the file ends inside of.
        frames = smooth_clip(48)
        path = tmp_path / "v_biking_01_01.mpg"
        write_video(path, frames)
        _cut(path)
        with pytest.warns(
            video.TruncatedVideoWarning,
            match=r"v_biking_01_01.mpg' looks truncated: (\d+) frames "
            r"decoded \(the container states no count\); its last frame is "
            r"cut short and dropped",
        ) as record:
            got = read_video(path, None)
        decoded = int(str(record[0].message).split(": ")[1].split()[0])
        assert 1 < len(got) == decoded - 1 < 48
        error = np.abs(got.astype(int) - frames[: len(got)].astype(int))
        assert error.mean() < 4  # the kept frames are whole

    def test_short_of_the_announced_count_warns(self, av, tmp_path):
        path = tmp_path / "clip.avi"
        write_video(path, random_clip(48))
        _cut(path, 0.8)
        with pytest.warns(
            video.TruncatedVideoWarning,
            match=r"clip.avi' looks truncated: its container announces 48 "
            r"frames, 3\d decoded",
        ):
            assert 30 <= len(read_video(path, None)) < 40

    def test_max_frames_reads_only_the_start(self, av, tmp_path):
        path = tmp_path / "clip.avi"
        write_video(path, random_clip(48))
        _cut(path)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert len(read_video(path, None, max_frames=5)) == 5

    @pytest.mark.parametrize("suffix", [".avi", ".mkv", ".mp4", ".mpg"])
    def test_whole_files_read_silently(self, av, tmp_path, suffix):
        path = tmp_path / f"clip{suffix}"
        write_video(path, smooth_clip(30))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert len(read_video(path, None, every=2)) == 15

    def test_cache_skips_a_half_file_and_names_it(self, av, tmp_path):
        clips = []
        for i in range(2):
            path = tmp_path / f"clip{i}.avi"
            write_video(path, random_clip(48, seed=i))
            clips.append(str(path))
        _cut(tmp_path / "clip1.avi")
        data = VideoDataset(
            name="test",
            clips=tuple(clips),
            labels=np.arange(2, dtype=np.int32),
            class_names=("a", "b"),
        )
        cache = FrameCache(tmp_path / "cache", (8, 10))
        with pytest.warns(
            SkippedClipWarning,
            match=r"clip1.avi.*truncated or corrupt: its container "
            r"announces 48 frames",
        ):
            ready = cache.prepare(data, verbose=0)
        assert ready.clips == (clips[0],)
        assert cache.num_frames(clips[0]) == 48

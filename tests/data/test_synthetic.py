"""Tests of the synthetic motion videos."""

import numpy as np
import pytest

from ttrnn.data.synthetic import MOTION_CLASSES
from ttrnn.data.synthetic import make_motion_videos
from ttrnn.data.synthetic import render_motion_clip

SHAPE = (48, 64)


def clean_clip(name, seed=0, num_frames=8):
    """One noiseless clip of a motion class."""
    rng = np.random.default_rng(seed)
    index = MOTION_CLASSES.index(name)
    return render_motion_clip([index], num_frames, SHAPE, rng, noise=0.0)


def peak_positions(clip):
    """(row, column) of the brightest pixel of each frame."""
    brightness = clip.astype(np.int64).sum(axis=-1)
    flat = brightness.reshape(len(clip), -1).argmax(axis=1)
    return np.stack(np.unravel_index(flat, SHAPE), axis=1)


def bright_area(clip):
    """Per frame, the number of pixels much brighter than the median."""
    brightness = clip.astype(np.int64).sum(axis=-1)
    median = np.median(brightness.reshape(len(clip), -1), axis=1)
    return (brightness > median[:, None, None] + 240).sum(axis=(1, 2))


class TestMakeMotionVideos:
    def test_basics(self):
        x, y, names = make_motion_videos(
            num_classes=3, clips_per_class=2, num_frames=5, frame_shape=SHAPE
        )
        assert x.shape == (6, 5, *SHAPE, 3)
        assert x.dtype == np.uint8
        np.testing.assert_array_equal(y, [0, 0, 1, 1, 2, 2])
        assert y.dtype == np.int32
        assert names == ("move_right", "move_left", "move_down")

    def test_default_frame_shape_is_ucf11(self):
        x, _, _ = make_motion_videos(num_classes=1, clips_per_class=1)
        assert x.shape == (1, 16, 120, 160, 3)
        assert len(MOTION_CLASSES) == 12

    def test_seed_reproduces_and_varies(self):
        kwargs = {"num_classes": 2, "clips_per_class": 2, "frame_shape": SHAPE}
        first = make_motion_videos(seed=1, **kwargs)[0]
        np.testing.assert_array_equal(
            first, make_motion_videos(seed=1, **kwargs)[0]
        )
        assert not np.array_equal(
            first, make_motion_videos(seed=2, **kwargs)[0]
        )
        # Clips of one class differ from each other (random offsets).
        assert not np.array_equal(first[0], first[1])

    def test_frames_change_over_time(self):
        x, _, _ = make_motion_videos(
            clips_per_class=1, num_frames=6, frame_shape=SHAPE, noise=0.0
        )
        change = np.abs(np.diff(x.astype(np.int64), axis=1)).sum(axis=(1, 2))
        assert (change.max(axis=(1, 2)) > 0).all()

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"num_classes": 13}, "num_classes"),
            ({"num_classes": 0}, "num_classes"),
            ({"clips_per_class": 0}, "clips_per_class"),
            ({"num_frames": 1}, "num_frames"),
            ({"frame_shape": (2, 64)}, "frame_shape"),
            ({"noise": -1.0}, "noise"),
        ],
    )
    def test_invalid_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            make_motion_videos(**kwargs)


class TestMotionPatterns:
    @pytest.mark.parametrize(
        "name, sign_row, sign_col",
        [
            ("move_right", 0, 1),
            ("move_left", 0, -1),
            ("move_down", 1, 0),
            ("move_up", -1, 0),
            ("diagonal_down", 1, 1),
            ("diagonal_up", -1, 1),
        ],
    )
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_translation_direction(self, name, sign_row, sign_col, seed):
        moved = np.diff(peak_positions(clean_clip(name, seed))[[0, -1]], axis=0)
        row, col = moved[0]
        for sign, delta, extent in (
            (sign_row, row, SHAPE[0]),
            (sign_col, col, SHAPE[1]),
        ):
            if sign:
                assert sign * delta >= 0.25 * extent
            else:
                assert abs(delta) <= 2

    @pytest.mark.parametrize("seed", [0, 1])
    def test_grow_and_shrink(self, seed):
        grow = bright_area(clean_clip("grow", seed))
        shrink = bright_area(clean_clip("shrink", seed))
        assert grow[-1] > 3 * grow[0]
        assert shrink[0] > 3 * shrink[-1]

    def test_blink_switches_on_and_off(self):
        area = bright_area(clean_clip("blink", num_frames=12))
        assert area.max() > 3 * area.min()
        assert (area == area.min()).sum() >= 3

    def test_multi_label_draws_every_object(self):
        rng = np.random.default_rng(0)
        both = render_motion_clip([8, 8], 4, SHAPE, rng, noise=0.0)
        rng = np.random.default_rng(0)
        one = render_motion_clip([8], 4, SHAPE, rng, noise=0.0)
        assert bright_area(both)[-1] > bright_area(one)[-1]

    def test_invalid_class_index(self):
        rng = np.random.default_rng(0)
        with pytest.raises(ValueError, match="classes"):
            render_motion_clip([12], 4, SHAPE, rng)

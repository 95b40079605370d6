"""Shared helpers of the data tests (independent of ttrnn code)."""

import numpy as np

TINY = (32, 40)  # (height, width) of the test videos: even, for MPEG-1.


def ramp_clip(num_frames, shape=TINY, step=20, start=10):
    """A clip whose frame i is uniformly grey at start + step * i.

    Args:
        num_frames: number of frames.
        shape: (height, width).
        step: grey increase per frame.
        start: grey level of frame 0.

    Returns:
        A uint8 array (num_frames, height, width, 3).
    """
    levels = start + step * np.arange(num_frames)
    assert levels.max() <= 255
    clip = np.empty((num_frames, *shape, 3), np.uint8)
    clip[:] = levels[:, None, None, None]
    return clip

"""Synthetic video-classification data: moving shapes on a noisy background.

Each class is a motion pattern (a blob moving in one direction, a bar
rotating, a blob growing, shrinking, blinking or circling). Every clip draws
its own background colour, object colour and size, start position, speed
and a static distractor blob, and Gaussian pixel noise is added, so a model
must read the motion across frames: no single frame tells the class.
"""

import numpy as np

from ttrnn.data._checks import check_frame_shape
from ttrnn.data._checks import check_int

MOTION_CLASSES = (
    "move_right",
    "move_left",
    "move_down",
    "move_up",
    "diagonal_down",
    "diagonal_up",
    "rotate_cw",
    "rotate_ccw",
    "grow",
    "shrink",
    "blink",
    "circle",
)

# Unit direction (dx, dy) of the translating classes; image y points down.
_DIRECTIONS = {
    "move_right": (1.0, 0.0),
    "move_left": (-1.0, 0.0),
    "move_down": (0.0, 1.0),
    "move_up": (0.0, -1.0),
    "diagonal_down": (0.7071, 0.7071),
    "diagonal_up": (0.7071, -0.7071),
}


def make_motion_videos(
    num_classes=12,
    clips_per_class=10,
    num_frames=16,
    frame_shape=(120, 160),
    seed=0,
    noise=12.0,
):
    """Generates an in-memory synthetic video-classification dataset.

    Args:
        num_classes: number of motion classes, the first `num_classes` of
            `MOTION_CLASSES` (at most 12). Defaults to 12.
        clips_per_class: clips drawn for each class. Defaults to 10.
        num_frames: frames per clip (at least 2). Defaults to 16.
        frame_shape: `(height, width)` of the frames. Defaults to
            `(120, 160)`, the frame size of the UCF11 experiments.
        seed: seed of the random generator; equal seeds give equal data.
            Defaults to 0.
        noise: standard deviation of the Gaussian pixel noise, in grey
            levels. Defaults to 12.

    Returns:
        A tuple `(x, y, class_names)`: `x` is a uint8 array of shape
        `(num_classes * clips_per_class, num_frames, height, width, 3)`,
        `y` the int32 class index of each clip (clips are ordered by
        class), `class_names` a tuple of `num_classes` names.
    """
    class_names = motion_class_names(num_classes)
    check_int("clips_per_class", clips_per_class)
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes, dtype=np.int32), clips_per_class)
    clips = [
        render_motion_clip([label], num_frames, frame_shape, rng, noise)
        for label in labels
    ]
    return np.stack(clips), labels, class_names


def motion_class_names(num_classes):
    """Returns the names of the first `num_classes` motion classes.

    Args:
        num_classes: how many classes, 1 to `len(MOTION_CLASSES)`.

    Returns:
        A tuple of class names.
    """
    check_int("num_classes", num_classes, 1, len(MOTION_CLASSES))
    return MOTION_CLASSES[:num_classes]


def render_motion_clip(classes, num_frames, frame_shape, rng, noise=12.0):
    """Renders one clip showing the motion of each class in `classes`.

    Args:
        classes: indices into `MOTION_CLASSES`; one object is drawn for
            each (several give a multi-label clip).
        num_frames: number of frames (at least 2).
        frame_shape: `(height, width)` of the frames.
        rng: a `numpy.random.Generator`.
        noise: standard deviation of the pixel noise in grey levels.

    Returns:
        A uint8 array of shape `(num_frames, height, width, 3)`.
    """
    check_int("num_frames", num_frames, 2)
    height, width = check_frame_shape(frame_shape, minimum=4)
    if noise < 0:
        raise ValueError(
            f"Argument `noise` must be non-negative. Received: noise={noise}"
        )
    grid = _Grid(num_frames, height, width)
    background = rng.uniform(10, 90, size=3)
    canvas = np.broadcast_to(background, (num_frames, height, width, 3)).astype(
        np.float32
    )
    # A static distractor, dimmer than the moving objects.
    distractor = _blob(
        grid,
        np.full(num_frames, rng.uniform(0.1, 0.9) * width),
        np.full(num_frames, rng.uniform(0.1, 0.9) * height),
        np.full(num_frames, rng.uniform(0.04, 0.08) * grid.size),
    )
    _paint(canvas, distractor, rng.uniform(90, 150, size=3))
    for index in classes:
        if not 0 <= int(index) < len(MOTION_CLASSES):
            raise ValueError(
                "Argument `classes` must hold indices in "
                f"[0, {len(MOTION_CLASSES)}). Received: classes={classes}"
            )
        alpha = _motion(MOTION_CLASSES[int(index)], grid, rng)
        _paint(canvas, alpha, rng.uniform(170, 255, size=3))
    canvas += rng.normal(0.0, noise, size=canvas.shape).astype(np.float32)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


class _Grid:
    """Pixel coordinates and normalised time of a clip."""

    def __init__(self, num_frames, height, width):
        self.height, self.width = height, width
        self.size = min(height, width)
        self.t = np.linspace(0.0, 1.0, num_frames, dtype=np.float32)
        self.y, self.x = np.mgrid[:height, :width].astype(np.float32)


def _motion(name, grid, rng):
    """Opacity (frames, height, width) in [0, 1] of one moving object."""
    h, w, s, t = grid.height, grid.width, grid.size, grid.t
    ones = np.ones_like(t)
    if name in _DIRECTIONS:
        dx, dy = _DIRECTIONS[name]
        travel = rng.uniform(0.35, 0.6)
        cx = _start(rng, dx, travel) * w + dx * travel * w * t
        cy = _start(rng, dy, travel) * h + dy * travel * h * t
        sigma = rng.uniform(0.06, 0.1) * s * ones
        return _blob(grid, cx, cy, sigma)
    cx = rng.uniform(0.3, 0.7) * w * ones
    cy = rng.uniform(0.3, 0.7) * h * ones
    if name in ("rotate_cw", "rotate_ccw"):
        turn = rng.uniform(0.5, 1.0) * np.pi
        sign = 1.0 if name == "rotate_cw" else -1.0
        angle = rng.uniform(0, np.pi) + sign * turn * t
        return _bar(grid, cx, cy, angle, rng.uniform(0.3, 0.5) * s)
    if name in ("grow", "shrink"):
        small, large = rng.uniform(0.04, 0.06), rng.uniform(0.14, 0.2)
        if name == "shrink":
            small, large = large, small
        return _blob(grid, cx, cy, (small + (large - small) * t) * s)
    if name == "blink":
        period = rng.integers(2, 5)
        phase = rng.integers(0, 2 * period)
        steps = np.arange(len(t)) + phase
        on = ((steps // period) % 2).astype(np.float32)
        sigma = rng.uniform(0.06, 0.1) * s * ones
        return _blob(grid, cx, cy, sigma) * on[:, None, None]
    if name == "circle":
        radius = rng.uniform(0.15, 0.25) * s
        angle = rng.uniform(0, 2 * np.pi) + rng.choice([-1, 1]) * 2 * np.pi * t
        sigma = rng.uniform(0.05, 0.08) * s * ones
        cx = cx + radius * np.cos(angle)
        cy = cy + radius * np.sin(angle)
        return _blob(grid, cx, cy, sigma)
    raise AssertionError(f"Unhandled motion class {name!r}.")


def _start(rng, direction, travel):
    """Relative start coordinate keeping the path inside [0.1, 0.9]."""
    if direction > 0:
        return rng.uniform(0.1, 0.9 - travel * direction)
    if direction < 0:
        return rng.uniform(0.1 - travel * direction, 0.9)
    return rng.uniform(0.2, 0.8)


def _blob(grid, cx, cy, sigma):
    cx, cy, sigma = (v[:, None, None] for v in (cx, cy, sigma))
    dist2 = (grid.x - cx) ** 2 + (grid.y - cy) ** 2
    return np.exp(-dist2 / (2 * sigma**2))


def _bar(grid, cx, cy, angle, length):
    cx, cy = cx[:, None, None], cy[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    dx, dy = grid.x - cx, grid.y - cy
    along = np.abs(dx * cos + dy * sin)
    across = -dx * sin + dy * cos
    width = 0.04 * grid.size
    beyond = np.maximum(along - length / 2, 0.0)
    return np.exp(-(across**2 + beyond**2) / (2 * width**2))


def _paint(canvas, alpha, color):
    alpha = alpha.astype(np.float32)[..., None]
    canvas *= 1.0 - alpha
    canvas += alpha * color.astype(np.float32)

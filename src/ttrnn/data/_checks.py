"""Argument checks shared by the data modules, with Keras-style errors."""

import numpy as np


def check_int(name, value, low=1, high=None, allow_none=False):
    """Checks that an argument is an integer in `[low, high]`.

    Args:
        name: the argument name, for the error message.
        value: the value to check.
        low: smallest valid value. Defaults to 1.
        high: largest valid value, or `None` for no bound.
        allow_none: whether `None` is valid. Defaults to `False`.

    Returns:
        The value as a Python int (or `None`).

    Raises:
        ValueError: if the value is not valid.
    """
    if value is None and allow_none:
        return None
    is_int = isinstance(value, (int, np.integer)) and not isinstance(
        value, bool
    )
    if not is_int or value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        extra = " or None" if allow_none else ""
        raise ValueError(
            f"Argument `{name}` must be an integer {bound}{extra}. "
            f"Received: {name}={value!r}"
        )
    return int(value)


def check_frame_shape(frame_shape, minimum=1, allow_none=False):
    """Checks a `(height, width)` pair.

    Args:
        frame_shape: the value to check.
        minimum: smallest valid height and width. Defaults to 1.
        allow_none: whether `None` is valid. Defaults to `False`.

    Returns:
        A tuple of two ints (or `None`).

    Raises:
        ValueError: if the value is not valid.
    """
    if frame_shape is None and allow_none:
        return None
    try:
        height, width = (int(size) for size in frame_shape)
        valid = all(float(s) == int(s) for s in frame_shape)
    except (TypeError, ValueError):
        height = width = 0
        valid = False
    if not valid or height < minimum or width < minimum:
        raise ValueError(
            "Argument `frame_shape` must be a (height, width) pair of "
            f"integers >= {minimum}"
            + (" or None" if allow_none else "")
            + f". Received: frame_shape={frame_shape!r}"
        )
    return height, width

"""Preprocessing helpers of the feed-forward experiments (REFERENCE §4)."""

import numpy as np


def pad_features(x, length):
    """Zero-pads the feature axis (the last one) to `length` features.

    The TT layers need the input size to equal the product of the TT input
    modes, e.g. the 6,033 prostate genes padded to 7*9*10*10 = 6,300.

    Args:
        x: array `(..., features)`.
        length: the padded number of features, at least `features`.

    Returns:
        An array `(..., length)` of the same dtype, zeros appended.
    """
    x = np.asarray(x)
    features = x.shape[-1]
    if not isinstance(length, (int, np.integer)) or length < features:
        raise ValueError(
            "Argument `length` must be an integer >= the number of features "
            f"({features}). Received: length={length!r}"
        )
    padding = [(0, 0)] * (x.ndim - 1) + [(0, int(length) - features)]
    return np.pad(x, padding)


def pad_images(images, size=32):
    """Zero-pads square images evenly on all sides to `size` x `size`.

    MNIST's 28x28 images padded to 32x32 = 4*8*8*4 pixels fit the TT modes
    of the 2017 experiments.

    Args:
        images: array `(n, height, width)` or `(n, height, width, channels)`.
        size: the padded height and width. Defaults to 32.

    Returns:
        The padded array, of the same dtype.
    """
    images = np.asarray(images)
    height, width = images.shape[1:3]
    if not isinstance(size, (int, np.integer)) or size < max(height, width):
        raise ValueError(
            "Argument `size` must be an integer >= the image height and "
            f"width ({height}, {width}). Received: size={size!r}"
        )
    top, left = (size - height) // 2, (size - width) // 2
    padding = [(0, 0), (top, size - height - top), (left, size - width - left)]
    padding += [(0, 0)] * (images.ndim - 3)
    return np.pad(images, padding)


class MinMaxScaler:
    """Scales each feature to `[0, 1]` with the range seen in `fit`.

    Fit on the training set only, then apply to every set (values outside
    the training range fall outside `[0, 1]`). Features constant on the
    training set map to 0 in every set: they carry nothing a model could
    learn, and passing their unscaled values on (sparse counts up to
    hundreds in dexter) would shift held-out inputs far from anything
    seen in training.

    Example:

    >>> scaler = MinMaxScaler().fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
    >>> scaler.transform(np.array([[1.0, 5.0], [4.0, 7.0]]))
    array([[0.5, 0. ],
           [2. , 0. ]], dtype=float32)
    """

    def __init__(self):
        self.minimum = None
        self.span = None
        self.constant = None

    def fit(self, x):
        """Learns the per-feature minimum and range.

        Args:
            x: array `(n, features)`.

        Returns:
            The scaler itself.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0:
            raise ValueError(
                "Argument `x` must be a non-empty 2-D array. "
                f"Received: shape={x.shape}"
            )
        self.minimum = x.min(axis=0)
        span = x.max(axis=0) - self.minimum
        self.constant = span == 0
        self.span = np.where(self.constant, 1.0, span)
        return self

    def transform(self, x):
        """Scales features with the fitted minimum and range.

        Args:
            x: array `(n, features)` with the fitted number of features.

        Returns:
            A float32 array of the same shape.
        """
        if self.minimum is None:
            raise ValueError("Call `fit` before `transform`.")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.minimum):
            raise ValueError(
                "Argument `x` must have shape (n, "
                f"{len(self.minimum)}). Received: shape={x.shape}"
            )
        scaled = (x - self.minimum) / self.span
        scaled[:, self.constant] = 0.0
        return scaled.astype(np.float32)


def minmax_scale(train, *others):
    """Min-max scales arrays with the per-feature range of `train`.

    Args:
        train: array `(n, features)` the range is fitted on.
        *others: further arrays (validation, test) scaled the same way.

    Returns:
        A tuple of float32 arrays: `train` scaled, then each of `others`.
    """
    scaler = MinMaxScaler().fit(train)
    return tuple(scaler.transform(x) for x in (train, *others))

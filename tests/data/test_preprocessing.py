"""Tests of the feed-forward preprocessing helpers."""

import numpy as np
import pytest

from ttrnn.data.preprocessing import MinMaxScaler
from ttrnn.data.preprocessing import minmax_scale
from ttrnn.data.preprocessing import pad_features
from ttrnn.data.preprocessing import pad_images


def test_pad_features():
    x = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    padded = pad_features(x, 5)
    np.testing.assert_array_equal(padded, [[1, 2, 3, 0, 0], [4, 5, 6, 0, 0]])
    assert padded.dtype == np.float32
    np.testing.assert_array_equal(pad_features(x, 3), x)
    with pytest.raises(ValueError, match=r"length=2"):
        pad_features(x, 2)


def test_pad_images_centres_mnist_in_32():
    images = np.ones((2, 28, 28), np.uint8)
    padded = pad_images(images)
    assert padded.shape == (2, 32, 32) and padded.dtype == np.uint8
    assert padded.sum() == images.sum()
    assert padded[:, 2:30, 2:30].all() and not padded[:, :2].any()
    assert pad_images(np.ones((1, 3, 3, 2)), 4).shape == (1, 4, 4, 2)
    with pytest.raises(ValueError, match="size=20"):
        pad_images(images, 20)


def test_minmax_fitted_on_train_only():
    train = np.array([[0.0, 10.0, 5.0], [4.0, 20.0, 5.0]])
    valid = np.array([[2.0, 30.0, 6.0]])
    train_scaled, valid_scaled = minmax_scale(train, valid)
    np.testing.assert_allclose(train_scaled, [[0, 0, 0], [1, 1, 0]])
    # Feature 2 is constant on train: 0 everywhere, not 6 - 5 = 1.
    np.testing.assert_allclose(valid_scaled, [[0.5, 2.0, 0.0]])
    assert valid_scaled.dtype == np.float32


def test_minmax_zeroes_features_constant_on_train():
    # Regression: dexter has 12,249 features that are 0 on all 300
    # training rows; their raw validation counts (up to 943) used to pass
    # through unscaled, making validation rows ~30x larger than training
    # rows and leaving the TT model at chance.
    rng = np.random.default_rng(0)
    train = rng.poisson(0.3, (40, 12)).astype(np.float64)
    train[:, [1, 7]] = 0.0
    train[:, 4] = 3.0
    valid = rng.poisson(0.3, (9, 12)).astype(np.float64)
    valid[:, [1, 4, 7]] = [[943.0, 2.0, 5.0]]
    lo, hi = train.min(0), train.max(0)
    varying = hi > lo
    expected = np.zeros_like(valid)
    expected[:, varying] = (valid[:, varying] - lo[varying]) / (
        hi[varying] - lo[varying]
    )
    train_scaled, valid_scaled = minmax_scale(train, valid)
    np.testing.assert_allclose(valid_scaled, expected, rtol=1e-6)
    assert not valid_scaled[:, [1, 4, 7]].any()
    assert not train_scaled[:, [1, 4, 7]].any()
    assert train_scaled.min() == 0.0 and train_scaled.max() == 1.0


def test_scaler_errors():
    with pytest.raises(ValueError, match="fit"):
        MinMaxScaler().transform(np.zeros((1, 2)))
    scaler = MinMaxScaler().fit(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        scaler.transform(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="non-empty 2-D"):
        MinMaxScaler().fit(np.zeros(3))

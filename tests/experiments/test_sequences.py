"""The Fibonacci-like bit-pattern sequences and the digit sequences."""

import numpy as np
import pytest

from ttrnn.experiments.sequences import make_digit_sequences
from ttrnn.experiments.sequences import make_fibonacci_sequences


def _violations(seq):
    """Steps t >= 2 where x_t != x_{t-1} XOR x_{t-2}."""
    bits = seq.astype(bool)
    return [
        t
        for t in range(2, len(bits))
        if np.any(bits[t] != (bits[t - 1] ^ bits[t - 2]))
    ]


class TestFibonacciSequences:
    def test_correctness(self):
        x, y = make_fibonacci_sequences(60, steps=8, seed=4)
        assert x.shape == (60, 8, 512) and x.dtype == np.float32
        assert set(np.unique(x)) <= {0.0, 1.0}
        assert y.sum() == 30
        for seq, label in zip(x, y):
            broken = _violations(seq)
            assert (len(broken) == 0) if label == 1 else (len(broken) == 1)

    def test_seeded(self):
        a = make_fibonacci_sequences(10, steps=5, seed=7)
        b = make_fibonacci_sequences(10, steps=5, seed=7)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="`steps` must be at least 4"):
            make_fibonacci_sequences(10, steps=3)
        with pytest.raises(ValueError, match="`num_sequences` must be at"):
            make_fibonacci_sequences(1)


def _digits(count=50, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    # Image k holds the value k + 1 everywhere: a step names its image.
    images = np.repeat(np.arange(1, count + 1, dtype=np.uint8), 16)
    return images.reshape(count, 4, 4), rng.permutation(labels)


class TestDigitSequences:
    def test_correctness(self):
        images, labels = _digits()
        x, y, at = make_digit_sequences(images, labels, 200, seed=3)
        assert x.shape == (200, 32, 16) and x.dtype == np.float32
        lengths = np.any(x != 0, axis=-1).sum(axis=1)
        assert lengths.min() >= 2 and lengths.max() <= 31
        assert len(np.unique(lengths)) > 15  # uniform over 2..31
        for seq, label, marks, length in zip(x, y, at, lengths):
            # Zero pre-padding, then whole raw images (unscaled).
            assert np.all(seq[: 32 - length] == 0)
            picked = seq[32 - length :, 0].astype(int) - 1
            assert np.all(seq[32 - length :] == (picked + 1)[:, None])
            expected = np.zeros(32, dtype=bool)
            expected[32 - length :] = labels[picked] == 0
            np.testing.assert_array_equal(marks, expected)
            assert label == int(expected.any())
        assert 0 < y.mean() < 1

    def test_seeded(self):
        images, labels = _digits()
        a = make_digit_sequences(images, labels, 20, seed=5)
        b = make_digit_sequences(images, labels, 20, seed=5)
        c = make_digit_sequences(images, labels, 20, seed=6)
        for left, right in zip(a, b):
            np.testing.assert_array_equal(left, right)
        assert not np.array_equal(a[0], c[0])

    def test_invalid_arguments(self):
        images, labels = _digits()
        with pytest.raises(ValueError, match="min_length <= max_length"):
            make_digit_sequences(images, labels, 5, steps=8, max_length=9)
        with pytest.raises(ValueError, match="same length"):
            make_digit_sequences(images, labels[:3], 5)

"""The Fibonacci-like bit-pattern sequences."""

import numpy as np
import pytest

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

"""FiboClass (the 2017 sequences) and the digit sequences."""

import numpy as np
import pytest

from ttrnn.experiments.sequences import FIBOCLASS_CLASSES
from ttrnn.experiments.sequences import bit_rows
from ttrnn.experiments.sequences import make_digit_sequences
from ttrnn.experiments.sequences import make_fiboclass
from ttrnn.experiments.sequences import sequence_terms
from ttrnn.experiments.sequences import split_fiboclass

# Known values: Fibonacci from 1, 1 (F_1, F_2, ...); Lucas from 2, 1;
# Padovan P(i) = P(i-2) + P(i-3) from 1, 1, 1 (OEIS A000931 from n = 5).
FIBONACCI_START = [1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144]
LUCAS_START = [2, 1, 3, 4, 7, 11, 18, 29, 47, 76, 123, 199]
PADOVAN_START = [1, 1, 1, 2, 2, 3, 4, 5, 7, 9, 12, 16, 21, 28, 37, 49, 65]
FIBONACCI_100 = 354224848179261915075  # F_100: term 99 here
LUCAS_50 = 28143753123  # L_50: term 50


def _decode(row):
    """A 0/1 row, most significant bit first, as an int."""
    return int("".join(str(int(b)) for b in row), 2)


class TestSequenceTerms:
    def test_known_values(self):
        assert sequence_terms("fibonacci", 12) == FIBONACCI_START
        assert sequence_terms("lucas", 12) == LUCAS_START
        assert sequence_terms("padovan", 17) == PADOVAN_START
        assert sequence_terms("fibonacci", 100)[99] == FIBONACCI_100
        assert sequence_terms("lucas", 51)[50] == LUCAS_50

    def test_identities_over_400_terms(self):
        fib = sequence_terms("fibonacci", 402)
        luc = sequence_terms("lucas", 400)
        pad = sequence_terms("padovan", 400)
        # With F_n = fib[n - 1] (F_0 = 0): L_n = F_{n-1} + F_{n+1}.
        for n in range(1, 400):
            previous = fib[n - 2] if n >= 2 else 0
            assert luc[n] == previous + fib[n]
        # Padovan: P(n) = P(n - 1) + P(n - 5).
        for n in range(5, 400):
            assert pad[n] == pad[n - 1] + pad[n - 5]
        # The bits of the largest terms (PROTOCOLS-2017 §2).
        bits = [max(t.bit_length() for t in s) for s in (fib[:400], luc, pad)]
        assert bits == [277, 278, 162]

    def test_invalid_name(self):
        with pytest.raises(ValueError, match="`name` must be one of"):
            sequence_terms("tribonacci", 5)


class TestBitRows:
    def test_most_significant_bit_first_right_aligned(self):
        terms = [0, 1, 2, 5, 2**511 + 3, 123456789123456789]
        rows = bit_rows(terms, width=512)
        assert rows.shape == (6, 512) and rows.dtype == np.uint8
        assert [_decode(r) for r in rows] == terms
        np.testing.assert_array_equal(rows[3, -3:], [1, 0, 1])
        assert not rows[3, :-3].any()
        assert rows[4, 0] == 1

    def test_too_narrow(self):
        with pytest.raises(ValueError, match="`width` must hold every"):
            bit_rows([2**8], width=8)


class TestFiboClass:
    def test_layout_and_terms(self):
        x, y = make_fiboclass()
        assert x.shape == (1200, 30, 512) and x.dtype == np.float32
        assert set(np.unique(x)) == {0.0, 1.0}
        np.testing.assert_array_equal(y, np.repeat(np.arange(4), 300))
        assert FIBOCLASS_CLASSES == ("fibonacci", "lucas", "padovan", "random")
        terms = [sequence_terms(name, 400) for name in FIBOCLASS_CLASSES[:3]]
        # The random table: the script's first draw, 400 * 512 fair bits
        # (legacy numpy: choice([0, 1], n) draws randint(0, 2, n)).
        noise = np.random.RandomState(11111986).randint(0, 2, 400 * 512)
        noise = noise.reshape(400, 512)
        lengths = []
        for seq, label in zip(x, y):
            steps = np.flatnonzero(seq.any(axis=1))
            length = len(steps)
            lengths.append(length)
            # Zero pre-padding: the terms fill the last steps.
            np.testing.assert_array_equal(steps, np.arange(30 - length, 30))
            rows = seq[30 - length :]
            if label < 3:
                values = [_decode(r) for r in rows]
                table = terms[label]
                starts = [
                    s
                    for s in range(400 - length)
                    if table[s : s + length] == values
                ]
                assert starts, (label, values[:3])
            else:
                starts = [
                    s
                    for s in range(400 - length)
                    if np.array_equal(noise[s : s + length], rows)
                ]
                assert starts
        lengths = np.reshape(lengths, (4, 300))
        assert lengths.min() == 3 and lengths.max() == 30
        # With the script's seed every class reaches 30 steps.
        np.testing.assert_array_equal(lengths.max(axis=1), 30)
        assert len(np.unique(lengths)) == 28

    def test_seeded(self):
        a = make_fiboclass(per_class=5, steps=6, rows=40, width=64, seed=3)
        b = make_fiboclass(per_class=5, steps=6, rows=40, width=64, seed=3)
        c = make_fiboclass(per_class=5, steps=6, rows=40, width=64, seed=4)
        np.testing.assert_array_equal(a[0], b[0])
        assert not np.array_equal(a[0], c[0])

    def test_split(self):
        train, test = split_fiboclass(1200, seed=0)
        assert (len(train), len(test)) == (450, 750)
        assert sorted(np.concatenate([train, test]).tolist()) == list(
            range(1200)
        )
        again, _ = split_fiboclass(1200, seed=0)
        other, _ = split_fiboclass(1200, seed=1)
        np.testing.assert_array_equal(train, again)
        assert not np.array_equal(train, other)

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="min_length <= steps < rows"):
            make_fiboclass(steps=30, rows=30)
        with pytest.raises(ValueError, match="min_length <= steps < rows"):
            make_fiboclass(min_length=0)


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

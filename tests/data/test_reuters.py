"""The Reuters reader against Keras' own `reuters.load_data` on a file
written in the format of Keras' `reuters.npz`."""

import fractions

import numpy as np
import pytest

from tests.formats import write_reuters_like
from ttrnn import data


def _keras_load_data(monkeypatch, path, **kwargs):
    """Keras' `reuters.load_data`, reading `path` instead of downloading."""
    from keras.src.datasets import reuters

    monkeypatch.setattr(reuters, "get_file", lambda *a, **k: str(path))
    return reuters.load_data(**kwargs)


def _binary_matrix(sequences, num_words):
    """Keras 2's Tokenizer.sequences_to_matrix(mode='binary')."""
    matrix = np.zeros((len(sequences), num_words))
    for i, seq in enumerate(sequences):
        for j in seq:
            if j < num_words:
                matrix[i, j] = 1.0
    return matrix


class TestReuters:
    def test_read(self, tmp_path):
        path = tmp_path / "reuters.npz"
        x, y = write_reuters_like(path, count=60, seed=1)
        sequences, topics = data.read_reuters_npz(path)
        assert [s.tolist() for s in sequences] == x
        np.testing.assert_array_equal(topics, y)
        assert data.REUTERS_TOPICS == 46

    def test_split_and_indices_match_keras(self, tmp_path, monkeypatch):
        path = tmp_path / "reuters.npz"
        write_reuters_like(path, count=120, seed=2)
        (kx_train, ky_train), (kx_test, ky_test) = _keras_load_data(
            monkeypatch, path, num_words=1000, test_split=0.2
        )
        (x_train, y_train), (x_test, y_test) = data.load_reuters(path)
        assert len(x_train) == 96 and len(x_test) == 24
        for ours, theirs in ((x_train, kx_train), (x_test, kx_test)):
            assert [s.tolist() for s in ours] == [list(s) for s in theirs]
        np.testing.assert_array_equal(y_train, ky_train)
        np.testing.assert_array_equal(y_test, ky_test)

    def test_bag_of_words_is_keras_binary_matrix(self, tmp_path):
        path = tmp_path / "reuters.npz"
        write_reuters_like(path, count=40, seed=3)
        (x_train, _), _ = data.load_reuters(path)
        got = data.bag_of_words(x_train, 1000)
        assert got.dtype == np.float32 and got.shape == (32, 1000)
        np.testing.assert_array_equal(got, _binary_matrix(x_train, 1000))
        # The marks: start always, column 0 and 3 never.
        assert got[:, 1].all() and not got[:, 0].any()
        assert not got[:, 3].any()
        # Rarer words than rank 996 exist here: they set the OOV column.
        assert got[:, 2].any()

    def test_num_words_keeps_the_most_frequent(self, tmp_path):
        path = tmp_path / "reuters.npz"
        write_reuters_like(path, count=30, seed=4)
        (x_train, _), _ = data.load_reuters(path, num_words=10)
        for seq in x_train:
            assert seq[0] == 1 and seq.max() < 10 and 3 not in seq

    def test_invalid_files(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="No Reuters file"):
            data.read_reuters_npz(tmp_path / "none.npz")
        wrong = tmp_path / "wrong.npz"
        np.savez(wrong, a=np.zeros(3))
        with pytest.raises(ValueError, match="expected the arrays 'x'"):
            data.read_reuters_npz(wrong)
        text = tmp_path / "text.npz"
        text.write_text("no zip")
        with pytest.raises(ValueError, match="not Keras' reuters.npz"):
            data.read_reuters_npz(text)

    def test_pickles_may_hold_only_arrays(self, tmp_path):
        """A pickled object other than numpy's is refused, not built."""
        path = tmp_path / "reuters.npz"
        x = np.empty(1, dtype=object)
        x[0] = [fractions.Fraction(1, 2)]
        np.savez(path, x=x, y=np.zeros(1, np.int64))
        with pytest.raises(ValueError, match="fractions.Fraction is not al"):
            data.read_reuters_npz(path)

    def test_invalid_arguments(self, tmp_path):
        path = tmp_path / "reuters.npz"
        write_reuters_like(path, count=10)
        with pytest.raises(ValueError, match="`num_words` must be an int"):
            data.load_reuters(path, num_words=3)
        with pytest.raises(ValueError, match="`test_split` must be a frac"):
            data.load_reuters(path, test_split=1.0)

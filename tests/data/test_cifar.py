"""Tests of the CIFAR-10 pickle reader on batches written here."""

import os
import pickle

import numpy as np
import pytest

from ttrnn.data.cifar import load_cifar10
from ttrnn.data.cifar import read_cifar_batch


def write_batch(path, images, labels, protocol=2):
    """A batch as in cifar-10-python.tar.gz: channel-major rows."""
    data = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    batch = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": [int(v) for v in labels],
        b"data": data,
        b"filenames": [b"x.png"] * len(images),
    }
    with open(path, "wb") as file:
        pickle.dump(batch, file, protocol=protocol)


def images_for(seed, count):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


class TestCifar10:
    @pytest.mark.parametrize("protocol", [2, 5])
    def test_channel_layout(self, tmp_path, protocol):
        data = np.zeros((1, 3072), np.uint8)
        data[0, :1024] = 1  # red plane
        data[0, 1024:2048] = 2  # green plane
        data[0, 2048:] = 3  # blue plane
        data[0, 1] = 9  # red of row 0, column 1
        data[0, 32] = 7  # red of row 1, column 0
        batch = {b"data": data, b"labels": [6]}
        with open(tmp_path / "b", "wb") as file:
            pickle.dump(batch, file, protocol=protocol)
        images, labels = read_cifar_batch(tmp_path / "b")
        assert images.shape == (1, 32, 32, 3) and images.dtype == np.uint8
        np.testing.assert_array_equal(images[0, 5, 5], [1, 2, 3])
        assert images[0, 0, 1, 0] == 9 and images[0, 1, 0, 0] == 7
        np.testing.assert_array_equal(labels, [6])

    def test_load_all_batches(self, tmp_path):
        folder = tmp_path / "cifar-10-batches-py"
        folder.mkdir()
        expected = []
        for i in range(1, 6):
            images = images_for(i, 2)
            write_batch(folder / f"data_batch_{i}", images, [i, i + 1])
            expected.append(images)
        test_images = images_for(0, 3)
        write_batch(folder / "test_batch", test_images, [0, 9, 5])
        (x_train, y_train), (x_test, y_test) = load_cifar10(tmp_path)
        np.testing.assert_array_equal(x_train, np.concatenate(expected))
        np.testing.assert_array_equal(y_train, [1, 2, 2, 3, 3, 4, 4, 5, 5, 6])
        np.testing.assert_array_equal(x_test, test_images)
        np.testing.assert_array_equal(y_test, [0, 9, 5])

    def test_missing_batch(self, tmp_path):
        write_batch(tmp_path / "data_batch_1", images_for(0, 1), [0])
        with pytest.raises(FileNotFoundError, match="data_batch_2"):
            load_cifar10(tmp_path)

    def test_code_in_pickle_is_refused(self, tmp_path):
        class Evil:
            def __reduce__(self):
                return (os.system, ("echo pwned",))

        with open(tmp_path / "evil", "wb") as file:
            pickle.dump({b"data": Evil(), b"labels": []}, file)
        with pytest.raises(ValueError, match="not allowed"):
            read_cifar_batch(tmp_path / "evil")

    def test_wrong_content(self, tmp_path):
        with open(tmp_path / "b", "wb") as file:
            pickle.dump({b"data": np.zeros((2, 10), np.uint8)}, file)
        with pytest.raises(ValueError, match="b'labels'"):
            read_cifar_batch(tmp_path / "b")
        write_batch(tmp_path / "c", images_for(0, 2), [1])
        with pytest.raises(ValueError, match="1 labels"):
            read_cifar_batch(tmp_path / "c")

"""Tests of the IDX (MNIST format) reader and Fashion-MNIST loader."""

import gzip
import os
import struct

import numpy as np
import pytest

from ttrnn.data import idx
from ttrnn.data.idx import load_fashion_mnist
from ttrnn.data.idx import load_idx_dataset
from ttrnn.data.idx import read_idx
from ttrnn.data.idx import write_idx


def handmade(path, type_byte, dims, payload, compress=False):
    """Writes IDX bytes by hand, following the published format."""
    header = bytes([0, 0, type_byte, len(dims)])
    header += b"".join(struct.pack(">I", d) for d in dims)
    opener = gzip.open if compress else open
    with opener(path, "wb") as file:
        file.write(header + payload)


class TestReadIdx:
    def test_uint8_matrix(self, tmp_path):
        handmade(tmp_path / "m", 0x08, (2, 3), bytes([1, 2, 3, 4, 5, 255]))
        np.testing.assert_array_equal(
            read_idx(tmp_path / "m"), [[1, 2, 3], [4, 5, 255]]
        )

    def test_big_endian_int32_gzip(self, tmp_path):
        payload = struct.pack(">3i", 1, -2, 70000)
        handmade(tmp_path / "v.gz", 0x0C, (3,), payload, compress=True)
        array = read_idx(tmp_path / "v.gz")
        np.testing.assert_array_equal(array, [1, -2, 70000])
        assert array.dtype == np.int32 and array.dtype.isnative

    def test_float32(self, tmp_path):
        handmade(tmp_path / "f", 0x0D, (2,), struct.pack(">2f", 1.5, -0.25))
        np.testing.assert_array_equal(read_idx(tmp_path / "f"), [1.5, -0.25])

    @pytest.mark.parametrize(
        "dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"]
    )
    @pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
    def test_write_read_round_trip(self, tmp_path, dtype, name):
        array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
        if dtype == "uint8":
            array = np.arange(24, dtype=dtype).reshape(2, 3, 4)
        write_idx(tmp_path / name, array)
        back = read_idx(tmp_path / name)
        assert back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)

    def test_bad_magic(self, tmp_path):
        (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01abcd")
        with pytest.raises(ValueError, match="not an IDX file"):
            read_idx(tmp_path / "bad")

    def test_truncated(self, tmp_path):
        handmade(tmp_path / "short", 0x08, (2, 3), bytes(5))
        with pytest.raises(ValueError, match="truncated"):
            read_idx(tmp_path / "short")

    def test_unsupported_dtype(self, tmp_path):
        with pytest.raises(ValueError, match="dtype"):
            write_idx(tmp_path / "x", np.zeros(2, np.int64))


def write_fake_mnist(folder, compress):
    """Tiny MNIST-format files: 3 train and 2 test 28x28 images."""
    os.makedirs(folder, exist_ok=True)
    suffix = ".gz" if compress else ""
    images = np.arange(5 * 28 * 28, dtype=np.int64) % 256
    images = images.astype(np.uint8).reshape(5, 28, 28)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    files = {
        "train-images-idx3-ubyte": images[:3],
        "train-labels-idx1-ubyte": labels[:3],
        "t10k-images-idx3-ubyte": images[3:],
        "t10k-labels-idx1-ubyte": labels[3:],
    }
    for name, array in files.items():
        write_idx(os.path.join(folder, name + suffix), array)
    return images, labels


class TestLoaders:
    @pytest.mark.parametrize("compress", [False, True])
    def test_load_idx_dataset(self, tmp_path, compress):
        images, labels = write_fake_mnist(tmp_path, compress)
        (x_train, y_train), (x_test, y_test) = load_fashion_mnist(tmp_path)
        np.testing.assert_array_equal(x_train, images[:3])
        np.testing.assert_array_equal(y_train, [3, 1, 4])
        np.testing.assert_array_equal(x_test, images[3:])
        np.testing.assert_array_equal(y_test, [1, 5])

    def test_missing_file(self, tmp_path):
        write_fake_mnist(tmp_path, False)
        os.remove(tmp_path / "t10k-labels-idx1-ubyte")
        with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
            load_idx_dataset(tmp_path)

    def test_mismatched_labels(self, tmp_path):
        write_fake_mnist(tmp_path, False)
        write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
        with pytest.raises(ValueError, match="do not match"):
            load_idx_dataset(tmp_path)

    def test_default_directory_missing(self, tmp_path, monkeypatch):
        monkeypatch.setattr(idx, "FASHION_MNIST_DIR", str(tmp_path / "no"))
        with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
            load_fashion_mnist()

    def test_debian_package(self):
        if not os.path.isdir(idx.FASHION_MNIST_DIR):
            pytest.skip("Debian package dataset-fashion-mnist not installed")
        (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
        assert x_train.shape == (60000, 28, 28) and x_test.shape[0] == 10000
        assert x_train.dtype == np.uint8
        np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
        np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)

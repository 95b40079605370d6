"""The IDX file format of MNIST and Fashion-MNIST, and their loaders."""

import gzip
import os

import numpy as np

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
# Keras' MNIST file (`keras.datasets.mnist`, `ttrnn.data.fetch("mnist")`).
MNIST_FILE = "mnist.npz"
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# IDX type byte -> big-endian numpy dtype.
_IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path):
    """Reads an IDX file (plain or gzip-compressed).

    IDX: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, the
    dimensions as big-endian uint32, then the data in big-endian C order.

    Args:
        path: path of the file; gzip is detected from its content.

    Returns:
        A numpy array of the stored shape, in native byte order.

    Raises:
        ValueError: if the file is not a valid IDX file.
    """
    path = os.fspath(path)
    with open(path, "rb") as file:
        compressed = file.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    with opener(path, "rb") as file:
        data = file.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _IDX_TYPES:
        raise ValueError(
            f"{path!r} is not an IDX file: expected the magic bytes 00 00 "
            f"<type> <ndim>. Received: {data[:4].hex(' ')!r}"
        )
    dtype, ndim = _IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    shape = tuple(np.frombuffer(data[4:header], dtype=">u4").astype(int))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(shape) != ndim or len(data) != expected:
        raise ValueError(
            f"{path!r} is truncated or too long: its header gives shape "
            f"{shape} ({expected} bytes). Received: {len(data)} bytes"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Writes an array as an IDX file, gzip-compressed if `path` ends in .gz.

    Args:
        path: output path.
        array: array of dtype uint8, int8, int16, int32, float32 or float64.
    """
    array = np.asarray(array)
    codes = {
        dtype.newbyteorder("="): code for code, dtype in _IDX_TYPES.items()
    }
    if array.dtype not in codes:
        raise ValueError(
            "Argument `array` must have dtype uint8, int8, int16, int32, "
            f"float32 or float64. Received: dtype={array.dtype}"
        )
    code = codes[array.dtype]
    header = bytes([0, 0, code, array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    payload = array.astype(_IDX_TYPES[code], copy=False).tobytes()
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as file:
        file.write(header + payload)


def load_idx_dataset(path):
    """Loads an MNIST-format dataset from its four IDX files.

    Args:
        path: directory holding `train-images-idx3-ubyte`,
            `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
            `t10k-labels-idx1-ubyte`, each optionally ending in `.gz`.

    Returns:
        `(x_train, y_train), (x_test, y_test)` as in `keras.datasets`:
        uint8 images `(n, rows, cols)` and uint8 labels `(n,)`.

    Raises:
        FileNotFoundError: if a file is missing.
        ValueError: if images and labels do not match.
    """
    path = os.fspath(path)
    result = []
    for subset, names in _IDX_FILES.items():
        images, labels = (read_idx(_find(path, name)) for name in names)
        if images.ndim != 3 or labels.shape != images.shape[:1]:
            raise ValueError(
                f"The {subset} images and labels in {path!r} do not match: "
                f"images {images.shape}, labels {labels.shape}"
            )
        result.append((images, labels))
    return tuple(result)


def load_fashion_mnist(path=None):
    """Loads Fashion-MNIST from local IDX files (no download).

    Args:
        path: directory of the four IDX files, or `None` for the Debian
            package's `/usr/share/datasets/fashion-mnist`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images `(n, 28, 28)`
        and uint8 labels `(n,)`, 60,000 training and 10,000 test samples.
        The class names are `FASHION_MNIST_CLASSES`.

    Raises:
        FileNotFoundError: if the files are missing.
    """
    if path is None:
        path = FASHION_MNIST_DIR
        if not os.path.isdir(path):
            raise FileNotFoundError(
                f"Fashion-MNIST not found in {path!r}. Install the Debian "
                "package (`apt-get install dataset-fashion-mnist`) or pass "
                "`path` to a directory of its four IDX files."
            )
    return load_idx_dataset(path)


def _find(folder, name):
    for candidate in (name, f"{name}.gz"):
        full = os.path.join(folder, candidate)
        if os.path.isfile(full):
            return full
    raise FileNotFoundError(
        f"Missing IDX file {name}[.gz] in {folder!r}: expected "
        "train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (optionally .gz)."
    )


def read_mnist_npz(path):
    """Reads Keras' `mnist.npz` (as `keras.datasets.mnist.load_data`).

    Args:
        path: path of the file.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images `(n, 28, 28)`
        and uint8 labels.
    """
    with np.load(path, allow_pickle=False) as arrays:
        return (arrays["x_train"], arrays["y_train"]), (
            arrays["x_test"],
            arrays["y_test"],
        )

"""CIFAR-10 from its python pickle batches (no download)."""

import os
import pickle

import numpy as np

from ttrnn.data.restricted_pickle import RestrictedUnpickler

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


def load_cifar10(path):
    """Loads CIFAR-10 from the python version's pickle batches.

    Args:
        path: the `cifar-10-batches-py` directory (or the folder holding
            it), with `data_batch_1` ... `data_batch_5` and `test_batch`.

    Returns:
        `(x_train, y_train), (x_test, y_test)` as in `keras.datasets`:
        uint8 images `(n, 32, 32, 3)` and uint8 labels `(n,)`.

    Raises:
        FileNotFoundError: if a batch file is missing.
        ValueError: if a batch is malformed.
    """
    path = os.fspath(path)
    nested = os.path.join(path, "cifar-10-batches-py")
    if os.path.isdir(nested):
        path = nested
    train = [read_cifar_batch(os.path.join(path, n)) for n in _TRAIN_BATCHES]
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return (x_train, y_train), read_cifar_batch(
        os.path.join(path, "test_batch")
    )


def read_cifar_batch(path):
    """Reads one CIFAR-10 pickle batch.

    The batch is a dict with `b"data"`, a uint8 array `(n, 3072)` of
    channel-major 32x32 images, and `b"labels"`, a list of `n` ints.
    Unpickling is restricted to numpy arrays, so a tampered file cannot run
    code.

    Args:
        path: path of the batch file.

    Returns:
        `(images, labels)`: uint8 `(n, 32, 32, 3)` and uint8 `(n,)`.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: if the file is not a CIFAR-10 batch.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Missing CIFAR-10 batch {path!r}: expected data_batch_1 ... "
            "data_batch_5 and test_batch of cifar-10-python.tar.gz."
        )
    with open(path, "rb") as file:
        try:
            batch = RestrictedUnpickler(
                file, "a CIFAR-10 batch", encoding="bytes"
            ).load()
        except (pickle.UnpicklingError, EOFError) as error:
            raise ValueError(
                f"{path!r} is not a CIFAR-10 batch: {error}"
            ) from error
    if not isinstance(batch, dict) or not {b"data", b"labels"} <= set(batch):
        raise ValueError(
            f"{path!r} is not a CIFAR-10 batch: expected a dict with keys "
            "b'data' and b'labels'."
        )
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(
            f"{path!r}: expected b'data' of shape (n, 3072) and n labels. "
            f"Received: data {data.shape}, {len(labels)} labels"
        )
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels

"""Experiments under a `keras.distribution` (`ttrnn.distribution`).

When `ttrnn experiment --devices N` (or several processes) installed a
distribution, the experiments feed it through these: every global batch
is padded with dummy rows (weight 0) to a multiple of the devices the
batch is split over, and each process reads only its own rows
(`ArrayBatches` for arrays; `VideoSequence(shard=...)` for clips). The
trained model is then copied off the distribution (`local_copy`) to be
scored, on every process alike; only process 0 writes files. Arrays go
through `ArrayBatches` without a distribution too (`as_batches`),
so a run is the same on any number of devices.
"""

import contextlib
import math

import keras
import numpy as np

from ttrnn import distribution

is_chief = distribution.is_chief


def active():
    """Whether a `keras.distribution` is installed (JAX)."""
    if keras.backend.backend() != "jax":
        return False
    return keras.distribution.distribution() is not None


def data_options():
    """`shard` and `batch_multiple` for this process's input pipeline."""
    if not active():
        return {}
    topo = distribution.topology()
    return {
        "shard": (topo["process_id"], topo["processes"]),
        "batch_multiple": distribution.batch_shards(),
    }


class ArrayBatches(keras.utils.PyDataset):
    """Batches of arrays, each process taking its rows of every batch.

    The rows of global batch `i` of epoch `e` are the same whatever the
    devices and processes (the order is a function of `(seed, e)`), so a
    run over N devices sees the batches a one-device run sees. Every
    batch has the same number of rows, `batch_size` rounded up to a
    multiple of `batch_multiple`: the last (short) batch, and every batch
    when `batch_size` is not a multiple, is padded with dummy rows of
    weight 0, and the real rows of a batch weigh `rows / real rows`. Each
    batch's loss (and gradient) is then the mean over its real rows, and
    the epoch's loss the mean of its batches' losses, on any number of
    devices; no shape changes, so JAX compiles one step.

    Args:
        x: an array (or a list of arrays) of samples.
        y: the targets.
        batch_size: real rows of a global batch (before padding).
        shuffle: a new order every epoch. Defaults to `False`.
        seed: seed of the order. Defaults to 0.
        shard: `(index, count)`: this process's part. Defaults to `(0, 1)`.
        batch_multiple: pad every batch with dummy rows (weight 0) to a
            multiple of this. Defaults to 1.

    Returns batches `(x, y, sample_weight)`.
    """

    def __init__(
        self,
        x,
        y,
        batch_size,
        *,
        shuffle=False,
        seed=0,
        shard=(0, 1),
        batch_multiple=1,
    ):
        super().__init__()
        self.x, self.y = x, y
        self.rows = len(keras.tree.flatten(x)[0])
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.shard = tuple(int(v) for v in shard)
        self.batch_multiple = int(batch_multiple)
        if self.batch_multiple % self.shard[1]:
            raise ValueError(
                "Argument `batch_multiple` must be a multiple of the shard "
                f"count. Received: batch_multiple={batch_multiple!r}, "
                f"shard={shard!r}"
            )
        self.epoch = 0
        self._new_epoch()

    def __len__(self):
        return math.ceil(self.rows / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(
                f"Batch index {index} out of range for {len(self)} batches."
            )
        members = self.members(index)
        weight = len(members) / np.count_nonzero(members >= 0)
        part, count = self.shard
        size = len(members) // count
        members = members[part * size : (part + 1) * size]
        real = members >= 0
        rows = np.where(real, members, 0)

        def take(array):
            return np.asarray(array)[rows]

        return (
            keras.tree.map_structure(take, self.x),
            keras.tree.map_structure(take, self.y),
            np.where(real, weight, 0.0).astype("float32"),
        )

    def members(self, index):
        """Rows of global batch `index` this epoch; -1 marks a dummy."""
        start = index * self.batch_size
        members = self._order[start : start + self.batch_size]
        rows = -(-self.batch_size // self.batch_multiple) * self.batch_multiple
        return np.concatenate([members, np.full(rows - len(members), -1)])

    def on_epoch_end(self):
        self.epoch += 1
        self._new_epoch()

    def set_epoch(self, epoch):
        """Makes the next batches those of epoch `epoch` (0-based)."""
        self.epoch = int(epoch)
        self._new_epoch()

    def _new_epoch(self):
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            self._order = rng.permutation(self.rows)
        else:
            self._order = np.arange(self.rows)


def as_batches(data, batch_size=None, *, shuffle=False, seed=0):
    """The one input pipeline of array data, with a distribution or not.

    Keras' own shuffling of arrays follows NumPy's (or TensorFlow's)
    global generator, which a resumed run cannot replay and a distributed
    run does not use; `ArrayBatches` orders the rows by `(seed, epoch)`
    alone, and under a distribution gives each process its rows of the
    same global batches.

    Args:
        data: `(x, y)` arrays, or a `keras.utils.PyDataset` (returned as
            it is).
        batch_size: rows a batch. Defaults to 32 (Keras' default).
        shuffle: a new order every epoch. Defaults to `False`.
        seed: seed of the order. Defaults to 0.

    Returns:
        A `keras.utils.PyDataset`.
    """
    if isinstance(data, keras.utils.PyDataset):
        return data
    x, y = data
    return ArrayBatches(
        x,
        y,
        32 if batch_size is None else batch_size,
        shuffle=shuffle,
        seed=seed,
        **data_options(),
    )


@contextlib.contextmanager
def no_distribution():
    """A context without the `keras.distribution` (restored after)."""
    if not active():
        yield
        return
    saved = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(saved)


def local_copy(model):
    """The model with its trained weights, off the distribution: its
    `predict`, in a `no_distribution()` context, runs on this process's
    first device alone. The model itself when no distribution is
    installed."""
    if not active():
        return model
    weights = model.get_weights()  # replicated: every process has them
    with no_distribution():
        copy = keras.models.clone_model(model)
        copy.set_weights(weights)
    return copy

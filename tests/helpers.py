"""Independent NumPy references for the tests (no ttrnn code inside)."""

import contextlib
import string

import keras
import numpy as np


def dense_from_cores(cores):
    """W from TT cores by one float64 einsum over all cores.

    W[(i_0..i_{d-1}), (j_0..j_{d-1})] = G_0[:, i_0, j_0, :] ... G_{d-1}[...]
    with row and column indices flattened in C order.
    """
    cores = [np.asarray(c, dtype=np.float64) for c in cores]
    d = len(cores)
    letters = iter(string.ascii_letters)
    ranks = [next(letters) for _ in range(d + 1)]
    rows = [next(letters) for _ in range(d)]
    cols = [next(letters) for _ in range(d)]
    terms = [ranks[k] + rows[k] + cols[k] + ranks[k + 1] for k in range(d)]
    expr = ",".join(terms) + "->" + ranks[0] + "".join(rows) + "".join(cols)
    full = np.einsum(expr, *cores, optimize=True)  # r_0 = r_d = 1
    m = int(np.prod([c.shape[1] for c in cores]))
    n = int(np.prod([c.shape[2] for c in cores]))
    return full.reshape(m, n)


def random_cores(rng, in_shape, out_shape, ranks, scale=1.0):
    return [
        scale * rng.standard_normal((ranks[k], m, n, ranks[k + 1]))
        for k, (m, n) in enumerate(zip(in_shape, out_shape))
    ]


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


class SimulatedInterrupt(RuntimeError):
    """Stands for a run killed right after an epoch's checkpoint."""


@contextlib.contextmanager
def interrupted_after_epoch(epoch):
    """Within the context, experiment runs stop with `SimulatedInterrupt`
    right after the checkpoint of (1-based) `epoch`, as if the process
    were killed then."""
    import pytest

    from ttrnn.experiments import checkpointing

    original = checkpointing.EpochCheckpoint.on_epoch_end

    def on_epoch_end(self, index, logs=None):
        original(self, index, logs)
        if index + 1 == epoch:
            raise SimulatedInterrupt(f"Interrupted after epoch {epoch}.")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            checkpointing.EpochCheckpoint, "on_epoch_end", on_epoch_end
        )
        yield


@contextlib.contextmanager
def fewer_rows(train=48, test=16):
    """Within the context, array experiments (feed-forward, sequences)
    keep only the first `train` training and `test` test rows of their
    data: runs of seconds."""
    import pytest

    from ttrnn.experiments import datasets

    load = datasets.load_arrays

    def few(experiment, data_dir=None, seed=0, **kwargs):
        arrays = dict(load(experiment, data_dir, seed, **kwargs))
        for key, size in (("train", train), ("test", test)):
            arrays[f"x_{key}"] = arrays[f"x_{key}"][:size]
            arrays[f"y_{key}"] = arrays[f"y_{key}"][:size]
        return arrays

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets, "load_arrays", few)
        yield


def write_tiny_ucf11(folder, num_frames=4):
    """A set in UCF11's layout small enough for a fold of a video run:
    3 classes, 5 groups of one clip each, 16x24 frames (needs PyAV)."""
    from ttrnn import data

    return data.write_ucf11_like(
        folder,
        num_classes=3,
        groups_per_class=5,
        clips_per_group=1,
        num_frames=num_frames,
        frame_shape=(16, 24),
        seed=2,
    )

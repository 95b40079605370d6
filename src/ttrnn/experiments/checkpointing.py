"""Training with a checkpoint every epoch, so a killed run can resume.

After every epoch the model (weights *and* optimiser state) is saved to
`<run_dir>/checkpoint.keras` and the history so far to
`<run_dir>/state.json`, each written to a temporary file and renamed, so
a run killed at any moment leaves the last finished epoch intact and loses
at most the epoch in progress. `state.json` also keeps the states of the
model's dropout seeds, which `.keras` files lack (`random_state`).
`fit_with_checkpoints(..., resume=True)` loads them and continues from
the next epoch as the uninterrupted run would have: the same batches
(arrays go through `parallel.ArrayBatches`, whose order is a function of
the seed and the epoch, with or without a distribution) and the same
dropout masks (the global generators are reseeded from the seed and the
epoch when an epoch begins). A callback with a `checkpoint_key` keeps
its own state there too (`get_state`, restored by `set_state`: e.g.
`RankAdaptation`'s plan and schedule). `WorseEpochStopping` is the 2017
early stopping, resumable too.
"""

import contextlib
import gc
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time

import keras

from ttrnn import distribution
from ttrnn.experiments import interrupts
from ttrnn.experiments import jax_state
from ttrnn.experiments import parallel
from ttrnn.experiments import random_state

CHECKPOINT = "checkpoint.keras"
STATE = "state.json"


class RunExistsError(FileExistsError):
    """A run directory already holds a checkpoint of an earlier run."""


def write_json(path, data):
    """Writes JSON atomically (temporary file, then rename); in a run of
    several processes, process 0 alone writes."""
    if not distribution.is_chief():
        return
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(data, file, indent=2, default=_jsonable)
        file.write("\n")
    os.replace(temporary, path)


def read_json(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def load_state(run_dir):
    """The saved training state of a run, or `None` if there is none."""
    path = os.path.join(run_dir, STATE)
    checkpoint = os.path.join(run_dir, CHECKPOINT)
    if not (os.path.isfile(path) and os.path.isfile(checkpoint)):
        return None
    return read_json(path)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves model, optimiser state and history after every epoch.

    Also times each epoch: `train_seconds` runs from the epoch's start to
    the start of its validation pass (the training alone), `epoch_seconds`
    to its end.

    Args:
        run_dir: the run directory.
        state: the state dict to extend (from `state.json` on resume).
        resumable: callbacks with a `checkpoint_key`, whose `get_state()`
            goes into the state under that key after every epoch.
    """

    def __init__(self, run_dir, state, resumable=()):
        super().__init__()
        self.run_dir = run_dir
        self.state = state
        self.resumable = list(resumable)
        self._start = None
        self._train_seconds = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._train_seconds = None

    def on_test_begin(self, logs=None):
        if self._start is not None and self._train_seconds is None:
            self._wait_for_updates()
            self._train_seconds = time.perf_counter() - self._start

    def _wait_for_updates(self):
        # JAX (and torch on GPU) dispatch asynchronously: the last step's
        # update is done once a weight it wrote can be read.
        weights = self.model.trainable_variables
        if weights:
            keras.ops.convert_to_numpy(weights[-1])

    def on_epoch_end(self, epoch, logs=None):
        self._wait_for_updates()
        elapsed = time.perf_counter() - self._start
        state = self.state
        for key, value in (logs or {}).items():
            state["history"].setdefault(key, []).append(float(value))
        state["train_seconds"].append(self._train_seconds or elapsed)
        state["epoch_seconds"].append(elapsed)
        state["epochs_done"] = epoch + 1
        if self.model.stop_training:  # by an earlier callback, this epoch
            state["stopped_early"] = epoch + 1
        # In the same file as `epochs_done`: the two cannot disagree.
        state["random_state"] = random_state.capture(self.model)
        for callback in self.resumable:
            state[callback.checkpoint_key] = callback.get_state()
        if not distribution.is_chief():
            # Saving gathers the weights with collectives that every
            # process must join; process 0 alone keeps the file.
            with tempfile.TemporaryDirectory() as scratch:
                self.model.save(os.path.join(scratch, CHECKPOINT))
            return
        checkpoint = os.path.join(self.run_dir, CHECKPOINT)
        temporary = os.path.join(self.run_dir, "checkpoint-tmp.keras")
        self.model.save(temporary)
        os.replace(temporary, checkpoint)
        write_json(os.path.join(self.run_dir, STATE), state)


class StopOnInterrupt(keras.callbacks.Callback):
    """Raises `KeyboardInterrupt` at the next batch or epoch once Ctrl-C
    was pressed under `interrupts.handled()`, in case a library swallowed
    the first one. Its hooks are those Keras calls on the main thread
    (batch *begin*, epoch begin and end): Keras' asynchronous callbacks
    stay on."""

    async_safe = True

    def _check(self, *args, **kwargs):
        interrupts.raise_if_pressed()

    on_epoch_begin = on_epoch_end = _check
    on_train_batch_begin = on_test_batch_begin = _check


class WorseEpochStopping(keras.callbacks.Callback):
    """Stops training after `patience` epochs whose monitored loss is more
    than `tolerance` above the best so far (the 2017 Reuters script).

    The epochs need not follow each other: every epoch whose loss exceeds
    `(1 + tolerance)` times the lowest loss of the epochs before it
    counts, and training stops at the end of the `patience`-th. The
    state is the loss history alone, so a resumed run continues the count
    (`fit_with_checkpoints` passes the history on).

    Args:
        patience: worse epochs to stop after. Defaults to 5.
        tolerance: how much above the best loss an epoch must be to count,
            as a fraction. Defaults to 0.05.
        monitor: the loss in the epoch logs. Defaults to `"val_loss"`.
    """

    def __init__(self, patience=5, tolerance=0.05, monitor="val_loss"):
        super().__init__()
        if isinstance(patience, bool) or not isinstance(patience, int):
            patience = -1
        if patience < 1:
            raise ValueError(
                "Argument `patience` must be an int >= 1. Received: "
                f"patience={patience!r}"
            )
        if not 0 <= tolerance < math.inf:
            raise ValueError(
                "Argument `tolerance` must be a fraction >= 0. Received: "
                f"tolerance={tolerance!r}"
            )
        self.patience = patience
        self.tolerance = float(tolerance)
        self.monitor = monitor
        self.losses = []

    def restore(self, history):
        """Takes the losses of earlier epochs from a run's history."""
        self.losses = [float(v) for v in history.get(self.monitor, [])]

    def worse_epochs(self, losses=None):
        """How many of `losses` (default: those seen) count as worse."""
        losses = self.losses if losses is None else losses
        count, best = 0, math.inf
        for loss in losses:
            if loss > best * (1 + self.tolerance):
                count += 1
            best = min(best, loss)
        return count

    def stopped(self):
        """Whether the losses seen so far end the training."""
        return self.worse_epochs() >= self.patience

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"WorseEpochStopping monitors {self.monitor!r}, which the "
                f"epoch logs lack (pass validation data). Received: "
                f"{sorted(logs)}"
            )
        self.losses.append(float(logs[self.monitor]))
        if self.stopped():
            self.model.stop_training = True


def fit_with_checkpoints(
    build,
    train,
    validation=None,
    *,
    run_dir,
    epochs,
    resume=False,
    overwrite=False,
    batch_size=None,
    seed=0,
    verbose=1,
    callbacks=(),
    early_stopping=None,
):
    """Trains a model for `epochs` epochs, checkpointing each one.

    Args:
        build: function returning a compiled model (not called when a
            checkpoint is resumed).
        train: `(x, y)` arrays or a `keras.utils.PyDataset` (see
            `parallel.as_batches`).
        validation: `(x, y)` or a `PyDataset` evaluated after every epoch
            (the learning curves), or `None`.
        run_dir: directory of the checkpoint and state (created).
        epochs: total number of epochs (including resumed ones).
        resume: continue from `run_dir`'s last finished epoch when it has
            a checkpoint (else start afresh).
        overwrite: delete an earlier run's checkpoint and start afresh.
        batch_size: batch size for array inputs.
        seed: random seed of the model and of the arrays' batch order.
        verbose: Keras progress bars (1), one line an epoch (2), none (0).
        callbacks: extra Keras callbacks. Those with a `checkpoint_key`
            attribute are resumable: their `get_state()` is saved with
            every checkpoint, and `set_state(saved)` is called on resume
            (before training, also when no epoch is left).
        early_stopping: a `WorseEpochStopping`, or `None`. On resume it
            is given the run's history; a run it stopped is finished
            (`resume` trains no more).

    Returns:
        `(model, state)`: the trained model and the state dict
        (`epochs_done`, `history`, `train_seconds`, `epoch_seconds`,
        `resumed_from`, and `stopped_early`: the epochs done when early
        stopping ended the run, or `None`).

    Raises:
        RunExistsError: if `run_dir` holds a checkpoint and neither
            `resume` nor `overwrite` is set.
    """
    os.makedirs(run_dir, exist_ok=True)
    state = load_state(run_dir)
    if state is not None and overwrite:
        if distribution.is_chief():
            for name in (CHECKPOINT, STATE):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(run_dir, name))
        state = None
    if state is not None and not resume:
        raise RunExistsError(
            f"{run_dir!r} holds a checkpoint of an earlier run "
            f"({state['epochs_done']} epochs done). Pass --resume to "
            "continue it or --overwrite to start again."
        )
    if state is None:
        start = 0
        state = {
            "epochs_done": 0,
            "history": {},
            "train_seconds": [],
            "epoch_seconds": [],
            "resumed_from": [],
            "stopped_early": None,
        }
        keras.utils.set_random_seed(seed)
        model = build()
    else:
        start = int(state["epochs_done"])
        state.setdefault("resumed_from", []).append(start)
        model = _resumed_model(run_dir, state, seed)
        if verbose:
            print(f"Resuming {run_dir} after epoch {start} of {epochs}.")
    callbacks = list(callbacks)
    resumable = [c for c in callbacks if getattr(c, "checkpoint_key", None)]
    for callback in resumable:
        if callback.checkpoint_key in state:  # a run being resumed
            callback.set_state(state[callback.checkpoint_key])
    if early_stopping is not None:
        early_stopping.restore(state["history"])
        # Before the checkpoint callback, which records its decision.
        callbacks.append(early_stopping)
    if start < epochs and not state.get("stopped_early"):
        train = parallel.as_batches(train, batch_size, shuffle=True, seed=seed)
        if validation is not None:
            validation = parallel.as_batches(validation, batch_size)
        # First, so that later callbacks draw from the epoch's seeds too:
        # a resumed run sees the batches and masks it would have seen.
        seeds = random_state.EpochSeeds(seed, train)
        model.fit(
            train,
            epochs=epochs,
            initial_epoch=start,
            validation_data=validation,
            callbacks=[
                seeds,
                jax_state.CommittedState(),
                jax_state.StepByStep(),
                StopOnInterrupt(),
                *callbacks,
                EpochCheckpoint(run_dir, state, resumable),
            ],
            verbose=fit_verbosity(verbose),
            # The dataset shuffles itself, reproducibly from its seed (and
            # prefetches its batches in order).
            shuffle=False,
        )
    return model, state


def _resumed_model(run_dir, state, seed):
    """The checkpoint's model, with the dropout seeds' states of the
    epoch it ended (a checkpoint of an earlier ttrnn has none: a resumed
    run draws other masks)."""
    keras.utils.set_random_seed(seed)
    model = keras.saving.load_model(os.path.join(run_dir, CHECKPOINT))
    saved = state.get("random_state")
    if saved is not None:
        random_state.restore(model, saved)
    return model


def sweep_learning_rate(
    build, train, rates, *, epochs=2, seed=0, batch_size=None
):
    """Picks a learning rate by a short training run per candidate.

    Each rate trains a fresh model (same seed, same batch order) for
    `epochs` epochs on `train`, and the rate whose last epoch has the
    lowest mean training loss wins; a diverged run (NaN or inf) loses.
    Only the training data is used, never a test split.

    Args:
        build: function `rate -> compiled model`.
        train: `(x, y)` arrays or a `keras.utils.PyDataset`.
        rates: the candidate learning rates.
        epochs: epochs per candidate. Defaults to 2.
        seed: random seed of every candidate's run.
        batch_size: batch size for array inputs (`parallel.as_batches`).

    Returns:
        `(best_rate, losses)`, `losses` mapping each rate to its last
        epoch's training loss (`inf` if it diverged).
    """
    losses = {}
    x = parallel.as_batches(train, batch_size, shuffle=True, seed=seed)
    for rate in rates:
        keras.utils.set_random_seed(seed)
        model = build(rate)
        history = model.fit(
            x,
            epochs=epochs,
            verbose=0,
            shuffle=False,
            # The draws of `fit_with_checkpoints`' first epochs.
            callbacks=[
                random_state.EpochSeeds(seed, x),
                jax_state.CommittedState(),
                jax_state.StepByStep(),
                StopOnInterrupt(),
            ],
        )
        loss = float(history.history["loss"][-1])
        losses[float(rate)] = loss if math.isfinite(loss) else math.inf
        del model, history
        gc.collect()  # a dense GRU and its Adam state: 0.5 GB a candidate
    if hasattr(x, "set_epoch"):
        x.set_epoch(0)
    best = min(losses, key=lambda rate: (losses[rate], -rate))
    return best, losses


def fit_verbosity(verbose):
    """Keras' `verbose` for `fit`: progress bars (1) only on a terminal;
    one line an epoch (2) when stdout is a file or pipe, where a bar's
    escape codes would fill the log."""
    if verbose == 1 and not _is_terminal(sys.stdout):
        return 2
    return verbose


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def seconds_per_epoch(state):
    """Median training seconds of an epoch (robust to the first epoch's
    compilation), or `None` before the first epoch."""
    seconds = state.get("train_seconds") or []
    return statistics.median(seconds) if seconds else None


def clear_run(run_dir):
    """Deletes a run directory entirely."""
    shutil.rmtree(run_dir, ignore_errors=True)


def _is_dataset(data):
    return isinstance(data, keras.utils.PyDataset)


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"Not JSON serialisable: {value!r}")

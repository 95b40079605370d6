"""A training process of the kill-and-resume tests (test_resume_exact.py).

    python tests/experiments/resume_worker.py PAUSE KIND ARGS_JSON

KIND `arrays` trains the dropout model of `build_arrays_model` on
`arrays_data()` through `checkpointing.fit_with_checkpoints` (`fit_arrays`),
ARGS_JSON holding its `run_dir`, `epochs` and `resume`; KIND `cli` runs
`ttrnn ARGS...` (ARGS_JSON a list). With PAUSE = k >= 0 the process writes
`<run_dir>/paused` after the first training step of epoch k + 1 (the
checkpoint of epoch k written, the in-memory model one step further)
and sleeps, for the test to SIGKILL it; -1 runs to the end.
"""

import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(pathlib.Path(__file__).parents[2]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import ttrnn  # noqa: E402  (before keras: chooses the backend)
from ttrnn.experiments import checkpointing  # noqa: E402

ROWS, STEPS, FEATURES, CLASSES = 21, 5, 8, 3
BATCH = 4  # 21 rows: a short last batch of one


def arrays_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((ROWS, STEPS, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, ROWS)
    return (x, y), (x[:8], y[:8])


def build_arrays_model():
    """Both kinds of random state a training step draws from: a TT-GRU
    with dropout and recurrent dropout (a SeedGenerator made without a
    seed: torch's global generator on torch) and a Dropout layer with a
    seed."""
    model = keras.Sequential(
        [
            keras.Input((STEPS, FEATURES)),
            ttrnn.TTGRU(
                (2, 4),
                (2, 3),
                2,
                dropout=0.3,
                recurrent_dropout=0.3,
            ),
            keras.layers.Dropout(0.5, seed=3),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(1e-2),
        "sparse_categorical_crossentropy",
        weighted_metrics=["accuracy"],
    )
    return model


def pause_after(epochs_done, run_dir):
    class Pausing(checkpointing.EpochCheckpoint):
        def on_epoch_begin(self, epoch, logs=None):
            super().on_epoch_begin(epoch, logs)
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == epochs_done and batch == 0:
                pathlib.Path(run_dir, "paused").write_text("")
                time.sleep(600)

    checkpointing.EpochCheckpoint = Pausing


def fit_arrays(run_dir, epochs, resume):
    train, validation = arrays_data()
    return checkpointing.fit_with_checkpoints(
        build_arrays_model,
        train,
        validation,
        run_dir=run_dir,
        epochs=epochs,
        resume=resume,
        batch_size=BATCH,
        seed=5,
        verbose=0,
    )


def main(pause, kind, args):
    if kind == "arrays":
        if pause >= 0:
            pause_after(pause, args["run_dir"])
        fit_arrays(**args)
        return 0
    from ttrnn import cli

    if pause >= 0:
        pause_after(pause, args[args.index("--out") + 1])
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])))

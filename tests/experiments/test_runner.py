"""Checkpointing every epoch and resuming a killed run."""

import json
import os

import keras
import numpy as np
import pytest

from ttrnn import TTDense
from ttrnn.experiments import runner


def _build():
    model = keras.Sequential(
        [
            keras.Input((16,)),
            TTDense((4, 4), (2, 4), 2, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    return model


def _iterations(model):
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 16)).astype("float32")
    return x, x[:, :1] * 2.0


class TestRunner:
    def test_resume_after_interrupt(self, tmp_path, monkeypatch):
        run_dir = str(tmp_path / "run")
        monkeypatch.setenv(runner.INTERRUPT_ENV, "1")
        with pytest.raises(runner.SimulatedInterrupt, match="after epoch 1"):
            runner.fit_with_checkpoints(
                _build,
                _data(),
                run_dir=run_dir,
                epochs=3,
                batch_size=10,
                verbose=0,
            )
        state = json.load(open(os.path.join(run_dir, runner.STATE)))
        assert state["epochs_done"] == 1
        assert len(state["history"]["loss"]) == 1
        saved = keras.saving.load_model(
            os.path.join(run_dir, runner.CHECKPOINT)
        )
        # The optimiser state is in the checkpoint: 4 steps were taken.
        assert _iterations(saved) == 4

        monkeypatch.delenv(runner.INTERRUPT_ENV)
        model, state = runner.fit_with_checkpoints(
            _build,
            _data(),
            run_dir=run_dir,
            epochs=3,
            batch_size=10,
            resume=True,
            verbose=0,
        )
        assert state["epochs_done"] == 3
        assert state["resumed_from"] == [1]
        assert len(state["history"]["loss"]) == 3
        assert len(state["train_seconds"]) == 3
        assert _iterations(model) == 12
        # The resumed model continued from the checkpoint's weights.
        assert state["history"]["loss"][2] < state["history"]["loss"][0]

    def test_resume_finished_run_trains_no_more(self, tmp_path):
        run_dir = str(tmp_path / "run")
        runner.fit_with_checkpoints(
            _build,
            _data(),
            run_dir=run_dir,
            epochs=1,
            batch_size=20,
            verbose=0,
        )
        model, state = runner.fit_with_checkpoints(
            _build,
            _data(),
            run_dir=run_dir,
            epochs=1,
            batch_size=20,
            resume=True,
            verbose=0,
        )
        assert state["epochs_done"] == 1
        assert _iterations(model) == 2

    def test_existing_run_needs_resume_or_overwrite(self, tmp_path):
        run_dir = str(tmp_path / "run")
        kwargs = dict(run_dir=run_dir, epochs=1, batch_size=20, verbose=0)
        runner.fit_with_checkpoints(_build, _data(), **kwargs)
        with pytest.raises(runner.RunExistsError, match="Pass --resume"):
            runner.fit_with_checkpoints(_build, _data(), **kwargs)
        _, state = runner.fit_with_checkpoints(
            _build, _data(), overwrite=True, **kwargs
        )
        assert state["resumed_from"] == []

    def test_seconds_per_epoch_is_the_median(self):
        state = {"train_seconds": [9.0, 1.0, 2.0, 1.5]}
        assert runner.seconds_per_epoch(state) == 1.75
        assert runner.seconds_per_epoch({}) is None

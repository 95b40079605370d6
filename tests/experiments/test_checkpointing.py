"""Checkpointing every epoch and resuming a killed run."""

import json
import os

import keras
import numpy as np
import pytest

from tests.helpers import SimulatedInterrupt
from tests.helpers import interrupted_after_epoch
from ttrnn import TTDense
from ttrnn.experiments import checkpointing


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
    def test_resume_after_interrupt(self, tmp_path):
        run_dir = str(tmp_path / "run")
        with (
            interrupted_after_epoch(1),
            pytest.raises(SimulatedInterrupt, match="after epoch 1"),
        ):
            checkpointing.fit_with_checkpoints(
                _build,
                _data(),
                run_dir=run_dir,
                epochs=3,
                batch_size=10,
                verbose=0,
            )
        state = json.load(open(os.path.join(run_dir, checkpointing.STATE)))
        assert state["epochs_done"] == 1
        assert len(state["history"]["loss"]) == 1
        saved = keras.saving.load_model(
            os.path.join(run_dir, checkpointing.CHECKPOINT)
        )
        # The optimiser state is in the checkpoint: 4 steps were taken.
        assert _iterations(saved) == 4

        model, state = checkpointing.fit_with_checkpoints(
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
        checkpointing.fit_with_checkpoints(
            _build,
            _data(),
            run_dir=run_dir,
            epochs=1,
            batch_size=20,
            verbose=0,
        )
        model, state = checkpointing.fit_with_checkpoints(
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
        checkpointing.fit_with_checkpoints(_build, _data(), **kwargs)
        with pytest.raises(checkpointing.RunExistsError, match="Pass --resume"):
            checkpointing.fit_with_checkpoints(_build, _data(), **kwargs)
        _, state = checkpointing.fit_with_checkpoints(
            _build, _data(), overwrite=True, **kwargs
        )
        assert state["resumed_from"] == []

    def test_seconds_per_epoch_is_the_median(self):
        state = {"train_seconds": [9.0, 1.0, 2.0, 1.5]}
        assert checkpointing.seconds_per_epoch(state) == 1.75
        assert checkpointing.seconds_per_epoch({}) is None


def _regression(rate, loss="mse"):
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(1, use_bias=False)]
    )
    model.compile(optimizer=keras.optimizers.Adam(rate), loss=loss)
    return model


def _regression_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")
    return x, y


def test_sweep_picks_the_lowest_training_loss(tmp_path):
    x, y = _regression_data()
    best, losses = checkpointing.sweep_learning_rate(
        _regression, (x, y), [1e-6, 1e-1, 3.0], epochs=20, seed=1
    )
    assert set(losses) == {1e-6, 1e-1, 3.0}
    assert best == min(losses, key=losses.get)
    # Far too small a rate barely moves the weights from their start.
    assert losses[1e-6] > 2 * losses[1e-1]
    # Each trial is the run of that rate and seed (the same batches).
    _, state = checkpointing.fit_with_checkpoints(
        lambda: _regression(1e-1),
        (x, y),
        run_dir=str(tmp_path / "run"),
        epochs=20,
        seed=1,
        verbose=0,
    )
    assert losses[1e-1] == pytest.approx(state["history"]["loss"][-1], rel=1e-5)


def _nan_loss(y_true, y_pred):
    # log of a negative number: NaN, with (NaN) gradients on every backend.
    return keras.ops.log(-y_pred * y_pred - 1.0) + 0.0 * y_true


def test_sweep_counts_a_diverged_run_as_worst():
    x, y = _regression_data()

    def build(rate):
        if rate == 1.0:  # stands in for a run whose loss blew up
            return _regression(rate, loss=_nan_loss)
        return _regression(rate)

    best, losses = checkpointing.sweep_learning_rate(
        build, (x, y), [1.0, 1e-6], epochs=1
    )
    assert losses[1.0] == float("inf")
    assert best == 1e-6


def test_compiled_accuracy_ignores_zero_weight_rows():
    # Bucketed batches end in dummy rows of weight 0: the curves' accuracy
    # must count only the real clips.
    from ttrnn.experiments import registry
    from ttrnn.experiments import training

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    model.set_weights([np.eye(2, 3, dtype="float32"), np.zeros(3, "float32")])
    training.compile_model(
        model, "sparse_categorical_crossentropy", registry.get("ucf11"), 1e-3
    )
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], "float32")
    y = np.array([0, 1, 2])  # the last row (a dummy) is predicted wrong
    logs = model.evaluate(
        x,
        y,
        sample_weight=np.array([1.0, 1.0, 0.0]),
        verbose=0,
        return_dict=True,
    )
    assert logs["accuracy"] == pytest.approx(1.0)


# A scripted validation loss, epoch by epoch. With tolerance 0.05, the
# worse epochs (loss > 1.05 x the best before) are 3 (0.96 > 0.945),
# 6 (0.85 > 0.84), 8 and 9 (> 0.84), 11 (0.74 > 0.735): the 5th is 11.
SCRIPT = [1.0, 0.9, 0.96, 0.92, 0.8, 0.85, 0.83, 0.9, 0.95, 0.7, 0.74]
SCRIPT += [0.5] * 9


class _ScriptedValLoss(keras.callbacks.Callback):
    """Overwrites the epoch's val_loss (callbacks share the logs)."""

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = SCRIPT[epoch]


class TestWorseEpochStopping:
    def test_scripted_losses(self):
        stopping = checkpointing.WorseEpochStopping(patience=5, tolerance=0.05)
        stopping.set_model(_build())
        ends = []
        for epoch, loss in enumerate(SCRIPT[:11]):
            stopping.on_epoch_end(epoch, {"val_loss": loss})
            ends.append(bool(stopping.model.stop_training))
        assert ends == [False] * 10 + [True]
        assert stopping.worse_epochs() == 5
        # Equal to the best, or within the tolerance, never counts.
        assert stopping.worse_epochs([1.0, 1.0, 1.05, 1.0]) == 0
        assert stopping.worse_epochs([1.0, 1.051, 2.0, 0.1, 0.2]) == 3

    def test_fit_stops_and_resumes_the_count(self, tmp_path):
        run_dir = str(tmp_path / "run")
        x, y = _data()
        args = dict(
            run_dir=run_dir,
            epochs=20,
            batch_size=10,
            verbose=0,
            callbacks=[_ScriptedValLoss()],
        )
        with (
            interrupted_after_epoch(8),
            pytest.raises(SimulatedInterrupt),
        ):
            checkpointing.fit_with_checkpoints(
                _build,
                (x, y),
                (x, y),
                early_stopping=checkpointing.WorseEpochStopping(5, 0.05),
                **args,
            )
        model, state = checkpointing.fit_with_checkpoints(
            _build,
            (x, y),
            (x, y),
            resume=True,
            early_stopping=checkpointing.WorseEpochStopping(5, 0.05),
            **args,
        )
        # Three worse epochs before the interrupt, two after it.
        assert state["epochs_done"] == state["stopped_early"] == 11
        assert state["history"]["val_loss"] == SCRIPT[:11]
        # A stopped run is finished: resuming trains no more.
        model, state = checkpointing.fit_with_checkpoints(
            _build,
            (x, y),
            (x, y),
            resume=True,
            early_stopping=checkpointing.WorseEpochStopping(5, 0.05),
            **args,
        )
        assert state["epochs_done"] == 11 and _iterations(model) == 44

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="`patience` must be an int"):
            checkpointing.WorseEpochStopping(patience=0)
        with pytest.raises(ValueError, match="`tolerance` must be a frac"):
            checkpointing.WorseEpochStopping(tolerance=-0.1)
        stopping = checkpointing.WorseEpochStopping()
        with pytest.raises(ValueError, match="monitors 'val_loss'"):
            stopping.on_epoch_end(0, {"loss": 1.0})


def test_padded_batches_weigh_their_real_rows():
    # 21 rows in batches of 5, padded to 8 rows (batch_multiple=4): each
    # batch's loss is the mean over its real rows, the epoch's the mean of
    # the batches', as on any number of devices.
    from ttrnn.experiments import parallel
    from ttrnn.experiments import random_state

    x, y = _regression_data()
    x, y = x[:21], y[:21]
    model = _regression(0.1)
    batches = parallel.ArrayBatches(x, y, 5, batch_multiple=4)
    assert {len(batches[i][0]) for i in range(len(batches))} == {8}
    error = (keras.ops.convert_to_numpy(model(x)) - y)[:, 0] ** 2
    means = [error[i : i + 5].mean() for i in range(0, 21, 5)]
    loss = model.evaluate(batches, verbose=0)
    assert loss == pytest.approx(np.mean(means), rel=1e-5)
    # Training: the steps of the unpadded batches (the same order).
    keras.utils.set_random_seed(0)
    model = _regression(0.1)
    batches = parallel.ArrayBatches(x, y, 5, shuffle=True, seed=3)
    for epoch in range(3):
        batches.set_epoch(epoch)
        for i in range(len(batches)):
            rows = batches.members(i)
            rows = rows[rows >= 0]
            model.train_on_batch(x[rows], y[rows])
    keras.utils.set_random_seed(0)
    padded = _regression(0.1)
    batches = parallel.ArrayBatches(
        x, y, 5, shuffle=True, seed=3, batch_multiple=4
    )
    # EpochSeeds: epoch e's order is that of set_epoch(e).
    seeds = random_state.EpochSeeds(0, batches)
    padded.fit(batches, epochs=3, verbose=0, shuffle=False, callbacks=[seeds])
    np.testing.assert_allclose(
        padded.get_weights()[0], model.get_weights()[0], rtol=1e-5
    )

"""`jax_state.CommittedState`: one compile of the train step a shape."""

import keras
import numpy as np
import pytest

from ttrnn.backends import zero_copy_batch
from ttrnn.experiments import jax_state


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.Adam(1e-2), "mse", metrics=["mae"])
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 6)).astype("float32")
    return x, x[:, :1] - x[:, 1:2]


class _Batches(keras.utils.PyDataset):
    """Batches of 10 and 6 rows handed over as `VideoSequence` does
    (`zero_copy_batch`: on JAX a DLPack import, a committed array)."""

    def __len__(self):
        return 2

    def __getitem__(self, index):
        x, y = _data()
        rows = slice(0, 10) if index == 0 else slice(10, 16)
        return zero_copy_batch(x[rows]), zero_copy_batch(y[rows])


def _fit(callbacks, epochs=3):
    """Trains 3 epochs of two batch shapes (10 and 6 rows); returns the
    model and the compiles of each epoch's batches (JAX) or `None`s."""
    model = _model()
    compiles = []
    counter = _CompileCounter(compiles)
    model.fit(
        _Batches(),
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=[*callbacks, counter],
    )
    counter.close()
    return model, compiles


class _CompileCounter(keras.callbacks.Callback):
    """XLA compiles between an epoch's first batch and its end."""

    def __init__(self, compiles):
        super().__init__()
        self.compiles = compiles
        self.count = None
        if keras.backend.backend() == "jax":
            import jax

            self.count = 0
            jax.monitoring.register_event_duration_secs_listener(self._event)

    def _event(self, event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            self.count += 1

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0 and self.count is not None:
            self.start = self.count

    def on_epoch_end(self, epoch, logs=None):
        if self.count is None:
            self.compiles.append(None)
        else:
            self.compiles.append(self.count - self.start)

    def close(self):
        if self.count is not None:
            import jax

            jax.monitoring.unregister_event_duration_listener(self._event)


@pytest.mark.parametrize(
    "callback", [jax_state.CommittedState, jax_state.StepByStep]
)
def test_training_unchanged(callback):
    # CommittedState only moves values onto the device they lie on;
    # StepByStep only waits.
    reference, _ = _fit([])
    changed, _ = _fit([callback()])
    for a, b in zip(reference.variables, changed.variables):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
        )


def test_one_compile_a_batch_shape():
    if keras.backend.backend() != "jax":
        pytest.skip("jit's cache keys on committed arrays on JAX only")
    _, compiles = _fit([jax_state.CommittedState()])
    # The first epoch compiles the two shapes (and the metrics' small
    # functions); later epochs nothing: the reset metrics are committed.
    assert compiles[0] >= 2
    assert compiles[1:] == [0, 0]


def test_commit_counts_uncommitted_values():
    model = _model()
    x, y = _data()
    model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    model.reset_metrics()
    if keras.backend.backend() != "jax":
        assert jax_state.commit(model) == 0  # nothing to commit
        return
    # At least the metrics' reset values (mae: total and count; the loss
    # tracker's); then nothing is left.
    assert jax_state.commit(model) >= 4
    assert jax_state.commit(model) == 0


class _SlowSteps(keras.utils.PyDataset):
    """4 batches of 2,048 rows for a 1,024 x 1,024 Dense: each step some
    10 GFLOP, far longer than dispatching it."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        rng = np.random.default_rng(index)
        x = rng.standard_normal((2048, 1024)).astype("float32")
        return x, x[:, :1]


class _FinishedProbe(keras.callbacks.Callback):
    """At the start of each batch after the first: whether the step
    before it had finished (all its new weights ready: JAX)."""

    def __init__(self):
        super().__init__()
        self.finished = []

    def on_train_batch_begin(self, batch, logs=None):
        state = getattr(self.model, "_jax_state", None)
        if batch and state is not None:
            values = list(state["trainable_variables"])
            self.finished.append(all(v.is_ready() for v in values))


def _slow_fit(callbacks):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((1024,)), keras.layers.Dense(1024), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.SGD(1e-4), "mse")
    probe = _FinishedProbe()
    model.fit(
        _SlowSteps(),
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[*callbacks, probe],
    )
    return model, probe.finished


def test_step_by_step_waits_for_each_step():
    if keras.backend.backend() != "jax":
        pytest.skip("only JAX dispatches steps ahead of their computation")
    _, finished = _slow_fit([jax_state.StepByStep()])
    assert finished == [True, True, True]
    # The probe sees a step running ahead without the callback: Keras'
    # asynchronous callbacks let its loop dispatch the next step at once.
    _, ahead = _slow_fit([])
    assert len(ahead) == 3 and not all(ahead)


def test_public_in_ttrnn_callbacks():
    # Users pass them to their own `fit` (docs/speed.md).
    from ttrnn import callbacks

    assert callbacks.StepByStep is jax_state.StepByStep
    assert callbacks.CommittedState is jax_state.CommittedState
    assert {"StepByStep", "CommittedState"} <= set(callbacks.__all__)

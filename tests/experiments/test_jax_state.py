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


def test_training_unchanged():
    # The callback only moves values onto the device they lie on.
    reference, _ = _fit([])
    committed, _ = _fit([jax_state.CommittedState()])
    for a, b in zip(reference.variables, committed.variables):
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

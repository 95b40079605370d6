"""A Ctrl-C that a library swallows still stops `fit`.

The swallowing is made here: a callback sends this process SIGINT and
drops the `KeyboardInterrupt` that results, as the C code under
`np.array` of a JAX array did. Without `StopOnInterrupt` (the control),
`fit` then runs to its end.
"""

import signal
import threading
import time

import keras
import numpy as np
import pytest

from ttrnn.experiments import checkpointing
from ttrnn.experiments import interrupts


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Python's own SIGINT handler, as in a terminal. A suite started as
    a background job (`pytest ... &`) inherits SIGINT ignored, which
    `interrupts.handled()` rightly leaves alone: these tests then saw no
    Ctrl-C (3 failures a backend in such runs, none in the foreground)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _SwallowedCtrlC(keras.callbacks.Callback):
    """Presses Ctrl-C at the end of batch `at` and swallows it."""

    def __init__(self, at):
        super().__init__()
        self.at = at
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches == self.at:
            try:
                # To this thread: os.kill's signal may land on another.
                signal.pthread_kill(threading.get_ident(), signal.SIGINT)
                deadline = time.monotonic() + 30
                while not interrupts.pressed():
                    assert time.monotonic() < deadline, "no SIGINT seen"
                    time.sleep(0.001)
            except KeyboardInterrupt:
                pass


def _fit(callbacks, epochs=3):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((32, 4), "float32")
    model.fit(
        x, x[:, :2], batch_size=4, epochs=epochs, verbose=0, callbacks=callbacks
    )


def test_swallowed_ctrl_c_stops_fit():
    swallow = _SwallowedCtrlC(at=3)
    with interrupts.handled():
        with pytest.raises(KeyboardInterrupt):
            _fit([swallow, checkpointing.StopOnInterrupt()])
    # Stopped at the next batch, not at the end of the run's 24 batches.
    assert swallow.batches == 3
    assert not interrupts.pressed()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_control_swallowed_ctrl_c_is_lost_without_the_callback():
    swallow = _SwallowedCtrlC(at=3)
    with interrupts.handled():
        _fit([swallow])
        assert interrupts.pressed()
    assert swallow.batches == 24


def test_ignored_sigint_is_left_alone():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts.handled():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_fit_with_checkpoints_stops_on_a_swallowed_ctrl_c(tmp_path):
    swallow = _SwallowedCtrlC(at=10)

    def build():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile(optimizer="sgd", loss="mse")
        return model

    x = np.ones((32, 4), "float32")
    with interrupts.handled():
        with pytest.raises(KeyboardInterrupt):
            checkpointing.fit_with_checkpoints(
                build,
                (x, x[:, :2]),
                run_dir=str(tmp_path),
                epochs=100,
                batch_size=4,
                callbacks=[swallow],
                verbose=0,
            )
    # Epoch 1 (8 batches) checkpointed; stopped in epoch 2.
    assert swallow.batches == 10
    assert checkpointing.load_state(str(tmp_path))["epochs_done"] == 1

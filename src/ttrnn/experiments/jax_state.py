"""Keeps JAX's compiled training steps across epochs, and its steps in
step with the loop that dispatches them.

`jax.jit` caches a compiled function by its arguments' shapes *and* by
whether each argument is committed to a device. Keras' JAX `fit` passes
the model's whole state (weights, optimiser and metric variables) to its
jitted train step. Its outputs are committed arrays, but the values a
variable gets from outside the step are not: the initial weights, and
the zeros `reset_metrics()` assigns to the metrics at the start of every
epoch (and of every `evaluate`). So the first batch of each epoch runs
with four uncommitted metric variables and compiles the step again for
its shape, although that shape was compiled in the epoch before; in the
first epoch, the first batch's shape is compiled twice (its first call
with every variable uncommitted). On the video protocol's TT-GRU each of
these compiles takes 3-11 s (benchmarks/RESULTS.md, "JAX: the epoch's
first batch and the map's cast").

And: when no callback has a batch hook, Keras' JAX `fit` dispatches
its callbacks on a thread pool and never waits for a step, so its loop
runs ahead of the computation. On the CPU, XLA then holds the buffers
of the next step beside those of the running one: for the video TT-GRU
(batches of 4,096 frames) the peak memory grew from 2.2 to 3.3 GB and
the epoch ran 1.13-1.20x slower (`StepByStep`).
"""

import keras


class CommittedState(keras.callbacks.Callback):
    """When an epoch begins (after Keras resets the metrics), commits
    every variable of the model, its optimiser and its metrics to the
    device it lies on (`jax.device_put` to its own sharding), so the
    train step of each batch shape is compiled once. Nothing on other
    backends."""

    def on_epoch_begin(self, epoch, logs=None):
        commit(self.model)


class StepByStep(keras.callbacks.Callback):
    """Waits for each training (and validation) step to finish before
    Keras' JAX `fit` dispatches the next one. Nothing on other backends,
    whose steps return finished.

    Keras runs its callbacks asynchronously when none of them has a batch
    hook, and its loop then dispatches step n + 1 while step n runs
    (JAX's asynchronous dispatch). On the CPU the steps share the cores
    anyway, so running ahead gains nothing, while the buffers of the
    queued step are held beside the running one's. Measured
    (`benchmarks/bench_epoch.py --clips 160 --backends jax`, the paper
    TT-GRU, batches of up to 4,096 frames, 2-core Xeon): 9.0-9.9 s a
    training epoch and 2.2 GB peak with this callback, 10.5-11.0 s and
    3.3 GB without; letting one step run ahead (waiting for step n - 1)
    measured as slow as not waiting at all.
    """

    def __init__(self):
        super().__init__()
        self._wait = keras.backend.backend() == "jax"
        # Elsewhere, leave Keras' asynchronous callbacks as they were.
        self.async_safe = not self._wait

    def on_train_batch_end(self, batch, logs=None):
        if self._wait:
            _block(logs)

    def on_test_batch_end(self, batch, logs=None):
        if self._wait:
            _block(logs)


def _block(logs):
    # A step's logs (its loss and metrics) are among its outputs: ready
    # when it is done. (Keras passes them already converted to Python
    # numbers to a callback with a batch hook: then this waits for
    # nothing.)
    import jax

    jax.block_until_ready(logs)


def commit(model):
    """Commits the values of `model`'s variables, its optimiser's and its
    metrics' to their devices (JAX); returns how many were uncommitted
    (0 on other backends)."""
    if keras.backend.backend() != "jax":
        return 0
    import jax

    variables = list(model.variables) + list(model.metrics_variables)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        variables += list(optimizer.variables)
    count = 0
    for variable in {id(v): v for v in variables}.values():
        value = variable.value
        if not isinstance(value, jax.Array):
            continue
        # To its own sharding: a committed value comes back as it is.
        placed = jax.device_put(value, value.sharding)
        if placed is not value:
            variable.assign(placed)
            count += 1
    return count

"""Keeps JAX's compiled training steps across epochs.

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

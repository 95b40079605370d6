"""Per-backend code outside the TT contraction, behind one small seam.

- `remat_time_chunks`, `remat_dynamic_time_chunks`: a map over time
  chunks whose backward pass recomputes each chunk (the TT-RNN input map
  of uint8 video frames; on JAX all but its first GEMM), written for each
  backend's own rematerialisation;
  `remat_integer_chunks` picks one for integer inputs (TTDense, TT-RNNs).
- `batch_sharded`: a row-wise map or recurrence run on each device's
  rows under a JAX distribution that splits the batch.
- `zero_copy_batch`: a NumPy batch handed to the backend without a copy.

The contraction's own switches (`TTConv2D`'s spatial step among them)
are in `ttrnn.tt.contraction.runtime`.
"""

import functools
import warnings

import keras
import numpy as np

from ttrnn import xla_row_chunks
from ttrnn.tt.contraction import runtime

# Integer (uint8) inputs are cast and mapped inside rematerialised chunks
# of at most this many input values (16 MiB in float32): on the UCF11
# TT-GRU (batch 16 x 256 frames, JAX) chunks of 2**22 values (4 frames of
# the batch) trained 1,890 frames/s and peaked at 1.27 GB, chunks of
# 2**26 values 1,520 and 1.67 GB.
MAX_INTEGER_CHUNK_VALUES = 2**22


def remat_integer_chunks(
    fn, x, args, dtype, save_first_gemm=False, row_axes=()
):
    """`fn(x, *args)` for an integer x, in rematerialised time chunks of
    at most `MAX_INTEGER_CHUNK_VALUES` input values, so no float copy of
    the whole input is ever made (forward or backward).

    On TensorFlow in a traced function, without arguments of a row a
    clip and with `ttrnn.xla_row_chunks.SWITCH["on"]` (off by default),
    chunks of a static frame count compiled by XLA. Else
    `remat_time_chunks` when the batch and time sizes are known; on
    TensorFlow with either unknown `remat_dynamic_time_chunks`;
    elsewhere then (shape inference) one call, no chunks.

    Args:
        fn: `fn(x_chunk, *args)` -> (batch, chunk_steps, features) in
            `dtype`; it casts the integer chunk itself.
        x: (batch, steps, features) integer tensor, features static.
        args: tensors passed to every call (weights: differentiated).
        dtype: the dtype of `fn`'s result.
        save_first_gemm: see `remat_time_chunks`.
        row_axes: for each of `args`, the axis holding the batch (a
            dropout mask's rows), or `None`: see `batch_sharded`, which
            runs the chunks on each device's rows under a distribution.

    Returns:
        (batch, steps, features of `fn`) tensor.
    """
    features = int(x.shape[2])
    batch, steps = tuple(x.shape[:2])
    if xla_row_chunks.enabled(row_axes):
        rows = max(1, MAX_INTEGER_CHUNK_VALUES // features)
        return xla_row_chunks.row_chunks(
            fn, x, args, rows, dtype, save_first_gemm=save_first_gemm
        )
    if batch is not None and steps is not None:
        # Time steps a chunk from the whole batch: under `batch_sharded`
        # each device's chunk is its share of these values (the bigger
        # chunks of 2**22 values a device ran the step slower).
        chunk = max(1, MAX_INTEGER_CHUNK_VALUES // (int(batch) * features))

        def chunks(x, *args):
            return remat_time_chunks(
                fn, x, chunk, args, save_first_gemm=save_first_gemm
            )

        return batch_sharded(chunks, x, args, row_axes)
    if keras.backend.backend() == "tensorflow":
        return remat_dynamic_time_chunks(
            fn,
            x,
            MAX_INTEGER_CHUNK_VALUES,
            features,
            dtype,
            args,
            save_first_gemm=save_first_gemm,
        )
    return fn(x, *args)


def splits_batch(x):
    """Whether `batch_sharded` splits x's rows over devices: on JAX under
    a distribution that shards the batch over several devices, when x's
    (static) batch is a multiple of them."""
    shards = runtime.batch_shards()
    batch = x.shape[0]
    return shards > 1 and batch is not None and int(batch) % shards == 0


def batch_sharded(fn, x, args=(), row_axes=()):
    """`fn(x, *args)`, run by each device on its own rows of x (JAX, under
    a `keras.distribution` that splits the batch over several devices);
    `fn(x, *args)` itself elsewhere, or when x's batch does not split.

    `fn` must treat the rows of x independently (a map applied row by
    row, or a recurrence over each row's sequence). Under Keras'
    `DataParallel`, XLA partitions the traced global computation itself:
    on the TT-GRU's training step it gathered the input map's batch-last
    states onto both devices, which then computed the rest of the map for
    the whole batch, and it summed the recurrent kernel's gradient over
    the devices at every time step (benchmarks/RESULTS.md, "JAX on both
    cores"). Here `jax.shard_map` runs `fn` on each device's rows; the
    gradients of replicated `args` (the weights: `fn` must take them as
    arguments, a variable read inside it being the whole mesh's array)
    are summed over the devices once, after the whole of `fn`.

    Args:
        fn: `fn(x_rows, *args_rows)` -> a pytree of tensors whose first
            axes are the rows.
        x: tensor whose first axis (static) is the batch.
        args: pytrees of tensors passed on (no `None`).
        row_axes: for each of `args`, the axis of its leaves that holds
            the batch, split as x's rows; `None` (or a missing entry):
            replicated.

    Returns:
        `fn(x, *args)`.
    """
    if not splits_batch(x):
        return fn(x, *args)
    import jax
    from jax.sharding import PartitionSpec

    dist = keras.distribution.distribution()
    name = dist.batch_dim_name
    axes = list(row_axes) + [None] * (len(args) - len(row_axes))
    specs = [
        PartitionSpec() if a is None else PartitionSpec(*[None] * a, name)
        for a in axes
    ]

    def own(x, *args):
        # Replicated tensors made per-device values at the start: their
        # gradients are then summed over the devices once, here, rather
        # than where each use meets a device's rows (inside the loops:
        # at every time step of the recurrence, in every chunk).
        args = [
            a if axis is not None else jax.tree.map(vary, a)
            for a, axis in zip(args, axes)
        ]
        return fn(x, *args)

    def vary(a):
        return jax.lax.pcast(a, name, to="varying")

    run = jax.shard_map(
        own,
        mesh=dist.device_mesh.backend_mesh,
        in_specs=(PartitionSpec(name), *specs),
        out_specs=PartitionSpec(name),
    )
    return run(x, *args)


def remat_time_chunks(fn, x, chunk, args, save_first_gemm=False):
    """`concatenate([fn(x[:, s : s + chunk], *args) ...], axis=1)`, each
    chunk rematerialised: the backward pass recomputes a chunk's forward
    from its slice of x, so no chunk's temporaries outlive it.

    On JAX the full chunks run in one `lax.scan` whose body is a
    `jax.checkpoint`: the compiled graph has one chunk body (not one per
    chunk, so compiling does not grow with the sequence) and XLA cannot
    schedule the recomputations of several chunks at once (measured with
    one `keras.remat` per chunk, unrolled: 7.2 GB for a uint8 batch of
    16 x 1,024 UCF11 frames, 703 frames/s). Elsewhere one `keras.remat`
    per chunk, unrolled: torch runs them one after the other eagerly. On
    TensorFlow `tf.recompute_grad` (what `keras.remat` uses) doubled the
    gradients under an eager `GradientTape`; `_tf_remat` is the same
    recomputation as a plain `tf.custom_gradient`.

    Args:
        fn: `fn(x_chunk, *args)` -> (batch, chunk_steps, features).
        x: (batch, steps, ...) tensor with static batch and steps; `fn`
            needs no gradient with respect to it (integer frames).
        chunk: time steps per chunk.
        args: tensors passed to every call (weights: differentiated).
        save_first_gemm: on JAX, each chunk keeps the output of the TT
            sweep's first GEMM (`runtime.name_first_gemm`) for the
            backward pass, which then recomputes only the cheap rest of
            the chunk's map (a `jax.checkpoint` policy). The UCF11
            TT-GRU's first GEMM is 95 % of its map's multiply-adds, and
            its output a sixth of the float frames' size. On TensorFlow
            the same: the forward records that output and the backward
            replays it (`runtime.first_gemm_scope`). No effect on torch.

    Returns:
        (batch, steps, features) tensor.
    """
    remat = keras.remat
    if keras.backend.backend() == "tensorflow":
        remat = functools.partial(_tf_remat, save_first_gemm=save_first_gemm)
    if keras.backend.backend() == "jax":
        import jax

        policy = None
        if save_first_gemm:
            policy = jax.checkpoint_policies.save_only_these_names(
                runtime.FIRST_GEMM
            )
        remat = functools.partial(jax.checkpoint, policy=policy)
    steps = int(x.shape[1])
    if chunk >= steps:
        return remat(lambda *a: fn(x, *a))(*args)
    full = steps // chunk
    if keras.backend.backend() == "jax":
        import jax

        body = remat(
            lambda start, *a: fn(
                jax.lax.dynamic_slice_in_dim(x, start, chunk, axis=1), *a
            )
        )

        def step(carry, start):
            return carry, body(start, *args)

        _, ys = jax.lax.scan(step, 0, np.arange(full) * chunk)
        # (full, batch, chunk, F) -> (batch, full * chunk, F)
        ys = jax.numpy.swapaxes(ys, 0, 1)
        parts = [ys.reshape(ys.shape[0], full * chunk, ys.shape[-1])]
    else:
        parts = [
            remat(lambda *a, s=s: fn(x[:, s : s + chunk], *a))(*args)
            for s in range(0, full * chunk, chunk)
        ]
    if full * chunk < steps:
        rest = x[:, full * chunk :]
        parts.append(remat(lambda *a: fn(rest, *a))(*args))
    return parts[0] if len(parts) == 1 else keras.ops.concatenate(parts, 1)


def remat_dynamic_time_chunks(
    fn, x, values, features, dtype, args, save_first_gemm=False
):
    """`remat_time_chunks` for a time axis (or batch) unknown when the
    graph is built: TensorFlow only, where Keras feeds `fit` from a
    `tf.data` pipeline whose batches of several lengths (length buckets)
    leave the time axis `None`. The chunks (of at most `values` input
    values) run in a `tf.map_fn` whose body is rematerialised, so the
    graph holds one chunk body and the map's memory stays one chunk.

    Args:
        fn, args: as in `remat_time_chunks`.
        x: (batch, steps, features) integer tensor.
        values: the most input values a chunk.
        features: x's last size.
        dtype: the dtype of `fn`'s result.
    """
    import tensorflow as tf

    batch = tf.shape(x)[0]
    steps = tf.shape(x)[1]
    chunk = tf.maximum(1, values // (batch * features))
    full = steps // chunk

    # Tensors, not variables, and made outside the loop: read inside the
    # map_fn body (as `_tf_remat` does), their gradients were lost.
    args = [tf.identity(a) for a in args]

    def one(start, size):
        return _tf_recompute(
            lambda *a: fn(x[:, start : start + size], *a), save_first_gemm
        )(*args)

    rest = one(full * chunk, steps - full * chunk)
    width = rest.shape[-1]

    def chunks():
        ys = tf.map_fn(
            lambda start: one(start, chunk),
            tf.range(full) * chunk,
            fn_output_signature=tf.TensorSpec(None, dtype),
        )
        ys = tf.transpose(ys, [1, 0, 2, 3])
        return tf.reshape(ys, [batch, full * chunk, width])

    # map_fn cannot stack zero chunks of an unknown shape.
    head = tf.cond(full > 0, chunks, lambda: tf.zeros([batch, 0, width], dtype))
    out = tf.concat([head, tf.cast(rest, dtype)], axis=1)
    return tf.ensure_shape(out, [x.shape[0], x.shape[1], width])


def _tf_remat(f, save_first_gemm=False):
    """`f` with its forward recomputed in the backward pass (TensorFlow)."""
    import tensorflow as tf

    # Read variables into tensors first: a tf.custom_gradient function
    # that reads variables itself must also differentiate them.
    wrapped = _tf_recompute(f, save_first_gemm)
    return lambda *args: wrapped(*[tf.identity(a) for a in args])


def _tf_recompute(f, save_first_gemm=False):
    """`_tf_remat` for arguments that are tensors already. With
    `save_first_gemm` the forward keeps the output of the sweep's first
    GEMM (`runtime.first_gemm_scope`) and the backward recomputes only
    the rest (the GEMM's weight gradient from the recast frames)."""
    import tensorflow as tf

    @tf.custom_gradient
    def wrapped(*args):
        with runtime.first_gemm_scope() as saved:
            y = f(*args)
        if not save_first_gemm:
            saved = None

        def grad(upstream):
            with tf.GradientTape() as tape:
                tape.watch(args)
                with runtime.first_gemm_scope(replay=saved):
                    again = f(*args)
            return tape.gradient(again, args, output_gradients=upstream)

        return y, grad

    return wrapped


def zero_copy_batch(array):
    """A NumPy batch as the backend can take it without a copy.

    Under JAX, Keras hands each batch to `jax.device_put`, which copies a
    NumPy array (1.4 GB for a uint8 batch of 16 UCF11 clips of 1,492
    frames, and Keras holds the next batch too); a DLPack import aliases
    the array instead, which `device_put` then passes through on the CPU
    (and copies to an accelerator as before). Other backends take the
    array itself.
    """
    if keras.backend.backend() != "jax":
        return array
    import jax

    try:
        return jax.dlpack.from_dlpack(array)
    except (TypeError, ValueError, RuntimeError, BufferError):
        return array  # e.g. a layout DLPack cannot express


# The denormal warning is given once a process (`watch_denormals`).
_DENORMALS = {"warned": False, "probe": None}


def flushes_denormals():
    """Whether this thread's float unit flushes denormals to zero (torch:
    `torch.set_flush_denormal(True)`; it is per thread, and threads
    started afterwards inherit it). True off torch: XLA and TensorFlow
    flush in their own kernels."""
    if keras.backend.backend() != "torch":
        return True
    import torch

    if _DENORMALS["probe"] is None:  # the smallest denormal, bit for bit
        one = torch.ones(1, dtype=torch.int32)
        _DENORMALS["probe"] = one.view(torch.float32)
    return bool((_DENORMALS["probe"] * 1.0).item() == 0.0)


def watch_denormals(x, layer_name):
    """`x` itself, watched for denormal gradients on torch (CPU).

    torch does not flush denormal numbers to zero on the CPU (XLA and
    TensorFlow do), and a TT-RNN's recurrent gradients underflow to them
    when its gates saturate (raw pixels); every matmul of the backward
    pass then runs several times slower (the UCF11 TT-GRU step on 16 x
    256 frames: 7.3 s instead of 1.7). While denormals are not flushed,
    the gradient reaching `x` is checked (one pass over it), and the
    first denormal found warns once a process, naming the fix.
    """
    if (
        _DENORMALS["warned"]
        or keras.backend.backend() != "torch"
        or not getattr(x, "requires_grad", False)
        or x.device.type != "cpu"
    ):
        return x
    import torch

    if torch.compiler.is_compiling() or flushes_denormals():
        return x  # (a hook and `.item()` would break a compiled graph)

    tiny = torch.finfo(x.dtype).tiny

    def check(grad):
        if _DENORMALS["warned"]:
            return None
        magnitude = grad.detach().abs()
        if bool(((magnitude < tiny) & (magnitude > 0)).any()):
            _DENORMALS["warned"] = True
            warnings.warn(
                f"Denormal numbers in the gradients of layer {layer_name!r} "
                "slow this torch training step on the CPU (several times "
                "over). Call `torch.set_flush_denormal(True)` once before "
                "training, as `ttrnn experiment` does (JAX and TensorFlow "
                "flush denormals to zero by default); see docs/speed.md.",
                RuntimeWarning,
                stacklevel=2,
            )
        return None

    x.register_hook(check)
    return x

"""The one backend seam of `ttrnn.tt`: layout choices and plan timing.

The contraction itself is pure `keras.ops` on every backend (no custom
gradient has been measured to pay, see docs/speed.md). The seam holds
(1) which of two equivalent `keras.ops` formulations a backend
differentiates faster, where that was measured to matter, and (2) the
timing of plans for calibration, which must run a forward+backward pass
the way each backend runs it in training: eager on torch, `jax.jit` on
JAX, `tf.function` on TensorFlow.
"""

import time

import keras
import numpy as np


def transposed_first_gemm():
    """Whether the wide first GEMM of a sweep runs as core @ x^T.

    Measured on the UCF11 input map (x: 40960 x 360, core 64 x 360, one
    thread, forward+backward): torch differentiates core @ x^T about 2x
    faster than x @ core^T (its core gradient becomes g @ x, a
    non-transposed GEMM, instead of x^T @ g); XLA is about 1.7x faster
    the other way round, TensorFlow shows no clear difference.
    """
    return keras.backend.backend() == "torch"


class _TorchArrayOps:
    """The few `keras.ops` the chunked kernel uses, as direct torch calls.

    Each `keras.ops` call on torch costs ~15-20 us of Python (argument
    conversion, dtype resolution); the chunked kernel issues ~20 per
    chunk, which measured ~0.4 ms per chunk on case A of the benchmarks
    (1.5x the time of its GEMMs). Same signatures and semantics as the
    `keras.ops` functions of the same name, for tensors only.
    """

    def __init__(self):
        import torch

        self._torch = torch

    def matmul(self, a, b):
        return self._torch.matmul(a, b)

    def reshape(self, x, shape):
        return self._torch.reshape(x, shape)

    def transpose(self, x, axes=None):
        if axes is None:
            axes = tuple(range(x.ndim - 1, -1, -1))
        return self._torch.permute(x, axes)

    def sum(self, x, axis):
        return self._torch.sum(x, dim=axis)

    def concatenate(self, xs, axis=0):
        return self._torch.cat(xs, dim=axis)

    def broadcast_to(self, x, shape):
        return x.expand(shape)


_TORCH_OPS = []


def array_ops():
    """`keras.ops`, or on torch the same few ops without Keras' overhead.

    Used inside `keras.ops.custom_gradient` functions only, whose inputs
    are already backend tensors.
    """
    if keras.backend.backend() != "torch":
        return keras.ops
    if not _TORCH_OPS:
        _TORCH_OPS.append(_TorchArrayOps())
    return _TORCH_OPS[0]


def needs_gradient(x):
    """Whether autodiff will ask for the gradient of tensor `x`.

    Only torch can say so at trace time (`requires_grad`); JAX and
    TensorFlow prune a gradient nobody uses from the compiled graph, so
    there it is always computed.
    """
    if keras.backend.backend() == "torch":
        return bool(getattr(x, "requires_grad", True))
    return True


def dtype_itemsize(dtype):
    """Bytes per element of a dtype (any backend's or a name)."""
    dtype = str(dtype)
    for size, tag in ((2, "16"), (8, "64")):
        if tag in dtype:
            return size
    return 4


def itemsize(x):
    """Bytes per element of tensor `x` (4 when the dtype is unknown)."""
    return dtype_itemsize(getattr(x, "dtype", "float32"))


def in_symbolic_build():
    """Whether Keras is inferring shapes (placeholder tensors, no data)."""
    try:
        from keras.src.backend.common.symbolic_scope import in_symbolic_scope
    except ImportError:  # pragma: no cover - a future Keras layout
        return False
    return bool(in_symbolic_scope())


def _eager():
    """A context that runs ops eagerly even inside a trace being built.

    Plans are timed while the caller's function may be traced (`jax.jit`,
    `tf.function`, torch under `no_grad`); the timing must run for real.
    """
    import contextlib

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.ensure_compile_time_eval()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.init_scope()
    import torch

    stack = contextlib.ExitStack()
    stack.enter_context(torch.enable_grad())
    stack.enter_context(keras.device("cpu"))
    return stack


def _grad_fn(plan, cores_np, x_np):
    """A no-argument callable running forward+backward of `plan`."""
    from ttrnn.tt import ops as tt_ops

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        cores = [jax.numpy.asarray(c) for c in cores_np]
        x = jax.numpy.asarray(x_np)

        @jax.jit
        def step(cs, x_):
            # The loss too: a training step needs the forward's output.
            return jax.value_and_grad(
                lambda c: tt_ops.matmul(x_, c, plan).sum()
            )(cs)

        return lambda: jax.block_until_ready(step(cores, x))
    if backend == "tensorflow":
        import tensorflow as tf

        cores = [tf.Variable(c) for c in cores_np]
        x = tf.constant(x_np)

        @tf.function
        def step():
            # tf.gradients, not a GradientTape: `_eager()` may be an
            # init_scope, which pauses tapes.
            loss = tf.reduce_sum(tt_ops.matmul(x, cores, plan))
            return loss, tf.gradients(loss, cores)

        return lambda: [g.numpy() for g in step()[1]][:0]
    import torch

    cores = [torch.tensor(c, requires_grad=True) for c in cores_np]
    x = torch.tensor(x_np)

    def run():
        for c in cores:
            c.grad = None
        tt_ops.matmul(x, cores, plan).sum().backward()

    return run


def time_plans(plans, in_shape, out_shape, ranks, batch, repeats=3):
    """Median seconds of forward+backward of each plan, runs interleaved.

    Args:
        plans: list of `ttrnn.tt.planner.Plan`.
        in_shape, out_shape, ranks: the TT-matrix.
        batch: rows of x.
        repeats: timed runs per plan (after one warm-up run).

    Returns:
        List of floats (seconds), one per plan.
    """
    rng = np.random.default_rng(0)
    cores = [
        rng.standard_normal((ranks[k], m, n, ranks[k + 1])).astype("float32")
        for k, (m, n) in enumerate(zip(in_shape, out_shape))
    ]
    x = rng.standard_normal((batch, int(np.prod(in_shape)))).astype("float32")
    with _eager():
        fns = [_grad_fn(p, cores, x) for p in plans]
        for fn in fns:
            fn()
        times = [[] for _ in fns]
        for _ in range(repeats):
            for i, fn in enumerate(fns):
                start = time.perf_counter()
                fn()
                times[i].append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def remat_time_chunks(fn, x, chunk, args):
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

    Returns:
        (batch, steps, features) tensor.
    """
    remat = (
        _tf_remat if keras.backend.backend() == "tensorflow" else keras.remat
    )
    steps = int(x.shape[1])
    if chunk >= steps:
        return remat(lambda *a: fn(x, *a))(*args)
    full = steps // chunk
    if keras.backend.backend() == "jax":
        import jax

        body = jax.checkpoint(
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


def remat_dynamic_time_chunks(fn, x, values, features, dtype, args):
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
        return _tf_recompute(lambda *a: fn(x[:, start : start + size], *a))(
            *args
        )

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


def _tf_remat(f):
    """`f` with its forward recomputed in the backward pass (TensorFlow)."""
    import tensorflow as tf

    # Read variables into tensors first: a tf.custom_gradient function
    # that reads variables itself must also differentiate them.
    wrapped = _tf_recompute(f)
    return lambda *args: wrapped(*[tf.identity(a) for a in args])


def _tf_recompute(f):
    """`_tf_remat` for arguments that are tensors already."""
    import tensorflow as tf

    @tf.custom_gradient
    def wrapped(*args):
        def grad(upstream):
            with tf.GradientTape() as tape:
                tape.watch(args)
                again = f(*args)
            return tape.gradient(again, args, output_gradients=upstream)

        return f(*args), grad

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

"""y = cast(x) @ w for integer rows x (uint8 video frames), in pieces.

The first step of a sweep that reads x as it lies (`execute.sweep`) is
one GEMM over all of x; for the TT-GRU of UCF11 it is 95 % of the input
map's multiply-adds. Fed integer frames, `matmul` below casts x one
piece of rows at a time (never the whole x) and differentiates w only:
its backward pass is dw = sum over pieces cast(x_p)^T @ g_p, and it keeps
nothing but x itself (no copy) and w. So the map's first GEMM is neither
stored as floats nor recomputed, as a rematerialised map would be.

The pieces run in each backend's own loop: a `lax.scan` on JAX (one
piece body in the compiled graph, whatever the sequence length; pieces
of `runtime.JAX_INTEGER_PIECE_VALUES` inside the TT-RNNs' rematerialised
chunks, a `jax.custom_vjp` whose backward casts each piece again), a
`tf.while_loop` on TensorFlow (the row count may be unknown when the
graph is built) and, on torch (eager), a `torch.autograd.Function`
(`_torch_cast_matmul`) whose pieces are cast into one reused buffer that
stays in the CPU's cache, the GEMM writing its rows of a preallocated
output and the backward adding each piece's product in place.
"""

import functools
import threading

import keras
from keras import ops

from ttrnn.tt.contraction import precision as precision_
from ttrnn.tt.contraction import runtime

# Float values of x one piece of rows casts at a time (16 MiB in
# float32), as `ttrnn.backends.MAX_INTEGER_CHUNK_VALUES`.
PIECE_VALUES = 2**22
# On torch, at most this many (1 MiB in float32): each piece is cast into
# the same buffer, which then stays in the L2 cache for its GEMM (a fresh
# 16 MiB piece page-faults: its cast took 6 ms, 0.9 into a reused buffer).
# The paper TT-GRU's map of 16 x 64 uint8 frames, forward and backward,
# one thread, process CPU time (medians of 7, load 6): 364 ms in fresh
# 2**22-value pieces, 261 in cached pieces of 2**18 values (2**16: 286,
# 2**17: 264, 2**20: 276).
TORCH_PIECE_VALUES = 2**18


def is_integer(x):
    """Whether tensor `x` holds integers (e.g. uint8 frames)."""
    return "int" in keras.backend.standardize_dtype(x.dtype)


def matmul(x, w, precision="float32"):
    """cast(x) @ w for an integer x, without a float copy of x.

    Args:
        x: (rows, k) integer tensor (rows may be unknown on TensorFlow);
            it gets no gradient.
        w: (k, n) float tensor (not a variable), differentiated.
        precision: of the products, forward and backward
            (`ttrnn.tt.contraction.precision`): "bfloat16" casts the
            pieces to bfloat16 (exact for uint8) and rounds w and the
            gradient.

    Returns:
        (rows, n) tensor in w's dtype.
    """
    k = int(w.shape[0])
    if keras.backend.backend() == "torch":
        piece = max(1, min(PIECE_VALUES, TORCH_PIECE_VALUES) // k)
        return _torch_cast_matmul().apply(x, w, piece, precision)
    piece = max(1, PIECE_VALUES // k)
    if runtime.integer_cast_in_first_gemm():
        piece = max(1, runtime.JAX_INTEGER_PIECE_VALUES // k)
    low = precision_.is_low(precision)
    dtype = "bfloat16" if low else w.dtype

    def product(a, b):
        return precision_.matmul(a, b, precision)

    def forward(xp, w):
        return product(ops.cast(xp, dtype), w)

    if runtime.transposed_first_gemm():

        def weight_grad(xp, gp):
            # (n, rows) @ (rows, k), transposed at the end: the operand
            # order torch runs fastest (`runtime.transposed_first_gemm`).
            return product(ops.transpose(gp), ops.cast(xp, dtype))

        def finish(total):
            return ops.transpose(total)
    else:

        def weight_grad(xp, gp):
            return product(ops.transpose(ops.cast(xp, dtype)), gp)

        def finish(total):
            return total

    if keras.backend.backend() == "jax":
        # x an argument, not closed over: a rematerialised chunk's
        # backward must not see its forward's tracer of x.
        y = _jax_cast_matmul(piece, forward, weight_grad, finish)(x, w)
        return runtime.name_first_gemm(y)

    @ops.custom_gradient
    def run(w):
        y = _map_pieces(lambda xp: forward(xp, w), x, piece, w)

        def grad(*args, upstream=None):
            if upstream is None:  # JAX and TensorFlow call grad(upstream)
                (upstream,) = args
            return finish(_sum_pieces(weight_grad, x, upstream, piece))

        return y, grad

    return run(w)


def _jax_cast_matmul(piece, piece_product, weight_grad, finish):
    """cast(x) @ w as a `jax.custom_vjp` of (x, w): pieces of `piece`
    rows in a `lax.scan`, forward (y_p = piece_product(x_p, w)) and
    backward (dw = finish(sum over pieces weight_grad(x_p, g_p)))."""
    import jax

    @jax.custom_vjp
    def cast_matmul(x, w):
        return _map_pieces(lambda xp: piece_product(xp, w), x, piece, w)

    def forward(x, w):
        return cast_matmul(x, w), x

    def backward(x, g):
        return None, finish(_sum_pieces(weight_grad, x, g, piece))

    cast_matmul.defvjp(forward, backward)
    return cast_matmul


@functools.cache
def _torch_cast_matmul():
    """cast(x) @ w as a `torch.autograd.Function` (built on first use, so
    that torch is imported only when it runs)."""
    import torch

    class CastMatmul(torch.autograd.Function):
        """y = cast(x) @ w in pieces cast into a reused buffer, each
        GEMM writing its rows of y; dw = (sum over pieces g_p^T
        cast(x_p))^T, the operand order torch runs fastest
        (`runtime.transposed_first_gemm`), added up in place."""

        @staticmethod
        def forward(ctx, x, w, piece, precision):
            ctx.save_for_backward(x, w)
            ctx.piece = piece
            ctx.low = precision_.is_low(precision)
            y = w.new_empty((x.shape[0], w.shape[1]))
            if ctx.low:  # bfloat16 GEMMs (oneDNN's AMX kernels)
                w16 = w.to(torch.bfloat16)
                for start, xp in _torch_pieces(x, piece, w16):
                    y[start : start + xp.shape[0]] = torch.mm(xp, w16)
                return y
            for start, xp in _torch_pieces(x, piece, w):
                torch.mm(xp, w, out=y[start : start + xp.shape[0]])
            return y

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            total = w.new_zeros((w.shape[1], w.shape[0]))
            kind = torch.bfloat16 if ctx.low else w.dtype
            for start, xp in _torch_pieces(x, ctx.piece, w.to(kind)):
                gp = g[start : start + xp.shape[0]].t().to(kind)
                if ctx.low:
                    total += torch.mm(gp, xp)
                else:
                    total.addmm_(gp, xp)
            return None, total.t(), None, None

    return CastMatmul


_SCRATCH = threading.local()


def _torch_pieces(x, piece, w):
    """(start, cast(x[start : start + piece])) over the rows of x, each
    cast into the same buffer of this thread (valid until the next)."""
    import torch

    rows, k = x.shape
    size = min(piece, rows) * k
    buffer = getattr(_SCRATCH, "buffer", None)
    if (
        buffer is None
        or buffer.numel() < size
        or buffer.dtype != w.dtype
        or buffer.device != w.device
    ):
        buffer = torch.empty(size, dtype=w.dtype, device=w.device)
        _SCRATCH.buffer = buffer
    for start in range(0, rows, piece):
        xp = x[start : start + piece]
        out = buffer[: xp.shape[0] * k].view(xp.shape[0], k)
        yield start, out.copy_(xp)


def _map_pieces(f, x, piece, w):
    """concatenate([f(x[s : s + piece]) ...]) over the rows of x."""
    backend = keras.backend.backend()
    rows = x.shape[0]
    if backend == "tensorflow":
        return _tf_map(f, x, piece, int(w.shape[1]), w.dtype)
    rows = int(rows)
    if rows <= piece:
        return f(x)
    full = rows // piece
    if backend == "jax":
        import jax

        def body(carry, start):
            xp = jax.lax.dynamic_slice_in_dim(x, start, piece, axis=0)
            return carry, f(xp)

        _, ys = jax.lax.scan(body, 0, jax.numpy.arange(full) * piece)
        parts = [ops.reshape(ys, (full * piece, ys.shape[-1]))]
    else:
        parts = [f(x[s : s + piece]) for s in range(0, full * piece, piece)]
    if full * piece < rows:
        parts.append(f(x[full * piece :]))
    return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=0)


def _sum_pieces(f, x, g, piece):
    """sum of f(x[s : s + piece], g[s : s + piece]) over the rows."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tf_sum(f, x, g, piece)
    rows = int(x.shape[0])
    if rows <= piece:
        return f(x, g)
    full = rows // piece
    if backend == "jax":
        import jax

        def body(total, start):
            xp = jax.lax.dynamic_slice_in_dim(x, start, piece, axis=0)
            gp = jax.lax.dynamic_slice_in_dim(g, start, piece, axis=0)
            return total + f(xp, gp), None

        first = f(x[:piece], g[:piece])
        starts = jax.numpy.arange(1, full) * piece
        total, _ = jax.lax.scan(body, first, starts)
    else:
        total = f(x[:piece], g[:piece])
        for s in range(piece, full * piece, piece):
            total = total + f(x[s : s + piece], g[s : s + piece])
    if full * piece < rows:
        total = total + f(x[full * piece :], g[full * piece :])
    return total


def _tf_map(f, x, piece, width, dtype):
    import tensorflow as tf

    rows = tf.shape(x)[0]
    count = (rows + piece - 1) // piece
    parts = tf.TensorArray(
        dtype, size=count, infer_shape=False, element_shape=[None, width]
    )

    def body(i, parts):
        return i + 1, parts.write(i, f(x[i * piece : (i + 1) * piece]))

    _, parts = tf.while_loop(lambda i, _: i < count, body, [0, parts])
    y = tf.cond(count > 0, parts.concat, lambda: tf.zeros([0, width], dtype))
    return tf.ensure_shape(y, [x.shape[0], width])


def _tf_sum(f, x, g, piece):
    import tensorflow as tf

    rows = tf.shape(x)[0]
    count = (rows + piece - 1) // piece
    total = tf.zeros(tf.shape(f(x[:0], g[:0])), g.dtype)

    def body(i, total):
        part = slice(i * piece, (i + 1) * piece)
        return i + 1, total + f(x[part], g[part])

    _, total = tf.while_loop(lambda i, _: i < count, body, [0, total])
    return total

"""The precision of the product that reads a TT layer's inputs.

A TT-matrix map's first GEMM reads all of x (for the TT-GRU of UCF11,
95 % of its multiply-adds); the rest of the map works on states many
times smaller. With `input_precision="bfloat16"` that GEMM, forward and
backward, multiplies bfloat16 operands (x and the core it meets, rounded
to bfloat16) and accumulates in float32: on CPUs with AMX or
AVX512_BF16 the backends' bfloat16 GEMMs run 4-9x faster than float32
(`benchmarks/bench_bf16.py`). uint8 video frames are exact in bfloat16
(integers up to 256 are), so only the core and the gradient are rounded.
Every other product, the recurrence and the variables stay float32.

The output is float32 on JAX (XLA's `preferred_element_type`, whose
bfloat16 x bfloat16 -> float32 dot runs on XNNPACK's AMX kernels); torch
and TensorFlow have no such CPU kernel, so their bfloat16 GEMM's output
is rounded to bfloat16 before it is cast back.
"""

import functools

import keras
from keras import ops

PRECISIONS = ("float32", "bfloat16")


def validate(precision, error=ValueError):
    """`precision` if it is one of `PRECISIONS`, else `error`."""
    if precision not in PRECISIONS:
        raise error(
            f"`input_precision` must be one of {PRECISIONS}. "
            f"Received: input_precision={precision!r}"
        )
    return precision


def is_low(precision):
    """Whether `precision` asks for bfloat16 products."""
    return precision == "bfloat16"


def matmul(a, b, precision="float32"):
    """a @ b (2-D), in `precision`: "float32" is `ops.matmul`;
    "bfloat16" rounds a and b to bfloat16, multiplies them with float32
    accumulation and returns float32 (integer a is cast exactly)."""
    if not is_low(precision):
        return ops.matmul(a, b)
    if keras.backend.backend() == "jax":
        # float operands enter as they are: their gradients stay float32
        a = a if _is_float(a) else ops.cast(a, "bfloat16")
        b = b if _is_float(b) else ops.cast(b, "bfloat16")
        return _jax_bf16_matmul()(a, b)
    a = ops.cast(a, "bfloat16")
    b = ops.cast(b, "bfloat16")
    return ops.cast(ops.matmul(a, b), "float32")


def _is_float(x):
    return "float" in keras.backend.standardize_dtype(x.dtype)


@functools.cache
def _jax_bf16_matmul():
    """(a @ b) of a and b rounded to bfloat16, float32 out, as a
    `jax.custom_vjp`, so that the backward's two GEMMs also take bfloat16
    operands (JAX's own rule would multiply the float32 cotangent with a
    bfloat16 operand, which XLA runs as a float32 GEMM) and the
    gradients keep a's and b's dtypes."""
    import jax
    import jax.numpy as jnp

    def product(a, b):
        return jnp.matmul(
            a.astype(jnp.bfloat16),
            b.astype(jnp.bfloat16),
            preferred_element_type=jnp.float32,
        )

    @jax.custom_vjp
    def bf16_matmul(a, b):
        return product(a, b)

    def forward(a, b):
        return product(a, b), (a, b)

    def backward(saved, g):
        a, b = saved
        # XLA drops the first where a needs no gradient (cast frames).
        da = product(g, b.T).astype(a.dtype)
        db = product(a.T, g).astype(b.dtype)
        return da, db

    bf16_matmul.defvjp(forward, backward)
    return bf16_matmul


def takes_jax_gemm(integer, small):
    """Whether a sweep's first GEMM in bfloat16 runs as
    `jax_batch_last_gemm` (on JAX, whose bfloat16 GEMM needs row-major
    operands, which the generic path's transposes do not give): for
    float x, and for integer x small enough to be cast whole (`small`:
    a TT-RNN's time chunk; larger integer x is cast in pieces by
    `integer.matmul`)."""
    return keras.backend.backend() == "jax" and (small or not integer)


def jax_batch_last_gemm(x2, core, outer, outer_major):
    """A sweep's first GEMM on JAX in bfloat16, with its reorder to the
    batch-last state: x2 (B, M_<k m) @ core (r, m, n, 1) ->
    (M_<k, r n, B), float32.

    XLA's bfloat16 GEMM runs on AMX only with both operands row-major
    (any operand it sees transposed, it multiplies in float32, 3-4x
    slower than float32 itself): the core enters as (m, r n), and the
    backward takes the state's gradient to (r n, B M_<k) row-major, so
    the core's gradient is one plain (r n, rows) @ (rows, m) GEMM.

    Args:
        x2: (B, M_<k * m) uint8 frames or floats (differentiated; XLA
            drops that gradient where nothing needs it).
        core: the last (merged) core, float32, (r, m, n, 1).
        outer: M_<k.
        outer_major: whether x2's rows are reordered (M_<k, B, m) before
            the GEMM (`runtime.outer_major_first_gemm`), else taken as
            they lie, (B, M_<k, m).
    """
    core = ops.convert_to_tensor(core)
    r, m, n, _ = (int(s) for s in core.shape)
    x2 = ops.convert_to_tensor(x2)
    x_dtype = keras.backend.standardize_dtype(x2.dtype)
    gemm = _jax_state_gemm(outer, m, r * n, bool(outer_major), x_dtype)
    return gemm(x2, core)


@functools.cache
def _jax_state_gemm(outer, m, width, outer_major, x_dtype):
    import jax
    import jax.numpy as jnp

    def rows_of(x2):
        if outer_major:
            x2 = jnp.swapaxes(jnp.reshape(x2, (-1, outer, m)), 0, 1)
        return jnp.reshape(x2, (-1, m)).astype(jnp.bfloat16)

    def to_state(y):
        if outer_major:  # (M_<k, B, r n) -> (M_<k, r n, B)
            return jnp.swapaxes(jnp.reshape(y, (outer, -1, width)), 1, 2)
        # (B, M_<k, r n) -> (M_<k, r n, B)
        return jnp.transpose(jnp.reshape(y, (-1, outer, width)), (1, 2, 0))

    def to_rows_t(state):  # the inverse of to_state, (r n, rows)
        perm = (1, 0, 2) if outer_major else (1, 2, 0)
        return jnp.reshape(jnp.transpose(state, perm), (width, -1))

    def core_km(core):  # (r, m, n, 1) -> (m, r n)
        return jnp.reshape(jnp.transpose(core, (1, 0, 2, 3)), (m, width))

    def forward(x2, core):
        rows = rows_of(x2)
        w = core_km(core).astype(jnp.bfloat16)
        y = jnp.matmul(rows, w, preferred_element_type=jnp.float32)
        return to_state(y), (rows, w, core)

    @jax.custom_vjp
    def state_gemm(x2, core):
        return forward(x2, core)[0]

    def backward(saved, g):
        rows, w, core = saved
        g_t = to_rows_t(g).astype(jnp.bfloat16)
        dw_t = jnp.matmul(g_t, rows, preferred_element_type=jnp.float32)
        r = core.shape[0]
        dcore = jnp.reshape(dw_t, (r, core.shape[2], m, 1))
        dcore = jnp.transpose(dcore, (0, 2, 1, 3)).astype(core.dtype)
        if "float" not in x_dtype:
            return None, dcore
        # (rows, m) = g_rows @ w^T, back in x2's order
        dx = jnp.matmul(g_t.T, w.T, preferred_element_type=jnp.float32)
        if outer_major:
            dx = jnp.swapaxes(jnp.reshape(dx, (outer, -1, m)), 0, 1)
        return jnp.reshape(dx, (-1, outer * m)).astype(x_dtype), dcore

    state_gemm.defvjp(forward, backward)
    return state_gemm

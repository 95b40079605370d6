"""Runs one plan: y = x2 @ W for a 2-D x2, in `keras.ops`.

`run_plan` merges each group of cores, then sweeps the merged cores
(`sweep`), hands two-group "chunked" plans to `chunked`, or rebuilds W
for the dense plan. Which plan to run is chosen in `contract`.
"""

import functools
import math

from keras import ops

from ttrnn.tt.contraction import chunked
from ttrnn.tt.contraction import integer
from ttrnn.tt.contraction import kernels
from ttrnn.tt.contraction import precision as precision_
from ttrnn.tt.contraction import runtime
from ttrnn.tt.cores import static_shape
from ttrnn.tt.cores import to_dense


def _merge(cores):
    """Merges neighbouring cores into one (r_a, prod m, prod n, r_b) core."""
    return kernels.merge_cores(ops, cores)[0]


def _shared_matmul(left, state, batch):
    """(a, b) @ (P, b, Q) -> (P, a, Q); see `kernels.shared_matmul`."""
    return kernels.shared_matmul(ops, left, state, batch)


def _x_as_it_lies(last_core_shape):
    """Whether an "rtl"/"batch_last" sweep starts on x untransposed.

    True when the last core's output (r n per m inputs) is no bigger than
    x: reordering that output is then cheaper than transposing x.
    """
    r, m, n, _ = last_core_shape
    return r * n <= m


def reads_integers(cores, plan):
    """Whether `run_plan` takes integer x (uint8 frames) as it lies: the
    plan starts with one plain GEMM on x (an "rtl"/"batch_last" sweep
    whose last merged core shrinks x), run by `integer.matmul` without a
    float copy of x; other plans cast x to float first.

    Args:
        cores: the d cores (or their shapes) the plan runs on.
        plan: a `Plan` whose groups sum to d.
    """
    if plan.is_dense or plan.layout != "batch_last" or plan.direction != "rtl":
        return False
    shapes_ = [static_shape(c) for c in cores]
    group = shapes_[len(shapes_) - plan.groups[-1] :]
    m, n = math.prod(s[1] for s in group), math.prod(s[2] for s in group)
    return _x_as_it_lies((group[0][0], m, n, group[-1][3]))


def _outer_major(x2):
    """Whether integer x2 is cast whole, its rows reordered outer-first
    (`runtime.outer_major_first_gemm`): only up to one piece's values
    (a TT-RNN's time chunk), so no float copy of a larger x is made."""
    size = math.prod(x2.shape) if None not in x2.shape else None
    return (
        runtime.outer_major_first_gemm()
        and size is not None
        and size <= integer.PIECE_VALUES
    )


def _transposed_core(core, shape):
    """(r, m, n, r') -> (m r', r n): an "rtl" step's core for a GEMM."""
    return ops.reshape(ops.transpose(core, (1, 3, 0, 2)), shape)


def _step(state, core, gemm, width, outer, inner, last):
    """One step of `sweep`: contracts the state's `width` (w = r m, or
    m r' from the right) axis with `core` (out, w), the shared left operand;
    `gemm()` is the core as the (w, out) right operand of a plain GEMM.

    Batch last: (outer, w, rest B) -> (outer, out, rest B). Batch first:
    (B outer, w, inner) -> (B outer, out, inner), one GEMM when inner is 1.
    """
    if last:
        state = ops.reshape(state, (outer, width, -1))
        return _shared_matmul(core, state, outer)
    if inner == 1:
        return ops.matmul(ops.reshape(state, (-1, width)), gemm())
    # the batch size may be dynamic: let reshape infer it
    state = ops.reshape(state, (-1, width, inner))
    return _shared_matmul(core, state, state.shape[0])


def sweep(x2, cores, plan, precision="float32"):
    """x2 (B, M) @ W along a sweep over (merged) cores, no transposes.

    Core-by-core from the left ("ltr") the state after step k is
    (B, N_<=k, r_{k+1}, M_>k) for "batch_first" and
    (N_<=k, r_{k+1}, M_>k, B) for "batch_last"; from the right ("rtl") it
    is (B, M_<k, r_k, N_>=k) or (M_<k, r_k, N_>=k, B). Each step is one
    (batched) GEMM with the core as the shared left operand.

    "rtl" with "batch_last" does not transpose x when the last core
    shrinks it (r n <= m): its first step is then one plain GEMM on x as
    it lies (transposes are operand flags of the GEMM) and only its
    output is reordered to the batch-last state (M_<k, r n, B). For
    tall-skinny inputs (few rows, wide x, as in the input map of a
    TT-RNN) this step, which touches all of x, sets the
    speed; which operand order differentiates faster depends on the
    backend (`runtime.transposed_first_gemm`). That GEMM, forward and
    backward, runs in `precision` (`ttrnn.tt.contraction.precision`).
    """
    shapes_ = [static_shape(c) for c in cores]
    ms = [s[1] for s in shapes_]
    ns = [s[2] for s in shapes_]
    g = len(cores)
    last = plan.layout == "batch_last"
    if last and plan.direction == "rtl" and _x_as_it_lies(shapes_[-1]):
        r, m, n, _ = shapes_[-1]
        outer = math.prod(ms[:-1])
        core_m = ops.reshape(ops.transpose(cores[-1], (0, 2, 1, 3)), (r * n, m))
        rows = ops.reshape(x2, (-1, m))  # (B M_<k, m), no copy
        if precision_.is_low(precision) and precision_.takes_jax_gemm(
            integer.is_integer(rows), _outer_major(x2)
        ):
            state = runtime.name_first_gemm(
                precision_.jax_batch_last_gemm(
                    x2, cores[-1], outer, integer.is_integer(rows)
                )
            )
        elif integer.is_integer(rows) and _outer_major(x2):
            # (B, M_<k, m) -> (M_<k, B, m), cast: rows of m values move
            # whole; @ (m, r n) -> (M_<k, B, r n) -> (M_<k, r n, B).
            rows = ops.transpose(ops.reshape(x2, (-1, outer, m)), (1, 0, 2))
            # (float32 only: JAX's bfloat16 takes the branch above)
            rows = ops.cast(ops.reshape(rows, (-1, m)), core_m.dtype)
            state = runtime.name_first_gemm(
                ops.matmul(rows, ops.transpose(core_m))
            )
            state = ops.reshape(state, (outer, -1, r * n))
            state = ops.transpose(state, (0, 2, 1))
        elif integer.is_integer(rows):
            # uint8 frames: cast piece by piece, w's gradient only.
            state = integer.matmul(rows, ops.transpose(core_m), precision)
            state = ops.reshape(state, (-1, outer, r * n))
            state = ops.transpose(state, (1, 2, 0))
        elif runtime.transposed_first_gemm():
            # (r n, m) @ (m, B M_<k) -> (r n, B, M_<k) -> (M_<k, r n, B)
            state = precision_.matmul(core_m, ops.transpose(rows), precision)
            state = ops.reshape(state, (r * n, -1, outer))
            state = ops.transpose(state, (2, 0, 1))
        else:
            # (B M_<k, m) @ (m, r n) -> (B, M_<k, r n) -> (M_<k, r n, B)
            state = runtime.first_gemm(rows, ops.transpose(core_m), precision)
            state = ops.reshape(state, (-1, outer, r * n))
            state = ops.transpose(state, (1, 2, 0))
        first = g - 2  # the last core is done
    else:
        state = ops.transpose(x2) if last else x2
        first = g - 1
    if plan.direction == "ltr":
        for k in range(g):
            r, m, n, r_next = shapes_[k]
            outer, inner = math.prod(ns[:k]), math.prod(ms[k + 1 :])
            # (n r', r m): contracts (r_k, m_k) of the state.
            core_t = ops.transpose(ops.reshape(cores[k], (r * m, n * r_next)))
            gemm = functools.partial(ops.reshape, cores[k], (r * m, n * r_next))
            state = _step(state, core_t, gemm, r * m, outer, inner, last)
    else:
        for k in range(first, -1, -1):
            r, m, n, r_next = shapes_[k]
            outer, inner = math.prod(ms[:k]), math.prod(ns[k + 1 :])
            # (r n, m r'): contracts (m_k, r_{k+1}) of the state.
            core_m = ops.reshape(
                ops.transpose(cores[k], (0, 2, 1, 3)), (r * n, m * r_next)
            )
            gemm = functools.partial(
                _transposed_core, cores[k], (m * r_next, r * n)
            )
            state = _step(state, core_m, gemm, m * r_next, outer, inner, last)
    num_out = math.prod(ns)
    if last:
        return ops.transpose(ops.reshape(state, (num_out, -1)))
    return ops.reshape(state, (-1, num_out))


def run_plan(x2, cores, plan, precision="float32"):
    """x2 (B, M) @ W by `plan` (a `Plan` whose groups sum to d).

    An integer x2 is cast to the cores' dtype, except by the plans that
    read it as it lies (`reads_integers`). In "bfloat16" `precision`, a
    sweep that starts with one GEMM on x runs that GEMM in bfloat16
    (`precision`); every other plan then runs in bfloat16 throughout,
    x and cores rounded, its output cast back to the cores' dtype.
    """
    if precision_.is_low(precision) and not reads_integers(cores, plan):
        dtype = cores[0].dtype
        x2 = ops.cast(x2, "bfloat16")
        cores = [ops.cast(c, "bfloat16") for c in cores]
        return ops.cast(run_plan(x2, cores, plan), dtype)
    if integer.is_integer(x2) and not reads_integers(cores, plan):
        x2 = ops.cast(x2, cores[0].dtype)
    if plan.is_dense:
        return ops.matmul(x2, to_dense(cores))
    if plan.layout == "chunked":  # merges its groups itself
        k = plan.groups[0]
        return chunked.two_step_matmul(x2, cores[:k], cores[k:], plan.direction)
    merged, start = [], 0
    for size in plan.groups:
        group = cores[start : start + size]
        merged.append(group[0] if size == 1 else _merge(group))
        start += size
    return sweep(x2, merged, plan, precision)

"""Runs one plan: y = x2 @ W for a 2-D x2, in `keras.ops`.

`run_plan` merges each group of cores, then sweeps the merged cores
(`sweep`), hands two-group "chunked" plans to `chunked`, or rebuilds W
for the dense plan. Which plan to run is chosen in `contract`.
"""

import math

from keras import ops

from ttrnn.tt.contraction import chunked
from ttrnn.tt.contraction import kernels
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


def sweep(x2, cores, plan):
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
    backend (`runtime.transposed_first_gemm`).
    """
    shapes_ = [static_shape(c) for c in cores]
    ms = [s[1] for s in shapes_]
    ns = [s[2] for s in shapes_]
    g = len(cores)
    last = plan.layout == "batch_last"
    batch = -1  # the batch size may be dynamic: let reshape infer it
    if last and plan.direction == "rtl" and _x_as_it_lies(shapes_[-1]):
        r, m, n, _ = shapes_[-1]
        outer = math.prod(ms[:-1])
        core_m = ops.reshape(ops.transpose(cores[-1], (0, 2, 1, 3)), (r * n, m))
        rows = ops.reshape(x2, (-1, m))  # (B M_<k, m), no copy
        if runtime.transposed_first_gemm():
            # (r n, m) @ (m, B M_<k) -> (r n, B, M_<k) -> (M_<k, r n, B)
            state = ops.matmul(core_m, ops.transpose(rows))
            state = ops.reshape(state, (r * n, -1, outer))
            state = ops.transpose(state, (2, 0, 1))
        else:
            # (B M_<k, m) @ (m, r n) -> (B, M_<k, r n) -> (M_<k, r n, B)
            state = ops.matmul(rows, ops.transpose(core_m))
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
            if last:
                # (N_<k, r m, M_>k B) -> (N_<k, n r', M_>k B)
                state = ops.reshape(state, (outer, r * m, -1))
                state = _shared_matmul(core_t, state, outer)
            elif inner == 1:
                # (B N_<k, r m) @ (r m, n r'): a plain GEMM.
                state = ops.matmul(
                    ops.reshape(state, (-1, r * m)),
                    ops.reshape(cores[k], (r * m, n * r_next)),
                )
            else:
                # (B N_<k, r m, M_>k) -> (B N_<k, n r', M_>k)
                state = ops.reshape(state, (batch, r * m, inner))
                state = _shared_matmul(core_t, state, state.shape[0])
    else:
        for k in range(first, -1, -1):
            r, m, n, r_next = shapes_[k]
            outer, inner = math.prod(ms[:k]), math.prod(ns[k + 1 :])
            # (r n, m r'): contracts (m_k, r_{k+1}) of the state.
            core_m = ops.reshape(
                ops.transpose(cores[k], (0, 2, 1, 3)), (r * n, m * r_next)
            )
            if last:
                # (M_<k, m r', N_>k B) -> (M_<k, r n, N_>k B)
                state = ops.reshape(state, (outer, m * r_next, -1))
                state = _shared_matmul(core_m, state, outer)
            elif inner == 1:
                # (B M_<k, m r') @ (m r', r n): a plain GEMM.
                state = ops.matmul(
                    ops.reshape(state, (-1, m * r_next)),
                    ops.reshape(
                        ops.transpose(cores[k], (1, 3, 0, 2)),
                        (m * r_next, r * n),
                    ),
                )
            else:
                # (B M_<k, m r', N_>k) -> (B M_<k, r n, N_>k)
                state = ops.reshape(state, (batch, m * r_next, inner))
                state = _shared_matmul(core_m, state, state.shape[0])
    num_out = math.prod(ns)
    if last:
        return ops.transpose(ops.reshape(state, (num_out, -1)))
    return ops.reshape(state, (-1, num_out))


def run_plan(x2, cores, plan):
    """x2 (B, M) @ W by `plan` (a `Plan` whose groups sum to d)."""
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
    return sweep(x2, merged, plan)

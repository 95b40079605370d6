"""Backend-neutral TT-matrix operations (`keras.ops` only).

Cores are tensors or variables of shape (r_k, m_k, n_k, r_{k+1}); the
TT-matrix W they represent has shape (prod m_k, prod n_k) with rows and
columns flattened in C order (i_0 and j_0 slowest).
"""

import math

from keras import ops

from ttrnn.tt import _backend
from ttrnn.tt import _kernels
from ttrnn.tt import chunked
from ttrnn.tt import planner
from ttrnn.tt import shapes

# "auto": least modelled time (see `ttrnn.tt.planner`); "measure": the
# fastest of the best few plans, timed once per shape; "flops": fewest
# multiply-adds over every plan; "ltr" / "rtl": core by core from the
# first / last core; "dense": rebuild W, then one GEMM.
STRATEGIES = ("auto", "measure", "flops", "ltr", "rtl", "dense")

# Batch size assumed when planning a contraction whose batch is not known
# when the graph is built (e.g. a symbolic `None` batch).
DEFAULT_PLANNING_BATCH = planner.DEFAULT_PLANNING_BATCH


def _static_shape(core):
    return tuple(int(s) for s in core.shape)


def cores_modes(cores):
    """Returns (tt_input_shape, tt_output_shape, tt_ranks) of a core list.

    Raises:
        ValueError: if the cores are not 4-D or their ranks do not chain.
    """
    if len(cores) == 0:
        raise ValueError("`cores` must hold at least one core. Received: []")
    in_shape, out_shape, ranks = [], [], [1]
    for k, core in enumerate(cores):
        shape = _static_shape(core)
        if len(shape) != 4:
            raise ValueError(
                f"Every core must be 4-D (r_k, m_k, n_k, r_k+1). "
                f"Received: cores[{k}] of shape {shape}"
            )
        if shape[0] != ranks[-1]:
            raise ValueError(
                f"cores[{k}] has left rank {shape[0]} but the previous "
                f"core's right rank (or r_0 = 1) is {ranks[-1]}. "
                f"Received shapes: {[_static_shape(c) for c in cores]}"
            )
        in_shape.append(shape[1])
        out_shape.append(shape[2])
        ranks.append(shape[3])
    if ranks[-1] != 1:
        raise ValueError(
            f"The last core must have right rank 1. "
            f"Received: cores[-1] of shape {_static_shape(cores[-1])}"
        )
    return tuple(in_shape), tuple(out_shape), tuple(ranks)


def to_dense(cores):
    """Rebuilds the full matrix W of shape (prod m_k, prod n_k).

    Complexity: sum_k (M_{<k} N_{<k}) r_k m_k n_k r_{k+1} multiply-adds.

    Args:
        cores: list of d tensors of shape (r_k, m_k, n_k, r_{k+1}).

    Returns:
        Tensor of shape (prod m_k, prod n_k).
    """
    in_shape, out_shape, ranks = cores_modes(cores)
    res = ops.reshape(cores[0], (in_shape[0], out_shape[0], ranks[1]))
    rows, cols = in_shape[0], out_shape[0]
    for k in range(1, len(cores)):
        r, m, n, r_next = ranks[k], in_shape[k], out_shape[k], ranks[k + 1]
        # (rows*cols, r) @ (r, m*n*r') -> (rows, cols, m, n*r')
        res = ops.matmul(
            ops.reshape(res, (rows * cols, r)),
            ops.reshape(cores[k], (r, m * n * r_next)),
        )
        res = ops.reshape(res, (rows, cols, m, n * r_next))
        # -> (rows, m, cols, n*r'): row index (i_<k, i_k), col (j_<k, j_k)
        res = ops.transpose(res, (0, 2, 1, 3))
        rows, cols = rows * m, cols * n
        res = ops.reshape(res, (rows, cols, r_next))
    return ops.reshape(res, (rows, cols))


def choose_strategy(tt_input_shape, tt_output_shape, tt_ranks, batch_size):
    """Picks the contraction with the fewest multiply-adds.

    Args:
        tt_input_shape, tt_output_shape, tt_ranks: the TT-matrix.
        batch_size: rows of x, or None when unknown (then
            `DEFAULT_PLANNING_BATCH` is assumed).

    Returns:
        One of "ltr", "rtl", "dense".
    """
    if batch_size is None:
        batch_size = DEFAULT_PLANNING_BATCH
    costs = {
        s: shapes.flops(
            tt_input_shape, tt_output_shape, tt_ranks, batch_size, s
        )
        for s in ("ltr", "rtl", "dense")
    }
    return min(costs, key=costs.get)


def validate_strategy(strategy, name="strategy"):
    """Checks a contraction strategy; returns it (a name becomes a Plan).

    Args:
        strategy: one of `STRATEGIES`, a `ttrnn.tt.planner.Plan`, or a
            plan's name such as "ltr[2,2]/chunked".
        name: the argument's name for the error message.

    Raises:
        ValueError: for anything else.
    """
    if isinstance(strategy, planner.Plan) or strategy in STRATEGIES:
        return strategy
    if isinstance(strategy, str) and "[" in strategy:
        try:
            return planner.parse_plan(strategy)
        except ValueError as e:
            raise ValueError(f"`{name}`: {e}") from None
    raise ValueError(
        f"`{name}` must be one of {STRATEGIES}, a ttrnn.tt.planner.Plan "
        f"or a plan name such as 'ltr[2,2]/chunked'. "
        f"Received: {name}={strategy!r}"
    )


def _merge(cores):
    """Merges neighbouring cores into one (r_a, prod m, prod n, r_b) core."""
    return _kernels.merge_cores(ops, cores)[0]


def _shared_matmul(left, state, batch):
    """(a, b) @ (P, b, Q) -> (P, a, Q); see `_kernels.shared_matmul`."""
    return _kernels.shared_matmul(ops, left, state, batch)


def _x_as_it_lies(last_core_shape):
    """Whether an "rtl"/"batch_last" sweep starts on x untransposed.

    True when the last core's output (r n per m inputs) is no bigger than
    x: reordering that output is then cheaper than transposing x.
    """
    r, m, n, _ = last_core_shape
    return r * n <= m


def _sweep(x2, cores, plan):
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
    backend (`_backend.transposed_first_gemm`).
    """
    shapes_ = [_static_shape(c) for c in cores]
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
        if _backend.transposed_first_gemm():
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


def _run_plan(x2, cores, plan):
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
    return _sweep(x2, merged, plan)


def matmul(x, cores, strategy="auto"):
    """Computes x @ W for the TT-matrix W without building W (unless cheaper).

    Complexity: depends on the plan; see `ttrnn.tt.planner`. "auto" takes
    the plan of least modelled time (multiply-adds, bytes written, ops;
    forward and backward) for the static batch size of x, cached per
    shape; with an unknown batch it plans for
    `planner.DEFAULT_PLANNING_BATCH` rows.

    Args:
        x: tensor of shape (..., prod m_k).
        cores: list of d tensors of shape (r_k, m_k, n_k, r_{k+1}).
        strategy: "auto" (cost model), "measure" (the fastest of the
            best few plans, timed once per shape on this machine and
            backend), "flops" (fewest multiply-adds over
            every plan), "ltr" (core by core from core 0), "rtl" (from the
            last core), "dense" (rebuild W, one GEMM), a
            `ttrnn.tt.planner.Plan` or its name (e.g. "ltr[2,2]/chunked").
            All give the same result up to float rounding.

    Returns:
        Tensor of shape (..., prod n_k).

    Example:
    >>> import numpy as np
    >>> cores = [np.ones((1, 2, 3, 2), "float32"),
    ...          np.ones((2, 2, 3, 1), "float32")]
    >>> y = matmul(np.ones((5, 4), "float32"), cores)
    >>> tuple(y.shape), float(y[0, 0])
    ((5, 9), 8.0)
    """
    strategy = validate_strategy(strategy)
    in_shape, out_shape, ranks = cores_modes(cores)
    num_in, num_out = math.prod(in_shape), math.prod(out_shape)
    x_shape = tuple(x.shape)
    if x_shape[-1] is not None and int(x_shape[-1]) != num_in:
        raise ValueError(
            f"The last dimension of the input must equal the product of "
            f"tt_input_shape. Received: tt_input_shape={in_shape} "
            f"(product {num_in}) for an input of {x_shape[-1]} features"
        )
    if isinstance(strategy, planner.Plan):
        plan = strategy
        if sum(plan.groups) != len(in_shape):
            raise ValueError(
                f"The plan's `groups` must sum to the number of cores "
                f"d = {len(in_shape)}. Received: groups={plan.groups}"
            )
    else:
        batch_dims = x_shape[:-1]
        known = all(b is not None for b in batch_dims)
        batch = math.prod(int(b) for b in batch_dims) if known else None
        dtype = getattr(x, "dtype", None) or "float32"
        plan = planner.choose_plan(
            in_shape, out_shape, ranks, batch, strategy, dtype
        )
    if len(x_shape) == 2:
        x2 = x
    else:
        x2 = ops.reshape(x, (-1, num_in))
    y = _run_plan(x2, list(cores), plan)
    if len(x_shape) != 2:
        lead = ops.shape(x)[:-1]
        y = ops.reshape(y, (*lead, num_out))
    return y

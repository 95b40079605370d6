"""Cost-aware planning of y = x @ W for a TT-matrix W.

A *plan* says how `ttrnn.tt.matmul` contracts x with the cores:

- `groups`: neighbouring cores are first merged into bigger cores, e.g.
  (2, 2) merges cores 0-1 and 2-3 of a 4-core train (fewer, larger
  matmuls); (1, 1, 1, 1) keeps them apart; (d,) rebuilds W itself (the
  "dense" plan: one GEMM).
- `direction`: "ltr" sweeps the (merged) cores from the first one, "rtl"
  from the last one.
- `layout`: "batch_first" keeps the batch axis outermost, "batch_last"
  transposes x once so the batch axis is innermost (every step then is
  one wide GEMM per output prefix), "chunked" (two groups only) runs both
  steps on a chunk of rows at a time with a hand-written backward pass
  that recomputes each chunk's state instead of storing it
  (`ttrnn.tt.chunked`).

Every step is a single (batched) matmul on a contiguous state: no
transposes between steps. The cost model counts multiply-adds, bytes
written to fresh memory (which dominates on machines where new pages are
expensive), the number of ops and the number of batch entries of batched
matmuls, for the forward *and* the backward pass, with constants fitted
on the machine (`calibrate`). Plans are cached per (modes, ranks, batch,
backend, dtype).
"""

import dataclasses
import functools
import itertools
import math
import re

from ttrnn.tt import _backend
from ttrnn.tt import shapes

DIRECTIONS = ("ltr", "rtl")
LAYOUTS = ("batch_first", "batch_last", "chunked")

# Batch size assumed when the batch is unknown at planning time (e.g. a
# symbolic `None` batch, or a dynamic shape inside a compiled function).
DEFAULT_PLANNING_BATCH = 32


@dataclasses.dataclass(frozen=True)
class Plan:
    """A contraction order for y = x @ W.

    Args:
        groups: tuple of positive ints summing to d: sizes of the runs of
            neighbouring cores merged before the sweep. `(d,)` is the
            dense plan (rebuild W, one GEMM).
        direction: "ltr" or "rtl".
        layout: "batch_first", "batch_last" or "chunked" (exactly two
            groups; see `ttrnn.tt.chunked`).

    Example:
    >>> Plan((2, 2), "ltr", "batch_last").name
    'ltr[2,2]/batch_last'
    """

    groups: tuple
    direction: str = "ltr"
    layout: str = "batch_first"

    def __post_init__(self):
        groups = tuple(int(g) for g in self.groups)
        if not groups or any(g < 1 for g in groups):
            raise ValueError(
                "`groups` must be a non-empty tuple of positive ints. "
                f"Received: groups={self.groups!r}"
            )
        object.__setattr__(self, "groups", groups)
        if self.direction not in DIRECTIONS:
            raise ValueError(
                f"`direction` must be one of {DIRECTIONS}. "
                f"Received: direction={self.direction!r}"
            )
        if self.layout not in LAYOUTS:
            raise ValueError(
                f"`layout` must be one of {LAYOUTS}. "
                f"Received: layout={self.layout!r}"
            )
        if self.layout == "chunked" and len(groups) != 2:
            raise ValueError(
                "The 'chunked' layout needs exactly two groups of cores. "
                f"Received: groups={groups}"
            )

    @property
    def is_dense(self):
        """True when the plan rebuilds W and does one GEMM."""
        return len(self.groups) == 1

    @property
    def name(self):
        if self.is_dense:
            return "dense"
        groups = ",".join(str(g) for g in self.groups)
        return f"{self.direction}[{groups}]/{self.layout}"


_NAME = re.compile(r"^(ltr|rtl)\[(\d+(?:,\d+)*)\]/(\w+)$")


@functools.lru_cache(maxsize=256)  # layers keep names; parse them once
def parse_plan(name):
    """The `Plan` of a name such as "ltr[2,2]/chunked" (`Plan.name`).

    Args:
        name: "<direction>[<groups>]/<layout>", e.g. "rtl[1,1,2]/batch_last".

    Returns:
        A `Plan`.

    Raises:
        ValueError: if the name does not follow that pattern, or names an
            unknown layout.
    """
    match = _NAME.match(str(name).replace(" ", ""))
    if match is None:
        raise ValueError(
            "A plan name looks like 'ltr[2,2]/batch_first': a direction "
            f"{DIRECTIONS}, the group sizes in brackets and a layout "
            f"{LAYOUTS}. Received: {name!r}"
        )
    direction, groups, layout = match.groups()
    groups = tuple(int(g) for g in groups.split(","))
    return Plan(groups, direction, layout)


def dense_plan(d):
    """The plan that rebuilds W (merges all d cores) and does one GEMM."""
    return Plan((d,), "ltr", "batch_first")


def _compositions(d):
    if d == 0:
        yield ()
        return
    for first in range(1, d + 1):
        for rest in _compositions(d - first):
            yield (first,) + rest


def candidate_plans(d, strategy="auto"):
    """All plans a strategy may choose among, for d cores.

    Args:
        d: number of cores.
        strategy: "auto" or "flops" (every plan), "ltr" / "rtl" (core by
            core in that direction, either layout) or "dense".

    Returns:
        List of `Plan`.
    """
    if strategy == "dense":
        return [dense_plan(d)]
    if strategy == "measure":
        strategy = "auto"
    if strategy in DIRECTIONS:
        layouts = ("batch_first", "batch_last")
        if d == 2:
            layouts += ("chunked",)
        return [Plan((1,) * d, strategy, lay) for lay in layouts]
    plans = [dense_plan(d)]
    for groups in _compositions(d):
        if len(groups) == 1:
            continue
        for direction, layout in itertools.product(DIRECTIONS, LAYOUTS):
            if layout == "chunked" and len(groups) != 2:
                continue
            plans.append(Plan(groups, direction, layout))
    return plans


# --- What a plan does: the list of its ops --------------------------------


def _merged_shapes(in_shape, out_shape, ranks, groups):
    """(r, M_g, N_g, r') of each merged group, and merge ops."""
    merged, ops_ = [], []
    start = 0
    for g in groups:
        stop = start + g
        r = ranks[start]
        rows, cols = in_shape[start], out_shape[start]
        for k in range(start + 1, stop):
            # (r rows cols, r_k) @ (r_k, m n r_{k+1}), then a transpose.
            m, n, r_k, r_next = (
                in_shape[k],
                out_shape[k],
                ranks[k],
                ranks[k + 1],
            )
            ops_.append(("mm", r * rows * cols, r_k, m * n * r_next, 1))
            ops_.append(("copy", r * rows * cols * m * n * r_next))
            rows, cols = rows * m, cols * n
        merged.append((r, rows, cols, ranks[stop]))
        start = stop
    return merged, ops_


def plan_ops(plan, in_shape, out_shape, ranks, batch_size):
    """The ops of a plan's forward pass, for the cost model.

    Returns:
        List of tuples: ("mm", rows, inner, cols, batch) for a matmul of
        `batch` products (rows, inner) @ (inner, cols) with the left
        operand shared (broadcast) across the batch, or ("copy", elems)
        for a transpose into fresh memory.
    """
    d = len(in_shape)
    batch = int(batch_size)
    if plan.is_dense:
        _, ops_ = _merged_shapes(in_shape, out_shape, ranks, (d,))
        num_in, num_out = math.prod(in_shape), math.prod(out_shape)
        return ops_ + [("mm", batch, num_in, num_out, 1)]
    merged, ops_ = _merged_shapes(in_shape, out_shape, ranks, plan.groups)
    if plan.layout == "chunked":
        return ops_ + _chunked_ops(plan.direction, merged, batch)
    ms = [s[1] for s in merged]
    ns = [s[2] for s in merged]
    g = len(merged)
    last = plan.layout == "batch_last"
    r, m, n, _ = merged[-1]
    if last and plan.direction == "rtl" and r * n <= m:
        # First step on x as it lies (plain GEMM), then its output is
        # reordered to the batch-last state: see `ops._sweep`.
        rows = batch * math.prod(ms[:-1])
        ops_.append(("copy", r * n * m))
        ops_.append(("mm", rows, m, r * n, 1))
        ops_.append(("copy", rows * r * n))
        order = range(g - 2, -1, -1)
    elif last:
        ops_.append(("copy", batch * math.prod(in_shape)))
        order = range(g)
    else:
        order = range(g) if plan.direction == "ltr" else range(g - 1, -1, -1)
    for k in order:
        r, m, n, r_next = merged[k]
        if plan.direction == "ltr":
            outer, inner = math.prod(ns[:k]), math.prod(ms[k + 1 :])
            a, b = n * r_next, r * m
        else:
            outer, inner = math.prod(ms[:k]), math.prod(ns[k + 1 :])
            a, b = r * n, m * r_next
        if last:
            p, q = outer, inner * batch
        else:
            p, q = outer * batch, inner
        ops_.append(("copy", a * b))  # the core's small transpose
        if q == 1:
            ops_.append(("mm", p, b, a, 1))
        else:
            ops_.append(("mm", a, b, q, p))
    if last:
        ops_.append(("copy", batch * math.prod(out_shape)))
    return ops_


def _chunked_ops(direction, merged, batch):
    """Ops of a "chunked" two-step plan (see `ttrnn.tt.chunked`).

    One ("chunked", ...) entry carries the whole pass: its forward and
    backward multiply-adds (the backward recomputes the first step), the
    number of ops (per chunk), the values written to fresh memory (the
    output, the input gradient, and one chunk's temporaries, whose
    memory later chunks reuse) and the batch entries of batched GEMMs.
    """
    from ttrnn.tt import chunked

    (_, m1, n1, r), (_, m2, n2, _) = merged
    per_row = chunked.state_per_row(direction, merged)
    rows = chunked.chunk_rows(per_row, batch)
    chunks = -(-batch // rows)
    if direction == "ltr":
        first = batch * m1 * n1 * r * m2
        second = batch * n1 * r * m2 * n2
        shared = n1 * r * m1  # the batched core gradient per row
    else:
        first = batch * m1 * m2 * r * n2
        second = batch * n1 * m1 * r * n2
        shared = n1 * m1 * r
    concat = 2 if chunks > 1 else 1
    temps = rows * (2 * per_row + shared)
    return [
        ("copy", m1 * n1 * r),  # the cores' small transposes
        ("copy", m2 * n2 * r),
        (
            "chunked",
            chunks,
            first + second,  # forward MACs
            3 * first + 2 * second,  # backward MACs
            concat * batch * n1 * n2 + rows * per_row,  # forward writes
            concat * batch * m1 * m2 + temps,  # backward writes
            batch,  # forward batch entries
            3 * batch,  # backward batch entries
        ),
    ]


# --- Cost model -----------------------------------------------------------


@dataclasses.dataclass
class CostModel:
    """Seconds of a forward+backward pass as a linear model of its ops.

    time = op_time * ops + mac_time * multiply-adds
           + byte_time * bytes written to fresh memory
           + batch_time * batch entries of batched matmuls.

    `chunked_scale` multiplies the modelled time of a "chunked" plan: a
    backend's own factor for its batched GEMMs on small chunks.

    The defaults were set by hand on the project's 2-core CPU machine
    (torch, float32, one thread) so that the plan chosen for cases A-D of
    the benchmarks, case A at batch 1024 and the UCF11 TT-GRU input map
    is the fastest one measured (`calibrate()` on the shared, loaded
    machine fitted op_time = 0 and picked plans 2-8x slower; on a quiet
    machine it fits well but gets the tall-skinny TT-GRU map wrong).
    JAX gets `chunked_scale` = 1.5: XLA's CPU batched GEMMs on the small
    chunks measured 1.65x dense on case D against 1.29x for the
    "batch_last" plan, while torch and TensorFlow run it fastest.
    """

    op_time: float = 2.0e-5
    mac_time: float = 1.8e-11
    byte_time: float = 5.0e-10
    batch_time: float = 1.0e-6
    chunked_scale: float = 1.0

    def features(self, ops_, itemsize=4, backward=True):
        """(ops, macs, bytes, batch entries) of forward (+ backward)."""
        n_ops = macs = nbytes = entries = 0.0
        for op in ops_:
            if op[0] == "chunked":
                _, chunks, mf, mb, wf, wb, ef, eb = op
                n_ops += 2 * chunks + backward * 8 * chunks
                macs += mf + backward * mb
                nbytes += itemsize * (wf + backward * wb)
                entries += ef + backward * eb
                continue
            if op[0] == "copy":
                n_ops += 1 + backward
                nbytes += op[1] * itemsize * (1 + backward)
                continue
            _, rows, inner, cols, batch = op
            mac = batch * rows * inner * cols
            out = batch * rows * cols
            n_ops += 1
            macs += mac
            nbytes += out * itemsize
            if batch > 1:
                entries += batch
            if backward:
                # d(right) = left^T @ g and d(left) = g @ right^T; a
                # shared left operand gets a batch of grads then a sum.
                n_ops += 2 + (batch > 1)
                macs += 2 * mac
                nbytes += itemsize * (
                    batch * inner * cols + batch * rows * inner
                )
                if batch > 1:
                    entries += 2 * batch
        return n_ops, macs, nbytes, entries

    def cost(self, ops_, itemsize=4, backward=True):
        total = 0.0
        for group in (
            [op for op in ops_ if op[0] != "chunked"],
            [op for op in ops_ if op[0] == "chunked"],
        ):
            n_ops, macs, nbytes, entries = self.features(
                group, itemsize, backward
            )
            seconds = (
                self.op_time * n_ops
                + self.mac_time * macs
                + self.byte_time * nbytes
                + self.batch_time * entries
            )
            if group and group[0][0] == "chunked":
                seconds *= self.chunked_scale
            total += seconds
        return total


_MODELS = {}
_CACHE = {}


# Per-backend departures from the defaults (see `CostModel`).
_BACKEND_DEFAULTS = {"jax": {"chunked_scale": 1.5}}


def default_cost_model(backend):
    """The built-in cost model of `backend`."""
    return CostModel(**_BACKEND_DEFAULTS.get(backend, {}))


def get_cost_model(backend=None):
    """The cost model used for `backend` (default: Keras' backend)."""
    backend = backend or _backend_name()
    return _MODELS.setdefault(backend, default_cost_model(backend))


def set_cost_model(model, backend=None):
    """Installs a cost model for `backend` and clears the plan cache."""
    _MODELS[backend or _backend_name()] = model
    _CACHE.clear()


def _backend_name():
    import keras

    return keras.backend.backend()


_itemsize = _backend.dtype_itemsize


def estimate(plan, in_shape, out_shape, ranks, batch_size, dtype="float32"):
    """Modelled seconds of forward+backward of `plan` for a batch."""
    ops_ = plan_ops(plan, in_shape, out_shape, ranks, batch_size)
    return get_cost_model().cost(ops_, _itemsize(dtype))


def plan_flops(plan, in_shape, out_shape, ranks, batch_size):
    """Forward multiply-adds of `plan` (merges included)."""
    ops_ = plan_ops(plan, in_shape, out_shape, ranks, batch_size)
    return sum(
        op[1] * op[2] * op[3] * op[4] if op[0] == "mm" else op[2]
        for op in ops_
        if op[0] in ("mm", "chunked")
    )


def choose_plan(
    tt_input_shape,
    tt_output_shape,
    tt_ranks,
    batch_size=None,
    strategy="auto",
    dtype="float32",
    backend=None,
):
    """The cheapest plan for a TT-matrix and a batch size (cached).

    Args:
        tt_input_shape, tt_output_shape, tt_ranks: the TT-matrix.
        batch_size: rows of x; None (unknown) plans for
            `DEFAULT_PLANNING_BATCH`.
        strategy: "auto" (cost model: FLOPs, bytes, ops), "measure"
            (time the best few plans once on this machine, see
            `measured_plan`), "flops" (fewest multiply-adds), "ltr",
            "rtl" (core by core, the cheaper layout) or "dense".
        dtype: compute dtype (its item size enters the byte count).
        backend: Keras backend name (default: the current one).

    Returns:
        A `Plan`.

    Example:
    >>> choose_plan((8, 8, 8, 8), (8, 8, 8, 8), (1, 16, 16, 16, 1),
    ...             512).groups
    (2, 2)
    """
    in_shape, out_shape = shapes.validate_modes(tt_input_shape, tt_output_shape)
    ranks = shapes.validate_ranks(tt_ranks, in_shape, out_shape, clip=False)
    batch = DEFAULT_PLANNING_BATCH if batch_size is None else int(batch_size)
    backend = backend or _backend_name()
    key = (in_shape, out_shape, ranks, batch, strategy, str(dtype), backend)
    plan = _CACHE.get(key)
    if plan is None and strategy == "measure":
        if _backend.in_symbolic_build():
            # Shape inference (e.g. Keras' placeholder batch of 83 on
            # torch): plan by the model, do not time or cache anything.
            return choose_plan(
                in_shape, out_shape, ranks, batch, "auto", dtype, backend
            )
        plan = measured_plan(in_shape, out_shape, ranks, batch)
        _CACHE[key] = plan
    if plan is None:
        plans = candidate_plans(len(in_shape), strategy)
        if strategy == "flops":

            def score(p):
                return plan_flops(p, in_shape, out_shape, ranks, batch)
        else:
            model = get_cost_model(backend)
            itemsize = _itemsize(dtype)

            def score(p):
                ops_ = plan_ops(p, in_shape, out_shape, ranks, batch)
                return model.cost(ops_, itemsize)

        plan = min(plans, key=score)
        _CACHE[key] = plan
    return plan


# Plans timed by `measured_plan`: the best by the cost model, then the
# fewest multiply-adds.
MEASURED_BY_MODEL = 4
MEASURED_BY_FLOPS = 2


def measured_plan(
    tt_input_shape, tt_output_shape, tt_ranks, batch_size, repeats=3
):
    """The fastest of a few candidate plans, timed on this machine.

    Times forward+backward (the loss and every core's gradient, as in
    training) of the `MEASURED_BY_MODEL` plans the cost model ranks best
    and the `MEASURED_BY_FLOPS` plans with the fewest multiply-adds, on
    random float32 data of the given shapes, the way the backend trains
    (eager torch, `jax.jit`, `tf.function`), and returns the fastest.
    `choose_plan(..., strategy="measure")` calls it once per shape and
    caches the result. It costs a few dozen forward+backward passes (on
    the project machine 0.1 s for case A, about 8 s for case D).

    Returns:
        A `Plan`.
    """
    in_shape, out_shape = shapes.validate_modes(tt_input_shape, tt_output_shape)
    ranks = shapes.validate_ranks(tt_ranks, in_shape, out_shape, clip=False)
    batch = DEFAULT_PLANNING_BATCH if batch_size is None else int(batch_size)
    plans = candidate_plans(len(in_shape))
    model = get_cost_model()

    def modelled(p):
        return model.cost(plan_ops(p, in_shape, out_shape, ranks, batch))

    def macs(p):
        return plan_flops(p, in_shape, out_shape, ranks, batch)

    chosen = sorted(plans, key=modelled)[:MEASURED_BY_MODEL]
    chosen += sorted(plans, key=macs)[:MEASURED_BY_FLOPS]
    chosen = list(dict.fromkeys(chosen))
    seconds = _backend.time_plans(
        chosen, in_shape, out_shape, ranks, batch, repeats
    )
    return chosen[min(range(len(chosen)), key=seconds.__getitem__)]


def clear_cache():
    """Forgets every cached plan."""
    _CACHE.clear()


# --- Calibration ----------------------------------------------------------

CALIBRATION_CASES = (
    ((4, 8, 8, 4), (4, 8, 8, 4), 8, 64),
    ((4, 8, 8, 4), (4, 8, 8, 4), 8, 256),
    ((8, 20, 20, 18), (4, 4, 4, 12), 4, 16),
    ((4, 8, 8, 4), (4, 4, 4, 4), 4, 128),
    ((8, 8, 8, 8), (8, 8, 8, 8), 16, 64),
    ((2, 7, 8, 8, 7, 4), (4, 4, 4, 4, 4, 4), 4, 16),
)


def calibrate(cases=CALIBRATION_CASES, repeats=3, max_plans=8, install=True):
    """Fits the cost model's constants on this machine and backend.

    Times forward+backward of several plans per case (median of
    `repeats` interleaved runs) and fits the four constants of
    `CostModel` by non-negative least squares on relative error.

    Args:
        cases: tuples (tt_input_shape, tt_output_shape, rank, batch).
        repeats: timed runs per plan.
        max_plans: plans timed per case (the cheapest by the current
            model and by FLOPs, then a spread of the others).
        install: when True, the fitted model replaces the current one
            for this backend (and the plan cache is cleared).

    Returns:
        The fitted `CostModel`.
    """
    import numpy as np

    rows, times = [], []
    model = get_cost_model()
    for ins, outs, rank, batch in cases:
        d = len(ins)
        ranks = (1,) + (rank,) * (d - 1) + (1,)
        plans = candidate_plans(d)
        plans.sort(
            key=lambda p: model.cost(plan_ops(p, ins, outs, ranks, batch))
        )
        step = max(1, len(plans) // max_plans)
        chosen = plans[:2] + plans[2::step]
        chosen = list(dict.fromkeys(chosen))[:max_plans]
        measured = _backend.time_plans(chosen, ins, outs, ranks, batch, repeats)
        for plan, seconds in zip(chosen, measured):
            ops_ = plan_ops(plan, ins, outs, ranks, batch)
            rows.append(model.features(ops_))
            times.append(seconds)
    a = np.asarray(rows, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    # Relative error: scale every row by 1 / t.
    coef = _nnls(a / t[:, None], np.ones_like(t))
    fitted = CostModel(
        *[float(max(c, 1e-15)) for c in coef],
        chunked_scale=model.chunked_scale,
    )
    if install:
        set_cost_model(fitted)
    return fitted


def _nnls(a, b):
    """Tiny non-negative least squares (active set on 4 unknowns)."""
    import numpy as np

    n = a.shape[1]
    best, best_err = np.zeros(n), np.inf
    for mask in itertools.product((0, 1), repeat=n):
        idx = [i for i in range(n) if mask[i]]
        if not idx:
            continue
        sol, *_ = np.linalg.lstsq(a[:, idx], b, rcond=None)
        if np.any(sol < 0):
            continue
        x = np.zeros(n)
        x[idx] = sol
        err = float(np.sum((a @ x - b) ** 2))
        if err < best_err:
            best, best_err = x, err
    return best

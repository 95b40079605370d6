"""The cost model: a plan's ops, and their modelled forward+backward time.

The model counts multiply-adds, bytes written to fresh memory (which
dominates on machines where new pages are expensive), the number of ops
and the number of batch entries of batched matmuls, for the forward *and*
the backward pass, with constants set per backend (`CostModel`) or fitted
on the machine (`measure.calibrate`). `modelled_plan` picks the plan of
least modelled time (or fewest multiply-adds).
"""

import dataclasses
import math

from ttrnn.tt.contraction import chunked
from ttrnn.tt.contraction import execute
from ttrnn.tt.contraction import runtime
from ttrnn.tt.contraction.plan import candidate_plans

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
        # reordered to the batch-last state: see `execute.sweep`.
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
    """Ops of a "chunked" two-step plan (see `chunked`).

    One ("chunked", ...) entry carries the whole pass: its forward and
    backward multiply-adds (the backward recomputes the first step), the
    number of ops (per chunk), the values written to fresh memory (the
    output, the input gradient, and one chunk's temporaries, whose
    memory later chunks reuse) and the batch entries of batched GEMMs.
    """
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

    `batched_rhs_time` prices the values of the right operands that the
    products of batched GEMMs stream (per product (inner, cols) forward,
    and g_p and x_p^T backward): a product of few rows reads its whole
    operand for little work. It tells apart mirror plans, such as
    ltr[2,2]/batch_last and rtl[2,2]/batch_last of a square TT-matrix,
    which have the same multiply-adds, writes and batch entries but put
    the batched step on the other side: on JAX (6 Dec 2026, case D) the
    batched product (64, 1024) @ (1024, 512) of ltr ran 2x a plain GEMM
    of its multiply-adds, rtl's (1024, 64) @ (64, 512) 1.14x, and rtl's
    step 6-12 % faster. Set on JAX only, small (1e-10 s a value: values
    from 2.5e-10 up also moved case C to a plan measured 25-60 % slower);
    0 elsewhere, where it is not measured.
    """

    op_time: float = 2.0e-5
    mac_time: float = 1.8e-11
    byte_time: float = 5.0e-10
    batch_time: float = 1.0e-6
    batched_rhs_time: float = 0.0
    chunked_scale: float = 1.0

    def features(self, ops_, itemsize=4, backward=True):
        """(ops, macs, bytes, batch entries, batched right-operand values)
        of forward (+ backward)."""
        n_ops = macs = nbytes = entries = rhs = 0.0
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
                # Each product of a batched GEMM streams its own right
                # operand (inner, cols) for only `rows` rows of output:
                # forward x_p, backward g_p (for d x_p) and x_p^T (for
                # d left).
                rhs += batch * cols * (inner + backward * (rows + inner))
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
        return n_ops, macs, nbytes, entries, rhs

    def cost(self, ops_, itemsize=4, backward=True):
        total = 0.0
        for group in (
            [op for op in ops_ if op[0] != "chunked"],
            [op for op in ops_ if op[0] == "chunked"],
        ):
            n_ops, macs, nbytes, entries, rhs = self.features(
                group, itemsize, backward
            )
            seconds = (
                self.op_time * n_ops
                + self.mac_time * macs
                + self.byte_time * nbytes
                + self.batch_time * entries
                + self.batched_rhs_time * rhs
            )
            if group and group[0][0] == "chunked":
                seconds *= self.chunked_scale
            total += seconds
        return total


_MODELS = {}
# Bumped by `set_cost_model`: cached plans chosen by an older model are
# keyed by an older version.
_VERSION = [0]


# Per-backend departures from the defaults (see `CostModel`).
_BACKEND_DEFAULTS = {"jax": {"chunked_scale": 1.5, "batched_rhs_time": 1e-10}}
# Per device kind ("cpu", "gpu", "tpu"): the CPU's are the defaults. The
# GPU constants are estimates for a current datacenter GPU (kernel
# launches ~10 us, ~20 TFLOP/s float32 without TF32, ~2 TB/s), NOT
# measured: no GPU was available. `calibrate()` on the GPU fits them.
_DEVICE_DEFAULTS = {
    "cpu": {},
    "gpu": {
        "op_time": 1.0e-5,
        "mac_time": 5.0e-14,
        "byte_time": 5.0e-13,
        "batch_time": 1.0e-8,
        "chunked_scale": 1.0,
    },
}
_DEVICE_DEFAULTS["tpu"] = _DEVICE_DEFAULTS["gpu"]


def default_cost_model(backend, device_kind="cpu"):
    """The built-in cost model of `backend` on a `device_kind` device
    ("cpu", "gpu" or "tpu"; the CPU's constants for any other)."""
    values = dict(_BACKEND_DEFAULTS.get(backend, {}))
    values.update(_DEVICE_DEFAULTS.get(device_kind, {}))
    return CostModel(**values)


def get_cost_model(backend=None):
    """The cost model used for `backend` (default: Keras' backend) on the
    device kind it computes on (`contraction.runtime.device_kind`)."""
    backend = backend or _backend_name()
    kind = runtime.device_kind(backend)
    key = backend if kind == "cpu" else f"{backend}:{kind}"
    return _MODELS.setdefault(key, default_cost_model(backend, kind))


def set_cost_model(model, backend=None):
    """Installs a cost model for `backend` (on its current device kind);
    plans chosen by the previous one are no longer reused."""
    backend = backend or _backend_name()
    kind = runtime.device_kind(backend)
    _MODELS[backend if kind == "cpu" else f"{backend}:{kind}"] = model
    _VERSION[0] += 1


def model_version():
    """A number that changes whenever `set_cost_model` is called."""
    return _VERSION[0]


def _backend_name():
    import keras

    return keras.backend.backend()


_itemsize = runtime.dtype_itemsize


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


def modelled_plan(
    in_shape,
    out_shape,
    ranks,
    batch,
    strategy="auto",
    dtype="float32",
    backend=None,
    first_gemm=False,
):
    """The candidate plan of `strategy` with the least modelled time
    ("flops": the fewest forward multiply-adds). Not cached; see
    `contract.choose_plan`.

    Args:
        in_shape, out_shape, ranks: a validated TT-matrix.
        batch: rows of x (an int).
        strategy: a strategy other than "measure".
        dtype: compute dtype (its item size enters the byte count).
        backend: Keras backend name (default: the current one).
        first_gemm: only plans that start with one GEMM on x as it lies
            (`execute.reads_integers`), where there are any.
    """
    plans = candidate_plans(len(in_shape), strategy)
    if first_gemm:
        shapes = [
            (ranks[k], in_shape[k], out_shape[k], ranks[k + 1])
            for k in range(len(in_shape))
        ]
        reading = [p for p in plans if execute.reads_integers(shapes, p)]
        plans = reading or plans
    if strategy == "flops":

        def score(p):
            return plan_flops(p, in_shape, out_shape, ranks, batch)
    else:
        model = get_cost_model(backend)
        itemsize = _itemsize(dtype)

        def score(p):
            ops_ = plan_ops(p, in_shape, out_shape, ranks, batch)
            return model.cost(ops_, itemsize)

    return min(plans, key=score)

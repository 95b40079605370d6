"""Rows of a TT-matrix without the matrix: the lookups of `TTEmbedding`.

Row i of W is the product of the core slices G_k[:, i_k, :, :] at its
digits (i_1, ..., i_d) (`row_digits`). `gather_rows` computes B rows by
one of these plans (`LookupPlan`), picked by `lookup_plan`:

- "rtl": gather every core at its digits, multiply the B small chains
  from the last core (batched matmuls);
- "ltr" with `merged=L`: first multiply the first L cores out for every
  combination of their digits (one GEMM per core, a table of prod_{k<L}
  m_k rows, L = 1 is the first core as it is), gather that table at the
  combined digit, then multiply the chains on from the left. Merging
  trades batched matmuls of tiny matrices (a few GFLOP/s on a CPU) for
  plain GEMMs, and B gathered slices of the middle cores for one small
  table: worth it when prod_{k<L} m_k is not much above B.

Gradients reach only the gathered slices (and, through a merged table,
the cores it came from). The chains run by one of three paths with the
same results (`lookup_path`): chunk by chunk with a hand-written
backward pass (`ttrnn.tt.contraction.chunked_rows`), so no B-row tensor
of slices or slice gradients is written; all rows at once under
autodiff (`keras.ops`); or "grouped": rows sorted into chunks that
share the digit of the core of largest slices, whose products become
one plain GEMM per chunk against the shared slice
(`ttrnn.tt.contraction.grouped_rows`). Which is fastest depends on the
CPU, so it is timed once per machine and shape (on JAX and TensorFlow
autodiff, which their compilers fuse, against grouped).
"""

import dataclasses
import functools
import math

import keras
from keras import ops

from ttrnn.tt.contraction import contract
from ttrnn.tt.contraction import measure
from ttrnn.tt.contraction import runtime
from ttrnn.tt.contraction.chunked_rows import chunked_gather_rows
from ttrnn.tt.contraction.chunked_rows import gather_rows_autodiff
from ttrnn.tt.contraction.grouped_rows import grouped_gather_rows
from ttrnn.tt.contraction.grouped_rows import grouping_can_pay
from ttrnn.tt.contraction.grouped_rows import grouping_pays
from ttrnn.tt.cores import cores_modes
from ttrnn.tt.cores import leading_product

# Relative costs of a batched matmul's multiply-add and of a value
# gathered (backward: scattered) or written to a merged table, against a
# GEMM multiply-add. Set on
# the project's 2-core CPU (torch and JAX, one thread): TTEmbedding of
# 1,000,000 x 256 at rank 16 and 100,000 x 256 at rank 34, 4,096 ids.
BATCHED_MAC_COST = 3.0
VALUE_COST = 10.0


@dataclasses.dataclass(frozen=True)
class LookupPlan:
    """How `gather_rows` computes rows: `direction` "ltr" or "rtl";
    `merged` leading cores multiplied out first ("ltr" only, >= 1)."""

    direction: str = "ltr"
    merged: int = 1


def row_digits(indices, tt_input_shape):
    """Splits row indices of W into their mode digits (C order).

    Args:
        indices: integer tensor of any shape, entries in [0, prod m_k).
        tt_input_shape: the modes m_k.

    Returns:
        List of d integer tensors shaped like `indices`, digit k in
        [0, m_k); index = sum_k i_k * prod_{j>k} m_j.

    Example:
    >>> import numpy as np
    >>> [int(d[0]) for d in row_digits(np.array([123]), (10, 10, 10))]
    [1, 2, 3]
    """
    digits = []
    rest = indices
    for m in reversed(tuple(tt_input_shape)):
        digits.append(ops.mod(rest, m))
        rest = ops.floor_divide(rest, m)
    return digits[::-1]


def _plan_macs(plan, m, n, r):
    """(multiply-adds of the merged table, of one row's chain)."""
    d = len(n)
    if plan.direction == "rtl":
        return 0, sum(
            r[k] * n[k] * r[k + 1] * math.prod(n[k + 1 :]) for k in range(d - 1)
        )
    lead = plan.merged
    build = sum(
        math.prod(m[: k + 1]) * math.prod(n[:k]) * r[k] * n[k] * r[k + 1]
        for k in range(1, lead)
    )
    chain = sum(
        math.prod(n[:k]) * r[k] * n[k] * r[k + 1] for k in range(lead, d)
    )
    return build, chain


def lookup_cost(plan, tt_input_shape, tt_output_shape, tt_ranks, batch):
    """Modelled cost of `plan` for `batch` rows, in GEMM multiply-adds."""
    m, n, r = tt_input_shape, tt_output_shape, tt_ranks
    build, chain = _plan_macs(plan, m, n, r)
    if plan.direction == "rtl":
        gathered = sum(r[k] * n[k] * r[k + 1] for k in range(len(n)))
    else:
        lead = plan.merged
        # The step's output and its transpose, forward and backward.
        build += sum(
            2 * VALUE_COST * math.prod(m[: k + 1] + n[: k + 1]) * r[k + 1]
            for k in range(1, lead)
        )
        gathered = math.prod(n[:lead]) * r[lead] + sum(
            r[k] * n[k] * r[k + 1] for k in range(lead, len(n))
        )
    per_row = BATCHED_MAC_COST * chain + VALUE_COST * gathered
    return build + batch * per_row


def lookup_macs(plan, tt_input_shape, tt_output_shape, tt_ranks, batch):
    """Multiply-adds of `plan` for `batch` rows: the merged table once,
    then each row's chain of slices (`lookup_cost` without its weights).

    Example:
    >>> lookup_macs(LookupPlan("ltr"), (10, 10), (2, 3), (1, 4, 1), 5)
    120
    """
    build, chain = _plan_macs(
        plan, tuple(tt_input_shape), tuple(tt_output_shape), tuple(tt_ranks)
    )
    return build + batch * chain


def lookup_plan(tt_input_shape, tt_output_shape, tt_ranks, batch):
    """The `LookupPlan` of least `lookup_cost` for `batch` rows (cached:
    a layer asks on every call).

    Example:
    >>> lookup_plan((40, 50, 50), (8, 4, 8), (1, 34, 34, 1), 4096)
    LookupPlan(direction='ltr', merged=2)
    """
    return _cheapest_plan(
        tuple(tt_input_shape), tuple(tt_output_shape), tuple(tt_ranks), batch
    )


@functools.lru_cache(maxsize=256)
def _cheapest_plan(tt_input_shape, tt_output_shape, tt_ranks, batch):
    d = len(tt_output_shape)
    plans = [LookupPlan("rtl")] + [
        LookupPlan("ltr", k) for k in range(1, d + 1)
    ]
    return min(
        plans,
        key=lambda p: lookup_cost(
            p, tt_input_shape, tt_output_shape, tt_ranks, batch
        ),
    )


# `gather_rows`' paths: "auto" chooses one of `measure.LOOKUP_PATHS`.
LOOKUP_PATHS = ("auto", *measure.LOOKUP_PATHS)


def validate_lookup_path(path, name="path"):
    """Returns `path` if it is one of `LOOKUP_PATHS`, else raises."""
    if not isinstance(path, str) or path not in LOOKUP_PATHS:
        raise ValueError(
            f"Argument `{name}` must be one of {LOOKUP_PATHS}. "
            f"Received: {name}={path!r}"
        )
    return path


def lookup_path(core_shapes, batch, direction):
    """The path `gather_rows` takes under `path="auto"`: "chunked",
    "autodiff" or "grouped".

    On a CPU, the fastest for these cores and `batch` rows, timed once
    per process and shape (`measure.measured_lookup_path`, cached with
    the planner's plans, until `ttrnn.tt.contraction.clear_cache`):
    which one wins depends on the CPU. torch times all three; JAX and
    TensorFlow time autodiff (which their compilers fuse) against
    grouped, and only where grouping can pay
    (`grouped_rows.grouping_can_pay`: chunks of 2 rows or more), else
    take autodiff. Under `jax.jit` and `tf.function` the timing runs
    eagerly, outside the trace, when the trace first meets the shape.
    On another device (not timed) JAX and TensorFlow take "grouped" by
    the rule measured on the CPU (`grouped_rows.grouping_pays`). For an
    unknown batch, or while Keras infers shapes, the backend's default
    (`runtime.chunked_lookup`), without timing anything.

    Args:
        core_shapes: the (r_k, m_k, n_k, r_{k+1}) of the cores the chains
            run on (after a plan's merge of the leading cores).
        batch: rows looked up (None: unknown).
        direction: the plan's direction, "ltr" or "rtl".

    Returns:
        "chunked", "autodiff" or "grouped".
    """
    backend = keras.backend.backend()
    default = "chunked" if runtime.chunked_lookup() else "autodiff"
    if batch is None or runtime.in_symbolic_build():
        return default
    if runtime.device_kind() != "cpu":
        if backend != "torch" and grouping_pays(core_shapes, batch):
            return "grouped"
        return default
    if backend != "torch" and not grouping_can_pay(core_shapes, batch):
        return default
    shapes = tuple(tuple(int(n) for n in s) for s in core_shapes)
    key = ("lookup path", shapes, int(batch), direction, backend)
    return contract.cached(
        key, lambda: measure.measured_lookup_path(shapes, batch, direction)
    )


def gather_rows(cores, digits, plan=None, rows=None, path="auto"):
    """Rows W[i] of a TT-matrix for a batch of row indices, given as
    digits (`row_digits`), without forming W.

    Args:
        cores: list of d tensors of shape (r_k, m_k, n_k, r_{k+1}).
        digits: list of d integer tensors of shape (B,), entries in
            [0, m_k) (others follow `keras.ops.take` on the backend).
        plan: a `LookupPlan`; None: `lookup_plan` for B (a static B, or
            1,024 rows when unknown).
        rows: compute the chains this many rows at a time with the
            hand-written backward of `ttrnn.tt.contraction.chunked_rows`
            (the "chunked" path). None: by `path`, in chunks that fit a
            CPU's L2 cache on the chunked path.
        path: "chunked", "autodiff" (all rows at once under the backend's
            autodiff), "grouped" (the products of the core of largest
            slices as one GEMM per chunk of rows sharing its digit, under
            autodiff; needs a static B) or "auto" (default:
            `lookup_path`, on torch on a CPU the fastest of the three
            timed once on this machine). All paths give the same rows and
            gradients, up to float rounding.

    Returns:
        Tensor of shape (B, prod n_k).

    Raises:
        ValueError: if `path` is not one of `LOOKUP_PATHS`, or `rows` is
            given with `path="autodiff"` or `path="grouped"`.
    """
    validate_lookup_path(path)
    if rows is not None and path in ("autodiff", "grouped"):
        raise ValueError(
            f"Argument `rows` chunks the 'chunked' path; the {path!r} path "
            f"chunks rows its own way. Received: rows={rows!r}, "
            f"path={path!r}"
        )
    in_shape, out_shape, ranks = cores_modes(cores)
    if plan is None:
        batch = digits[0].shape[0]
        batch = 1024 if batch is None else int(batch)
        plan = lookup_plan(in_shape, out_shape, ranks, batch)
    if plan.direction == "ltr" and plan.merged > 1:
        cores, digits = _merge_leading(cores, digits, plan.merged)
    if rows is None and path == "auto":
        shapes = [tuple(c.shape) for c in cores]
        batch = digits[0].shape[0]
        path = lookup_path(shapes, batch, plan.direction)
    if rows is not None or path == "chunked":
        return chunked_gather_rows(cores, digits, plan.direction, rows)
    if path == "grouped":
        return grouped_gather_rows(cores, digits)
    return gather_rows_autodiff(cores, digits, plan.direction)


def _merge_leading(cores, digits, lead):
    """The first `lead` cores multiplied out for every combination of
    their digits: one core (1, prod m, prod n, r_lead), and its digit."""
    in_shape = [int(c.shape[1]) for c in cores[:lead]]
    table = leading_product(cores[:lead])
    table = ops.reshape(table, (1, *(int(s) for s in table.shape)))
    index = digits[0]
    for k in range(1, lead):
        index = index * in_shape[k] + digits[k]
    return [table, *cores[lead:]], [index, *digits[lead:]]

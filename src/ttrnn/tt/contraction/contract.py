"""y = x @ W: choose a plan (cached per shape), then run it.

`choose_plan` picks a plan by a strategy: the cost model (`cost`), the
fewest multiply-adds, a fixed direction, or timing the best few
(`measure`). `matmul` validates its arguments, chooses and runs.
`cached` is the one cache of such choices: the plans, and the lookup
paths `ttrnn.tt.gather_rows` times on this machine.
"""

import math

import keras
from keras import ops

from ttrnn.tt.contraction import cost
from ttrnn.tt.contraction import execute
from ttrnn.tt.contraction import measure
from ttrnn.tt.contraction import precision as precision_
from ttrnn.tt.contraction.plan import DEFAULT_PLANNING_BATCH
from ttrnn.tt.contraction.plan import Plan
from ttrnn.tt.contraction.plan import validate_strategy
from ttrnn.tt.contraction.runtime import batch_shards
from ttrnn.tt.contraction.runtime import in_symbolic_build
from ttrnn.tt.contraction.runtime import process_count
from ttrnn.tt.cores import cores_modes
from ttrnn.tt.shapes import validate_modes
from ttrnn.tt.shapes import validate_ranks

_CACHE = {}


def choose_plan(
    tt_input_shape,
    tt_output_shape,
    tt_ranks,
    batch_size=None,
    strategy="auto",
    dtype="float32",
    backend=None,
    precision="float32",
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
        precision: of the GEMM that reads x. In "bfloat16" on JAX,
            "auto" and "flops" choose among the plans that start with
            one GEMM on x as it lies, if there are any: any other plan
            runs in bfloat16 throughout, whose bfloat16-output GEMMs XLA
            runs without AMX. A TTDense train step on 512 x 57,600
            uint8 values: 67 ms against 147 (float32: 110). torch and
            TensorFlow multiply bfloat16 on AMX either way and keep the
            float32 choice (there the bfloat16-throughout plan ran
            faster: 105 against 133 ms, 60 against 86). "measure" times
            float32 plans.

    Returns:
        A `Plan`.

    Example:
    >>> choose_plan((8, 8, 8, 8), (8, 8, 8, 8), (1, 16, 16, 16, 1),
    ...             512).groups
    (2, 2)
    """
    in_shape, out_shape = validate_modes(tt_input_shape, tt_output_shape)
    ranks = validate_ranks(tt_ranks, in_shape, out_shape, clip=False)
    batch = DEFAULT_PLANNING_BATCH if batch_size is None else int(batch_size)
    backend = backend or keras.backend.backend()
    if strategy == "measure" and in_symbolic_build():
        # Shape inference (e.g. Keras' placeholder batch of 83 on torch):
        # plan by the model, do not time or cache anything.
        strategy = "auto"
    if strategy == "measure" and process_count() > 1:
        raise ValueError(
            "strategy='measure' times plans in each process, and processes "
            "that chose different plans would run different programs. "
            "With several processes use 'auto', or a plan measured "
            "beforehand (`measured_plan`, then pass the `Plan` or its "
            "name). Received: strategy='measure' in a run of "
            f"{process_count()} processes"
        )
    key = (in_shape, out_shape, ranks, batch, strategy, str(dtype), backend)
    key += (cost.model_version(),)
    modes = (in_shape, out_shape, ranks, batch)
    if strategy == "measure":
        return cached(key, lambda: measure.measured_plan(*modes))
    first_gemm = precision_.is_low(precision) and backend == "jax"
    return cached(
        key + (first_gemm,),
        lambda: cost.modelled_plan(
            *modes, strategy, dtype, backend, first_gemm=first_gemm
        ),
    )


def cached(key, compute):
    """The choice cached under `key`, made by `compute()` on first use.

    Choices timed on this machine (`measure`) are made once per process
    and shape, and kept until `clear_cache`.

    Args:
        key: a hashable tuple naming the question (shapes, backend, ...).
        compute: a no-argument callable that makes the choice.

    Returns:
        What `compute` returned, the first time `key` was asked.
    """
    if key not in _CACHE:
        _CACHE[key] = compute()
    return _CACHE[key]


def planned_macs(
    tt_input_shape,
    tt_output_shape,
    tt_ranks,
    rows,
    strategy="auto",
    dtype="float32",
):
    """Forward multiply-adds of the plan `matmul` runs for `rows` rows.

    The plan is the one `choose_plan` picks for that batch (a `Plan` or
    a plan name: that plan; "measure": the cost model's choice, since a
    count should not time anything), and its multiply-adds include the
    per-batch work (merging cores, rebuilding W), which is why the cost
    of one row falls as the batch grows.

    Example:
    >>> planned_macs((4, 6), (2, 4), (1, 2, 1), 1, "ltr")
    192
    """
    if isinstance(strategy, Plan) or "[" in str(strategy):
        plan = validate_strategy(strategy, "strategy")
    else:
        planned = "auto" if strategy == "measure" else strategy
        plan = choose_plan(
            tt_input_shape, tt_output_shape, tt_ranks, rows, planned, dtype
        )
    modes = (tt_input_shape, tt_output_shape, tt_ranks)
    return cost.plan_flops(plan, *modes, rows)


def clear_cache():
    """Forgets every cached plan and timed lookup path."""
    _CACHE.clear()


def reads_integers(x, cores, strategy="auto", precision="float32"):
    """Whether `matmul` takes integer x (uint8 frames) without a float
    copy of it: the plan it runs starts with one plain GEMM on x, cast
    piece by piece (`ttrnn.tt.contraction.integer`); other plans cast x
    whole.

    Args:
        x, cores, strategy: as in `matmul` (x's values are not read).
    """
    plan = _plan_for(x, cores, strategy, precision)
    return execute.reads_integers(list(cores), plan)


def _plan_for(x, cores, strategy, precision="float32"):
    """The plan `matmul` runs for x, after validating its arguments."""
    strategy = validate_strategy(strategy)
    in_shape, out_shape, ranks = cores_modes(cores)
    num_in = math.prod(in_shape)
    x_shape = tuple(x.shape)
    if x_shape[-1] is not None and int(x_shape[-1]) != num_in:
        raise ValueError(
            f"The last dimension of the input must equal the product of "
            f"tt_input_shape. Received: tt_input_shape={in_shape} "
            f"(product {num_in}) for an input of {x_shape[-1]} features"
        )
    if isinstance(strategy, Plan):
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
        if batch is not None:
            # Under a `keras.distribution`, a traced step sees the global
            # batch; each device runs its share, which the plan is for.
            batch = -(-batch // batch_shards())
        dtype = getattr(x, "dtype", None) or "float32"
        if "int" in str(dtype):  # uint8 frames: planned as the cores' dtype
            dtype = keras.backend.standardize_dtype(cores[0].dtype)
        plan = choose_plan(
            in_shape, out_shape, ranks, batch, strategy, dtype, None, precision
        )
    return plan


def matmul(x, cores, strategy="auto", precision="float32"):
    """Computes x @ W for the TT-matrix W without building W (unless cheaper).

    Complexity: depends on the plan; see `ttrnn.tt.contraction`. "auto" takes
    the plan of least modelled time (multiply-adds, bytes written, ops;
    forward and backward) for the static batch size of x, cached per
    shape; with an unknown batch it plans for
    `DEFAULT_PLANNING_BATCH` rows. Under a `keras.distribution` that
    shards the batch over n devices, the batch planned for is each
    device's: ceil(batch / n) (`ttrnn.distribution.batch_shards`).

    Args:
        x: tensor of shape (..., prod m_k). Integer x (uint8 frames) is
            cast to the cores' dtype; plans that start with one GEMM on x
            as it lies cast it piece by piece instead, and do not keep a
            float copy for the backward pass (`reads_integers`).
        cores: list of d tensors of shape (r_k, m_k, n_k, r_{k+1}).
        strategy: "auto" (cost model), "measure" (the fastest of the
            best few plans, timed once per shape on this machine and
            backend), "flops" (fewest multiply-adds over
            every plan), "ltr" (core by core from core 0), "rtl" (from the
            last core), "dense" (rebuild W, one GEMM), a
            `ttrnn.tt.contraction.Plan` or its name (e.g. "ltr[2,2]/chunked").
            All give the same result up to float rounding.
        precision: "float32" or "bfloat16": the precision of the GEMM
            that reads x, forward and backward (bfloat16 operands, float32
            accumulation; `ttrnn.tt.contraction.precision`); plans that
            do not start with one GEMM on x then run in bfloat16
            throughout.

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
    precision_.validate(precision)
    plan = _plan_for(x, cores, strategy, precision)
    in_shape, out_shape, _ = cores_modes(cores)
    num_in, num_out = math.prod(in_shape), math.prod(out_shape)
    x_shape = tuple(x.shape)
    if len(x_shape) == 2:
        x2 = x
    else:
        x2 = ops.reshape(x, (-1, num_in))
    y = execute.run_plan(x2, list(cores), plan, precision)
    if len(x_shape) != 2:
        lead = ops.shape(x)[:-1]
        y = ops.reshape(y, (*lead, num_out))
    return y

"""Plans timed on this machine: `measured_plan`, `measured_lookup_path`
and `calibrate`.

Timing runs a plan's forward+backward pass the way each backend trains:
eager on torch, `jax.jit` on JAX, `tf.function` on TensorFlow, even when
the caller is itself being traced (`eager`).
"""

import contextlib
import itertools
import time

import keras
import numpy as np

from ttrnn.tt.contraction import execute
from ttrnn.tt.contraction.chunked_rows import chunked_gather_rows
from ttrnn.tt.contraction.chunked_rows import gather_rows_autodiff
from ttrnn.tt.contraction.cost import CostModel
from ttrnn.tt.contraction.cost import get_cost_model
from ttrnn.tt.contraction.cost import plan_flops
from ttrnn.tt.contraction.cost import plan_ops
from ttrnn.tt.contraction.cost import set_cost_model
from ttrnn.tt.contraction.grouped_rows import grouped_gather_rows
from ttrnn.tt.contraction.plan import DEFAULT_PLANNING_BATCH
from ttrnn.tt.contraction.plan import candidate_plans
from ttrnn.tt.shapes import validate_modes
from ttrnn.tt.shapes import validate_ranks


def eager():
    """A context that runs ops eagerly even inside a trace being built.

    Plans are timed while the caller's function may be traced (`jax.jit`,
    `tf.function`, torch under `no_grad`); the timing must run for real.
    """
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
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        cores = [jax.numpy.asarray(c) for c in cores_np]
        x = jax.numpy.asarray(x_np)

        @jax.jit
        def step(cs, x_):
            # The loss too: a training step needs the forward's output.
            return jax.value_and_grad(
                lambda c: execute.run_plan(x_, list(c), plan).sum()
            )(cs)

        return lambda: jax.block_until_ready(step(cores, x))
    if backend == "tensorflow":
        import tensorflow as tf

        cores = [tf.Variable(c) for c in cores_np]
        x = tf.constant(x_np)

        @tf.function
        def step():
            # tf.gradients, not a GradientTape: `eager()` may be an
            # init_scope, which pauses tapes.
            loss = tf.reduce_sum(execute.run_plan(x, cores, plan))
            return loss, tf.gradients(loss, cores)

        return lambda: [g.numpy() for g in step()[1]][:0]
    import torch

    cores = [torch.tensor(c, requires_grad=True) for c in cores_np]
    x = torch.tensor(x_np)

    def run():
        for c in cores:
            c.grad = None
        execute.run_plan(x, cores, plan).sum().backward()

    return run


def time_plans(plans, in_shape, out_shape, ranks, batch, repeats=3):
    """Median seconds of forward+backward of each plan, runs interleaved.

    Args:
        plans: list of `Plan`.
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
    with eager():
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
    in_shape, out_shape = validate_modes(tt_input_shape, tt_output_shape)
    ranks = validate_ranks(tt_ranks, in_shape, out_shape, clip=False)
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
    seconds = time_plans(chosen, in_shape, out_shape, ranks, batch, repeats)
    return chosen[min(range(len(chosen)), key=seconds.__getitem__)]


# The ways `ttrnn.tt.gather_rows` runs a plan's chains.
LOOKUP_PATHS = ("chunked", "autodiff", "grouped")
# The paths timed on JAX and TensorFlow. Their compilers unroll the
# chunked path's chunks: on the text classifier's step it compiled 3-5x
# longer and ran 1.1x (JAX) and 2.2x (TensorFlow) the autodiff step
# (`runtime.chunked_lookup`), so it is not worth a compile per shape.
COMPILED_LOOKUP_PATHS = ("autodiff", "grouped")


def lookup_paths_timed(backend=None):
    """The paths `measured_lookup_path` times on `backend` (default:
    Keras' backend): all three on torch, `COMPILED_LOOKUP_PATHS` on JAX
    and TensorFlow."""
    backend = backend or keras.backend.backend()
    return LOOKUP_PATHS if backend == "torch" else COMPILED_LOOKUP_PATHS


def _lookup_fn(gather, cores_np, digits_np, upstream_np, direction):
    """A no-argument callable running one lookup path's forward and
    backward (every core's gradient for the upstream gradient
    `upstream_np`) the way the backend trains: eager torch, `jax.jit`,
    `tf.function`."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        cores = [jax.numpy.asarray(c) for c in cores_np]
        digits = [jax.numpy.asarray(d, "int32") for d in digits_np]
        upstream = jax.numpy.asarray(upstream_np)

        @jax.jit
        def step(cs, ds, g):
            return jax.value_and_grad(
                lambda c: (gather(list(c), list(ds), direction) * g).sum()
            )(cs)

        return lambda: jax.block_until_ready(step(cores, digits, upstream))
    if backend == "tensorflow":
        import tensorflow as tf

        cores = [tf.Variable(c) for c in cores_np]
        digits = [tf.constant(d, "int32") for d in digits_np]
        upstream = tf.constant(upstream_np)

        @tf.function
        def step():
            # tf.gradients: `eager()` is an init_scope, which pauses tapes.
            loss = tf.reduce_sum(gather(cores, digits, direction) * upstream)
            return loss, tf.gradients(loss, cores)

        return lambda: [g.numpy() for g in step()[1]][:0]
    import torch

    cores = [torch.tensor(c, requires_grad=True) for c in cores_np]
    digits = [torch.as_tensor(d) for d in digits_np]
    upstream = torch.as_tensor(upstream_np)

    def run():
        for c in cores:
            c.grad = None
        # A dense upstream gradient, as in training (that of a plain sum
        # is a broadcast view, which the paths read differently).
        gather(cores, digits, direction).backward(upstream)

    return run


def measured_lookup_path(core_shapes, batch, direction, repeats=9):
    """The fastest lookup path for these cores and B rows, timed here.

    Times forward+backward (every core's gradient for a random upstream
    gradient) of the paths of `lookup_paths_timed`: on torch the chunked
    kernel (`chunked_gather_rows`), autodiff (`gather_rows_autodiff`)
    and the grouped products (`grouped_gather_rows`); on JAX and
    TensorFlow autodiff and grouped. Runs are interleaved, on random
    float32 cores of `core_shapes` and B random digits, the way the
    backend trains (eager torch, `jax.jit`, `tf.function`, even while
    the caller is being traced: `eager`). Which one wins depends on the
    CPU: for 1,000,000 x 256 at rank 16 and 4,096 ids the chunked kernel
    took 17-18 ms against 20-22 on an Intel Xeon, but 27.1 against 21.7
    on an AMD EPYC (Zen 4). All compute the same rows and gradients.
    Costs up to (repeats + 1) lookups a path (under a second there on
    torch; JAX and TensorFlow also compile each path once), fewer where
    the runs pass `LOOKUP_TIMING_BUDGET` seconds; median times compared.

    Args:
        core_shapes: the (r_k, m_k, n_k, r_{k+1}) of each core (after a
            plan's merge of the leading cores).
        batch: B, rows looked up.
        direction: the plan's direction, "ltr" or "rtl".
        repeats: timed runs per path (after one warm-up run), at most.

    Returns:
        One of `LOOKUP_PATHS`.
    """
    paths = lookup_paths_timed()
    rng = np.random.default_rng(0)
    cores = [rng.standard_normal(s).astype("float32") for s in core_shapes]
    digits = [rng.integers(0, s[1], size=batch) for s in core_shapes]
    cols = int(np.prod([s[2] for s in core_shapes]))
    upstream = rng.standard_normal((batch, cols)).astype("float32")
    gathers = {
        "chunked": chunked_gather_rows,
        "autodiff": gather_rows_autodiff,
        "grouped": grouped_gather_rows,
    }
    with eager():
        fns = {
            p: _lookup_fn(gathers[p], cores, digits, upstream, direction)
            for p in paths
        }
        times = {k: [] for k in fns}
        for fn in fns.values():
            fn()  # warm-up (and compile)
        for i in range(repeats):
            # Alternate which path runs first: on a loaded CPU the
            # second of a pair ran measurably slower.
            for key in paths[:: 1 - 2 * (i % 2)]:
                start = time.perf_counter()
                fns[key]()
                times[key].append(time.perf_counter() - start)
            if i + 1 >= MIN_LOOKUP_REPEATS and (
                sum(map(sum, times.values())) > LOOKUP_TIMING_BUDGET
            ):
                break
    return min(paths, key=lambda k: float(np.median(times[k])))


# Seconds of timed runs after which `measured_lookup_path` stops early
# (after at least MIN_LOOKUP_REPEATS rounds): a lookup of 4,096 ids of a
# five-core rank-34 table takes ~1 s a path, and 9 rounds took 31 s on
# JAX under load.
LOOKUP_TIMING_BUDGET = 2.0
MIN_LOOKUP_REPEATS = 3


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
    `repeats` interleaved runs) and fits the five time constants of
    `CostModel` (all but `chunked_scale`) by non-negative least squares
    on relative error.

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
        measured = time_plans(chosen, ins, outs, ranks, batch, repeats)
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
    """Tiny non-negative least squares (every active set of a few
    unknowns)."""
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

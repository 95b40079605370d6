"""A roofline of the paper TT-GRU's training step and of its video epoch.

Part 1, the step: one training step of `ttrnn experiment ucf11 --protocol
paper --model tt-gru` (the experiment's own model: uint8 frames of
57,600 = 160 x 120 x 3 values and a padding mask, TT input map ranks 4 ->
3 x 256 in the "shared" gate layout, GRU with recurrent dropout 0.25,
Dense(11), Adam) on one bucket of `--batch` clips x `--frames` frames.
Each phase runs as its own compiled function (`jax.jit` on JAX,
`tf.function` on TensorFlow, eager torch), timed after a warm-up,
interleaved with the others (medians):

- read: the batch's frames read from a `FrameCache` into a batch array
  (`VideoSequence`'s file reads), handed to the backend;
- cast: uint8 -> float32 of the whole batch (what the map's chunks do,
  chunk by chunk; the paper TT-GRU has no input dropout, so no mask
  multiply: the padding mask acts in the recurrence);
- map fwd / map fwd+bwd: `cell.project_sequence`, and with the
  gradients of the cores and bias (of the sum of its squared outputs, a
  loss that needs the forward): on JAX in rematerialised time chunks
  that keep their first GEMM's output (the backward recomputes the rest
  of each chunk's map), on torch with the first GEMM cast piece by piece
  and nothing recomputed, on TensorFlow in rematerialised chunks each
  recomputed whole; "chunks recomputed": the last path on every backend
  (`integer_first_gemm = False`, the map before 6 Dec 2026, evening);
- recurrence fwd / fwd+bwd: the layer's loop (`TTGRU.recur`) over the
  projected inputs (masked), and with the gradients of the recurrent
  kernel, the bias and the projected inputs;
- optimiser: Adam's update of all weights;
- step: `model.train_on_batch` (all of the above but reading, plus the
  head, the loss and the framework); "chunks recomputed": the same
  model (same seed) with the map recomputing its chunks.

Beside each phase: its multiply-adds and bytes, computed from the shapes
(the map's from the contraction planner's `plan_ops`), and the time
those would take at the machine's ceilings measured in the same process:
a 2,048^3 float32 GEMM (NumPy and the backend) and a 256 MB copy
(NumPy); the fraction of that limit the phase reaches.

Part 2, the epoch (`--epoch`): `ttrnn experiment ucf11 --protocol paper`
on the generated UCF11-layout set of `bench_epoch.py` (`--clips`, fold 0),
2 epochs, the second one split into: the training steps at the isolated
step's rate on real frames; padding (padded - real frames at that rate);
the batches' time beyond that rate (per-bucket efficiency: smaller and
odd-sized batches); time between batches (Keras' loop, reading not
overlapped, Python); validation. Reading (`VideoSequence._batch`, on the
look-ahead thread) is given beside it.

    python benchmarks/bench_roofline.py --short            # ~5 min
    python benchmarks/bench_roofline.py                    # 16 x 256
    python benchmarks/bench_roofline.py --epoch --clips 200

`--input-precision bfloat16` runs the epoch's TT-GRU with bfloat16 input
products (`ttrnn experiment --input-precision`); the step's phases stay
float32.

Threads: TTRNN_BENCH_THREADS (default 1, as the other benchmarks).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
IN_SHAPE, OUT_SHAPE, RANK, UNITS, GATES = (
    (8, 20, 20, 18),
    (4, 4, 4, 4),
    4,
    256,
    3,
)
FEATURES = math.prod(IN_SHAPE)


def load():
    return f"{os.getloadavg()[0]:.1f}"


# --- ceilings ------------------------------------------------------------


def ceilings(backend_matmul):
    """GEMM GFLOP/s (NumPy, backend) and copy GB/s (read + write)."""
    import common
    import numpy as np

    out = {"numpy_gflops": common.matmul_ceiling(size=2048, repeats=5)}
    a = np.random.default_rng(0).standard_normal((2048, 2048), "float32")
    out["backend_gflops"] = (
        2 * 2048**3 / median_time(lambda: backend_matmul(a), 5) / 1e9
    )
    src = np.ones(2**26, "float32")  # 256 MB
    dst = np.empty_like(src)
    seconds = median_time(lambda: np.copyto(dst, src), 5)
    out["copy_gbs"] = 2 * src.nbytes / seconds / 1e9
    return out


def median_time(fn, repeats, warmup=1):
    import numpy as np

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# --- analytic costs -------------------------------------------------------


def analytic(batch, frames, params, chunk_rows, backend):
    """Multiply-adds and bytes of each phase, from the shapes alone.

    The map's backward: on torch the first GEMM's output is kept
    (`ttrnn.tt.contraction.integer`) and nothing is recomputed; on JAX
    with `runtime.JAX_KEEP_FIRST_GEMM` (off by default) it is kept and
    only the rest of the map is recomputed; otherwise, and in the "chunks
    recomputed" rows, each chunk's whole map is recomputed."""
    from ttrnn import tt
    from ttrnn.tt.contraction import cost
    from ttrnn.tt.contraction import runtime

    n = batch * frames
    gate_out = (GATES * OUT_SHAPE[0],) + OUT_SHAPE[1:]
    ranks = tt.validate_ranks(RANK, IN_SHAPE, gate_out)
    plan = tt.choose_plan(IN_SHAPE, gate_out, ranks, chunk_rows)
    ops_ = cost.plan_ops(plan, IN_SHAPE, gate_out, ranks, chunk_rows)
    macs = sum(o[1] * o[2] * o[3] * o[4] for o in ops_ if o[0] == "mm")
    # Bytes of the map: each GEMM reads its left operand and writes its
    # output; each copy reads and writes; the x chunk in float32.
    moved = 0
    for o in ops_:
        if o[0] == "mm":
            _, rows, inner, cols, b = o
            moved += 4 * (rows * inner * b + rows * cols * b)
        else:
            moved += 8 * o[1]
    # The GEMM on x needs no input gradient (x is data): its dA is skipped.
    big = max((o for o in ops_ if o[0] == "mm"), key=lambda o: o[1] * o[2])
    first_dx = big[1] * big[2] * big[3] * big[4]
    per_chunk = n / chunk_rows
    map_fwd = macs * per_chunk
    map_bytes = moved * per_chunk + n * FEATURES  # + the uint8 frames
    recomputed = map_fwd * 4 - first_dx * per_chunk
    # Keeping the first GEMM: not recomputed (its output written and read
    # back once); on torch the rest is not recomputed either.
    first_fwd = first_dx * per_chunk
    u_saved = 2 * 4 * big[1] * big[3] * big[4] * per_chunk
    saving = {
        "torch": (recomputed - map_fwd, map_bytes * 2 + u_saved),
    }
    if runtime.JAX_KEEP_FIRST_GEMM:  # JAX's default recomputes the chunk
        saving["jax"] = (recomputed - first_fwd, map_bytes * 2 + u_saved)
    rec_step = UNITS * GATES * UNITS  # h @ U (z, r) and (r h) @ U_h
    u_bytes = 4 * UNITS * GATES * UNITS
    rows = {
        "read": (0, n * FEATURES * 2),  # page cache -> batch
        "cast": (0, n * FEATURES * 5),  # uint8 read, float32 written
        "map fwd": (map_fwd, map_bytes),
        # Backward: the chunk recomputed (fwd again), then dA and dB of
        # every GEMM but the input gradient of the one on x.
        "map fwd+bwd": saving.get(backend, (recomputed, map_bytes * 3)),
        "map fwd+bwd, chunks recomputed": (recomputed, map_bytes * 3),
        "recurrence fwd": (
            n * rec_step,
            frames * u_bytes + n * 4 * 4 * UNITS * GATES,
        ),
        "recurrence fwd+bwd": (
            3 * n * rec_step,
            3 * frames * u_bytes + 3 * n * 4 * 4 * UNITS * GATES,
        ),
        "optimiser": (0, params * 4 * 7),  # w, g, m, v read; w, m, v written
    }
    for step, map_ in (
        ("step", "map fwd+bwd"),
        ("step, chunks recomputed", "map fwd+bwd, chunks recomputed"),
    ):
        rows[step] = (
            rows[map_][0] + rows["recurrence fwd+bwd"][0],
            rows[map_][1]
            + rows["recurrence fwd+bwd"][1]
            + rows["optimiser"][1],
        )
    return rows, plan.name


# --- the backend's compiled functions -------------------------------------


def compiled(fn, variables, grad_inputs=0):
    """fn(*inputs) -> tensor, as the backend compiles it; with
    `grad_inputs` > 0 (or variables), a function returning the gradients
    of sum(fn(...) ** 2) w.r.t. `variables` and the first `grad_inputs`
    inputs (a loss that needs the forward's values, as training does:
    of a plain sum XLA and Grappler prune the forward pass, and a
    rematerialised map then runs its forward once instead of twice).
    Returns a callable of the inputs that blocks on its result."""
    import keras

    backend = keras.backend.backend()
    differentiate = bool(variables and variables["train"]) or grad_inputs > 0
    if backend == "jax":
        import jax
        from keras import StatelessScope

        all_vars = list(variables["all"]) if variables else []
        trainable = list(variables["train"]) if variables else []

        def run(tvals, avals, *inputs):
            mapping = list(zip(trainable, tvals)) + list(zip(all_vars, avals))
            with StatelessScope(state_mapping=mapping):
                return fn(*inputs)

        if differentiate:

            def loss(tvals, avals, *inputs):
                return jax.numpy.sum(
                    jax.numpy.square(run(tvals, avals, *inputs))
                )

            argnums = (0,) + tuple(range(2, 2 + grad_inputs))
            jitted = jax.jit(jax.grad(loss, argnums=argnums))
        else:
            jitted = jax.jit(run)

        def values():
            # Fetched at each call: the training step donates them.
            return [v.value for v in trainable], [v.value for v in all_vars]

        def call(*x):
            return jax.block_until_ready(jitted(*values(), *x))

        # The compiled program, for a look at its HLO.
        call.lower = lambda *x: jitted.lower(*values(), *x)
        return call
    if backend == "tensorflow":
        import tensorflow as tf

        trainable = list(variables["train"]) if variables else []

        @tf.function(jit_compile=False, reduce_retracing=True)
        def run(*inputs):
            if not differentiate:
                return fn(*inputs)
            with tf.GradientTape() as tape:
                for x in inputs[:grad_inputs]:
                    tape.watch(x)
                loss = tf.reduce_sum(tf.square(fn(*inputs)))
            return tape.gradient(loss, trainable + list(inputs[:grad_inputs]))

        return lambda *x: [t.numpy() for t in tf.nest.flatten(run(*x))]
    import torch

    trainable = [v.value for v in variables["train"]] if variables else []

    def run(*inputs):
        inputs = [
            x.detach().requires_grad_(i < grad_inputs)
            for i, x in enumerate(inputs)
        ]
        out = fn(*inputs)
        if differentiate:
            return torch.autograd.grad(
                out.square().sum(),
                trainable + inputs[:grad_inputs],
                allow_unused=True,
            )
        return out

    return run


def step_phases(args):
    """Times the phases of one training step; returns a record."""
    import common
    import keras
    import numpy as np
    from keras import ops

    from ttrnn import backends
    from ttrnn.data import FrameCache
    from ttrnn.experiments import registry
    from ttrnn.experiments import training

    common.set_backend_threads()
    backend = keras.backend.backend()
    if backend == "torch" and not args.no_flush:
        import torch

        torch.set_flush_denormal(True)
    experiment = registry.get("ucf11").with_protocol("paper")
    b, t = args.batch, args.frames

    paper_model = common.paper_tt_gru

    model, loss = paper_model()
    training.compile_model(model, loss, experiment, 1e-4)
    rng = np.random.default_rng(0)
    # One bucket: clips of lengths t/2..t, zero pre-padded.
    lengths = rng.integers(t // 2, t + 1, b)
    lengths[0] = t
    x_np = rng.integers(0, 256, (b, t, FEATURES), dtype=np.uint8)
    mask_np = np.arange(t)[None, :] >= (t - lengths)[:, None]
    x_np[~mask_np] = 0
    y_np = rng.integers(0, 11, b).astype("int32")
    weight_np = np.ones(b, "float32")
    x = ops.convert_to_tensor(x_np)
    mask = ops.convert_to_tensor(mask_np)
    y = ops.convert_to_tensor(y_np)
    weight = ops.convert_to_tensor(weight_np)
    model.train_on_batch([x, mask], y, sample_weight=weight)  # builds all
    rnn = model.get_layer("rnn")
    cell = rnn.cell

    def project(frames):
        return cell.project_sequence(frames, training=True)

    def project_recomputing(frames):
        # The reference path: each chunk's whole map recomputed.
        cell.integer_first_gemm = False
        try:
            return cell.project_sequence(frames, training=True)
        finally:
            del cell.integer_first_gemm

    # The same model whose map recomputes each chunk (same seed, weights).
    model_rec, _ = paper_model()
    model_rec.get_layer("rnn").cell.integer_first_gemm = False
    training.compile_model(model_rec, loss, experiment, 1e-4)
    model_rec.train_on_batch([x, mask], y, sample_weight=weight)

    projected = project(x)
    h0 = ops.zeros((b, UNITS))

    def recur(p, m):
        cell.reset_recurrent_dropout_mask()
        cell.get_recurrent_dropout_mask(h0)
        with cell.consuming_projected_inputs():
            last, _, _ = rnn.recur(p, [h0], mask=m, training=True)
        return last

    all_vars = [v for v in model.variables if not v.trainable]
    map_vars = {"train": list(cell.cores) + [cell.bias], "all": all_vars}
    rec_vars = {
        "train": [cell.recurrent_kernel],
        "all": all_vars,
    }
    grads = [ops.zeros(v.shape) + 1e-3 for v in model.trainable_variables]
    optimizer = model.optimizer
    if backend == "jax":
        import jax

        opt_step = jax.jit(optimizer.stateless_apply)

        def optimise():
            opt_vars = [v.value for v in optimizer.variables]
            tvals = [v.value for v in model.trainable_variables]
            jax.block_until_ready(opt_step(opt_vars, grads, tvals))
    elif backend == "tensorflow":
        import tensorflow as tf

        tf_apply = tf.function(
            lambda: optimizer.apply(grads, model.trainable_variables)
        )

        def optimise():
            tf_apply()
    else:

        def optimise():
            optimizer.apply(grads, model.trainable_variables)

    # Reading: the bucket's clips from a frame cache (page cache warm).
    tmp = tempfile.mkdtemp(prefix="roofline-cache-")
    cache = FrameCache(tmp, frame_shape=(120, 160))
    clips = []
    for i in range(b):
        clip = os.path.join(tmp, f"clip{i}.mpg")
        with open(clip, "wb") as file:  # stands for the video file
            file.write(b"generated")
        cache.store(clip, x_np[i, t - lengths[i] :].reshape(-1, 120, 160, 3))
        clips.append(clip)

    def read():
        out = np.zeros((b, t, 120, 160, 3), np.uint8)
        for i, clip in enumerate(clips):
            cache.read_into(clip, out[i, t - lengths[i] :])
        batch = backends.zero_copy_batch(out.reshape(b, t, FEATURES))
        return ops.convert_to_tensor(batch)

    fwd_map = compiled(project, None)
    fwd_cast = compiled(lambda v: ops.cast(v, "float32"), None)
    fns = {
        "read": read,
        "cast": lambda: fwd_cast(x),
        "map fwd": lambda: fwd_map(x),
        "map fwd+bwd": (lambda f: lambda: f(x))(compiled(project, map_vars)),
        "recurrence fwd": (lambda f: lambda: f(projected, mask))(
            compiled(recur, {"train": [], "all": all_vars})
        ),
        "recurrence fwd+bwd": (lambda f: lambda: f(projected, mask))(
            compiled(recur, rec_vars, grad_inputs=1)
        ),
        "optimiser": optimise,
        "step": lambda: model.train_on_batch(
            [x, mask], y, sample_weight=weight
        ),
        "map fwd+bwd, chunks recomputed": (lambda f: lambda: f(x))(
            compiled(project_recomputing, map_vars)
        ),
        "step, chunks recomputed": lambda: model_rec.train_on_batch(
            [x, mask], y, sample_weight=weight
        ),
    }
    if backend == "torch":  # eager: no compile, but no_grad for forwards
        import torch

        for name in ("cast", "map fwd", "recurrence fwd"):
            fns[name] = (lambda f: lambda: torch.no_grad()(f)())(fns[name])
    import shutil

    loads = [load()]
    ceil = ceilings(_backend_matmul(backend))
    loads.append(load())
    seconds = common.interleaved(fns, args.repeats, warmup=1)
    loads.append(load())
    shutil.rmtree(tmp, ignore_errors=True)
    params = sum(math.prod(v.shape) for v in model.trainable_variables)
    costs, plan = analytic(b, t, params, _chunk_rows(b), backend)
    return {
        "backend": backend,
        "batch": b,
        "frames": t,
        "real_frames": int(lengths.sum()),
        "plan": plan,
        "chunk_rows": _chunk_rows(b),
        "seconds": seconds,
        "costs": costs,
        "ceilings": ceil,
        "loads": loads,
        "flush_denormal": backend != "torch" or not args.no_flush,
        "params": params,
    }


def _chunk_rows(batch):
    """Rows (batch x frames) of one rematerialised uint8 chunk."""
    import importlib

    values = 2**22
    for name in ("ttrnn.tt", "ttrnn.layers._tt_rnn_inputs"):
        module = importlib.import_module(name)
        values = getattr(module, "MAX_INTEGER_CHUNK_VALUES", None) or values
        if hasattr(module, "MAX_INTEGER_CHUNK_VALUES"):
            break
    return batch * max(1, values // (batch * FEATURES))


def _backend_matmul(backend):
    if backend == "jax":
        import jax

        f = jax.jit(lambda a: a @ a)
        return lambda a: jax.block_until_ready(f(a))
    if backend == "tensorflow":
        import tensorflow as tf

        return lambda a: tf.linalg.matmul(a, a).numpy()
    import torch

    return lambda a: torch.from_numpy(a) @ torch.from_numpy(a)


# --- the epoch -----------------------------------------------------------


def epoch_child(args):
    """Runs the paper protocol on the generated set, timing its parts."""
    import common
    import keras

    from ttrnn.data import sequence as sequence_module
    from ttrnn.experiments import run

    common.set_backend_threads()
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        torch.set_flush_denormal(True)
    reads = []
    original_batch = sequence_module.VideoSequence._batch

    def timed_batch(self, index):
        start = time.perf_counter()
        out = original_batch(self, index)
        reads.append((self.epoch, time.perf_counter() - start))
        return out

    sequence_module.VideoSequence._batch = timed_batch
    log = {"batches": [], "epochs": [], "tests": []}

    class Timer(keras.callbacks.Callback):
        def __init__(self, train):
            super().__init__()
            self.train = train

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            log["epochs"].append([epoch, time.perf_counter(), None])

        def on_train_batch_begin(self, batch, logs=None):
            self.begin = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            plan = getattr(self.train, "_plan", None)
            steps, rows = plan[batch] if plan else (0, [])
            log["batches"].append(
                [self.epoch, steps, len(rows), time.perf_counter() - self.begin]
            )

        def on_test_begin(self, logs=None):
            log["epochs"][-1][2] = time.perf_counter()

        def on_test_end(self, logs=None):
            log["tests"].append(
                [self.epoch, time.perf_counter() - log["epochs"][-1][2]]
            )

    original_fit = keras.Model.fit

    def fit(self, x=None, *a, **kw):
        kw["callbacks"] = list(kw.get("callbacks") or []) + [Timer(x)]
        return original_fit(self, x, *a, **kw)

    keras.Model.fit = fit
    out = os.path.join(HERE, "_out", "roofline", f"run-{backend}")
    result = run.run_experiment(
        "ucf11",
        "tt-gru",
        data_dir=args.data_dir,
        out=out,
        epochs=2,
        protocol="paper",
        folds=[0],
        cache_dir=args.cache_dir,
        overwrite=True,
        seed=0,
        verbose=0,
        plot=False,
        input_precision=args.input_precision,  # None: the library's
    )
    last = log["epochs"][-1]
    batches = [r for r in log["batches"] if r[0] == last[0]]
    real = _real_frames(args.data_dir, result)
    return {
        "backend": backend,
        "input_precision": args.input_precision or "float32",
        "threads": common.THREADS,
        "train_seconds": last[2] - last[1],
        "validation_seconds": log["tests"][-1][1],
        "batches": [r[1:] for r in batches],
        "real_frames": real,
        "padded_frames": int(sum(s * n for _, s, n, _ in batches)),
        "read_seconds": sum(s for e, s in reads if e == last[0]),
        "reads": len([1 for e, _ in reads if e == last[0]]),
        "loads": [load()],
    }


def _real_frames(data_dir, result):
    from ttrnn.experiments import datasets
    from ttrnn.experiments import registry

    lengths = json.load(open(os.path.join(data_dir, "done.json")))["lengths"]
    dataset = datasets.load_video(registry.get("ucf11"), data_dir)
    train_idx, _ = dataset.folds(5, seed=0)[0]
    return int(
        sum(
            lengths[int(os.path.basename(dataset.clips[i])[-8:-4])]
            for i in train_idx
        )
    )


# --- the parent: children per backend, tables ------------------------------


def run_child(backend, argv):
    command = [sys.executable, os.path.abspath(__file__), *argv]
    env = dict(os.environ, KERAS_BACKEND=backend)
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [
        line[len("RESULT ") :]
        for line in proc.stdout.splitlines()
        if line.startswith("RESULT ")
    ]
    if proc.returncode or not lines:
        print(f"{backend}: failed ({proc.returncode})\n{proc.stderr[-3000:]}")
        return None
    return json.loads(lines[-1])


PHASES = (
    "read",
    "cast",
    "map fwd",
    "map fwd+bwd",
    "map fwd+bwd, chunks recomputed",
    "recurrence fwd",
    "recurrence fwd+bwd",
    "optimiser",
    "step",
    "step, chunks recomputed",
)


def step_table(records):
    lines = [
        "| phase | M multiply-adds | MB moved | "
        + " | ".join(
            f"{r['backend']} ms (limit ms, % of limit)" for r in records
        )
        + " |",
        "|---|---|---|" + "---|" * len(records),
    ]
    for phase in PHASES:
        cells, counts = [], {}
        for r in records:
            macs, moved = r["costs"][phase]
            counts.setdefault((macs, moved), []).append(r["backend"])
            c = r["ceilings"]
            limit = max(
                2 * macs / (c["backend_gflops"] * 1e9),
                moved / (c["copy_gbs"] * 1e9),
            )
            ms = 1e3 * r["seconds"][phase]
            share = 100 * limit / (ms / 1e3)
            cells.append(f"{ms:,.1f} ({1e3 * limit:,.1f}, {share:.0f} %)")
        # The multiply-adds of a phase, per backend where they differ.
        named = len(counts) > 1
        macs_cell = " / ".join(
            f"{m / 1e6:,.0f}" + (f" ({', '.join(b)})" if named else "")
            for (m, _), b in counts.items()
        )
        moved_cell = " / ".join(f"{v / 1e6:,.0f}" for _, v in counts)
        lines.append(
            f"| {phase} | {macs_cell} | {moved_cell} | "
            + " | ".join(cells)
            + " |"
        )
    frames = records[0]["real_frames"]
    lines.append(
        "| step, real frames/s | | | "
        + " | ".join(f"{frames / r['seconds']['step']:,.0f}" for r in records)
        + " |"
    )
    lines.append(
        "| ceilings: GEMM GFLOP/s NumPy / backend; copy GB/s | | | "
        + " | ".join(
            f"{r['ceilings']['numpy_gflops']:.0f} / "
            f"{r['ceilings']['backend_gflops']:.0f}; "
            f"{r['ceilings']['copy_gbs']:.1f}"
            for r in records
        )
        + " |"
    )
    lines.append(
        "| load average (start, after ceilings, end) | | | "
        + " | ".join(", ".join(r["loads"]) for r in records)
        + " |"
    )
    return "\n".join(lines)


def epoch_table(records, step_fps):
    """The epoch's training time split against its fastest batch's rate
    (padded frames/s), measured in the same epoch: the isolated step of
    a short bucket runs at another rate than the epoch's long ones."""
    lines = [
        "| backend | epoch train s | steps at the best batch's rate (real "
        "frames) | padding | batches beyond that rate | between batches "
        "| validation s | reading s (look-ahead thread) | real frames/s "
        "| best batch / isolated step, padded frames/s | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        fps = max(s * n / t for s, n, t in r["batches"])
        total = r["train_seconds"]
        in_batches = sum(b[2] for b in r["batches"])
        ideal = r["real_frames"] / fps
        padding = (r["padded_frames"] - r["real_frames"]) / fps
        beyond = in_batches - r["padded_frames"] / fps
        between = total - in_batches

        def pct(v, total=total):
            return f"{v:.1f} ({100 * v / total:.0f} %)"

        isolated = step_fps.get(r["backend"], float("nan"))
        lines.append(
            f"| {r['backend']} | {total:.1f} | {pct(ideal)} | {pct(padding)} "
            f"| {pct(beyond)} | {pct(between)} | "
            f"{r['validation_seconds']:.1f} | {r['read_seconds']:.1f} "
            f"({r['reads']} batches) | {r['real_frames'] / total:,.0f} "
            f"| {fps:,.0f} / {isolated:,.0f} | {', '.join(r['loads'])} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--short", action="store_true", help="16 x 32 frames")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--epoch", action="store_true", help="also the epoch")
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument(
        "--no-flush", action="store_true", help="torch: denormals not flushed"
    )
    parser.add_argument(
        "--input-precision",
        choices=("float32", "bfloat16"),
        default=None,
        help="the epoch's TT-GRU input_precision (default: the library's)",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.frames = args.frames or (32 if args.short else 256)
    args.repeats = args.repeats or (3 if args.short else 5)
    os.environ.setdefault("TTRNN_BENCH_THREADS", "1")
    import common  # noqa: F401 - sets thread counts before backends load

    if args.child:
        record = (step_phases if args.child == "step" else epoch_child)(args)
        print("RESULT " + json.dumps(record), flush=True)
        return 0
    print(common.machine(), flush=True)
    backends = args.backends.split(",")
    steps = []
    for backend in backends:
        argv = [
            "--child=step",
            f"--batch={args.batch}",
            f"--frames={args.frames}",
            f"--repeats={args.repeats}",
        ] + (["--no-flush"] if args.no_flush else [])
        record = run_child(backend, argv)
        if record:
            steps.append(record)
            print(json.dumps(record["seconds"]), flush=True)
    print(
        f"\nOne training step, {args.batch} clips x {args.frames} frames "
        f"(plan {steps[0]['plan']}, chunks of {steps[0]['chunk_rows']} rows):"
    )
    print(step_table(steps), flush=True)
    os.makedirs(os.path.join(HERE, "_out", "roofline"), exist_ok=True)
    with open(
        os.path.join(HERE, "_out", "roofline", "results.jsonl"), "a"
    ) as f:
        for r in steps:
            f.write(json.dumps(r) + "\n")
    if not args.epoch:
        return 0
    import bench_epoch

    out = os.path.join(HERE, "_out", "epoch")
    cache_dir = os.path.join(out, "cache")
    data_dir = bench_epoch.write_dataset(out, cache_dir, args.clips, 0)
    step_fps = {
        r["backend"]: r["batch"] * r["frames"] / r["seconds"]["step"]
        for r in steps
    }
    epochs = []
    for backend in backends:
        record = run_child(
            backend,
            [
                "--child=epoch",
                f"--data-dir={data_dir}",
                f"--cache-dir={cache_dir}",
            ]
            + (
                [f"--input-precision={args.input_precision}"]
                if args.input_precision
                else []
            ),
        )
        if record:
            epochs.append(record)
            with open(
                os.path.join(HERE, "_out", "roofline", "results.jsonl"), "a"
            ) as f:
                f.write(json.dumps(record) + "\n")
    print(
        f"\nThe epoch against its steps ({args.clips} generated clips, fold "
        f"0, second epoch; the step's rate: padded frames/s of the "
        f"{args.batch} x {args.frames} step above):"
    )
    print(epoch_table(epochs, step_fps))
    return 0


if __name__ == "__main__":
    sys.exit(main())

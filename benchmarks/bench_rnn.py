"""Training-step time of TTGRU / TTLSTM against Keras' GRU / LSTM.

UCF11-shaped input (Yang et al. 2017): batch 16, 16 frames of 57,600
values (160 x 120 x 3 = 8 * 20 * 20 * 18), 256 units (4 * 4 * 4 * 4), TT
rank 4, "shared" gate layout, each RNN followed by Dense(11). One training
step = `model.train_on_batch` (forward, backward, Adam update), compiled
the backend's way (jit on JAX, tf.function on TensorFlow, eager on torch).
The models run interleaved, after warm-up steps, and the table gives the
median of the repeats and the ratio dense / TT.

    KERAS_BACKEND=jax python benchmarks/bench_rnn.py
    KERAS_BACKEND=torch python benchmarks/bench_rnn.py --quick

The default run (1 warm-up and 3 timed steps per model) takes 1 to 2
minutes per backend on 2 idle CPU cores; Keras' dense LSTM on torch is the
slowest part. `--repeats 7` gives steadier medians.

`--long` runs the long-sequence case instead (batch 4 x 256 frames,
same frame and layer sizes): each model in its own child process, so
that the table can give its peak memory (the process's peak resident
set during the timed steps, minus the resident set before the first
step: the training step's working set, Keras and the batch excluded).
Its timings are medians of 3 steps per process, not interleaved. On
torch every run flushes denormals to zero, as XLA and TensorFlow do.

    KERAS_BACKEND=torch python benchmarks/bench_rnn.py --long

The batch is converted to backend tensors once, before timing (as a
prefetching input pipeline would deliver it): converting a 59 MB NumPy
batch costs every model the same ~60 ms per step on JAX (fresh memory),
which is not the layers' work. `--numpy` feeds NumPy arrays instead.
Threads per process follow `common.THREADS` (TTRNN_BENCH_THREADS,
default 1), as in the other benchmarks.
"""

import argparse
import math
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402, I001 - sets thread counts before backends load

import keras  # noqa: E402
import numpy as np  # noqa: E402

import ttrnn  # noqa: E402
from ttrnn import tt  # noqa: E402

FULL = {
    "batch": 16,
    "frames": 16,
    "tt_input_shape": (8, 20, 20, 18),
    "tt_output_shape": (4, 4, 4, 4),
    "tt_ranks": 4,
    "classes": 11,
}
LONG = dict(FULL, batch=4, frames=256)
QUICK = {
    "batch": 4,
    "frames": 4,
    "tt_input_shape": (4, 8, 6),
    "tt_output_shape": (2, 4, 2),
    "tt_ranks": 3,
    "classes": 11,
}


def build_models(cfg, only=None, input_precision="float32"):
    """The four models (or just `only`), keyed by name, in a fixed order;
    the TT layers' GEMM on the inputs in `input_precision`."""
    features = math.prod(cfg["tt_input_shape"])
    units = math.prod(cfg["tt_output_shape"])
    tt_args = (cfg["tt_input_shape"], cfg["tt_output_shape"], cfg["tt_ranks"])
    rnns = {
        "TTGRU": ttrnn.TTGRU(*tt_args, input_precision=input_precision),
        "GRU": keras.layers.GRU(units),
        "TTLSTM": ttrnn.TTLSTM(*tt_args, input_precision=input_precision),
        "LSTM": keras.layers.LSTM(units),
    }
    models = {}
    for name, rnn in rnns.items():
        if only is not None and name != only:
            continue
        model = keras.Sequential(
            [
                keras.Input((cfg["frames"], features)),
                rnn,
                keras.layers.Dense(cfg["classes"]),
            ]
        )
        model.compile(
            keras.optimizers.Adam(1e-4),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        models[name] = model
    return models


def input_weights(model):
    """Weights of the input-to-hidden map (the kernel or the cores)."""
    rnn = model.layers[0]
    if hasattr(rnn, "cores"):
        return sum(math.prod(c.shape) for c in rnn.cores)
    return math.prod(rnn.cell.kernel.shape)


def time_steps(models, x, y, warmup, repeats):
    """Median seconds of one training step per model, runs interleaved."""
    for model in models.values():
        for _ in range(warmup):
            model.train_on_batch(x, y)  # returns host floats: synchronises
    times = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _rss_mb(field="VmHWM"):
    """This process's peak ("VmHWM") or current ("VmRSS") resident set in
    MB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss():
    """Resets VmHWM to the current resident set (Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _batch(cfg, numpy_inputs=False):
    rng = np.random.default_rng(0)
    features = math.prod(cfg["tt_input_shape"])
    shape = (cfg["batch"], cfg["frames"], features)
    # Pixels scaled to [-1, 1): raw pixels - 128 (the 2017 protocol)
    # saturate the gates, and the denormal gradients that follow slow
    # down CPU matmuls in ways that have nothing to do with the layers.
    x = ((rng.integers(0, 256, shape) - 128) / 128).astype("float32")
    y = rng.integers(0, cfg["classes"], cfg["batch"])
    if not numpy_inputs:
        x, y = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
    return x, y


def long_child(name, warmup, repeats):
    """One model of the long case: prints a JSON line (ms, memory)."""
    import json

    keras.utils.set_random_seed(0)
    x, y = _batch(LONG)
    model = build_models(LONG, only=name)[name]
    _reset_peak_rss()
    before = _rss_mb("VmRSS")
    seconds = time_steps({name: model}, x, y, warmup, repeats)[name]
    print(
        json.dumps(
            {
                "model": name,
                "ms": 1e3 * seconds,
                "peak_mb": _rss_mb(),
                "step_mb": _rss_mb() - before,
                "weights": input_weights(model),
            }
        )
    )


def long_case(warmup, repeats):
    """Runs each model of the long case in a child process; prints a table."""
    import json
    import subprocess

    rows = {}
    for name in ("TTGRU", "GRU", "TTLSTM", "LSTM"):
        out = subprocess.run(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--long-child",
                name,
                "--warmup",
                str(warmup),
                "--repeats",
                str(repeats),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows[name] = json.loads(out.strip().splitlines()[-1])
    print(
        f"backend {keras.backend.backend()}; long case: batch "
        f"{LONG['batch']} x {LONG['frames']} frames x "
        f"{math.prod(LONG['tt_input_shape'])}, "
        f"{math.prod(LONG['tt_output_shape'])} units, TT rank "
        f"{LONG['tt_ranks']}; one process per model, median of {repeats} "
        f"steps; {common.machine()}"
    )
    print(
        f"{'model':<8} {'ms/step':>10} {'dense/TT':>9} {'step MB':>9} "
        f"{'peak MB':>9}"
    )
    for tt_name, dense_name in (("TTGRU", "GRU"), ("TTLSTM", "LSTM")):
        ratio = rows[dense_name]["ms"] / rows[tt_name]["ms"]
        for name, shown in ((tt_name, f"{ratio:.2f}x"), (dense_name, "")):
            r = rows[name]
            print(
                f"{name:<8} {r['ms']:>10.1f} {shown:>9} "
                f"{r['step_mb']:>9.0f} {r['peak_mb']:>9.0f}"
            )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny config")
    parser.add_argument(
        "--long", action="store_true", help="batch 4 x 256 frames, memory"
    )
    parser.add_argument("--long-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--numpy", action="store_true", help="feed NumPy arrays"
    )
    parser.add_argument(
        "--input-precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="the TT layers' input_precision (Keras' layers: float32)",
    )
    args = parser.parse_args(argv)
    common.set_backend_threads()
    if keras.backend.backend() == "torch":
        import torch

        # XLA and TensorFlow flush denormals to zero on CPU; torch does
        # not, and the recurrent gradients of long sequences underflow:
        # without it a 256-frame GRU step measured 19 s against 2.5 s for
        # the bigger LSTM.
        torch.set_flush_denormal(True)
    if args.long_child:
        return long_child(args.long_child, args.warmup, args.repeats)
    if args.long:
        return long_case(args.warmup, args.repeats)
    cfg = QUICK if args.quick else FULL
    repeats = args.repeats
    keras.utils.set_random_seed(0)
    features = math.prod(cfg["tt_input_shape"])
    x, y = _batch(cfg, args.numpy)
    models = build_models(cfg, input_precision=args.input_precision)
    medians = time_steps(models, x, y, args.warmup, repeats)

    frames = cfg["batch"] * cfg["frames"]
    gate_out = (3 * cfg["tt_output_shape"][0],) + cfg["tt_output_shape"][1:]
    ranks = tt.validate_ranks(cfg["tt_ranks"], cfg["tt_input_shape"], gate_out)
    strategy = tt.choose_plan(
        cfg["tt_input_shape"], gate_out, ranks, frames
    ).name
    print(
        f"backend {keras.backend.backend()}, keras {keras.__version__}; "
        f"batch {cfg['batch']} x {cfg['frames']} frames x {features}, "
        f"{math.prod(cfg['tt_output_shape'])} units, TT rank "
        f"{cfg['tt_ranks']} (TT-GRU map plan for {frames} frames: "
        f"{strategy}; TT input_precision {args.input_precision}); median "
        f"of {repeats} interleaved steps; "
        f"{'NumPy' if args.numpy else 'tensor'} inputs; {common.machine()}"
    )
    print(f"{'model':<8} {'input weights':>14} {'ms/step':>10} {'dense/TT':>9}")
    for tt_name, dense_name in (("TTGRU", "GRU"), ("TTLSTM", "LSTM")):
        ratio = medians[dense_name] / medians[tt_name]
        for name, shown in ((tt_name, f"{ratio:.2f}x"), (dense_name, "")):
            print(
                f"{name:<8} {input_weights(models[name]):>14,} "
                f"{1e3 * medians[name]:>10.1f} {shown:>9}"
            )


if __name__ == "__main__":
    main()

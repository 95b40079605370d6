"""Where the paper TT-GRU's input map spends its time on JAX, op by op.

Times the map of uint8 frames forward and backward (the gradient of
sum(square(project_sequence(x))) w.r.t. the cores and bias, as
`bench_roofline.py`'s "map fwd+bwd"), then traces three calls with
`jax.profiler` and prints the XLA ops that took longest, with the shape
each one writes (from the compiled HLO).

    python benchmarks/bench_map_profile.py                # 16 x 64 frames
    python benchmarks/bench_map_profile.py --keep         # keep the first GEMM
    python benchmarks/bench_map_profile.py --chunk-values 2097152
    python benchmarks/bench_map_profile.py --input-precision bfloat16

Op times are the profiler's events summed over the three calls; XLA
runs some ops (plain `dot`s) on its thread pool, whose events then
cover only their dispatch.
"""

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("TTRNN_BENCH_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402,F401 - thread settings before JAX loads


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument(
        "--keep", action="store_true", help="runtime.JAX_KEEP_FIRST_GEMM = True"
    )
    parser.add_argument(
        "--chunk-values",
        type=int,
        default=None,
        help="backends.MAX_INTEGER_CHUNK_VALUES",
    )
    parser.add_argument(
        "--input-precision", choices=("float32", "bfloat16"), default="float32"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()

    import bench_roofline
    import jax
    import numpy as np
    from keras import ops

    from ttrnn import backends
    from ttrnn.experiments import registry
    from ttrnn.experiments import training
    from ttrnn.tt.contraction import runtime

    runtime.JAX_KEEP_FIRST_GEMM = args.keep
    if args.chunk_values:
        backends.MAX_INTEGER_CHUNK_VALUES = args.chunk_values
    model, loss = common.paper_tt_gru(input_precision=args.input_precision)
    training.compile_model(
        model, loss, registry.get("ucf11").with_protocol("paper"), 1e-4
    )
    b, t = args.batch, args.frames
    rng = np.random.default_rng(0)
    x = ops.convert_to_tensor(
        rng.integers(0, 256, (b, t, 160 * 120 * 3), dtype=np.uint8)
    )
    model.train_on_batch(
        [x, ops.ones((b, t), "bool")], ops.zeros((b,), "int32")
    )
    cell = model.get_layer("rnn").cell
    frozen = [v for v in model.variables if not v.trainable]
    run = bench_roofline.compiled(
        lambda frames: cell.project_sequence(frames, training=True),
        {"train": list(cell.cores) + [cell.bias], "all": frozen},
    )
    for _ in range(3):
        run(x)
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run(x)
        seconds.append(time.perf_counter() - start)
    print(common.machine())
    print(
        f"map fwd+bwd, {b} x {t} uint8 frames, keep first GEMM "
        f"{args.keep}, input_precision {args.input_precision}: "
        f"median {np.median(seconds) * 1e3:.1f} ms "
        f"(min {min(seconds) * 1e3:.1f}, {args.repeats} calls)"
    )
    folder = tempfile.mkdtemp(prefix="map-profile-")
    jax.profiler.start_trace(folder, create_perfetto_trace=True)
    for _ in range(3):
        run(x)
    jax.profiler.stop_trace()
    trace = glob.glob(f"{folder}/**/*.trace.json.gz", recursive=True)[0]
    events = json.load(gzip.open(trace))["traceEvents"]
    total, count = collections.Counter(), collections.Counter()
    for event in events:
        if event.get("ph") == "X" and "dur" in event:
            total[event["name"]] += event["dur"]
            count[event["name"]] += 1
    shapes = _hlo_shapes(run, x)
    print("\n| XLA op | ms a call | calls a call | writes |\n|---|---|---|---|")
    shown = 0
    for name, micros in total.most_common():
        if name not in shapes:  # runtime events, not ops
            continue
        print(
            f"| {name} | {micros / 3e3:.2f} | {count[name] // 3} "
            f"| {shapes[name]} |"
        )
        shown += 1
        if shown == args.top:
            break
    return 0


def _hlo_shapes(run, x):
    """HLO instruction name -> the shape it writes, from the program
    `run` (a `bench_roofline.compiled` function) runs on x."""
    text = run.lower(x).compile().as_text()
    found = re.findall(r"%([\w.\-]+) = (\S+\[[\d,]*\])", text)
    return {name: shape for name, shape in found}


if __name__ == "__main__":
    sys.exit(main())

"""bfloat16 for the TT-GRU's products on this CPU: does it pay?

Issue 28 lists bfloat16 products with float32 accumulation as a
candidate for the video step. Two ways are measured: the TT layers'
`input_precision="bfloat16"` (only the GEMM that reads the inputs, 95 %
of the UCF11 map, in bfloat16; `ttrnn.tt.contraction.precision`) and
Keras' `mixed_bfloat16` dtype policy (every product of the layer in
bfloat16, outputs rounded to bfloat16). What decides is whether this
CPU multiplies bfloat16 faster.

Measured in one process, interleaved, medians:
- the backend's GEMM in float32 and bfloat16 (the library's bfloat16
  product: float32 output on JAX), at the TT-GRU map's first GEMM
  (10,240 x 360 @ 360 x 64) and at 2,048^3, process CPU time;
- the paper TT-GRU's training step (uint8 frames, 57,600 -> 3 x 256,
  ranks 4, Dense(11), Adam), 16 clips x 16 frames: float32,
  `input_precision="bfloat16"` and `mixed_bfloat16`, wall time;
- with `--accuracy`, the demo's TT-GRU (`ttrnn demo`: generated clips
  in UCF11's layout, 10 epochs, two folds) in float32 and with
  `input_precision="bfloat16"`, for `--seeds` seeds: test accuracy.

The table says which BF16 instructions /proc/cpuinfo lists
(`avx512_bf16`, `amx_bf16`): without them the backends emulate
bfloat16 GEMMs through float32. On torch denormals are flushed, as
`ttrnn experiment` does (XLA and TensorFlow flush them themselves).

    KERAS_BACKEND=torch python benchmarks/bench_bf16.py
"""

import argparse
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
from ttrnn.tt.contraction import precision  # noqa: E402

SHAPES = ((10240, 360, 64), (2048, 2048, 2048))


def bf16_flags():
    """The BF16 instruction sets /proc/cpuinfo lists (none elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((ln for ln in f if ln.startswith("flags")), "")
    except OSError:
        return []
    return [f for f in ("avx512_bf16", "amx_bf16") if f in flags.split()]


def cpu_median(fn, repeats):
    """Median process CPU seconds of `fn()` (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def gemm_rates(repeats):
    """GFLOP/s of `keras.ops.matmul` per (shape, dtype), interleaved."""
    rng = np.random.default_rng(0)
    rates = {}
    for m, k, n in SHAPES:
        pairs = {}
        for dtype in ("float32", "bfloat16"):
            a = keras.ops.cast(rng.standard_normal((m, k)), dtype)
            b = keras.ops.cast(rng.standard_normal((k, n)), dtype)
            pairs[dtype] = (a, b)

        def product(dtype, pairs=pairs):
            corner = precision.matmul(*pairs[dtype], dtype)[0, 0]
            keras.ops.convert_to_numpy(keras.ops.cast(corner, "float32"))

        for dtype in pairs:
            seconds = cpu_median(lambda d=dtype: product(d), repeats)
            rates[(m, k, n), dtype] = 2 * m * k * n / seconds / 1e9
    return rates


STEPS = {
    "float32": {},
    "input_precision": {"input_precision": "bfloat16"},
    "mixed_bfloat16": {"dtype": "mixed_bfloat16"},
}


def step_times(batch, frames, repeats):
    """Median wall seconds of a train step per way of `STEPS`."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, frames, 57600), dtype=np.uint8)
    y = rng.integers(0, 11, batch)
    models = {}
    for policy, layer_args in STEPS.items():
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((frames, 57600), dtype="uint8"),
                ttrnn.TTGRU((8, 20, 20, 18), (4, 4, 4, 4), 4, **layer_args),
                keras.layers.Dense(11),
            ]
        )
        model.compile(
            keras.optimizers.Adam(1e-4),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.train_on_batch(x, y)  # compiles
        models[policy] = model
    times = {policy: [] for policy in models}
    for _ in range(repeats):
        for policy, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times[policy].append(time.perf_counter() - start)
    return {p: statistics.median(t) for p, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument(
        "--accuracy",
        action="store_true",
        help="also train the demo's TT-GRU in both precisions",
    )
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    common.set_backend_threads()
    backend = keras.backend.backend()
    if backend == "torch":  # as `ttrnn experiment`: XLA and TF flush
        import torch

        torch.set_flush_denormal(True)
    print(common.machine())
    print(f"BF16 instructions listed: {bf16_flags() or 'none'}")
    rates = gemm_rates(args.repeats)
    steps = step_times(args.batch, args.frames, args.repeats)
    print(f"\n{backend}, process CPU time, medians of {args.repeats}")
    print("| what | float32 | bfloat16 | bfloat16 / float32 time |")
    print("|---|---|---|---|")
    for shape in SHAPES:
        f32, b16 = rates[shape, "float32"], rates[shape, "bfloat16"]
        name = " x ".join(str(s) for s in shape)
        print(
            f"| GEMM {name} | {f32:.0f} GFLOP/s | {b16:.0f} GFLOP/s "
            f"| {f32 / b16:.2f} |"
        )
    f32 = steps["float32"]
    for way in ("input_precision", "mixed_bfloat16"):
        b16 = steps[way]
        print(
            f"| TT-GRU step {args.batch} x {args.frames} uint8 frames, "
            f"wall (`{way}`) | {f32 * 1e3:.0f} ms | {b16 * 1e3:.0f} ms "
            f"| {b16 / f32:.2f} |"
        )
    print(f"load average {os.getloadavg()[0]:.1f}")
    if args.accuracy:
        demo_accuracy(args.seeds)


def demo_accuracy(seeds):
    """The demo's TT-GRU in float32 and with bfloat16 input products:
    test accuracy (mean over its folds) per seed, on the demo's clips."""
    import tempfile

    from ttrnn.experiments import demo

    sizes = demo.FULL
    rows = {"float32": [], "bfloat16": []}
    rates = {"float32": [], "bfloat16": []}
    with tempfile.TemporaryDirectory() as out:
        for seed in range(seeds):
            data_dir = os.path.join(out, f"data-{seed}")
            demo.write_data(data_dir, sizes, seed, verbose=0)
            for chosen in rows:
                result = demo.train_model(
                    "tt-gru",
                    data_dir,
                    os.path.join(out, f"{chosen}-{seed}"),
                    sizes,
                    seed,
                    0,
                    cache_dir=os.path.join(out, "cache"),
                    input_precision=chosen,
                )
                rows[chosen].append(result["metrics"]["accuracy"])
                rates[chosen].append(
                    list(result["config"].get("learning_rates", {}).values())
                )
    print(
        "\n| demo TT-GRU | test accuracy per seed | mean | rates swept |"
        "\n|---|---|---|---|"
    )
    for chosen, values in rows.items():
        shown = ", ".join(f"{v:.3f}" for v in values)
        print(
            f"| {chosen} | {shown} | {statistics.mean(values):.3f} "
            f"| {rates[chosen]} |"
        )


if __name__ == "__main__":
    main()

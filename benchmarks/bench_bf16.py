"""bfloat16 for the TT-GRU's products on this CPU: does it pay?

Issue 28 lists bfloat16 products with float32 accumulation as a
candidate for the video step. Keras' `mixed_bfloat16` dtype policy is
exactly that for our layers (variables float32, products in bfloat16,
the backends' GEMMs accumulate in float32), so no new code path is
needed; what decides is whether this CPU multiplies bfloat16 faster.

Measured in one process, interleaved, medians (process CPU time):
- the backend's GEMM in float32 and bfloat16, at the TT-GRU map's first
  GEMM (10,240 x 360 @ 360 x 64) and at 2,048^3;
- the paper TT-GRU's training step (uint8 frames, 57,600 -> 3 x 256,
  ranks 4, Dense(11), Adam), 16 clips x 16 frames, the layer in
  `float32` and in `mixed_bfloat16`.

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
            corner = keras.ops.matmul(*pairs[dtype])[0, 0]
            keras.ops.convert_to_numpy(keras.ops.cast(corner, "float32"))

        for dtype in pairs:
            seconds = cpu_median(lambda d=dtype: product(d), repeats)
            rates[(m, k, n), dtype] = 2 * m * k * n / seconds / 1e9
    return rates


def step_times(batch, frames, repeats):
    """Median seconds (process CPU) of a train step per layer policy."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, frames, 57600), dtype=np.uint8)
    y = rng.integers(0, 11, batch)
    models = {}
    for policy in ("float32", "mixed_bfloat16"):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((frames, 57600), dtype="uint8"),
                ttrnn.TTGRU((8, 20, 20, 18), (4, 4, 4, 4), 4, dtype=policy),
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
            start = time.process_time()
            model.train_on_batch(x, y)
            times[policy].append(time.process_time() - start)
    return {p: statistics.median(t) for p, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=16)
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
    f32, b16 = steps["float32"], steps["mixed_bfloat16"]
    print(
        f"| TT-GRU step {args.batch} x {args.frames} uint8 frames "
        f"(`mixed_bfloat16`) | {f32 * 1e3:.0f} ms | {b16 * 1e3:.0f} ms "
        f"| {b16 / f32:.2f} |"
    )
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

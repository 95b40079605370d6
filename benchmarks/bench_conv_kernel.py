"""TTConv2D's two layouts against keras.layers.Conv2D, one backend a process.

Usage: KERAS_BACKEND=jax python benchmarks/bench_conv_kernel.py
       [--repeats 3] [--json out.json]

bench_layers.py's conv case (256 -> 256 channels, 3x3, "same", 32 x 32
maps, batch 32; forward + the weights' gradients) on any backend: JAX
under `jax.jit`, TensorFlow under `tf.function`, torch eagerly (channels
first on torch, channels last elsewhere: each backend's own layout).
Layers: Conv2D; TTConv2D in the kernel layout at TensorLy-Torch's rank 6
and rank 97 (channels unsplit); the channel layout of bench_layers
((4, 8, 8) modes, ranks (1, 6, 6, 2, 1)). Interleaved, medians.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402, I001 - sets thread counts before backends load

import keras  # noqa: E402
import numpy as np  # noqa: E402
from bench_dense import BACKEND  # noqa: E402
from bench_dense import step_fns  # noqa: E402
from bench_dense import to_backend  # noqa: E402
from common import interleaved  # noqa: E402

from ttrnn import TTConv2D  # noqa: E402

common.set_backend_threads()

BATCH, CHANNELS, SIDE = 32, 256, 32


def conv_layers(data_format):
    args = dict(
        filters=CHANNELS, kernel_size=3, padding="same", data_format=data_format
    )
    out = {"keras Conv2D": keras.layers.Conv2D(**args)}
    for rank in (6, 97):
        out[f"TTConv2D kernel r={rank}"] = TTConv2D(
            tt_ranks=rank, tt_layout="kernel", **args
        )
    out["TTConv2D channel (4,8,8)"] = TTConv2D(
        tt_input_shape=(4, 8, 8),
        tt_output_shape=(4, 8, 8),
        tt_ranks=(1, 6, 6, 2, 1),
        **args,
    )
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    print(common.machine(), BACKEND)
    first = BACKEND == "torch"
    data_format = "channels_first" if first else "channels_last"
    shape = (
        (BATCH, CHANNELS, SIDE, SIDE)
        if first
        else (BATCH, SIDE, SIDE, CHANNELS)
    )
    rng = np.random.default_rng(0)
    x = to_backend(rng.standard_normal(shape, dtype="float32"))
    g = to_backend(rng.standard_normal(shape, dtype="float32"))
    layers = conv_layers(data_format)
    steps = {}
    for key, layer in layers.items():
        layer.build(shape)
        steps[key] = step_fns(layer, x, g)[1]
    times = interleaved(steps, args.repeats)
    rows = []
    dense = times["keras Conv2D"]
    for key, seconds in times.items():
        rows.append(
            {
                "backend": BACKEND,
                "impl": key,
                "step_ms": 1e3 * seconds,
                "vs_conv2d": seconds / dense,
                "weights": layers[key].count_params(),
            }
        )
        print(
            f"{BACKEND:10s} {key:26s} {1e3 * seconds:9.1f} ms "
            f"{seconds / dense:7.3f}x Conv2D "
            f"{layers[key].count_params():9,d} weights",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()

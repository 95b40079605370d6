"""LRP through a TT-GRU on video-sized frames: cost against a forward pass.

The UCF11 model of the ICML 2017 paper (TT-GRU, 57,600 = 8*20*20*18
inputs a frame -> 256 hidden units, ranks 4) explains one clip. Side by
side, in one process, medians of interleaved runs:

- `predict`: the model's forward pass (Keras, compiled);
- `lrp TT`: `ttrnn.explain.lrp` on the TT model (the transposed TT
  product; W never built);
- `lrp dense twin`: the same rules on the equivalent Keras GRU, whose
  14.7 M x 3 weights are the matrix the 2017 code rebuilt for LRP.

Usage: KERAS_BACKEND=jax python benchmarks/bench_explain.py [--frames 64]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402, I001 - sets thread counts before backends load
import ttrnn  # noqa: E402 - before keras: chooses an installed backend
import keras  # noqa: E402
import numpy as np  # noqa: E402

from ttrnn.activations import keras2_hard_sigmoid  # noqa: E402


def models(frames):
    tt_model = keras.Sequential(
        [
            keras.Input((frames, 57600)),
            ttrnn.TTGRU(
                (8, 20, 20, 18),
                (4, 4, 4, 4),
                (1, 4, 4, 4, 1),
                reset_after=False,
                recurrent_activation=keras2_hard_sigmoid,
            ),
            keras.layers.Dense(11, activation="softmax"),
        ]
    )
    dense = keras.Sequential(
        [
            keras.Input((frames, 57600)),
            keras.layers.GRU(
                256, reset_after=False, recurrent_activation=keras2_hard_sigmoid
            ),
            keras.layers.Dense(11, activation="softmax"),
        ]
    )
    rnn = tt_model.layers[0]
    dense.layers[0].set_weights(
        [
            keras.ops.convert_to_numpy(rnn.to_dense()),
            keras.ops.convert_to_numpy(rnn.cell.recurrent_kernel),
            keras.ops.convert_to_numpy(rnn.cell.bias),
        ]
    )
    dense.layers[1].set_weights(tt_model.layers[1].get_weights())
    return tt_model, dense


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    common.set_backend_threads()
    tt_model, dense = models(args.frames)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (1, args.frames, 57600)).astype("float32") - 128
    times = common.interleaved(
        {
            "predict": lambda: tt_model.predict(x, verbose=0),
            "lrp TT": lambda: ttrnn.explain.lrp(tt_model, x),
            "lrp dense twin": lambda: ttrnn.explain.lrp(dense, x),
        },
        args.repeats,
    )
    gap = np.abs(
        ttrnn.explain.lrp(tt_model, x) - ttrnn.explain.lrp(dense, x)
    ).max()
    print(
        f"backend {keras.backend.backend()}, {common.THREADS} thread(s), "
        f"one clip of {args.frames} frames x 57,600, medians of "
        f"{args.repeats}"
    )
    print(f"{'':<16}{'ms':>10}{'x predict':>12}")
    for name, seconds in times.items():
        ratio = seconds / times["predict"]
        print(f"{name:<16}{1000 * seconds:>10.1f}{ratio:>12.2f}")
    print(f"max |relevance TT - dense twin| = {gap:.2e}")


if __name__ == "__main__":
    main()

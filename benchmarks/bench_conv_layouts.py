"""TTConv2D's two layouts: test accuracy against weights on CIFAR-10-shaped
images.

Usage: python benchmarks/bench_conv_layouts.py [--train 3000]
       [--epochs 4] [--budgets 400,1200,4000] [--seeds 1] [--json out.json]
       [--cifar DIR]

A small network, Conv2D(32) stem, max-pool, conv 32 -> 64, max-pool,
conv 64 -> 64, global average, Dense(10), where the two inner convs
(3x3, "same", relu) are Keras' Conv2D or TTConv2D in the channel layout
(Garipov et al.; modes chosen by `tt_d`'s default) or the kernel layout
(TensorLy-Torch's; channels unsplit), each at `tt_ranks="auto"` with
`tt_max_params` = the budget. Adam 1e-3, batch 64, torch backend.

The images are generated (32 x 32 x 3, 10 classes: an oriented grating
of one of 5 orientations, with or without a coloured blob, random phase,
frequency, position and noise): nothing is downloaded. With `--cifar
DIR` (CIFAR-10's python batches) the real set is used instead.
"""

import argparse
import json
import os
import sys
import time

os.environ["KERAS_BACKEND"] = "torch"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402, I001 - sets thread counts before backends load

import keras  # noqa: E402
import numpy as np  # noqa: E402

from ttrnn import TTConv2D  # noqa: E402

common.set_backend_threads()


def generated_images(count, seed):
    """(x, y): `count` float32 images (32, 32, 3) in [0, 1], labels 0-9."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, count)
    grid = np.mgrid[0:32, 0:32].astype("float32") / 32.0
    x = np.empty((count, 32, 32, 3), "float32")
    for i, label in enumerate(y):
        angle = np.pi * (label % 5) / 5 + rng.normal(0, 0.08)
        freq = rng.uniform(3.0, 6.0)
        phase = rng.uniform(0, 2 * np.pi)
        along = np.cos(angle) * grid[0] + np.sin(angle) * grid[1]
        wave = np.sin(2 * np.pi * freq * along + phase)
        image = 0.5 + 0.25 * wave[..., None] * rng.uniform(0.5, 1.0, 3)
        if label >= 5:  # a coloured blob somewhere
            cy, cx = rng.uniform(0.2, 0.8, 2)
            blob = np.exp(-((grid[0] - cy) ** 2 + (grid[1] - cx) ** 2) / 0.01)
            image += 0.35 * blob[..., None] * np.array([1.0, 0.3, 0.1])
        image += rng.normal(0, 0.15, image.shape)
        x[i] = np.clip(image, 0, 1)
    return x, y


def model_of(kind, budget, seed):
    keras.utils.set_random_seed(seed)

    def conv(filters, name):
        if kind == "Conv2D":
            return keras.layers.Conv2D(
                filters, 3, padding="same", activation="relu", name=name
            )
        return TTConv2D(
            filters,
            3,
            tt_ranks="auto",
            tt_max_params=budget,
            tt_layout=kind,
            padding="same",
            activation="relu",
            name=name,
        )

    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            conv(64, "conv_a"),
            keras.layers.MaxPooling2D(),
            conv(64, "conv_b"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )


def run(kind, budget, data, epochs, seed):
    (x, y), (x_test, y_test) = data
    model = model_of(kind, budget, seed)
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    inner = [model.get_layer(n) for n in ("conv_a", "conv_b")]
    ranks = [getattr(layer, "tt_ranks", None) for layer in inner]
    return {
        "layout": kind,
        "budget": budget,
        "seed": seed,
        "conv_weights": sum(layer.count_params() for layer in inner),
        "ranks": [None if r is None else list(r) for r in ranks],
        "test_accuracy": float(accuracy),
        "train_s": seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--budgets", default="400,1200,4000")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--cifar", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    print(common.machine())
    if args.cifar:
        from ttrnn.data import load_cifar10

        (x, y), (xt, yt) = load_cifar10(args.cifar)
        data = (
            (x[: args.train] / 255.0, y[: args.train]),
            (
                xt[: args.test] / 255.0,
                yt[: args.test],
            ),
        )
    else:
        data = generated_images(args.train, 0), generated_images(args.test, 1)
    rows = []
    plan = [("Conv2D", None)] + [
        (kind, int(b))
        for b in args.budgets.split(",")
        for kind in ("channel", "kernel")
    ]
    print(f"{'layout':8s} {'budget':>7s} {'weights':>8s} {'acc':>6s}  ranks")
    for seed in range(args.seeds):
        for kind, budget in plan:
            r = run(kind, budget, data, args.epochs, seed)
            rows.append(r)
            print(
                f"{kind:8s} {budget or 0:7d} {r['conv_weights']:8,d} "
                f"{r['test_accuracy']:6.3f}  {r['ranks']} "
                f"({r['train_s']:.0f} s)",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()

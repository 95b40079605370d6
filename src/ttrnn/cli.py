"""The `ttrnn` command line."""

import argparse
import json
import os
import sys
import time


def _digits_32():
    """scikit-learn's 8x8 digits, upsampled to 32x32 (MNIST's padded size)."""
    import numpy as np

    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - dev extra installs it
        raise SystemExit(
            "The demo needs scikit-learn: pip install 'ttrnn[dev]'"
        ) from e
    digits = load_digits()
    images = digits.images.astype("float32") / 16.0
    images = np.kron(images, np.ones((1, 4, 4), "float32"))
    x = images.reshape(len(images), 1024)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    x, y = x[order], digits.target[order]
    split = int(0.8 * len(x))
    return (x[:split], y[:split]), (x[split:], y[split:])


def demo(args):
    """TTDense vs Dense on digits, printed side by side."""
    import keras

    from ttrnn import TTDense

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = _digits_32()
    models = {
        "TT [4,8,8,4] r3": TTDense(
            (4, 8, 8, 4), (4, 8, 8, 4), 3, activation="relu"
        ),
        "Dense 1024": keras.layers.Dense(1024, activation="relu"),
    }
    rows = []
    for name, first in models.items():
        model = keras.Sequential(
            [keras.Input((1024,)), first, keras.layers.Dense(10)]
        )
        model.compile(
            keras.optimizers.Adam(1e-3),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        start = time.perf_counter()
        model.fit(
            x_train, y_train, epochs=args.epochs, batch_size=64, verbose=0
        )
        seconds = (time.perf_counter() - start) / args.epochs
        _, acc = model.evaluate(x_test, y_test, verbose=0)
        rows.append(
            {
                "model": name,
                "first_layer_weights": int(first.count_params()),
                "accuracy": float(acc),
                "seconds_per_epoch": seconds,
            }
        )
    dense_weights = rows[1]["first_layer_weights"]
    print(
        f"backend: {keras.backend.backend()}; digits 32x32, "
        f"{len(x_train)} train / {len(x_test)} test"
    )
    print(
        f"{'model':<18}{'weights':>10}{'compression':>13}"
        f"{'accuracy':>10}{'s/epoch':>9}"
    )
    for row in rows:
        row["compression"] = dense_weights / row["first_layer_weights"]
        print(
            f"{row['model']:<18}{row['first_layer_weights']:>10,}"
            f"{row['compression']:>12.1f}x{row['accuracy']:>10.3f}"
            f"{row['seconds_per_epoch']:>9.2f}"
        )
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(rows, f, indent=2)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ttrnn", description="Tensor-Train layers and TT-RNNs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train a TT model and a dense one")
    p.add_argument("--out", default=None, help="folder for results.json")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

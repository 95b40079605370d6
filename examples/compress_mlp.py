"""Compress a trained dense MLP about 100x with ttrnn.compress, fine-tune it.

Fashion-MNIST (the Debian package `dataset-fashion-mnist`; with
`--digits`, scikit-learn's 8x8 digits upsampled to 32x32 instead), images
zero-padded to 32x32 = 1024 features, scaled to [0, 1]:

1. train a dense MLP 1024 -> 1024 -> 1024 -> 10;
2. `ttrnn.compress` its two hidden layers (TT-SVD of the trained kernels,
   ranks from a per-layer budget) and measure the accuracy as is;
3. fine-tune the compressed model for a few epochs;
4. for comparison, train the same TT architecture from scratch for as
   many epochs as steps 1 and 3 together.

Run:  KERAS_BACKEND=jax python examples/compress_mlp.py
      python examples/compress_mlp.py --data-dir DIR  # your IDX files
      python examples/compress_mlp.py --epochs 1 --finetune-epochs 1 \
          --limit 256  # a quick check on a few images
"""

# ttrnn before keras: with KERAS_BACKEND unset it selects an installed
# backend (JAX, TensorFlow, torch) before Keras falls back to TensorFlow.
import ttrnn  # noqa: I001
import argparse
import os
import time

import keras
import numpy as np

from ttrnn.data.idx import FASHION_MNIST_DIR


def load(digits, data_dir):
    if digits:
        from sklearn.datasets import load_digits

        data = load_digits()
        x = np.kron(data.images / 16.0, np.ones((4, 4)))  # 8x8 -> 32x32
        y = data.target
        cut = int(0.8 * len(x))
        return (x[:cut], y[:cut]), (x[cut:], y[cut:])
    from ttrnn.data.idx import load_fashion_mnist

    (x, y), (xt, yt) = load_fashion_mnist(data_dir)
    pad = ((0, 0), (2, 2), (2, 2))
    return (
        (np.pad(x, pad) / 255.0, y),
        (np.pad(xt, pad) / 255.0, yt),
    )


def data_missing(data_dir, error):
    """The command-line error for missing Fashion-MNIST files."""
    if os.path.isdir(data_dir):  # the error names the missing file
        head, files = f"{str(error).rstrip('.')}.", "with all four files"
    else:
        head = f"Fashion-MNIST not found: no directory {data_dir!r}."
        files = (
            "holding train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each "
            "optionally .gz)"
        )
    return (
        f"{head} Give --data-dir DIR, a directory {files}; or install the "
        f"Debian package dataset-fashion-mnist (into {FASHION_MNIST_DIR}); "
        "or use scikit-learn's digits with --digits."
    )


def flat(x):
    return x.reshape(len(x), -1).astype("float32")


def dense_mlp():
    return keras.Sequential(
        [
            keras.Input((1024,)),
            keras.layers.Dense(1024, activation="relu", name="fc1"),
            keras.layers.Dense(1024, activation="relu", name="fc2"),
            keras.layers.Dense(10, name="head"),
        ]
    )


def compile_model(model, lr):
    model.compile(
        keras.optimizers.Adam(lr),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def accuracy(model, x, y):
    compile_model(model, 1e-3)
    return model.evaluate(x, y, batch_size=512, verbose=0)[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--compression", type=float, default=300.0)
    parser.add_argument(
        "--digits",
        action="store_true",
        help="scikit-learn's 8x8 digits instead of Fashion-MNIST",
    )
    parser.add_argument(
        "--data-dir",
        default=FASHION_MNIST_DIR,
        help="directory of the four Fashion-MNIST IDX files "
        f"(default: {FASHION_MNIST_DIR}, the Debian package "
        "dataset-fashion-mnist)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use only the first N training and N test images (quick runs)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in ("epochs", "finetune_epochs", "limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if not args.compression > 0:
        parser.error("--compression must be > 0")
    keras.utils.set_random_seed(args.seed)

    try:
        (x, y), (xt, yt) = load(args.digits, args.data_dir)
    except FileNotFoundError as error:
        parser.error(data_missing(os.path.abspath(args.data_dir), error))
    if args.limit:
        x, y, xt, yt = (
            x[: args.limit],
            y[: args.limit],
            xt[: args.limit],
            yt[: args.limit],
        )
    x, xt = flat(x), flat(xt)
    fit = dict(batch_size=128, verbose=0)

    t0 = time.time()
    dense = compile_model(dense_mlp(), 1e-3)
    dense.fit(x, y, epochs=args.epochs, **fit)
    acc_dense = accuracy(dense, xt, yt)
    t_dense = time.time() - t0

    t0 = time.time()
    small, report = ttrnn.compress(
        dense, compression=args.compression, layers=["fc1", "fc2"]
    )
    t_compress = time.time() - t0
    acc_compressed = accuracy(small, xt, yt)
    print(report)

    t0 = time.time()
    compile_model(small, 1e-3).fit(x, y, epochs=args.finetune_epochs, **fit)
    acc_tuned = accuracy(small, xt, yt)
    t_tune = time.time() - t0

    # The same TT architecture trained from scratch, same total epochs.
    fc1, fc2 = small.get_layer("fc1"), small.get_layer("fc2")
    scratch = keras.Sequential(
        [keras.Input((1024,))]
        + [
            ttrnn.TTDense(
                layer.tt_input_shape,
                layer.tt_output_shape,
                layer.tt_ranks,
                activation="relu",
            )
            for layer in (fc1, fc2)
        ]
        + [keras.layers.Dense(10)]
    )
    compile_model(scratch, 1e-3).fit(
        x, y, epochs=args.epochs + args.finetune_epochs, **fit
    )
    acc_scratch = accuracy(scratch, xt, yt)

    print()
    ttrnn.summary(small)
    print()
    print(
        f"backend {keras.backend.backend()}, data "
        f"{'digits' if args.digits else 'Fashion-MNIST'}, "
        f"{len(x):,} training and {len(xt):,} test images"
    )
    print(
        f"dense MLP            {dense.count_params():>9,} weights  "
        f"test accuracy {acc_dense:.4f}  ({args.epochs} epochs, "
        f"{t_dense:.0f} s)"
    )
    print(
        f"compressed           {small.count_params():>9,} weights  "
        f"test accuracy {acc_compressed:.4f}  "
        f"({report.compression:.0f}x, compress {t_compress:.1f} s)"
    )
    print(
        f"  + fine-tuned       {small.count_params():>9,} weights  "
        f"test accuracy {acc_tuned:.4f}  ({args.finetune_epochs} "
        f"epochs, {t_tune:.0f} s)"
    )
    print(
        f"TT from scratch      {scratch.count_params():>9,} weights  "
        f"test accuracy {acc_scratch:.4f}  "
        f"({args.epochs + args.finetune_epochs} epochs)"
    )


if __name__ == "__main__":
    main()

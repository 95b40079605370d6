"""Choosing ranks: data-aware vs plain compression (and rank adaptation).

Sections (`--section`):
- compress: `ttrnn.compress(model, compression=X)` against
  `ttrnn.compress(model, compression=X, data=x)`, test accuracy before any
  fine-tuning and after the same short fine-tuning, on
  (a) the text classifier of examples/text_classifier.py (a 100,000 x 256
      embedding table compressed 100x; data: the training ids), and
  (b) a dense MLP 784 -> 512 -> 10 trained on Fashion-MNIST, its first
      layer compressed 50x (data: the first 5,000 training images).
- adapt: rank-adaptive training vs a grid of uniform ranks, in
  benchmarks/bench_ranks_adapt.py when that module is present.

Usage: KERAS_BACKEND=torch python benchmarks/bench_ranks.py
       [--section compress|adapt|all] [--quick] [--data-dir DIR]
       [--json OUT]
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))

import common  # noqa: E402,F401,I001  (thread settings first)
import ttrnn  # noqa: E402,I001  (selects a backend before keras)
import keras  # noqa: E402,I001

try:  # part 1 of issue 27 (rank adaptation), another module
    import bench_ranks_adapt
except ImportError:
    bench_ranks_adapt = None


def _accuracy(model, x, y, from_logits):
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=from_logits
        ),
        metrics=["accuracy"],
    )
    return float(model.evaluate(x, y, batch_size=512, verbose=0)[1])


def _fine_tune(model, x, y, lr, batch_size, from_logits):
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=from_logits
        ),
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)


def _compare(dense, layers, ratio, sample, train, test, tune, from_logits):
    """Plain and data-aware compression of `dense`: accuracy, seconds."""
    out = {"dense": _accuracy(dense, *test, from_logits)}
    for key, data in (("plain", None), ("data", sample)):
        start = time.perf_counter()
        small, report = ttrnn.compress(
            dense, compression=ratio, layers=layers, data=data
        )
        seconds = time.perf_counter() - start
        row = report[layers[0]]
        out[key] = {
            "ranks": list(row.tt_ranks),
            "weights": row.params_after,
            "compress_s": round(seconds, 1),
            "accuracy": _accuracy(small, *test, from_logits),
            "output_error": (report.output_errors or {}).get(layers[0]),
        }
        _fine_tune(small, *train, *tune, from_logits)
        out[key]["fine_tuned"] = _accuracy(small, *test, from_logits)
        print(key, out[key], flush=True)
    lost_plain = out["dense"] - out["plain"]["accuracy"]
    lost_data = out["dense"] - out["data"]["accuracy"]
    out["kept_share_of_plain_loss"] = (
        1 - lost_data / lost_plain if lost_plain > 0 else None
    )
    return out


def text_classifier(quick):
    import text_classifier as tc

    samples = 1000 if quick else 8000
    x, y = tc.generate(samples, 4, 0)
    cut = int(0.8 * len(x))
    train, test = (x[:cut], y[:cut]), (x[cut:], y[cut:])
    dense = tc.classifier(
        keras.layers.Embedding(tc.VOCAB, tc.DIM, mask_zero=True, name="emb"),
        4,
    )
    tc.fit(dense, (train, test), 1 if quick else 3, 64, 1e-2)
    # Fine-tuning as in the example: one epoch at a tenth of the lr.
    return _compare(
        dense, ["emb"], 100, train[0], train, test, (1e-3, 64), False
    )


def fashion_mlp(quick, data_dir):
    from ttrnn.data.idx import load_fashion_mnist

    (x, y), (xt, yt) = load_fashion_mnist(data_dir)
    x = x.reshape(len(x), -1).astype("float32") / 255
    xt = xt.reshape(len(xt), -1).astype("float32") / 255
    if quick:
        x, y, xt, yt = x[:3000], y[:3000], xt[:1000], yt[:1000]
    dense = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(512, activation="relu", name="fc1"),
            keras.layers.Dense(10, name="head"),
        ]
    )
    dense.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    dense.fit(x, y, batch_size=128, epochs=1 if quick else 3, verbose=0)
    return _compare(
        dense, ["fc1"], 50, x[:5000], (x, y), (xt, yt), (1e-3, 128), True
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--section", choices=("compress", "adapt", "all"), default="all"
    )
    parser.add_argument(
        "--cases", default="text,fashion", help="compress cases to run"
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None)
    args, rest = parser.parse_known_args(argv)
    keras.utils.set_random_seed(0)
    results = {"backend": keras.backend.backend()}
    if args.section in ("compress", "all"):
        cases = args.cases.split(",")
        if "text" in cases:
            results["text_classifier_100x"] = text_classifier(args.quick)
        if "fashion" in cases:
            results["fashion_mlp_fc1_50x"] = fashion_mlp(
                args.quick, args.data_dir
            )
    if args.section in ("adapt", "all"):
        if bench_ranks_adapt is None:
            print("adapt: benchmarks/bench_ranks_adapt.py not present")
        else:
            results["adapt"] = bench_ranks_adapt.main(rest)
    print(json.dumps(results, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()

"""Rank-adaptive training vs a grid of uniform ranks (issue 27, part 3).

Usage: KERAS_BACKEND=torch python benchmarks/bench_ranks_adapt.py
       [--case mlp|gru] [--data-dir DIR] [--train N] [--epochs E]
       [--budget P] [--start-rank R] [--moments project,reset]
       [--json out.json]

Fashion-MNIST (any IDX set with --data-dir; default the Debian package's
/usr/share/datasets/fashion-mnist) and one of two models:

- `--case mlp` (default): an MLP whose first layer is TTDense
  784 = [4, 7, 7, 4] -> 256 = [4, 4, 4, 4] (relu), then Dense(10). The
  TT layer has a budget of P weights (default 2208 = uniform rank 6).
- `--case gru`: the images as sequences of their 28 rows (28 steps of
  28 pixels), a TTGRU 28 = [2, 2, 7] -> 64 = [4, 4, 4] units (shared gate
  layout: its input map is one TT-matrix 28 -> 3 x 64), then Dense(10)
  on the last state. The input map has a budget of P weights (default
  336 = uniform rank 4); defaults 20,000 training images, 6 epochs,
  start rank 10.

- The grid: one run for every uniform rank whose TT layer fits P; its
  best test accuracy.
- RankAdaptation: one run from a higher uniform rank (--start-rank),
  adapted down to P (truncations after epochs 1 and 2, then trained at
  the final ranks), exported at its final ranks and scored. One run per
  optimiser-moment strategy (--moments), to compare them.

Same data order, seed, learning rate and epochs for every run. Times:
each run's fit wall time (one run each, so noisy on a shared machine),
and, robust to load, the median time of one training step at the
adaptive run's shapes against the largest grid rank, interleaved in one
process (the adaptive run keeps its starting shapes after truncation:
its fit time is the grid run's times that step ratio, plus the
truncations). `bench_ranks.py` imports `main`.
"""

import argparse
import itertools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402, F401, I001 - sets thread counts before backends

import keras  # noqa: E402
import numpy as np  # noqa: E402

import ttrnn  # noqa: E402
from ttrnn.data import idx  # noqa: E402

IN_MODES, OUT_MODES = (4, 7, 7, 4), (4, 4, 4, 4)
GRU_IN, GRU_OUT = (2, 2, 7), (4, 4, 4)
# Per case: train size, epochs, budget rank, start rank.
DEFAULTS = {"mlp": (20000, 5, 6, 12), "gru": (20000, 6, 4, 10)}
CASE = ["mlp"]  # --case
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def load(data_dir, train_size):
    """Fashion-MNIST as float32 rows in [0, 1], the first `train_size`
    training images, all test images."""
    (x, y), (xt, yt) = idx.load_idx_dataset(data_dir)
    # The MLP reads 784 pixels, the GRU 28 rows of 28 pixels.
    shape = (-1,) if CASE[0] == "mlp" else (28, 28)
    x = x[:train_size].reshape(len(x[:train_size]), *shape) / 255.0
    xt = xt.reshape(len(xt), *shape) / 255.0
    return (x.astype("float32"), y[:train_size]), (xt.astype("float32"), yt)


def tt_weights(rank):
    if CASE[0] == "gru":  # shared layout: first output mode times 3 gates
        out = (3 * GRU_OUT[0],) + GRU_OUT[1:]
        return ttrnn.tt.num_params(GRU_IN, out, rank)
    return ttrnn.tt.num_params(IN_MODES, OUT_MODES, rank)


SEED = [0]  # --seed: the initial weights and the batch order


def build(rank):
    keras.utils.set_random_seed(SEED[0])
    if CASE[0] == "gru":
        first = [
            keras.Input((28, 28)),
            ttrnn.TTGRU(GRU_IN, GRU_OUT, tt_ranks=rank),
        ]
    else:
        first = [
            keras.Input((784,)),
            ttrnn.TTDense(
                IN_MODES, OUT_MODES, tt_ranks=rank, activation="relu"
            ),
        ]
    model = keras.Sequential(first + [keras.layers.Dense(10)])
    compile_(model)
    return model


def compile_(model):
    model.compile(
        keras.optimizers.Adam(2e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def accuracy(model, test):
    logits = model.predict(test[0], batch_size=1000, verbose=0)
    return float(np.mean(np.argmax(logits, -1) == test[1]))


def fit(model, train, epochs, callbacks=()):
    keras.utils.set_random_seed(SEED[0] + 1)  # one batch order for all
    started = time.perf_counter()
    model.fit(
        *train,
        epochs=epochs,
        batch_size=128,
        verbose=0,
        callbacks=list(callbacks),
    )
    return time.perf_counter() - started


def grid_run(rank, train, test, epochs):
    model = build(rank)
    seconds = fit(model, train, epochs)
    return {
        "rank": rank,
        "tt_weights": tt_weights(rank),
        "accuracy": accuracy(model, test),
        "seconds": seconds,
    }


def adaptive_run(start_rank, budget, train, test, epochs, moments):
    model = build(start_rank)
    adapt = ttrnn.callbacks.RankAdaptation(
        target_params=budget, warmup=1, every=1, stages=2, moments=moments
    )
    seconds = fit(model, train, epochs, [adapt])
    small = ttrnn.callbacks.export_adapted(model)
    compile_(small)
    layer = small.layers[0]
    return {
        "start_rank": start_rank,
        "moments": moments,
        "tt_ranks": list(layer.tt_ranks),
        "tt_weights": int(sum(np.prod(c.shape) for c in layer.cores)),
        "accuracy": accuracy(small, test),
        "accuracy_padded": accuracy(model, test),
        "seconds": seconds,
        "schedule": [
            {"epoch": s["epoch"], "params": s["params"]} for s in adapt.schedule
        ],
    }


def step_times(start_rank, grid_rank, train, repeats=30):
    """Median seconds of one training step (batch 128) at the adaptive
    run's variable shapes and at the largest grid rank, interleaved in
    one process (the load-robust time comparison), and of one
    `adapt_ranks` call."""
    models = {"adaptive": build(start_rank), "grid": build(grid_rank)}
    x, y = train[0][:128], train[1][:128]
    times = {name: [] for name in models}
    for _ in range(repeats + 3):  # the first 3 warm up
        for name, model in models.items():
            started = time.perf_counter()
            model.train_on_batch(x, y)
            times[name].append(time.perf_counter() - started)
    out = {name: float(np.median(t[3:])) for name, t in times.items()}
    started = time.perf_counter()
    ttrnn.adapt_ranks(models["adaptive"], target_params=tt_weights(grid_rank))
    out["adapt_ranks_call"] = time.perf_counter() - started
    out["step_ratio"] = out["adaptive"] / out["grid"]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", choices=sorted(DEFAULTS), default="mlp")
    p.add_argument("--data-dir", default=DEFAULT_DATA)
    p.add_argument("--train", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--budget", type=int, default=None)
    p.add_argument("--start-rank", type=int, default=None)
    p.add_argument("--moments", default="project,project_first,reset,keep")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--grid-ranks", default=None, help="e.g. 4,3 (default: all that fit)"
    )
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    SEED[0], CASE[0] = args.seed, args.case
    train_size, epochs, budget_rank, start_rank = DEFAULTS[args.case]
    args.train = args.train or train_size
    args.epochs = args.epochs or epochs
    args.budget = args.budget or tt_weights(budget_rank)
    args.start_rank = args.start_rank or start_rank
    train, test = load(args.data_dir, args.train)
    ranks = [r for r in range(1, 64) if tt_weights(r) <= args.budget]
    if args.grid_ranks:
        ranks = [int(r) for r in args.grid_ranks.split(",")]
    runs = {"grid": [], "adaptive": []}
    # Interleaved: grid runs and adaptive runs alternate.
    strategies = args.moments.split(",")
    grid = [("grid", r) for r in reversed(ranks)]
    adaptive = [("adaptive", m) for m in strategies]
    order = [
        item
        for pair in itertools.zip_longest(grid, adaptive)
        for item in pair
        if item is not None
    ]
    for kind, what in order:
        if kind == "grid":
            row = grid_run(what, train, test, args.epochs)
        else:
            row = adaptive_run(
                args.start_rank, args.budget, train, test, args.epochs, what
            )
        runs[kind].append(row)
        print(json.dumps(row), flush=True)
    best = max(runs["grid"], key=lambda r: r["accuracy"])
    largest = max(runs["grid"], key=lambda r: r["rank"])
    steps = step_times(args.start_rank, largest["rank"], train)
    print(json.dumps({"step_seconds": steps}), flush=True)
    summary = {
        "backend": keras.backend.backend(),
        "case": args.case,
        "seed": args.seed,
        "train_size": len(train[0]),
        "epochs": args.epochs,
        "budget": args.budget,
        "grid_best": best,
        "grid_seconds_total": sum(r["seconds"] for r in runs["grid"]),
        "time_ratio_vs_largest_grid_run": {
            r["moments"]: r["seconds"] / largest["seconds"]
            for r in runs["adaptive"]
        },
        "step_seconds": steps,
        "runs": runs,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return summary


if __name__ == "__main__":
    main()

"""`ttrnn demo`: a TT-GRU and a GRU side by side on generated video.

The demo writes a synthetic video-classification set in UCF11's real
layout (`<class>/v_<class>_<gg>/<clip>.mpg`, 120x160 RGB frames, one
motion pattern per class), then runs the `ucf11` experiment on it twice
(TT-GRU and a plain GRU of the same hidden size, 256 units, through the
same decoding cache, streaming and checkpointing as the real thing) on
two cross-validation folds, and prints weights, compression, learning
rate, accuracy (mean and spread over the folds) and seconds per epoch
side by side.

Each model gets its own Adam learning rate, from a short sweep on the
first fold's training clips (`run_config.SWEEP_RATES`, two epochs each, lowest
training loss wins). One rate cannot serve both: Adam moves every weight
by about the rate per step, and the dense GRU's 57,600 inputs per unit
add those moves up coherently, so at 1e-2 (the TT-GRU's rate) its gates
saturate in the first steps and it never fits its training clips; it
needs about 1e-5.
"""

import json
import os
import time

import keras

from ttrnn.experiments import checkpointing
from ttrnn.experiments import plots
from ttrnn.experiments import run
from ttrnn.experiments import rundir

# Sizes of the full demo and of the quick one (tests, smoke checks),
# side by side: (full, quick).
_SIZES = {
    "num_classes": (6, 3),
    "groups_per_class": (6, 5),
    "clips_per_group": (4, 1),
    "num_frames": (6, 4),
    "frame_shape": ((120, 160), (24, 32)),
    "epochs": (10, 2),
    "batch_size": (16, 4),
    "folds": ((0, 1), (0,)),
    "learning_rate": ("sweep", (1e-2, 1e-4)),
}
FULL = {name: full for name, (full, _) in _SIZES.items()}
QUICK = {name: quick for name, (_, quick) in _SIZES.items()}
MODELS = ("tt-gru", "gru")
# Both models train with the same settings apart from the learning rate
# (swept per model, see above): no dropout, frames scaled to [-1, 1) (the
# fast protocol), so that ten epochs suffice.


def run_demo(
    out="runs/demo",
    quick=False,
    epochs=None,
    seed=0,
    verbose=1,
    keep_checkpoints=False,
):
    """Generates the data, trains both models, writes results and plots.

    Args:
        out: output directory: `data/` (the generated clips), `cache/`
            (decoded frames), `tt-gru/` and `gru/` (runs with their
            checkpoints), `results.json`, `curves.png`, `weights.png`.
        quick: tiny frames and few clips (seconds instead of minutes).
        epochs: number of epochs, `None` for the default (10; quick 2).
        seed: seed of the data and the training.
        verbose: 0 silent, 1 progress bars and the table.
        keep_checkpoints: keep the GRU's `checkpoint.keras` too (about
            0.5 GB: its weights and Adam state); by default it is deleted
            once the plots are drawn. The TT-GRU's (kilobytes) is always
            kept, for `ttrnn explain`.

    Returns:
        The results dict written to `<out>/results.json`.
    """
    sizes = dict(QUICK if quick else FULL)
    if epochs is not None:
        sizes["epochs"] = int(epochs)
    from ttrnn.data.video import require_av

    require_av()  # before anything is written
    rundir.check_writable(out)
    os.makedirs(out, exist_ok=True)
    data_dir = os.path.join(out, "data")
    clips = write_data(data_dir, sizes, seed, verbose)
    rows, results, models = [], {}, {}
    for model_name in MODELS:
        if verbose:
            print(f"\n=== {model_name} ===")
        result = train_model(
            model_name,
            data_dir,
            os.path.join(out, model_name),
            sizes,
            seed,
            verbose,
            cache_dir=os.path.join(out, "cache"),
        )
        results[model_name] = result
        checkpoints = _checkpoints(os.path.join(out, model_name))
        models[model_name] = keras.saving.load_model(checkpoints[-1])
        if not (keep_checkpoints or model_name.startswith("tt-")):
            _drop_checkpoints(os.path.join(out, model_name), checkpoints)
        rows.append(_row(result))
    dense = rows[-1]["input_to_hidden"]
    for row in rows:
        row["compression_vs_gru"] = dense / row["input_to_hidden"]
    height, width = sizes["frame_shape"]
    first_config = results[MODELS[0]]["config"]
    summary = {
        "backend": keras.backend.backend(),
        "data": {
            "layout": "ucf11",
            "clips": clips,
            "classes": sizes["num_classes"],
            "frames_per_clip": sizes["num_frames"],
            "frame_shape": [height, width, 3],
            "train_clips": first_config.get("train_clips"),
            "test_clips": sum(
                split["test"] for split in first_config["split_clips"].values()
            ),
        },
        "folds": list(sizes["folds"]),
        "chance": 1.0 / sizes["num_classes"],
        "epochs": sizes["epochs"],
        "models": rows,
    }
    # Learning curves of every fold; weights.png shows the last fold's
    # models (the last checkpoints).
    histories = {
        f"{name} {label}": history
        for name, r in results.items()
        for label, history in r["history"].items()
    }
    try:
        summary["plots"] = plots.save_all(
            os.path.join(out, ""),
            histories,
            models,
            "accuracy",
            sizes["frame_shape"],
            "TT-GRU vs GRU on generated motion videos, "
            f"{len(sizes['folds'])} folds",
        )
    except ImportError as error:  # matplotlib is an optional extra
        plots.report_skipped(error)
        summary["plots"] = []
    checkpointing.write_json(os.path.join(out, "results.json"), summary)
    if verbose:
        print()
        print(format_table(summary))
        print(f"\nresults.json and plots in {os.path.abspath(out)}")
    return summary


def format_table(summary):
    """The side-by-side table the demo prints."""
    data = summary["data"]
    h, w, c = data["frame_shape"]
    folds = summary.get("folds", [0])
    lines = [
        f"backend {summary['backend']}; {data['clips']} generated clips "
        f"({data['classes']} motion classes, {data['frames_per_clip']} "
        f"frames of {h}x{w}x{c}); {summary['epochs']} epochs; "
        f"{len(folds)} fold(s), {data.get('test_clips')} test clips in all; "
        f"chance accuracy {summary.get('chance', 1 / data['classes']):.3f}",
        f"{'model':<8}{'input-to-hidden':>17}{'input-map compression':>23}"
        f"{'Adam rate':>11}{'train acc.':>12}{'test acc.':>15}"
        f"{'s/epoch':>9}",
    ]
    for row in summary["models"]:
        spread = row.get("accuracy_std")
        accuracy = f"{row['accuracy']:.3f}"
        if spread is not None:
            accuracy += f" +- {spread:.3f}"
        rates = sorted(set(row.get("learning_rates") or []))
        rate = "/".join(f"{r:g}" for r in rates) or "-"
        train = row.get("train_accuracy")
        train = "-" if train is None else f"{train:.3f}"
        lines.append(
            f"{row['model']:<8}{row['input_to_hidden']:>17,}"
            f"{row['compression_vs_gru']:>22,.0f}x{rate:>11}{train:>12}"
            f"{accuracy:>15}{row['seconds_per_epoch']:>9.2f}"
        )
    lines.append(
        "Adam rates: the lowest training loss after short trial runs on "
        "the first fold's training clips; train acc.: the last epoch's."
    )
    return "\n".join(lines)


def _row(result):
    train = [
        history["accuracy"][-1]
        for history in result["history"].values()
        if history.get("accuracy")
    ]
    return {
        "model": result["model"],
        "input_to_hidden": result["weights"]["input_to_hidden"],
        "total_weights": result["weights"]["total"],
        "accuracy": result["metrics"]["accuracy"],
        "accuracy_std": result.get("metrics_std", {}).get("accuracy"),
        "train_accuracy": sum(train) / len(train) if train else None,
        "learning_rates": list(
            result["config"].get("learning_rates", {}).values()
        ),
        "learning_rate_sweep": result["config"].get("learning_rate_sweep"),
        "seconds_per_epoch": result["seconds_per_epoch"],
        "out": result["out"],
    }


def _drop_checkpoints(model_dir, checkpoints):
    """Deletes a run's checkpoints and notes it in its results.json, where
    `ttrnn explain` finds why there is none."""
    for path in checkpoints:
        os.remove(path)
    path = os.path.join(model_dir, run.RESULTS)
    result = checkpointing.read_json(path)
    result[rundir.CHECKPOINT_DELETED] = (
        "ttrnn demo deleted this model's checkpoint.keras; run it with "
        "--keep-checkpoints to keep it"
    )
    checkpointing.write_json(path, result)


def _checkpoints(model_dir):
    """The checkpoint of each fold's run, in fold order."""
    found = []
    for root, _, files in sorted(os.walk(model_dir)):
        if checkpointing.CHECKPOINT in files:
            found.append(os.path.join(root, checkpointing.CHECKPOINT))
    return sorted(found)


def train_model(model_name, data_dir, out, sizes, seed, verbose, **settings):
    """One of the demo's runs (`run.run_experiment`): `model_name` on the
    clips of `data_dir`, with `sizes` (`FULL` or `QUICK`) and any other
    `settings` (e.g. `cache_dir`, `input_precision`); returns its
    results."""
    return run.run_experiment(
        "ucf11",
        model_name,
        data_dir=data_dir,
        out=out,
        epochs=sizes["epochs"],
        protocol="fast",
        num_frames=sizes["num_frames"],
        frame_shape=sizes["frame_shape"],
        batch_size=sizes["batch_size"],
        learning_rate=sizes["learning_rate"],
        folds=list(sizes["folds"]),
        dropout=0.0,
        recurrent_dropout=0.0,
        overwrite=True,
        seed=seed,
        verbose=verbose,
        plot=False,
        # Generated clips: the 2017 UCF11 figures do not compare.
        compare_paper=False,
        **settings,
    )


def write_data(data_dir, sizes, seed, verbose):
    """Writes the synthetic UCF11-layout clips once; returns their count."""
    from ttrnn import data

    marker = os.path.join(data_dir, "ttrnn-demo.json")
    wanted = {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in sizes.items()
        if k not in ("epochs", "batch_size", "folds", "learning_rate")
    }
    wanted["seed"] = seed
    if os.path.isfile(marker):
        with open(marker, encoding="utf-8") as file:
            written = json.load(file)
        if written.get("sizes") == wanted:
            return written["clips"]
        checkpointing.clear_run(data_dir)
    total = (
        sizes["num_classes"]
        * sizes["groups_per_class"]
        * sizes["clips_per_group"]
    )
    if verbose:
        print(
            f"Writing {total} synthetic clips in the UCF11 layout to "
            f"{data_dir} ..."
        )
    start = time.perf_counter()
    paths = data.write_ucf11_like(
        data_dir,
        num_classes=sizes["num_classes"],
        groups_per_class=sizes["groups_per_class"],
        clips_per_group=sizes["clips_per_group"],
        num_frames=sizes["num_frames"],
        frame_shape=sizes["frame_shape"],
        seed=seed,
    )
    checkpointing.write_json(marker, {"sizes": wanted, "clips": len(paths)})
    if verbose:
        print(f"  done in {time.perf_counter() - start:.1f} s")
    return len(paths)

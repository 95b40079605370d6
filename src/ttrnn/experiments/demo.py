"""`ttrnn demo`: a TT-GRU and a GRU side by side on generated video.

The demo writes a synthetic video-classification set in UCF11's real
layout (`<class>/v_<class>_<gg>/<clip>.mpg`, 120x160 RGB frames, one
motion pattern per class), then runs the `ucf11` experiment on it twice
(TT-GRU and a plain GRU of the same hidden size, 256 units, through the
same decoding cache, streaming and checkpointing as the real thing) and
prints weights, compression, accuracy and seconds per epoch side by side.
"""

import json
import os
import time

import keras

from ttrnn.experiments import plots
from ttrnn.experiments import run
from ttrnn.experiments import runner

# Sizes of the full demo and of the quick one (tests, smoke checks).
FULL = dict(
    num_classes=6,
    groups_per_class=4,
    clips_per_group=4,
    num_frames=8,
    frame_shape=(120, 160),
    epochs=10,
    batch_size=16,
)
QUICK = dict(
    num_classes=3,
    groups_per_class=5,
    clips_per_group=1,
    num_frames=4,
    frame_shape=(24, 32),
    epochs=2,
    batch_size=4,
)
MODELS = ("tt-gru", "gru")
# Both models train with the same settings: Adam 1e-2, no dropout, frames
# scaled to [-1, 1) (the fast protocol), so that ten epochs suffice.
LEARNING_RATE = 1e-2


def run_demo(out="runs/demo", quick=False, epochs=None, seed=0, verbose=1):
    """Generates the data, trains both models, writes results and plots.

    Args:
        out: output directory: `data/` (the generated clips), `cache/`
            (decoded frames), `tt-gru/` and `gru/` (runs with their
            checkpoints), `results.json`, `curves.png`, `weights.png`.
        quick: tiny frames and few clips (seconds instead of minutes).
        epochs: number of epochs, `None` for the default (10; quick 2).
        seed: seed of the data and the training.
        verbose: 0 silent, 1 progress bars and the table.

    Returns:
        The results dict written to `<out>/results.json`.
    """
    sizes = dict(QUICK if quick else FULL)
    if epochs is not None:
        sizes["epochs"] = int(epochs)
    os.makedirs(out, exist_ok=True)
    data_dir = os.path.join(out, "data")
    clips = _write_data(data_dir, sizes, seed, verbose)
    rows, results, models = [], {}, {}
    for model_name in MODELS:
        if verbose:
            print(f"\n=== {model_name} ===")
        result = run.run_experiment(
            "ucf11",
            model_name,
            data_dir=data_dir,
            out=os.path.join(out, model_name),
            epochs=sizes["epochs"],
            protocol="fast",
            num_frames=sizes["num_frames"],
            frame_shape=sizes["frame_shape"],
            batch_size=sizes["batch_size"],
            learning_rate=LEARNING_RATE,
            folds=[0],
            dropout=0.0,
            recurrent_dropout=0.0,
            cache_dir=os.path.join(out, "cache"),
            overwrite=True,
            seed=seed,
            verbose=verbose,
            plot=False,
        )
        results[model_name] = result
        models[model_name] = keras.saving.load_model(
            os.path.join(out, model_name, runner.CHECKPOINT)
        )
        rows.append(_row(result))
    dense = rows[-1]["input_to_hidden"]
    for row in rows:
        row["compression_vs_gru"] = dense / row["input_to_hidden"]
    height, width = sizes["frame_shape"]
    summary = {
        "backend": keras.backend.backend(),
        "data": {
            "layout": "ucf11",
            "clips": clips,
            "classes": sizes["num_classes"],
            "frames_per_clip": sizes["num_frames"],
            "frame_shape": [height, width, 3],
            "train_clips": results[MODELS[0]]["config"].get("train_clips"),
        },
        "epochs": sizes["epochs"],
        "models": rows,
    }
    histories = {
        name: next(iter(r["history"].values())) for name, r in results.items()
    }
    try:
        summary["plots"] = plots.save_all(
            os.path.join(out, ""),
            histories,
            models,
            "accuracy",
            sizes["frame_shape"],
            "TT-GRU vs GRU on generated motion videos",
        )
    except ImportError:  # matplotlib is an optional extra
        summary["plots"] = []
    runner.write_json(os.path.join(out, "results.json"), summary)
    if verbose:
        print()
        print(format_table(summary))
        print(f"\nresults.json and plots in {os.path.abspath(out)}")
    return summary


def format_table(summary):
    """The side-by-side table the demo prints."""
    data = summary["data"]
    h, w, c = data["frame_shape"]
    lines = [
        f"backend {summary['backend']}; {data['clips']} generated clips "
        f"({data['classes']} motion classes, {data['frames_per_clip']} "
        f"frames of {h}x{w}x{c}); {summary['epochs']} epochs",
        f"{'model':<8}{'input-to-hidden':>17}{'compression':>13}"
        f"{'accuracy':>10}{'s/epoch':>9}",
    ]
    for row in summary["models"]:
        lines.append(
            f"{row['model']:<8}{row['input_to_hidden']:>17,}"
            f"{row['compression_vs_gru']:>12,.0f}x"
            f"{row['accuracy']:>10.3f}{row['seconds_per_epoch']:>9.2f}"
        )
    return "\n".join(lines)


def _row(result):
    return {
        "model": result["model"],
        "input_to_hidden": result["weights"]["input_to_hidden"],
        "total_weights": result["weights"]["total"],
        "accuracy": result["metrics"]["accuracy"],
        "seconds_per_epoch": result["seconds_per_epoch"],
        "out": result["out"],
    }


def _write_data(data_dir, sizes, seed, verbose):
    """Writes the synthetic UCF11-layout clips once; returns their count."""
    from ttrnn import data

    marker = os.path.join(data_dir, "ttrnn-demo.json")
    wanted = {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in sizes.items()
        if k not in ("epochs", "batch_size")
    }
    wanted["seed"] = seed
    if os.path.isfile(marker):
        with open(marker, encoding="utf-8") as file:
            written = json.load(file)
        if written.get("sizes") == wanted:
            return written["clips"]
        runner.clear_run(data_dir)
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
    runner.write_json(marker, {"sizes": wanted, "clips": len(paths)})
    if verbose:
        print(f"  done in {time.perf_counter() - start:.1f} s")
    return len(paths)

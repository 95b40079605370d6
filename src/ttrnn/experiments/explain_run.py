"""`ttrnn explain`: the relevance of one input to a trained model.

Reads a run folder of `ttrnn experiment` (its results.json and
checkpoint.keras), prepares one input as the run did (a video file
decoded at the run's frame size and protocol; an array file; or the N-th
test example of the experiment's data), and writes what LRP says
(`ttrnn.explain.lrp`): relevance.npy (the shape of the input) and
relevance.png: relevance a step and, for video, a per-pixel map of the
most relevant frames; for images, a heat map beside the image.
"""

import json
import math
import os

import numpy as np

from ttrnn.experiments import checkpointing
from ttrnn.experiments import datasets
from ttrnn.experiments import plots
from ttrnn.experiments import registry
from ttrnn.experiments import relevance_plots
from ttrnn.experiments import rundir
from ttrnn.experiments.registry import ExperimentError
from ttrnn.experiments.run import RESULTS
from ttrnn.experiments.splits import video_splits
from ttrnn.explain import lrp


def explain_run(
    run_dir,
    input_path=None,
    index=None,
    target=None,
    out=None,
    eps=relevance_plots.EPS,
    bias_factor=relevance_plots.BIAS_FACTOR,
    data_dir=None,
    top_frames=4,
    plot=True,
):
    """Explains one input to the model a run trained.

    Args:
        run_dir: the run's output folder, or, for cross-validated video
            runs, one fold's folder, e.g. `runs/ucf11/fold-0` (with
            `input_path`, the run's folder means its first fold's).
        input_path: a video file (video experiments) or a `.npy` array of
            one example (with or without the batch axis).
        index: instead of `input_path`, the index of a test example of
            the run's data (for video, a clip of the run's test split:
            of the fold whose folder `run_dir` is).
        target: the output unit explained; None: the predicted one.
        out: output folder. Defaults to `<run_dir>/explain/<input>`.
        eps, bias_factor: the LRP settings (see `ttrnn.explain.lrp`).
        data_dir: the data directory for `index` (default: the run's).
        top_frames: video: the most relevant frames drawn pixel by pixel.
        plot: write relevance.png (needs matplotlib).

    Returns:
        A dict: what was explained, the prediction, target and score,
        and the files written (also saved as explanation.json).
    """
    import keras

    if input_path is not None:
        run_dir = _first_fold(run_dir)
    config, checkpoint = _run_files(run_dir)
    # The run's protocol: its data are prepared as the run's were.
    protocol = config.get("protocol")
    if protocol not in registry.get(config["experiment"]).protocols:
        protocol = None
    experiment, _ = registry.resolve(config["experiment"], protocol)
    if (input_path is None) == (index is None):
        raise ExperimentError(
            "Give one of `input_path` (a file) or `index` (a test "
            f"example). Received: input_path={input_path!r}, index={index!r}"
        )
    model = keras.saving.load_model(checkpoint, compile=False)
    if input_path is not None:
        x, label = _read_input(experiment, config, model, input_path)
        name = os.path.splitext(os.path.basename(input_path))[0]
    elif experiment.kind == "video":
        x, label, input_path = _test_clip(
            experiment, config, run_dir, index, data_dir
        )
        name = f"test-{index}"
    else:
        x, label = _test_example(experiment, config, index, data_dir)
        name = f"test-{index}"
    inputs = x
    if len(model.inputs) == 2:  # a video model of the paper protocol
        inputs = [x, np.ones(x.shape[:2], dtype=bool)]
    prediction = np.asarray(model.predict(inputs, verbose=0)).reshape(-1)
    details = lrp(
        model,
        inputs,
        target=target,
        eps=eps,
        bias_factor=bias_factor,
        return_details=True,
    )
    out = out or os.path.join(run_dir, "explain", name)
    os.makedirs(out, exist_ok=True)
    relevance = details.relevance[0]
    files = [os.path.join(out, "relevance.npy")]
    np.save(files[0], relevance)
    if plot:
        try:
            files.append(
                _draw(experiment, config, x[0], relevance, out, top_frames)
            )
        except ImportError as error:  # matplotlib is an optional extra
            plots.report_skipped(error)
    summary = {
        "run": os.fspath(run_dir),
        "input": os.fspath(input_path) if input_path else name,
        "label": label,
        "prediction": [float(p) for p in prediction],
        "target": int(details.target[0]),
        "score": float(details.score[0]),
        "relevance_sum": float(relevance.sum()),
        "eps": eps,
        "bias_factor": bias_factor,
        "files": files,
    }
    if relevance.ndim >= 2:
        per_step = relevance_plots.step_relevance(relevance[None])[0]
        summary["most_relevant_steps"] = [
            int(t) for t in np.argsort(-np.abs(per_step))[:top_frames]
        ]
    checkpointing.write_json(os.path.join(out, "explanation.json"), summary)
    return summary


def _first_fold(run_dir):
    """A cross-validated run's folder: its first fold's, whose model
    explains a file as well as any (`--index` needs the fold: its test
    clips); any other folder: itself."""
    own = os.path.join(run_dir, checkpointing.CHECKPOINT)
    folds = rundir.run_folders(run_dir)[1:]
    with_checkpoint = [
        f
        for f in folds
        if os.path.isfile(os.path.join(f, checkpointing.CHECKPOINT))
    ]
    if os.path.isfile(own) or not with_checkpoint:
        return run_dir
    return with_checkpoint[0]


def _run_files(run_dir):
    """(config of the run, its checkpoint path)."""
    run_dir = os.fspath(run_dir)
    results = None
    for folder in (run_dir, os.path.dirname(os.path.abspath(run_dir))):
        if os.path.isfile(os.path.join(folder, RESULTS)):
            results = os.path.join(folder, RESULTS)
            break
    checkpoint = os.path.join(run_dir, checkpointing.CHECKPOINT)
    if results is None or not os.path.isfile(checkpoint):
        folds = sorted(
            entry
            for entry in (os.listdir(run_dir) if os.path.isdir(run_dir) else [])
            if os.path.isfile(
                os.path.join(run_dir, entry, checkpointing.CHECKPOINT)
            )
        )
        hint = f" Its folds: {folds}; pass one of them." if folds else ""
        deleted = results and checkpointing.read_json(results).get(
            rundir.CHECKPOINT_DELETED
        )
        if deleted and not folds:
            hint = f" It has none: {deleted}."
        raise ExperimentError(
            "Argument `run_dir` must be the output folder of one run of "
            "`ttrnn experiment` (results.json and checkpoint.keras)."
            f"{hint} Received: run_dir={run_dir!r}"
        )
    with open(results, encoding="utf-8") as file:
        saved = json.load(file)
    if "config" not in saved:
        raise ExperimentError(
            f"{results!r} sums up several runs; pass one run's folder "
            f"(listed under 'runs'). Received: run_dir={run_dir!r}"
        )
    return saved["config"], checkpoint


def _read_input(experiment, config, model, path):
    if not os.path.isfile(path):
        raise ExperimentError(
            f"Argument `input` must be a file. Received: input={path!r}"
        )
    if experiment.kind == "video" and not path.endswith(".npy"):
        return _read_clip(experiment, config, path), None
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ExperimentError(
            f"Argument `input` must be a video file or a .npy array "
            f"(np.save): {error} Received: input={path!r}"
        ) from None
    expected = tuple(model.inputs[0].shape[1:])
    if x.ndim == len(expected):
        x = x[None]
    if x.ndim != len(expected) + 1 or len(x) != 1:
        raise ExperimentError(
            f"The array in {path!r} must be one example of shape "
            f"{expected} (or (1,) + that). Received: shape {x.shape}"
        )
    return x, None


def _read_clip(experiment, config, path):
    """A clip's frames as the run read them: `(1, frames, features)`."""
    from ttrnn import data

    try:
        frames = data.read_video(
            path,
            frame_shape=tuple(config["frame_shape"]),
            every=experiment.every,
            max_frames=experiment.max_frames,
        )
    except data.VideoReadError as error:
        raise ExperimentError(
            f"Argument `input` must be a readable video file: {error} "
            f"Received: input={os.fspath(path)!r}"
        ) from None
    if config.get("num_frames"):  # the fast protocol's even sampling
        picks = np.rint(np.linspace(0, len(frames) - 1, config["num_frames"]))
        frames = frames[picks.astype(np.int64)]
    return frames.reshape(1, len(frames), -1)


def _test_clip(experiment, config, run_dir, index, data_dir):
    """The `index`-th test clip of the run's split: `(x, label, path)`.

    The split is rebuilt as the run built it: the run's data folder
    (or `data_dir`), less the clips it skipped (its `skipped_clips`),
    the run's folds and seed; a cross-validated run's fold is the one
    whose folder `run_dir` is.
    """
    dataset = datasets.load_video(
        experiment, data_dir or config.get("data_dir")
    )
    skipped = set(config.get("skipped_clips") or ())
    dataset = dataset.subset(
        [i for i, clip in enumerate(dataset.clips) if clip not in skipped]
    )
    splits = video_splits(
        experiment, dataset, config.get("folds"), config.get("seed", 0)
    )
    fold = os.path.basename(os.path.abspath(run_dir))
    chosen = [s for s in splits if len(splits) == 1 or s[0] == fold]
    if not chosen:
        raise ExperimentError(
            f"Argument `run_dir` must be one fold's folder of this "
            f"cross-validated run, one of {[s[0] for s in splits]}, for "
            f"`index`. Received: run_dir={os.fspath(run_dir)!r}"
        )
    test = chosen[0][2]
    if not 0 <= index < len(test):
        raise ExperimentError(
            f"Argument `index` must be in [0, {len(test)}) (the test "
            f"clips). Received: index={index}"
        )
    clip = dataset.clips[test[index]]
    label = np.asarray(dataset.labels[test[index]]).tolist()
    return _read_clip(experiment, config, clip), label, clip


def _test_example(experiment, config, index, data_dir):
    arrays = datasets.load_arrays(
        experiment,
        data_dir or config.get("data_dir"),
        config.get("seed", 0),
        dataset=config.get("dataset"),
    )
    count = len(arrays["x_test"])
    if not 0 <= index < count:
        raise ExperimentError(
            f"Argument `index` must be in [0, {count}) (the test "
            f"examples). Received: index={index}"
        )
    label = np.asarray(arrays["y_test"][index]).tolist()
    return arrays["x_test"][index : index + 1], label


def _draw(experiment, config, x, relevance, out, top_frames):
    path = os.path.join(out, "relevance.png")
    if experiment.kind == "video":
        height, width = config["frame_shape"]
        return relevance_plots.video(
            path, x, relevance, (height, width, 3), top_frames
        )
    if relevance.ndim == 2:
        side = math.isqrt(x.shape[-1])
        if side * side != x.shape[-1]:  # steps that are not images
            return relevance_plots.sequence_heatmap(
                path, x, relevance, f"{experiment.name}: relevance"
            )
        per_step = relevance_plots.step_relevance(relevance[None])
        return relevance_plots.sequences(path, x[None], per_step)
    side = math.isqrt(x.size)
    shape = (side, side) if side * side == x.size else None
    return relevance_plots.vector(path, x, relevance, shape)

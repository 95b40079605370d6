"""Running an experiment end to end: data, model, training, results.

`run_experiment` trains one model of one experiment (checkpointing every
epoch, resuming on request), evaluates it on the test split and writes
`results.json`, `curves.png` and `weights.png` to its output directory.
`run_many` runs several experiments or models and writes a summary.
"""

import math
import os
import statistics
import time

import keras
import numpy as np

from ttrnn import distribution
from ttrnn.experiments import datasets
from ttrnn.experiments import info
from ttrnn.experiments import models
from ttrnn.experiments import plots
from ttrnn.experiments import registry
from ttrnn.experiments import run_summary
from ttrnn.experiments import rundir
from ttrnn.experiments import runner
from ttrnn.experiments import settings
from ttrnn.experiments import training
from ttrnn.experiments.registry import ExperimentError
from ttrnn.experiments.training import CURVE_METRIC
from ttrnn.experiments.training import SWEEP_RATES
from ttrnn.experiments.training import default_max_batch_frames

# One tuple, in `experiment`: the CLI takes its --protocol choices there
# (that module imports no Keras).
PROTOCOLS = registry.PROTOCOLS
RESULTS = run_summary.RESULTS


def run_experiment(
    name,
    model=None,
    *,
    data_dir=None,
    dataset=None,
    out=None,
    epochs=None,
    protocol=None,
    resume=False,
    overwrite=False,
    batch_size=None,
    learning_rate=None,
    tt_ranks=None,
    tt_input_shape=None,
    frame_shape=None,
    num_frames=16,
    folds=None,
    dropout=None,
    recurrent_dropout=None,
    cache_dir=None,
    seed=0,
    verbose=1,
    plot=True,
    buckets=8,
    max_batch_frames="auto",
    compare_paper=True,
    rank_budget=None,
):
    """Trains and evaluates one model of one experiment.

    Args:
        name: experiment name (see `registry.names()`), or an alias such as
            `"madelon-tuned"` (`registry.ALIASES`).
        model: one of the experiment's models; `None` for its default
            (the TT model).
        data_dir: the dataset directory; `None` for the default (see
            `datasets.default_data_dir`; else fetched on first use).
        dataset: mnist and mnist-seq: "mnist" (`None`, as in 2017) or
            "fashion-mnist" (`datasets.IMAGE_DATASETS`).
        out: output directory; `None` for `runs/<name>-<model>`
            (`runs/<name>-tuned-<model>` in the tuned protocol).
        epochs: number of epochs; `None` for the experiment's default.
        protocol: one of `PROTOCOLS` that the experiment runs; `None` for
            its default. Video: `"fast"` (the default: `num_frames`
            frames sampled over each clip) or `"paper"` (every frame,
            zero pre-padding and masking). Others: `"paper"` (the
            default: the 2017 settings) or, for the experiments with
            tuned settings (`registry.tuned_names()`), `"tuned"`.
        resume: continue a killed run from its last finished epoch.
        overwrite: discard an earlier run in `out`.
        batch_size: `None` for the experiment's default.
        learning_rate: a float; `None` for the experiment's default;
            `"sweep"` (or a list of candidate rates) to pick the candidate
            (default `SWEEP_RATES`) whose `SWEEP_EPOCHS`-epoch trial run
            on the first split's training data ends with the lowest
            training loss (`runner.sweep_learning_rate`), for all splits.
            The rates used are in the results' `config.learning_rates`,
            the trials in `config.learning_rate_sweep`.
        tt_ranks: TT ranks (one int or d + 1 ints); `None` for default.
        tt_input_shape: TT input modes of video frames; `None` takes the
            experiment's, or factorises the frame size.
        frame_shape: `(height, width)` of video frames; `None` for the
            dataset's (e.g. 120x160).
        num_frames: frames a clip in the fast protocol. Defaults to 16.
        folds: cross-validation folds to run (list of ints), `None` for
            the experiment's (`Experiment.folds`; all five if none).
        dropout: input dropout of the recurrent models. Defaults to the
            experiment's (`Experiment.dropout_for`: in the paper protocol
            0 for the TT-RNNs, whose 2017 code applied none, 0.25 for the
            plain ones; mnist-seq 0).
        recurrent_dropout: their recurrent dropout. Defaults to the
            experiment's (0.25; mnist-seq 0.5).
        cache_dir: decoded-frame cache; `None` for
            `training.default_cache_dir()`.
        seed: random seed.
        verbose: 0 silent, 1 progress bars, 2 one line an epoch.
        plot: write `curves.png` and `weights.png`.
        buckets: video, paper protocol: the most length buckets a split's
            clips are padded to (see `ttrnn.data.bucket_lengths`): at
            most one compiled graph per bucket. Defaults to 8.
        max_batch_frames: video, paper protocol: the most padded frames
            in a batch; the batches of longer buckets hold fewer clips
            (`ttrnn.data.bucket_rows`), which bounds the memory of the
            longest clips' batches. `None` for `batch_size` clips in
            every batch. Defaults to `"auto"`: 4,096 on JAX (16 clips of
            256 frames; XLA's temporaries grow with the batch), 8,192 on
            TensorFlow and torch (`training.PAPER_MAX_BATCH_FRAMES`).
        compare_paper: print the 2017 paper's figure beside the result
            (turn off on data other than the real dataset).
        rank_budget: None, or `{"target_params": P}` or
            `{"target_compression": X}`: rank-adaptive training toward it
            (`ttrnn.callbacks.RankAdaptation`); results.json then records
            the truncations under "rank_schedule".

    Returns:
        The results dict, also written to `<out>/results.json`.
    """
    experiment, protocol, model_name, out = check_run(
        name,
        model,
        out,
        protocol=protocol,
        resume=resume,
        overwrite=overwrite,
        tt_ranks=tt_ranks,
        tt_input_shape=tt_input_shape,
        frame_shape=frame_shape,
    )
    config = {
        "experiment": experiment.name,
        "model": model_name,
        "protocol": protocol,
        "epochs": int(epochs or experiment.epochs),
        "batch_size": int(batch_size or experiment.batch_size),
        "learning_rate": _learning_rate_config(learning_rate, experiment),
        "tt_ranks": experiment.ranks(tt_ranks, model_name),
        "dropout": float(
            experiment.dropout_for(model_name) if dropout is None else dropout
        ),
        "recurrent_dropout": float(
            experiment.recurrent_dropout
            if recurrent_dropout is None
            else recurrent_dropout
        ),
        "seed": int(seed),
        "data_dir": None if data_dir is None else os.fspath(data_dir),
        "backend": keras.backend.backend(),
        # Devices and processes (ttrnn.distribution.initialize).
        "topology": distribution.topology(),
    }
    if rank_budget:
        config["rank_budget"] = dict(rank_budget)
    image_dataset = datasets.dataset_name(experiment, dataset)
    if image_dataset:  # mnist, mnist-seq: which images (--dataset)
        config["dataset"] = image_dataset
    opts = dict(
        resume=resume,
        overwrite=overwrite,
        verbose=verbose,
        plot=plot,
        cache_dir=cache_dir,
        # The 2017 figures are MNIST's, not Fashion-MNIST's.
        compare_paper=compare_paper and image_dataset != "fashion-mnist",
    )
    started = time.perf_counter()
    if experiment.kind == "video":
        config.update(
            frame_shape=list(frame_shape or experiment.frame_shape),
            num_frames=None if protocol == "paper" else int(num_frames),
            tt_input_shape=None
            if tt_input_shape is None
            else [int(m) for m in tt_input_shape],
            folds=_folds(experiment, folds),
            pixel_scale=settings.pixel_scale(protocol),
        )
        if protocol == "paper":
            config["buckets"] = int(buckets)
            config["max_batch_frames"] = _max_batch_frames(max_batch_frames)
    video = experiment.kind == "video"
    train = training.run_video if video else training.run_arrays
    # The folder is made when training begins; a run that fails before
    # its first checkpoint leaves none behind.
    with rundir.removed_unless_checkpointed(out):
        splits = train(experiment, config, out, opts)
    return _finish(experiment, config, out, splits, started, opts)


def check_run(
    name,
    model=None,
    out=None,
    *,
    protocol=None,
    resume=False,
    overwrite=False,
    tt_ranks=None,
    tt_input_shape=None,
    frame_shape=None,
    **unused,
):
    """Checks a run's settings and output folder before any work.

    Takes `run_experiment`'s arguments (those it does not check are
    ignored).

    Returns:
        `(experiment, protocol, model_name, out)`, filled in.

    Raises:
        ExperimentError: for an unknown experiment, protocol or model,
            TT ranks or input modes that do not fit the model, or an
            output folder that cannot be written.
        RunExistsError: if `out` holds an earlier run and neither
            `resume` nor `overwrite` is set.
    """
    label = registry.run_label(name, protocol)
    experiment, protocol = registry.resolve(name, protocol)
    model_name = model or experiment.models[0]
    experiment.check_model(model_name, tt_ranks, tt_input_shape)
    if experiment.kind == "video" and tt_input_shape is not None:
        height, width = frame_shape or experiment.frame_shape
        models.tt_input_modes(experiment, height * width * 3, tt_input_shape)
    out = out or os.path.join("runs", f"{label}-{model_name}")
    rundir.check_out(out, resume=resume, overwrite=overwrite)
    return experiment, protocol, model_name, out


def run_many(names, model_names, out=None, **kwargs):
    """Runs every model of every experiment; prints a comparison table.

    Args:
        names: experiment names.
        model_names: model names (each must suit every experiment), or
            `None` for each experiment's TT model and its dense baseline.
        out: output root; each run goes to `<out>/<experiment>/<model>`
            (levels with one entry are left out). `None` for `runs`.
        **kwargs: passed to `run_experiment`.

    Returns:
        The list of results dicts. With several runs a summary goes to
        `<out>/results.json`.
    """
    out = out or "runs"
    planned = []
    for name in names:
        registry.resolve(name, kwargs.get("protocol"))
        experiment = registry.get(name)
        chosen = model_names or _default_models(experiment)
        for model_name in chosen:
            parts = [out]
            if len(names) > 1:
                parts.append(name)
            if len(chosen) > 1:
                parts.append(model_name)
            planned.append((name, model_name, os.path.join(*parts)))
    # A bad setting or output folder stops the group before any run.
    for name, model_name, run_out in planned:
        check_run(name, model_name, run_out, **kwargs)
    runs = [
        run_experiment(name, model_name, out=run_out, **kwargs)
        for name, model_name, run_out in planned
    ]
    if len(runs) > 1:
        rows = [run_summary.summary_row(r) for r in runs]
        runner.write_json(os.path.join(out, RESULTS), {"runs": rows})
        # The results, whatever `verbose` (it controls training logs).
        print(run_summary.format_summary(rows))
    elif runs and not kwargs.get("verbose", 1):
        print(run_summary.one_line(runs[0]))  # verbose runs print it themselves
    return runs


def _default_models(experiment):
    if experiment.kind == "feedforward":
        return ("tt", "dense")
    return (experiment.models[0], experiment.models[0].split("-")[-1])


def _folds(experiment, folds):
    folds = experiment.folds if folds is None else folds
    return None if folds is None else [int(f) for f in folds]


def _max_batch_frames(value):
    """Validates `max_batch_frames` (an int >= 1, None or "auto")."""
    if isinstance(value, str) and value == "auto":
        return default_max_batch_frames()
    is_int = isinstance(value, (int, np.integer)) and not isinstance(
        value, bool
    )
    if value is None or (is_int and value >= 1):
        return None if value is None else int(value)
    raise ExperimentError(
        'Argument `max_batch_frames` must be an int >= 1, None or "auto". '
        f"Received: max_batch_frames={value!r}"
    )


def _learning_rate_config(learning_rate, experiment):
    if learning_rate is None:
        return float(experiment.learning_rate)
    candidates = SWEEP_RATES if learning_rate == "sweep" else learning_rate
    several = isinstance(candidates, (list, tuple))
    rates = list(candidates) if several else [candidates]
    for rate in rates:
        if (
            isinstance(rate, (bool, str))
            or not isinstance(rate, (int, float, np.floating, np.integer))
            or not 0 < rate < math.inf
        ):
            raise ExperimentError(
                "Argument `learning_rate` must be a positive number, "
                "'sweep' or a list of positive numbers. Received: "
                f"learning_rate={learning_rate!r}"
            )
    return [float(r) for r in rates] if several else float(rates[0])


def _finish(experiment, config, out, splits, started, opts):
    label, model, state, _ = splits[-1]
    rows = info.layer_rows(model)
    first = next(r for r in rows if r.get("input_to_hidden"))
    per_split = [scores for _, _, _, scores in splits]
    keys = per_split[0].keys()
    mean = {k: _mean([s[k] for s in per_split]) for k in keys}
    result = {
        "experiment": experiment.name,
        "model": config["model"],
        "metric": experiment.metric,
        "metrics": mean,
        "weights": {
            "total": int(model.count_params()),
            "input_to_hidden": first["input_to_hidden"],
            "dense_equivalent": first["dense_equivalent"],
            "compression": first["dense_equivalent"] / first["input_to_hidden"],
            "layers": rows,
        },
        "seconds_per_epoch": _mean(
            [runner.seconds_per_epoch(s) for _, _, s, _ in splits]
        ),
        "epochs_done": state["epochs_done"],
        "stopped_early": state.get("stopped_early"),
        "resumed_from": state.get("resumed_from", []),
        # The 2017 figures on the real dataset; none for other data.
        "paper": experiment.paper.get(config["model"], {})
        if opts["compare_paper"]
        else {},
        "config": config,
        "wall_seconds": time.perf_counter() - started,
        "out": os.fspath(out),
    }
    if "rank_schedule" in config:
        result["rank_schedule"] = config.pop("rank_schedule")
    if len(splits) > 1:
        result["metrics_std"] = {
            k: statistics.pstdev([s[k] for s in per_split]) for k in keys
        }
        result["splits"] = {label: scores for label, _, _, scores in splits}
    histories = {
        (config["model"] if len(splits) == 1 else label): s["history"]
        for label, _, s, _ in splits
    }
    result["history"] = histories
    if opts["plot"] and distribution.is_chief():
        frame = config.get("frame_shape")
        try:
            result["plots"] = plots.save_all(
                os.path.join(out, ""),
                histories,
                {config["model"]: model},
                CURVE_METRIC[experiment.task],
                tuple(frame) if frame else None,
                f"{experiment.name}: {config['model']}",
            )
        except ImportError as error:  # matplotlib is an optional extra
            plots.report_skipped(error)
            result["plots"] = []
    runner.write_json(os.path.join(out, RESULTS), result)
    if opts["verbose"]:
        print(run_summary.one_line(result))
    return result


def _mean(values):
    values = [v for v in values if v is not None and not _isnan(v)]
    return float(np.mean(values)) if values else None


def _isnan(value):
    return isinstance(value, float) and math.isnan(value)

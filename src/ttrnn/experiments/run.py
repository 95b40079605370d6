"""Running an experiment end to end: data, model, training, results.

`run_experiment` trains one model of one experiment (checkpointing every
epoch, resuming on request), evaluates it on the test split and writes
`results.json`, `curves.png` and `weights.png` to its output directory.
`run_many` runs several experiments or models and writes a summary.
"""

import dataclasses
import math
import os
import statistics
import time

import numpy as np

from ttrnn import distribution
from ttrnn.experiments import checkpointing
from ttrnn.experiments import info
from ttrnn.experiments import plots
from ttrnn.experiments import registry
from ttrnn.experiments import resumed_settings
from ttrnn.experiments import run_summary
from ttrnn.experiments import rundir
from ttrnn.experiments import training
from ttrnn.experiments.run_config import RunConfig
from ttrnn.experiments.training import CURVE_METRIC

# One tuple, in `experiment`: the CLI takes its --protocol choices there
# (that module imports no Keras).
PROTOCOLS = registry.PROTOCOLS
RESULTS = run_summary.RESULTS


def run_experiment(name, model=None, **settings):
    """Trains and evaluates one model of one experiment.

    Args:
        name: experiment name (see `registry.names()`), or an alias such as
            `"madelon-tuned"` (`registry.ALIASES`).
        model: one of the experiment's models; `None` for its default
            (the TT model).
        **settings: the run's settings, `RunConfig`'s fields: `out`,
            `epochs`, `protocol`, `resume`, `overwrite`, `data_dir`,
            `dataset`, `batch_size`, `learning_rate`, `tt_ranks`,
            `tt_input_shape`, `frame_shape`, `num_frames`, `folds`,
            `dropout`, `recurrent_dropout`, `cache_dir`, `seed`,
            `verbose`, `plot`, `buckets`, `max_batch_frames`,
            `rank_budget`, `compare_paper`. Each left out takes its default (the
            experiment's, where it has one).

    Returns:
        The results dict, also written to `<out>/results.json`.

    Raises:
        ExperimentError: for a setting that does not fit (before any
            data is read).
        RunExistsError: if `out` holds an earlier run and neither
            `resume` nor `overwrite` is set.
    """
    config = RunConfig.resolve(name, model, **settings)
    check_out(config)
    return run_config(config)


def check_out(config):
    """Checks a run's output folder before any work (`rundir.check_out`);
    a resumed run must keep the settings it began with
    (`resumed_settings.check`)."""
    rundir.check_out(
        config.out, resume=config.resume, overwrite=config.overwrite
    )
    if config.resume and not config.overwrite:
        resumed_settings.check(config)


def run_config(config):
    """Runs a resolved `RunConfig` (see `run_experiment`)."""
    experiment = config.experiment_settings
    started = time.perf_counter()
    train = training.run_video
    if experiment.kind != "video":
        train = training.run_arrays
    # The folder is made when training begins; a run that fails before
    # its first checkpoint leaves none behind.
    with rundir.removed_unless_checkpointed(config.out):
        splits, found = train(experiment, config)
    return _finish(experiment, config, found, splits, started)


def run_many(names, model_names, out=None, **settings):
    """Runs every model of every experiment; prints a comparison table.

    Args:
        names: experiment names.
        model_names: model names (each must suit every experiment; `None`
            for an experiment's default), or `None` for each
            experiment's default (TT) model and its plain baseline
            (`Experiment.baseline_model`).
        out: output root; each run goes to `<out>/<experiment>/<model>`
            (levels with one entry are left out). `None` for `runs`.
        **settings: passed to `run_experiment`.

    Returns:
        The list of results dicts. With several runs a summary goes to
        `<out>/results.json`.
    """
    out = out or "runs"
    planned = []
    for name in names:
        chosen = model_names or (None, registry.get(name).baseline_model)
        for model_name in chosen:
            config = RunConfig.resolve(name, model_name, **settings)
            parts = [out]
            if len(names) > 1:
                parts.append(name)
            if len(chosen) > 1:
                parts.append(config.model)
            out_dir = os.path.join(*parts)
            planned.append(dataclasses.replace(config, out=out_dir))
    # A bad setting or output folder stops the group before any run.
    for config in planned:
        check_out(config)
    runs = [run_config(config) for config in planned]
    if len(runs) > 1:
        rows = [run_summary.summary_row(r) for r in runs]
        checkpointing.write_json(os.path.join(out, RESULTS), {"runs": rows})
        # The results, whatever `verbose` (it controls training logs).
        print(run_summary.format_summary(rows))
    elif runs and not planned[0].verbose:
        print(run_summary.one_line(runs[0]))  # verbose runs print it themselves
    return runs


def _finish(experiment, config, found, splits, started):
    """The results: scores, weights, times, settings; written to
    `<out>/results.json` (with the plots)."""
    schedule = found.pop("rank_schedule", None)
    schedules = found.pop("rank_schedules", None)
    label, model, state, _ = splits[-1]
    counted = _at_live_ranks(model) if schedule is not None else model
    rows = info.layer_rows(counted, config.batch_size)
    first = next(r for r in rows if r.get("input_to_hidden"))
    per_split = [scores for _, _, _, scores in splits]
    keys = per_split[0].keys()
    mean = {k: _mean([s[k] for s in per_split]) for k in keys}
    result = {
        "experiment": experiment.name,
        "model": config.model,
        "metric": experiment.metric,
        "metrics": mean,
        "weights": {
            "total": int(counted.count_params()),
            "input_to_hidden": first["input_to_hidden"],
            "dense_equivalent": first["dense_equivalent"],
            "compression": first["dense_equivalent"] / first["input_to_hidden"],
            "layers": rows,
        },
        "seconds_per_epoch": _mean(
            [checkpointing.seconds_per_epoch(s) for _, _, s, _ in splits]
        ),
        "epochs_done": state["epochs_done"],
        "stopped_early": state.get("stopped_early"),
        "resumed_from": state.get("resumed_from", []),
        # The 2017 figures on the real dataset; none for other data.
        "paper": experiment.paper.get(config.model, {})
        if config.compare_paper
        else {},
        # The settings, then what the run found (sizes, rates used...).
        "config": {**config.to_dict(), **found},
        "wall_seconds": time.perf_counter() - started,
        "out": os.fspath(config.out),
    }
    if schedule is not None:
        result["rank_schedule"] = schedule  # the last split's
    if schedules is not None and len(splits) > 1:
        result["rank_schedules"] = schedules  # by split, e.g. "fold-0"
    if len(splits) > 1:
        result["metrics_std"] = {
            k: statistics.pstdev([s[k] for s in per_split]) for k in keys
        }
        result["splits"] = {label: scores for label, _, _, scores in splits}
    histories = {
        (config.model if len(splits) == 1 else label): s["history"]
        for label, _, s, _ in splits
    }
    result["history"] = histories
    if config.plot and distribution.is_chief():
        try:
            result["plots"] = plots.save_all(
                os.path.join(config.out, ""),
                histories,
                {config.model: model},
                CURVE_METRIC[experiment.task],
                config.frame_shape,
                f"{experiment.name}: {config.model}",
            )
        except ImportError as error:  # matplotlib is an optional extra
            plots.report_skipped(error)
            result["plots"] = []
    checkpointing.write_json(os.path.join(config.out, RESULTS), result)
    if config.verbose:
        print(run_summary.one_line(result))
    return result


def _at_live_ranks(model):
    """A rank-adapted model as `export_adapted` rebuilds it, whose
    weights are counted: the trained model keeps its starting shapes,
    zero-padded beyond the adapted ranks."""
    from ttrnn.callbacks import export_adapted

    return export_adapted(model)


def _mean(values):
    values = [v for v in values if v is not None and not _isnan(v)]
    return float(np.mean(values)) if values else None


def _isnan(value):
    return isinstance(value, float) and math.isnan(value)

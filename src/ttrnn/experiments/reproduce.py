"""`ttrnn reproduce NAME`: one command per table of the 2017 papers.

`reproduce` runs every run of a table's plan (`reproduce_tables`: its
models and cross-validation folds, in the paper protocol), each in its own
folder: a finished run (its `results.json` complete, with the same
settings) is reused, a killed one resumes from its last checkpoint, so
running the command again continues where it stopped. Then it writes
`table.md`, `table.json` and `table.png` (`reproduce_report`): our
figures beside the 2017 ones. `table1` trains nothing: it builds the
TT-RNN layers of Table 1 of the ICML 2017 paper and counts their weights.

Imports no Keras at module level.
"""

import json
import os
import statistics

from ttrnn.experiments import registry
from ttrnn.experiments import reproduce_report
from ttrnn.experiments import reproduce_tables
from ttrnn.experiments.reproduce_tables import PROTOCOL
from ttrnn.experiments.reproduce_tables import TableError
from ttrnn.experiments.run_config import RunConfig

RESULTS = "results.json"


def reproduce(
    name,
    *,
    models=None,
    folds=None,
    epochs=None,
    out=None,
    data_dir=None,
    seed=0,
    seeds=1,
    verbose=1,
    plot=True,
):
    """Reproduces one table: runs (or reuses) its runs, writes the table.

    Args:
        name: a table name (`names()`).
        models: the models to run, `None` for the table's.
        folds: cross-validation folds to run (ints), `None` for all five.
        epochs: epochs of every run, `None` for each experiment's.
        out: output folder; `None` for `runs/reproduce/<name>`.
        data_dir: the data directory, `None` for each experiment's
            default (see `ttrnn experiment`).
        seed: random seed of every run (the first, with `seeds`).
        seeds: how many seeds (`seed`, `seed + 1`, ...) each model (and
            fold) runs with; the table's spread is over all of them.
        verbose: training logs of the runs: 0 none, 1 progress bars, 2 a
            line an epoch. Progress lines print unless 0.
        plot: write each run's plots and the table's PNG.

    Returns:
        The report dict, also written to `<out>/table.json` (with
        `table.md` and `table.png`).

    Raises:
        TableError: for an unknown table or an option it does not take.
        DataDirError: when an experiment's data is not found.
        RunExistsError: when a run folder holds a run with other settings.
    """
    table = reproduce_tables.get(name)
    out = os.fspath(out or os.path.join("runs", "reproduce", table.name))
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise TableError(
            f"Argument `seeds` must be an int >= 1. Received: seeds={seeds!r}"
        )
    seed_list = [int(seed) + k for k in range(seeds)]
    settings = {"seed": int(seed), "seeds": seed_list}
    settings.update(data_dir=data_dir, out=out)
    if not table.experiments:
        given = {"models": models, "folds": folds, "epochs": epochs}
        given["seeds"] = None if seeds == 1 else seeds
        for option, value in given.items():
            if value is not None:
                raise TableError(
                    f"Argument `{option}`: {table.name} trains nothing. "
                    f"Received: {option}={value!r}"
                )
        rows, shrunk = reproduce_tables.table1_rows(), []
    else:
        runs, shrunk, by_experiment = reproduce_tables.plan(
            table, out, models, folds, epochs, seed_list
        )
        settings.update(protocol=PROTOCOL, experiments=by_experiment)
        results = []
        for index, run in enumerate(runs):
            if verbose:
                fold = "" if run.fold is None else f" fold {run.fold}"
                if len(seed_list) > 1:
                    fold += f" seed {run.seed}"
                print(
                    f"[{index + 1}/{len(runs)}] {run.experiment} "
                    f"{run.model}{fold} -> {run.out}"
                )
            results.append(_run_or_reuse(run, data_dir, verbose, plot))
        rows = table_rows(runs, results)
    report = {
        "table": table.name,
        "reproduces": table.reproduces,
        "shrunk": shrunk,
        "settings": settings,
        "machine": reproduce_report.machine(),
        "rows": rows,
    }
    report["files"] = reproduce_report.write(out, report, plot=plot)
    return report


def finished_result(run):
    """The results of `run`'s folder when they are complete and of the
    same settings (epochs, seed, protocol, fold), else `None`.

    Raises:
        RunExistsError: when the folder holds a run of another seed or
            protocol, or of more epochs than asked for (resuming it would
            mix two runs).
    """
    from ttrnn.experiments.checkpointing import RunExistsError
    from ttrnn.experiments.checkpointing import load_state

    path = os.path.join(run.out, RESULTS)
    result = None
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as file:
            result = json.load(file)
        recorded = result.get("config", {})
        theirs = (recorded.get("seed"), recorded.get("protocol"))
        seed = run.seed
        if theirs != (seed, PROTOCOL):
            raise RunExistsError(
                f"{run.out!r} holds a run of seed {theirs[0]}, protocol "
                f"{theirs[1]!r}; this table runs seed {seed}, protocol "
                f"{PROTOCOL!r}. Pass another --out or delete the folder."
            )
    state = load_state(run.out) or {}
    done = int(state.get("epochs_done", 0))
    if done > run.epochs:
        raise RunExistsError(
            f"{run.out!r} holds a run of {done} epochs, more than the "
            f"{run.epochs} asked for. Pass another --out or delete the "
            "folder."
        )
    if result is None or "metrics" not in result:
        return None
    config = RunConfig.from_dict(result["config"])
    complete = result.get("epochs_done", 0) >= run.epochs or result.get(
        "stopped_early"
    )
    same = config.epochs == run.epochs and (
        run.fold is None or config.folds == (run.fold,)
    )
    return result if complete and same else None


def _run_or_reuse(run, data_dir, verbose, plot):
    result = finished_result(run)
    if result is not None:
        if verbose:
            print(f"  finished earlier: {os.path.join(run.out, RESULTS)}")
        return result
    from ttrnn.experiments import resumed_settings
    from ttrnn.experiments import run as run_module

    options = {} if run.fold is None else {"folds": [run.fold]}
    try:
        return run_module.run_experiment(
            run.experiment,
            run.model,
            out=run.out,
            data_dir=data_dir,
            epochs=run.epochs,
            protocol=PROTOCOL,
            resume=True,
            seed=run.seed,
            verbose=verbose,
            plot=plot,
            **options,
        )
    except resumed_settings.ChangedSettingsError as error:
        # `reproduce` has no options to give the run its old settings
        # back: say what does.
        folds = "" if run.fold is None else f" --folds {run.fold}"
        raise TableError(
            f"The unfinished run of {run.experiment} {run.model} in "
            f"{error.folder!r} began with other settings: "
            f"{error.differences}. `ttrnn reproduce` resumes a run only "
            "as it began (a newer ttrnn may have changed a default). "
            f"Remove {run.out!r} to train it again with these settings, "
            f"or finish it with `ttrnn experiment {run.experiment} "
            f"--model {run.model} --protocol {PROTOCOL}{folds} --out "
            f"{run.out} --resume` and the options that error names."
        ) from error


def table_rows(runs, results):
    """One row per (experiment, model): our figures (mean and spread over
    the folds) beside the 2017 ones from the catalog."""
    grouped = {}
    for run, result in zip(runs, results):
        grouped.setdefault((run.experiment, run.model), []).append(
            (run, result)
        )
    rows = []
    for (name, model), pairs in grouped.items():
        experiment = registry.get(name)
        metric = experiment.metric
        found = [result for _, result in pairs]
        keys = dict.fromkeys(k for r in found for k in r["metrics"])
        metrics = {k: _mean([r["metrics"].get(k) for r in found]) for k in keys}
        values = [r["metrics"].get(metric) for r in found]
        paper = experiment.paper.get(model, {})
        weights = found[0]["weights"]
        rows.append(
            {
                "experiment": name,
                "model": model,
                "metric": metric,
                "value": metrics.get(metric),
                "spread": _spread(values),
                "values": values,
                "folds": [run.fold for run, _ in pairs],
                "seeds": [run.seed for run, _ in pairs],
                "metrics": metrics,
                "input_to_hidden": weights["input_to_hidden"],
                "compression": weights["compression"],
                "seconds_per_epoch": _mean(
                    [r["seconds_per_epoch"] for r in found]
                ),
                "epochs_done": [r["epochs_done"] for r in found],
                "paper": dict(paper),
                "paper_value": paper.get(metric),
                "paper_input_to_hidden": paper.get(
                    "input_to_hidden", paper.get("first_layer")
                ),
                "paper_seconds_per_epoch": paper.get("seconds_per_epoch"),
                "out": [run.out for run, _ in pairs],
                # The first run's exact settings (batch size, rates, ...).
                "config": {
                    k: v
                    for k, v in found[0]["config"].items()
                    if k != "topology"
                },
            }
        )
    return rows


def _mean(values):
    values = [v for v in values if v is not None and v == v]
    return statistics.fmean(values) if values else None


def _spread(values):
    """Population standard deviation over several runs, else `None`."""
    values = [v for v in values if v is not None and v == v]
    return statistics.pstdev(values) if len(values) > 1 else None

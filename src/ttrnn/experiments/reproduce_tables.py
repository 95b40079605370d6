"""The tables of `ttrnn reproduce`: what each runs, and its plan.

A `Table` names experiments of the catalog and which of their models make
the table (`TABLES`; `get`, `names`). `plan` turns a table and the
shrinking options (`--models`, `--folds`, `--epochs`) into its runs, one
folder each, `<out>/[<experiment>/]<model>[/fold-<k>]`, and says what
was shrunk. `table1_rows` is Table 1 of the ICML 2017 paper: the TT-RNN
layers built and their input-to-hidden weights counted, beside the
paper's numbers.

Imports no Keras at module level (`ttrnn reproduce --list` stays light).
"""

import dataclasses
import os

from ttrnn.experiments import registry
from ttrnn.experiments.registry import ExperimentError

PROTOCOL = "paper"
FOLDS = 5


class TableError(ExperimentError):
    """An unknown table, or a setting the table does not take."""


@dataclasses.dataclass(frozen=True)
class Table:
    """One table of the papers, reproduced by `ttrnn reproduce NAME`.

    Args:
        name: the name on the command line.
        reproduces: what it reproduces, in one line.
        experiments: the catalog experiments it runs (none for `table1`).
        models: the models it runs, a filter on each experiment's
            `models` (kept in catalog order); `None` for all of them.
        cost: a rough cost, in one line.
    """

    name: str
    reproduces: str
    experiments: tuple = ()
    models: tuple = None
    cost: str = ""


# The four models of each 2017 video script (model_type x use_TT).
_VIDEO_SCRIPT = ("tt-gru", "tt-lstm", "gru", "lstm")
TABLES = (
    Table(
        "table1",
        "ICML 2017 Table 1: input-to-hidden weights of the TT-RNN, vanilla "
        "TT-LSTM, TT-LSTM, vanilla TT-GRU and TT-GRU at ranks 3, 4, 5 "
        "(57,600 = 8x20x20x18 inputs -> 256 = 4x4x4x4 units)",
        cost="instant: builds 15 layers, trains nothing",
    ),
    Table(
        "ucf11",
        "ICML 2017 Table 2: UCF11 accuracy (5-fold CV, every frame), "
        "input-to-hidden weights, seconds an epoch",
        ("ucf11",),
        ("tt-gru", "tt-lstm", "tt-mlp", "gru", "lstm"),
        cost="25 runs of 100 epochs; 2017: 902-8,892 s an epoch on a "
        "4-core Xeon (about 120 CPU-days); use a GPU",
    ),
    Table(
        "fibonacci",
        "the 2017 FiboClass proof of concept (Experiment_FiboClass.py)",
        ("fibonacci",),
        cost="about 1 h on a 2-core CPU (4 runs of 30 epochs)",
    ),
    Table(
        "mnist",
        "Experiment_MNIST.py: TT vs dense first layer (1,248 vs 1,048,576 "
        "weights)",
        ("mnist",),
        cost="about 1 h on a 2-core CPU (2017: 9 and 48 s an epoch)",
    ),
    Table(
        "nips2003",
        "Experiment_NIPS2003.py: TT vs dense on arcene, dexter, dorothea, "
        "gisette, madelon",
        registry.GROUPS["nips2003"],
        cost="about 30 min on a 2-core CPU (dense dorothea: 62.5 M "
        "weights, most of it)",
    ),
    Table(
        "spls",
        "Experiment_GenExpress.py: TT vs dense on the spls sets prostate, "
        "lymphoma, mice, yeast",
        registry.GROUPS["spls"],
        cost="a few minutes on a CPU",
    ),
    Table(
        "reuters",
        "Experiment_ReutersTopic.py: TT vs dense, 46 topics",
        ("reuters",),
        cost="about 20 min on a 2-core CPU (2017: 2-3 and 20-23 s an epoch)",
    ),
    Table(
        "mnist-seq",
        "MNISTSeq.py (2018): TT-LSTM vs LSTM, then LRP relevance a step",
        ("mnist-seq",),
        cost="about 10 min on a 2-core CPU",
    ),
    Table(
        "hollywood2",
        "ICML 2017: Hollywood2 MAP (official split, every frame)",
        ("hollywood2",),
        _VIDEO_SCRIPT,
        cost="4 runs of 100 epochs over 823 clips of every frame; use a GPU",
    ),
    Table(
        "youtube-celebrities",
        "ICML 2017: YouTube Celebrities accuracy (5-fold CV, <= 85 frames)",
        ("youtube-celebrities",),
        _VIDEO_SCRIPT,
        cost="20 runs of 100 epochs; hours on a GPU",
    ),
    Table(
        "hmdb51",
        "ICML 2017: HMDB51 accuracy (fold 1 of the 2017 script's random "
        "5-fold split, every 3rd frame)",
        ("hmdb51",),
        _VIDEO_SCRIPT,
        cost="4 runs of 100 epochs over about 3,600 clips; use a GPU",
    ),
)
_BY_NAME = {table.name: table for table in TABLES}


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of a table: an experiment's model on one split
    (`fold` `None`: the experiment's one split) with one seed, in the
    folder `out`."""

    experiment: str
    model: str
    fold: int
    epochs: int
    out: str
    seed: int = 0


def names():
    """The table names, in order."""
    return tuple(_BY_NAME)


def get(name):
    """The `Table` called `name`.

    Raises:
        TableError: naming the tables, for an unknown name.
    """
    if name not in _BY_NAME:
        raise TableError(
            f"Unknown table. Expected one of {list(_BY_NAME)}. "
            f"Received: name={name!r}"
        )
    return _BY_NAME[name]


def table_models(table, experiment):
    """The models of `experiment` that `table` runs, in catalog order."""
    if table.models is None:
        return tuple(experiment.models)
    return tuple(m for m in experiment.models if m in table.models)


def describe(table):
    """Lines for `ttrnn reproduce --list`: what, runs, cost."""
    lines = [f"{table.name:<21}{table.reproduces}"]
    for name in table.experiments:
        experiment = registry.get(name)
        folds = ""
        if experiment.cross_validated:
            folds = f"{FOLDS} folds, "
            if experiment.folds:
                folds = f"{_fold_list(experiment.folds)} of {FOLDS}, "
        models = ", ".join(table_models(table, experiment))
        lines.append(
            f"{'':<23}{name}: {models} ({folds}{experiment.epochs} epochs)"
        )
    if not table.experiments:
        lines.append(f"{'':<23}builds the layers; no data, no training")
    lines.append(f"{'':<23}cost: {table.cost}")
    return lines


def plan(table, out, models=None, folds=None, epochs=None, seeds=(0,)):
    """The runs of a table and what the options shrink.

    Args:
        table: a `Table` with experiments.
        out: the table's output folder.
        models: the models to run (each of every experiment's), `None`
            for the table's.
        folds: cross-validation folds to run, `None` for all.
        epochs: epochs of every run, `None` for each experiment's.
        seeds: the seeds; each model (and fold) runs once a seed, in a
            folder `seed-<s>` when there are several.

    Returns:
        `(runs, shrunk, settings)`: the `Run`s in order, the list of
        what differs from the paper's settings (e.g. `"epochs 2 of
        30"`), and the settings by experiment.

    Raises:
        TableError: for a model or fold the table does not have.
    """
    experiments = [registry.resolve(n, PROTOCOL)[0] for n in table.experiments]
    if folds is not None and not any(e.cross_validated for e in experiments):
        raise TableError(
            f"Argument `folds`: {table.name} has no cross-validated "
            f"experiment. Received: folds={list(folds)}"
        )
    if folds is not None and any(not 0 <= f < FOLDS for f in folds):
        raise TableError(
            f"Argument `folds` must hold fold numbers from 0 to {FOLDS - 1}. "
            f"Received: folds={list(folds)}"
        )
    runs, shrunk, settings = [], [], {}
    for experiment in experiments:
        default = table_models(table, experiment)
        chosen = default if models is None else tuple(models)
        unknown = [m for m in chosen if m not in experiment.models]
        if unknown:
            raise TableError(
                f"Argument `models` must be models of {experiment.name}: "
                f"{list(experiment.models)}. Received: models={list(chosen)}"
            )
        cv = experiment.cross_validated
        run_folds = (
            list(folds or experiment.folds or range(FOLDS)) if cv else [None]
        )
        run_epochs = int(epochs or experiment.epochs)
        settings[experiment.name] = {
            "models": list(chosen),
            "default_models": list(default),
            "folds": run_folds if cv else None,
            "default_folds": list(experiment.folds or range(FOLDS))
            if cv
            else None,
            "epochs": run_epochs,
            "default_epochs": experiment.epochs,
        }
        for model in chosen:
            for seed in seeds:
                for fold in run_folds:
                    parts = [out]
                    if len(experiments) > 1:
                        parts.append(experiment.name)
                    parts.append(model)
                    if len(seeds) > 1:
                        parts.append(f"seed-{seed}")
                    if fold is not None:
                        parts.append(f"fold-{fold}")
                    path = os.path.join(*parts)
                    runs.append(
                        Run(
                            experiment.name, model, fold, run_epochs, path, seed
                        )
                    )
    shrunk = _shrunk(settings)
    return runs, shrunk, settings


def _shrunk(settings):
    """What the settings change from the paper's, as short phrases."""
    shrunk = []
    epochs = {s["epochs"] for s in settings.values()}
    if any(s["epochs"] != s["default_epochs"] for s in settings.values()):
        by_default = {}
        for name, s in settings.items():
            by_default.setdefault(s["default_epochs"], []).append(name)
        if len(by_default) == 1:
            defaults = str(next(iter(by_default)))
        else:
            defaults = ", ".join(
                f"{d} ({', '.join(n)})" for d, n in by_default.items()
            )
        shrunk.append(f"epochs {min(epochs)} of {defaults}")
    models = [m for s in settings.values() for m in s["models"]]
    paper = [m for s in settings.values() for m in s["default_models"]]
    if models != paper:
        chosen = ", ".join(dict.fromkeys(models))
        shrunk.append(f"models {chosen} of {', '.join(dict.fromkeys(paper))}")
    for s in settings.values():
        if s["folds"] is not None and s["folds"] != s["default_folds"]:
            chosen, paper = s["folds"], s["default_folds"]
            if set(chosen) <= set(paper):  # e.g. "folds 0, 2 of 0-4"
                of = _fold_list(paper).split(" ", 1)[1]
                shrunk.append(f"{_fold_list(chosen)} of {of}")
            else:  # other or more folds than the paper ran
                shrunk.append(
                    f"{_fold_list(chosen)} where the paper ran "
                    f"{_fold_list(paper)}"
                )
            break
    return shrunk


def _fold_list(folds):
    """ "folds 0-4", "folds 0, 2" or "fold 1"."""
    folds = list(folds)
    if folds == list(range(FOLDS)):
        return f"folds 0-{FOLDS - 1}"
    word = "fold" if len(folds) == 1 else "folds"
    return f"{word} {', '.join(map(str, folds))}"


# Table 1 of the ICML 2017 paper: input 57,600 = 8x20x20x18, hidden 256 =
# 4x4x4x4, input-to-hidden weights by rank (the paper's Table 1).
TABLE1_INPUT_SHAPE = (8, 20, 20, 18)
TABLE1_OUTPUT_SHAPE = (4, 4, 4, 4)
TABLE1_MODELS = {
    "tt-rnn": "TT layer (SimpleRNN)",
    "vtt-lstm": "vanilla TT-LSTM",
    "tt-lstm": "TT-LSTM",
    "vtt-gru": "vanilla TT-GRU",
    "tt-gru": "TT-GRU",
}
TABLE1_PAPER = {
    3: (1752, 7008, 2040, 5256, 1944),
    4: (2976, 11904, 3360, 8928, 3232),
    5: (4520, 18080, 5000, 13560, 4840),
}
TABLE1_DENSE = 57600 * 256


def table1_rows():
    """Table 1: builds each TT-RNN at ranks 3, 4, 5 and counts the
    weights of its input-to-hidden TT cores (`info.layer_rows`).

    Returns:
        One dict per (rank, model): `rank`, `model`, `label`, `ours`,
        `paper`, `dense_equivalent`.
    """
    import keras

    from ttrnn.experiments import info

    rows = []
    for rank, paper in TABLE1_PAPER.items():
        for (model, label), expected in zip(TABLE1_MODELS.items(), paper):
            layer = table1_layer(model, rank)
            inputs = keras.Input((None, TABLE1_DENSE // 256))
            built = keras.Model(inputs, layer(inputs))
            counted = next(
                r for r in info.layer_rows(built) if r.get("input_to_hidden")
            )
            rows.append(
                {
                    "rank": rank,
                    "model": model,
                    "label": label,
                    "ours": counted["input_to_hidden"],
                    "paper": expected,
                    "dense_equivalent": counted["dense_equivalent"],
                }
            )
    return rows


def table1_layer(model, rank):
    """The (unbuilt) TT-RNN layer of Table 1 for `model` at `rank`."""
    from ttrnn import TTGRU
    from ttrnn import TTLSTM
    from ttrnn import TTSimpleRNN

    ranks = (1, rank, rank, rank, 1)
    shapes = (TABLE1_INPUT_SHAPE, TABLE1_OUTPUT_SHAPE, ranks)
    if model == "tt-rnn":
        return TTSimpleRNN(*shapes)
    layout = "separate" if model.startswith("vtt-") else "shared"
    cls = TTGRU if model.endswith("gru") else TTLSTM
    return cls(*shapes, tt_gate_layout=layout)

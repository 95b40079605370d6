"""The experiments of the 2017 TT-RNN system, looked up by name.

`get(name)` returns an `Experiment` (see `experiment`), `names()` lists
them, `GROUPS` runs several at once (`nips2003`, `spls`), `resolve(name,
protocol)` applies a protocol. `ALIASES` keeps the older names of the
tuned runs (`madelon-tuned` is `madelon` in the `"tuned"` protocol). The
table itself is `catalog`.
"""

from ttrnn.experiments.catalog import ALL
from ttrnn.experiments.experiment import FEEDFORWARD_MODELS
from ttrnn.experiments.experiment import PROTOCOLS
from ttrnn.experiments.experiment import SEQUENCE_MODELS
from ttrnn.experiments.experiment import TUNED
from ttrnn.experiments.experiment import VIDEO_MODELS
from ttrnn.experiments.experiment import Experiment
from ttrnn.experiments.experiment import ExperimentError

__all__ = [
    "ALIASES",
    "FEEDFORWARD_MODELS",
    "PROTOCOLS",
    "TUNED",
    "SEQUENCE_MODELS",
    "VIDEO_MODELS",
    "EXPERIMENTS",
    "GROUPS",
    "Experiment",
    "ExperimentError",
    "expand",
    "get",
    "names",
    "resolve",
    "run_label",
    "tuned_names",
]

EXPERIMENTS = {e.name: e for e in ALL}
GROUPS = {
    "nips2003": ("arcene", "dexter", "dorothea", "gisette", "madelon"),
    "spls": ("prostate", "lymphoma", "mice", "yeast"),
}
# The tuned variants were experiments of their own: their names still run.
ALIASES = {
    f"{e.name}-{TUNED}": (e.name, TUNED) for e in ALL if TUNED in e.protocols
}


def names():
    """Names of every experiment, in registry order."""
    return tuple(EXPERIMENTS)


def tuned_names():
    """Names of the experiments with a `"tuned"` protocol (the video
    experiments run their tuned settings as `"fast"`)."""
    return tuple(
        name for name, e in EXPERIMENTS.items() if TUNED in e.protocols
    )


def get(name):
    """Returns the `Experiment` called `name`.

    Args:
        name: an experiment name (see `names()`), or an alias (`ALIASES`):
            the experiment in the alias's protocol.

    Returns:
        The `Experiment`.

    Raises:
        ExperimentError: naming the choices for an unknown name.
    """
    if name in ALIASES:
        return resolve(name)[0]
    if name not in EXPERIMENTS:
        raise ExperimentError(
            f"Unknown experiment. Expected one of {sorted(EXPERIMENTS)}, "
            f"a group {sorted(GROUPS)} or an alias {sorted(ALIASES)}. "
            f"Received: name={name!r}"
        )
    return EXPERIMENTS[name]


def resolve(name, protocol=None):
    """The experiment `name` as `protocol` runs it, and the protocol.

    Args:
        name: an experiment name or an alias (`ALIASES`).
        protocol: one of `PROTOCOLS` that the experiment runs, or `None`
            for its default (an alias's own protocol; `"fast"` for video,
            else `"paper"`).

    Returns:
        `(experiment, protocol)`: the `Experiment` with the protocol's
        settings (see `Experiment.with_protocol`) and the protocol name.

    Raises:
        ExperimentError: for an unknown name or protocol, a protocol the
            experiment does not run (the message says which run it), or
            an alias given another protocol than its own.
    """
    if name in ALIASES:
        base, own = ALIASES[name]
        if protocol not in (None, own):
            raise ExperimentError(
                f"Argument `protocol`: {name} is {base} in the {own!r} "
                f"protocol; run `{base}` for another. Received: "
                f"protocol={protocol!r}"
            )
        name, protocol = base, own
    experiment = get(name)
    protocol = experiment.protocols[0] if protocol is None else protocol
    received = f"Received: protocol={protocol!r} for {name}"
    if protocol not in PROTOCOLS:
        raise ExperimentError(
            f"Argument `protocol` must be one of {PROTOCOLS}. {received}"
        )
    if protocol == TUNED and TUNED not in experiment.protocols:
        what = f"{name} has no tuned settings"
        if experiment.kind == "video":
            what = f"{name} runs its tuned settings as 'fast'"
        raise ExperimentError(
            f"Argument `protocol`: {what}; the experiments with a "
            f"'tuned' protocol are {list(tuned_names())}. {received}"
        )
    if protocol not in experiment.protocols:
        raise ExperimentError(
            f"Argument `protocol` must be one of {experiment.protocols} "
            f"for {name} (the {protocol!r} protocol is for video "
            f"experiments: it chooses the frames of the clips). {received}"
        )
    return experiment.with_protocol(protocol), protocol


def run_label(name, protocol=None):
    """The name of a run's results folder and table rows: the experiment's
    name, `<name>-tuned` in the tuned protocol (the alias's name)."""
    experiment, protocol = resolve(name, protocol)
    if protocol == TUNED:
        return f"{experiment.name}-{TUNED}"
    return experiment.name


def expand(name):
    """Returns the experiment names of a name or a group name."""
    if name in GROUPS:
        return GROUPS[name]
    get(name)
    return (name,)

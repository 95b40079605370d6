"""The experiments of the 2017 TT-RNN system, looked up by name.

`get(name)` returns an `Experiment` (see `experiment`), `names()` lists
them, `GROUPS` runs several at once (`nips2003`, `spls`). The table itself
is `catalog`.
"""

from ttrnn.experiments.catalog import ALL
from ttrnn.experiments.experiment import FEEDFORWARD_MODELS
from ttrnn.experiments.experiment import SEQUENCE_MODELS
from ttrnn.experiments.experiment import VIDEO_MODELS
from ttrnn.experiments.experiment import Experiment
from ttrnn.experiments.experiment import ExperimentError

__all__ = [
    "FEEDFORWARD_MODELS",
    "SEQUENCE_MODELS",
    "VIDEO_MODELS",
    "EXPERIMENTS",
    "GROUPS",
    "Experiment",
    "ExperimentError",
    "expand",
    "get",
    "names",
]

EXPERIMENTS = {e.name: e for e in ALL}
GROUPS = {
    "nips2003": ("arcene", "dexter", "dorothea", "gisette", "madelon"),
    "spls": ("prostate", "lymphoma", "mice", "yeast"),
}


def names():
    """Names of every experiment, in registry order."""
    return tuple(EXPERIMENTS)


def get(name):
    """Returns the `Experiment` called `name`.

    Args:
        name: an experiment name (see `names()`).

    Returns:
        The `Experiment`.

    Raises:
        ExperimentError: naming the choices for an unknown name.
    """
    if name not in EXPERIMENTS:
        raise ExperimentError(
            f"Unknown experiment. Expected one of {sorted(EXPERIMENTS)} or "
            f"a group {sorted(GROUPS)}. Received: name={name!r}"
        )
    return EXPERIMENTS[name]


def expand(name):
    """Returns the experiment names of a name or a group name."""
    if name in GROUPS:
        return GROUPS[name]
    get(name)
    return (name,)

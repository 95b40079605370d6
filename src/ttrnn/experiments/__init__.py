"""The experiments of the 2017 TT-RNN system, runnable with one command.

`ttrnn experiment NAME` (see `ttrnn.cli`) calls `run_experiment`; the
registry (`registry.get`, `registry.names`) holds each experiment's
defaults from the ICML 2017 paper and the 2017 scripts, and `RunConfig`
a run's settings, filled in from them. Every epoch is checkpointed, so
`resume=True` continues a killed run.
"""

from ttrnn.experiments.registry import EXPERIMENTS
from ttrnn.experiments.registry import GROUPS
from ttrnn.experiments.registry import Experiment
from ttrnn.experiments.run_config import RunConfig


def __getattr__(name):
    # `run` imports Keras; the registry (`ttrnn list`) does not.
    if name in ("run_experiment", "run_many"):
        from ttrnn.experiments import run

        return getattr(run, name)
    raise AttributeError(
        f"module 'ttrnn.experiments' has no attribute {name!r}"
    )


__all__ = [
    "EXPERIMENTS",
    "GROUPS",
    "Experiment",
    "RunConfig",
    "run_experiment",
    "run_many",
]

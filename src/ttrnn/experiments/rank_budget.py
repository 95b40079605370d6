"""Rank-adaptive experiment runs (`--rank-budget P`, `--compression X`):
the `RankAdaptation` callback of each split, its schedule for
results.json, and the checks of a resumed run against the plan it began
with (its state.json)."""

from ttrnn.experiments import checkpointing
from ttrnn.experiments.registry import ExperimentError


def rank_callbacks(config, found, run_dir, label=None):
    """[RankAdaptation] for a run with a rank budget (`--rank-budget`,
    `--compression`), else []. Its schedule goes to `found`, whence to
    results.json: truncations after epochs 1 .. min(3, epochs - 1).
    `found["rank_schedule"]` is the schedule of the split fitted last,
    `found["rank_schedules"][label]` that of the split `label` (e.g.
    "fold-0"): each fold of a video run adapts its own ranks.

    A resumed run keeps the plan it began with (in its state.json), so
    its truncations come after the same epochs, whatever `--epochs` says
    now, and the schedule lists those of the earlier sessions too.

    Raises:
        ExperimentError: resuming with `--epochs` that end before the
            plan's last truncation (the budget would not be met), or with
            another rank budget than the run began with.
    """
    from ttrnn.callbacks import RankAdaptation

    saved = checkpointing.load_state(run_dir) if config.resume else None
    if saved:
        _check_budget(config, saved, run_dir, RankAdaptation.checkpoint_key)
    if not config.rank_budget:
        return []
    stages = max(1, min(3, config.epochs - 1))
    adapt = RankAdaptation(
        **config.rank_budget, warmup=1, every=1, stages=stages
    )
    if saved and adapt.checkpoint_key in saved:
        adapt.set_state(saved[adapt.checkpoint_key])
        if config.epochs < adapt.end:
            raise ExperimentError(
                f"--epochs {config.epochs} ends before the rank schedule "
                f"of the run being resumed in {run_dir!r}: it truncates "
                f"after epochs {adapt.warmup} to {adapt.end} (planned when "
                "it began; a resumed run keeps its plan). Pass --epochs "
                f"{adapt.end} or more, or --overwrite to start again."
            )
    found["rank_schedule"] = adapt.schedule  # filled during fit
    found.setdefault("rank_schedules", {})[label] = adapt.schedule
    return [adapt]


def _check_budget(config, saved, run_dir, key):
    """Refuses to resume a run with another rank budget than it began
    with (its state.json records the budget since ttrnn 0.1; states that
    do not are not checked)."""
    began = saved[key].get("budget") if key in saved else {}
    now = dict(config.rank_budget or {})
    if began is None or began == now:
        return
    raise ExperimentError(
        f"{_budget_words(now).capitalize()} differs from the run being "
        f"resumed in {run_dir!r}, which began with {_budget_words(began)} "
        "(a resumed run keeps its plan). Pass "
        f"{_budget_words(began, 'neither --rank-budget nor --compression')}"
        ", or --overwrite to start again."
    )


def _budget_words(budget, none="no rank budget"):
    """A `rank_budget` as the command line gives it."""
    if "target_params" in budget:
        return f"--rank-budget {budget['target_params']}"
    if "target_compression" in budget:
        return f"--compression {budget['target_compression']:g}"
    if "eps" in budget:
        return f"eps {budget['eps']:g}"
    return none

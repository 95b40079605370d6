"""A resumed run keeps the settings it began with.

Every checkpoint's state.json records the settings that decide what is
trained (`SettingsRecord`): the model, its ranks, the batches and their
length buckets, the learning rate, dropout, the seed. `check` compares
them with a resumed run's before any data is read, so that neither a
changed option nor a changed default of a newer ttrnn (e.g. the number
of length buckets) makes a resumed run silently train another way than
the run it continues. Settings that may change on resume are left out:
`--epochs` (to train longer), the folds (each has its own folder), the
data and cache folders, the backend and the devices, and the rank
budget (checked with its plan, `rank_budget`).
"""

import json

import keras

from ttrnn.experiments import checkpointing
from ttrnn.experiments import rundir
from ttrnn.experiments.registry import ExperimentError

# What a resumed run must keep (fields of `RunConfig`).
KEPT = (
    "experiment",
    "model",
    "protocol",
    "dataset",
    "batch_size",
    "learning_rate",
    "tt_ranks",
    "dropout",
    "recurrent_dropout",
    "seed",
    "frame_shape",
    "num_frames",
    "tt_input_shape",
    "buckets",
    "max_batch_frames",
    "input_precision",
)
# Command-line options whose names are not the setting's.
_OPTION = {"num_frames": "--frames"}
# Settings that have no option of `ttrnn experiment` (the first words).
_POSITIONAL = ("experiment",)


def settings_of(config):
    """The settings of a `RunConfig` a resumed run must keep, as
    state.json records them (JSON values)."""
    recorded = config.to_dict()
    return {name: json.loads(json.dumps(recorded.get(name))) for name in KEPT}


class SettingsRecord(keras.callbacks.Callback):
    """Records a run's `settings_of` in each checkpoint's state.json
    (`checkpointing.fit_with_checkpoints` saves the state of callbacks
    that have a `checkpoint_key`).

    Args:
        settings: the run's settings (`settings_of(config)`).
    """

    checkpoint_key = "settings"

    def __init__(self, settings):
        super().__init__()
        self.settings = dict(settings)

    def get_state(self):
        return dict(self.settings)

    def set_state(self, state):
        """A resumed run's settings were checked before it began
        (`check`); they stay the current run's."""
        del state


class ChangedSettingsError(ExperimentError):
    """A resumed run's settings differ from those it began with.

    Attributes:
        folder: the run's folder (its state.json).
        differences: "name now (it began with value)" for each setting.
    """

    def __init__(self, message, folder, differences):
        super().__init__(message)
        self.folder = folder
        self.differences = differences


def check(config):
    """Refuses to resume a run with other settings than it began with.

    Looks at the state.json of `config.out` and of its folds' folders;
    states written before ttrnn recorded the settings are not checked.

    Raises:
        ChangedSettingsError: naming each setting that differs, what the
            run began with, and the options that resume it as it began.
    """
    now = settings_of(config)
    for folder in rundir.run_folders(config.out):
        state = checkpointing.load_state(folder)
        began = (state or {}).get(SettingsRecord.checkpoint_key)
        if not began:
            continue
        changed = [
            name
            for name in KEPT
            if name in began and not _same(name, began[name], now[name])
        ]
        if changed:
            differences = _differences(changed, began, now)
            raise ChangedSettingsError(
                _message(folder, changed, began, differences),
                folder,
                differences,
            )


def _same(name, began, now):
    """Whether two recorded values of the setting `name` train alike: one
    rank r stands for ranks 1, r, ..., r, 1."""
    if name == "tt_ranks" and isinstance(now, int) != isinstance(began, int):
        listed, single = (began, now) if isinstance(now, int) else (now, began)
        return listed == [1] + [single] * (len(listed) - 2) + [1]
    return began == now


def _differences(changed, began, now):
    return ", ".join(
        f"{name} {_shown(now[name])} (it began with {_shown(began[name])})"
        for name in changed
    )


def _message(folder, changed, began, differences):
    options = [n for n in changed if n not in _POSITIONAL]
    restoring = [_restoring(n, began[n]) for n in options]
    to_pass = [text for verb, text in restoring if verb == "pass"]
    to_drop = [text for verb, text in restoring if verb == "drop"]
    fix = " and ".join(
        part
        for part in (
            "pass " + " ".join(to_pass) if to_pass else "",
            "drop " + " ".join(to_drop) if to_drop else "",
        )
        if part
    )
    fix = (
        fix[0].upper() + fix[1:] + ", or"
        if fix
        else "Resume it as it began, or"
    )
    return (
        f"The run being resumed in {folder!r} began with other settings: "
        f"{differences}. A resumed run keeps the settings it began with "
        f"(a newer ttrnn may have changed a default). {fix} pass "
        "--overwrite to start again."
    )


def _restoring(name, value):
    """("pass", "--option value") or ("drop", "--option"): what brings
    the setting `name` back to `value` on the command line."""
    option = _OPTION.get(name, "--" + name.replace("_", "-"))
    if value is None and name == "max_batch_frames":
        return "pass", f"{option} 0"  # no limit
    if value is None:  # the experiment's default
        return "drop", option
    return "pass", f"{option} {_shown(value)}"


def _shown(value):
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "none" if value is None else str(value)

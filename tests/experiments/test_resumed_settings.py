"""A resumed run keeps the settings it began with (state.json records
them; `ttrnn experiment --resume` refuses others, naming them)."""

import json

import pytest

from tests.formats import write_spls_like
from tests.helpers import SimulatedInterrupt
from tests.helpers import interrupted_after_epoch
from tests.helpers import write_tiny_ucf11
from ttrnn import cli
from ttrnn.experiments import checkpointing
from ttrnn.experiments import run_config


def _interrupted(args):
    """Runs `ttrnn ARGS`, killed after epoch 1's checkpoint."""
    with interrupted_after_epoch(1), pytest.raises(SimulatedInterrupt):
        cli.main(args)


@pytest.fixture
def mice_run(tmp_path):
    """`ttrnn experiment mice` on generated data, killed after epoch 1 of
    2; its arguments and folder."""
    write_spls_like(
        tmp_path / "spls", "mice", {"train": 20, "valid": 6}, 145, 83
    )
    out = tmp_path / "run"
    args = ["experiment", "mice", "--data-dir", str(tmp_path), "--out"]
    args += [str(out), "--no-plots", "--epochs", "2", "--verbose", "0"]
    _interrupted([*args, "--batch-size", "4"])
    return args, out


def test_the_checkpoint_records_the_settings(mice_run):
    _, out = mice_run
    settings = json.loads((out / checkpointing.STATE).read_text())["settings"]
    assert settings["experiment"] == "mice"
    assert settings["batch_size"] == 4
    assert settings["seed"] == 0
    assert settings["tt_ranks"] == [1, 10, 10, 1]  # resolved
    assert "epochs" not in settings  # may grow on resume


def test_resume_with_other_settings_is_refused(mice_run, capsys):
    args, out = mice_run
    state = (out / checkpointing.STATE).read_text()
    given = ["--batch-size", "8", "--learning-rate", "0.01"]
    given += ["--tt-ranks", "3", "--seed", "1"]
    assert cli.main([*args, "--resume", *given]) == 2
    began = json.loads(state)["settings"]
    assert capsys.readouterr().err == (
        "ttrnn experiment: error: The run being resumed in "
        f"{str(out)!r} began with other settings: batch_size 8 (it began "
        f"with 4), learning_rate 0.01 (it began with "
        f"{began['learning_rate']}), tt_ranks 3 (it began with "
        "1,10,10,1), seed 1 (it began with 0). A resumed run keeps the "
        "settings it began with (a newer ttrnn may have changed a "
        "default). Pass --batch-size 4 --learning-rate "
        f"{began['learning_rate']} --tt-ranks 1,10,10,1 --seed 0, or pass "
        "--overwrite to start again.\n"
    )
    assert (out / checkpointing.STATE).read_text() == state  # untouched
    # As it began (one rank stands for them all): resumed, and longer.
    given = ["--batch-size", "4", "--epochs", "3", "--tt-ranks", "10"]
    assert cli.main([*args, "--resume", *given]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["epochs_done"] == 3 and result["resumed_from"] == [1]


def test_a_checkpoint_without_settings_resumes_unchecked(mice_run):
    """States of an earlier ttrnn recorded no settings: nothing to check
    them against."""
    args, out = mice_run
    path = out / checkpointing.STATE
    state = json.loads(path.read_text())
    del state["settings"]
    path.write_text(json.dumps(state))
    assert cli.main([*args, "--resume", "--batch-size", "4"]) == 0
    assert json.loads((out / "results.json").read_text())["epochs_done"] == 2


def test_a_changed_bucket_default_is_named(tmp_path, av, capsys):
    """A video run of the paper protocol begun with another number of
    length buckets than today's default (as with an earlier ttrnn) is not
    resumed with the new one."""
    del av
    write_tiny_ucf11(tmp_path / "ucf11")
    out = tmp_path / "run"
    args = ["experiment", "ucf11", "--protocol", "paper", "--model", "tt-gru"]
    args += ["--data-dir", str(tmp_path / "ucf11"), "--out", str(out)]
    args += ["--folds", "0", "--epochs", "2", "--verbose", "0", "--no-plots"]
    args += ["--cache-dir", str(tmp_path / "cache")]
    _interrupted([*args, "--buckets", "2"])
    now = run_config.default_buckets()
    assert now != 2
    assert cli.main([*args, "--resume"]) == 2
    assert capsys.readouterr().err == (
        "ttrnn experiment: error: The run being resumed in "
        f"{str(out)!r} began with other settings: buckets "
        f"{now} (it began with 2). A resumed run keeps the settings it "
        "began with (a newer ttrnn may have changed a default). Pass "
        "--buckets 2, or pass --overwrite to start again.\n"
    )
    assert cli.main([*args, "--resume", "--buckets", "2"]) == 0

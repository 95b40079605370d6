"""`ttrnn experiment NAME --rank-budget P`: rank-adaptive runs."""

import json

import keras
import numpy as np
import pytest

from tests.formats import write_spls_like
from ttrnn import cli
from ttrnn import rank_adaptation
from ttrnn.experiments import checkpointing
from ttrnn.experiments import run

FIBONACCI = dict(epochs=3, rank_budget={"target_params": 1000}, verbose=0)
FIBONACCI.update(plot=False, compare_paper=False)


class _Killed(Exception):
    """Stands for a kill right after a checkpoint."""


def _live_ranks(run_dir):
    model = keras.saving.load_model(run_dir / checkpointing.CHECKPOINT)
    layers = rank_adaptation.tt_layers(model)
    return {layer.name: rank_adaptation.layer_ranks(layer) for layer in layers}


def _killed_after(monkeypatch, epochs_done):
    """Makes runs stop (raise `_Killed`) once the checkpoint of epoch
    `epochs_done` is written."""
    save = checkpointing.EpochCheckpoint.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        save(self, epoch, logs)
        if epoch + 1 == epochs_done:
            raise _Killed

    monkeypatch.setattr(
        checkpointing.EpochCheckpoint, "on_epoch_end", on_epoch_end
    )


def _killed_mice_run(tmp_path, monkeypatch, options, killed):
    """`ttrnn experiment mice OPTIONS KILLED` on generated data, killed
    after epoch 1; returns the command's arguments (without KILLED) and
    its folder."""
    write_spls_like(
        tmp_path / "spls", "mice", {"train": 20, "valid": 6}, 145, 83
    )
    out = tmp_path / "run"
    args = ["experiment", "mice", "--data-dir", str(tmp_path), "--out"]
    args += [str(out), "--no-plots", *options]
    with monkeypatch.context() as patch:
        _killed_after(patch, 1)
        with pytest.raises(_Killed):
            cli.main([*args, *killed])
    return args, out


def test_rank_budget_run_records_the_schedule(tmp_path, capsys):
    write_spls_like(
        tmp_path / "spls", "mice", {"train": 20, "valid": 6}, 145, 83
    )
    out = tmp_path / "run"
    args = ["experiment", "mice", "--data-dir", str(tmp_path), "--out"]
    args += [str(out), "--epochs", "3", "--no-plots", "--rank-budget", "400"]
    assert cli.main(args) == 0
    result = json.loads((out / "results.json").read_text())
    schedule = result["rank_schedule"]
    assert [s["epoch"] for s in schedule] == [1, 2]
    assert schedule[-1]["target_params"] == 400
    assert schedule[-1]["params"] <= 400
    assert result["config"]["rank_budget"] == {"target_params": 400}
    assert "rank_schedules" not in result  # one split: no folds to list
    # The weights are counted at the adapted ranks, not the variables'.
    row = result["weights"]["layers"][0]
    assert row["tt_ranks"] == schedule[-1]["ranks"][row["layer"]]
    r, modes = (
        row["tt_ranks"],
        zip(row["tt_input_shape"], row["tt_output_shape"]),
    )
    live = sum(r[k] * m * n * r[k + 1] for k, (m, n) in enumerate(modes))
    assert result["weights"]["input_to_hidden"] == live
    model = keras.saving.load_model(out / checkpointing.CHECKPOINT)
    assert live < rank_adaptation.tt_params(model, effective=False)
    assert f"input-to-hidden {live:,} weights at adapted ranks (" in (
        capsys.readouterr().out
    )
    # --resume goes on from the checkpoint with the adapted ranks.
    args[args.index("3")] = "4"
    assert cli.main([*args, "--resume"]) == 0
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["epochs_done"] == 4
    # The truncations of the first session, kept in its state.json.
    assert resumed["rank_schedule"] == schedule


def test_resumed_run_truncates_as_the_uninterrupted_run(tmp_path, monkeypatch):
    """A TT-GRU killed after epoch 1 of 3 (truncations after epochs 1 and
    2) and resumed: the same schedule, all of it in results.json, and the
    same final ranks and losses as the run without a break."""
    whole = run.run_experiment(
        "fibonacci", out=str(tmp_path / "a"), **FIBONACCI
    )
    assert [s["epoch"] for s in whole["rank_schedule"]] == [1, 2]
    assert whole["rank_schedule"][-1]["params"] <= 1000
    with monkeypatch.context() as patch:
        _killed_after(patch, 1)
        with pytest.raises(_Killed):
            run.run_experiment(
                "fibonacci", out=str(tmp_path / "b"), **FIBONACCI
            )
    state = json.loads((tmp_path / "b" / checkpointing.STATE).read_text())
    assert [s["epoch"] for s in state["rank_adaptation"]["schedule"]] == [1]
    resumed = run.run_experiment(
        "fibonacci", out=str(tmp_path / "b"), resume=True, **FIBONACCI
    )
    assert resumed["resumed_from"] == [1]
    uninterrupted = json.loads((tmp_path / "a" / "results.json").read_text())
    written = json.loads((tmp_path / "b" / "results.json").read_text())
    assert written["rank_schedule"] == uninterrupted["rank_schedule"]
    ranks = _live_ranks(tmp_path / "b")
    assert ranks == _live_ranks(tmp_path / "a")
    last = uninterrupted["rank_schedule"][-1]["ranks"]
    assert {k: list(v) for k, v in ranks.items()} == last
    np.testing.assert_allclose(
        written["history"]["tt-gru"]["loss"],
        uninterrupted["history"]["tt-gru"]["loss"],
        rtol=1e-5,
    )


def test_resume_keeps_the_plan_whatever_epochs_says(
    tmp_path, monkeypatch, capsys
):
    """Begun with 3 epochs (truncations after 1 and 2), killed after
    epoch 1: --epochs 5 on resume keeps those two truncations (a fresh
    5-epoch plan would truncate after 1, 2 and 3); --epochs 1, before the
    last one, is refused."""
    args, out = _killed_mice_run(
        tmp_path, monkeypatch, ["--rank-budget", "400"], ["--epochs", "3"]
    )
    first = json.loads((out / checkpointing.STATE).read_text())
    first = first["rank_adaptation"]["schedule"]
    assert cli.main([*args, "--resume", "--epochs", "1"]) == 2
    assert (
        "error: --epochs 1 ends before the rank schedule of the run being "
        "resumed"
    ) in capsys.readouterr().err
    assert cli.main([*args, "--resume", "--epochs", "5"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["epochs_done"] == 5
    assert [s["epoch"] for s in result["rank_schedule"]] == [1, 2]
    assert result["rank_schedule"][0] == first[0]
    assert result["rank_schedule"][-1]["params"] <= 400


def test_compression_and_budget_exclude_each_other(capsys):
    args = ["experiment", "mice", "--rank-budget", "400"]
    with pytest.raises(SystemExit, match="2"):
        cli.main([*args, "--compression", "10"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_video_run_keeps_every_folds_schedule(tmp_path, av):
    """A two-fold video run adapts the ranks of each fold's model on its
    own: results.json keeps each fold's schedule under `rank_schedules`
    (as each fold's state.json has it) and, as before, the last fold's
    under `rank_schedule`."""
    from tests.helpers import write_tiny_ucf11

    data_dir = tmp_path / "ucf11"
    write_tiny_ucf11(data_dir)
    out = tmp_path / "run"
    argv = ["experiment", "ucf11", "--data-dir", str(data_dir)]
    argv += ["--out", str(out), "--epochs", "2", "--frame-shape", "16x24"]
    argv += ["--folds", "0,1", "--batch-size", "4", "--frames", "3"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--rank-budget", "500"]
    assert cli.main([*argv, "--verbose", "0", "--no-plots"]) == 0
    result = json.loads((out / "results.json").read_text())
    schedules = result["rank_schedules"]
    assert list(schedules) == ["fold-0", "fold-1"]
    saved = [
        json.loads(path.read_text())["rank_adaptation"]["schedule"]
        for path in sorted(out.rglob(checkpointing.STATE))
    ]
    assert len(saved) == 2
    assert [schedules["fold-0"], schedules["fold-1"]] == saved
    for schedule in saved:
        assert [s["epoch"] for s in schedule] == [1]
        assert schedule[-1]["params"] <= 500
    assert result["rank_schedule"] == schedules["fold-1"]
    assert "rank_schedules" not in result["config"]


def test_resume_with_another_budget_is_refused(tmp_path, monkeypatch, capsys):
    """The rank budget is part of the plan a run began with: resuming it
    with another one (or none) is a usage error naming both; the same
    budget resumes."""
    args, out = _killed_mice_run(
        tmp_path, monkeypatch, ["--epochs", "3"], ["--rank-budget", "400"]
    )
    state = json.loads((out / checkpointing.STATE).read_text())
    assert state["rank_adaptation"]["budget"] == {"target_params": 400}
    where = repr(str(out))
    for given, said, fix in [
        (["--rank-budget", "300"], "--rank-budget 300", "--rank-budget 400"),
        (["--compression", "10"], "--compression 10", "--rank-budget 400"),
        ([], "no rank budget", "--rank-budget 400"),
    ]:
        assert cli.main([*args, "--resume", *given]) == 2
        assert capsys.readouterr().err == (
            f"ttrnn experiment: error: {said[0].upper() + said[1:]} differs "
            f"from the run being resumed in {where}, which began with "
            f"--rank-budget 400 (a resumed run keeps its plan). Pass {fix}, "
            "or --overwrite to start again.\n"
        )
    assert json.loads((out / checkpointing.STATE).read_text()) == state
    assert cli.main([*args, "--resume", "--rank-budget", "400"]) == 0
    assert json.loads((out / "results.json").read_text())["epochs_done"] == 3


def test_resume_with_a_budget_of_a_run_without_one_is_refused(
    tmp_path, monkeypatch, capsys
):
    args, out = _killed_mice_run(tmp_path, monkeypatch, ["--epochs", "2"], [])
    assert cli.main([*args, "--resume", "--compression", "8"]) == 2
    assert capsys.readouterr().err == (
        "ttrnn experiment: error: --compression 8 differs from the run "
        f"being resumed in {str(out)!r}, which began with no rank budget "
        "(a resumed run keeps its plan). Pass neither --rank-budget nor "
        "--compression, or --overwrite to start again.\n"
    )
    assert cli.main([*args, "--resume"]) == 0

"""`ttrnn experiment NAME --rank-budget P`: rank-adaptive runs."""

import json

import pytest

from tests.formats import write_spls_like
from ttrnn import cli


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
    # --resume goes on from the checkpoint with the adapted ranks.
    args[args.index("3")] = "4"
    assert cli.main([*args, "--resume"]) == 0
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["epochs_done"] == 4
    assert resumed["rank_schedule"] == []  # no stage left after epoch 2


def test_compression_and_budget_exclude_each_other(capsys):
    args = ["experiment", "mice", "--rank-budget", "400"]
    with pytest.raises(SystemExit, match="2"):
        cli.main([*args, "--compression", "10"])
    assert "not allowed with argument" in capsys.readouterr().err

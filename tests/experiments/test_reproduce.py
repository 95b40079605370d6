"""`ttrnn reproduce`: Table 1 counted, plans, reuse and resume of runs.

The runs train fibonacci on a few sequences (`fewer_rows`); the CLI
side (the files, the second call, errors) is in tests/test_cli.py.
"""

import dataclasses
import json
import math
import sys

import pytest

from tests.helpers import SimulatedInterrupt
from tests.helpers import fewer_rows
from tests.helpers import interrupted_after_epoch
from ttrnn.experiments import checkpointing
from ttrnn.experiments import registry
from ttrnn.experiments import reproduce_tables
from ttrnn.experiments.reproduce import reproduce
from ttrnn.experiments.reproduce_tables import TableError

# Table 1 of the ICML 2017 paper (input-to-hidden weights), copied here
# from the paper: rank -> (TT layer, vanilla TT-LSTM, TT-LSTM, vanilla
# TT-GRU, TT-GRU).
PAPER_TABLE1 = {
    3: (1752, 7008, 2040, 5256, 1944),
    4: (2976, 11904, 3360, 8928, 3232),
    5: (4520, 18080, 5000, 13560, 4840),
}
# (model, gates, one TT-matrix for all gates?)
TABLE1_LAYOUT = (
    ("tt-rnn", 1, True),
    ("vtt-lstm", 4, False),
    ("tt-lstm", 4, True),
    ("vtt-gru", 3, False),
    ("tt-gru", 3, True),
)


def tt_weights(in_modes, out_modes, ranks):
    """Sum over k of r_k m_k n_k r_{k+1}."""
    return sum(
        ranks[k] * m * n * ranks[k + 1]
        for k, (m, n) in enumerate(zip(in_modes, out_modes))
    )


def table1_formula(gates, shared, rank):
    """The weights of a Table 1 layer: the gate factor on the first
    output mode (one TT-matrix), or one TT-matrix a gate (vanilla)."""
    in_modes, ranks = (8, 20, 20, 18), (1, rank, rank, rank, 1)
    if shared:
        return tt_weights(in_modes, (4 * gates, 4, 4, 4), ranks)
    return gates * tt_weights(in_modes, (4, 4, 4, 4), ranks)


def test_table1_counts_match_the_formula_and_the_paper():
    rows = reproduce_tables.table1_rows()
    got = {(r["rank"], r["model"]): r for r in rows}
    assert len(rows) == 15
    for rank, paper in PAPER_TABLE1.items():
        for (model, gates, shared), expected in zip(TABLE1_LAYOUT, paper):
            row = got[(rank, model)]
            assert row["ours"] == table1_formula(gates, shared, rank)
            assert row["ours"] == expected == row["paper"]
            assert row["dense_equivalent"] == 57600 * 256 * gates


@pytest.fixture
def tiny_fibonacci():
    """fibonacci on 48 training and 16 test sequences (seconds a run)."""
    with fewer_rows(48, 16):
        yield


def _json(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def _killed_after_one_epoch(tmp_path):
    """fibonacci's TT-GRU run of 2 epochs, killed after the first: the
    options of `reproduce` and the run's folder."""
    options = dict(
        models=["tt-gru"], epochs=2, out=tmp_path, verbose=0, plot=False
    )
    with interrupted_after_epoch(1):
        with pytest.raises(SimulatedInterrupt):
            reproduce("fibonacci", **options)
    return options, tmp_path / "tt-gru"


def test_killed_run_resumes_and_finished_runs_are_reused(
    tmp_path, tiny_fibonacci
):
    options, run_dir = _killed_after_one_epoch(tmp_path)
    assert checkpointing.load_state(run_dir)["epochs_done"] == 1
    assert not (run_dir / "results.json").exists()
    report = reproduce("fibonacci", **options)
    result = _json(run_dir / "results.json")
    assert result["epochs_done"] == 2 and result["resumed_from"] == [1]
    assert [r["model"] for r in report["rows"]] == ["tt-gru"]
    assert report["rows"][0]["epochs_done"] == [2]
    # Finished: a third call trains nothing and rewrites no results.
    stamp = (run_dir / "results.json").stat().st_mtime_ns
    again = reproduce("fibonacci", **options)
    assert (run_dir / "results.json").stat().st_mtime_ns == stamp
    assert again["rows"][0]["value"] == report["rows"][0]["value"]
    # More epochs continue the finished run; another seed is refused.
    more = reproduce("fibonacci", **{**options, "epochs": 3})
    assert more["rows"][0]["epochs_done"] == [3]
    assert _json(run_dir / "results.json")["resumed_from"] == [1, 2]
    with pytest.raises(checkpointing.RunExistsError, match="seed 0"):
        reproduce("fibonacci", **options, seed=1)
    with pytest.raises(
        checkpointing.RunExistsError, match="3 epochs, more than"
    ):
        reproduce("fibonacci", **options)


def test_killed_run_begun_with_other_settings_names_what_to_do(
    tmp_path, tiny_fibonacci
):
    """A run killed under an older ttrnn whose default differed (its
    state.json records another batch size): reproduce has no option to
    restore it, so its error says what does, not `--batch-size`."""
    options, run_dir = _killed_after_one_epoch(tmp_path)
    state_file = run_dir / checkpointing.STATE
    state = _json(state_file)
    began = state["settings"]["batch_size"]
    state["settings"]["batch_size"] = began + 3
    state_file.write_text(json.dumps(state))
    with pytest.raises(TableError) as raised:
        reproduce("fibonacci", **options)
    message = str(raised.value)
    assert message.startswith(
        f"The unfinished run of fibonacci tt-gru in {str(run_dir)!r} began "
        f"with other settings: batch_size {began} (it began with "
        f"{began + 3}). `ttrnn reproduce` resumes a run only as it began"
    )
    assert f"Remove {str(run_dir)!r}" in message
    assert (
        "`ttrnn experiment fibonacci --model tt-gru --protocol paper "
        f"--out {run_dir} --resume`"
    ) in message
    assert "--batch-size" not in message
    # Nothing was trained or overwritten.
    assert _json(state_file)["epochs_done"] == 1
    assert not (run_dir / "results.json").exists()


def test_plan_of_a_cross_validated_table_shrunk(tmp_path):
    table = reproduce_tables.get("ucf11")
    runs, shrunk, settings = reproduce_tables.plan(
        table, str(tmp_path), models=["tt-gru", "gru"], folds=[0, 2], epochs=3
    )
    assert [(r.model, r.fold) for r in runs] == [
        ("tt-gru", 0),
        ("tt-gru", 2),
        ("gru", 0),
        ("gru", 2),
    ]
    assert runs[1].out == str(tmp_path / "tt-gru" / "fold-2")
    assert {r.epochs for r in runs} == {3}
    assert shrunk == [
        f"epochs 3 of {registry.get('ucf11').epochs}",
        "models tt-gru, gru of tt-gru, tt-lstm, tt-mlp, gru, lstm",
        "folds 0, 2 of 0-4",
    ]
    assert settings["ucf11"]["folds"] == [0, 2]
    # Unshrunk: Table 2's five models (catalog order), 5 folds each.
    runs, shrunk, _ = reproduce_tables.plan(table, str(tmp_path))
    assert shrunk == [] and len(runs) == 25
    ucf11 = registry.get("ucf11")
    assert list(dict.fromkeys(r.model for r in runs)) == [
        m for m in ucf11.models if m in ucf11.paper
    ]


@pytest.mark.parametrize(
    "name, folds, expected",
    [
        ("hmdb51", [0, 1, 2, 3, 4], "folds 0-4 where the paper ran fold 1"),
        ("hmdb51", [0, 2], "folds 0, 2 where the paper ran fold 1"),
        ("hmdb51", [3], "fold 3 where the paper ran fold 1"),
        ("ucf11", [3], "fold 3 of 0-4"),
        ("ucf11", [0, 2], "folds 0, 2 of 0-4"),
    ],
)
def test_plan_says_which_folds_run(name, folds, expected):
    table = reproduce_tables.get(name)
    runs, shrunk, _ = reproduce_tables.plan(table, "out", folds=folds)
    assert shrunk == [expected]
    assert sorted({r.fold for r in runs}) == folds
    # The paper's own folds change nothing.
    paper = registry.resolve(name, "paper")[0].folds or range(5)
    assert reproduce_tables.plan(table, "out", folds=list(paper))[1] == []


def test_plan_of_a_group_table(tmp_path):
    table = reproduce_tables.get("nips2003")
    runs, shrunk, _ = reproduce_tables.plan(table, str(tmp_path), epochs=2)
    names = registry.GROUPS["nips2003"]
    assert [(r.experiment, r.model) for r in runs] == [
        (n, m) for n in names for m in ("tt", "dense")
    ]
    assert runs[0].out == str(tmp_path / "arcene" / "tt")
    assert runs[0].fold is None
    assert shrunk[0].startswith("epochs 2 of 200 (arcene, gisette), 400")


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("nope", {}, r"Unknown table. Expected one of \['table1'"),
        ("fibonacci", {"folds": [0]}, "fibonacci has no cross-validated"),
        ("fibonacci", {"models": ["dense"]}, "must be models of fibonacci"),
        ("table1", {"epochs": 2}, "table1 trains nothing"),
    ],
)
def test_errors(tmp_path, name, options, match):
    with pytest.raises(TableError, match=match):
        reproduce(name, out=tmp_path, verbose=0, **options)


def test_every_table_plans():
    for name in reproduce_tables.names():
        table = reproduce_tables.get(name)
        lines = reproduce_tables.describe(table)
        assert lines[0].startswith(name) and "cost: " in lines[-1]
        if table.experiments:
            runs, shrunk, _ = reproduce_tables.plan(table, "out")
            assert runs and shrunk == []
            folds = {r.fold for r in runs}
            first = registry.resolve(table.experiments[0], "paper")[0]
            every = set(first.folds or range(5))
            assert folds == (every if first.cross_validated else {None})


def test_rows_aggregate_folds(tmp_path):
    """Two folds' results: mean and population spread of the metric."""
    from ttrnn.experiments.reproduce import table_rows

    runs = reproduce_tables.plan(
        reproduce_tables.get("ucf11"),
        str(tmp_path),
        models=["tt-gru"],
        folds=[0, 1],
    )[0]
    results = [
        {
            "metrics": {"accuracy": value},
            "weights": {"input_to_hidden": 3232, "compression": 4.0},
            "seconds_per_epoch": seconds,
            "epochs_done": 100,
            "config": {"topology": {}, "batch_size": 16},
        }
        for value, seconds in ((0.7, 2.0), (0.9, 4.0))
    ]
    (row,) = table_rows(runs, results)
    assert row["value"] == pytest.approx(0.8)
    assert row["spread"] == pytest.approx(0.1)
    assert row["seconds_per_epoch"] == pytest.approx(3.0)
    assert row["paper_value"] == 0.813 and row["paper_input_to_hidden"] == 3232
    assert row["paper_seconds_per_epoch"] == 1872
    assert row["config"] == {"batch_size": 16}
    assert not math.isnan(row["value"])


def test_without_matplotlib_the_plot_is_skipped(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    report = reproduce("table1", out=tmp_path)
    assert "matplotlib is not installed: the plot was skipped." in (
        capsys.readouterr().out
    )
    assert not (tmp_path / "table.png").exists()
    assert report["files"] == [
        str(tmp_path / "table.md"),
        str(tmp_path / "table.json"),
    ]


def test_plan_with_seeds(tmp_path):
    runs, shrunk, _ = reproduce_tables.plan(
        reproduce_tables.get("ucf11"),
        str(tmp_path),
        models=["tt-gru"],
        folds=[0],
        seeds=(4, 5),
    )
    assert [(r.seed, r.out) for r in runs] == [
        (s, str(tmp_path / "tt-gru" / f"seed-{s}" / "fold-0")) for s in (4, 5)
    ]
    assert not any("seed" in phrase for phrase in shrunk)


def test_seeds_give_the_spread(tmp_path, tiny_fibonacci):
    report = reproduce(
        "fibonacci",
        models=["tt-gru"],
        epochs=1,
        seed=7,
        seeds=2,
        out=tmp_path,
        verbose=0,
        plot=False,
    )
    (row,) = report["rows"]
    assert row["seeds"] == [7, 8] and len(row["values"]) == 2
    for seed in (7, 8):
        result = _json(tmp_path / "tt-gru" / f"seed-{seed}" / "results.json")
        assert result["config"]["seed"] == seed
    assert row["value"] == pytest.approx(sum(row["values"]) / 2)
    assert row["spread"] == pytest.approx(
        abs(row["values"][0] - row["values"][1]) / 2
    )
    assert report["settings"]["seeds"] == [7, 8]
    text = (tmp_path / "table.md").read_text(encoding="utf-8")
    assert f"{row['value']:.3f} ± {row['spread']:.3f} (2 seeds)" in text
    assert "seeds 7, 8" in text
    with pytest.raises(TableError, match="Argument `seeds` must be an int"):
        reproduce("fibonacci", seeds=0, out=tmp_path)
    with pytest.raises(TableError, match="table1 trains nothing"):
        reproduce("table1", seeds=2, out=tmp_path)


def test_rows_follow_the_catalog(tmp_path, tiny_fibonacci, monkeypatch):
    """A catalog entry with the 2017 FiboClass's six models and figures
    keyed by model (its runtime of 100 epochs a string) gives six rows
    with their 2017 figures."""
    six = ("rnn", "tt-rnn", "gru", "tt-gru", "lstm", "tt-lstm")
    accuracy = (0.629, 0.765, 0.893, 0.975, 0.925, 0.935)
    paper = {
        m: {"accuracy": a, "runtime": "00:00:51"} for m, a in zip(six, accuracy)
    }
    fibo = dataclasses.replace(
        registry.get("fibonacci"), models=six, paper=paper
    )
    monkeypatch.setitem(registry.EXPERIMENTS, "fibonacci", fibo)
    report = reproduce("fibonacci", epochs=1, out=tmp_path, verbose=0)
    assert [r["model"] for r in report["rows"]] == list(six)
    assert [r["paper_value"] for r in report["rows"]] == list(accuracy)
    text = (tmp_path / "table.md").read_text(encoding="utf-8")
    assert "| runtime ours | runtime 2017 |" in text
    assert "| fibonacci | tt-gru | accuracy |" in text and "| 0.975 |" in text
    assert (tmp_path / "table.png").stat().st_size > 0

"""The `ttrnn` command end to end: demo, experiments, resume, info.

Runs the real command (`ttrnn.cli.main` in process, and once as
`python -m ttrnn`) on tiny data: generated clips in the real dataset
layouts (real video files) and NIPS 2003 / spls files generated in their
real formats (`tests.formats`).
"""

import dataclasses
import hashlib
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import ttrnn
from tests.formats import write_nips2003_like
from tests.formats import write_reuters_like
from tests.formats import write_spls_like
from tests.formats import write_tiny_fashion_mnist
from tests.helpers import SimulatedInterrupt
from tests.helpers import interrupted_after_epoch
from tests.helpers import write_tiny_ucf11
from tests.mirror_server import MirrorServer
from ttrnn import cli
from ttrnn.data import idx
from ttrnn.data import sources
from ttrnn.experiments import checkpointing

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """NIPS 2003 and spls sets in the real formats, with the real sets'
    sizes and feature counts (few rows of random values)."""
    root = tmp_path_factory.mktemp("data")
    nips, spls = root / "nips2003", root / "spls"
    write_nips2003_like(
        nips, "arcene", "non-sparse", 10_000, {"train": 100, "valid": 100}
    )
    write_nips2003_like(
        nips, "madelon", "non-sparse", 500, {"train": 2000, "valid": 600}
    )
    write_spls_like(spls, "mice", {"train": 50, "valid": 10}, 145, outputs=83)
    write_spls_like(spls, "lymphoma", {"train": 50, "valid": 12}, 4026)
    return root


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("TTRNN_DATA_DIR", raising=False)


@pytest.fixture
def av():
    """PyAV, or a skip when the optional `video` extra is not installed."""
    return pytest.importorskip("av")


def _results(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def test_help_as_module():
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"))
    done = subprocess.run(
        [sys.executable, "-m", "ttrnn", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0
    for command in ("demo", "experiment", "info", "list"):
        assert command in done.stdout


def test_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "ucf11",
        "hollywood2",
        "youtube-celebrities",
        "hmdb51",
        "mnist",
        "cifar10",
        "arcene",
        "yeast",
        "fibonacci",
    ):
        assert name in out


def test_info_counts(capsys):
    assert cli.main(["info", "mnist"]) == 0
    out = capsys.readouterr().out
    # TT [4,8,8,4] rank 3 vs the dense 1024 x 1024 kernel (REFERENCE §4).
    assert "1,248" in out and "1,048,576" in out and "840.2x" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"ttrnn {ttrnn.__version__}\n"


class TestBadArguments:
    """Rejected by the parser: exit 2, a message naming the option."""

    @pytest.mark.parametrize(
        "argv, option, words",
        [
            (["experiment", "mice", "--epochs", "-1"], "--epochs", "epochs"),
            (["experiment", "mice", "--epochs", "0"], "--epochs", "epochs"),
            (["demo", "--epochs", "0"], "--epochs", "epochs"),
            (["experiment", "ucf11", "--frames", "0"], "--frames", "frames"),
            (
                ["experiment", "mice", "--batch-size", "0"],
                "--batch-size",
                "positive number",
            ),
            (
                ["experiment", "ucf11", "--max-batch-frames", "-1"],
                "--max-batch-frames",
                "0 or more",
            ),
            (
                ["experiment", "ucf11", "--folds", "5"],
                "--folds",
                "0 to 4",
            ),
            (
                ["experiment", "ucf11", "--folds", "-1"],
                "--folds",
                "0 to 4",
            ),
            (
                ["experiment", "mice", "--learning-rate", "0"],
                "--learning-rate",
                "positive number",
            ),
            (
                ["experiment", "mice", "--learning-rate", "fast"],
                "--learning-rate",
                "'sweep'",
            ),
            (
                ["experiment", "mice", "--learning-rate", "1e-3,-1"],
                "--learning-rate",
                "candidates like",
            ),
            (
                ["experiment", "ucf11", "--dropout", "1.5"],
                "--dropout",
                "fraction",
            ),
            (
                ["experiment", "mice", "--tt-ranks", "0"],
                "--tt-ranks",
                "TT ranks: positive integers",
            ),
            (
                ["info", "mice", "--tt-ranks", "2.5"],
                "--tt-ranks",
                "TT ranks: positive integers",
            ),
            (
                ["experiment", "ucf11", "--frame-shape", "0x160"],
                "--frame-shape",
                "like 120x160",
            ),
        ],
    )
    def test_rejected(self, capsys, argv, option, words):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {option}: " in err and words in err

    def test_ranks_message_speaks_of_ranks(self, capsys):
        with pytest.raises(SystemExit):
            cli.main(["experiment", "mice", "--tt-ranks", "0"])
        err = capsys.readouterr().err
        assert "e.g. 4" in err and "1,4,4,4,1" in err
        assert "120x160" not in err

    def test_good_values_parse(self):
        args = cli.build_parser().parse_args(
            ["experiment", "ucf11", "--epochs", "3", "--tt-ranks", "1,4,4,1"]
            + ["--folds", "0,4", "--frames", "8", "--dropout", "0"]
        )
        assert (args.epochs, args.tt_ranks, args.folds) == (
            3,
            (1, 4, 4, 1),
            [0, 4],
        )
        assert (args.frames, args.dropout) == (8, 0.0)
        args = cli.build_parser().parse_args(
            ["info", "mnist", "--tt-ranks", "3"]
        )
        assert args.tt_ranks == 3


class TestErrors:
    def test_missing_video_dir(self, tmp_path, capsys):
        # No --data-dir: fetched; offline (as every test) it is an error
        # saying how to get the data.
        status = cli.main(["experiment", "ucf11", "--out", str(tmp_path / "o")])
        assert status == 2
        err = capsys.readouterr().err
        assert err.startswith("ttrnn experiment: error: video/ucf11/")
        assert "`ttrnn data get ucf11`" in err and "--data-dir" in err

    def test_wrong_video_dir(self, tmp_path, capsys):
        status = cli.main(
            [
                "experiment",
                "hmdb51",
                "--data-dir",
                str(tmp_path),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        assert status == 2
        assert "Expected the HMDB51 layout" in capsys.readouterr().err

    def test_missing_feature_data(self, tmp_path, capsys):
        status = cli.main(
            [
                "experiment",
                "arcene",
                "--data-dir",
                str(tmp_path / "none"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        assert status == 2
        err = capsys.readouterr().err
        assert "Data directory not found" in err and "NIPS 2003" in err

    def test_unknown_experiment(self, tmp_path, capsys):
        assert cli.main(["experiment", "ucf101"]) == 2
        assert "Unknown experiment" in capsys.readouterr().err

    def test_unknown_model(self, tmp_path, capsys):
        status = cli.main(
            [
                "experiment",
                "arcene",
                "--model",
                "tt-gru",
                "--out",
                str(tmp_path),
            ]
        )
        assert status == 2
        assert "`model` must be one of" in capsys.readouterr().err


def test_nips2003_tt_and_dense(tmp_path, capsys, data_dir):
    out = tmp_path / "arcene"
    status = cli.main(
        [
            "experiment",
            "arcene",
            "--data-dir",
            str(data_dir),
            "--model",
            "tt,dense",
            "--epochs",
            "1",
            "--out",
            str(out),
            "--verbose",
            "0",
            "--no-plots",
        ]
    )
    assert status == 0
    tt_run = _results(out / "tt" / "results.json")
    dense_run = _results(out / "dense" / "results.json")
    assert tt_run["weights"]["input_to_hidden"] == 11_000
    assert dense_run["weights"]["input_to_hidden"] == 6_250_000
    assert tt_run["weights"]["compression"] == pytest.approx(568.18, 1e-3)
    for run in (tt_run, dense_run):
        assert run["config"]["test_size"] == 100
        assert 0.0 <= run["metrics"]["accuracy"] <= 1.0
        assert 0.0 <= run["metrics"]["auroc"] <= 1.0
        assert run["epochs_done"] == 1 and run["seconds_per_epoch"] > 0
    summary = _results(out / "results.json")["runs"]
    assert [r["model"] for r in summary] == ["tt", "dense"]
    assert summary[0]["paper"] == 0.82


@pytest.mark.parametrize(
    "name, model, metric, test_size",
    [("mice", "tt", "mse", 10), ("lymphoma", "dense", "accuracy", 12)],
)
def test_spls(tmp_path, name, model, metric, test_size, data_dir):
    out = tmp_path / name
    status = cli.main(
        [
            "experiment",
            name,
            "--data-dir",
            str(data_dir),
            "--model",
            model,
            "--epochs",
            "1",
            "--out",
            str(out),
            "--verbose",
            "0",
            "--no-plots",
        ]
    )
    assert status == 0
    result = _results(out / "results.json")
    assert result["metric"] == metric
    assert result["config"]["test_size"] == test_size
    value = result["metrics"][metric]
    if metric == "accuracy":  # 12 test samples
        assert value in np.arange(13) / 12
    else:
        assert value > 0


def test_verbose_0_still_prints_the_results(tmp_path, capsys, data_dir):
    """--verbose controls the training logs, not the results."""
    argv = ["experiment", "mice", "--epochs", "1", "--verbose", "0"]
    argv += ["--data-dir", str(data_dir)]
    argv += ["--no-plots", "--out"]
    assert cli.main([*argv, str(tmp_path / "one"), "--model", "tt"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("mice tt: mse ")
    assert cli.main([*argv, str(tmp_path / "two"), "--model", "tt,dense"]) == 0
    out = capsys.readouterr().out
    assert "experiment" in out and "s/epoch" in out
    rows = [line.split()[:2] for line in out.splitlines()]
    assert ["mice", "tt"] in rows and ["mice", "dense"] in rows
    assert "Epoch" not in out  # no training log


@pytest.mark.filterwarnings("ignore::ttrnn.data.SkippedClipWarning")
def test_video_experiment_resumes_after_kill(tmp_path, monkeypatch, av):
    """Hollywood2 layout (multi-label, official split), killed after
    epoch 1 of 2, then resumed to the end."""
    from ttrnn import data

    data_dir = tmp_path / "hollywood2"
    data.write_hollywood2_like(
        data_dir,
        num_train=6,
        num_test=4,
        num_frames=4,
        frame_shape=(16, 24),
        seed=1,
    )
    # A corrupt clip is reported and skipped; it never stops the run.
    (data_dir / "AVIClips" / "actioncliptrain00002.avi").write_bytes(b"junk")
    out = tmp_path / "run"
    args = [
        "experiment",
        "hollywood2",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--frame-shape",
        "16x24",
        "--frames",
        "3",
        "--batch-size",
        "4",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--verbose",
        "0",
    ]
    with interrupted_after_epoch(1):
        with pytest.warns(
            data.SkippedClipWarning, match="actioncliptrain00002"
        ):
            with pytest.raises(SimulatedInterrupt):
                cli.main(args)
    state = _results(out / checkpointing.STATE)
    assert state["epochs_done"] == 1
    assert not (out / "results.json").exists()
    assert cli.main(args) == 2  # the checkpoint needs --resume
    assert cli.main([*args, "--resume"]) == 0
    result = _results(out / "results.json")
    assert result["epochs_done"] == 2 and result["resumed_from"] == [1]
    assert len(result["history"]["tt-gru"]["loss"]) == 2
    assert result["metric"] == "map" and 0 < result["metrics"]["map"] <= 1
    assert result["config"]["train_clips"] == 5  # 6 minus the corrupt one
    assert result["config"]["tt_input_shape"] is None
    assert result["weights"]["dense_equivalent"] == 16 * 24 * 3 * 768
    assert (out / "curves.png").stat().st_size > 0
    assert (out / "weights.png").stat().st_size > 0
    # `ttrnn info` rebuilds the model from the saved configuration.
    assert cli.main(["info", str(out / "results.json")]) == 0


def test_demo_writes_files(tmp_path, capsys, av):
    out = tmp_path / "demo"
    status = cli.main(["demo", "--quick", "--epochs", "1", "--out", str(out)])
    assert status == 0
    text = capsys.readouterr().out
    assert "tt-gru" in text and "gru" in text and "compression" in text
    summary = _results(out / "results.json")
    rows = {row["model"]: row for row in summary["models"]}
    assert set(rows) == {"tt-gru", "gru"}
    # 24x32x3 = 2304 inputs, hidden 256: the GRU's kernel is 2304 x 768.
    assert rows["gru"]["input_to_hidden"] == 2304 * 768
    assert rows["tt-gru"]["input_to_hidden"] < 2304 * 768 / 100
    for row in rows.values():
        assert 0.0 <= row["accuracy"] <= 1.0
    for name in ("curves.png", "weights.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert len(list((out / "data").rglob("*.mpg"))) == summary["data"]["clips"]
    # Each model's own learning rate, chosen by a sweep of its candidates.
    for row in rows.values():
        sweep = row["learning_rate_sweep"]
        assert set(sweep["training_loss"]) == {"0.01", "0.0001"}
        losses = {float(k): v for k, v in sweep["training_loss"].items()}
        assert row["learning_rates"] == [min(losses, key=losses.get)]
        assert f"{row['learning_rates'][0]:g}" in text
    # Generated data: no 2017 UCF11 figures beside it. The TT-GRU keeps
    # its checkpoint (kilobytes), the GRU's goes (hundreds of MB at full
    # size).
    assert "2017" not in text
    kept = [p.relative_to(out) for p in out.rglob("*.keras")]
    assert kept == [pathlib.Path("tt-gru", checkpointing.CHECKPOINT)]
    assert _results(out / "tt-gru" / "results.json")["paper"] == {}
    # ... so the demo's TT-GRU can be explained, as the README says.
    clip = sorted((out / "data").rglob("*.mpg"))[0]
    explain = ["explain", str(out / "tt-gru"), "--input", str(clip)]
    assert cli.main([*explain, "--no-plots"]) == 0
    relevance = np.load(
        out / "tt-gru" / "explain" / clip.stem / "relevance.npy"
    )
    assert relevance.shape == (4, 24 * 32 * 3)  # --frames of the demo
    capsys.readouterr()
    explain[1] = str(out / "gru")
    assert cli.main(explain) == 2
    err = capsys.readouterr().err
    assert "deleted this model's checkpoint" in err
    assert "--keep-checkpoints" in err


def test_demo_keeps_checkpoints_when_asked(tmp_path, av, monkeypatch):
    from ttrnn.experiments import demo

    # Fewer clips and one learning rate: only the checkpoints matter here.
    monkeypatch.setattr(
        demo, "QUICK", dict(demo.QUICK, num_classes=2, learning_rate=1e-2)
    )
    out = tmp_path / "demo"
    argv = ["demo", "--quick", "--epochs", "1", "--out", str(out)]
    assert cli.main(argv + ["--quiet", "--keep-checkpoints"]) == 0
    kept = sorted(p.parent.name for p in out.rglob("checkpoint.keras"))
    assert kept == ["gru", "tt-gru"]


@pytest.mark.parametrize(
    "name, expected, sizes",
    [
        # Our settings: L2 5e-4 on the cores (2017: 5e-3); every training
        # row trains (2017: 20 % validate).
        (
            "madelon",
            {"learning_rate": 1e-4, "batch_size": 20, "tt_l2": 5e-4},
            (2000, 600),
        ),
        (
            "mice",
            {"learning_rate": 1e-4, "batch_size": 5, "l2": 1e-3},
            (50, 10),
        ),
    ],
)
def test_tuned_protocol(tmp_path, name, expected, sizes, data_dir):
    from ttrnn.experiments import registry

    base = registry.get(name)
    out = tmp_path / name
    argv = ["experiment", name, "--protocol", "tuned", "--epochs", "1"]
    argv += ["--out", str(out), "--data-dir", str(data_dir)]
    status = cli.main(argv + ["--verbose", "0", "--no-plots"])
    assert status == 0
    result = _results(out / "results.json")
    config = result["config"]
    assert (result["experiment"], config["protocol"]) == (name, "tuned")
    # The base experiment's data, all of its training rows.
    assert (config["train_size"], config["test_size"]) == sizes
    assert "validation_size" not in config
    for key, value in expected.items():
        assert config[key] == pytest.approx(value), key
    weights = {"madelon": 885, "mice": 10_500}[name]
    assert result["weights"]["input_to_hidden"] == weights
    assert result["paper"] == base.paper.get("tt", {})


def test_tuned_alias_runs_as_the_protocol(tmp_path, monkeypatch, capsys):
    """`mice-tuned` is `mice --protocol tuned`: the same folder (by
    default runs/mice-tuned, where the alias always wrote), the same
    results."""
    root = tmp_path / "data"
    write_spls_like(root / "spls", "mice", {"train": 20, "valid": 6}, 145, 83)
    monkeypatch.chdir(tmp_path)
    common = ["--epochs", "2", "--data-dir", str(root), "--no-plots"]
    common += ["--verbose", "0", "--model", "tt"]
    assert cli.main(["experiment", "mice", "--protocol", "tuned", *common]) == 0
    assert capsys.readouterr().out.startswith("mice-tuned tt: mse ")
    first = _results(tmp_path / "runs" / "mice-tuned" / "results.json")
    argv = ["experiment", "mice-tuned", *common]
    assert cli.main(argv) == 2  # the same folder: its checkpoint is there
    assert "--resume" in capsys.readouterr().err
    assert cli.main([*argv, "--overwrite"]) == 0
    second = _results(tmp_path / "runs" / "mice-tuned" / "results.json")
    assert second["config"] == first["config"]
    assert second["metrics"]["mse"] == pytest.approx(
        first["metrics"]["mse"], rel=1e-5
    )
    np.testing.assert_allclose(
        second["history"]["tt"]["loss"], first["history"]["tt"]["loss"], 1e-5
    )
    # The alias cannot run another protocol than its own.
    assert cli.main([*argv, "--protocol", "paper"]) == 2
    assert "mice-tuned is mice in the 'tuned'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, words",
    [
        (
            ["experiment", "ucf11", "--protocol", "tuned"],
            "ucf11 runs its tuned settings as 'fast'",
        ),
        (["experiment", "mnist", "--protocol", "fast"], "video experiments"),
        (["experiment", "reuters", "--protocol", "tuned"], "reuters has no"),
    ],
)
def test_protocol_errors(tmp_path, capsys, argv, words):
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error: Argument `protocol`" in err and words in err
    assert not list(tmp_path.iterdir())


def test_protocol_choices_are_the_runners(capsys):
    from ttrnn.experiments import run

    for command in ("experiment", "info"):
        with pytest.raises(SystemExit):
            cli.main([command, "mice", "--protocol", "slow"])
        err = capsys.readouterr().err
        choices = ", ".join(f"'{p}'" for p in run.PROTOCOLS)
        assert f"invalid choice: 'slow' (choose from {choices})" in err


def test_list_and_info_show_tuned_settings(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "mice-tuned = mice --protocol tuned" in out
    assert "madelon           tt_l2 0.0005 (else 0.005), " in out
    rows = [line for line in out.splitlines() if "; protocols " in line]
    lines = {line.split()[0]: line for line in rows}
    assert lines["madelon"].endswith("protocols paper, tuned")
    assert lines["ucf11"].endswith("protocols fast, paper")
    assert "madelon-tuned" not in lines
    assert cli.main(["info", "madelon", "--model", "tt"]) == 0
    plain = capsys.readouterr().out.splitlines()
    setting = "tt_l2 0.0005 (else 0.005), scaling minmax (else minmax-each)"
    assert plain[1].startswith(
        f"protocol paper; --protocol tuned sets {setting}"
    )
    for argv in (["madelon-tuned"], ["madelon", "--protocol", "tuned"]):
        assert cli.main(["info", *argv, "--model", "tt"]) == 0
        tuned = capsys.readouterr().out.splitlines()
        assert tuned[1].startswith(f"protocol tuned: tuned settings {setting}")
        # Same model, same head: the tuned settings change no weights.
        assert _layer_tables(tuned) == _layer_tables(plain)
    assert cli.main(["info", "ucf11", "--model", "tt-gru"]) == 0
    fast = capsys.readouterr().out.splitlines()[1]
    assert fast.startswith("protocol fast: tuned settings epochs 100 (else")


def _layer_tables(lines):
    """The lines of `ttrnn info` from the first model's table on."""
    return lines[next(i for i, x in enumerate(lines) if x.startswith("tt: ")) :]


def test_info_json_prostate(capsys):
    """The resolved 2017 settings, the L2 read off the built layers."""
    assert cli.main(["info", "prostate", "--protocol", "paper", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert (got["optimizer"], got["batch_size"], got["epochs"]) == (
        "adam",
        10,
        200,
    )
    assert got["learning_rate"] == pytest.approx(1e-4)
    assert got["validation_split"] == pytest.approx(0.2)
    assert got["l2"] == pytest.approx({"tt": 5e-4, "hidden": 0.1, "head": 0.1})
    assert got["preprocessing"]["scaling"] == "minmax-each"
    assert got["dropout"] is None and got["split"] == "official"
    assert got["models"]["tt"]["layers"][0]["input_to_hidden"] == 22650
    assert cli.main(["info", "prostate", "--protocol", "tuned", "--json"]) == 0
    tuned = json.loads(capsys.readouterr().out)
    assert tuned["learning_rate"] == pytest.approx(1e-3)
    assert tuned["l2"] == pytest.approx(
        {"tt": 1e-4, "hidden": 1e-3, "head": 1e-3}
    )


def test_paper_protocol_buckets_and_weighted_curves(tmp_path, av):
    """Every frame, padded to length buckets: the run records its buckets
    and padding, and the learning curves ignore the dummy rows that fill
    the last batch (the validation accuracy after the last epoch is the
    accuracy of the per-clip predictions)."""

    data_dir = tmp_path / "ucf11"
    write_tiny_ucf11(data_dir)
    out = tmp_path / "run"
    argv = ["experiment", "ucf11", "--data-dir", str(data_dir)]
    argv += ["--out", str(out), "--protocol", "paper", "--epochs", "1"]
    argv += ["--frame-shape", "16x24", "--folds", "0", "--batch-size", "4"]
    argv += ["--buckets", "2", "--cache-dir", str(tmp_path / "cache")]
    # At most 8 frames a batch: 2 clips of 4 frames.
    argv += ["--max-batch-frames", "8"]
    assert cli.main(argv + ["--verbose", "0", "--no-plots"]) == 0
    result = _results(out / "results.json")
    config = result["config"]
    assert config["protocol"] == "paper" and config["buckets"] == 2
    assert config["max_batch_frames"] == 8
    padding = config["padding_overhead"]["fold-0"]
    # 3 test clips in two batches of 2 rows: a dummy row pads the last.
    assert config["test_clips"] == 3
    assert padding["test"] == pytest.approx(4 / 3, abs=1e-4)
    history = result["history"]["tt-gru"]
    assert history["val_accuracy"][-1] == pytest.approx(
        result["metrics"]["accuracy"], abs=1e-6
    )


def test_tt_mlp_trains_in_the_paper_protocol(tmp_path, av):
    """The TT-MLP runs the video path of the TT-RNNs: bucketed, masked,
    uint8 clips; its learning curve agrees with the per-clip scores."""

    data_dir = tmp_path / "ucf11"
    write_tiny_ucf11(data_dir)
    out = tmp_path / "run"
    argv = ["experiment", "ucf11", "--data-dir", str(data_dir)]
    argv += ["--out", str(out), "--protocol", "paper", "--epochs", "2"]
    argv += ["--frame-shape", "16x24", "--folds", "0", "--batch-size", "4"]
    argv += ["--model", "tt-mlp", "--cache-dir", str(tmp_path / "cache")]
    assert cli.main(argv + ["--verbose", "0", "--no-plots"]) == 0
    result = _results(out / "results.json")
    assert result["model"] == "tt-mlp" and result["epochs_done"] == 2
    (tt_row, head_row) = result["weights"]["layers"]
    ins = tt_row["tt_input_shape"]
    assert math.prod(ins) == 16 * 24 * 3
    assert tt_row["tt_output_shape"] == [4, 2, 2, 16]
    r = [1, 8, 8, 8, 1]
    assert tt_row["tt_ranks"] == r
    expected = sum(
        r[k] * ins[k] * [4, 2, 2, 16][k] * r[k + 1] for k in range(4)
    )
    assert result["weights"]["input_to_hidden"] == expected
    history = result["history"]["tt-mlp"]
    assert history["val_accuracy"][-1] == pytest.approx(
        result["metrics"]["accuracy"], abs=1e-6
    )
    assert result["paper"]["accuracy"] == 0.427


@pytest.fixture(scope="module")
def reuters_dir(tmp_path_factory):
    """A reuters.npz in the format of Keras' file (few newswires)."""
    root = tmp_path_factory.mktemp("reuters")
    write_reuters_like(root / "reuters.npz", count=200, seed=3)
    return root


def test_reuters_tt_and_dense(tmp_path, reuters_dir):
    out = tmp_path / "reuters"
    argv = ["experiment", "reuters", "--data-dir", str(reuters_dir)]
    argv += ["--model", "tt,dense", "--epochs", "2", "--out", str(out)]
    assert cli.main(argv + ["--verbose", "0", "--no-plots"]) == 0
    tt_run = _results(out / "tt" / "results.json")
    dense_run = _results(out / "dense" / "results.json")
    # 1*10*8*10 + 10*10*8*10 + 10*10*8*1 and 1,000 x 512 (REFERENCE).
    assert tt_run["weights"]["input_to_hidden"] == 800 + 8000 + 800
    assert dense_run["weights"]["input_to_hidden"] == 512_000
    for run in (tt_run, dense_run):
        config = run["config"]
        # Keras' 80/20 split; the last 20 % of the training part validates.
        assert (config["train_size"], config["validation_size"]) == (128, 32)
        assert config["test_size"] == 40
        assert config["early_stopping"]["patience"] == 5
        assert run["epochs_done"] == 2 and run["stopped_early"] is None
        for key in ("accuracy", "auroc", "auprc"):
            assert 0.0 <= run["metrics"][key] <= 1.0
        layers = [row["layer"] for row in run["weights"]["layers"]]
        assert layers == ["hidden", "batch_norm", "head"]
    assert tt_run["paper"] == {
        "auroc": 0.9565,
        "auprc": 0.510,
        "accuracy": 0.777,
        "first_layer": 9600,
    }
    assert dense_run["paper"]["accuracy"] == 0.788


def test_reuters_from_the_keras_cache_resumes(tmp_path, monkeypatch, capsys):
    """Without --data-dir the file in Keras' download cache is read (else
    it is fetched: offline here, an error); a killed run resumes."""
    home = tmp_path / "keras-home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    argv = ["experiment", "reuters", "--epochs", "2", "--verbose", "0"]
    argv += ["--no-plots", "--out", str(tmp_path / "run")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "`ttrnn data get reuters`" in err
    write_reuters_like(home / "datasets" / "reuters.npz", count=120, seed=4)
    with interrupted_after_epoch(1), pytest.raises(SimulatedInterrupt):
        cli.main(argv)
    assert cli.main([*argv, "--resume"]) == 0
    result = _results(tmp_path / "run" / "results.json")
    assert result["epochs_done"] == 2 and result["resumed_from"] == [1]
    assert result["config"]["source"] == str(home / "datasets" / "reuters.npz")
    assert len(result["history"]["tt"]["val_loss"]) == 2


class TestFetchedData:
    """`ttrnn experiment` and `ttrnn data` fetch on first use, from a
    local mirror in a thread serving generated files in the real formats
    (the registry's hashes pointed at them)."""

    @pytest.fixture
    def mirror(self, tmp_path, monkeypatch):
        root = tmp_path / "mirror"
        write_nips2003_like(
            root / "nips2003",
            "arcene",
            "non-sparse",
            10_000,
            {"train": 20, "valid": 10},
        )
        write_tiny_fashion_mnist(root / "images" / "fashion-mnist")
        for name in ("arcene", "fashion-mnist"):
            source = sources.DATA_SOURCES[name]
            folder = root / source.group / name
            files = tuple(
                dataclasses.replace(f, hash=_sha256(folder / f.name))
                for f in source.files
            )
            monkeypatch.setitem(
                sources.DATA_SOURCES,
                name,
                dataclasses.replace(source, files=files),
            )
        monkeypatch.setattr(idx, "FASHION_MNIST_DIR", str(tmp_path / "none"))
        monkeypatch.setenv("TTRNN_DATA_CACHE", str(tmp_path / "cache"))
        monkeypatch.delenv("TTRNN_OFFLINE")
        with MirrorServer(root) as server:
            monkeypatch.setenv("TTRNN_DATA_MIRROR", server.url)
            yield server

    def _arcene(self, out, *extra):
        return cli.main(
            ["experiment", "arcene", "--epochs", "1", "--out", str(out)]
            + ["--verbose", "0", "--no-plots", *extra]
        )

    def test_experiment_fetches_then_reads_the_cache(
        self, tmp_path, mirror, capsys
    ):
        assert self._arcene(tmp_path / "a") == 0
        cached = tmp_path / "cache" / "nips2003" / "arcene"
        config = _results(tmp_path / "a" / "results.json")["config"]
        assert config["source"] == str(cached)
        # 20 training rows, the last 20 % of them held out (2017).
        assert (config["train_size"], config["test_size"]) == (16, 10)
        assert config["validation_size"] == 4
        assert (
            "Downloading arcene_train.data.gz from" in capsys.readouterr().err
        )
        assert len(mirror.hits) == 5
        mirror.stop()
        assert self._arcene(tmp_path / "b") == 0
        assert self._arcene(tmp_path / "c", "--offline") == 0
        assert "Downloading" not in capsys.readouterr().err

    def test_corrupt_mirror_is_a_checksum_error(self, tmp_path, mirror, capsys):
        param = mirror.root / "nips2003" / "arcene" / "arcene.param.gz"
        expected = _sha256(param)
        param.write_bytes(b"not the file")
        assert self._arcene(tmp_path / "a") == 2
        err = capsys.readouterr().err.splitlines()[-1]
        assert err.startswith(
            "ttrnn experiment: error: Checksum mismatch for arcene.param.gz "
        )
        assert f"expected {expected}, got {_sha256(param)}" in err
        cache = tmp_path / "cache"
        assert not any(files for _, _, files in os.walk(cache))

    def test_mnist_dataset_flag(self, tmp_path, mirror):
        status = cli.main(
            ["experiment", "mnist", "--dataset", "fashion-mnist"]
            + ["--epochs", "1", "--out", str(tmp_path / "m")]
            + ["--verbose", "0", "--no-plots", "--batch-size", "48"]
        )
        assert status == 0
        config = _results(tmp_path / "m" / "results.json")["config"]
        assert config["dataset"] == config["source"] == "fashion-mnist"
        # 96 training images, the last 20 % held out (2017).
        assert (config["train_size"], config["test_size"]) == (76, 48)

    def test_data_commands(self, tmp_path, mirror, capsys):
        folder = str(tmp_path / "cache" / "nips2003" / "arcene")
        assert cli.main(["data", "path", "arcene"]) == 0
        out, err = capsys.readouterr()
        assert out == f"{folder}\n"
        assert "`ttrnn data get arcene`" in err
        assert cli.main(["data", "get", "arcene", "--offline"]) == 2
        assert "ttrnn data: error: " in capsys.readouterr().err
        assert mirror.hits == []
        assert cli.main(["data", "get", "arcene"]) == 0
        assert capsys.readouterr().out == f"arcene: {folder}\n"
        assert cli.main(["data", "list"]) == 0
        listed = capsys.readouterr().out.splitlines()
        assert listed[0] == f"cache: {tmp_path / 'cache'}"
        arcene = next(line for line in listed if line.startswith("arcene "))
        assert "nips2003" in arcene and "1.9 MB" in arcene
        assert " cached " in arcene
        assert cli.main(["data", "get", "nope"]) == 2
        assert "Received: name='nope'" in capsys.readouterr().err


def _sha256(path):
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_reproduce_list(capsys):
    from ttrnn.experiments import reproduce_tables

    assert cli.main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    starts = [line.split()[0] for line in out.splitlines() if line[:1] != " "]
    assert starts == list(reproduce_tables.names())
    assert "ucf11: tt-gru, tt-lstm, tt-mlp, gru, lstm (5 folds" in out
    # hmdb51's paper runs: fold 1 of the 2017 script's random folds.
    assert "HMDB51 accuracy (fold 1 of the 2017 script's random 5-fold " in (
        out
    )
    assert "hmdb51: tt-gru, tt-lstm, gru, lstm (fold 1 of 5, 401 epochs)" in (
        out
    )
    assert "official split 1" not in out
    assert out.count("cost: ") == len(starts)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["nope"], "Unknown table. Expected one of ['table1', 'ucf11'"),
        ([], "Argument `name` must be a table"),
        (["fibonacci", "--folds", "1"], "has no cross-validated experiment"),
    ],
)
def test_reproduce_usage_errors(tmp_path, capsys, argv, words):
    argv = ["reproduce", *argv, "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ttrnn reproduce: error: ") and words in err
    assert err.count("\n") == 1


def test_reproduce_fibonacci_table_and_reuse(tmp_path, capsys, monkeypatch):
    """`reproduce fibonacci --epochs 1`: a row per catalog model with the
    2017 figure; a second call reuses the finished runs."""
    from tests.helpers import fewer_rows
    from ttrnn.experiments import registry
    from ttrnn.experiments import run

    calls = []
    original = run.run_experiment

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(run, "run_experiment", counted)
    out = tmp_path / "fib"
    argv = ["reproduce", "fibonacci", "--epochs", "1", "--out", str(out)]
    argv += ["--verbose", "0", "--seed", "3"]
    fibonacci = registry.get("fibonacci")
    with fewer_rows(48, 16):
        assert cli.main(argv) == 0
        assert len(calls) == len(fibonacci.models)
        table = _results(out / "table.json")
        stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/results.json")}
        assert len(stamps) == len(fibonacci.models)
        assert cli.main(argv) == 0  # reuses: no run, no results rewritten
    assert len(calls) == len(fibonacci.models)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    again = _results(out / "table.json")
    assert again["rows"] == table["rows"]
    rows = table["rows"]
    assert [r["model"] for r in rows] == list(fibonacci.models)
    for row in rows:
        paper = fibonacci.paper.get(row["model"], {})
        assert row["paper_value"] == paper.get(fibonacci.metric)
        assert 0 <= row["value"] <= 1 and row["epochs_done"] == [1]
        assert row["config"]["epochs"] == 1 and row["config"]["seed"] == 3
    assert table["shrunk"] == [f"epochs 1 of {fibonacci.epochs}"]
    assert table["settings"]["seed"] == 3
    machine = table["machine"]
    assert machine["cores"] >= 1 and machine["keras"] and machine["date"]
    assert machine["backend"] == rows[0]["config"]["backend"]
    text = (out / "table.md").read_text(encoding="utf-8")
    assert f"**Not the paper's settings: epochs 1 of {fibonacci.epochs}.**" in (
        text
    )
    header = next(line for line in text.splitlines() if "| model |" in line)
    assert "| ours | 2017 |" in header
    lines = [line for line in text.splitlines() if line.startswith("| fib")]
    assert len(lines) == len(fibonacci.models)
    gru = next(line for line in lines if line.startswith("| fibonacci | gru"))
    assert f"| {fibonacci.paper['gru'][fibonacci.metric]:.3f} |" in gru
    assert (out / "table.png").stat().st_size > 0
    assert "wrote " in capsys.readouterr().out


def test_reproduce_table1(tmp_path, capsys):
    assert cli.main(["reproduce", "table1", "--out", str(tmp_path)]) == 0
    table = _results(tmp_path / "table.json")
    assert len(table["rows"]) == 15 and table["shrunk"] == []
    assert all(r["ours"] == r["paper"] for r in table["rows"])
    text = (tmp_path / "table.md").read_text(encoding="utf-8")
    assert "| 4 | 2,976 / 2,976 | 11,904 / 11,904 | 3,360 / 3,360 |" in text
    assert "differs" not in text

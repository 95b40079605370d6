"""`RunConfig`: each default filled once, each setting checked once, and
results.json's `config` as the runs before it wrote it."""

import json
import os

import keras
import pytest

from tests.formats import write_reuters_like
from tests.formats import write_spls_like
from tests.formats import write_tiny_fashion_mnist
from tests.helpers import write_tiny_ucf11
from ttrnn import cli
from ttrnn.experiments import registry
from ttrnn.experiments import reproduce
from ttrnn.experiments import run
from ttrnn.experiments.reproduce_tables import Run
from ttrnn.experiments.run_config import RunConfig

_SETTINGS = (
    "experiment model protocol epochs batch_size learning_rate tt_ranks "
    "dropout recurrent_dropout seed data_dir backend topology"
).split()
_VIDEO = ["frame_shape", "num_frames", "tt_input_shape", "folds"]
_VIDEO += ["pixel_scale"]
_CLIPS = ["clips", "skipped_clips", "truncated_clips", "train_clips"]
_CLIPS += ["test_clips", "split_clips"]
_FEATURES = ["source", "split", "l2", "tt_l2", "train_size", "test_size"]
# The paper protocol's length buckets on this backend: 24 on JAX (one
# compiled graph per bucket), 32 where graphs take any length.
_DEFAULT_BUCKETS = 24 if keras.backend.backend() == "jax" else 32
# The keys of results.json's `config`, in order, as the code before
# `RunConfig` wrote them (commit 896303c, torch, the runs below).
KEYS_BEFORE = {
    "mice": _SETTINGS + _FEATURES + ["validation_size", "learning_rates"],
    "mice-tuned-sweep": _SETTINGS
    + _FEATURES
    + ["learning_rate_sweep", "learning_rates"],
    "reuters": _SETTINGS
    + _FEATURES
    + ["validation_size", "early_stopping", "learning_rates"],
    "mnist-fashion": _SETTINGS
    + ["dataset"]
    + _FEATURES
    + ["validation_size", "learning_rates"],
    "fibonacci": _SETTINGS
    + ["source", "split", "train_size", "test_size", "learning_rates"],
    "ucf11-fast": _SETTINGS + _VIDEO + _CLIPS + ["learning_rates"],
    "ucf11-paper": _SETTINGS
    + _VIDEO
    + ["buckets", "max_batch_frames"]
    + _CLIPS
    + ["padding_overhead", "learning_rates"],
}
# A video run's `config` as results.json held it before `RunConfig`
# (the ucf11-paper run below, its folders shortened).
CONFIG_BEFORE = {
    "experiment": "ucf11",
    "model": "tt-mlp",
    "protocol": "paper",
    "epochs": 1,
    "batch_size": 4,
    "learning_rate": 0.0001,
    "tt_ranks": [1, 8, 8, 8, 1],
    "dropout": 0.25,
    "recurrent_dropout": 0.25,
    "seed": 0,
    "data_dir": "data/ucf11",
    "backend": "torch",
    "topology": {
        "backend": "torch",
        "processes": 1,
        "process_id": 0,
        "devices": 1,
        "local_devices": 1,
        "device_kind": "cpu",
        "platform": "cpu",
        "distribution": None,
    },
    "frame_shape": [16, 24],
    "num_frames": None,
    "tt_input_shape": None,
    "folds": [0],
    "pixel_scale": 1.0,
    "buckets": 2,
    "max_batch_frames": 8192,
    "clips": 15,
    "skipped_clips": {},
    "truncated_clips": {},
    "train_clips": 12,
    "test_clips": 3,
    "split_clips": {"fold-0": {"train": 12, "test": 3}},
    "padding_overhead": {
        "fold-0": {
            "train": 1.0,
            "test": 1.3333,
            "train_buckets": [4],
            "test_buckets": [4],
        }
    },
    "learning_rates": {"fold-0": 0.0001},
}


def _run(label, tmp_path):
    """One short run of `KEYS_BEFORE`'s `label`, on generated data."""
    common = dict(epochs=1, verbose=0, plot=False, compare_paper=False)
    common["out"] = str(tmp_path / "run")
    if label.startswith("mice"):
        write_spls_like(
            tmp_path / "spls", "mice", {"train": 20, "valid": 6}, 145, 83
        )
        if label == "mice":
            return run.run_experiment("mice", data_dir=tmp_path, **common)
        return run.run_experiment(
            "mice",
            protocol="tuned",
            learning_rate=[1e-3, 1e-4],
            data_dir=tmp_path,
            **common,
        )
    if label == "reuters":
        write_reuters_like(tmp_path / "reuters.npz", count=120, seed=3)
        return run.run_experiment("reuters", data_dir=tmp_path, **common)
    if label == "mnist-fashion":
        images = write_tiny_fashion_mnist(tmp_path / "fashion")
        return run.run_experiment(
            "mnist", "dense", dataset="fashion-mnist", data_dir=images, **common
        )
    if label == "fibonacci":
        return run.run_experiment("fibonacci", **common)
    pytest.importorskip("av")

    write_tiny_ucf11(tmp_path / "ucf11")
    video = dict(data_dir=tmp_path / "ucf11", frame_shape=(16, 24))
    video.update(batch_size=4, folds=[0], cache_dir=tmp_path / "cache")
    if label == "ucf11-fast":
        return run.run_experiment("ucf11", num_frames=3, **video, **common)
    return run.run_experiment(
        "ucf11", "tt-mlp", protocol="paper", buckets=2, **video, **common
    )


@pytest.mark.parametrize("label", sorted(KEYS_BEFORE))
def test_results_config_keys_are_unchanged(label, tmp_path):
    result = _run(label, tmp_path)
    with open(tmp_path / "run" / "results.json", encoding="utf-8") as file:
        written = json.load(file)["config"]
    assert list(written) == KEYS_BEFORE[label]
    assert list(result["config"]) == KEYS_BEFORE[label]
    # Lists, as JSON reads them back (the results dict is the file's).
    assert result["config"]["tt_ranks"] == written["tt_ranks"]
    assert isinstance(result["config"]["tt_ranks"], list)


def test_defaults_are_the_experiments():
    config = RunConfig.resolve("ucf11")
    experiment = registry.get("ucf11").with_protocol("fast")
    assert (config.experiment, config.model, config.protocol) == (
        "ucf11",
        "tt-gru",
        "fast",
    )
    assert config.epochs == experiment.epochs
    assert config.batch_size == experiment.batch_size
    assert config.learning_rate == experiment.learning_rate
    assert config.tt_ranks == tuple(experiment.tt_ranks)
    assert config.dropout == experiment.dropout_for("tt-gru")
    assert config.recurrent_dropout == experiment.recurrent_dropout
    assert config.frame_shape == experiment.frame_shape
    assert (config.num_frames, config.buckets) == (16, None)
    assert config.max_batch_frames is None  # the paper protocol's alone
    assert config.out == os.path.join("runs", "ucf11-tt-gru")
    assert config.backend == keras.backend.backend()
    # The TT-MLP's ranks are its own (Table 2), not the experiment's.
    assert RunConfig.resolve("ucf11", "tt-mlp").tt_ranks == (1, 8, 8, 8, 1)
    paper = RunConfig.resolve("ucf11", protocol="paper")
    assert (paper.num_frames, paper.buckets) == (None, _DEFAULT_BUCKETS)
    assert paper.max_batch_frames in (4096, 8192)
    # Not video: no video settings, none recorded.
    mice = RunConfig.resolve("mice-tuned", frame_shape=(2, 2), buckets=3)
    assert (mice.protocol, mice.frame_shape, mice.buckets) == (
        "tuned",
        None,
        None,
    )
    assert list(mice.to_dict()) == _SETTINGS


def test_paper_buckets_by_backend():
    """The default number of buckets follows the backend; `buckets`
    given (`--buckets N`) is used exactly as given on every backend."""
    from ttrnn.experiments import run_config

    assert [
        run_config.default_buckets(b) for b in ("jax", "tensorflow", "torch")
    ] == [24, 32, 32]
    assert run_config.default_buckets("openvino") == 8
    assert run_config.default_buckets() == _DEFAULT_BUCKETS
    for buckets in (1, 8, 64):
        config = RunConfig.resolve("ucf11", protocol="paper", buckets=buckets)
        assert config.buckets == buckets
        assert config.to_dict()["buckets"] == buckets
    # The fast protocol samples frames: no buckets to default.
    assert RunConfig.resolve("ucf11").buckets is None


def test_given_settings_win():
    config = RunConfig.resolve(
        "ucf11",
        "vtt-lstm",
        protocol="paper",
        epochs=3,
        tt_ranks=[1, 2, 2, 2, 1],
        learning_rate="sweep",
        dropout=0.5,
        frame_shape=[16, 24],
        tt_input_shape=[8, 4, 4, 9],
        folds=[2],
        max_batch_frames=None,
        out="here",
    )
    assert config.tt_ranks == (1, 2, 2, 2, 1)
    assert config.learning_rate == (1e-2, 1e-3, 1e-4, 1e-5)
    assert config.sweeps_learning_rate
    assert (config.epochs, config.dropout, config.out) == (3, 0.5, "here")
    assert config.tt_input_shape == (8, 4, 4, 9)
    assert (config.folds, config.max_batch_frames) == ((2,), None)
    recorded = config.to_dict()
    assert recorded["learning_rate"] == [1e-2, 1e-3, 1e-4, 1e-5]
    assert recorded["folds"] == [2]
    assert recorded["buckets"] == _DEFAULT_BUCKETS
    assert "out" not in recorded and "verbose" not in recorded


@pytest.mark.parametrize(
    "settings, error, match",
    [
        (dict(model="tt"), registry.ExperimentError, "`model` must be one"),
        (dict(tt_ranks=[1, 2, 1]), registry.ExperimentError, "d \\+ 1 = 5"),
        (dict(learning_rate=0), registry.ExperimentError, "`learning_rate`"),
        (dict(dataset="mnist"), registry.ExperimentError, "`dataset` is for"),
        (
            dict(protocol="paper", max_batch_frames=0),
            registry.ExperimentError,
            "`max_batch_frames` must be an int >= 1",
        ),
        (
            dict(tt_input_shape=(2, 2, 2, 2)),
            registry.ExperimentError,
            "product of `tt_input_shape`",
        ),
        (dict(backend="jax"), TypeError, "Unexpected setting\\(s\\) \\['b"),
        (dict(epoch=3), TypeError, "Unexpected setting\\(s\\) \\['epoch'\\]"),
    ],
)
def test_bad_settings_are_refused(settings, error, match):
    with pytest.raises(error, match=match):
        RunConfig.resolve("ucf11", **settings)


def test_from_dict_reads_a_run_written_before():
    config = RunConfig.from_dict(CONFIG_BEFORE)
    assert config.tt_ranks == (1, 8, 8, 8, 1) and config.folds == (0,)
    recorded = config.to_dict()
    assert recorded == {k: CONFIG_BEFORE[k] for k in recorded}
    assert list(recorded) == KEYS_BEFORE["ucf11-paper"][:20]
    assert (config.out, config.resume) == (None, False)  # not recorded
    with pytest.raises(registry.ExperimentError, match="names its exp"):
        RunConfig.from_dict({"model": "tt"})


def test_a_finished_run_written_before_is_reused(tmp_path):
    """`ttrnn reproduce` reads the results.json of earlier runs: one
    finished with the same settings is reused, not run again."""
    folder = tmp_path / "fold-0"
    folder.mkdir()
    result = {"metrics": {"accuracy": 0.5}, "config": CONFIG_BEFORE}
    result["epochs_done"] = 1
    (folder / "results.json").write_text(json.dumps(result))
    (folder / "state.json").write_text(json.dumps({"epochs_done": 1}))
    (folder / "checkpoint.keras").write_bytes(b"")
    same = Run("ucf11", "tt-mlp", 0, 1, str(folder), seed=0)
    assert reproduce.finished_result(same) == result
    more = Run("ucf11", "tt-mlp", 0, 2, str(folder), seed=0)
    assert reproduce.finished_result(more) is None  # resumed to 2 epochs
    other_fold = Run("ucf11", "tt-mlp", 1, 1, str(folder), seed=0)
    assert reproduce.finished_result(other_fold) is None


def test_info_reads_a_results_json_written_before(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"config": CONFIG_BEFORE}))
    assert cli.main(["info", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    (row, _) = shown["models"]["tt-mlp"]["layers"]
    assert row["tt_ranks"] == [1, 8, 8, 8, 1]
    assert row["tt_output_shape"] == [4, 2, 2, 16]
    assert shown["protocol"] == "paper"


def test_folds_all_runs_five_folds_where_the_default_is_one(capsys):
    """hmdb51's paper protocol runs fold 1 of the 2017 folds by default
    (as the script did); `--folds all` runs all five, `ttrnn reproduce`
    too."""
    from ttrnn.experiments import reproduce_tables
    from ttrnn.experiments.splits import video_splits

    args = cli.build_parser().parse_args(
        ["experiment", "hmdb51", "--protocol", "paper", "--folds", "all"]
    )
    assert RunConfig.resolve("hmdb51", protocol="paper").folds == (1,)
    config = RunConfig.resolve("hmdb51", protocol="paper", folds=args.folds)
    assert config.folds == (0, 1, 2, 3, 4)
    assert config.to_dict()["folds"] == [0, 1, 2, 3, 4]

    class Clips:  # the 2017 folds need only the number of clips
        def __len__(self):
            return 50

    splits = video_splits(config.experiment_settings, Clips(), config.folds)
    assert [label for label, _, _ in splits] == [f"fold-{f}" for f in range(5)]
    tests = sorted(i for _, _, test in splits for i in test)
    assert tests == list(range(50))  # every clip tested once
    runs, _, _ = reproduce_tables.plan(
        reproduce_tables.get("hmdb51"), "out", folds=args.folds
    )
    assert {r.fold for r in runs} == {0, 1, 2, 3, 4}


def test_folds_of_a_run_without_folds_are_refused(capsys):
    """hmdb51's fast protocol (the default) trains on the official split
    1: no folds to pick, said plainly."""
    argv = ["experiment", "hmdb51", "--protocol", "fast", "--folds", "all"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        "ttrnn experiment: error: Argument `folds`: hmdb51 under the fast "
        "protocol trains and tests on its official split, not on "
        "cross-validation folds; drop it or use --protocol paper. "
        "Received: folds=[0, 1, 2, 3, 4]\n"
    )
    with pytest.raises(
        registry.ExperimentError, match="official split, not on cross-.* it. "
    ):
        RunConfig.resolve("hollywood2", folds=[0])


@pytest.mark.parametrize("name", ["mnist", "fibonacci", "mnist-seq"])
def test_folds_of_an_experiment_without_folds_are_refused(
    tmp_path, capsys, name
):
    """Feed-forward and sequence experiments have no folds: `--folds` is
    a usage error naming the experiments that take it, before any data
    is read."""
    argv = ["experiment", name, "--folds", "0", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == (
        f"ttrnn experiment: error: Argument `folds`: {name} has no "
        "cross-validation folds; ucf11, youtube-celebrities and hmdb51 "
        "(--protocol paper) take it. Received: folds=[0]\n"
    )
    assert not any(tmp_path.iterdir())
    with pytest.raises(
        registry.ExperimentError, match=r"^Argument `folds`: reuters has no "
    ):
        RunConfig.resolve("reuters", folds=[1, 2])

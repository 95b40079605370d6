"""The `ttrnn` command's user errors and leftovers (issue 29).

A user's mistake ends in one line on stderr and status 2, found before
any data is read where it can be; Ctrl-C ends in one line saying how to
resume (status 130); a run leaves nothing behind that it did not finish,
and `--overwrite` clears exactly what an earlier run wrote.
"""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from tests.formats import write_spls_like
from tests.helpers import write_tiny_ucf11
from ttrnn import cli
from ttrnn import cli_warnings
from ttrnn.experiments import checkpointing
from ttrnn.experiments import datasets
from ttrnn.experiments import rundir


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("TTRNN_DATA_DIR", raising=False)


@pytest.fixture
def no_data(monkeypatch):
    """Reading any experiment's data fails the test: the error must come
    before it."""

    def fail(*args, **kwargs):
        raise AssertionError("the data was read before the check")

    monkeypatch.setattr(datasets, "load_arrays", fail)
    monkeypatch.setattr(datasets, "load_video", fail)


@pytest.fixture(scope="module")
def spls_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("spls")
    write_spls_like(root / "spls", "mice", {"train": 50, "valid": 10}, 145, 83)
    return root


def _one_line_error(capsys, command, *words):
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith(f"ttrnn {command}: error: "), err
    for word in words:
        assert word in err, err
    return err


class TestCheckedBeforeTheData:
    def test_ranks_of_the_wrong_length(self, tmp_path, capsys, no_data):
        out = tmp_path / "fib"
        argv = ["experiment", "fibonacci", "--tt-ranks", "1,4,4,1"]
        assert cli.main([*argv, "--out", str(out)]) == 2
        _one_line_error(
            capsys, "experiment", "`tt_ranks`", "d + 1 = 3", "1,4,4,1"
        )
        assert not out.exists()
        assert cli.main(["info", "fibonacci", "--tt-ranks", "1,4,4,1"]) == 2
        _one_line_error(capsys, "info", "d + 1 = 3")

    def test_ranks_must_end_in_ones(self, tmp_path, capsys, no_data):
        argv = ["experiment", "mice", "--tt-ranks", "2,4,4,2"]
        assert cli.main([*argv, "--out", str(tmp_path / "o")]) == 2
        _one_line_error(capsys, "experiment", "starting and ending with 1")

    def test_video_modes_of_the_wrong_count(self, tmp_path, capsys, no_data):
        # Before --data-dir is even looked at.
        argv = ["experiment", "ucf11", "--tt-input-shape", "16,20,180"]
        assert cli.main([*argv, "--out", str(tmp_path / "o")]) == 2
        _one_line_error(capsys, "experiment", "`tt_input_shape` must have 4")
        argv = ["experiment", "ucf11", "--tt-input-shape", "8,20,20,20"]
        assert cli.main([*argv, "--out", str(tmp_path / "o")]) == 2
        _one_line_error(capsys, "experiment", "product of `tt_input_shape`")

    def test_out_below_a_file(self, tmp_path, capsys, no_data):
        (tmp_path / "file").write_text("not a folder")
        argv = ["experiment", "mice", "--out", str(tmp_path / "file" / "o")]
        assert cli.main(argv) == 2
        _one_line_error(capsys, "experiment", "`out`", "is a file")

    def test_out_not_writable(self, tmp_path, capsys, no_data, monkeypatch):
        # A read-only file system or folder: os.access says so (root may
        # write anywhere else, so the answer is simulated for this path).
        locked = tmp_path / "locked"
        locked.mkdir()
        access = os.access
        monkeypatch.setattr(
            os,
            "access",
            lambda path, mode: (
                os.fspath(path) != str(locked) and access(path, mode)
            ),
        )
        for out in (locked, locked / "new" / "run"):
            assert cli.main(["experiment", "mice", "--out", str(out)]) == 2
            _one_line_error(capsys, "experiment", "cannot be written")
        assert list(locked.iterdir()) == []

    def test_an_earlier_run_before_decoding(self, tmp_path, capsys, no_data):
        out = tmp_path / "run"
        (out / "fold-1").mkdir(parents=True)
        (out / "fold-1" / checkpointing.CHECKPOINT).write_bytes(b"")
        state = {"epochs_done": 3}
        (out / "fold-1" / checkpointing.STATE).write_text(json.dumps(state))
        argv = ["experiment", "ucf11", "--data-dir", str(tmp_path)]
        assert cli.main([*argv, "--out", str(out)]) == 2
        _one_line_error(
            capsys, "experiment", "fold-1", "3 epochs done", "--resume"
        )

    def test_a_group_checks_every_run_first(self, tmp_path, capsys, no_data):
        # The second run's folder is the bad one: the first never starts.
        out = tmp_path / "group"
        (out / "dense").mkdir(parents=True)
        (out / "dense" / checkpointing.CHECKPOINT).write_bytes(b"")
        (out / "dense" / checkpointing.STATE).write_text('{"epochs_done": 1}')
        argv = ["experiment", "mice", "--model", "tt,dense"]
        assert cli.main([*argv, "--out", str(out)]) == 2
        _one_line_error(capsys, "experiment", "dense", "1 epochs done")
        assert sorted(p.name for p in out.iterdir()) == ["dense"]

    def test_mnist_names_the_real_option(self, tmp_path, capsys, monkeypatch):
        from ttrnn.data import idx

        # No Debian copy, no cache, offline (tests never download): the
        # message names what to run, not a `path` argument.
        missing = str(tmp_path / "no-fashion-mnist")
        monkeypatch.setattr(idx, "FASHION_MNIST_DIR", missing)
        argv = ["experiment", "mnist", "--out", str(tmp_path / "o")]
        assert cli.main([*argv, "--dataset", "fashion-mnist"]) == 2
        err = _one_line_error(capsys, "experiment", "ttrnn data get")
        assert "`path`" not in err
        assert not (tmp_path / "o").exists()


class TestLeftBehind:
    def test_a_failed_run_removes_the_folders_it_made(
        self, tmp_path, spls_dir, monkeypatch
    ):
        from ttrnn.experiments import models

        def broken(*args, **kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr(models, "build_feedforward", broken)
        argv = ["experiment", "mice", "--data-dir", str(spls_dir)]
        out = tmp_path / "a" / "b" / "run"
        with pytest.raises(RuntimeError, match="a bug"):  # a bug: traceback
            cli.main([*argv, "--out", str(out)])
        assert list(tmp_path.iterdir()) == []
        # A folder that was there before stays, with what it held.
        kept = tmp_path / "kept"
        kept.mkdir()
        (kept / "notes.txt").write_text("mine")
        with pytest.raises(RuntimeError, match="a bug"):
            cli.main([*argv, "--out", str(kept)])
        assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]

    def test_missing_data_makes_no_folder(self, tmp_path, capsys):
        out = tmp_path / "run"
        argv = ["experiment", "mice", "--data-dir", str(tmp_path / "none")]
        assert cli.main([*argv, "--out", str(out)]) == 2
        _one_line_error(capsys, "experiment", "Data directory not found")
        assert not out.exists()

    def test_overwrite_clears_the_runs_files_only(self, tmp_path, spls_dir):
        out = tmp_path / "run"
        old = [
            checkpointing.CHECKPOINT,
            checkpointing.STATE,
            "results.json",
            "curves.png",
            "explain/clip/relevance.npy",
            "explain/clip/explanation.json",
            "explain/test-0/relevance.png",
            "fold-0/checkpoint.keras",
            "fold-0/state.json",
            "fold-0/results.json.tmp",
        ]
        foreign = ["notes.txt", "explain/clip/mine.txt", "data/x.csv"]
        for name in old + foreign:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text("{}")
        (out / checkpointing.STATE).write_text('{"epochs_done": 9}')
        argv = ["experiment", "mice", "--data-dir", str(spls_dir)]
        argv += ["--out", str(out), "--epochs", "1", "--verbose", "0"]
        assert cli.main([*argv, "--overwrite", "--no-plots"]) == 0
        left = sorted(
            os.path.relpath(os.path.join(root, name), out)
            for root, _, names in os.walk(out)
            for name in names
        )
        assert left == sorted(
            foreign
            + [checkpointing.CHECKPOINT, checkpointing.STATE, "results.json"]
        )
        with open(out / "results.json") as file:
            assert json.load(file)["epochs_done"] == 1


def test_clear_outputs_keeps_foreign_folders(tmp_path):
    (tmp_path / "fold-2").mkdir()
    (tmp_path / "fold-2" / "state.json").write_text("{}")
    (tmp_path / "fold-2" / "own.txt").write_text("")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "weights.png").write_text("")  # not a run's
    rundir.clear_outputs(tmp_path)
    assert sorted(
        os.path.relpath(os.path.join(root, name), tmp_path)
        for root, _, names in os.walk(tmp_path)
        for name in names
    ) == [
        os.path.join("fold-2", "own.txt"),
        os.path.join("other", "weights.png"),
    ]


class TestMissingPackages:
    def test_demo_without_pyav(self, tmp_path, capsys, monkeypatch):
        monkeypatch.setitem(sys.modules, "av", None)
        out = tmp_path / "demo"
        assert cli.main(["demo", "--quick", "--out", str(out)]) == 2
        _one_line_error(capsys, "demo", "PyAV", 'pip install "ttrnn[video]"')
        assert not out.exists()

    def test_video_experiment_without_pyav(self, tmp_path, capsys):
        pytest.importorskip("av")
        from ttrnn import data

        data_dir = tmp_path / "ucf11"
        data.write_ucf11_like(
            data_dir, 2, 5, 1, num_frames=2, frame_shape=(8, 8)
        )
        out = tmp_path / "run"
        argv = ["experiment", "ucf11", "--data-dir", str(data_dir)]
        argv += ["--out", str(out), "--cache-dir", str(tmp_path / "cache")]
        with pytest.MonkeyPatch.context() as patch:
            patch.setitem(sys.modules, "av", None)
            assert cli.main([*argv, "--frame-shape", "8x8"]) == 2
        _one_line_error(capsys, "experiment", 'pip install "ttrnn[video]"')
        assert not out.exists()

    def test_plots_without_matplotlib(self, monkeypatch):
        from ttrnn.experiments import plots
        from ttrnn.extras import MissingExtraError

        monkeypatch.setitem(sys.modules, "matplotlib", None)
        with pytest.raises(MissingExtraError, match=r"ttrnn\[plots\]"):
            plots.pyplot()


def test_ttrnn_warnings_are_one_line():
    from ttrnn.data import SkippedClipWarning

    with cli_warnings.plain_warnings():
        ours = warnings.formatwarning(
            "Skipping clip 'a.avi': junk", SkippedClipWarning, "x.py", 3
        )
        theirs = warnings.formatwarning("careful", UserWarning, "x.py", 3)
    assert ours == "ttrnn: warning: Skipping clip 'a.avi': junk\n"
    assert theirs == warnings.formatwarning("careful", UserWarning, "x.py", 3)
    assert "x.py:3" in theirs


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_says_how_to_resume(tmp_path, spls_dir):
    out = tmp_path / "run"
    argv = ["experiment", "mice", "--data-dir", str(spls_dir)]
    argv += ["--out", str(out), "--epochs", "100000", "--verbose", "0"]
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"))
    process = subprocess.Popen(
        [sys.executable, "-m", "ttrnn", *argv, "--overwrite"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # A shell's background job starts with SIGINT ignored, and Python
        # then keeps it so: the child gets the default back.
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 300
        while not (out / checkpointing.STATE).exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        # Generous: on a loaded machine (three suites at once) the
        # interrupted run once did not finish within 120 s.
        _, err = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    command = " ".join(["ttrnn", *argv, "--resume"])  # without --overwrite
    assert last == (
        f"ttrnn experiment: interrupted; the checkpoint in {out} keeps the "
        f"finished epochs. Resume with: {command}"
    )
    assert checkpointing.load_state(out)["epochs_done"] >= 1


def _smooth_clip(num_frames, height=16, width=24):
    """Frames MPEG-1 codes well (a cut file then loses a frame or two,
    not the clip)."""
    y, x = np.mgrid[:height, :width]
    frames = [
        np.stack([x * 4 + t, y * 6, 200 - x * 3 - t], axis=-1)
        for t in range(num_frames)
    ]
    return np.clip(frames, 0, 255).astype(np.uint8)


def _cut(path, fraction=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def test_video_run_lists_its_clips_and_explains_by_index(
    tmp_path, capsys, monkeypatch
):
    pytest.importorskip("av")
    from ttrnn import data

    data_dir = tmp_path / "ucf11"
    write_tiny_ucf11(data_dir, num_frames=5)
    clips = sorted(data_dir.rglob("*.mpg"))
    junk, short = clips[3], clips[7]
    junk.write_bytes(b"junk")
    data.write_video(short, _smooth_clip(48))
    _cut(short)
    out = tmp_path / "run"
    argv = ["experiment", "ucf11", "--data-dir", str(data_dir)]
    argv += ["--out", str(out), "--epochs", "1", "--frame-shape", "16x24"]
    argv += ["--folds", "0,1", "--batch-size", "4", "--frames", "3"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--verbose", "2"]
    with pytest.warns(data.SkippedClipWarning, match=junk.name):
        with pytest.warns(data.TruncatedVideoWarning, match=short.name):
            assert cli.main([*argv, "--no-plots"]) == 0
    log = capsys.readouterr().out
    assert f"skipped 1 clip(s): {junk.name}" in log
    assert f"truncated 1 clip(s): {short.name}" in log
    config = _json(out / "results.json")["config"]
    assert list(config["skipped_clips"]) == [str(junk)]
    assert list(config["truncated_clips"]) == [str(short)]
    assert "looks truncated" in config["truncated_clips"][str(short)]
    assert config["clips"] == 14

    # The cache noted the truncation: the next run warns again, from the
    # cache (nothing is decoded).
    cache = data.FrameCache(tmp_path / "cache", frame_shape=(16, 24))
    monkeypatch.setattr(
        "ttrnn.data.cache.read_video",
        lambda *args: pytest.fail("decoded again"),
    )
    dataset = data.load_ucf11(data_dir)
    with pytest.warns(data.TruncatedVideoWarning, match=short.name):
        with pytest.warns(data.SkippedClipWarning, match=junk.name):
            kept, details = cache.prepare(
                dataset, verbose=0, return_details=True
            )
    assert len(kept) == 14 and list(details["truncated"]) == [str(short)]
    assert list(details["skipped"]) == [str(junk)]
    monkeypatch.undo()

    # --index on a video run: the fold's test clip, read as --input reads
    # the same file.
    fold = out / "fold-1"
    assert cli.main(["explain", str(fold), "--index", "2", "--no-plots"]) == 0
    summary = _json(fold / "explain" / "test-2" / "explanation.json")
    clip = summary["input"]
    kept = data.load_ucf11(data_dir).subset(
        [
            i
            for i, c in enumerate(data.load_ucf11(data_dir).clips)
            if c != str(junk)
        ]
    )
    test_clips = [kept.clips[i] for i in kept.folds(5, seed=0)[1][1]]
    assert clip == test_clips[2]
    assert summary["label"] == int(kept.labels[kept.clips.index(clip)])
    argv = ["explain", str(fold), "--input", clip, "--no-plots"]
    assert cli.main(argv) == 0
    stem = os.path.splitext(os.path.basename(clip))[0]
    np.testing.assert_array_equal(
        np.load(fold / "explain" / "test-2" / "relevance.npy"),
        np.load(fold / "explain" / stem / "relevance.npy"),
    )
    capsys.readouterr()
    # A file, explained from the run's folder: by its first fold's model.
    argv = ["explain", str(out), "--input", clip, "--no-plots"]
    assert cli.main(argv) == 0
    assert (out / "fold-0" / "explain" / stem / "relevance.npy").is_file()
    capsys.readouterr()
    # The run's folder holds folds: --index says which; a bad index; a
    # corrupt clip: one line each.
    assert cli.main(["explain", str(out), "--index", "0"]) == 2
    _one_line_error(capsys, "explain", "Its folds: ['fold-0', 'fold-1']")
    assert cli.main(["explain", str(fold), "--index", "3"]) == 2
    _one_line_error(capsys, "explain", "`index` must be in [0, 3)")
    assert cli.main(["explain", str(fold), "--input", str(junk)]) == 2
    _one_line_error(capsys, "explain", "readable video file", junk.name)


def _json(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)

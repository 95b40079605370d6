"""A run killed at any point and resumed is the uninterrupted run.

Each run whole (in this process), and in processes on this backend
(tests/experiments/resume_worker.py): killed by SIGKILL one training step
into epoch k + 1 (the checkpoint of epoch k written), then resumed with
`resume=True` / `--resume`. The resumed run must end with the
uninterrupted run's history, weights and dropout seeds: the same batches
and the same dropout masks (a TT-GRU's dropout and recurrent dropout, a
Dropout layer) after the resume.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

WORKER = pathlib.Path(__file__).with_name("resume_worker.py")
ROOT = pathlib.Path(__file__).parents[2]
RTOL = 1e-6


def _start(pause, kind, args, log):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]
    )
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(pause), kind, json.dumps(args)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait(process, log, timeout=300):
    try:
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, pathlib.Path(log.name).read_text()[-3000:]


def _kill_when_paused(process, run_dir, log, timeout=300):
    """SIGKILLs `process` once it paused (see resume_worker.py)."""
    deadline = time.monotonic() + timeout
    while not (run_dir / "paused").exists():
        assert process.poll() is None, pathlib.Path(log.name).read_text()
        assert time.monotonic() < deadline, "the worker never paused"
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


def _killed_and_resumed(tmp, kind, args_for, whole_run, epochs, k):
    """Runs `kind` killed after epoch k, then resumed, in processes; and
    whole here (`whole_run(run_dir)`) meanwhile. Returns both run dirs."""
    whole, cut = tmp / f"{kind}-whole", tmp / f"{kind}-cut"
    cut.mkdir()
    logs = [open(tmp / f"{kind}-{n}.log", "w") for n in range(2)]
    try:
        killed = _start(k, kind, args_for(cut, epochs, False), logs[0])
        whole_run(whole)
        _kill_when_paused(killed, cut, logs[0])
        state = json.loads((cut / "state.json").read_text())
        assert state["epochs_done"] == k
        resumed = _start(-1, kind, args_for(cut, epochs, True), logs[1])
        _wait(resumed, logs[1])
    finally:
        for log in logs:
            log.close()
    return whole, cut


def _assert_same_run(whole, cut, epochs, k):
    runs = [json.loads((d / "state.json").read_text()) for d in (whole, cut)]
    assert runs[1]["resumed_from"] == [k]
    assert runs[0]["epochs_done"] == runs[1]["epochs_done"] == epochs
    assert runs[0]["history"].keys() == runs[1]["history"].keys()
    for key, values in runs[0]["history"].items():
        np.testing.assert_allclose(
            runs[1]["history"][key], values, rtol=RTOL, err_msg=key
        )
    models = [
        keras.saving.load_model(d / "checkpoint.keras") for d in (whole, cut)
    ]
    for a, b in zip(*(m.get_weights() for m in models)):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=1e-7)
    # The dropout seeds at the end, too.
    seeds = runs[1]["random_state"]["seed_generators"]
    assert seeds == runs[0]["random_state"]["seed_generators"]


def test_killed_array_run_resumes_exactly(tmp_path):
    from tests.experiments import resume_worker

    def args(run_dir, epochs, resume):
        return {"run_dir": str(run_dir), "epochs": epochs, "resume": resume}

    def whole_run(run_dir):
        resume_worker.fit_arrays(str(run_dir), 3, False)

    whole, cut = _killed_and_resumed(tmp_path, "arrays", args, whole_run, 3, 1)
    _assert_same_run(whole, cut, 3, 1)


def test_killed_video_experiment_resumes_exactly(tmp_path, av):
    from ttrnn import cli
    from ttrnn.data.synthetic_layouts import write_hollywood2_like

    data = tmp_path / "hollywood2"
    write_hollywood2_like(
        data,
        num_train=7,
        num_test=3,
        num_frames=4,
        frame_shape=(16, 24),
        seed=1,
    )

    def argv(run_dir, epochs, resume):
        args = ["experiment", "hollywood2", "--data-dir", str(data)]
        args += ["--frame-shape", "16x24", "--frames", "3"]
        args += ["--batch-size", "3", "--epochs", str(epochs)]
        args += ["--dropout", "0.3", "--recurrent-dropout", "0.3"]
        # A cache a run: two runs decode at once.
        cache = tmp_path / f"cache-{run_dir.name}"
        args += ["--cache-dir", str(cache), "--seed", "2"]
        args += ["--verbose", "0", "--no-plots", "--out", str(run_dir)]
        return args + ["--resume"] * resume

    def whole_run(run_dir):
        assert cli.main(argv(run_dir, 2, False)) == 0

    whole, cut = _killed_and_resumed(tmp_path, "cli", argv, whole_run, 2, 1)
    _assert_same_run(whole, cut, 2, 1)
    results = [
        json.loads((d / "results.json").read_text()) for d in (whole, cut)
    ]
    assert results[1]["metrics"] == pytest.approx(
        results[0]["metrics"], rel=RTOL
    )

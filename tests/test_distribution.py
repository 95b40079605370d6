"""Training over several devices and processes (`ttrnn.distribution`).

JAX: two virtual CPU devices (XLA_FLAGS, in a subprocess) and two real
processes on localhost (gloo collectives) train TTDense and TT-GRU
models, through `ttrnn experiment` and through `keras.distribution`
directly; losses and weights must equal the one-device run on the same
global batches, a resumed run included. Torch and TensorFlow: a clear
error for more than one device. The torch DDP test is in
test_distribution_torch.py.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

import ttrnn
from tests.formats import write_spls_like
from ttrnn import cli
from ttrnn import distribution

WORKER = pathlib.Path(__file__).with_name("distributed_worker.py")
ROOT = pathlib.Path(__file__).parents[1]
TOLERANCE = 1e-5

jax_only = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="keras.distribution runs on the JAX backend only",
)


def _env(devices=1):
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    # One thread a process (two processes share the 2 cores of CI).
    env["XLA_FLAGS"] = (
        f"--xla_force_host_platform_device_count={devices} "
        "--xla_cpu_multi_thread_eigen=false"
    )
    path = [str(ROOT / "src"), str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(path + [env.get("PYTHONPATH", "")])
    return env


def _free_port():
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _start(tmp, name, runs, devices=1, checks=False):
    job = tmp / f"{name}.json"
    report = tmp / f"{name}-report.json"
    job.write_text(
        json.dumps({"runs": runs, "out": str(report), "checks": checks})
    )
    log = open(tmp / f"{name}.log", "w")
    process = subprocess.Popen(
        [sys.executable, str(WORKER), str(job)],
        env=_env(devices),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process, report, log


def _finish(started, timeout=480):
    reports = []
    for process, report, log in started:
        try:
            process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
            log.close()
        text = pathlib.Path(log.name).read_text()[-3000:]
        assert process.returncode == 0, text
        reports.append(json.loads(report.read_text()))
    return reports


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every distributed run (~55 s on 2 cores): one subprocess with two
    virtual devices (CLI runs on 1 and 2 devices, and `layer_checks`),
    then two processes of one device each."""
    if keras.backend.backend() != "jax":
        pytest.skip("keras.distribution runs on the JAX backend only")
    pytest.importorskip("av")
    from ttrnn.data.synthetic_layouts import write_hollywood2_like

    tmp = tmp_path_factory.mktemp("distributed")
    write_spls_like(tmp / "spls", "mice", {"train": 50, "valid": 10}, 145, 83)
    write_hollywood2_like(
        tmp / "hollywood2",
        num_train=8,
        num_test=4,
        num_frames=4,
        frame_shape=(16, 24),
        seed=1,
    )
    common = ["--verbose", "0", "--no-plots"]

    def mice(out, *extra):
        # 50 rows in batches of 7: the last, of one row, padded on 2.
        data = ["--data-dir", str(tmp / "spls"), "--batch-size", "7"]
        args = ["experiment", "mice", *data, "--epochs", "2", *common]
        return [*args, "--out", str(tmp / out), *extra]

    def gru(out, epochs, *extra):
        args = ["experiment", "hollywood2", "--data-dir"]
        args += [str(tmp / "hollywood2"), "--frame-shape", "16x24"]
        args += ["--frames", "3", "--batch-size", "4", "--epochs", epochs]
        args += ["--cache-dir", str(tmp / "cache"), *common]
        return [*args, "--out", str(tmp / out), *extra]

    def resumed(out, *extra):  # killed after epoch 1, resumed to 2
        return [gru(out, "1", *extra), gru(out, "2", "--resume", *extra)]

    virtual = [
        mice("mice-0"),  # no distribution
        mice("mice-1", "--devices", "1"),
        mice("mice-2", "--devices", "2"),
        *resumed("gru-1", "--devices", "1"),
        *resumed("gru-2", "--devices", "2"),
    ]
    # One after the other: on 2 cores, faster than all three at once.
    reports = _finish([_start(tmp, "virtual", virtual, 2, checks=True)])
    started = []
    port = _free_port()
    for index in range(2):
        dist = ["--coordinator", f"localhost:{port}", "--num-processes", "2"]
        dist += ["--process-id", str(index)]
        both = [mice("mice-p", *dist), *resumed("gru-p", *dist)]
        started.append(_start(tmp, f"process{index}", both))
    reports += _finish(started)
    for report in reports:
        assert set(report["statuses"]) == {0}
    return tmp, reports[0]


def _history(run_dir):
    result = json.loads((run_dir / "results.json").read_text())
    (history,) = result["history"].values()
    return result, history


def _compare(one, other):
    """Max abs difference of the losses and of the checkpoint weights."""
    result, history = _history(one)
    other_result, other_history = _history(other)
    losses = np.abs(np.subtract(history["loss"], other_history["loss"])).max()
    weights = [
        keras.saving.load_model(d / "checkpoint.keras").get_weights()
        for d in (one, other)
    ]
    diff = max(float(np.abs(a - b).max()) for a, b in zip(*weights))
    return float(losses), diff, other_result


@jax_only
@pytest.mark.parametrize("model", ["mice", "gru"])
def test_two_devices_equal_one(runs, model):
    """TTDense (mice) and a resumed TT-GRU run (hollywood2) on two
    virtual devices: the one-device losses and weights."""
    tmp, _ = runs
    losses, weights, result = _compare(tmp / f"{model}-1", tmp / f"{model}-2")
    assert losses < TOLERANCE and weights < TOLERANCE
    topology = result["config"]["topology"]
    assert topology["devices"] == 2 and topology["processes"] == 1
    assert topology["distribution"] == "DataParallel"
    if model == "gru":
        assert result["resumed_from"] == [1]
        assert len(result["history"]["tt-gru"]["loss"]) == 2


@jax_only
def test_one_data_path(runs):
    """Arrays take one path with a distribution (`--devices 1`) or none:
    the same batches, the same losses and weights."""
    tmp, _ = runs
    losses, weights, result = _compare(tmp / "mice-0", tmp / "mice-1")
    assert losses < TOLERANCE and weights < TOLERANCE
    assert result["config"]["topology"]["distribution"] == "DataParallel"
    none = _history(tmp / "mice-0")[0]["config"]["topology"]
    assert none["distribution"] is None


@jax_only
@pytest.mark.parametrize("model", ["mice", "gru"])
def test_two_processes_equal_one_device(runs, model):
    """Two processes on localhost (gloo): the one-device losses and
    weights; process 0 alone wrote the run's files."""
    tmp, _ = runs
    losses, weights, result = _compare(tmp / f"{model}-1", tmp / f"{model}-p")
    assert losses < TOLERANCE and weights < TOLERANCE
    topology = result["config"]["topology"]
    assert topology["processes"] == 2 and topology["process_id"] == 0
    assert topology["devices"] == 2 and topology["local_devices"] == 1
    files = {p.name for p in (tmp / f"{model}-p").iterdir()}
    assert files == {"checkpoint.keras", "state.json", "results.json"}


@jax_only
@pytest.mark.parametrize(
    "kind, how", [("dense", "data"), ("gru", "data"), ("dense", "model")]
)
def test_keras_distributions(runs, kind, how):
    """keras.distribution directly: DataParallel, and ModelParallel with
    `layout_map` (cores replicated, batch sharded), equal one device; the
    planner plans for each device's half of the batch ('measure' too)."""
    _, report = runs
    checks = report[f"{kind}_{how}"]
    assert checks["loss"] < TOLERANCE and checks["weights"] < TOLERANCE
    alone = dict(map(tuple, checks["planned_alone"]))
    shared = dict(map(tuple, checks["planned"]))
    assert shared == {k: v // 2 for k, v in alone.items()}
    if kind == "dense":
        assert set(shared) == {"auto", "measure"}


@jax_only
def test_layout_map_replicates_cores(runs):
    _, report = runs
    layouts = report["layout_map"]
    assert len(layouts) == 3
    assert all(axes == [None] * 4 for axes in layouts.values())


@jax_only
def test_initialize_checks_the_devices():
    try:
        topology = distribution.initialize(devices=1)
        assert topology["devices"] == 1 and topology["batch_shards"] == 1
        assert distribution.batch_shards() == 1 and distribution.is_chief()
        with pytest.raises(distribution.DistributionError, match="devices"):
            distribution.initialize(devices=64)
    finally:
        keras.distribution.set_distribution(None)


@jax_only
def test_measure_refuses_several_processes(monkeypatch):
    from ttrnn.tt.contraction import contract

    monkeypatch.setattr(contract, "process_count", lambda: 2)
    with pytest.raises(ValueError, match="several processes use 'auto'"):
        ttrnn.tt.choose_plan((2, 3), (2, 2), 2, 8, strategy="measure")


@pytest.mark.skipif(
    keras.backend.backend() == "jax", reason="the error of other backends"
)
def test_several_devices_need_jax(capsys):
    with pytest.raises(distribution.DistributionError, match="JAX backend"):
        distribution.initialize(devices=2)
    status = cli.main(["experiment", "mice", "--devices", "2"])
    assert status == 2
    assert "needs the JAX backend" in capsys.readouterr().err
    assert distribution.initialize(devices=1)["devices"] == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(devices=0), "`devices` must be an int >= 1"),
        (dict(num_processes=True), "`num_processes` must be an int"),
        (dict(process_id=1), "`process_id` needs `num_processes` > 1"),
    ],
)
def test_arguments_are_checked(kwargs, message):
    with pytest.raises(distribution.DistributionError, match=message):
        distribution.initialize(**kwargs)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--devices", "0"], "positive number of devices"),
        (["--coordinator", "host"], "HOST:PORT"),
        (["--process-id", "-1"], "process-id"),
    ],
)
def test_cli_checks_the_options(argv, message, capsys):
    with pytest.raises(SystemExit):
        cli.main(["experiment", "mice", *argv])
    assert message in capsys.readouterr().err


@pytest.mark.gpu
def test_gpu_precision_and_cost_model(rng):
    """On a GPU: the GPU cost constants, and a TT matmul within float32
    rounding of float64 NumPy (TF32 is off, see conftest)."""
    from ttrnn.tt.contraction import cost

    assert cost.get_cost_model() == cost.default_cost_model(
        keras.backend.backend(), "gpu"
    )
    cores = [
        rng.standard_normal((1, 8, 8, 4)).astype("float32"),
        rng.standard_normal((4, 8, 8, 1)).astype("float32"),
    ]
    x = rng.standard_normal((256, 64)).astype("float32")
    y = keras.ops.convert_to_numpy(ttrnn.tt.matmul(x, cores))
    w = np.einsum("aijb,bklc->ikjl", *[c.astype("float64") for c in cores])
    np.testing.assert_allclose(y, x @ w.reshape(64, 64), rtol=1e-4, atol=1e-4)

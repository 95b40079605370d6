"""`ttrnn experiment`'s devices: virtual CPU devices asked of XLA before
JAX starts (`ttrnn.cli_distributed.host_devices`): N for `--devices N`,
one a core for the video TT-RNNs on JAX with `SPLIT_BY_DEFAULT`; a
two-device run's losses against one device's."""

import argparse
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from ttrnn import cli_distributed
from ttrnn.experiments import registry

ROOT = pathlib.Path(__file__).parents[1]
COUNT = "--xla_force_host_platform_device_count"


def _args(devices=None, model=None, coordinator=None):
    return argparse.Namespace(
        devices=devices,
        model=model,
        coordinator=coordinator,
        num_processes=None,
        process_id=None,
    )


@pytest.fixture
def flags(monkeypatch):
    """XLA_FLAGS as the test leaves it (unset at the start), 2 cores."""
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.delenv("KERAS_DISTRIBUTION_NUM_PROCESSES", raising=False)
    monkeypatch.setattr(cli_distributed, "_usable_cores", lambda: 2)
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    monkeypatch.setattr(cli_distributed, "SPLIT_BY_DEFAULT", True)
    return lambda: os.environ.get("XLA_FLAGS")


def test_video_tt_rnns_get_a_device_a_core(flags):
    chosen = cli_distributed.host_devices(
        _args(), [registry.get("ucf11")], "jax"
    )
    assert chosen == 2
    assert flags() == f"{COUNT}=2 --xla_cpu_multi_thread_eigen=false"


@pytest.mark.parametrize(
    "args, name, backend",
    [
        (_args(), "ucf11", "torch"),  # JAX only
        (_args(), "ucf11", "tensorflow"),
        (_args(), "mice", "jax"),  # not a video experiment
        (_args(model=["gru"]), "ucf11", "jax"),  # Keras' GRU
        (_args(model=["tt-gru", "tt-mlp"]), "ucf11", "jax"),
        (_args(devices=1), "ucf11", "jax"),  # turned off
        (_args(coordinator="localhost:1234"), "ucf11", "jax"),
    ],
)
def test_no_devices_by_default_elsewhere(flags, args, name, backend):
    chosen = cli_distributed.host_devices(args, [registry.get(name)], backend)
    assert chosen is None
    assert flags() is None


def test_devices_option_asks_for_them(flags):
    args = _args(devices=3)
    chosen = cli_distributed.host_devices(args, [registry.get("mice")], "jax")
    assert chosen is None
    assert flags() == f"{COUNT}=3 --xla_cpu_multi_thread_eigen=false"


def test_the_users_count_stays(flags, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", f"{COUNT}=4")
    chosen = cli_distributed.host_devices(
        _args(), [registry.get("ucf11")], "jax"
    )
    assert chosen is None and flags() == f"{COUNT}=4"


def test_a_started_jax_keeps_its_devices(flags, monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", object())
    for args in (_args(), _args(devices=2)):
        chosen = cli_distributed.host_devices(
            args, [registry.get("ucf11")], "jax"
        )
        assert chosen is None and flags() is None


def test_no_split_unless_chosen(flags, monkeypatch):
    monkeypatch.setattr(cli_distributed, "SPLIT_BY_DEFAULT", False)
    chosen = cli_distributed.host_devices(
        _args(), [registry.get("ucf11")], "jax"
    )
    assert chosen is None and flags() is None


def test_one_core_keeps_one_device(flags, monkeypatch):
    monkeypatch.setattr(cli_distributed, "_usable_cores", lambda: 1)
    assert (
        cli_distributed.host_devices(_args(), [registry.get("ucf11")], "jax")
        is None
    )
    assert flags() is None


def _experiment(tmp, out, *extra):
    """`ttrnn experiment hollywood2` (a TT-GRU on generated clips) in a
    fresh process without XLA_FLAGS; its results.json."""
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("XLA_FLAGS", None)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), env.get("PYTHONPATH", "")]
    )
    argv = [sys.executable, "-m", "ttrnn", "experiment", "hollywood2"]
    argv += ["--data-dir", str(tmp / "data"), "--frame-shape", "16x24"]
    argv += ["--frames", "3", "--batch-size", "4", "--epochs", "2"]
    argv += ["--cache-dir", str(tmp / "cache"), "--verbose", "0"]
    argv += ["--no-plots", "--out", str(tmp / out), *extra]
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp / out / "results.json").read_text())


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="several devices need JAX"
)
def test_two_devices_without_flags_have_one_devices_losses(tmp_path):
    """`--devices 2` asks XLA for the two CPU devices itself."""
    pytest.importorskip("av")
    from ttrnn.data.synthetic_layouts import write_hollywood2_like

    write_hollywood2_like(
        tmp_path / "data",
        num_train=8,
        num_test=4,
        num_frames=4,
        frame_shape=(16, 24),
        seed=1,
    )
    two = _experiment(tmp_path, "two", "--devices", "2")
    one = _experiment(tmp_path, "one")
    topology = two["config"]["topology"]
    assert topology["devices"] == 2
    assert topology["distribution"] == "DataParallel"
    assert one["config"]["topology"]["devices"] == 1
    (losses,) = [h["loss"] for h in two["history"].values()]
    (reference,) = [h["loss"] for h in one["history"].values()]
    np.testing.assert_allclose(losses, reference, rtol=1e-5)

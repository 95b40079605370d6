"""The TT-RNNs' own split of the batch over devices (JAX).

Under a `keras.distribution` that splits the batch, a TT-RNN runs its
input map of uint8 frames and its recurrence on each device's rows
(`ttrnn.backends.batch_sharded`): the loss and the gradients equal the
one-device ones, and the compiled step sums the gradients over the
devices once, outside every loop (XLA's own partitioning gathered the
map's states in each time chunk and summed the recurrent kernel's
gradient at every time step). Two virtual CPU devices, in a subprocess
(tests/shards_worker.py).
"""

import json
import os
import pathlib
import subprocess
import sys

import keras
import pytest

from ttrnn import backends

ROOT = pathlib.Path(__file__).parents[1]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if keras.backend.backend() != "jax":
        pytest.skip("keras.distribution runs on the JAX backend only")
    out = tmp_path_factory.mktemp("shards") / "report.json"
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    env["XLA_FLAGS"] = (
        "--xla_force_host_platform_device_count=2 "
        "--xla_cpu_multi_thread_eigen=false"
    )
    path = [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(path)
    worker = [sys.executable, str(ROOT / "tests" / "shards_worker.py")]
    done = subprocess.run(
        [*worker, str(out)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_two_devices_equal_one(report, kind):
    """Loss and gradients of a split batch: the one-device ones (uint8
    frames in time chunks, masking, input and recurrent dropout)."""
    one, two = report[kind]["losses"]
    assert abs(one - two) <= 1e-6 * abs(one)
    assert report[kind]["grad_diff"] <= 1e-5 * report[kind]["grad_scale"]


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_gradients_summed_once(report, kind):
    """The devices exchange nothing inside the map's chunk loop or the
    recurrence: their collectives are all in the entry computation."""
    entry, in_loops = report[kind]["collectives"]
    assert in_loops == 0 and entry >= 1


def test_one_device_runs_the_function_itself():
    """Without a distribution (and on every backend), `batch_sharded`
    is a plain call."""
    x = keras.ops.ones((4, 3))
    calls = []

    def fn(rows, scale):
        calls.append(tuple(rows.shape))
        return rows * scale

    out = backends.batch_sharded(fn, x, [2.0], [None])
    assert not backends.splits_batch(x)
    assert calls == [(4, 3)]
    assert keras.ops.convert_to_numpy(out).tolist() == [[2.0] * 3] * 4

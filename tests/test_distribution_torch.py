"""Torch users' own training loops: a model of ttrnn layers is a
`torch.nn.Module`, and trains under torch's DistributedDataParallel
(gloo, two processes on localhost) with the gradients of one process on
the whole batch (docs/distributed.md)."""

import os
import pathlib
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

WORKER = pathlib.Path(__file__).with_name("ddp_worker.py")
ROOT = pathlib.Path(__file__).parents[1]


@pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="torch's DistributedDataParallel: the torch backend",
)
def test_ddp_gradients_equal_one_process(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(
        os.environ,
        KERAS_BACKEND="torch",
        OMP_NUM_THREADS="1",
    )
    if sys.platform.startswith("linux"):
        env["GLOO_SOCKET_IFNAME"] = "lo"  # loopback, whatever the hostname says
    path = [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(path)
    jobs = [(0, 1), (0, 2), (1, 2)]
    processes = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(rank), str(world), str(port)]
            + [str(tmp_path / f"{rank}-{world}.npz")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank, world in jobs
    ]
    try:
        outputs = [process.communicate(timeout=240)[0] for process in processes]
    except subprocess.TimeoutExpired as error:
        stuck = [
            process.args[2:4] for process in processes if process.poll() is None
        ]
        for process in processes:
            process.kill()
        tails = [process.communicate()[0][-1500:] for process in processes]
        raise AssertionError(
            f"DDP workers (rank, world) {stuck} hung; output:\n"
            + "\n".join(tails)
        ) from error
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    alone, *ranks = [np.load(tmp_path / f"{r}-{w}.npz") for r, w in jobs]
    for result in ranks:
        for key in ("grads", "weights"):
            np.testing.assert_allclose(result[key], alone[key], atol=1e-6)
    # Each rank's loss is its half's; their mean is the whole batch's.
    mean = (ranks[0]["losses"] + ranks[1]["losses"]) / 2
    np.testing.assert_allclose(mean, alone["losses"], rtol=1e-5)

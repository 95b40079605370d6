"""A process of the torch DistributedDataParallel test.

    python tests/ddp_worker.py RANK WORLD PORT OUT.npz

Trains a TT-GRU model (a Keras model on torch is a `torch.nn.Module`)
for two SGD steps on 8 sequences: alone (WORLD 1) or as rank RANK of
WORLD processes under `DistributedDataParallel` (gloo), each on its rows
of the batch. Writes the last step's gradients, the final weights and
the losses to OUT.npz.
"""

import ttrnn  # noqa: I001  (before keras; the caller sets KERAS_BACKEND)
import datetime
import os
import sys

import keras
import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def main(rank, world, port, out):
    assert keras.backend.backend() == "torch"
    # One thread a process: three processes share the machine's cores.
    torch.set_num_threads(1)
    model = keras.Sequential(
        [
            keras.Input((3, 24)),
            ttrnn.layers.TTGRU(
                tt_input_shape=(2, 3, 4), tt_output_shape=(2, 2, 2), tt_ranks=2
            ),
            keras.layers.Dense(3),
        ]
    )
    assert isinstance(model, torch.nn.Module)
    rng = np.random.default_rng(0)
    # The same start in every process, without keras.utils.set_random_seed
    # (which would import TensorFlow where it is installed).
    model.set_weights(
        [0.3 * rng.standard_normal(w.shape) for w in model.get_weights()]
    )
    x = torch.tensor(rng.standard_normal((8, 3, 24)).astype("float32"))
    y = torch.tensor(rng.integers(0, 3, 8))
    net, rows = model, slice(None)
    if world > 1:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=world,
            # A lost peer is an error within a minute, not a hang.
            timeout=datetime.timedelta(seconds=60),
        )
        net = DistributedDataParallel(model)
        rows = slice(rank * 8 // world, (rank + 1) * 8 // world)
    weights = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(weights, lr=0.1)
    losses = []
    for _ in range(2):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x[rows]), y[rows])
        loss.backward()  # DDP averages the gradients over the processes
        optimizer.step()
        losses.append(float(loss.detach()))
    np.savez(
        out,
        losses=np.array(losses),
        grads=np.concatenate([p.grad.numpy().ravel() for p in weights]),
        weights=np.concatenate([p.detach().numpy().ravel() for p in weights]),
    )
    if world > 1:
        dist.barrier()  # neither process leaves while the other still talks
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    rank, world, port = (int(v) for v in sys.argv[1:4])
    code = main(rank, world, port, sys.argv[4])
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: at interpreter exit, the process that hosted the
    # rendezvous store can wait forever on gloo's threads (seen in CI, torch
    # 2.13); the results are written and the group is closed by now.
    os._exit(code)

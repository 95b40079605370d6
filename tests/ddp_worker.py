"""A process of the torch DistributedDataParallel test.

    python tests/ddp_worker.py RANK WORLD PORT OUT.npz

Trains a TT-GRU model (a Keras model on torch is a `torch.nn.Module`)
for two SGD steps on 8 sequences: alone (WORLD 1) or as rank RANK of
WORLD processes under `DistributedDataParallel` (gloo), each on its rows
of the batch. Writes the last step's gradients, the final weights and
the losses to OUT.npz.
"""

import ttrnn  # noqa: I001  (before keras; the caller sets KERAS_BACKEND)
import sys

import keras
import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def main(rank, world, port, out):
    assert keras.backend.backend() == "torch"
    keras.utils.set_random_seed(0)
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
    x = torch.tensor(rng.standard_normal((8, 3, 24)).astype("float32"))
    y = torch.tensor(rng.integers(0, 3, 8))
    net, rows = model, slice(None)
    if world > 1:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://localhost:{port}",
            rank=rank,
            world_size=world,
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
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    rank, world, port = (int(v) for v in sys.argv[1:4])
    sys.exit(main(rank, world, port, sys.argv[4]))

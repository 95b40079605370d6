"""Worker of tests/test_distribution_shards.py (JAX, two virtual devices).

For TT-RNN models of uint8 frames (masking, input and recurrent
dropout, the TT-GRU and the TT-LSTM), computes the training loss and its
gradients once on one device and once under a `DataParallel` over two
devices (the batch split), and the compiled step's collectives; writes
them as JSON to the path in argv[1].
"""

import json
import re
import sys

import jax
import keras
import numpy as np

import ttrnn
from ttrnn import backends

# Time chunks of the uint8 map: 2 frames of the batch of 4 (a `lax.scan`
# over 3 chunks), on one device or each of two.
backends.MAX_INTEGER_CHUNK_VALUES = 2 * 4 * 96


COLLECTIVE = (
    r"\s(all-reduce|all-gather|all-to-all|collective-permute"
    r"|reduce-scatter)(-start)?\("
)


def _model(kind):
    keras.utils.set_random_seed(3)
    layer = {"gru": ttrnn.TTGRU, "lstm": ttrnn.TTLSTM}[kind]
    frames = keras.Input((6, 96), dtype="uint8")
    x = keras.layers.Masking()(frames)
    x = layer(
        (4, 4, 6),
        (2, 2, 2),
        tt_ranks=3,
        dropout=0.25,
        recurrent_dropout=0.25,
        input_scale=1 / 255,
        input_offset=-0.5,
        seed=5,
    )(x)
    return keras.Model(frames, keras.layers.Dense(3)(x))


def _data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (4, 6, 96), dtype=np.uint8)
    x[1, :2] = 0  # a masked start (a shorter clip)
    x[3, :4] = 0
    y = rng.integers(0, 3, 4).astype("int32")
    return x, y


def _loss_and_grads(model, x, y):
    """The mean cross-entropy (training mode) and its gradients."""
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]

    def compute(trainable, x, y):
        logits, _ = model.stateless_call(trainable, frozen, x, training=True)
        return loss(y, logits)

    # a new function each time: the distribution is read when tracing
    step = jax.jit(jax.value_and_grad(lambda *a: compute(*a)))
    value, grads = step(trainable, x, y)
    hlo = step.lower(trainable, x, y).compile().as_text()
    return float(value), [np.asarray(g) for g in grads], hlo


def _collectives(hlo):
    """The collectives of a compiled module: (in its entry computation,
    in any other computation, e.g. a loop body)."""
    entry, other, inside_entry = 0, 0, False
    for line in hlo.splitlines():
        if re.match(r"^\S", line):  # a computation's header or its end
            inside_entry = line.startswith("ENTRY")
        if re.search(COLLECTIVE, line):
            if inside_entry:
                entry += 1
            else:
                other += 1
    return entry, other


def main(out):
    devices = jax.devices()
    assert len(devices) == 2, devices
    x, y = _data()
    report = {}
    for kind in ("gru", "lstm"):
        model = _model(kind)
        one = _loss_and_grads(model, x, y)
        dist = keras.distribution.DataParallel(devices=devices)
        with dist.scope():
            sharding = dist.get_data_layout(x.shape).backend_layout
            two = _loss_and_grads(
                model,
                jax.device_put(x, sharding),
                jax.device_put(y, dist.get_data_layout(y.shape).backend_layout),
            )
        report[kind] = {
            "losses": [one[0], two[0]],
            "grad_diff": max(
                float(np.abs(a - b).max()) for a, b in zip(one[1], two[1])
            ),
            "grad_scale": max(float(np.abs(a).max()) for a in one[1]),
            "collectives": _collectives(two[2]),
        }
    with open(out, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(sys.argv[1])

"""TTDense vs keras.layers.Dense on cases A-D, one backend per process.

Usage: KERAS_BACKEND=torch python benchmarks/bench_dense.py [--cases ABCD]
       [--repeats 7] [--sweep] [--json out.json]
       [--strategies auto,measure,ltr[2,2]/batch_last]

Forward and forward+backward (gradients of the weights; x needs none, as
for a first layer) of a TTDense with tt_strategy "auto" (the planner),
the old core-by-core orders and the dense rebuild, against Dense with the
same input/output sizes. JAX runs under `jax.jit`, TensorFlow under
`tf.function`, torch eagerly. Runs are interleaved; medians reported.
"""

import argparse
import json
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402, I001 - sets thread counts before backends load

import keras  # noqa: E402
import numpy as np  # noqa: E402
from common import CASES  # noqa: E402
from common import dense_macs  # noqa: E402
from common import interleaved  # noqa: E402
from common import ranks_of  # noqa: E402

from ttrnn import TTDense  # noqa: E402
from ttrnn.tt import contraction  # noqa: E402
from ttrnn.tt.contraction import cost  # noqa: E402

common.set_backend_threads()

BACKEND = keras.backend.backend()


def step_fns(layer, x, g):
    """(forward, forward+backward) callables for a built layer.

    The loss is sum(y * g) for a fixed random g: with sum(y) XLA turns
    the weight gradient of a Dense layer into a column sum of x.
    """
    if BACKEND == "jax":
        import jax

        params = [v.value for v in layer.trainable_variables]

        @jax.jit
        def fwd(p, x_):
            return layer.stateless_call(p, [], x_)[0]

        # value_and_grad: with the gradients alone XLA drops Dense's
        # forward GEMM (its weight gradient is x^T g), while the TT
        # layer's backward needs its forward states: a training step
        # needs the loss, so both pay the forward.
        @jax.jit
        def grad(p, x_):
            return jax.value_and_grad(
                lambda q: (layer.stateless_call(q, [], x_)[0] * g).sum()
            )(p)

        return (
            lambda: jax.block_until_ready(fwd(params, x)),
            lambda: jax.block_until_ready(grad(params, x)),
        )
    if BACKEND == "tensorflow":
        import tensorflow as tf

        variables = layer.trainable_variables

        @tf.function
        def fwd(x_):
            return layer(x_)

        @tf.function
        def grad(x_):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x_) * g)
            # The loss is returned too (see the JAX branch).
            return loss, tape.gradient(loss, variables)

        def run_grad():
            loss, grads = grad(x)
            return loss.numpy(), [v.numpy() for v in grads]

        return lambda: fwd(x).numpy()[:0], run_grad
    import torch

    def grad():
        for v in layer.trainable_variables:
            v.value.grad = None
        (layer(x) * g).sum().backward()

    def fwd():
        with torch.no_grad():
            layer(x)

    return fwd, grad


def to_backend(x):
    if BACKEND == "torch":
        import torch

        return torch.from_numpy(x)
    return keras.ops.convert_to_tensor(x)


def layers_for(ins, outs, rank, strategies):
    units = int(np.prod(outs))
    out = {"Dense": keras.layers.Dense(units)}
    for s in strategies:
        out[f"TT {s}"] = TTDense(ins, outs, ranks_of(ins, rank), tt_strategy=s)
    return out


def bench_case(name, ins, outs, rank, batch, repeats, strategies):
    x_np = (
        np.random.default_rng(0)
        .standard_normal((batch, int(np.prod(ins))))
        .astype("float32")
    )
    x = to_backend(x_np)
    g = to_backend(
        np.random.default_rng(1)
        .standard_normal((batch, int(np.prod(outs))))
        .astype("float32")
    )
    layers = layers_for(ins, outs, rank, strategies)
    fwd, grad = {}, {}
    for key, layer in layers.items():
        layer(x)  # build
        fwd[key], grad[key] = step_fns(layer, x, g)
    t_fwd = interleaved(fwd, repeats)
    t_grad = interleaved(grad, repeats)
    ranks = ranks_of(ins, rank)
    rows = []
    for key in layers:
        plan = None
        if key.startswith("TT "):
            plan = contraction.choose_plan(ins, outs, ranks, batch, key[3:])
        if plan is None:
            macs = dense_macs(ins, outs, batch)
        else:
            macs = cost.plan_flops(plan, ins, outs, ranks, batch)
        rows.append(
            {
                "case": name,
                "backend": BACKEND,
                "impl": key,
                "batch": batch,
                "fwd_ms": 1e3 * t_fwd[key],
                "fwdbwd_ms": 1e3 * t_grad[key],
                # forward+backward of the weights: 2 GEMMs' worth
                "gflops": 2 * 2 * macs / t_grad[key] / 1e9,
                "plan": plan.name if plan is not None else "",
            }
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="ABCD")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--json", default=None)
    parser.add_argument(
        "--strategies",
        default="auto,measure,ltr,dense",
        help="TT strategies or plan names (ltr[2,2]/batch_last), commas",
    )
    args = parser.parse_args(argv)
    # Commas inside a plan name's brackets do not separate.
    strategies = re.split(r",(?![^\[]*\])", args.strategies)
    rows = []
    for name in args.cases:
        ins, outs, rank, batch = CASES[name]
        rows += bench_case(
            name, ins, outs, rank, batch, args.repeats, strategies
        )
        for r in rows[-len(strategies) - 1 :]:
            print(
                f"{BACKEND:10s} {r['case']} {r['impl']:10s} "
                f"fwd {r['fwd_ms']:8.2f} ms  fwd+bwd {r['fwdbwd_ms']:8.2f} ms"
                f"  {r['plan']}",
                flush=True,
            )
    if args.sweep:
        ins, outs, rank, _ = CASES["A"]
        for batch in (1, 4, 16, 64, 256, 1024):
            rows += bench_case(
                f"A@{batch}", ins, outs, rank, batch, args.repeats, ["auto"]
            )
            print(
                f"{BACKEND:10s} sweep B={batch:5d} "
                f"Dense {rows[-2]['fwdbwd_ms']:8.2f} "
                f"TT {rows[-1]['fwdbwd_ms']:8.2f} ms  {rows[-1]['plan']}",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()

"""TTEmbedding and TTConv2D against Keras' layers and TensorLy-Torch.

Usage: python benchmarks/bench_layers.py
       [--cases embedding,emb-paths,conv,conv-input-grad] [--repeats 5]
       [--json out.json]

One process, torch backend, so that the Keras layers, the ttrnn layers
and TensorLy-Torch's (`pip install "ttrnn[bench]"`) run side by side with
one optimizer (torch.optim.Adam over each layer's weights):

- embedding: vocabulary 1,000,000, dim 256, a batch of 4,096 random ids,
  one step = forward + backward + Adam update, TT rank 16; TTEmbedding
  with its lookup path chosen on this CPU ("auto") and with each path
  forced ("chunked", "autodiff", "grouped"); emb-paths (not run by
  default): the same without the dense table, ratios against
  TensorLy-Torch's step;
- conv: 256 -> 256 channels, 3x3, 32x32 maps, batch 32, forward +
  backward, ranks giving at most 1/4 of the dense multiply-adds;
  conv-input-grad (not run by default): the same with the input's
  gradient too, as for any layer but a network's first.

Prints the median step time of each (interleaved rounds in random order;
in the embedding case the TT layers run 5 times in a row in each round,
the dense table's step of seconds once), its ratio to the dense Keras
layer, and the weights + Adam state. A peer that fails to
import or run is skipped and named.
"""

import argparse
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "torch"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402, I001 - sets thread counts before backends load

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import interleaved  # noqa: E402
from ttrnn import TTConv2D  # noqa: E402
from ttrnn import TTEmbedding  # noqa: E402
from ttrnn.summary import layer_costs  # noqa: E402

common.set_backend_threads()

VOCAB, DIM, IDS, EMB_RANK = 1_000_000, 256, 4096, 16
# 256 -> 256 channels as (4, 8, 8) modes, ranks (1, 6, 6, 2, 1): the
# channels path costs 23.0 % of the dense conv's multiply-adds
# (`ttrnn.summary`'s count at batch 32, which `bench_conv` prints).
CONV = dict(filters=256, kernel_size=3, padding="same")
# 256 r + 3 r^2 + 3 r^2 + r 256 multiply-adds a pixel at r = 97: 18 % of
# the dense conv's, near our channels path's 23.0 %.
PEER_SAME_MACS_RANK = 97
CONV_MODES, CONV_RANKS, CONV_BATCH, SIDE = (4, 8, 8), (1, 6, 6, 2, 1), 32, 32
INNER = 5


def _params(module):
    """The torch Parameters of a Keras layer or a torch module."""
    if isinstance(module, keras.layers.Layer):
        return [v.value for v in module.trainable_variables]
    return list(module.parameters())


def _step(module, x, g_out, optimizer=True):
    """One forward + backward (+ Adam update) of `module` on `x`."""
    params = _params(module)
    adam = torch.optim.Adam(params, lr=1e-3) if optimizer else None

    def step():
        x.grad = None
        for p in params:
            p.grad = None
        (module(x) * g_out).sum().backward()
        if adam is not None:
            adam.step()

    return step, params


def embedding_layers(dense=True):
    out = {}
    if dense:
        table = keras.layers.Embedding(VOCAB, DIM)
        table.build()
        out["keras Embedding"] = table
    layer = TTEmbedding(VOCAB, DIM, tt_ranks=EMB_RANK)
    layer.build()
    out["ttrnn TTEmbedding"] = layer
    # Each lookup path forced: the comparison "auto" times on this CPU.
    for path in ("chunked", "autodiff", "grouped"):
        layer = TTEmbedding(VOCAB, DIM, tt_ranks=EMB_RANK, tt_lookup=path)
        layer.build()
        out[f"ttrnn TTEmbedding {path}"] = layer
    try:
        import tltorch

        out["tltorch FactorizedEmbedding"] = tltorch.FactorizedEmbedding(
            VOCAB,
            DIM,
            n_tensorized_modes=3,
            factorization="blocktt",
            rank=EMB_RANK,
        )
    except Exception as e:  # noqa: BLE001 - report any failure
        out["tltorch FactorizedEmbedding"] = f"{type(e).__name__}: {e}"
    return out


def bench_embedding(repeats):
    rng = np.random.default_rng(0)
    ids = torch.as_tensor(rng.integers(0, VOCAB, size=IDS))
    g_out = torch.randn(IDS, DIM)
    # The dense table's step takes seconds: more samples of the TT ones
    # without more rounds of it.
    return _bench(
        embedding_layers(), ids, g_out, repeats, "embedding", inner=INNER
    )


def bench_embedding_paths(repeats):
    """The TT and peer steps of `bench_embedding` without the dense
    table's (seconds a step on a loaded machine): more rounds in the
    time, ratios against TensorLy-Torch's step."""
    rng = np.random.default_rng(0)
    ids = torch.as_tensor(rng.integers(0, VOCAB, size=IDS))
    g_out = torch.randn(IDS, DIM)
    layers = embedding_layers(dense=False)
    return _bench(layers, ids, g_out, repeats, "emb-paths", inner=INNER)


def conv_layers():
    out = {}
    args = dict(CONV, data_format="channels_first")  # torch's own layout
    out["keras Conv2D"] = keras.layers.Conv2D(**args)
    for path in ("auto", "channels", "dense"):
        out[f"ttrnn TTConv2D {path}"] = TTConv2D(
            tt_input_shape=CONV_MODES,
            tt_output_shape=CONV_MODES,
            tt_ranks=CONV_RANKS,
            tt_strategy=path,
            **args,
        )
    # The kernel layout: TensorLy-Torch's TT of (C, kh, kw, F), channels
    # unsplit, at the peer's ranks (then the same weights too).
    for rank in (CONV_RANKS[1], PEER_SAME_MACS_RANK):
        out[f"ttrnn TTConv2D kernel r={rank}"] = TTConv2D(
            tt_ranks=rank, tt_layout="kernel", **args
        )
    for layer in out.values():
        layer.build((None, 256, SIDE, SIDE))
    try:
        import tltorch

        # TensorLy-Torch factorises (F, C, kh, kw) itself (no channel
        # modes): rank 6 as ours, and the rank whose 1x1 - kh - kw - 1x1
        # chain costs the multiply-adds of our channels path.
        for rank in (CONV_RANKS[1], PEER_SAME_MACS_RANK):
            peer = tltorch.FactorizedConv(
                256,
                256,
                3,
                order=2,
                padding=1,
                factorization="tt",
                rank=(1, rank, rank, rank, 1),
                implementation="factorized",
            )
            # FactorizedConv leaves its factors and bias uninitialised
            # (torch.empty: NaNs, infinities and denormals from freed
            # memory: the step time moved with them from run to run);
            # its own initialisation, N(0, 0.02) for the whole kernel.
            peer.reset_parameters()
            out[f"tltorch FactorizedConv tt r={rank}"] = peer
    except Exception as e:  # noqa: BLE001 - report any failure
        out["tltorch FactorizedConv"] = f"{type(e).__name__}: {e}"
    return out


def bench_conv(repeats, input_grad=False):
    # input_grad: x needs its gradient too, as in any layer but a
    # network's first (TensorLy-Torch's chain then pays for its first
    # 1x1's input gradient; ours computes it either way).
    x = torch.randn(CONV_BATCH, 256, SIDE, SIDE, requires_grad=input_grad)
    g_out = torch.randn(CONV_BATCH, 256, SIDE, SIDE)
    layers = conv_layers()
    model = keras.Sequential(
        [keras.Input((256, SIDE, SIDE)), layers["ttrnn TTConv2D auto"]]
    )
    cost = layer_costs(model)[0]
    path = layers["ttrnn TTConv2D auto"].evaluation_path(tuple(x.shape))[0]
    print(
        f"conv: TT channels path {cost.macs / cost.dense_macs:.1%} of the "
        f"dense multiply-adds; auto takes the {path} path"
    )
    case = "conv+dx" if input_grad else "conv"
    return _bench(layers, x, g_out, repeats, case, optimizer=False)


def bench_conv_input_grad(repeats):
    return bench_conv(repeats, input_grad=True)


def _bench(layers, x, g_out, repeats, case, optimizer=True, inner=1):
    steps, sizes, rows = {}, {}, []
    for key, module in layers.items():
        if isinstance(module, str):
            rows.append({"case": case, "impl": key, "skipped": module})
            continue
        try:
            step, params = _step(module, x, g_out, optimizer)
            step()
        except Exception as e:  # noqa: BLE001
            rows.append(
                {"case": case, "impl": key, "skipped": f"{type(e).__name__}"}
            )
            continue
        steps[key] = step
        # Weights, plus Adam's two moments per weight (with an optimizer).
        weights = sum(p.numel() for p in params)
        sizes[key] = (weights, weights * (3 if optimizer else 1))
    fast = {k: inner for k in steps if not k.startswith("keras")}
    times = interleaved(steps, repeats, inner=fast)
    # Without a Keras layer (emb-paths): ratios against the peer.
    dense = next(
        (k for k in steps if k.startswith("keras")),
        next((k for k in steps if k.startswith("tltorch")), next(iter(steps))),
    )
    for key in steps:
        rows.append(
            {
                "case": case,
                "impl": key,
                "step_ms": 1e3 * times[key],
                "vs_dense": times[key] / times[dense],
                "weights": sizes[key][0],
                "state_vs_dense": sizes[key][1] / sizes[dense][1],
            }
        )
    return rows


CASES = {
    "embedding": bench_embedding,
    "emb-paths": bench_embedding_paths,
    "conv": bench_conv,
    "conv-input-grad": bench_conv_input_grad,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="embedding,conv")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    print(common.machine())
    rows = []
    head = f"{'case':10s} {'implementation':30s} {'step ms':>9s} "
    print(head + f"{'x dense':>8s} {'weights':>12s} {'state / dense':>15s}")
    for name in args.cases.split(","):
        for r in CASES[name](args.repeats):
            rows.append(r)
            if "skipped" in r:
                print(f"{name:10s} {r['impl']:30s} skipped: {r['skipped']}")
                continue
            print(
                f"{name:10s} {r['impl']:30s} {r['step_ms']:9.1f} "
                f"{r['vs_dense']:8.3f} {r['weights']:12,d} "
                f"{100 * r['state_vs_dense']:14.3f}%",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()

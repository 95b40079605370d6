"""TTDense against the peer TT layers, same process, torch backend.

Usage: python benchmarks/bench_peers.py [--cases ABCD] [--repeats 7]
       [--json out.json]

Peers (optional, `pip install "ttrnn[bench]"`): TensorLy-Torch's
FactorizedLinear (factorization="blocktt", implementations "factorized"
and "reconstructed") and tednet's TTLinear; torch.nn.Linear is the dense
baseline. A peer that fails to import or to run is skipped and named.
t3f needs TensorFlow with TF_USE_LEGACY_KERAS=1 and tf_keras in its own
process: see `bench_t3f.py`.
"""

import argparse
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "torch"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402, I001 - sets thread counts before backends load

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import CASES  # noqa: E402
from common import dense_macs  # noqa: E402
from common import interleaved  # noqa: E402
from common import ranks_of  # noqa: E402

from ttrnn import TTDense  # noqa: E402
from ttrnn.tt import contraction  # noqa: E402
from ttrnn.tt.contraction import cost  # noqa: E402

common.set_backend_threads()


def peers(ins, outs, rank):
    """name -> torch module (or the reason it is missing)."""
    m, n = int(np.prod(ins)), int(np.prod(outs))
    out = {"torch Linear": torch.nn.Linear(m, n)}
    layer = TTDense(ins, outs, ranks_of(ins, rank))
    layer.build((None, m))
    out["ttrnn TTDense"] = layer
    # The same layer with its plan timed on this machine (autotuned).
    layer = TTDense(ins, outs, ranks_of(ins, rank), tt_strategy="measure")
    layer.build((None, m))
    out["ttrnn TTDense measure"] = layer
    try:
        import tltorch

        for impl in ("factorized", "reconstructed"):
            out[f"tltorch {impl}"] = tltorch.FactorizedLinear(
                ins,
                outs,
                rank=rank,
                factorization="blocktt",
                implementation=impl,
            )
    except Exception as e:  # noqa: BLE001 - report any failure
        out["tltorch"] = f"skipped: {type(e).__name__}: {e}"
    try:
        import contextlib
        import io

        from tednet.tnn.tensor_train import TTLinear

        with contextlib.redirect_stdout(io.StringIO()):
            out["tednet TTLinear"] = TTLinear(
                list(ins), list(outs), [rank] * (len(ins) - 1)
            )
    except Exception as e:  # noqa: BLE001
        out["tednet"] = f"skipped: {type(e).__name__}: {e}"
    return out


def bench_case(name, repeats):
    ins, outs, rank, batch = CASES[name]
    x = torch.randn(batch, int(np.prod(ins)))
    g_out = torch.randn(batch, int(np.prod(outs)))  # upstream gradient
    mods = peers(ins, outs, rank)
    skipped = {k: v for k, v in mods.items() if isinstance(v, str)}
    mods = {k: v for k, v in mods.items() if not isinstance(v, str)}
    fwd, grad = {}, {}
    for key, mod in mods.items():
        params = (
            [v.value for v in mod.trainable_variables]
            if isinstance(mod, TTDense)
            else list(mod.parameters())
        )

        def g(mod=mod, params=params):
            for p in params:
                p.grad = None
            (mod(x) * g_out).sum().backward()

        def f(mod=mod):
            with torch.no_grad():
                mod(x)

        try:
            g()
        except Exception as e:  # noqa: BLE001
            skipped[key] = f"skipped: {type(e).__name__}: {e}"
            continue
        fwd[key], grad[key] = f, g
    t_fwd = interleaved(fwd, repeats)
    t_grad = interleaved(grad, repeats)
    ranks = ranks_of(ins, rank)
    plans = {
        "ttrnn TTDense": contraction.choose_plan(ins, outs, ranks, batch),
        "ttrnn TTDense measure": contraction.choose_plan(
            ins, outs, ranks, batch, "measure"
        ),
    }
    rows = []
    for key in fwd:
        macs = dense_macs(ins, outs, batch) if "Linear" == key[-6:] else None
        plan = plans.get(key)
        if plan is not None:
            macs = cost.plan_flops(plan, ins, outs, ranks, batch)
        rows.append(
            {
                "case": name,
                "impl": key,
                "fwd_ms": 1e3 * t_fwd[key],
                "fwdbwd_ms": 1e3 * t_grad[key],
                "gflops": (4 * macs / t_grad[key] / 1e9) if macs else None,
                "plan": plan.name if plan is not None else "",
            }
        )
    for key, why in skipped.items():
        rows.append({"case": name, "impl": key, "skipped": why})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="ABCD")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    rows = []
    for name in args.cases:
        case_rows = bench_case(name, args.repeats)
        rows += case_rows
        for r in case_rows:
            if "skipped" in r:
                print(f"{name} {r['impl']:22s} {r['skipped']}", flush=True)
            else:
                print(
                    f"{name} {r['impl']:22s} fwd {r['fwd_ms']:8.2f} ms  "
                    f"fwd+bwd {r['fwdbwd_ms']:8.2f} ms  {r['plan']}",
                    flush=True,
                )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()

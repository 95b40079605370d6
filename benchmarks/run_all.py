"""Runs every benchmark and writes benchmarks/results.json.

Usage: python benchmarks/run_all.py [--repeats 5] [--quick]

Each backend runs in its own process (KERAS_BACKEND is read at import).
`bench_rnn.py` (the TT-RNN training step) runs when present. Set
TTRNN_BENCH_THREADS (default 1) for the threads per process.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(script, backend, extra, out):
    env = dict(os.environ, KERAS_BACKEND=backend)
    cmd = [sys.executable, os.path.join(HERE, script), *extra]
    if out:
        cmd += ["--json", out]
    print(f"$ KERAS_BACKEND={backend} {' '.join(cmd[1:])}", flush=True)
    return subprocess.call(cmd, env=env)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", default="5")
    parser.add_argument("--quick", action="store_true", help="cases A, B")
    args = parser.parse_args(argv)
    cases = ["--cases", "AB" if args.quick else "ABCD"]
    reps = ["--repeats", args.repeats]
    tmp = os.path.join(HERE, "_out")
    os.makedirs(tmp, exist_ok=True)
    status = {}
    status["peers"] = run(
        "bench_peers.py", "torch", cases + reps, f"{tmp}/peers.json"
    )
    for backend in ("torch", "jax", "tensorflow"):
        status[f"dense-{backend}"] = run(
            "bench_dense.py",
            backend,
            cases + reps + ["--sweep"],
            f"{tmp}/dense_{backend}.json",
        )
    if os.path.exists(os.path.join(HERE, "bench_t3f.py")):
        status["t3f"] = run("bench_t3f.py", "tensorflow", cases, None)
    if os.path.exists(os.path.join(HERE, "bench_rnn.py")):
        for backend in ("torch", "jax", "tensorflow"):
            status[f"rnn-{backend}"] = run(
                "bench_rnn.py", backend, ["--repeats", args.repeats], None
            )
            if not args.quick:
                status[f"rnn-long-{backend}"] = run(
                    "bench_rnn.py", backend, ["--long"], None
                )
    results = {}
    for name in sorted(os.listdir(tmp)):
        with open(os.path.join(tmp, name)) as f:
            results[name[:-5]] = json.load(f)
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump({"status": status, "results": results}, f, indent=1)
    print("exit codes:", status)
    return 0 if all(v == 0 for v in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

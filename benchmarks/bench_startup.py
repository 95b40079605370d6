"""Start-up time of the `ttrnn` command and of `import ttrnn`.

Usage: python benchmarks/bench_startup.py [--repeats 5]
       [--backend unset|jax|tensorflow|torch ...]

Runs each command in a fresh interpreter (`python -m ttrnn ...`, as the
`ttrnn` script does) and prints the median, fastest and slowest wall time
of the runs, the exit status, and how many lines went to stderr (start-up
noise such as TensorFlow's absl/oneDNN lines). `--backend unset` (the
default) runs with KERAS_BACKEND removed from the environment, as a user
who never set it; other values set it. Not a test: the target of
`ttrnn --help` under 1 s depends on the machine.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = [
    ("ttrnn --help", ["-m", "ttrnn", "--help"]),
    ("ttrnn --version", ["-m", "ttrnn", "--version"]),
    ("ttrnn list", ["-m", "ttrnn", "list"]),
    ("ttrnn info ucf11", ["-m", "ttrnn", "info", "ucf11"]),
    ("import ttrnn", ["-c", "import ttrnn"]),
    ("import ttrnn; TTDense", ["-c", "from ttrnn import TTDense"]),
]


def time_command(args, env, repeats):
    """Wall times (s) of `repeats` runs, exit status, stderr line count."""
    times, status, noise = [], 0, 0
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        times.append(time.perf_counter() - start)
        status = done.returncode
        noise = max(noise, len(done.stderr.splitlines()))
    return times, status, noise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--backend",
        nargs="+",
        default=["unset"],
        choices=("unset", "jax", "tensorflow", "torch"),
    )
    parser.add_argument(
        "--only", nargs="*", default=None, help="substrings of commands"
    )
    args = parser.parse_args(argv)
    commands = [
        c
        for c in COMMANDS
        if not args.only or any(o in c[0] for o in args.only)
    ]
    header = (
        f"{'KERAS_BACKEND':<14}{'command':<24}{'median s':>10}{'min s':>8}"
        f"{'max s':>8}{'exit':>6}{'stderr lines':>14}"
    )
    print(f"python {sys.version.split()[0]}, {args.repeats} runs each")
    print(header)
    print("-" * len(header))
    for backend in args.backend:
        env = dict(os.environ)
        env.pop("KERAS_BACKEND", None)
        if backend != "unset":
            env["KERAS_BACKEND"] = backend
        for label, command in commands:
            times, status, noise = time_command(command, env, args.repeats)
            print(
                f"{backend:<14}{label:<24}{statistics.median(times):>10.2f}"
                f"{min(times):>8.2f}{max(times):>8.2f}{status:>6}{noise:>14}",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""A process of the distributed tests (tests/test_distribution.py).

    python tests/distributed_worker.py JOB.json

JOB.json holds `{"runs": [argv, ...], "out": PATH}`: each argv is run by
`ttrnn.cli.main` in turn (an argv of several processes carries its
`--coordinator`, `--num-processes` and `--process-id`); the exit
statuses go to PATH as JSON. XLA_FLAGS (virtual CPU devices) must be set
by the caller, before JAX starts.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import ttrnn  # noqa: E402,F401  (before keras: chooses the backend)
from ttrnn import cli  # noqa: E402


def main(path):
    with open(path, encoding="utf-8") as file:
        job = json.load(file)
    statuses = [cli.main(argv) for argv in job["runs"]]
    with open(job["out"], "w", encoding="utf-8") as file:
        json.dump(statuses, file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

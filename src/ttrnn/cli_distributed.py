"""The options of `ttrnn experiment` for several devices or processes.

`--devices N`, `--coordinator HOST:PORT`, `--num-processes P`,
`--process-id I`; `commands.experiment` hands them to
`ttrnn.distribution.initialize`. Imports no Keras (the CLI's start-up).

`host_devices` asks XLA for virtual CPU devices before JAX starts: N for
`--devices N`, and with `SPLIT_BY_DEFAULT` one a core for the video
TT-RNNs, whose training step splits each batch over them
(benchmarks/RESULTS.md, "JAX on both cores"); `--devices 1` keeps one.
"""

import argparse
import os
import re
import sys

# The models whose training step splits a batch over a CPU's cores to
# its gain (their TT-RNN layers run the uint8 input map and the
# recurrence on each device's rows: `ttrnn.backends.batch_sharded`).
SPLIT_MODELS = ("tt-gru", "tt-lstm", "tt-rnn", "vtt-gru", "vtt-lstm")
# Whether those models split batches over the cores without `--devices`:
# off. The 48-clip epoch gained 1.16-1.28x at load 1-2, but the full
# 160-clip epoch on a quiet machine ran 2,393 real frames/s on two devices
# against 2,409-2,603 on one (long clips' batches split poorly; RESULTS.md).
SPLIT_BY_DEFAULT = False
_COUNT_FLAG = "--xla_force_host_platform_device_count"


def host_devices(args, experiments, backend):
    """Virtual CPU devices for `ttrnn experiment`, asked of XLA before
    JAX starts (its flags are read once, at start).

    - `--devices N` (N > 1): N devices of one thread each, where
      XLA_FLAGS does not set their count already (GPUs are unaffected).
    - With `SPLIT_BY_DEFAULT`, without `--devices` and without several
      processes, on JAX: one
      device a core this process may use, when every experiment is a
      video one and every model one of `SPLIT_MODELS`; each device then
      runs one thread (`--xla_cpu_multi_thread_eigen=false`). The caller
      distributes only if JAX then computes on the CPU.

    Nothing is asked once JAX is imported (`ttrnn.cli.main` called in a
    process that uses JAX already): the process keeps its devices.

    Args:
        args: the parsed arguments of `ttrnn experiment`.
        experiments: the `Experiment`s of the run.
        backend: the Keras backend that will be used.

    Returns:
        The device count chosen by default, or `None` (none chosen, or
        `--devices` given).
    """
    if backend != "jax" or "jax" in sys.modules:
        return None  # (JAX imported: its devices may have started)
    flags = os.environ.get("XLA_FLAGS", "")
    if re.search(_COUNT_FLAG + r"\b", flags):
        return None  # the user's count
    if args.devices is not None:
        if args.devices > 1:
            _prepend_flags(
                f"{_COUNT_FLAG}={args.devices} "
                "--xla_cpu_multi_thread_eigen=false"
            )
        return None
    if not SPLIT_BY_DEFAULT:
        return None
    several = (args.coordinator, args.num_processes, args.process_id)
    if any(v is not None for v in several) or os.environ.get(
        "KERAS_DISTRIBUTION_NUM_PROCESSES"
    ):
        return None
    cores = _usable_cores()
    models = args.model or [None]
    eligible = all(
        e.kind == "video"
        and all((m or e.models[0]) in SPLIT_MODELS for m in models)
        for e in experiments
    )
    if cores < 2 or not eligible:
        return None
    _prepend_flags(f"{_COUNT_FLAG}={cores} --xla_cpu_multi_thread_eigen=false")
    return cores


def _usable_cores():
    if hasattr(os, "sched_getaffinity"):  # Linux: this process's share
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _prepend_flags(text):
    # First: XLA stops reading its flags at a malformed one.
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{text} {flags}".strip()


def address(text):
    """'HOST:PORT' (the coordinator of several processes)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT like 10.0.0.1:1234. Received: {text!r}"
        )
    return text


def add_arguments(parser, count):
    """Adds the options of several devices or processes to `parser`;
    `count(what)` is the argparse type of a count."""
    group = parser.add_argument_group(
        "several devices or processes (JAX backend; docs/distributed.md)"
    )
    group.add_argument(
        "--devices",
        type=count("devices"),
        default=None,
        help="train data-parallel over N local devices a process "
        "(keras.distribution.DataParallel); every batch is split over "
        "them. On a CPU: N virtual devices of one thread each",
    )
    group.add_argument(
        "--coordinator",
        type=address,
        default=None,
        help="several processes: HOST:PORT of process 0 (or "
        "$KERAS_DISTRIBUTION_JOB_ADDRESSES)",
    )
    group.add_argument(
        "--num-processes",
        type=count("processes"),
        default=None,
        help="several processes: how many (or "
        "$KERAS_DISTRIBUTION_NUM_PROCESSES)",
    )
    group.add_argument(
        "--process-id",
        type=count("process-id", allow_zero=True),
        default=None,
        help="several processes: this one's number, 0 to P-1 (or "
        "$KERAS_DISTRIBUTION_PROCESS_ID); process 0 writes the files",
    )

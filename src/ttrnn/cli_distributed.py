"""The options of `ttrnn experiment` for several devices or processes.

`--devices N`, `--coordinator HOST:PORT`, `--num-processes P`,
`--process-id I`; `commands.experiment` hands them to
`ttrnn.distribution.initialize`. Imports no Keras (the CLI's start-up).
"""

import argparse


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
        "them",
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

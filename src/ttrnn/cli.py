"""The `ttrnn` command line (also `python -m ttrnn`).

    ttrnn demo [--out DIR] [--quick]
    ttrnn experiment NAME [--data-dir D] [--out O] [--epochs N]
                          [--model M] [--protocol fast|paper|tuned]
                          [--resume] [--devices N]
                          [--dataset mnist|fashion-mnist] [--offline]
                          [--coordinator HOST:PORT --num-processes P
                           --process-id I]
    ttrnn info NAME-or-results.json [--model M] [--protocol P] [--json]
    ttrnn explain RUN_DIR (--input FILE | --index N) [--target K]
    ttrnn reproduce NAME | --list     (cli_reproduce)
    ttrnn list
    ttrnn data list | get NAME... [--offline] | path NAME
    ttrnn --version

See docs/experiments.md for every experiment and its defaults.

Start-up stays light: this module imports neither Keras nor a backend.
`--help`, `--version` and `list` never do; `demo`, `experiment` and
`info` (which builds the models) choose the backend first
(`ttrnn._select_backend`) and then import Keras.
"""

import argparse
import os
import sys

from ttrnn import _select_backend
from ttrnn import cli_data
from ttrnn import cli_distributed
from ttrnn import cli_reproduce
from ttrnn import cli_types
from ttrnn import cli_warnings
from ttrnn import commands
from ttrnn.experiments import interrupts
from ttrnn.experiments.experiment import PROTOCOLS

_DESCRIPTION = (
    "Tensor-Train layers and TT-RNNs for Keras 3: the demo, the "
    "experiments of the 2017 papers, and layer statistics."
)

_PROTOCOL_HELP = (
    "video: 'fast' (default) samples --frames frames a clip; 'paper' "
    "takes every frame with zero pre-padding and masking. Others: "
    "'paper' (default), the 2017 settings; 'tuned', the tuned settings "
    "of the experiments that have them (ttrnn list)"
)


# `ttrnn experiment`'s settings that default to the run's (`RunConfig`,
# which fills each one left out): option, type, help.
_RUN_OPTIONS = (
    ("--epochs", cli_types.count("epochs"), None),
    ("--batch-size", cli_types.count("samples"), None),
    (
        "--learning-rate",
        cli_types.learning_rate,
        "Adam's rate; 'sweep' (or candidates like 1e-3,1e-4) picks the one "
        "with the lowest training loss after short trial runs",
    ),
    ("--tt-ranks", cli_types.ranks, "e.g. 4 or 1,4,4,4,1"),
    (
        "--input-precision",
        cli_types.input_precision,
        "float32 (default) or bfloat16: the TT layers' GEMM on the inputs "
        "in bfloat16 with float32 accumulation, 4-9x faster on CPUs with "
        "AMX or AVX512_BF16 (docs/speed.md)",
    ),
    (
        "--tt-input-shape",
        cli_types.shape,
        "video: TT input modes, e.g. 8,20,20,18",
    ),
    (
        "--frame-shape",
        cli_types.shape,
        "video: HxW frames are resized to (default: the dataset's)",
    ),
    (
        "--frames",
        cli_types.count("frames"),
        "fast protocol: frames a clip (default 16)",
    ),
    (
        "--folds",
        cli_types.folds,
        "cross-validation folds to run, e.g. 0 or 0,1, or all (default: "
        "the experiment's: all five, but fold 1 for hmdb51's paper "
        "protocol, as in 2017; refused where a run trains on an official "
        "split)",
    ),
    (
        "--dropout",
        cli_types.fraction,
        "RNN input dropout (default: the experiment's, 0.25 as run in 2017)",
    ),
    (
        "--recurrent-dropout",
        cli_types.fraction,
        "RNN recurrent dropout (default: the experiment's, 0.25 as run in "
        "2017)",
    ),
    (
        "--buckets",
        cli_types.count("buckets"),
        "video, paper protocol: most length buckets (one compiled graph "
        "each on JAX; default 24 on JAX, 32 on TensorFlow and torch)",
    ),
    (
        "--max-batch-frames",
        cli_types.count("max-batch-frames", allow_zero=True),
        "video, paper protocol: most padded frames a batch; batches of "
        "longer clips hold fewer clips (default 4096 on JAX, 8192 on "
        "TensorFlow and torch; 0 for no limit)",
    ),
    ("--cache-dir", None, "decoded-frame cache"),
)


class _Version(argparse.Action):
    """`--version`: prints the installed version; imports no Keras."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        kwargs.setdefault("help", "show the version and exit")
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"ttrnn {version()}")
        parser.exit()


def version():
    """ttrnn's version: the installed distribution's, else `__version__`."""
    from importlib import metadata

    try:
        return metadata.version("ttrnn")
    except metadata.PackageNotFoundError:
        import ttrnn

        return ttrnn.__version__


def build_parser():
    """The argument parser of the `ttrnn` command."""
    parser = argparse.ArgumentParser(prog="ttrnn", description=_DESCRIPTION)
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "demo",
        help="TT-GRU vs GRU on generated 120x160 video (a few minutes)",
        description="Writes a generated video-classification set in "
        "UCF11's layout and frame shape, trains a TT-GRU and a GRU of the "
        "same hidden size on it, prints weights, compression, accuracy "
        "and seconds per epoch side by side, and writes results.json, "
        "curves.png and weights.png.",
    )
    p.add_argument(
        "--out", default=os.path.join("runs", "demo"), help="output dir"
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny frames, for smoke tests"
    )
    p.add_argument("--epochs", type=cli_types.count("epochs"), default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="keep the GRU's checkpoint.keras too (~0.5 GB; the "
        "TT-GRU's, a few kB, is always kept for `ttrnn explain`)",
    )
    p.set_defaults(func=commands.demo)

    p = sub.add_parser(
        "experiment",
        help="run an experiment of the 2017 papers",
        description="Trains and evaluates one experiment (or a group: "
        "nips2003, spls), checkpointing every epoch; writes "
        "OUT/results.json, curves.png, weights.png. `ttrnn list` shows "
        "the experiments.",
    )
    p.add_argument("name", help="experiment or group name (ttrnn list)")
    p.add_argument(
        "--data-dir",
        default=None,
        help="dataset directory (default: $TTRNN_DATA_DIR, else the data "
        "set is fetched into the cache on first use: ttrnn data)",
    )
    p.add_argument("--out", default=None, help="default: runs/NAME")
    p.add_argument(
        "--model",
        type=cli_types.names,
        default=None,
        help="model, or several separated by commas: tt/dense "
        "(feed-forward); tt-gru, tt-lstm, tt-rnn, vtt-gru, vtt-lstm, "
        "tt-mlp, gru, lstm, rnn (video); default: the TT model (both for "
        "groups)",
    )
    p.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=None,
        help=_PROTOCOL_HELP,
    )
    p.add_argument("--resume", action="store_true", help="continue a run")
    p.add_argument(
        "--overwrite", action="store_true", help="discard an earlier run"
    )
    for option, parse, text in _RUN_OPTIONS:
        p.add_argument(option, type=parse, default=None, help=text)
    budget = p.add_mutually_exclusive_group()
    budget.add_argument(
        "--rank-budget",
        type=cli_types.count("weights"),
        default=None,
        metavar="P",
        help="rank-adaptive training: truncate the TT ranks of all TT "
        "layers during training until their cores hold P weights "
        "(docs/ranks.md)",
    )
    budget.add_argument(
        "--compression",
        type=cli_types.positive_number,
        default=None,
        metavar="X",
        help="rank-adaptive training toward X times fewer weights than "
        "the dense kernels the TT layers replace",
    )
    p.add_argument("--seed", type=int, default=0)
    cli_types.add_verbose(p, "the results are")
    p.add_argument("--no-plots", action="store_true")
    cli_data.add_experiment_arguments(p)
    cli_distributed.add_arguments(p, cli_types.count)
    p.set_defaults(func=commands.experiment)

    p = sub.add_parser(
        "info",
        help="weights, compression and MACs per layer",
        description="Builds the models of an experiment (or of a saved "
        "results.json / config JSON) and prints, per layer, its weights, "
        "the dense weights it replaces, the compression and the "
        "multiply-adds a sample (a time step for RNNs).",
    )
    p.add_argument("target", help="experiment name or a results.json")
    p.add_argument("--model", type=cli_types.names, default=None)
    p.add_argument("--tt-ranks", type=cli_types.ranks, default=None)
    p.add_argument("--tt-input-shape", type=cli_types.shape, default=None)
    p.add_argument("--frame-shape", type=cli_types.shape, default=None)
    p.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=None,
        help="the settings to show (default: the run's, else the "
        "experiment's default)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the resolved settings and layers as JSON",
    )
    p.set_defaults(func=commands.info)

    p = sub.add_parser(
        "explain",
        help="relevance of one input to a trained run's model (LRP)",
        description="Loads a run of `ttrnn experiment` (its results.json "
        "and checkpoint.keras), prepares one input as the run did, and "
        "writes what layer-wise relevance propagation says: "
        "relevance.npy (the input's shape), relevance.png (a step at a "
        "time; for video, a per-pixel map of the most relevant frames) "
        "and explanation.json.",
    )
    p.add_argument(
        "run_dir",
        help="the run's output folder (a fold's, for CV runs; with "
        "--input, the run's means its first fold's)",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input",
        default=None,
        help="a video file (video runs) or a .npy array of one example",
    )
    source.add_argument(
        "--index",
        type=cli_types.count("index", allow_zero=True),
        default=None,
        help="the index of a test example of the run's data (video: a "
        "test clip of the fold of RUN_DIR)",
    )
    p.add_argument(
        "--target",
        type=cli_types.count("target", allow_zero=True),
        default=None,
        help="the output unit explained (default: the predicted one)",
    )
    p.add_argument("--out", default=None, help="default: RUN_DIR/explain/X")
    p.add_argument(
        "--eps",
        type=float,
        default=1e-3,
        help="stabiliser of the epsilon-rule",
    )
    p.add_argument(
        "--bias-factor",
        type=float,
        default=0.0,
        help="1 conserves relevance (biases pass theirs on), 0 keeps it",
    )
    p.add_argument("--data-dir", default=None, help="for --index")
    p.add_argument(
        "--top-frames",
        type=cli_types.count("frames"),
        default=4,
        help="video: the most relevant frames drawn pixel by pixel",
    )
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=commands.explain)

    cli_reproduce.add_parser(sub, cli_types.count, cli_types.folds)

    p = sub.add_parser("list", help="list the experiments")
    p.set_defaults(func=commands.list_experiments)
    cli_data.add_parser(sub)
    return parser


# Errors a command reports as `ttrnn CMD: error: ...` with status 2:
# (module, class), looked up only in modules already imported.
_USAGE_ERRORS = (
    ("ttrnn.extras", "MissingExtraError"),
    ("ttrnn.experiments.datasets", "DataDirError"),
    ("ttrnn.data.errors", "DataFetchError"),
    ("ttrnn.experiments.registry", "ExperimentError"),
    ("ttrnn.experiments.checkpointing", "RunExistsError"),
    ("ttrnn.distribution", "DistributionError"),
)


def _usage_error(error):
    for module_name, class_name in _USAGE_ERRORS:
        module = sys.modules.get(module_name)
        if module and isinstance(error, getattr(module, class_name)):
            return True
    return False


def main(argv=None):
    """Runs the command; returns the exit status.

    0: done; 1: no usable Keras backend (the message says which is
    installed and how to choose); 2: bad arguments or data, or a missing
    optional package; 130: interrupted (Ctrl-C; the message says how to
    resume). A user's mistake is one line on stderr; a bug keeps its
    traceback.

    Args:
        argv: the arguments; `None` reads the command line.
    """
    _select_backend.quiet_tensorflow()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with interrupts.handled(), cli_warnings.plain_warnings():
            return args.func(args)
    except _select_backend.BackendError as error:
        print(f"ttrnn {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        message = commands.interrupted(args, argv)
        print(f"ttrnn {args.command}: {message}", file=sys.stderr)
        if argv is None:  # the command line: leave without joining the
            _exit_now(130)  # data threads Keras started (they can hang)
        return 130
    except Exception as error:
        if not _usage_error(error):
            raise
        print(f"ttrnn {args.command}: error: {error}", file=sys.stderr)
        return 2


def _exit_now(status):
    """Ends the process at once, its output flushed. The checkpoint on
    disk is whole: it is written to a temporary file and renamed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""`ttrnn reproduce`: one command per table of the 2017 papers.

    ttrnn reproduce --list
    ttrnn reproduce NAME [--models M] [--folds F] [--epochs N] [--out O]
                         [--data-dir D] [--seed S] [--seeds N] [--verbose V]
                         [--no-plots]

`add_parser` registers the command with `cli`; `reproduce` runs it
(`ttrnn.experiments.reproduce`). `--list` imports no Keras.
"""

from ttrnn import cli_types
from ttrnn import commands


def add_parser(sub, count, folds):
    """Adds `reproduce` to the subparsers `sub`; `count(what)` is the
    argparse type of a count, `folds` that of a fold list."""
    p = sub.add_parser(
        "reproduce",
        help="reproduce a table of the 2017 papers (ttrnn reproduce --list)",
        description="Runs every model of one table of the 2017 papers in "
        "the paper protocol (finished runs are reused, killed ones resume "
        "from their checkpoint: run it again to continue) and writes "
        "OUT/table.md, table.json and table.png: our figures beside the "
        "2017 ones. --models, --folds and --epochs shrink a run; the "
        "table says so.",
    )
    p.add_argument("name", nargs="?", help="the table (--list shows them)")
    p.add_argument(
        "--list", action="store_true", help="list the tables and exit"
    )
    p.add_argument(
        "--models",
        type=cli_types.names,
        default=None,
        help="run only these models, separated by commas (default: the "
        "table's)",
    )
    p.add_argument(
        "--folds",
        type=folds,
        default=None,
        help="cross-validation folds to run, e.g. 0 or 0,1, or all (default: "
        "the experiment's: all five, but fold 1 for hmdb51's paper "
        "protocol, as in 2017; refused where a run trains on an official "
        "split)",
    )
    p.add_argument(
        "--epochs",
        type=count("epochs"),
        default=None,
        help="epochs of every run (default: each experiment's)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="output folder (default: runs/reproduce/NAME)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="dataset directory (default: as for `ttrnn experiment`)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every run")
    p.add_argument(
        "--seeds",
        type=count("seeds"),
        default=1,
        help="run each model (and fold) with this many seeds, SEED, "
        "SEED+1, ...; the table's spread is over all runs (default 1)",
    )
    cli_types.add_verbose(p, "the table is")
    p.add_argument(
        "--no-plots",
        action="store_true",
        help="no PNGs (neither the runs' nor the table's)",
    )
    p.set_defaults(func=reproduce)
    return p


# The options `reproduce` passes on under their own names.
_TABLE_OPTIONS = "models folds epochs out data_dir seed seeds verbose"


def reproduce(args):
    """`ttrnn reproduce NAME` (or `--list`)."""
    from ttrnn.experiments import reproduce_tables as tables

    if args.list:
        for name in tables.names():
            print("\n".join(tables.describe(tables.get(name))))
        return 0
    if args.name is None:
        raise tables.TableError(
            "Argument `name` must be a table: one of "
            f"{list(tables.names())} (or pass --list). Received: no name"
        )
    tables.get(args.name)  # an unknown name fails before Keras loads
    commands.load_keras()
    from ttrnn.experiments.reproduce import reproduce as run_table

    run_table(
        args.name,
        plot=not args.no_plots,
        **commands.keywords(args, _TABLE_OPTIONS),
    )
    return 0

"""`ttrnn data`: the data sets of the experiments, and their cache.

    ttrnn data list                 every data set: source, size, licence,
                                    whether it is in the cache
    ttrnn data get NAME... [--offline]
                                    fetch data sets (or groups: nips2003,
                                    spls, images, text, video) into the cache
    ttrnn data path NAME            where a data set is (or would be) cached

Also the data options of `ttrnn experiment` (`--dataset`, `--offline`).
Imports no Keras (the CLI's start-up; the progress bar of a download on
a terminal loads it).
"""

import os
import sys

_OFFLINE_HELP = (
    "never touch the network: use the cache only (also $TTRNN_OFFLINE=1)"
)


def add_parser(sub):
    """Adds `ttrnn data` to the subparsers `sub` of the `ttrnn` parser."""
    p = sub.add_parser(
        "data",
        help="list, fetch and locate the experiments' data sets",
        description="The data sets of the experiments: where each comes "
        "from, its licence, and the cache they are fetched into "
        "($TTRNN_DATA_CACHE, default ~/.cache/ttrnn/data; "
        "$TTRNN_DATA_MIRROR=URL fetches URL/<group>/<name>/<file>). "
        "`ttrnn experiment` fetches its data on first use.",
    )
    actions = p.add_subparsers(dest="action", required=True)
    listing = actions.add_parser(
        "list", help="every data set: source, size, licence, cached"
    )
    listing.set_defaults(func=list_command)
    get = actions.add_parser("get", help="fetch data sets into the cache")
    get.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help="data set or group (ttrnn data list)",
    )
    get.add_argument("--offline", action="store_true", help=_OFFLINE_HELP)
    get.set_defaults(func=get_command)
    path = actions.add_parser(
        "path", help="the folder a data set is (or will be) cached in"
    )
    path.add_argument("name", metavar="NAME")
    path.set_defaults(func=path_command)


def add_experiment_arguments(parser):
    """Adds `--dataset` and `--offline` to `ttrnn experiment`."""
    parser.add_argument(
        "--dataset",
        choices=("mnist", "fashion-mnist"),
        default=None,
        help="mnist and mnist-seq: the images (default mnist, as in 2017)",
    )
    parser.add_argument("--offline", action="store_true", help=_OFFLINE_HELP)


def apply_offline(args):
    """`--offline`: sets $TTRNN_OFFLINE for the fetches of this run."""
    if getattr(args, "offline", False):
        from ttrnn.data.fetching import OFFLINE_ENV

        os.environ[OFFLINE_ENV] = "1"


def list_command(args):
    """`ttrnn data list`."""
    from ttrnn.data import fetching

    print(f"cache: {fetching.data_cache_dir()}")
    rows = fetching.list_datasets()
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        cached = "cached" if row["cached"] else "-"
        print(
            f"{row['name']:<{width}}  {row['group']:<8}  "
            f"{_size(row['size']):>8}  {cached:<6}  {row['description']}"
        )
        print(f"{'':<{width}}  licence: {row['licence']}")
    return 0


def get_command(args):
    """`ttrnn data get NAME...`."""
    from ttrnn.data import fetching

    for name in _expand(args.names):
        path = fetching.fetch(name, offline=args.offline or None)
        print(f"{name}: {path}")
    return 0


def path_command(args):
    """`ttrnn data path NAME`: prints the folder (cached or not)."""
    from ttrnn.data import fetching

    print(fetching.data_path(args.name))
    if not fetching.is_cached(args.name):
        print(
            f"({args.name} is not cached: `ttrnn data get {args.name}`)",
            file=sys.stderr,
        )
    return 0


def _expand(names):
    """Group names (nips2003, spls, ...) stand for their data sets."""
    from ttrnn.data.sources import DATA_SOURCES

    expanded = []
    for name in names:
        members = [s.name for s in DATA_SOURCES.values() if s.group == name]
        expanded += members if name not in DATA_SOURCES and members else [name]
    return list(dict.fromkeys(expanded))


def _size(size):
    if size is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000

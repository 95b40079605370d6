"""The optional packages of ttrnn's extras, imported when needed.

`require` imports one, or raises `MissingExtraError` saying which extra
installs it; the command line reports that in one line (exit 2).
"""

import importlib


class MissingExtraError(ImportError):
    """An optional package a feature needs is not installed."""


def require(module, extra, feature):
    """Imports an optional package, or says how to install it.

    Args:
        module: the module to import, e.g. `"av"`.
        extra: ttrnn's extra that installs it, e.g. `"video"`.
        feature: what needs it, e.g. `"Reading and writing video files"`.

    Returns:
        The module.

    Raises:
        MissingExtraError: if it cannot be imported (an `ImportError`).
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = module.split(".")[0]
        raise MissingExtraError(
            f"{feature} needs {_NAMES.get(package, package)}. Install it "
            f'with `pip install "ttrnn[{extra}]"` (or `pip install '
            f"{_DISTRIBUTIONS.get(package, package)}`)."
        ) from error


_NAMES = {"av": "PyAV"}
_DISTRIBUTIONS = {"av": "av"}

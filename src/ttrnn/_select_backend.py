"""Chooses the Keras backend before Keras is first imported.

Keras reads its backend once, at import: the `KERAS_BACKEND` environment
variable, else `"backend"` of `$KERAS_HOME/keras.json` (`~/.keras`
by default), else TensorFlow. With only JAX or PyTorch installed, that
default makes `import keras` fail. `select()` keeps every explicit choice
and fills in the rest:

1. Keras already imported: its backend stays; an error if that backend's
   package is not installed.
2. `KERAS_BACKEND` set: kept; an error if its package is not installed.
3. `keras.json` names a backend: kept; an error if its package is not
   installed. A file exactly as Keras writes it on its first import, when
   none exists (`"backend": "tensorflow"` and the default `floatx`,
   `epsilon`, `image_data_format`), is Keras' default, not a choice:
   otherwise the first run (no file) and every later one would differ.
4. Otherwise the first installed of JAX, TensorFlow, PyTorch becomes
   `KERAS_BACKEND` (checked with `importlib.util.find_spec`, which imports
   nothing). When an earlier `import keras` failed on Keras' default
   TensorFlow backend (TensorFlow not installed; part of Keras is left in
   `sys.modules`), a warning says why and how to avoid it: import ttrnn
   first, or set KERAS_BACKEND. `import keras` failing before ttrnn is
   imported is Keras' own error, which ttrnn cannot reach.

This module imports neither Keras nor a backend.
"""

import importlib.util
import json
import os
import sys
import warnings

from ttrnn import _tf_logs

# Backends in the order ttrnn prefers them, and the package each needs.
PREFERRED = ("jax", "tensorflow", "torch")
PACKAGES = {
    "jax": "jax",
    "tensorflow": "tensorflow",
    "torch": "torch",
    "openvino": "openvino",
    "numpy": "numpy",
}
# What Keras writes into keras.json when there is none (Keras 3).
KERAS_DEFAULT_CONFIG = {
    "floatx": "float32",
    "epsilon": 1e-07,
    "backend": "tensorflow",
    "image_data_format": "channels_last",
}
_EXTRAS = ("jax", "tensorflow", "torch")  # ttrnn[jax] etc.


class BackendError(ImportError):
    """The Keras backend in use, or chosen, is not installed."""


def quiet_tensorflow():
    """Keeps TensorFlow's C++ INFO/WARNING lines off stderr by default.

    Sets `TF_CPP_MIN_LOG_LEVEL=2` unless the user has set it, and applies
    that level to the lines TensorFlow prints while it loads, before it
    reads the variable (`ttrnn._tf_logs`). Only logging; numerics are
    untouched. Keras loads TensorFlow whenever it is installed, on every
    backend (seeding, saving).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _tf_logs.install()


def is_command_line():
    """Whether this process is the `ttrnn` command, importing ttrnn.

    True for the `ttrnn` script (`sys.argv[0]` names it) and for
    `python -m ttrnn`: while Python locates the module of `-m`, which
    imports the package, `sys.argv[0]` is `"-m"`.
    """
    argv = getattr(sys, "argv", None) or [""]
    if argv[0] == "-m":
        return True
    name = os.path.basename(argv[0]).lower()
    return name in ("ttrnn", "ttrnn.exe", "ttrnn-script.py")


def is_installed(backend):
    """Whether the package `backend` needs can be imported (no import)."""
    package = PACKAGES.get(backend)
    if package is None:
        return True  # a backend Keras may know and we do not: let it decide
    module = sys.modules.get(package)
    if module is not None:
        return True
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def installed():
    """The installed backends among `PREFERRED`, in that order."""
    return [b for b in PREFERRED if is_installed(b)]


def keras_config_path():
    """The keras.json Keras reads: `$KERAS_HOME`, else `~/.keras`."""
    if "KERAS_HOME" in os.environ:
        folder = os.environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~")
        if not os.access(base, os.W_OK):
            base = "/tmp"
        folder = os.path.join(base, ".keras")
    return os.path.expanduser(os.path.join(folder, "keras.json"))


def config_backend():
    """The backend keras.json chooses, or None.

    None when there is no file, it is unreadable, names no backend, or is
    Keras' own default file (see the module's docstring).
    """
    try:
        with open(keras_config_path(), encoding="utf-8") as file:
            config = json.load(file)
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    backend = config.get("backend")
    if not isinstance(backend, str) or not backend:
        return None
    plain = {k: v for k, v in config.items() if k != "nnx_enabled" or v}
    if plain == KERAS_DEFAULT_CONFIG:
        return None
    return backend


def _keras_backend_in_use():
    """The backend of an already imported Keras, or None."""
    config = sys.modules.get("keras.src.backend.config")
    if config is None or not hasattr(config, "backend"):
        return None
    try:
        return config.backend()
    except Exception:  # a half-imported Keras: no answer
        return None


def _fix(backend):
    """How to choose an installed backend, or install `backend`."""
    have = installed()
    if not have:
        return (
            "No Keras backend is installed: pip install jax (or tensorflow, "
            "torch); from a clone of ttrnn, pip install '.[jax]'."
        )
    choice = have[0]
    text = (
        f"Installed backends: {', '.join(have)}. Set KERAS_BACKEND={choice} "
        f"(e.g. `export KERAS_BACKEND={choice}`, or os.environ"
        f"['KERAS_BACKEND'] = '{choice}' before Keras is first imported)"
    )
    if backend in _EXTRAS:
        text += f", or install {backend}: pip install {backend}"
    return text + "."


def _require_installed(backend, message, **fields):
    """`backend` if installed, else BackendError: `message` formatted with
    `backend`, its `package`, the `fix` (`_fix`) and `fields`."""
    if not is_installed(backend):
        raise BackendError(
            message.format(
                backend=backend,
                package=PACKAGES[backend],
                fix=_fix(backend),
                **fields,
            )
        )
    return backend


def select():
    """Chooses the backend Keras will use, before Keras is imported.

    Sets `os.environ["KERAS_BACKEND"]` only when nothing chose a backend
    (see the module's docstring). Never imports Keras or a backend; safe
    to call again.

    Returns:
        The backend's name.

    Raises:
        BackendError: the backend in use or chosen is not installed, or
            no backend is installed.
    """
    in_use = _keras_backend_in_use()
    if in_use is not None:
        return _require_installed(
            in_use,
            "Keras is already imported on the {backend!r} backend, but "
            "{package} is not installed. Keras reads KERAS_BACKEND once, at "
            "its first import: restart Python with the backend set, or "
            "import ttrnn before Keras. {fix}",
        )
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        return _require_installed(
            chosen,
            "KERAS_BACKEND={backend!r}, but {package} is not installed. {fix}",
        )
    configured = config_backend()
    if configured is not None:
        return _require_installed(
            configured,
            "{path} selects the {backend!r} Keras backend, but {package} is "
            "not installed. {fix} Or edit 'backend' in that file.",
            path=keras_config_path(),
        )
    have = installed()
    if not have:
        raise BackendError(_fix(None))
    if _keras_import_failed() and not is_installed("tensorflow"):
        warnings.warn(
            "An earlier `import keras` failed: with KERAS_BACKEND unset, "
            "Keras uses TensorFlow, which is not installed. ttrnn has set "
            f"KERAS_BACKEND={have[0]!r}, so `import keras` works now. Next "
            "time import ttrnn before Keras, or set KERAS_BACKEND="
            f"{have[0]} (e.g. `export KERAS_BACKEND={have[0]}`).",
            stacklevel=2,
        )
    os.environ["KERAS_BACKEND"] = have[0]
    return have[0]


def _keras_import_failed():
    """Whether an `import keras` started and failed in this process: the
    package is missing from `sys.modules`, some of its modules are not."""
    return "keras" not in sys.modules and any(
        name.startswith("keras.") for name in list(sys.modules)
    )

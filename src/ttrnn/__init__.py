"""ttrnn: Tensor-Train layers and TT recurrent networks for Keras 3.

Runs on the JAX, TensorFlow and PyTorch backends. Keras' own choice is
kept (`KERAS_BACKEND`, or `~/.keras/keras.json`); when there is none,
importing ttrnn before Keras selects the first installed of JAX,
TensorFlow, PyTorch (see `ttrnn._select_backend`). The TT-matrix math
lives in `ttrnn.tt`, the layers in `ttrnn.layers` (re-exported here).

`import ttrnn` imports Keras and registers the layers with Keras'
serialisation, so `keras.saving.load_model` finds them. The `ttrnn`
command (`python -m ttrnn`) defers that until a command needs Keras, so
that `--help`, `--version` and `list` start without it.
"""

import importlib
import importlib.util

from ttrnn import _select_backend

__version__ = "0.1.0"

# The layers are listed once, in `ttrnn.layers.__all__`; the package
# adds functions (name -> the module defining it) and submodules.
_FUNCTIONS = {
    "adapt_ranks": "ttrnn.rank_adaptation",
    "compress": "ttrnn.compress",
    "summary": "ttrnn.summary",
}
_SUBMODULES = ("activations", "callbacks", "distribution", "explain", "tt")


def _layers():
    """`ttrnn.layers`, imported (with Keras) on first use."""
    _select_backend.select()
    return importlib.import_module("ttrnn.layers")


def __getattr__(name):
    # Lazy, so that the `ttrnn` command starts without Keras; `__all__`
    # too, since it lists the layers.
    if name == "__all__":
        layers = _layers().__all__
        value = [*layers, *_FUNCTIONS, *_SUBMODULES, "__version__"]
    elif name in _FUNCTIONS:
        _select_backend.select()
        value = getattr(importlib.import_module(_FUNCTIONS[name]), name)
    elif name in _SUBMODULES:
        _select_backend.select()
        value = importlib.import_module(f"ttrnn.{name}")
    elif _may_be_a_layer(name) and name in _layers().__all__:
        value = getattr(_layers(), name)
    else:
        raise AttributeError(f"module 'ttrnn' has no attribute {name!r}")
    globals()[name] = value
    return value


def _may_be_a_layer(name):
    # `from ttrnn import cli` asks for the attribute before importing the
    # submodule: that must not import Keras.
    return not name.startswith("_") and not importlib.util.find_spec(
        f"ttrnn.{name}"
    )


def __dir__():
    return sorted(set(globals()) | set(__getattr__("__all__")))


def _import_all():
    """Selects the backend, imports Keras and registers ttrnn's layers.

    What `import ttrnn` does, and what the `ttrnn` command does before a
    command that needs Keras. Safe to call again.

    Raises:
        ttrnn._select_backend.BackendError: the backend in use or chosen
            is not installed, or none is.
    """
    for name in __getattr__("__all__"):
        if name != "__version__":
            __getattr__(name)


_select_backend.quiet_tensorflow()
if not _select_backend.is_command_line():
    _import_all()

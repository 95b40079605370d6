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

from ttrnn import _select_backend

__version__ = "0.1.0"

# Name -> module it comes from (attributes load on first use).
_EXPORTS = {
    "TTConv2D": "ttrnn.layers",
    "TTDense": "ttrnn.layers",
    "TTEmbedding": "ttrnn.layers",
    "TTGRU": "ttrnn.layers",
    "TTGRUCell": "ttrnn.layers",
    "TTLSTM": "ttrnn.layers",
    "TTLSTMCell": "ttrnn.layers",
    "TTSimpleRNN": "ttrnn.layers",
    "TTSimpleRNNCell": "ttrnn.layers",
    "adapt_ranks": "ttrnn.rank_adaptation",
    "compress": "ttrnn.compress",
    "summary": "ttrnn.summary",
}
_SUBMODULES = ("activations", "callbacks", "distribution", "explain", "tt")

__all__ = [
    "TTConv2D",
    "TTDense",
    "TTEmbedding",
    "TTGRU",
    "TTGRUCell",
    "TTLSTM",
    "TTLSTMCell",
    "TTSimpleRNN",
    "TTSimpleRNNCell",
    "activations",
    "adapt_ranks",
    "callbacks",
    "compress",
    "distribution",
    "explain",
    "summary",
    "tt",
    "__version__",
]


def __getattr__(name):
    if name in _EXPORTS:
        _select_backend.select()
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        _select_backend.select()
        value = importlib.import_module(f"ttrnn.{name}")
    else:
        raise AttributeError(f"module 'ttrnn' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


def _import_all():
    """Selects the backend, imports Keras and registers ttrnn's layers.

    What `import ttrnn` does, and what the `ttrnn` command does before a
    command that needs Keras. Safe to call again.

    Raises:
        ttrnn._select_backend.BackendError: the backend in use or chosen
            is not installed, or none is.
    """
    for name in (*_SUBMODULES, *_EXPORTS):
        __getattr__(name)


_select_backend.quiet_tensorflow()
if not _select_backend.is_command_line():
    _import_all()

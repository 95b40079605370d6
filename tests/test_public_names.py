"""The public names of `ttrnn` and `ttrnn.layers`, pinned.

`ttrnn.__all__` is derived from `ttrnn.layers.__all__` and a few names of
its own: `from ttrnn import *`, `dir(ttrnn)` and the lazy attributes
must keep offering exactly these.
"""

import types

import ttrnn
import ttrnn.layers

LAYERS = {
    "TTConv2D",
    "TTDense",
    "TTEmbedding",
    "TTGRU",
    "TTGRUCell",
    "TTLSTM",
    "TTLSTMCell",
    "TTSimpleRNN",
    "TTSimpleRNNCell",
}
PUBLIC = LAYERS | {
    "__version__",
    "activations",
    "adapt_ranks",
    "callbacks",
    "compress",
    "distribution",
    "explain",
    "summary",
    "tt",
}


def test_all():
    assert set(ttrnn.layers.__all__) == LAYERS
    assert len(ttrnn.__all__) == len(PUBLIC)
    assert set(ttrnn.__all__) == PUBLIC


def test_star_import():
    namespace = {}
    exec("from ttrnn import *", namespace)
    del namespace["__builtins__"]
    assert set(namespace) == PUBLIC
    assert namespace["TTDense"] is ttrnn.layers.TTDense
    assert callable(namespace["compress"]) and callable(namespace["summary"])
    assert isinstance(namespace["tt"], types.ModuleType)


def test_dir_lists_the_public_names_and_imported_modules():
    public = {name for name in dir(ttrnn) if not name.startswith("_")}
    assert PUBLIC - {"__version__"} <= public
    assert "__version__" in dir(ttrnn)
    # Besides: submodules imported along the way (and `importlib`).
    extra = public - PUBLIC
    assert all(isinstance(getattr(ttrnn, n), types.ModuleType) for n in extra)
    assert not extra & LAYERS


def test_layers_are_the_same_objects():
    for name in LAYERS:
        assert getattr(ttrnn, name) is getattr(ttrnn.layers, name)

"""torch's denormals: a TT-RNN warns once when they reach its gradients
while the user's loop does not flush them (`backends.watch_denormals`)."""

import warnings

import keras
import numpy as np
import pytest

import ttrnn
from ttrnn import backends

torch_only = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="torch's own setting"
)


@pytest.fixture
def torch_flush():
    """Sets flush-denormal for the test (`set(True/False)`), restores the
    thread's setting and the once-a-process flag afterwards."""
    import torch

    before = backends.flushes_denormals()
    warned = backends._DENORMALS["warned"]
    backends._DENORMALS["warned"] = False
    yield torch.set_flush_denormal
    torch.set_flush_denormal(before)
    backends._DENORMALS["warned"] = warned


def _train_step(layer, scale):
    """One step of a plain torch loop: the loss times `scale` (1e-40
    makes every gradient denormal)."""
    x = keras.ops.convert_to_tensor(
        np.random.default_rng(0).standard_normal((2, 3, 24), "float32")
    )
    out = layer(x, training=True)
    (out.sum() * scale).backward()


def _denormal_warnings(record):
    return [w for w in record if "Denormal numbers" in str(w.message)]


@torch_only
def test_probe_reads_the_thread_setting(torch_flush):
    torch_flush(True)
    assert backends.flushes_denormals()
    torch_flush(False)
    assert not backends.flushes_denormals()


@torch_only
def test_denormal_gradients_warn_once(torch_flush):
    torch_flush(False)
    layer = ttrnn.TTGRU((2, 3, 4), (2, 2, 2), 2, name="tt_gru_denormal")
    with pytest.warns(RuntimeWarning, match="torch.set_flush_denormal") as w:
        _train_step(layer, 1e-40)
    assert "'tt_gru_denormal'" in str(_denormal_warnings(w)[0].message)
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        _train_step(layer, 1e-40)
    assert not _denormal_warnings(again)


@torch_only
@pytest.mark.parametrize("flush, scale", [(False, 1.0), (True, 1e-40)])
def test_no_warning_unless_denormals_unflushed(torch_flush, flush, scale):
    torch_flush(flush)
    layer = ttrnn.TTGRU((2, 3, 4), (2, 2, 2), 2)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _train_step(layer, scale)
    assert not _denormal_warnings(record)


def test_watch_is_the_identity():
    # The returned tensor is the input itself, on every backend.
    x = keras.ops.ones((2, 3))
    assert backends.watch_denormals(x, "rnn") is x
    if keras.backend.backend() != "torch":
        assert backends.flushes_denormals()

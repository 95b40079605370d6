"""The integer input map in chunks of a static frame count compiled by
XLA (`ttrnn.xla_row_chunks`: TensorFlow, in traced functions) against
the reference path (`SWITCH["on"] = False`: the chunks of whole time
steps of `ttrnn.backends`), outputs and gradients, and against the float
frames. On TensorFlow the calls are traced once for any batch and
length, as Keras' `fit` over length buckets traces them; elsewhere they
run as the backend runs them, and the switch must change nothing."""

import numpy as np
import pytest

from tests.conftest import backend
from tests.helpers import to_numpy
from tests.layers.test_tt_rnn_inputs import FEATURES
from tests.layers.test_tt_rnn_inputs import LAYERS
from tests.layers.test_tt_rnn_inputs import as_floats
from tests.layers.test_tt_rnn_inputs import pixels
from tests.layers.test_tt_rnn_integer_map import _layers
from tests.layers.test_tt_rnn_integer_map import _mask
from tests.layers.test_tt_rnn_integer_map import small_chunks  # noqa: F401
from ttrnn import TTDense
from ttrnn import xla_row_chunks

TF = backend() == "tensorflow"


@pytest.fixture
def switch(monkeypatch):
    """Sets `xla_row_chunks.SWITCH["on"]` (True to start with); restored
    after the test."""
    monkeypatch.setitem(xla_row_chunks.SWITCH, "on", True)
    return lambda on: xla_row_chunks.SWITCH.update(on=on)


def _runner(layer, dtype="uint8", with_mask=True, training=False):
    """`run(x, mask)` -> [output, gradients of sum(output * w) w.r.t.
    the layer's weights], in one `tf.function` of unknown batch and time
    on TensorFlow, eagerly elsewhere (JAX: `jax.grad` of the stateless
    call; torch: `backward`)."""
    units = layer.units
    w = np.linspace(-1, 1, units).astype("float32")
    if TF:
        import tensorflow as tf

        spec = [
            tf.TensorSpec([None, None, FEATURES], dtype),
            tf.TensorSpec([None, None], tf.bool),
        ]

        @tf.function(input_signature=spec)
        def run(x, mask):
            with tf.GradientTape() as tape:
                kwargs = {"mask": mask} if with_mask else {}
                out = layer(x, training=training, **kwargs)
                loss = tf.reduce_sum(out * w)
            return [out, *tape.gradient(loss, layer.trainable_weights)]

        return lambda x, mask: [
            t.numpy() for t in run(tf.constant(x), tf.constant(mask))
        ]

    def call(x, mask):
        kwargs = {"mask": mask} if with_mask else {}
        return [
            to_numpy(layer(x, **kwargs)),
            *_eager_grads(layer, x, w, kwargs),
        ]

    return call


def _eager_grads(layer, x, w, kwargs):
    """Gradients of sum(layer(x, **kwargs) * w) w.r.t. its weights, eager
    torch (from zero) or JAX."""
    if backend() == "jax":
        import jax

        def loss(values):
            out, _ = layer.stateless_call(values, frozen, x, **kwargs)
            return (out * w).sum()

        values = [v.value for v in layer.trainable_weights]
        frozen = [v.value for v in layer.non_trainable_variables]
        return [np.asarray(g) for g in jax.grad(loss)(values)]
    import torch

    for v in layer.trainable_weights:
        v.value.grad = None
    (layer(x, **kwargs) * torch.as_tensor(w)).sum().backward()
    return [to_numpy(v.value.grad) for v in layer.trainable_weights]


def _check(got, want, rtol=1e-4, atol=1e-5):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("save_first_gemm", [True, False])
@pytest.mark.parametrize("layer_cls", LAYERS)
def test_row_chunks_equal_reference_and_floats(
    layer_cls,
    save_first_gemm,
    switch,
    small_chunks,  # noqa: F811
):
    # small_chunks: 6 frames a chunk (3 x 7 = 21 frames: 3 full chunks
    # and one of 3 frames padded to 6), or one chunk of 21 padded frames.
    raw, ref = _layers(layer_cls)
    raw.cell.integer_first_gemm = save_first_gemm
    x, mask = pixels(), _mask()
    got = _runner(raw)(x, mask)
    switch(False)
    _check(got, _runner(raw)(x, mask))
    _check(got, _runner(ref, "float32")(as_floats(x), mask))
    # A second bucket of another shape through the same trace.
    switch(True)
    run = _runner(raw)
    run(x, mask)
    x2, mask2 = pixels(batch=2, steps=4, seed=1), _mask()[:2, 3:]
    _check(run(x2, mask2), _runner(ref, "float32")(as_floats(x2), mask2))


@pytest.mark.skipif(not TF, reason="TensorFlow's traced functions")
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_row_chunks_taken_in_traced_functions_without_input_dropout(
    dropout, switch, monkeypatch
):
    calls = []
    real = xla_row_chunks.row_chunks
    monkeypatch.setattr(
        xla_row_chunks,
        "row_chunks",
        lambda *a, **k: calls.append(1) or real(*a, **k),
    )
    raw, _ = _layers(LAYERS[1], dropout=dropout, seed=3)
    x, mask = pixels(), _mask()
    raw(x, mask=mask, training=True)  # eager: never
    assert not calls
    _runner(raw, training=True)(x, mask)
    # An input dropout mask holds a row a clip: the reference path.
    assert bool(calls) == (dropout == 0.0)


def test_integer_tt_dense_rows_equal_reference(switch):
    layer = TTDense((4, 6), (2, 3), 2, input_scale=1 / 128, input_offset=-1.0)
    layer.build((None, None, FEATURES))
    x = pixels(batch=5, steps=3)
    mask = np.ones(x.shape[:2], bool)
    got = _runner(layer, with_mask=False)(x, mask)
    switch(False)
    _check(got, _runner(layer, with_mask=False)(x, mask))
    assert got[0].shape == (5, 3, 6)


def test_row_chunks_on_the_executor_equal_reference(switch, monkeypatch):
    # `SWITCH["jit"] = False`: the same static chunks, not compiled.
    monkeypatch.setitem(xla_row_chunks.SWITCH, "jit", False)
    raw, _ = _layers(LAYERS[1])
    x, mask = pixels(), _mask()
    got = _runner(raw)(x, mask)
    switch(False)
    _check(got, _runner(raw)(x, mask))

"""TTDense on raw uint8 inputs: `input_scale` / `input_offset`.

A TTDense given uint8 pixels and the transform must equal the same layer
given the float values `x * scale + offset` (outputs and gradients),
whether the rows run in one chunk or several, for 2-D and 3-D inputs.
"""

import keras
import numpy as np
import pytest

from tests.conftest import backend
from tests.helpers import to_numpy
from ttrnn import TTDense
from ttrnn import backends
from ttrnn.testing import run_layer_test

INS, OUTS, RANKS = (4, 6), (2, 3), 2
FEATURES = 24
SCALE, OFFSET = 1 / 128, -1.0


def pixels(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, shape + (FEATURES,), dtype=np.uint8)


def as_floats(x):
    return x.astype("float32") * SCALE + OFFSET


def pair(**kwargs):
    raw = TTDense(
        INS, OUTS, RANKS, input_scale=SCALE, input_offset=OFFSET, **kwargs
    )
    ref = TTDense(INS, OUTS, RANKS, **kwargs)
    raw.build((None, FEATURES))
    ref.build((None, FEATURES))
    ref.set_weights(raw.get_weights())
    return raw, ref


@pytest.fixture(params=[None, 2], ids=["one-chunk", "chunks-of-2-rows"])
def chunk_rows(request, monkeypatch):
    if request.param is not None:
        monkeypatch.setattr(
            backends, "MAX_INTEGER_CHUNK_VALUES", request.param * FEATURES
        )
    return request.param


def _grads(layer, x):
    """Gradients of sum(output * w) with respect to the layer's weights."""
    weights = np.linspace(-1, 1, layer.units).astype("float32")
    if backend() == "jax":
        import jax

        def loss(values):
            out, _ = layer.stateless_call(values, [], x)
            return (out * weights).sum()

        values = [v.value for v in layer.trainable_weights]
        return [np.asarray(g) for g in jax.grad(loss)(values)]
    if backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) * weights)
        return [g.numpy() for g in tape.gradient(loss, layer.trainable_weights)]
    import torch

    loss = (layer(x) * torch.as_tensor(weights)).sum()
    loss.backward()
    return [to_numpy(v.value.grad) for v in layer.trainable_weights]


@pytest.mark.parametrize("shape", [(5,), (3, 7)], ids=["2d", "3d"])
@pytest.mark.parametrize("activation", [None, "relu"])
def test_uint8_equals_float_inputs(shape, activation, chunk_rows):
    raw, ref = pair(activation=activation)
    x = pixels(shape)
    np.testing.assert_allclose(
        to_numpy(raw(x)), to_numpy(ref(as_floats(x))), rtol=1e-5, atol=1e-6
    )
    for g_raw, g_ref in zip(_grads(raw, x), _grads(ref, as_floats(x))):
        np.testing.assert_allclose(g_raw, g_ref, rtol=1e-4, atol=1e-5)


def test_float_inputs_use_the_transform_too():
    raw, ref = pair(use_bias=False)
    x = as_floats(pixels((4,))) * 3.0
    np.testing.assert_allclose(
        to_numpy(raw(x)),
        to_numpy(ref(x * SCALE + OFFSET)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_training_on_uint8_equals_float_model(chunk_rows):
    def model(dtype, **kwargs):
        inputs = keras.Input((7, FEATURES), dtype=dtype)
        hidden = TTDense(INS, OUTS, RANKS, activation="relu", **kwargs)(inputs)
        pooled = keras.layers.GlobalAveragePooling1D()(hidden)
        return keras.Model(inputs, keras.layers.Dense(1)(pooled))

    raw = model("uint8", input_scale=SCALE, input_offset=OFFSET)
    ref = model("float32")
    ref.set_weights(raw.get_weights())
    x, y = pixels((3, 7)), np.ones((3, 1), "float32")
    for m, data in ((raw, x), (ref, as_floats(x))):
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        m.fit(data, y, batch_size=3, epochs=2, verbose=0)
    for a, b in zip(raw.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_layer():
    kwargs = {"input_scale": SCALE, "input_offset": OFFSET}
    config = TTDense(INS, OUTS, RANKS, **kwargs).get_config()
    assert config["input_scale"] == SCALE and config["input_offset"] == OFFSET
    run_layer_test(
        TTDense,
        {"tt_input_shape": INS, "tt_output_shape": OUTS, "tt_ranks": RANKS,
         **kwargs},
        input_data=pixels((4,)),
        expected_output_shape=(4, 6),
        expected_num_trainable_weights=3,
        run_training_check=False,  # test_training_on_uint8_equals_float_model
    )  # fmt: skip


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_scale": "x"}, "`input_scale` must be a number"),
        ({"input_offset": float("inf")}, "`input_offset` must be finite"),
        ({"input_scale": True}, "`input_scale` must be a number"),
    ],
)
def test_invalid(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TTDense(INS, OUTS, RANKS, **kwargs)

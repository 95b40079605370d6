"""`input_precision="bfloat16"`: the GEMM that reads a TT layer's inputs
in bfloat16 with float32 accumulation (`ttrnn.tt.contraction.precision`).

References are independent: NumPy products (float64) of the operands
rounded to bfloat16 by their bits. On JAX the product's output is
float32, so operands exact in bfloat16 give the float32 result; torch and
TensorFlow round their bfloat16 GEMM's output to bfloat16 (8 bits), so
their tolerance is one bfloat16 rounding. A layer in bfloat16 must equal
the same layer in float32 (outputs and every gradient) within that
rounding, on uint8 frames and on floats, whole and in small pieces.
"""

import argparse

import keras
import numpy as np
import pytest

from tests.conftest import backend
from tests.helpers import to_numpy
from tests.layers.test_tt_rnn_inputs import FEATURES
from tests.layers.test_tt_rnn_inputs import LAYERS
from tests.layers.test_tt_rnn_inputs import _grads as _input_grads
from tests.layers.test_tt_rnn_inputs import pixels

# Whole chunks, or chunks of 2 steps in pieces of 5 rows: the integer
# pieces' path (`integer.matmul`) on every backend, where whole chunks
# take JAX's own bfloat16 GEMM.
from tests.layers.test_tt_rnn_integer_map import small_chunks  # noqa: F401
from ttrnn import TTDense
from ttrnn import cli_types
from ttrnn.experiments.registry import ExperimentError
from ttrnn.experiments.run_config import RunConfig
from ttrnn.tt.contraction import precision

INS, OUTS, RANKS = (4, 6), (2, 3), 2
# The last core (r 2, m 6, n 3) shrinks the inputs: the sweep starts
# with one GEMM on them as they lie.
PLAN = "rtl[1,1]/batch_last"
# One bfloat16 rounding of a GEMM's output (torch, TensorFlow), else
# float32 accumulation (JAX).
OUTPUT_RTOL = 1e-5 if backend() == "jax" else 2**-8


def to_bf16(a):
    """`a` rounded to the nearest bfloat16 (ties to even), as float32."""
    bits = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32)


def test_to_bf16_reference():
    # 1 + 2^-8 lies halfway between bfloat16's 1 and 1 + 2^-7: to even.
    np.testing.assert_array_equal(
        to_bf16([1 + 2**-8, 1 + 3 * 2**-8, 255.0, -3.0]),
        [1.0, 1 + 2**-6, 255.0, -3.0],
    )


def test_matmul_rounds_the_operands_only():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((37, 45)).astype("float32")
    b = rng.standard_normal((45, 11)).astype("float32")
    got = to_numpy(precision.matmul(a, b, "bfloat16"))
    want = to_bf16(a).astype(np.float64) @ to_bf16(b)
    np.testing.assert_allclose(got, want, rtol=OUTPUT_RTOL, atol=1e-5)
    # float32 is the plain product
    got = to_numpy(precision.matmul(a, b, "float32"))
    want = a.astype(np.float64) @ b
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_matmul_takes_integers_exactly():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (20, 9), dtype=np.uint8)
    w = to_bf16(rng.standard_normal((9, 4)))
    got = to_numpy(precision.matmul(x, w, "bfloat16"))
    want = x.astype(np.float64) @ w
    np.testing.assert_allclose(got, want, rtol=OUTPUT_RTOL, atol=1e-4)


def _matmul_grads(a, b, c):
    """d sum(matmul(a, b) * c) / d(a, b) in bfloat16 precision."""
    if backend() == "jax":
        import jax

        def loss(a, b):
            return (precision.matmul(a, b, "bfloat16") * c).sum()

        return jax.grad(loss, argnums=(0, 1))(a, b)
    if backend() == "tensorflow":
        import tensorflow as tf

        a, b = tf.Variable(a), tf.Variable(b)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(precision.matmul(a, b, "bfloat16") * c)
        return tape.gradient(loss, [a, b])
    import torch

    a = torch.tensor(a, requires_grad=True)
    b = torch.tensor(b, requires_grad=True)
    (precision.matmul(a, b, "bfloat16") * torch.tensor(c)).sum().backward()
    return a.grad, b.grad


def test_matmul_gradients():
    # With operands and cotangent exact in bfloat16, the backward's
    # bfloat16 GEMMs give the exact gradients (up to their output's
    # rounding on torch and TensorFlow).
    rng = np.random.default_rng(2)
    a = to_bf16(rng.standard_normal((30, 12)))
    b = to_bf16(rng.standard_normal((12, 7)))
    c = to_bf16(rng.standard_normal((30, 7)))
    da, db = (to_numpy(g) for g in _matmul_grads(a, b, c))
    np.testing.assert_allclose(
        da, c @ b.T.astype(np.float64), OUTPUT_RTOL, 1e-5
    )
    np.testing.assert_allclose(
        db, a.T.astype(np.float64) @ c, OUTPUT_RTOL, 1e-5
    )


def _pair(layer_cls, **kwargs):
    """The same weights, rounded to bfloat16, in a layer with bfloat16
    input products and in a float32 one."""
    low = layer_cls(
        INS,
        OUTS,
        RANKS,
        tt_strategy=PLAN,
        input_precision="bfloat16",
        **kwargs,
    )
    ref = layer_cls(INS, OUTS, RANKS, tt_strategy=PLAN, **kwargs)
    shape = (None, None, FEATURES) if layer_cls in LAYERS else (None, FEATURES)
    low.build(shape)
    ref.build(shape)
    weights = [to_bf16(w) for w in low.get_weights()]
    low.set_weights(weights)
    ref.set_weights(weights)
    return low, ref


def _grads(layer, x):
    """Gradients of sum(output * w) w.r.t. the layer's weights (torch:
    from zero, not added to an earlier call's)."""
    if backend() == "torch":
        for v in layer.trainable_weights:
            v.value.grad = None
    return _input_grads(layer, x)


def _close(got, want, rtol):
    """Each array within `rtol` of the largest value it should have."""
    for a, b in zip(got, want):
        scale = np.abs(b).max()
        np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale + 1e-7)


@pytest.mark.parametrize("layer_cls", LAYERS)
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_tt_rnn_equals_float32(layer_cls, dtype, small_chunks):  # noqa: F811
    low, ref = _pair(layer_cls)
    x = _inputs(pixels(), dtype)
    # Frames exact in bfloat16 (uint8), cores rounded to it: only the
    # output's rounding (torch, TensorFlow) and the gradient's differ.
    _close([to_numpy(low(x))], [to_numpy(ref(x))], _output_rtol(dtype))
    _close(_grads(low, x), _grads(ref, x), 2e-2)


def _inputs(x, dtype):
    """Small integers (pre-activations of order one, short of the tanh's
    saturation, where one bfloat16 rounding of a large sum shows), or
    floats in [0, 1)."""
    return x % 8 if dtype == "uint8" else (x / np.float32(255)).astype(dtype)


def _output_rtol(dtype):
    """uint8 frames are exact in bfloat16; floats are rounded too."""
    return 4 * OUTPUT_RTOL + (1e-2 if dtype == "float32" else 0)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_tt_dense_equals_float32(dtype):
    low, ref = _pair(TTDense)
    x = _inputs(pixels()[:, 0], dtype)
    _close([to_numpy(low(x))], [to_numpy(ref(x))], _output_rtol(dtype))
    _close(_grads(low, x), _grads(ref, x), 2e-2)


@pytest.mark.skipif(backend() != "jax", reason="inspects a jaxpr")
def test_jax_gemms_take_bfloat16_operands():
    # The first GEMM, forward and its weight's gradient, multiplies
    # bfloat16 operands into float32 (XLA's AMX kernels need both).
    import jax

    low, _ = _pair(LAYERS[1])
    x = pixels()
    values = [v.value for v in low.trainable_weights]
    frozen = [v.value for v in low.non_trainable_variables]

    def loss(values):
        out, _ = low.stateless_call(values, frozen, x)
        return (out * out).sum()

    text = jax.jit(jax.grad(loss)).lower(values).as_text()
    dots = [ln for ln in text.splitlines() if "stablehlo.dot_general" in ln]
    low = [ln for ln in dots if "xbf16>, tensor<" in ln and "xf32>" in ln]
    # forward (twice: the chunk is recomputed) and the core's gradient
    assert len(low) >= 2, dots
    # no float32 GEMM reads the frames: (B T 4, 6) rows
    # every GEMM that reads the (B T 4, 6) rows takes them in bfloat16
    operands = [ln.split(" : ")[-1].split("->")[0] for ln in dots]
    assert not any("84x6xf32" in o for o in operands), dots


def _frame_casts(layer):
    """The (SrcT, DstT) of every Cast from uint8 in the TensorFlow graph
    of the layer's gradient, traced with unknown batch and time (as
    Keras' `fit` over length buckets), its nested functions included."""
    import tensorflow as tf

    spec = tf.TensorSpec((None, None, FEATURES), tf.uint8)

    @tf.function(input_signature=[spec], autograph=False)
    def grads(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(layer(x)))
        return tape.gradient(loss, layer.trainable_weights)

    graph = grads.get_concrete_function().graph.as_graph_def()
    nodes = list(graph.node)
    for function in graph.library.function:
        nodes += list(function.node_def)
    casts = [n for n in nodes if n.op == "Cast"]
    pairs = [(n.attr["SrcT"].type, n.attr["DstT"].type) for n in casts]
    names = {(tf.as_dtype(s).name, tf.as_dtype(d).name) for s, d in pairs}
    return {pair for pair in names if pair[0] == "uint8"}


@pytest.mark.skipif(backend() != "tensorflow", reason="TensorFlow graphs")
@pytest.mark.parametrize("layer_cls", LAYERS)
def test_tensorflow_casts_frames_to_bfloat16_at_once(layer_cls):
    # No float32 copy of the frames in bfloat16 (the float32 layer, the
    # control, makes one).
    low, ref = _pair(layer_cls)
    assert _frame_casts(low) == {("uint8", "bfloat16")}
    assert ("uint8", "float32") in _frame_casts(ref)


@pytest.mark.parametrize("layer_cls", [*LAYERS, TTDense])
def test_config_and_bad_values(layer_cls):
    layer = layer_cls(INS, OUTS, RANKS, input_precision="bfloat16")
    assert layer.input_precision == "bfloat16"
    config = layer.get_config()
    assert config["input_precision"] == "bfloat16"
    assert layer_cls.from_config(config).input_precision == "bfloat16"
    assert layer_cls(INS, OUTS, RANKS).input_precision == "float32"
    with pytest.raises(ValueError, match="input_precision.*'float16'"):
        layer_cls(INS, OUTS, RANKS, input_precision="float16")


def test_run_setting_and_option():
    config = RunConfig.resolve("ucf11", input_precision="bfloat16")
    assert config.input_precision == "bfloat16"
    assert config.to_dict()["input_precision"] == "bfloat16"
    default = RunConfig.resolve("ucf11")
    assert default.input_precision == "float32"
    assert "input_precision" not in default.to_dict()  # as before it
    with pytest.raises(ExperimentError, match="input_precision"):
        RunConfig.resolve("ucf11", input_precision="fp8")
    assert cli_types.input_precision("bfloat16") == "bfloat16"
    with pytest.raises(argparse.ArgumentTypeError, match="float32 or"):
        cli_types.input_precision("half")


def test_model_layers_take_it():
    from ttrnn.experiments import models
    from ttrnn.experiments import registry

    experiment = registry.get("ucf11")
    model, _ = models.build_recurrent(
        experiment, "tt-gru", 57600, 11, input_precision="bfloat16"
    )
    assert model.get_layer("rnn").input_precision == "bfloat16"
    keras.backend.clear_session()

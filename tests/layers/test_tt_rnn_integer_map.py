"""The input map of uint8 frames without recomputing its first GEMM.

Where the plan starts with one GEMM on the frames as they lie, a TT-RNN
(and TTDense) keeps that GEMM's output for the backward pass instead of
recomputing the whole map of each time chunk: on torch the GEMM casts
the frames piece by piece (`ttrnn.tt.contraction.integer`), on JAX the
rematerialised chunks save its output (`runtime.JAX_KEEP_FIRST_GEMM`,
set here; off by default). Outputs and every gradient must
equal the reference path (`integer_first_gemm = False`: each chunk
recomputed) and the float frames, with padding masks, input dropout
(which falls back to the reference path), and batch and time sizes that
divide neither the chunks nor the pieces.
"""

import keras
import numpy as np
import pytest

from tests.conftest import backend
from tests.helpers import to_numpy
from tests.layers.test_tt_rnn_inputs import FEATURES
from tests.layers.test_tt_rnn_inputs import LAYERS
from tests.layers.test_tt_rnn_inputs import OFFSET
from tests.layers.test_tt_rnn_inputs import SCALE
from tests.layers.test_tt_rnn_inputs import _grads as _input_grads
from tests.layers.test_tt_rnn_inputs import as_floats
from tests.layers.test_tt_rnn_inputs import pixels
from ttrnn import TTGRU
from ttrnn import TTDense
from ttrnn import backends
from ttrnn.tt.contraction import integer
from ttrnn.tt.contraction import runtime

INS, OUTS, RANKS = (4, 6), (2, 3), 2
# The last core (r 2, m 6, n 3) shrinks the frames: the sweep starts with
# one GEMM on them as they lie.
PLAN = "rtl[1,1]/batch_last"


@pytest.fixture(autouse=True)
def keep_first_gemm(monkeypatch):
    """The path under test on JAX too, whose default recomputes the chunk
    (`runtime.keeps_first_gemm`): the reference path of these tests."""
    monkeypatch.setattr(runtime, "JAX_KEEP_FIRST_GEMM", True)


@pytest.fixture(params=[False, True], ids=["whole", "small-chunks"])
def small_chunks(request, monkeypatch):
    """Time chunks of 2 steps of 3 clips and pieces of 5 rows of 6
    values, JAX's pieces inside a chunk too (7 steps: 3 full chunks and
    a short one; 3 x 7 x 4 = 84 rows: 16 full pieces and a short one)."""
    if request.param:
        monkeypatch.setattr(backends, "MAX_INTEGER_CHUNK_VALUES", 6 * FEATURES)
        monkeypatch.setattr(integer, "PIECE_VALUES", 5 * 6)
        monkeypatch.setattr(runtime, "JAX_INTEGER_PIECE_VALUES", 5 * 6)
    return request.param


def _layers(layer_cls, **kwargs):
    """The same weights in a uint8 layer and a float layer."""
    raw = layer_cls(
        INS,
        OUTS,
        RANKS,
        input_scale=SCALE,
        input_offset=OFFSET,
        tt_strategy=PLAN,
        **kwargs,
    )
    ref = layer_cls(INS, OUTS, RANKS, tt_strategy=PLAN, **kwargs)
    raw.build((None, None, FEATURES))
    ref.build((None, None, FEATURES))
    ref.set_weights(raw.get_weights())
    return raw, ref


def _mask():
    mask = np.ones((3, 7), bool)
    mask[0, :3] = False
    mask[2, :1] = False
    return mask


def _grads(layer, x, mask=None):
    """Gradients of sum(output * w) w.r.t. the layer's weights (torch:
    from zero, not added to an earlier call's)."""
    if backend() == "torch":
        for v in layer.trainable_weights:
            v.value.grad = None
    return _input_grads(layer, x, mask)


def _check(got, want, rtol=1e-4, atol=1e-5):
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("layer_cls", LAYERS)
def test_equals_reference_path_and_float_frames(layer_cls, small_chunks):
    raw, ref = _layers(layer_cls)
    x, mask = pixels(), _mask()
    out = to_numpy(raw(x, mask=mask))
    grads = _grads(raw, x, mask)
    raw.cell.integer_first_gemm = False  # every chunk recomputed
    _check([out], [to_numpy(raw(x, mask=mask))], 1e-5, 1e-6)
    _check(grads, _grads(raw, x, mask))
    _check([out], [to_numpy(ref(as_floats(x), mask=mask))], 1e-5, 1e-6)
    _check(grads, _grads(ref, as_floats(x), mask))


@pytest.mark.skipif(backend() != "jax", reason="JAX's default path")
@pytest.mark.parametrize("layer_cls", LAYERS)
def test_jax_casts_rows_outer_first(layer_cls, small_chunks, monkeypatch):
    # JAX's default (`runtime.JAX_KEEP_FIRST_GEMM` off): each chunk is
    # recomputed in the backward pass, and its first GEMM casts the
    # frames reordered outer-first (`runtime.outer_major_first_gemm`),
    # never through `integer.matmul`'s pieces.
    monkeypatch.setattr(runtime, "JAX_KEEP_FIRST_GEMM", False)
    # Cast whole: a chunk's values fit in one piece (the small chunks too).
    monkeypatch.setattr(integer, "PIECE_VALUES", 2**22)
    calls = []
    real = integer.matmul
    monkeypatch.setattr(
        integer, "matmul", lambda *a: calls.append(1) or real(*a)
    )
    raw, ref = _layers(layer_cls)
    x, mask = pixels(), _mask()
    out = to_numpy(raw(x, mask=mask))
    grads = _grads(raw, x, mask)
    assert not calls
    _check([out], [to_numpy(ref(as_floats(x), mask=mask))], 1e-5, 1e-6)
    _check(grads, _grads(ref, as_floats(x), mask))
    # The reference path: each chunk cast first, then one plain GEMM.
    raw.cell.integer_first_gemm = False
    _check([out], [to_numpy(raw(x, mask=mask))], 1e-5, 1e-6)
    _check(grads, _grads(raw, x, mask))


@pytest.mark.parametrize("layer_cls", LAYERS)
def test_input_dropout_falls_back(layer_cls, small_chunks, monkeypatch):
    # The mask multiplies the frames, which are then no longer integers:
    # each chunk is cast, masked and mapped as before.
    calls = []
    real = integer.matmul
    monkeypatch.setattr(
        integer, "matmul", lambda *a: calls.append(1) or real(*a)
    )
    raw, ref = _layers(layer_cls, dropout=0.5, seed=3)
    x = pixels()
    keras.utils.set_random_seed(0)
    raw.cell.reset_dropout_mask()
    got = to_numpy(raw(x, training=True))
    mask = raw.cell._dropout_mask
    assert not calls
    # The float layer with the same input mask.
    ref.cell._dropout_mask = mask
    want = to_numpy(ref(as_floats(x), training=True))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(backend() != "torch", reason="the torch path")
def test_torch_takes_the_integer_gemm(monkeypatch):
    calls = []
    real = integer.matmul
    monkeypatch.setattr(
        integer, "matmul", lambda *a: calls.append(1) or real(*a)
    )
    raw, _ = _layers(TTGRU)
    raw(pixels())
    assert len(calls) == 3  # one a clip (one time chunk each)
    raw.cell.integer_first_gemm = False
    raw(pixels())
    assert len(calls) == 3


@pytest.mark.skipif(backend() != "jax", reason="inspects a jaxpr")
def test_jax_does_not_recompute_the_first_gemm():
    import jax

    raw, _ = _layers(TTGRU)
    x = pixels()
    rows = 3 * 7 * INS[0]  # the first GEMM: (84, 6) @ (6, 6)

    def first_gemms():
        def loss(values):
            out, _ = raw.stateless_call(values, frozen, x)
            return (out * out).sum()

        values = [v.value for v in raw.trainable_weights]
        frozen = [v.value for v in raw.non_trainable_variables]
        jaxpr = jax.make_jaxpr(jax.grad(loss))(values)
        return sum(
            1
            for eqn in _all_eqns(jaxpr.jaxpr)
            if eqn.primitive.name == "dot_general"
            and tuple(eqn.outvars[0].aval.shape) == (rows, 6)
        )

    assert first_gemms() == 1
    raw.cell.integer_first_gemm = False
    assert first_gemms() == 2  # the forward, then its recomputation


def _all_eqns(jaxpr):
    """Every equation of a jaxpr and of the jaxprs inside it."""
    for eqn in jaxpr.eqns:
        yield eqn
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    yield from _all_eqns(inner)


@pytest.mark.skipif(backend() != "torch", reason="torch dispatch mode")
def test_torch_holds_no_float_copy_of_the_frames(monkeypatch):
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    batch, steps, wide = 2, 40, 96
    monkeypatch.setattr(integer, "PIECE_VALUES", 4 * 12)
    layer = TTGRU((8, 12), (1, 2), 2, input_scale=SCALE, tt_strategy=PLAN)
    layer.build((None, None, wide))
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.integers(0, 256, (batch, steps, wide), np.uint8))
    sizes = []

    class Watch(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (list, tuple)) else [out]:
                if isinstance(t, torch.Tensor) and t.is_floating_point():
                    sizes.append(t.numel())
            return out

    with Watch():
        layer(x, training=True).sum().backward()
    # The first GEMM's output: 8 rows of (r n = 2 x 2) a frame, a third
    # of the frames' values.
    first_gemm = batch * steps * 8 * 4
    assert sizes and max(sizes) <= first_gemm < batch * steps * wide


@pytest.mark.parametrize("shape", [(5,), (3, 7)], ids=["2d", "3d"])
def test_tt_dense_integer_rows(shape, small_chunks):
    raw = TTDense(
        INS,
        OUTS,
        RANKS,
        input_scale=SCALE,
        input_offset=OFFSET,
        tt_strategy=PLAN,
        activation="tanh",
    )
    ref = TTDense(INS, OUTS, RANKS, tt_strategy=PLAN, activation="tanh")
    raw.build((None, FEATURES))
    ref.build((None, FEATURES))
    ref.set_weights(raw.get_weights())
    x = np.random.default_rng(1).integers(0, 256, shape + (FEATURES,))
    x = x.astype(np.uint8)
    np.testing.assert_allclose(
        to_numpy(raw(x)), to_numpy(ref(as_floats(x))), rtol=1e-5, atol=1e-6
    )
    _check(_dense_grads(raw, x), _dense_grads(ref, as_floats(x)))


def _dense_grads(layer, x):
    """Gradients of sum(output ** 2) with respect to the layer's weights."""
    if backend() == "jax":
        import jax

        def loss(values):
            out, _ = layer.stateless_call(values, [], x)
            return (out * out).sum()

        values = [v.value for v in layer.trainable_weights]
        return [np.asarray(g) for g in jax.grad(loss)(values)]
    if backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(layer(x)))
        return [g.numpy() for g in tape.gradient(loss, layer.trainable_weights)]
    loss = (layer(x) ** 2).sum()
    loss.backward()
    return [to_numpy(v.value.grad) for v in layer.trainable_weights]


@pytest.mark.skipif(backend() != "jax", reason="JAX's chunks only")
def test_jax_casts_in_pieces_as_the_chunk_does(monkeypatch):
    # `runtime.integer_cast_in_first_gemm`: each chunk's first GEMM casts
    # its frames piece by piece (5 rows of 6 values); `None` casts the
    # whole chunk first. Same outputs and gradients, and only the pieces
    # are ever cast.
    import jax

    raw, _ = _layers(TTGRU)
    x, mask = pixels(), _mask()

    def run(piece_values):
        monkeypatch.setattr(runtime, "JAX_INTEGER_PIECE_VALUES", piece_values)
        out = to_numpy(raw(x, mask=mask))
        values = [v.value for v in raw.trainable_weights]
        frozen = [v.value for v in raw.non_trainable_variables]

        def loss(values, frames):
            out, _ = raw.stateless_call(values, frozen, frames)
            return (out * out).sum()

        # The frames an argument: traced, not cast once when tracing.
        jaxpr = jax.make_jaxpr(jax.grad(loss))(values, x)
        casts = {
            tuple(eqn.outvars[0].aval.shape)
            for eqn in _all_eqns(jaxpr.jaxpr)
            if eqn.primitive.name == "convert_element_type"
            and eqn.invars[0].aval.dtype == np.uint8
        }
        return [out, *_grads(raw, x, mask)], casts

    pieces, piece_casts = run(5 * 6)
    whole, whole_casts = run(None)
    _check(pieces, whole, 1e-5, 1e-6)
    assert piece_casts == {(5, 6), (84 % 5, 6)}
    assert (3, 7, FEATURES) in whole_casts

"""TT-RNN inputs: raw uint8 frames, the input transform, time chunks.

A TT-RNN given uint8 pixels and `input_scale` / `input_offset` must equal
the same layer given the float frames `x * scale + offset` (outputs and
gradients), whether or not the input map runs in time chunks; a clip in
a padded, masked batch must give what it gives alone; and the chunked
uint8 path must never hold a float copy of the whole sequence.
"""

import keras
import numpy as np
import pytest

from tests.conftest import backend
from tests.helpers import to_numpy
from ttrnn import TTGRU
from ttrnn import TTLSTM
from ttrnn import TTSimpleRNN
from ttrnn import backends
from ttrnn.layers import _tt_rnn_inputs
from ttrnn.testing import run_layer_test

INS, OUTS, RANKS = (4, 6), (2, 3), 2
FEATURES = 24
SCALE, OFFSET = 1 / 128, -1.0
LAYERS = [TTSimpleRNN, TTGRU, TTLSTM]


def pixels(batch=3, steps=7, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (batch, steps, FEATURES), dtype=np.uint8)


def as_floats(x):
    return x.astype("float32") * SCALE + OFFSET


def pair(layer_cls, **kwargs):
    """The same weights in a uint8 layer and a float layer."""
    raw = layer_cls(
        INS, OUTS, RANKS, input_scale=SCALE, input_offset=OFFSET, **kwargs
    )
    ref = layer_cls(INS, OUTS, RANKS, **kwargs)
    raw.build((None, None, FEATURES))
    ref.build((None, None, FEATURES))
    ref.set_weights(raw.get_weights())
    return raw, ref


@pytest.fixture(params=[None, 2], ids=["whole", "chunks-of-2"])
def chunk_steps(request, monkeypatch):
    """Runs the input map whole, or in chunks of 2 time steps (so 7
    steps make 3 full chunks and a short last one)."""
    if request.param is not None:
        for module, name in (
            (_tt_rnn_inputs, "MAX_PROJECTION_VALUES"),
            (backends, "MAX_INTEGER_CHUNK_VALUES"),
        ):
            monkeypatch.setattr(module, name, 3 * request.param * FEATURES)
    return request.param


def _grads(layer, x, mask=None):
    """Gradients of sum(output * w) with respect to the layer's weights
    (a `mask` only where given: TTDense takes none)."""
    weights = np.linspace(-1, 1, layer.units).astype("float32")
    kwargs = {} if mask is None else {"mask": mask}
    if backend() == "jax":
        import jax

        def loss(values):
            out, _ = layer.stateless_call(values, frozen, x, **kwargs)
            return (out * weights).sum()

        values = [v.value for v in layer.trainable_weights]
        frozen = [v.value for v in layer.non_trainable_variables]
        return [np.asarray(g) for g in jax.grad(loss)(values)]
    if backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, **kwargs) * weights)
        return [g.numpy() for g in tape.gradient(loss, layer.trainable_weights)]
    import torch

    loss = (layer(x, **kwargs) * torch.as_tensor(weights)).sum()
    loss.backward()
    return [to_numpy(v.value.grad) for v in layer.trainable_weights]


class TestUint8Inputs:
    @pytest.mark.parametrize("layer_cls", LAYERS)
    def test_outputs_and_gradients_equal_float_inputs(
        self, layer_cls, chunk_steps
    ):
        raw, ref = pair(layer_cls)
        x = pixels()
        mask = np.ones((3, 7), bool)
        mask[0, :3] = False
        np.testing.assert_allclose(
            to_numpy(raw(x, mask=mask)),
            to_numpy(ref(as_floats(x), mask=mask)),
            rtol=1e-5,
            atol=1e-6,
        )
        for g_raw, g_ref in zip(
            _grads(raw, x, mask), _grads(ref, as_floats(x), mask)
        ):
            np.testing.assert_allclose(g_raw, g_ref, rtol=1e-4, atol=1e-5)

    @pytest.mark.parametrize("layer_cls", LAYERS)
    def test_input_dropout_equals_float_inputs(self, layer_cls, chunk_steps):
        """Under input dropout the scale and offset still equal the float
        frames: the uint8 path folds them into the weights and into a
        bias of one row a sequence (the offset times the masked map)."""
        raw, ref = pair(layer_cls, dropout=0.5, seed=3)
        x = pixels()
        mask = np.ones((3, 7), bool)
        mask[1, :2] = False
        dropped = to_numpy(raw(x, mask=mask, training=True))
        np.testing.assert_allclose(
            dropped,
            to_numpy(ref(as_floats(x), mask=mask, training=True)),
            rtol=1e-5,
            atol=1e-6,
        )
        # The mask did act: training outputs differ from inference ones.
        assert np.abs(dropped - to_numpy(raw(x, mask=mask))).max() > 1e-3

    def test_training_step_equals_float_model(self, chunk_steps):
        def model(dtype, **kwargs):
            inputs = keras.Input((7, FEATURES), dtype=dtype)
            rnn = TTGRU(INS, OUTS, RANKS, recurrent_dropout=0.0, **kwargs)
            return keras.Model(inputs, keras.layers.Dense(1)(rnn(inputs)))

        raw = model("uint8", input_scale=SCALE, input_offset=OFFSET)
        ref = model("float32")
        ref.set_weights(raw.get_weights())
        x, y = pixels(), np.ones((3, 1), "float32")
        for m, data in ((raw, x), (ref, as_floats(x))):
            m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
            m.fit(data, y, batch_size=3, epochs=2, verbose=0)
        for a, b in zip(raw.get_weights(), ref.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

    def test_input_dropout_on_uint8_frames(self, chunk_steps):
        layer = TTGRU(INS, OUTS, RANKS, dropout=0.5, input_scale=SCALE, seed=3)
        x = pixels()
        out = to_numpy(layer(x, training=True))
        assert out.shape == (3, 6) and np.isfinite(out).all()
        # Inference applies no mask: equal to the float layer.
        ref = TTGRU(INS, OUTS, RANKS, input_scale=SCALE)
        ref.build((None, None, FEATURES))
        ref.set_weights(layer.get_weights())
        np.testing.assert_allclose(
            to_numpy(layer(x)),
            to_numpy(ref(x.astype("float32"))),
            rtol=1e-5,
            atol=1e-6,
        )


class TestPaddingInvariance:
    @pytest.mark.parametrize("layer_cls", LAYERS)
    def test_clip_in_a_padded_batch_equals_clip_alone(
        self, layer_cls, chunk_steps
    ):
        layer, _ = pair(layer_cls)
        clips = [pixels(1, n, seed=n)[0] for n in (2, 5, 7)]
        alone = [to_numpy(layer(clip[None]))[0] for clip in clips]
        for steps in (7, 9, 12):  # the same clips in longer buckets
            x = np.zeros((3, steps, FEATURES), np.uint8)
            mask = np.zeros((3, steps), bool)
            for row, clip in enumerate(clips):
                x[row, steps - len(clip) :] = clip
                mask[row, steps - len(clip) :] = True
            out = to_numpy(layer(x, mask=mask))
            for row in range(3):
                np.testing.assert_allclose(
                    out[row], alone[row], rtol=1e-5, atol=1e-6
                )


class TestInputTransformArguments:
    @pytest.mark.parametrize("layer_cls", LAYERS)
    def test_layer(self, layer_cls):
        kwargs = {"input_scale": SCALE, "input_offset": OFFSET}
        config = layer_cls(INS, OUTS, RANKS, **kwargs).get_config()
        assert config["input_scale"] == SCALE
        assert config["input_offset"] == OFFSET
        run_layer_test(
            layer_cls,
            {"tt_input_shape": INS, "tt_output_shape": OUTS,
             "tt_ranks": RANKS, **kwargs},
            input_data=pixels(),
            expected_output_shape=(3, 6),
            run_training_check=False,  # test_training_step_equals_float_model
            run_mixed_precision_check=layer_cls is TTGRU,
        )  # fmt: skip

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"input_scale": "x"}, "`input_scale` must be a number"),
            ({"input_offset": float("nan")}, "`input_offset` must be finite"),
            ({"input_scale": True}, "`input_scale` must be a number"),
        ],
    )
    def test_invalid(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            TTGRU(INS, OUTS, RANKS, **kwargs)


class TestBoundedMemory:
    """The uint8 path never holds float frames beyond one time chunk."""

    # Wide frames, few units (as for video): the projected sequence
    # (batch * steps * 3 gates * 2 units) is far smaller than the frames.
    BATCH, STEPS, CHUNK, WIDE = 2, 40, 4, 96

    def _layer(self, monkeypatch):
        monkeypatch.setattr(
            backends,
            "MAX_INTEGER_CHUNK_VALUES",
            self.BATCH * self.CHUNK * self.WIDE,
        )
        layer = TTGRU((8, 12), (1, 2), 2, input_scale=SCALE, dropout=0.5)
        layer.build((None, None, self.WIDE))
        return layer

    def _pixels(self):
        rng = np.random.default_rng(0)
        shape = (self.BATCH, self.STEPS, self.WIDE)
        return rng.integers(0, 256, shape, dtype=np.uint8)

    def _limit(self):
        # Float values of one chunk's frames; the whole sequence holds
        # STEPS / CHUNK = 10 times as many.
        return self.BATCH * self.CHUNK * self.WIDE

    @pytest.mark.skipif(backend() != "jax", reason="inspects a jaxpr")
    def test_jax_graph_has_no_full_float_copy(self, monkeypatch):
        import jax

        layer = self._layer(monkeypatch)
        x = self._pixels()

        def loss(values):
            out, _ = layer.stateless_call(values, frozen, x, training=True)
            return out.sum()

        values = [v.value for v in layer.trainable_weights]
        frozen = [v.value for v in layer.non_trainable_variables]
        jaxpr = jax.make_jaxpr(jax.grad(loss))(values)
        sizes = [
            int(np.prod(v.aval.shape))
            for v in _all_vars(jaxpr.jaxpr)
            if "float" in str(v.aval.dtype) and v.aval.shape
        ]
        full = self.BATCH * self.STEPS * self.WIDE
        assert max(sizes) <= self._limit() < full

    @pytest.mark.skipif(backend() != "torch", reason="torch dispatch mode")
    def test_torch_creates_no_full_float_copy(self, monkeypatch):
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode

        layer = self._layer(monkeypatch)
        x = torch.as_tensor(self._pixels())
        sizes = []

        class Watch(TorchDispatchMode):
            """Sees the output of every aten op, forward and backward."""

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in out if isinstance(out, (list, tuple)) else [out]:
                    if isinstance(t, torch.Tensor) and t.is_floating_point():
                        sizes.append(t.numel())
                return out

        with Watch():
            out = layer(x, training=True)
            out.sum().backward()
        full = self.BATCH * self.STEPS * self.WIDE
        assert sizes and max(sizes) <= self._limit() < full


def _all_vars(jaxpr):
    """Every variable of a jaxpr and of the jaxprs inside it."""
    for eqn in jaxpr.eqns:
        yield from eqn.outvars
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                inner = getattr(sub, "jaxpr", None)
                if inner is not None and hasattr(inner, "eqns"):
                    yield from _all_vars(inner)
                elif hasattr(sub, "eqns"):
                    yield from _all_vars(sub)


@pytest.mark.skipif(
    backend() != "tensorflow", reason="unknown time axis: TensorFlow graphs"
)
@pytest.mark.parametrize("layer_cls", LAYERS)
def test_tf_graph_with_unknown_length_chunks_and_matches(
    layer_cls, monkeypatch
):
    # Keras feeds `fit` through tf.data: bucketed batches of several
    # lengths reach the layer with time (and batch) unknown. The uint8
    # map then runs in chunks sized when the graph runs (here 2 steps of
    # 3 clips), and must still equal the float layer, gradients included.
    import tensorflow as tf

    monkeypatch.setattr(backends, "MAX_INTEGER_CHUNK_VALUES", 3 * 2 * FEATURES)
    raw, ref = pair(layer_cls, dropout=0.0)
    spec = tf.TensorSpec([None, None, FEATURES], tf.uint8)
    traced = []
    weights = np.linspace(-1, 1, raw.units).astype("float32")  # as _grads

    @tf.function(input_signature=[spec])
    def run(x):
        traced.append(x.shape)
        with tf.GradientTape() as tape:
            out = raw(x)
            loss = tf.reduce_sum(out * weights)
        return out, tape.gradient(loss, raw.trainable_weights)

    for steps in (7, 4, 1):
        x = pixels(steps=steps, seed=steps)
        out, grads = run(tf.constant(x))
        expected = _grads(ref, as_floats(x))
        np.testing.assert_allclose(
            out.numpy(), to_numpy(ref(as_floats(x))), rtol=1e-5, atol=1e-5
        )
        for got, want in zip(grads, expected):
            np.testing.assert_allclose(
                to_numpy(got), want, rtol=1e-4, atol=1e-5
            )
    assert len(traced) == 1  # one graph for every length

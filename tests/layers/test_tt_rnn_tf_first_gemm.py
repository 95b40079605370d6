"""TensorFlow's rematerialised chunks of uint8 frames keep their first
GEMM's output (`runtime.first_gemm_scope`): the backward replays it
instead of recomputing it. Outputs and gradients must equal the path
that recomputes each chunk whole (`integer_first_gemm = False`) and the
float frames, with static shapes (eager) and unknown ones (a
`tf.function` over length buckets, `remat_dynamic_time_chunks`)."""

import numpy as np
import pytest

from tests.conftest import backend
from tests.layers.test_tt_rnn_inputs import FEATURES
from tests.layers.test_tt_rnn_inputs import LAYERS
from tests.layers.test_tt_rnn_inputs import as_floats
from tests.layers.test_tt_rnn_inputs import pixels
from tests.layers.test_tt_rnn_integer_map import _layers
from tests.layers.test_tt_rnn_integer_map import _mask
from tests.layers.test_tt_rnn_integer_map import small_chunks  # noqa: F401
from ttrnn import xla_row_chunks
from ttrnn.tt.contraction import runtime

pytestmark = pytest.mark.skipif(
    backend() != "tensorflow", reason="TensorFlow's rematerialisation"
)


@pytest.fixture(autouse=True, params=[True, False], ids=["rows", "steps"])
def row_chunks(request, monkeypatch):
    """Traced calls in chunks of a static frame count compiled by XLA
    (`ttrnn.xla_row_chunks`), or in chunks of whole time steps
    (`remat_dynamic_time_chunks`)."""
    monkeypatch.setitem(xla_row_chunks.SWITCH, "on", request.param)


def _traced(layer, dtype):
    """Output and weight gradients of sum(output * w), traced once for
    any batch and length."""
    import tensorflow as tf

    w = np.linspace(-1, 1, layer.units).astype("float32")
    spec = [
        tf.TensorSpec([None, None, FEATURES], dtype),
        tf.TensorSpec([None, None], tf.bool),
    ]

    @tf.function(input_signature=spec)
    def run(x, mask):
        with tf.GradientTape() as tape:
            out = layer(x, mask=mask)
            loss = tf.reduce_sum(out * w)
        return out, tape.gradient(loss, layer.trainable_weights)

    def call(x, mask):
        out, grads = run(tf.constant(x), tf.constant(mask))
        return [out.numpy()] + [g.numpy() for g in grads]

    return call


def _check(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer_cls", LAYERS)
def test_unknown_shapes_equal_recomputation_and_floats(
    layer_cls,
    small_chunks,  # noqa: F811
):
    raw, ref = _layers(layer_cls)
    saving = _traced(raw, "uint8")
    x, mask = pixels(), _mask()
    got = saving(x, mask)
    raw.cell.integer_first_gemm = False  # every chunk recomputed
    _check(got, _traced(raw, "uint8")(x, mask))
    _check(got, _traced(ref, "float32")(as_floats(x), mask))
    # A second bucket of another shape through the same trace.
    x2, mask2 = pixels(batch=2, steps=4, seed=1), _mask()[:2, 3:]
    raw.cell.integer_first_gemm = True
    got = saving(x2, mask2)
    _check(got, _traced(ref, "float32")(as_floats(x2), mask2))


@pytest.mark.parametrize("save", [True, False])
def test_backward_replays_the_first_gemm(save, monkeypatch):
    replays = []
    real = runtime.first_gemm_scope

    def spy(replay=None):
        replays.append(None if replay is None else len(replay))
        return real(replay)

    monkeypatch.setattr(runtime, "first_gemm_scope", spy)
    raw, _ = _layers(LAYERS[0])
    raw.cell.integer_first_gemm = save
    _traced(raw, "uint8")(pixels(), _mask())
    replayed = [n for n in replays if n]
    # One first GEMM a chunk replayed in the backward, or none.
    assert replayed == ([1] * len(replayed) if save else [])
    assert bool(replayed) == save

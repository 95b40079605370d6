"""TensorFlow's recurrence compiled by XLA (`recurrence_loops.xla_rnn`, inside a
traced function) against the same loop run by TensorFlow's executor
(`layer.xla_loop = False`, the reference): outputs and gradients, under
masks and recurrent dropout."""

import keras
import numpy as np
import pytest

from tests.layers import _tt_rnn_helpers as h
from ttrnn import TTGRU
from ttrnn import TTLSTM
from ttrnn import TTSimpleRNN
from ttrnn import recurrence_loops
from ttrnn.activations import keras2_hard_sigmoid
from ttrnn.tt.contraction import runtime

TF = keras.backend.backend() == "tensorflow"
only_tf = pytest.mark.skipif(not TF, reason="TensorFlow's loop only")


def _outputs_and_grads(layer, x, mask, xla):
    """Output of a training call in a `tf.function`, and the gradients
    of sum(output * w) w.r.t. the layer's weights and the input, with
    fixed dropout masks."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    cell = layer.cell
    keep = rng.random((cell.num_gates, x.shape[0], cell.units)) > 0.3
    rec_mask = (keep / 0.7).astype("float32")
    out_w = np.linspace(-1, 1, layer.units).astype("float32")
    layer.xla_loop = xla

    @tf.function
    def run(xt, mask):
        if cell.recurrent_dropout:
            cell._recurrent_dropout_mask = tf.constant(rec_mask)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = layer(xt, mask=mask, training=True)
            loss = tf.reduce_sum(out * out_w)
        return out, tape.gradient(loss, [*layer.trainable_weights, xt])

    out, grads = run(tf.constant(x), tf.constant(mask))
    return out.numpy(), [g.numpy() for g in grads]


def _pair(layer_cls, **kwargs):
    layers = []
    for _ in range(2):
        layer = layer_cls(h.INS, h.OUTS, h.RANKS, **kwargs)
        layer.build((None, 5, h.FEATURES))
        layers.append(layer)
    layers[1].set_weights(layers[0].get_weights())
    return layers


def _assert_same(layer_cls, **kwargs):
    fast, reference = _pair(layer_cls, **kwargs)
    x, mask = h.sequences(), h.ragged_mask()
    out, grads = _outputs_and_grads(fast, x, mask, xla=True)
    want, want_grads = _outputs_and_grads(reference, x, mask, xla=False)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    assert len(grads) == len(want_grads) == len(fast.trainable_weights) + 1
    for g, w in zip(grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    assert np.abs(grads[-1]).sum() > 0  # the input gradient flows


@only_tf
@pytest.mark.parametrize("recurrent_dropout", [0.0, 0.3])
@pytest.mark.parametrize(
    "go_backwards, return_sequences", [(False, True), (True, False)]
)
def test_xla_gru_equals_executor_loop(
    recurrent_dropout, go_backwards, return_sequences
):
    _assert_same(
        TTGRU,
        reset_after=False,
        recurrent_activation=keras2_hard_sigmoid,
        recurrent_dropout=recurrent_dropout,
        bias_initializer="uniform",
        go_backwards=go_backwards,
        return_sequences=return_sequences,
    )


@only_tf
def test_xla_gru_reset_after_equals_executor_loop():
    _assert_same(
        TTGRU,
        reset_after=True,
        recurrent_dropout=0.3,
        bias_initializer="uniform",
        return_sequences=True,
    )


@only_tf
@pytest.mark.parametrize("recurrent_dropout", [0.0, 0.3])
@pytest.mark.parametrize("layer_cls", [TTLSTM, TTSimpleRNN])
def test_xla_lstm_and_simple_rnn_equal_executor_loop(
    layer_cls, recurrent_dropout, monkeypatch
):
    # Their `step_weights` (the recurrent kernel and dropout masks as
    # tensors) let their loop into XLA as the GRU's.
    calls = []
    real = recurrence_loops.xla_rnn
    monkeypatch.setattr(
        recurrence_loops,
        "xla_rnn",
        lambda *a, **k: calls.append(1) or real(*a, **k),
    )
    _assert_same(
        layer_cls,
        recurrent_dropout=recurrent_dropout,
        return_sequences=True,
        go_backwards=bool(recurrent_dropout),
    )
    assert calls


@only_tf
def test_xla_loop_is_used_in_traced_functions_only():
    import tensorflow as tf

    assert not runtime.xla_recurrence()  # eagerly: a compile per call
    traced = tf.function(runtime.xla_recurrence)
    assert bool(traced())


@only_tf
def test_stateful_xla_gru_carries_the_same_states():
    import tensorflow as tf

    x = h.sequences(batch=2)
    outs = []
    for xla in (True, False):
        keras.utils.set_random_seed(3)
        layer = TTGRU(h.INS, h.OUTS, h.RANKS, stateful=True)
        layer.xla_loop = xla
        run = tf.function(lambda x, layer=layer: layer(x))
        run(x[:, :2])
        outs.append(run(x[:, 2:]).numpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(TF, reason="backends other than TensorFlow")
def test_no_xla_loop_elsewhere():
    assert runtime.xla_recurrence() is False

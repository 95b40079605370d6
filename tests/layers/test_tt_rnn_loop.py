"""The TT-RNN layers' own loop (`direct_step`, the cells' `projected_step`,
on torch `recurrence_loops.torch_rnn`) against Keras' loop calling the cell as a
layer (`direct_step=False`, the reference): outputs and gradients, under
masks and recurrent dropout."""

import keras
import numpy as np
import pytest

from tests.helpers import to_numpy
from tests.layers import _tt_rnn_helpers as h
from ttrnn import TTGRU
from ttrnn import TTLSTM
from ttrnn import TTSimpleRNN
from ttrnn.activations import keras2_hard_sigmoid


def _fixed_masks(layer, batch, rng):
    """Recurrent (and input) dropout masks the call will use as drawn."""
    cell = layer.cell
    if cell.recurrent_dropout:
        keep = rng.random((cell.num_gates, batch, cell.units)) > 0.3
        cell._recurrent_dropout_mask = keras.ops.convert_to_tensor(
            keep.astype("float32") / 0.7
        )
    if cell.dropout:
        keep = rng.random((batch, cell.input_dim)) > 0.3
        cell._dropout_mask = keras.ops.convert_to_tensor(
            keep.astype("float32") / 0.7
        )


def _outputs_and_grads(layer, x, mask, seed=0):
    """Output of a training call, and the gradients of sum(output * w)
    with respect to the layer's weights and the input."""
    batch = x.shape[0]
    out_w = np.linspace(-1, 1, layer.units).astype("float32")
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def loss(values, inputs):
            _fixed_masks(layer, batch, np.random.default_rng(seed))
            out, _ = layer.stateless_call(
                values, frozen, inputs, mask=mask, training=True
            )
            return (out * out_w).sum(), out

        values = [v.value for v in layer.trainable_weights]
        frozen = [v.value for v in layer.non_trainable_variables]
        fn = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)
        (_, out), (grads, gx) = fn(values, x)
        return to_numpy(out), [np.asarray(g) for g in [*grads, gx]]
    _fixed_masks(layer, batch, np.random.default_rng(seed))
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = layer(xt, mask=mask, training=True)
            loss = tf.reduce_sum(out * out_w)
        grads = tape.gradient(loss, [*layer.trainable_weights, xt])
        return out.numpy(), [g.numpy() for g in grads]
    import torch

    xt = torch.tensor(x, requires_grad=True)
    out = layer(xt, mask=mask, training=True)
    weights = [v.value for v in layer.trainable_weights]
    grads = torch.autograd.grad(
        (out * torch.as_tensor(out_w)).sum(), [*weights, xt]
    )
    return to_numpy(out), [to_numpy(g) for g in grads]


def _pair(layer_cls, **kwargs):
    """The layer on its own loop and a twin with the same weights on
    Keras' loop."""
    layers = []
    for direct in (True, False):
        layer = layer_cls(h.INS, h.OUTS, h.RANKS, **kwargs)
        layer.direct_step = direct
        layer.build((None, 5, h.FEATURES))
        layers.append(layer)
    layers[1].set_weights(layers[0].get_weights())
    return layers


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("recurrent_dropout", [0.0, 0.3])
@pytest.mark.parametrize(
    "go_backwards, return_sequences", [(False, True), (True, False)]
)
def test_gru_step_equals_keras_loop(
    reset_after, recurrent_dropout, go_backwards, return_sequences
):
    fast, reference = _pair(
        TTGRU,
        reset_after=reset_after,
        recurrent_activation=keras2_hard_sigmoid,
        recurrent_dropout=recurrent_dropout,
        dropout=0.2,
        bias_initializer="uniform",
        go_backwards=go_backwards,
        return_sequences=return_sequences,
    )
    x, mask = h.sequences(), h.ragged_mask()
    out, grads = _outputs_and_grads(fast, x, mask)
    want, want_grads = _outputs_and_grads(reference, x, mask)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    assert len(grads) == len(want_grads) == len(fast.trainable_weights) + 1
    for g, w in zip(grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    assert np.abs(grads[-1]).sum() > 0  # the input gradient flows


def _assert_equal_runs(fast, reference, x, mask):
    """The two layers' outputs and gradients agree; returns the fast
    layer's output."""
    out, grads = _outputs_and_grads(fast, x, mask)
    want, want_grads = _outputs_and_grads(reference, x, mask)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    assert len(grads) == len(want_grads)
    for g, w in zip(grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    return out


@pytest.mark.parametrize("layer_cls", [TTLSTM, TTSimpleRNN])
def test_other_cells_equal_keras_loop(layer_cls):
    fast, reference = _pair(
        layer_cls, recurrent_dropout=0.3, return_sequences=True
    )
    x, mask = h.sequences(), h.ragged_mask()
    _assert_equal_runs(fast, reference, x, mask)


def test_stateful_gru_carries_the_same_states():
    x = h.sequences(batch=2)
    outs = []
    for direct in (True, False):
        keras.utils.set_random_seed(3)
        layer = TTGRU(h.INS, h.OUTS, h.RANKS, stateful=True)
        layer.direct_step = direct
        layer(x[:, :2])
        outs.append(to_numpy(layer(x[:, 2:])))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)


def test_zero_output_for_mask_equals_keras_loop():
    fast, reference = _pair(
        TTGRU,
        recurrent_dropout=0.3,
        return_sequences=True,
        zero_output_for_mask=True,
    )
    x, mask = h.sequences(), h.ragged_mask()
    out = _assert_equal_runs(fast, reference, x, mask)
    assert np.all(out[~mask] == 0)  # the masked steps' outputs


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("recurrent_dropout", [0.0, 0.3])
@pytest.mark.parametrize("recurrent_activation", ["sigmoid", "hard_sigmoid"])
def test_gru_step_of_other_activations_equals_keras_loop(
    reset_after, recurrent_dropout, recurrent_activation
):
    # On torch: "sigmoid" has a direct torch step
    # (`recurrence_loops.torch_gru_step`), "hard_sigmoid" (Keras 3's) keeps the
    # keras.ops step.
    fast, reference = _pair(
        TTGRU,
        reset_after=reset_after,
        recurrent_activation=recurrent_activation,
        recurrent_dropout=recurrent_dropout,
        bias_initializer="uniform",
        return_sequences=True,
    )
    direct = fast.cell.step_weights(True)["torch_step"] is not None
    torch = keras.backend.backend() == "torch"
    assert direct == (torch and recurrent_activation == "sigmoid")
    x, mask = h.sequences(), h.ragged_mask()
    _assert_equal_runs(fast, reference, x, mask)

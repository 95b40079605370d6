"""The TT-GRU's recurrence as one autograd Function on torch
(`ttrnn.recurrence_torch.gru_sequence`, the default there) against the
step-by-step loop (`torch_sequence = False`) and Keras' loop calling the
cell as a layer (`direct_step = False`, the reference): outputs, states
and the gradients of every weight, the input and the initial state.

On JAX and TensorFlow the fused Function does not exist: the same tests
compare the layer's default path with the reference path there."""

import keras
import numpy as np
import pytest

from tests.helpers import to_numpy
from tests.layers import _tt_rnn_helpers as h
from ttrnn import TTGRU
from ttrnn.activations import keras2_hard_sigmoid

TORCH = keras.backend.backend() == "torch"
PATHS = ("sequence", "steps", "reference")


def _layers(**kwargs):
    """The layer on each path, all with the first one's weights."""
    layers = []
    for path in PATHS:
        layer = TTGRU(h.INS, h.OUTS, h.RANKS, **kwargs)
        layer.torch_sequence = path == "sequence"
        layer.direct_step = path != "reference"
        layer.build((None, 5, h.FEATURES))
        layers.append(layer)
    for layer in layers[1:]:
        layer.set_weights(layers[0].get_weights())
    return layers


def _set_masks(layer, batch, seed=0):
    """Recurrent dropout masks the call uses as drawn (the same on every
    path)."""
    cell = layer.cell
    if cell.recurrent_dropout:
        rng = np.random.default_rng(seed)
        keep = rng.random((3, batch, cell.units)) > 0.3
        cell._recurrent_dropout_mask = keras.ops.convert_to_tensor(
            keep.astype("float32") / 0.7
        )


def _run(layer, x, mask=None, h0=None, training=True):
    """The call's outputs (a list) and the gradients of a weighted sum of
    them w.r.t. the trainable weights, x and h0 (when given)."""
    batch = x.shape[0]
    w = np.linspace(-1, 1, layer.units).astype("float32")
    kwargs = dict(mask=mask, training=training)
    if h0 is not None:
        kwargs["initial_state"] = h0

    def loss_of(outs):
        wt = keras.ops.convert_to_tensor(w)
        return sum(keras.ops.sum(o * wt) * (k + 1) for k, o in enumerate(outs))

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def loss(values, inputs, state):
            _set_masks(layer, batch)
            if state is not None:
                kwargs["initial_state"] = state
            outs, _ = layer.stateless_call(values, frozen, inputs, **kwargs)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            return loss_of(outs), outs

        values = [v.value for v in layer.trainable_weights]
        frozen = [v.value for v in layer.non_trainable_variables]
        fn = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)
        (_, outs), (grads, gx, gh) = fn(values, x, h0)
        grads = [*grads, gx] + ([] if h0 is None else [gh])
        return [to_numpy(o) for o in outs], [np.asarray(g) for g in grads]
    _set_masks(layer, batch)
    if backend == "tensorflow":
        import tensorflow as tf

        inputs = [tf.constant(x)]
        if h0 is not None:
            kwargs["initial_state"] = tf.constant(h0)
            inputs.append(kwargs["initial_state"])
        sources = [*layer.trainable_weights, *inputs]
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outs = layer(inputs[0], **kwargs)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            loss = loss_of(outs)
        grads = tape.gradient(loss, sources)
        return [o.numpy() for o in outs], [g.numpy() for g in grads]
    import torch

    xt = torch.tensor(x, requires_grad=True)
    sources = [v.value for v in layer.trainable_weights] + [xt]
    if h0 is not None:
        kwargs["initial_state"] = torch.tensor(h0, requires_grad=True)
        sources.append(kwargs["initial_state"])
    outs = layer(xt, **kwargs)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    grads = torch.autograd.grad(loss_of(outs), sources)
    return [to_numpy(o) for o in outs], [to_numpy(g) for g in grads]


def _assert_paths_agree(layers, x, mask=None, h0=None, training=True):
    """Every path's outputs and gradients equal the reference's; returns
    the first path's outputs."""
    runs = [_run(layer, x, mask, h0, training) for layer in layers]
    want_outs, want_grads = runs[-1]
    for outs, grads in runs[:-1]:
        assert len(outs) == len(want_outs)
        for o, want in zip(outs, want_outs):
            np.testing.assert_allclose(o, want, rtol=1e-5, atol=1e-6)
        assert len(grads) == len(want_grads)
        for g, want in zip(grads, want_grads):
            np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-6)
    # The input's (and the initial state's) gradient flows.
    assert np.abs(want_grads[-1]).sum() > 0
    return runs[0][0]


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("recurrent_dropout", [0.0, 0.3])
@pytest.mark.parametrize(
    "go_backwards, return_sequences", [(False, True), (True, False)]
)
def test_sequence_equals_reference(
    reset_after, recurrent_dropout, go_backwards, return_sequences
):
    layers = _layers(
        reset_after=reset_after,
        recurrent_activation=keras2_hard_sigmoid,
        recurrent_dropout=recurrent_dropout,
        bias_initializer="uniform",
        go_backwards=go_backwards,
        return_sequences=return_sequences,
        return_state=True,
    )
    weights = layers[0].cell.step_weights(True)
    assert (weights.get("torch_sequence") is not None) == TORCH
    x, mask = h.sequences(), h.ragged_mask()
    h0 = np.random.default_rng(1).standard_normal((3, h.UNITS))
    _assert_paths_agree(layers, x, mask, h0.astype("float32"))


@pytest.mark.parametrize(
    "activation, recurrent_activation",
    [
        ("tanh", "sigmoid"),
        ("sigmoid", "tanh"),
        (keras2_hard_sigmoid, keras2_hard_sigmoid),
    ],
)
@pytest.mark.parametrize("reset_after", [False, True])
def test_activations_without_mask(
    activation, recurrent_activation, reset_after
):
    layers = _layers(
        activation=activation,
        recurrent_activation=recurrent_activation,
        reset_after=reset_after,
        recurrent_dropout=0.3,
        bias_initializer="uniform",
        return_sequences=True,
    )
    _assert_paths_agree(layers, h.sequences())


@pytest.mark.parametrize("use_bias", [False, True])
def test_zero_output_for_mask(use_bias):
    layers = _layers(
        recurrent_dropout=0.3,
        use_bias=use_bias,
        return_sequences=True,
        zero_output_for_mask=True,
    )
    mask = h.ragged_mask()
    out = _assert_paths_agree(layers, h.sequences(), mask)
    assert np.all(out[0][~mask] == 0)  # the masked steps' outputs
    assert np.any(out[0][mask] != 0)


def test_left_padding_outputs_zeros_until_the_first_step():
    layers = _layers(return_sequences=True, return_state=True)
    mask = h.ragged_mask()  # row 1: its first two steps are masked
    out, state = _assert_paths_agree(layers, h.sequences(), mask)
    assert np.all(out[1, :2] == 0)
    np.testing.assert_array_equal(out[0, -1], state[0])  # kept output


def test_inference_ignores_recurrent_dropout():
    layers = _layers(recurrent_dropout=0.3, return_sequences=True)
    _assert_paths_agree(layers, h.sequences(), h.ragged_mask(), None, False)


def test_keras3_hard_sigmoid_keeps_the_step_loop():
    layer = _layers(recurrent_activation="hard_sigmoid")[0]
    assert layer.cell.step_weights(True).get("torch_sequence") is None


def test_stateful_layers_carry_the_same_states():
    x = h.sequences(batch=2)
    outs = []
    for path in PATHS:
        keras.utils.set_random_seed(3)
        layer = TTGRU(h.INS, h.OUTS, h.RANKS, stateful=True)
        layer.torch_sequence = path == "sequence"
        layer.direct_step = path != "reference"
        first = to_numpy(layer(x[:, :2]))
        outs.append([first, to_numpy(layer(x[:, 2:]))])
        outs[-1].append(to_numpy(layer.states[0]))
    for got in outs[:-1]:
        for g, want in zip(got, outs[-1]):
            np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)

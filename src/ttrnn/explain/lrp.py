"""Layer-wise relevance propagation through a model with TT layers.

`lrp(model, x)` runs the model's layers one by one in NumPy float64 (TT
products on the backend), keeping what the rules read, then carries the
relevance of one output unit back to the input with the epsilon-rule
(`rules`) and Arras et al.'s recurrent rules (`recurrent`). Through a TT
layer the rule takes one product with the transposed TT-matrix (the cost
of a forward pass): W is never built.
"""

import dataclasses

import keras
import numpy as np
from keras import ops

from ttrnn import tt
from ttrnn.explain import recurrent
from ttrnn.explain import rules
from ttrnn.layers.tt_dense import TTDense

# Layers that pass the signal (and the relevance) through unchanged.
_IDENTITY = (
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization,
)
# Element-wise maps: relevance passes through them (for Rescaling, the
# relevance is that of the rescaled values, as for a TT-RNN's input_scale).
_ACTIVATIONS = (
    keras.layers.Rescaling,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
)
_RESHAPES = (keras.layers.Flatten, keras.layers.Reshape)
SUPPORTED = (
    "TTDense, TTLSTM, TTGRU, TTSimpleRNN, Dense, LSTM, GRU, SimpleRNN, "
    "Masking, Rescaling, BatchNormalization, GlobalAveragePooling1D, "
    "Flatten, Reshape, "
    "Dropout (and the other noise layers), Activation, ReLU, LeakyReLU, "
    "ELU, Softmax"
)


@dataclasses.dataclass
class Explanation:
    """What `lrp(..., return_details=True)` returns.

    Attributes:
        relevance: relevance of each input value, the shape of `x`.
        target: the explained output unit of each example, (batch,).
        score: the pre-activation of that unit (the relevance put in).
        initial_state: relevance left on the recurrent layers' initial
            states, (batch,). With `bias_factor=1`, `relevance` summed
            over an example plus `initial_state` equals `score`.
    """

    relevance: np.ndarray
    target: np.ndarray
    score: np.ndarray
    initial_state: np.ndarray


def lrp(
    model,
    x,
    target=None,
    eps=1e-3,
    bias_factor=0.0,
    batch_size=32,
    return_details=False,
):
    """Layer-wise relevance propagation (LRP) of one output unit.

    The relevance of the explained unit's pre-activation score is carried
    back to the input with the epsilon-rule on every linear map and, in
    recurrent layers, Arras et al.'s rules (gates as weights: through the
    cell input and, via the forget gate, the previous cell state; for the
    GRU the analogous candidate path; see `ttrnn.explain.recurrent`).
    Positive relevance speaks for the unit, negative against it. Masked
    (padded) steps get none.

    Through a TT layer the rule needs one product with the transposed
    TT-matrix, about the cost of a forward pass; the full matrix is never
    built, so 57,600-wide video frames are explained as cheaply as they
    are classified. The relevance of a TT-RNN's input is that of the
    values its map sees (`x * input_scale + input_offset`).

    Args:
        model: a built Keras model with a single path of supported layers
            (Sequential or functional): TTDense, TTLSTM, TTGRU,
            TTSimpleRNN, their Keras counterparts, Masking,
            BatchNormalization, Flatten, Reshape, Dropout and activations.
            Its last linear layer (TTDense or Dense, possibly followed by
            activation layers) gives the score.
        x: inputs, a batch (NumPy array, any numeric dtype); for a model
            that takes a step mask as a second input (the video models
            of `ttrnn experiment`), `[inputs, mask]`.
        target: the output unit explained: None (each example's predicted
            unit), an int, or one int per example.
        eps: the stabiliser of the epsilon-rule (> 0).
        bias_factor: 0 leaves the share of biases and stabiliser with
            them; 1 redistributes it over the inputs, so that relevance
            is conserved.
        batch_size: examples run at once.
        return_details: return an `Explanation` instead of the array.

    Returns:
        Relevance with the shape of the inputs (float64), or an
        `Explanation`.

    Example:

    >>> import numpy as np, keras, ttrnn
    >>> model = keras.Sequential([
    ...     keras.Input((12,)),
    ...     ttrnn.TTDense(tt_input_shape=(3, 4), tt_output_shape=(2, 2),
    ...                   tt_ranks=2, activation="relu"),
    ...     keras.layers.Dense(3, activation="softmax")])
    >>> x = np.random.default_rng(0).normal(size=(5, 12))
    >>> out = ttrnn.explain.lrp(model, x, bias_factor=1.0,
    ...                         return_details=True)
    >>> out.relevance.shape
    (5, 12)
    >>> bool(np.allclose(out.relevance.sum(axis=1), out.score, atol=1e-5))
    True

    Reference:
        Arras, Montavon, Müller, Samek, "Explaining Recurrent Neural
        Network Predictions in Sentiment Analysis", WASSA 2017.
    """
    eps, bias_factor, batch_size = _check_arguments(
        eps, bias_factor, batch_size
    )
    steps, with_mask = _plan(model)
    x, mask = _check_input(model, x, with_mask)
    parts = []
    for start in range(0, len(x), batch_size):
        part = slice(start, start + batch_size)
        chunk_target = target
        if target is not None and np.ndim(target) > 0:
            chunk_target = np.asarray(target)[part]
        chunk_mask = None if mask is None else mask[part]
        parts.append(
            _explain(steps, x[part], chunk_mask, chunk_target, eps, bias_factor)
        )
    result = Explanation(
        *(np.concatenate([p[k] for p in parts]) for k in range(4))
    )
    return result if return_details else result.relevance


def _explain(steps, x, input_mask, target, eps, bias_factor):
    values, mask, head = x, None, None
    for i, step in enumerate(steps):
        if step.mask_input:
            mask = input_mask
        values, mask = step.forward(values, mask)
        if isinstance(step, _Linear):
            head = i
    z = steps[head].z
    target = _targets(target, values, len(x))
    score = z[np.arange(len(x)), target]
    relevance = np.zeros_like(z)
    relevance[np.arange(len(x)), target] = score
    initial = np.zeros(len(x))
    for step in reversed(steps[: head + 1]):
        relevance = step.backward(relevance, eps, bias_factor)
        initial += step.initial
    return relevance, target, score, initial


def _targets(target, outputs, batch):
    outputs = outputs.reshape(batch, -1)
    units = outputs.shape[-1]
    if target is None:
        return np.argmax(outputs, axis=-1)
    target = np.broadcast_to(np.asarray(target), (batch,))
    if not np.issubdtype(target.dtype, np.integer) or (
        np.any(target < 0) or np.any(target >= units)
    ):
        raise ValueError(
            f"Argument `target` must be None or output units in "
            f"[0, {units}). Received: target={target.tolist()}"
        )
    return target.astype("int64")


class _Step:
    initial = 0.0
    mask_input = False  # takes the model's mask input as its step mask

    def __init__(self, layer):
        self.layer = layer

    def forward(self, x, mask):
        return x, mask

    def backward(self, relevance, eps, bias_factor):
        return relevance


class _Masking(_Step):
    def forward(self, x, mask):
        keep = np.any(x != self.layer.mask_value, axis=-1)
        return x * keep[..., None], keep


class _Activation(_Step):
    def forward(self, x, mask):
        if isinstance(self.layer, keras.layers.Rescaling):
            x = np.asarray(x, dtype="float64")
            scale = np.asarray(self.layer.scale, dtype="float64")
            offset = np.asarray(self.layer.offset, dtype="float64")
            return x * scale + offset, mask
        return _numpy(self.layer(ops.convert_to_tensor(x, "float32"))), mask


class _Reshape(_Step):
    def forward(self, x, mask):
        self.shape = x.shape
        out = self.layer(ops.convert_to_tensor(x, "float32"))
        return np.reshape(x, tuple(out.shape)), None

    def backward(self, relevance, eps, bias_factor):
        return np.reshape(relevance, self.shape)


class _BatchNorm(_Step):
    def forward(self, x, mask):
        layer = self.layer
        if layer.axis not in (-1, len(x.shape) - 1):
            raise ValueError(
                f"lrp supports BatchNormalization over the last axis only. "
                f"Received: axis={layer.axis} in layer {layer.name!r}"
            )
        std = np.sqrt(_numpy(layer.moving_variance) + layer.epsilon)
        scale = _numpy(layer.gamma) / std if layer.scale else 1.0 / std
        shift = -_numpy(layer.moving_mean) * scale
        if layer.center:
            shift = shift + _numpy(layer.beta)
        self.x, self.scale, self.shift = x, scale, shift
        self.z = x * scale + shift
        return self.z, mask

    def backward(self, relevance, eps, bias_factor):
        # A diagonal map: each output has one input, which alone takes
        # the bias share (fan-in 1).
        q = rules.ratio(self.z, relevance, eps)
        sign = np.where(self.z >= 0, 1.0, -1.0)
        bias = bias_factor * (self.shift + eps * sign)
        return (self.x * self.scale + bias) * q


class _AveragePooling(_Step):
    """The mean over the (unmasked) steps: a linear map with weights
    mask_t / n, n the real steps of the example (its fan-in)."""

    def forward(self, x, mask):
        layer = self.layer
        if layer.data_format != "channels_last" or layer.keepdims:
            raise ValueError(
                "lrp supports GlobalAveragePooling1D with data_format="
                "'channels_last' and keepdims=False. Received: layer "
                f"{layer.name!r}"
            )
        keep = np.ones(x.shape[:2]) if mask is None else mask.astype(float)
        self.weights = keep / np.maximum(keep.sum(axis=1, keepdims=True), 1)
        self.x = np.asarray(x, dtype="float64")
        self.z = np.einsum("bt,btf->bf", self.weights, self.x)
        return self.z, None

    def backward(self, relevance, eps, bias_factor):
        q = rules.ratio(self.z, relevance, eps)
        sign = np.where(self.z >= 0, 1.0, -1.0)
        # Each unit's stabiliser share spread over its n real steps.
        extra = bias_factor * eps * sign * q
        return self.weights[:, :, None] * (self.x * q[:, None, :]) + (
            self.weights[:, :, None] * extra[:, None, :]
        )


class _Linear(_Step):
    def forward(self, x, mask):
        layer = self.layer
        self.x = np.asarray(x, dtype="float64")
        if isinstance(layer, TTDense):
            cores = layer.cores
            xt = ops.convert_to_tensor(x, layer.compute_dtype)
            z = _numpy(tt.matmul(xt, cores, strategy=layer.tt_strategy))
            self.back = lambda v: _numpy(
                tt.matmul(
                    ops.convert_to_tensor(v, layer.compute_dtype),
                    tt.transpose(cores),
                    strategy=layer.tt_strategy,
                )
            )
        else:
            kernel = _numpy(layer.kernel)
            z = self.x @ kernel
            self.back = lambda v: v @ kernel.T
        self.bias = None if layer.bias is None else _numpy(layer.bias)
        self.z = z if self.bias is None else z + self.bias
        act = recurrent.numpy_activation(layer.activation)
        return act(self.z), mask

    def backward(self, relevance, eps, bias_factor):
        return rules.linear(
            self.x, self.z, relevance, self.back, self.bias, eps, bias_factor
        )


class _Recurrent(_Step):
    def forward(self, x, mask):
        self.map = recurrent.recurrent_map(self.layer)
        out, self.cache = recurrent.forward(self.map, x, mask)
        return out, mask if self.map.return_sequences else None

    def backward(self, relevance, eps, bias_factor):
        r_x, initial = recurrent.backward(
            self.map, self.cache, relevance, eps, bias_factor
        )
        self.initial = initial
        return r_x


def _step_for(layer):
    if isinstance(layer, (TTDense, keras.layers.Dense)):
        return _Linear(layer)
    if recurrent.kind_of(layer) is not None:
        return _Recurrent(layer)
    if isinstance(layer, keras.layers.Masking):
        return _Masking(layer)
    if isinstance(layer, keras.layers.BatchNormalization):
        return _BatchNorm(layer)
    if isinstance(layer, keras.layers.GlobalAveragePooling1D):
        return _AveragePooling(layer)
    if isinstance(layer, _ACTIVATIONS):
        return _Activation(layer)
    if isinstance(layer, _RESHAPES):
        return _Reshape(layer)
    if isinstance(layer, _IDENTITY):
        return _Step(layer)
    raise ValueError(
        f"lrp does not support layer {layer.name!r} "
        f"({type(layer).__name__}). Supported: {SUPPORTED}."
    )


def _plan(model):
    """The steps of `model`'s layers, and whether it takes a mask input."""
    if not model.built:
        raise ValueError(
            "lrp needs a built model: call it on data or build it first. "
            f"Received: model {model.name!r} (not built)"
        )
    inputs, outputs = model.inputs or [], model.outputs or []
    with_mask = len(inputs) == 2 and "bool" in str(inputs[1].dtype)
    if len(inputs) != 1 + with_mask or len(outputs) != 1:
        raise ValueError(
            "lrp supports models with one input (or inputs and a boolean "
            "mask of their steps) and one output. Received: model "
            f"{model.name!r} with {len(inputs)} inputs and {len(outputs)} "
            "outputs"
        )
    layers = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    steps = [_step_for(layer) for layer in layers]
    if not isinstance(model, keras.Sequential):
        _check_single_path(model, steps)
    linear = [i for i, s in enumerate(steps) if isinstance(s, _Linear)]
    if not linear or not all(
        isinstance(s, _Activation) for s in steps[linear[-1] + 1 :]
    ):
        raise ValueError(
            "lrp explains the score of a last TTDense or Dense layer (only "
            "activations may follow it). Received: model "
            f"{model.name!r} ending in {[layer.name for layer in layers[-2:]]}"
        )
    return steps, with_mask


def _check_single_path(model, steps):
    """Each layer must take the previous layer's output (plus, for
    recurrent layers, a step mask: Keras' propagated one or the model's
    mask input)."""
    previous = model.inputs[0]
    for step in steps:
        layer = step.layer
        try:
            source = layer.input
        except (AttributeError, ValueError):
            source = None
        extra = []
        if isinstance(source, (list, tuple)) and source:
            source, extra = source[0], list(source[1:])
        masks_only = all("bool" in str(t.dtype) for t in extra)
        if source is not previous or not masks_only:
            raise ValueError(
                "lrp supports models whose layers form a single path, each "
                "layer fed by the one before. Received: layer "
                f"{layer.name!r} in model {model.name!r}"
            )
        step.mask_input = len(model.inputs) == 2 and any(
            t is model.inputs[1] for t in extra
        )
        previous = layer.output
    if previous is not model.outputs[0]:
        raise ValueError(
            "lrp supports models whose last layer gives the output. "
            f"Received: model {model.name!r}"
        )


def _check_arguments(eps, bias_factor, batch_size):
    if not isinstance(eps, (int, float)) or not eps > 0:
        raise ValueError(
            "Argument `eps` must be a positive number (the stabiliser of "
            f"the epsilon-rule). Received: eps={eps!r}"
        )
    if not isinstance(bias_factor, (int, float)) or not (
        0.0 <= bias_factor <= 1.0
    ):
        raise ValueError(
            "Argument `bias_factor` must be a number in [0, 1]. "
            f"Received: bias_factor={bias_factor!r}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        batch_size = -1
    if batch_size < 1:
        raise ValueError(
            "Argument `batch_size` must be a positive int. "
            f"Received: batch_size={batch_size!r}"
        )
    return float(eps), float(bias_factor), batch_size


def _check_input(model, x, with_mask):
    """`x` as an array (and the mask, for models with a mask input)."""
    mask = None
    if with_mask:
        if not isinstance(x, (list, tuple)) or len(x) != 2:
            raise ValueError(
                f"Argument `x` must be [inputs, mask] for model "
                f"{model.name!r}, which takes a step mask. Received: "
                f"{type(x).__name__}"
            )
        x, mask = np.asarray(x[0]), np.asarray(x[1]).astype(bool)
    x = np.asarray(x)
    expected = tuple(model.inputs[0].shape[1:])
    got = x.shape[1:]
    if len(got) != len(expected) or any(
        e is not None and e != g for e, g in zip(expected, got)
    ):
        raise ValueError(
            f"Argument `x` must be a batch of the model's inputs, shape "
            f"(batch,) + {expected}. Received: x of shape {x.shape}"
        )
    if mask is not None and mask.shape != x.shape[:2]:
        raise ValueError(
            f"The mask in `x` must have shape {x.shape[:2]} (batch, "
            f"steps). Received: mask of shape {mask.shape}"
        )
    return x, mask


def _numpy(value):
    return np.asarray(ops.convert_to_numpy(value), dtype="float64")

"""The steps of `lrp`: one per layer, each with a NumPy float64 forward
pass that keeps what the rules read, and a backward pass that carries
the relevance to the layer's input.
"""

import keras
import numpy as np
from keras import ops

from ttrnn import layers as tt_layers
from ttrnn import tt
from ttrnn.explain import recurrent
from ttrnn.explain import rules

# Layers that pass the signal (and the relevance) through unchanged.
IDENTITY = (
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization,
)
# Element-wise maps: relevance passes through them (for Rescaling, the
# relevance is that of the rescaled values, as for a TT-RNN's input_scale).
ACTIVATIONS = (
    keras.layers.Rescaling,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
)
RESHAPES = (keras.layers.Flatten, keras.layers.Reshape)
# The rule of each Keras layer; a TT layer names its own (`lrp_rule`).
KERAS_RULES = {
    keras.layers.Dense: "linear",
    keras.layers.Masking: "masking",
    keras.layers.BatchNormalization: "batch_norm",
    keras.layers.GlobalAveragePooling1D: "average_pooling",
    **{cls: "activation" for cls in ACTIVATIONS},
    **{cls: "reshape" for cls in RESHAPES},
    **{cls: "identity" for cls in IDENTITY},
}
# The TT layers with a rule, e.g. "TTDense, TTGRU".
_TT_SUPPORTED = ", ".join(
    name
    for name in tt_layers.__all__
    if getattr(getattr(tt_layers, name), "lrp_rule", None)
)
SUPPORTED = (
    f"{_TT_SUPPORTED}, Dense, LSTM, GRU, SimpleRNN, "
    "Masking, Rescaling, BatchNormalization, GlobalAveragePooling1D, "
    "Flatten, Reshape, "
    "Dropout (and the other noise layers), Activation, ReLU, LeakyReLU, "
    "ELU, Softmax"
)


class Step:
    initial = 0.0
    mask_input = False  # takes the model's mask input as its step mask

    def __init__(self, layer):
        self.layer = layer

    def forward(self, x, mask):
        return x, mask

    def backward(self, relevance, eps, bias_factor):
        return relevance


class MaskingStep(Step):
    def forward(self, x, mask):
        keep = np.any(x != self.layer.mask_value, axis=-1)
        return x * keep[..., None], keep


class ActivationStep(Step):
    def forward(self, x, mask):
        if isinstance(self.layer, keras.layers.Rescaling):
            x = np.asarray(x, dtype="float64")
            scale = np.asarray(self.layer.scale, dtype="float64")
            offset = np.asarray(self.layer.offset, dtype="float64")
            return x * scale + offset, mask
        return to_numpy(self.layer(ops.convert_to_tensor(x, "float32"))), mask


class ReshapeStep(Step):
    def forward(self, x, mask):
        self.shape = x.shape
        out = self.layer(ops.convert_to_tensor(x, "float32"))
        return np.reshape(x, tuple(out.shape)), None

    def backward(self, relevance, eps, bias_factor):
        return np.reshape(relevance, self.shape)


class BatchNormStep(Step):
    def forward(self, x, mask):
        layer = self.layer
        if layer.axis not in (-1, len(x.shape) - 1):
            raise ValueError(
                f"lrp supports BatchNormalization over the last axis only. "
                f"Received: axis={layer.axis} in layer {layer.name!r}"
            )
        std = np.sqrt(to_numpy(layer.moving_variance) + layer.epsilon)
        scale = to_numpy(layer.gamma) / std if layer.scale else 1.0 / std
        shift = -to_numpy(layer.moving_mean) * scale
        if layer.center:
            shift = shift + to_numpy(layer.beta)
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


class AveragePoolingStep(Step):
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


class LinearStep(Step):
    """x @ W + b, W a dense kernel or a TT layer's cores (never built)."""

    def forward(self, x, mask):
        layer = self.layer
        self.x = np.asarray(x, dtype="float64")
        if hasattr(layer, "cores"):
            # The layer's input transform is element-wise: relevance
            # passes through it, as through a Rescaling layer.
            self.x = self.x * layer.input_scale + layer.input_offset
            x = self.x
            cores = layer.cores
            xt = ops.convert_to_tensor(x, layer.compute_dtype)
            z = to_numpy(tt.matmul(xt, cores, strategy=layer.tt_strategy))
            self.back = lambda v: to_numpy(
                tt.matmul(
                    ops.convert_to_tensor(v, layer.compute_dtype),
                    tt.transpose(cores),
                    strategy=layer.tt_strategy,
                )
            )
        else:
            kernel = to_numpy(layer.kernel)
            z = self.x @ kernel
            self.back = lambda v: v @ kernel.T
        self.bias = None if layer.bias is None else to_numpy(layer.bias)
        self.z = z if self.bias is None else z + self.bias
        act = recurrent.numpy_activation(layer.activation)
        return act(self.z), mask

    def backward(self, relevance, eps, bias_factor):
        return rules.linear(
            self.x, self.z, relevance, self.back, self.bias, eps, bias_factor
        )


class RecurrentStep(Step):
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


# The step of each rule.
STEPS = {
    "linear": LinearStep,
    **{kind: RecurrentStep for kind in recurrent.GATES},
    "masking": MaskingStep,
    "batch_norm": BatchNormStep,
    "average_pooling": AveragePoolingStep,
    "activation": ActivationStep,
    "reshape": ReshapeStep,
    "identity": Step,
}


def rule_of(layer):
    """The name of `layer`'s LRP rule (a key of `STEPS`), or None.

    A TT layer names its own (`lrp_rule`); Keras' RNNs are known by
    their exact class (a subclass may run another recurrence), the other
    Keras layers by their nearest class in `KERAS_RULES`.
    """
    rule = getattr(layer, "lrp_rule", None) or recurrent.kind_of(layer)
    if rule is not None:
        return rule
    for cls in type(layer).__mro__:
        if cls in KERAS_RULES:
            return KERAS_RULES[cls]
    return None


def step_for(layer):
    """The `Step` that carries relevance through `layer`.

    Raises:
        ValueError: for a layer without a rule.
    """
    step = STEPS.get(rule_of(layer))
    if step is None:
        raise ValueError(
            f"lrp does not support layer {layer.name!r} "
            f"({type(layer).__name__}). Supported: {SUPPORTED}."
        )
    return step(layer)


def to_numpy(value):
    return np.asarray(ops.convert_to_numpy(value), dtype="float64")

"""Activations: Keras' own, plus the Keras 2 hard sigmoid of the 2017 code.

Keras 3's `hard_sigmoid` is `clip(x / 6 + 0.5, 0, 1)` (the "hard swish"
convention); Keras 2 (and so the 2017 TT-RNNs, whose recurrent activation
it was) used `clip(0.2 x + 0.5, 0, 1)`. `keras2_hard_sigmoid` is the
latter, available by name to every ttrnn layer:

>>> from ttrnn import activations
>>> fn = activations.get("keras2_hard_sigmoid")
>>> x = keras.ops.convert_to_tensor([-3.0, 0.0, 1.0, 3.0])
>>> [round(float(v), 4) for v in fn(x)]
[0.0, 0.5, 0.7, 1.0]
"""

import keras
from keras import ops

_PACKAGE = "ttrnn"


@keras.saving.register_keras_serializable(package=_PACKAGE)
def keras2_hard_sigmoid(x):
    """Keras 2's hard sigmoid: `clip(0.2 * x + 0.5, 0, 1)`.

    Piecewise linear: 0 for x <= -2.5, 1 for x >= 2.5, slope 0.2 between.
    The recurrent activation of the 2017 TT-GRU / TT-LSTM (Keras 2.0);
    Keras 3's `hard_sigmoid` has slope 1/6 and differs from it.

    Args:
        x: input tensor.

    Returns:
        Tensor of the same shape and dtype.

    Example:
    >>> x = keras.ops.convert_to_tensor([-3.0, 1.0])
    >>> [round(float(v), 4) for v in keras2_hard_sigmoid(x)]
    [0.0, 0.7]
    """
    x = ops.convert_to_tensor(x)
    return ops.clip(ops.add(ops.multiply(x, 0.2), 0.5), 0.0, 1.0)


_NAMES = {
    "keras2_hard_sigmoid": keras2_hard_sigmoid,
    f"{_PACKAGE}>keras2_hard_sigmoid": keras2_hard_sigmoid,
}


def get(identifier):
    """Resolves an activation: ttrnn's names first, then Keras'.

    Args:
        identifier: None (linear), a callable, a name ("tanh",
            "keras2_hard_sigmoid", ...) or a serialised config.

    Returns:
        A callable.

    Raises:
        ValueError: for an unknown name, as `keras.activations.get` does.
    """
    if isinstance(identifier, str) and identifier in _NAMES:
        return _NAMES[identifier]
    return keras.activations.get(identifier)


def serialize(activation):
    """Serialises an activation (Keras builtins as their name)."""
    return keras.activations.serialize(activation)

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

from ttrnn.explain.steps import ActivationStep
from ttrnn.explain.steps import LinearStep
from ttrnn.explain.steps import step_for


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
        if isinstance(step, LinearStep):
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
    steps = [step_for(layer) for layer in layers]
    if not isinstance(model, keras.Sequential):
        _check_single_path(model, steps)
    linear = [i for i, s in enumerate(steps) if isinstance(s, LinearStep)]
    if not linear or not all(
        isinstance(s, ActivationStep) for s in steps[linear[-1] + 1 :]
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

"""The epsilon-rule of layer-wise relevance propagation, as pure NumPy.

For a linear map z = x W + b with relevance R on z, the epsilon-rule
(Bach et al. 2015; in the form of Arras et al. 2017) gives input i

    R_i = sum_j (x_i W_ij + bias_factor (b_j + eps s_j) / fan_in)
                * R_j / (z_j + eps s_j),        s_j = sign(z_j) (+1 at 0)

which splits into one product with the transposed matrix and one scalar
per example:

    R_x = x * ((R / (z + eps s)) W^T) + share,
    share = bias_factor * sum_j (b_j + eps s_j) R_j / (z_j + eps s_j) / fan_in.

`fan_in` is the number of inputs the bias and stabiliser relevance is
spread over (all inputs of the map, e.g. M + units for a gate fed by the
input and the previous state). With `bias_factor=1` the inputs receive
exactly the relevance of the outputs (conservation); with 0, the bias and
stabiliser keep their part. Arrays are float64; the leading axes are any
batch axes.
"""

import numpy as np


def stabilised(z, eps):
    """z + eps * sign(z), with sign(0) = +1: the rule's denominator."""
    return z + eps * np.where(z >= 0, 1.0, -1.0)


def ratio(z, relevance, eps):
    """R / (z + eps * sign(z)): what the transposed map carries back."""
    return relevance / stabilised(z, eps)


def share(z, q, bias, eps, bias_factor, fan_in):
    """The relevance each input gets from the bias and the stabiliser.

    Args:
        z: outputs of the map, (..., N).
        q: `ratio(z, R, eps)`, (..., N).
        bias: the map's bias, broadcastable to z, or None.
        eps: the stabiliser.
        bias_factor: 0 (bias and stabiliser absorb their share) to 1
            (redistributed: conservation).
        fan_in: the number of inputs sharing it.

    Returns:
        Array (..., 1).
    """
    if bias_factor == 0:
        return np.zeros(z.shape[:-1] + (1,))
    sign = np.where(z >= 0, 1.0, -1.0)
    total = eps * sign if bias is None else bias + eps * sign
    return bias_factor * np.sum(total * q, axis=-1, keepdims=True) / fan_in


def linear(x, z, relevance, back, bias, eps, bias_factor, fan_in=None):
    """The epsilon-rule through z = x W + b (see the module docstring).

    Args:
        x: inputs (..., M).
        z: outputs (..., N), bias included.
        relevance: relevance of z, (..., N).
        back: a function v -> v @ W^T, (..., N) -> (..., M); W itself is
            never needed (a TT layer passes its transposed product).
        bias: (N,) or broadcastable, or None.
        eps: the stabiliser (> 0).
        bias_factor: see `share`.
        fan_in: inputs sharing the bias; defaults to M.

    Returns:
        Relevance of x, (..., M).
    """
    q = ratio(z, relevance, eps)
    fan_in = x.shape[-1] if fan_in is None else fan_in
    return x * back(q) + share(z, q, bias, eps, bias_factor, fan_in)


def elementwise_sum(parts, total, relevance, eps, bias_factor):
    """The epsilon-rule through total = sum(parts), element by element.

    The rule of an LSTM cell update c = f*c_prev + i*g (parts f*c_prev
    and i*g) or a GRU state update: an identity map from the stacked
    parts, so the stabiliser's share is spread over all of them
    (fan-in = len(parts) * units), as Arras et al. do.

    Returns:
        A list with the relevance of each part.
    """
    q = ratio(total, relevance, eps)
    extra = share(total, q, None, eps, bias_factor, len(parts) * q.shape[-1])
    return [part * q + extra for part in parts]

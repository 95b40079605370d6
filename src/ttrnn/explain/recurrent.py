"""Relevance through recurrent layers: the LSTM rules of Arras et al.
(2017) and the analogous GRU and SimpleRNN rules.

Gates are treated as weights ("signal-take-all"): relevance flows only
along the signal path, never into a gate.

- LSTM, c_t = f*c_{t-1} + i*g, h_t = o*act(c_t): all of R(h_t) goes to
  c_t; the epsilon-rule over the sum gives R(c_{t-1}) and R(g); R(g)
  goes through g = act(x W_g + h_{t-1} U_g + b_g) to x_t and h_{t-1}.
- GRU, h_t = z*h_{t-1} + (1-z)*hh: the epsilon-rule over the sum gives
  R(h_{t-1}) directly and R(hh); R(hh) goes through the candidate
  hh = act(x W_h + (r*h_{t-1}) U_h + b_h) (reset before, Keras'
  `reset_after=False`, the 2017 cell) to x_t and, through r*h_{t-1} with
  r a weight, to h_{t-1}. With `reset_after=True` the candidate is
  act(x W_h + b_h + r*(h_{t-1} U_h + b'_h)): h_{t-1} contributes
  h_i U_ij r_j, so the transposed product is U_h (r * q), and the bias
  the rule sees is b_h + r*b'_h.
- SimpleRNN, h_t = act(x W + h_{t-1} U + b): the epsilon-rule.

Every linear map spreads the bias share over all its inputs (fan-in
M + units); masked steps carry the state unchanged, so they get no
relevance and pass R(h) (and R(c)) through. The input map's transposed
product runs once for the whole sequence after the backward loop (a TT
layer's without ever building W); the recurrence itself is NumPy float64.
"""

import dataclasses

import keras
import numpy as np
from keras import ops

from ttrnn import tt
from ttrnn.activations import keras2_hard_sigmoid
from ttrnn.explain import rules

_NUMPY_ACTIVATIONS = {
    keras.activations.linear: lambda a: a,
    keras.activations.tanh: np.tanh,
    keras.activations.sigmoid: lambda a: 0.5 * (1.0 + np.tanh(0.5 * a)),
    keras.activations.relu: lambda a: np.maximum(a, 0.0),
    keras.activations.hard_sigmoid: lambda a: np.clip(a / 6 + 0.5, 0, 1),
    keras2_hard_sigmoid: lambda a: np.clip(0.2 * a + 0.5, 0.0, 1.0),
}
# Keras' RNNs by exact class; a TT-RNN names its kind (`lrp_rule`).
KINDS = {
    keras.layers.LSTM: "lstm",
    keras.layers.GRU: "gru",
    keras.layers.SimpleRNN: "simple",
}
GATES = {"lstm": 4, "gru": 3, "simple": 1}
# The gate whose pre-activation carries the signal, in Keras' order
# (LSTM i, f, c, o; GRU z, r, h).
SIGNAL_GATE = {"lstm": 2, "gru": 2, "simple": 0}


@dataclasses.dataclass
class RecurrentMap:
    """What the rules need of a recurrent layer, TT or dense."""

    kind: str
    units: int
    input_dim: int
    prepare: object  # x -> the input the map sees (float32 NumPy)
    project: object  # x' -> x' W + input bias, (..., G units), float64
    back: object  # v -> v W^T, (..., G units) -> (..., M), float64
    recurrent_kernel: np.ndarray  # (units, G units)
    input_bias: np.ndarray  # (G units,)
    recurrent_bias: np.ndarray  # (G units,) (GRU reset_after) or zeros
    activation: object
    recurrent_activation: object
    reset_after: bool
    return_sequences: bool
    zero_output_for_mask: bool


def kind_of(layer):
    """ "lstm", "gru" or "simple" for a supported RNN layer, else None."""
    kind = getattr(layer, "lrp_rule", None)
    return kind if kind in GATES else KINDS.get(type(layer))


def recurrent_map(layer):
    """The `RecurrentMap` of a built LSTM/GRU/SimpleRNN or TT layer.

    Raises:
        ValueError: for configurations the rules do not cover.
    """
    kind = kind_of(layer)
    for flag in ("go_backwards", "stateful"):
        if getattr(layer, flag, False):
            raise ValueError(
                f"lrp does not support recurrent layers with {flag}=True. "
                f"Received: layer {layer.name!r}"
            )
    cell = layer.cell
    units = int(cell.units)
    gates = GATES[kind]
    reset_after = bool(getattr(cell, "reset_after", False))
    bias = np.zeros((2, gates * units)) if reset_after else None
    if cell.bias is not None:
        bias = _numpy(cell.bias)
    input_bias = bias[0] if reset_after else bias
    if input_bias is None:
        input_bias = np.zeros(gates * units)
    recurrent_bias = bias[1] if reset_after else np.zeros(gates * units)
    if hasattr(cell, "cores"):
        prepare, project, back, input_dim = _tt_input_map(cell, kind)
    else:
        prepare, project, back, input_dim = _dense_input_map(cell, input_bias)
    return RecurrentMap(
        kind=kind,
        units=units,
        input_dim=input_dim,
        prepare=prepare,
        project=project,
        back=back,
        recurrent_kernel=_numpy(cell.recurrent_kernel),
        input_bias=input_bias,
        recurrent_bias=recurrent_bias,
        activation=numpy_activation(cell.activation),
        recurrent_activation=numpy_activation(
            getattr(cell, "recurrent_activation", None)
        ),
        reset_after=reset_after,
        return_sequences=bool(layer.return_sequences),
        zero_output_for_mask=bool(layer.zero_output_for_mask),
    )


def numpy_activation(fn):
    """A Keras activation as a float64 NumPy function (None: identity).

    The common ones run in NumPy (a backend call a step cost more than
    the whole NumPy recurrence); any other goes through the backend.
    """
    if fn is None:
        return lambda a: a
    for known, numpy_fn in _NUMPY_ACTIVATIONS.items():
        if fn is known:
            return numpy_fn

    def apply(a):
        out = fn(ops.convert_to_tensor(a.astype("float32")))
        return _numpy(out)

    return apply


def forward(rmap, x, mask):
    """Runs the layer, keeping what the backward rules read.

    Args:
        rmap: the layer's `RecurrentMap`.
        x: inputs (batch, time, M).
        mask: (batch, time) bool, or None.

    Returns:
        (outputs, cache): outputs as the layer returns them (the last
        state, or every step's with `return_sequences`).
    """
    xp = rmap.prepare(x)
    projected = rmap.project(xp)
    batch, steps = x.shape[0], x.shape[1]
    if mask is None:
        mask = np.ones((batch, steps), dtype=bool)
    u = rmap.units
    h = np.zeros((batch, u))
    c = np.zeros((batch, u))
    records, outputs = [], []
    kernel, rec_bias = rmap.recurrent_kernel, rmap.recurrent_bias
    for t in range(steps):
        p = projected[:, t]
        m = mask[:, t][:, None]
        if rmap.kind == "lstm":
            pre = p + h @ kernel
            i, f, o = (
                rmap.recurrent_activation(pre[:, k * u : (k + 1) * u])
                for k in (0, 1, 3)
            )
            pre_g = pre[:, 2 * u : 3 * u]
            g = rmap.activation(pre_g)
            c_new = f * c + i * g
            h_new = o * rmap.activation(c_new)
            records.append((h, c, i, f, g, pre_g, c_new))
            c = np.where(m, c_new, c)
        elif rmap.kind == "gru":
            rec = h @ kernel + rec_bias
            z = rmap.recurrent_activation(p[:, :u] + rec[:, :u])
            r = rmap.recurrent_activation(p[:, u : 2 * u] + rec[:, u : 2 * u])
            if rmap.reset_after:
                pre_h = p[:, 2 * u :] + r * rec[:, 2 * u :]
            else:
                pre_h = p[:, 2 * u :] + (r * h) @ kernel[:, 2 * u :]
            hh = rmap.activation(pre_h)
            h_new = z * h + (1 - z) * hh
            records.append((h, z, r, hh, pre_h, h_new))
        else:
            pre = p + h @ kernel
            h_new = rmap.activation(pre)
            records.append((h, pre))
        h_out = np.where(m, h_new, h)
        if rmap.return_sequences and rmap.zero_output_for_mask:
            outputs.append(np.where(m, h_new, 0.0))
        else:
            outputs.append(h_out)
        h = h_out
    out = np.stack(outputs, axis=1) if rmap.return_sequences else h
    return out, (xp, mask, records)


def backward(rmap, cache, relevance, eps, bias_factor):
    """Relevance of the inputs from the relevance of the outputs.

    Returns:
        (relevance of x (batch, time, M), relevance left on the initial
        state (batch,)).
    """
    xp, mask, records = cache
    batch, steps = mask.shape
    u, gates = rmap.units, GATES[rmap.kind]
    fan_in = rmap.input_dim + u
    slot = SIGNAL_GATE[rmap.kind]
    kernel = rmap.recurrent_kernel[:, slot * u : (slot + 1) * u]
    in_bias = rmap.input_bias[slot * u : (slot + 1) * u]
    rec_bias = rmap.recurrent_bias[slot * u : (slot + 1) * u]
    rh = np.zeros((batch, u)) if rmap.return_sequences else relevance
    rc = np.zeros((batch, u))
    ratios = np.zeros((batch, steps, gates * u))
    shares = np.zeros((batch, steps, 1))
    for t in reversed(range(steps)):
        m = mask[:, t][:, None]
        if rmap.return_sequences:
            r_out = relevance[:, t]
            rh = rh + (r_out * m if rmap.zero_output_for_mask else r_out)
        if rmap.kind == "lstm":
            h, c, i, f, g, pre, c_new = records[t]
            rc_prev, r_sig = rules.elementwise_sum(
                [f * c, i * g], c_new, rc + rh, eps, bias_factor
            )
            q = rules.ratio(pre, r_sig, eps)
            sh = rules.share(pre, q, in_bias, eps, bias_factor, fan_in)
            rh_prev = h * (q @ kernel.T) + sh
        elif rmap.kind == "gru":
            h, z, r, hh, pre, h_new = records[t]
            rh_direct, r_sig = rules.elementwise_sum(
                [z * h, (1 - z) * hh], h_new, rh, eps, bias_factor
            )
            q = rules.ratio(pre, r_sig, eps)
            if rmap.reset_after:
                bias = in_bias + r * rec_bias
                r_cand = h * ((r * q) @ kernel.T)
            else:
                bias = in_bias
                r_cand = (r * h) * (q @ kernel.T)
            sh = rules.share(pre, q, bias, eps, bias_factor, fan_in)
            rh_prev = rh_direct + r_cand + sh
            rc_prev = rc
        else:
            h, pre = records[t]
            q = rules.ratio(pre, rh, eps)
            sh = rules.share(pre, q, in_bias, eps, bias_factor, fan_in)
            rh_prev = h * (q @ kernel.T) + sh
            rc_prev = rc
        ratios[:, t, slot * u : (slot + 1) * u] = q * m
        shares[:, t] = sh * m
        rh = np.where(m, rh_prev, rh)
        rc = np.where(m, rc_prev, rc)
    r_x = xp * rmap.back(ratios) + shares
    return r_x, np.sum(rh, axis=-1) + np.sum(rc, axis=-1)


def _tt_input_map(cell, kind):
    d = len(cell.tt_input_shape)
    shared = cell.tt_gate_layout == "shared"
    gates, u = GATES[kind], int(cell.units)
    dtype = cell.compute_dtype
    strategy = cell.tt_strategy

    def prepare(x):
        x = np.asarray(x, dtype="float32")
        if cell.input_scale != 1.0:
            x = x * np.float32(cell.input_scale)
        if cell.input_offset != 0.0:
            x = x + np.float32(cell.input_offset)
        return x

    def project(xp):
        return _numpy(cell.input_map(ops.convert_to_tensor(xp, dtype)))

    def back(v):
        v = ops.convert_to_tensor(v.astype("float32"), dtype)
        if shared:
            return _numpy(tt.matmul(v, tt.transpose(cell.cores), strategy))
        total = 0.0
        for g in range(gates):
            cores = tt.transpose(cell.cores[g * d : (g + 1) * d])
            total = total + _numpy(
                tt.matmul(v[..., g * u : (g + 1) * u], cores, strategy)
            )
        return total

    return prepare, project, back, int(np.prod(cell.tt_input_shape))


def _dense_input_map(cell, input_bias):
    kernel = _numpy(cell.kernel)

    def prepare(x):
        return np.asarray(x, dtype="float32")

    def project(xp):
        return xp.astype("float64") @ kernel + input_bias

    def back(v):
        return v @ kernel.T

    return prepare, project, back, kernel.shape[0]


def _numpy(value):
    return np.asarray(ops.convert_to_numpy(value), dtype="float64")

"""Compress a trained Keras model: dense kernels become TT-matrices.

`compress(model)` clones a Sequential or functional model, replacing the
chosen `keras.layers.Dense` layers by `TTDense` layers whose cores are the
TT-SVD of the trained kernels (biases copied) and rounding the `TTDense`
layers it already has. Every other layer is copied with its weights. With
no truncation the new model computes the same outputs (to float rounding).

Keras' SimpleRNN, GRU and LSTM become TTSimpleRNN, TTGRU and TTLSTM (the
"shared" gate layout; recurrent kernels and biases copied), and TT-RNN
layers are TT-rounded. `_converters()` lists `(layer class, function)`
pairs; a new layer kind plugs in with one entry.
"""

import dataclasses
import math
import numbers
import warnings

import keras
import numpy as np

from ttrnn import tt
from ttrnn.layers._tt_kernel import build_with_cores
from ttrnn.layers.tt_dense import TTDense
from ttrnn.summary import flat_layers
from ttrnn.tt import factorize
from ttrnn.tt import initializers as tt_initializers
from ttrnn.tt import rounding

# Layers with fewer kernel weights are left alone when `layers` is None.
DEFAULT_MIN_PARAMS = 4096


@dataclasses.dataclass
class LayerReport:
    """What `compress` did to one layer.

    Attributes:
        name: the layer's name (kept in the new model).
        before, after: class names, e.g. "Dense" and "TTDense" (equal
            when the layer was skipped).
        params_before, params_after: the layer's weights (kernel, bias,
            and for RNNs the recurrent kernel).
        rel_error: ||W - W_tt||_F / ||W||_F of the input kernel, float64;
            None when skipped.
        tt_input_shape, tt_output_shape, tt_ranks: the new TT-matrix.
        note: why a layer was skipped, or "".
    """

    name: str
    before: str
    after: str
    params_before: int
    params_after: int
    rel_error: float = None
    tt_input_shape: tuple = None
    tt_output_shape: tuple = None
    tt_ranks: tuple = None
    note: str = ""

    @property
    def compression(self):
        return self.params_before / max(self.params_after, 1)


@dataclasses.dataclass
class CompressionReport:
    """Per-layer results of `compress` and the model totals.

    Attributes:
        layers: list of `LayerReport`, in model order.
        params_before, params_after: weights of the whole model.
    """

    layers: list
    params_before: int
    params_after: int

    @property
    def compression(self):
        return self.params_before / max(self.params_after, 1)

    def __getitem__(self, name):
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(name)

    def __str__(self):
        head = ("layer", "before -> after", "weights", "TT", "rel. error")
        rows = [head]
        for r in self.layers:
            if r.note:
                rows.append((r.name, r.before, f"{r.params_before:,}", "", ""))
                rows.append(("", f"  skipped: {r.note}", "", "", ""))
                continue
            shape = "x".join(map(str, r.tt_input_shape))
            shape += " -> " + "x".join(map(str, r.tt_output_shape))
            shape += f", r={max(r.tt_ranks)}"
            rows.append(
                (
                    r.name,
                    f"{r.before} -> {r.after}",
                    f"{r.params_before:,} -> {r.params_after:,}",
                    shape,
                    f"{r.rel_error:.2e}",
                )
            )
        rows.append(
            (
                "model",
                "",
                f"{self.params_before:,} -> {self.params_after:,}",
                f"{self.compression:.1f}x",
                "",
            )
        )
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        return "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
            for row in rows
        )


@dataclasses.dataclass
class _Options:
    max_rank: object
    eps: object
    max_params: object
    compression: object
    d: object


def compress(
    model,
    max_rank=None,
    eps=None,
    max_params=None,
    layers=None,
    compression=None,
    d=None,
    min_params=DEFAULT_MIN_PARAMS,
):
    """TT-compresses the dense kernels of a trained model.

    Returns a new model (the given one is untouched) in which each chosen
    `Dense` layer is replaced by a `TTDense` of the same name, activation
    and bias, with automatic mode shapes (`ttrnn.tt.auto_shapes`) and the
    TT-SVD of the trained kernel as cores (`ttrnn.tt.from_dense`); each
    chosen `TTDense` is TT-rounded (`TTDense.round`). All other layers are
    cloned with their weights. With no truncation (`max_rank`, `eps`,
    `max_params`, `compression` all None) the outputs are unchanged up to
    float rounding, though the exact TT-matrix of a full-rank kernel may
    hold more weights than the kernel.

    Kernel regularisers and constraints carry over and then act on every
    core (their meaning in `TTDense`). Nested Sequential and functional
    models are handled; subclassed models are not.

    Args:
        model: a built Sequential or functional Keras model.
        max_rank: None or an int capping every TT rank.
        eps: None or a float >= 0: ||W - W_tt||_F <= eps ||W||_F per layer
            (unless `max_rank` or a budget cuts deeper).
        max_params: None or the most core weights of each TT kernel.
        layers: None (every `Dense` with at least `min_params` kernel
            weights and every `TTDense`) or a list of layer names or layer
            objects to convert.
        compression: None or the least ratio dense / TT kernel weights of
            each layer (alternative to `max_params`).
        d: number of TT modes; None picks it per layer (`choose_d`).
        min_params: see `layers`. Defaults to 4096.

    Returns:
        `(new_model, report)`: the new Keras model (not compiled) and a
        `CompressionReport` with, per converted layer, the weights before
        and after and the relative reconstruction error of the kernel;
        `print(report)` shows a table. With `layers=None`, a dense layer
        whose dims factor badly (e.g. a prime 1031) is skipped with a
        warning and a note in the report; a named one raises.

    Example:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((256,)),
    ...                           keras.layers.Dense(256, name="fc"),
    ...                           keras.layers.Dense(10, name="head")])
    >>> small, report = compress(model, max_rank=4)
    >>> [type(layer).__name__ for layer in small.layers]
    ['TTDense', 'Dense']
    >>> report["fc"].params_before, report["fc"].params_after
    (65792, 1152)
    """
    _check_model(model)
    options = _check_options(max_rank, eps, max_params, compression, d)
    chosen = _choose_layers(model, layers, min_params)
    rows, pairs = [], []

    def clone_function(layer):
        new, weights = None, None
        if id(layer) in chosen:
            convert = _converter(layer)
            try:
                new, weights, row = convert(layer, options)
            except _Skip as skip:
                if chosen[id(layer)]:  # named by the user
                    raise skip.error from None
                warnings.warn(
                    f"compress: layer {layer.name!r} left dense: {skip}",
                    stacklevel=4,
                )
                row = _skipped_row(layer, str(skip))
            rows.append(row)
        if new is None:
            new = layer.__class__.from_config(layer.get_config())
            weights = layer.get_weights()
        pairs.append((new, weights))
        return new

    new_model = keras.models.clone_model(
        model, clone_function=clone_function, recursive=True
    )
    for new, weights in pairs:
        new.set_weights(weights)
    position = {layer.name: k for k, layer in enumerate(flat_layers(model))}
    rows.sort(key=lambda row: position.get(row.name, len(position)))
    report = CompressionReport(
        layers=rows,
        params_before=model.count_params(),
        params_after=new_model.count_params(),
    )
    return new_model, report


# --- converters ------------------------------------------------------------


class _Skip(Exception):
    """A layer that cannot be converted; `error` is what a user gets."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


def _rank_caps(ins, outs, options):
    """max_rank as d + 1 ints: the user cap and the budget, whichever is
    lower (None when neither is given)."""
    caps = None
    if options.max_rank is not None:
        caps = [options.max_rank] * (len(ins) + 1)
    if options.max_params is not None or options.compression is not None:
        budget = factorize.ranks_for_budget(
            ins, outs, options.max_params, options.compression
        )
        caps = (
            budget
            if caps is None
            else [min(a, b) for a, b in zip(caps, budget)]
        )
    return caps


def _convert_dense(layer, options):
    if getattr(layer, "quantization_mode", None):
        raise _Skip(
            ValueError(
                f"Layer {layer.name!r} is quantized "
                f"({layer.quantization_mode}): compress the float model."
            )
        )
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float64)
    input_dim, units = kernel.shape
    try:
        ins, outs = factorize.auto_shapes(input_dim, units, options.d)
        caps = _rank_caps(ins, outs, options)
    except ValueError as error:
        raise _Skip(error) from None
    cores = tt.from_dense(kernel, ins, outs, max_rank=caps, eps=options.eps)
    ranks = tt.cores_modes(cores)[2]
    rel_error = _dense_rel_error(kernel, cores)
    config = layer.get_config()
    new = TTDense(
        ins,
        outs,
        ranks,
        activation=config["activation"],
        use_bias=layer.use_bias,
        bias_initializer=config["bias_initializer"],
        kernel_regularizer=config["kernel_regularizer"],
        bias_regularizer=config["bias_regularizer"],
        activity_regularizer=config.get("activity_regularizer"),
        kernel_constraint=config["kernel_constraint"],
        bias_constraint=config["bias_constraint"],
        name=layer.name,
        dtype=layer.dtype_policy,
        trainable=layer.trainable,
    )
    build_with_cores(new, new, (None, input_dim), [cores])
    weights = list(cores)
    if layer.use_bias:
        weights.append(keras.ops.convert_to_numpy(layer.bias))
    after = tt.num_params(ins, outs, ranks) + (units if layer.use_bias else 0)
    row = LayerReport(
        name=layer.name,
        before=type(layer).__name__,
        after="TTDense",
        params_before=layer.count_params(),
        params_after=after,
        rel_error=rel_error,
        tt_input_shape=ins,
        tt_output_shape=outs,
        tt_ranks=ranks,
    )
    return new, weights, row


def _convert_tt_dense(layer, options):
    old = [keras.ops.convert_to_numpy(c) for c in layer.cores]
    try:
        caps = _rank_caps(layer.tt_input_shape, layer.tt_output_shape, options)
    except ValueError as error:
        raise _Skip(error) from None
    new = layer.round(max_rank=caps, eps=options.eps, name=layer.name)
    new_cores = [keras.ops.convert_to_numpy(c) for c in new.cores]
    row = LayerReport(
        name=layer.name,
        before="TTDense",
        after="TTDense",
        params_before=layer.count_params(),
        params_after=new.count_params(),
        rel_error=rounding.relative_error(new_cores, old),
        tt_input_shape=new.tt_input_shape,
        tt_output_shape=new.tt_output_shape,
        tt_ranks=new.tt_ranks,
    )
    return new, new.get_weights(), row


def _rnn_classes():
    """(Keras RNN class, TT-RNN class) pairs."""
    from ttrnn import layers

    return [
        (keras.layers.SimpleRNN, layers.TTSimpleRNN),
        (keras.layers.GRU, layers.TTGRU),
        (keras.layers.LSTM, layers.TTLSTM),
    ]


def _map_shapes(ins, outs, gates):
    """Modes of a TT-RNN's "shared" input map: n_0 times the gates."""
    return ins, (gates * outs[0],) + tuple(outs[1:])


def _convert_keras_rnn(layer, options):
    tt_cls = next(t for k, t in _rnn_classes() if type(layer) is k)
    cell = layer.cell
    kernel = np.asarray(keras.ops.convert_to_numpy(cell.kernel), np.float64)
    units = cell.units
    input_dim, gates = kernel.shape[0], kernel.shape[1] // units
    try:
        ins, outs = factorize.auto_shapes(input_dim, units, options.d)
        caps = _rank_caps(*_map_shapes(ins, outs, gates), options)
    except ValueError as error:
        raise _Skip(error) from None
    cores = tt.from_dense(
        kernel, *_map_shapes(ins, outs, gates), max_rank=caps, eps=options.eps
    )
    ranks = tt.cores_modes(cores)[2]
    config = layer.get_config()
    for key in ("units", "use_cudnn", "implementation"):
        config.pop(key, None)
    try:
        tt_initializers.get(config["kernel_initializer"])
    except ValueError:
        config["kernel_initializer"] = "glorot_uniform"  # no TT twin
    config.update(
        tt_input_shape=ins,
        tt_output_shape=outs,
        tt_ranks=ranks,
        tt_gate_layout="shared",
    )
    new = tt_cls(**config)
    recurrent = keras.ops.convert_to_numpy(cell.recurrent_kernel)
    build_with_cores(new, new.cell, (None, None, input_dim), [cores], recurrent)
    weights = list(cores) + [recurrent]
    if cell.use_bias:
        weights.append(keras.ops.convert_to_numpy(cell.bias))
    after = (
        layer.count_params()
        - kernel.size
        + tt.num_params(*_map_shapes(ins, outs, gates), ranks)
    )
    row = LayerReport(
        name=layer.name,
        before=type(layer).__name__,
        after=tt_cls.__name__,
        params_before=layer.count_params(),
        params_after=after,
        rel_error=_dense_rel_error(kernel, cores),
        tt_input_shape=ins,
        tt_output_shape=outs,
        tt_ranks=ranks,
    )
    return new, weights, row


def _convert_tt_rnn(layer, options):
    d = len(layer.tt_input_shape)
    old = [keras.ops.convert_to_numpy(c) for c in layer.cores]
    groups = [old[g : g + d] for g in range(0, len(old), d)]
    ins, map_outs, _ = tt.cores_modes(groups[0])
    try:
        caps = _rank_caps(ins, map_outs, options)
    except ValueError as error:
        raise _Skip(error) from None
    new = layer.round(max_rank=caps, eps=options.eps, name=layer.name)
    new_cores = [keras.ops.convert_to_numpy(c) for c in new.cores]
    # The error of the whole (M, G units) kernel from the per-gate errors.
    num = den = 0.0
    for g in range(0, len(old), d):
        norm = rounding.norm(old[g : g + d])
        err = rounding.relative_error(new_cores[g : g + d], old[g : g + d])
        num += (err * norm) ** 2
        den += norm**2
    row = LayerReport(
        name=layer.name,
        before=type(layer).__name__,
        after=type(layer).__name__,
        params_before=layer.count_params(),
        params_after=new.count_params(),
        rel_error=float(math.sqrt(num / den)) if den > 0 else 0.0,
        tt_input_shape=tuple(new.tt_input_shape),
        tt_output_shape=tuple(new.tt_output_shape),
        tt_ranks=tuple(new.tt_ranks),
    )
    return new, new.get_weights(), row


def _converters():
    """(layer class, converter) pairs, most specific first."""
    rnns = _rnn_classes()
    return (
        [(TTDense, _convert_tt_dense)]
        + [(t, _convert_tt_rnn) for _, t in rnns]
        + [(keras.layers.Dense, _convert_dense)]
        + [(k, _convert_keras_rnn) for k, _ in rnns]
    )


def _converter(layer):
    for cls, convert in _converters():
        if isinstance(layer, cls):
            return convert
    return None


def _kernel_size(layer):
    if isinstance(layer, TTDense):
        return layer.input_dim * layer.units
    if hasattr(layer, "tt_input_shape"):  # a TT-RNN
        return layer.input_dim * layer.units * layer.cell.num_gates
    kernel = getattr(layer, "kernel", None)
    if kernel is None and hasattr(layer, "cell"):
        kernel = getattr(layer.cell, "kernel", None)
    return math.prod(kernel.shape) if kernel is not None else 0


# --- helpers ----------------------------------------------------------------


def _dense_rel_error(kernel, cores):
    norm = np.linalg.norm(kernel)
    err = np.linalg.norm(kernel - rounding.dense_numpy(cores))
    return float(err / norm) if norm > 0 else float(err)


def _skipped_row(layer, note):
    count = layer.count_params()
    return LayerReport(
        name=layer.name,
        before=type(layer).__name__,
        after=type(layer).__name__,
        params_before=count,
        params_after=count,
        note=note,
    )


def _check_model(model):
    if not isinstance(model, keras.Model) or not (
        isinstance(model, keras.Sequential)
        or type(model).__name__ == "Functional"
        or hasattr(model, "_operations")  # Functional subclasses
    ):
        raise ValueError(
            "`model` must be a Keras Sequential or functional model. "
            f"Received: model of type {type(model).__name__}"
        )
    if not model.built:
        raise ValueError(
            "`model` must be built (give it an Input or call it on data) "
            f"before `compress`. Received: unbuilt model {model.name!r}"
        )


def _check_options(max_rank, eps, max_params, compression, d):
    if max_rank is not None and (
        isinstance(max_rank, bool)
        or not isinstance(max_rank, numbers.Integral)
        or max_rank < 1
    ):
        raise ValueError(
            f"`max_rank` must be None or an int >= 1. "
            f"Received: max_rank={max_rank!r}"
        )
    if eps is not None and not (isinstance(eps, numbers.Real) and eps >= 0):
        raise ValueError(
            f"`eps` must be None or a float >= 0. Received: eps={eps!r}"
        )
    if max_params is not None and compression is not None:
        raise ValueError(
            "Give at most one of `max_params` and `compression`. "
            f"Received: max_params={max_params}, compression={compression}"
        )
    if max_params is not None and (
        isinstance(max_params, bool)
        or not isinstance(max_params, numbers.Integral)
        or max_params < 1
    ):
        raise ValueError(
            "`max_params` must be None or an int >= 1. "
            f"Received: max_params={max_params!r}"
        )
    if compression is not None and not (
        isinstance(compression, numbers.Real) and compression > 0
    ):
        raise ValueError(
            "`compression` must be None or a number > 0. "
            f"Received: compression={compression!r}"
        )
    if d is not None and (
        isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1
    ):
        raise ValueError(f"`d` must be None or an int >= 1. Received: d={d!r}")
    return _Options(
        None if max_rank is None else int(max_rank),
        eps,
        max_params,
        compression,
        d,
    )


def _choose_layers(model, layers, min_params):
    """{id(layer): named_by_user} of the layers to convert."""
    everything = flat_layers(model)
    if layers is None:
        return {
            id(layer): False
            for layer in everything
            if _converter(layer) is not None
            and (
                hasattr(layer, "tt_input_shape")  # TT layers: rounded
                or _kernel_size(layer) >= min_params
            )
        }
    if isinstance(layers, (str, keras.layers.Layer)):
        layers = [layers]
    chosen = {}
    by_name = {layer.name: layer for layer in everything}
    for item in layers:
        layer = by_name.get(item) if isinstance(item, str) else item
        if layer is None or all(layer is not other for other in everything):
            raise ValueError(
                "Every entry of `layers` must be a layer (or the name of "
                f"a layer) of the model; known names: {sorted(by_name)}. "
                f"Received: {item!r}"
            )
        if _converter(layer) is None:
            kinds = ", ".join(cls.__name__ for cls, _ in _converters())
            raise ValueError(
                f"`compress` converts only {kinds} layers. Received: layer "
                f"{layer.name!r} of type {type(layer).__name__}"
            )
        chosen[id(layer)] = True
    return chosen

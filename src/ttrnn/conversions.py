"""Per-layer conversions of `ttrnn.compress`: a trained layer to its TT
counterpart.

Each TT layer class names the Keras class it replaces (`keras_class`) and
converts one (`from_keras(layer, options)`, delegating to the functions
here: `dense_to_tt`, `embedding_to_tt`, `conv2d_to_tt`, `rnn_to_tt`); a TT
layer itself is rounded (`round_tt`). `converter(layer)` finds the
function for a layer's class; each returns `(new layer, its weights,
LayerReport)` or raises `Skip`. This module imports no TT layer module, so
a layer module may call it: a new TT layer plugs in with its own
`keras_class` and `from_keras`.
"""

import dataclasses
import math

import keras
import numpy as np

from ttrnn import compress_data
from ttrnn import tt
from ttrnn.layers._tt_kernel import build_with_cores
from ttrnn.tt import factorize
from ttrnn.tt import initializers as tt_initializers
from ttrnn.tt import rounding


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
        tt_layout: a `TTConv2D`'s layout ("channel" or "kernel"), else
            None.
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
    tt_layout: str = None

    @property
    def compression(self):
        return self.params_before / max(self.params_after, 1)


@dataclasses.dataclass
class Options:
    """The validated arguments of `compress` that converters read."""

    max_rank: object
    eps: object
    max_params: object
    compression: object
    d: object
    cores: dict = None  # {layer name: cores} of `compress(data=...)`
    conv_layout: str = "channel"  # TTConv2D's: "channel", "kernel", "auto"


# --- converters ------------------------------------------------------------


class Skip(Exception):
    """A layer that cannot be converted; `error` is what a user gets who
    named it, `reason` a short why for the report (`note`)."""

    def __init__(self, error, reason=None):
        super().__init__(str(error))
        self.error = error
        self.note = str(error) if reason is None else f"{reason}: {error}"


SMALL_FOR_BUDGET = "too small to shrink at this budget"


def rank_caps(ins, outs, options):
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


def _tt_svd(matrix, ins, outs, options, full=None, layer=None):
    """Cores of the TT-SVD of `matrix` (modes `full`, default `(ins,
    outs)`) within the rank caps; a bad shape or budget is a `Skip`.
    `compress(data=...)` has chosen the cores of some layers already."""
    given = (options.cores or {}).get(getattr(layer, "name", None))
    if given is not None:
        return given
    full = full or (ins, outs)
    try:
        caps = rank_caps(*full, options)
    except ValueError as error:
        raise Skip(error, SMALL_FOR_BUDGET) from None
    return tt.from_dense(matrix, *full, max_rank=caps, eps=options.eps)


def _auto_modes(rows, cols, options):
    try:
        return factorize.auto_shapes(rows, cols, options.d)
    except ValueError as error:
        d = options.d or factorize.choose_d(rows, cols)
        bad = [
            f"{n} {what}"
            for n, what in ((rows, "inputs"), (cols, "outputs"))
            if not _factors(n, d)
        ]
        reason = f"no TT factorisation of {' and '.join(bad)} into {d} modes"
        raise Skip(error, reason) from None


def _factors(n, d):
    try:
        factorize.balanced_modes(n, d)
    except ValueError:
        return False
    return True


def report(layer, new, params_after, rel_error):
    """The `LayerReport` of `layer` converted to (or rounded into) `new`."""
    return LayerReport(
        name=layer.name,
        before=type(layer).__name__,
        after=type(new).__name__,
        params_before=layer.count_params(),
        params_after=params_after,
        rel_error=rel_error,
        tt_input_shape=tuple(new.tt_input_shape),
        tt_output_shape=tuple(new.tt_output_shape),
        tt_ranks=tuple(new.tt_ranks),
    )


def dense_to_tt(cls, layer, options):
    """A trained `keras.layers.Dense` as a `cls` (`TTDense`): the TT-SVD
    of its kernel, its activation, bias and regularisers."""
    check_float(layer)
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float64)
    input_dim, units = kernel.shape
    ins, outs = _auto_modes(input_dim, units, options)
    cores = _tt_svd(kernel, ins, outs, options, layer=layer)
    ranks = tt.cores_modes(cores)[2]
    config = layer.get_config()
    new = cls(
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
    return new, weights, report(layer, new, after, rel_error(kernel, cores))


def round_tt(layer, options):
    """A TT layer TT-rounded (`round()`) within the options' caps.

    The caps are those of its (first) TT-matrix; a layer whose kernel is
    several TT-matrices (a TT-RNN's "separate" gates) lists them in
    `core_groups`, and its error is that of the whole kernel.
    """
    old = [keras.ops.convert_to_numpy(c) for c in layer.cores]
    d = len(getattr(layer, "core_groups", [old])[0])
    groups = [old[g : g + d] for g in range(0, len(old), d)]
    ins, outs, _ = tt.cores_modes(groups[0])
    try:
        caps = rank_caps(ins, outs, options)
    except ValueError as error:
        raise Skip(error, SMALL_FOR_BUDGET) from None
    new = compress_data.rounded(layer, caps, options)
    new_cores = [keras.ops.convert_to_numpy(c) for c in new.cores]
    # The error of the whole kernel from the per-matrix errors.
    num = den = 0.0
    for g in range(0, len(old), d):
        norm = rounding.norm(old[g : g + d])
        err = rounding.relative_error(new_cores[g : g + d], old[g : g + d])
        num += (err * norm) ** 2
        den += norm**2
    error = float(math.sqrt(num / den)) if den > 0 else 0.0
    return new, new.get_weights(), report(layer, new, new.count_params(), error)


def embedding_to_tt(cls, layer, options, default_d):
    """A trained `keras.layers.Embedding` as a `cls` (`TTEmbedding`): the
    TT-SVD of its table padded with zero rows to the vocabulary modes'
    product (`default_d` modes unless the options say)."""
    check_float(layer)
    table = np.asarray(keras.ops.convert_to_numpy(layer.embeddings), np.float64)
    vocab, dim = table.shape
    d = options.d or default_d
    try:
        padded, ins = factorize.suggest_padding(vocab, d)
        outs = factorize.embedding_modes(dim, d)
    except ValueError as error:
        reason = f"no TT factorisation of its {vocab} x {dim} table"
        raise Skip(error, reason) from None
    # A budget counts against the real table, not the padded one.
    budget = options
    if options.compression is not None:
        budget = dataclasses.replace(
            options,
            max_params=math.floor(vocab * dim / options.compression),
            compression=None,
        )
    # Rows beyond the vocabulary are zero: never looked up.
    padded_table = np.zeros((padded, dim))
    padded_table[:vocab] = table
    cores = _tt_svd(padded_table, ins, outs, budget, layer=layer)
    ranks = tt.cores_modes(cores)[2]
    config = layer.get_config()
    initializer = tt_initializer(config["embeddings_initializer"], "uniform")
    new = cls(
        vocab,
        dim,
        ins,
        outs,
        ranks,
        embeddings_initializer=initializer,
        embeddings_regularizer=config["embeddings_regularizer"],
        embeddings_constraint=config["embeddings_constraint"],
        activity_regularizer=config.get("activity_regularizer"),
        mask_zero=layer.mask_zero,
        name=layer.name,
        dtype=layer.dtype_policy,
        trainable=layer.trainable,
    )
    build_with_cores(new, new, None, [cores])
    after = tt.num_params(ins, outs, ranks)
    return new, list(cores), report(layer, new, after, rel_error(table, cores))


def conv2d_to_tt(cls, layer, options):
    """A trained `keras.layers.Conv2D` as a `cls` (`TTConv2D`): the
    TT-SVD of its kernel as the (C kh kw, F) matrix, in the layout
    `options.conv_layout` names ("channel": channel and spatial modes;
    "kernel": the kernel's own modes, d = 1 unless `d` is given) or, for
    "auto", in the one whose TT-SVD within the caps has the lower
    relative error (the report's `tt_layout` says which)."""
    check_float(layer)
    if layer.groups != 1:
        raise Skip(ValueError(f"Layer {layer.name!r} has groups > 1."))
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float64)
    kh, kw, channels, filters = kernel.shape
    # (kh, kw, C, F) -> rows (c, y, x): the TT-matrix of TTConv2D.
    matrix = kernel.transpose(2, 0, 1, 3).reshape(-1, filters)
    layout = options.conv_layout
    best = None
    for name in ("channel", "kernel") if layout == "auto" else (layout,):
        if name == "kernel" and options.d is None:
            ins, outs = (channels,), (filters,)
        else:
            ins, outs = _auto_modes(channels, filters, options)
        ones = (1,) * len(ins)
        full = (ins + (kh * kw,), outs + (1,))
        if name == "kernel":
            full = (ins + (kh, kw) + ones, ones + (1, 1) + outs)
        cores = _tt_svd(matrix, ins, outs, options, full)
        error = rel_error(matrix, cores)
        if best is None or error < best[0]:
            best = (error, name, ins, outs, full, cores)
    error, layout, ins, outs, full, cores = best
    ranks = tt.cores_modes(cores)[2]
    config = layer.get_config()
    for key in ("filters", "groups", "lora_rank", "lora_alpha"):
        config.pop(key, None)
    config["kernel_initializer"] = tt_initializer(
        config["kernel_initializer"], "glorot_uniform"
    )
    config.update(tt_input_shape=ins, tt_output_shape=outs, tt_ranks=ranks)
    new = cls(**config, tt_layout=layout)
    shape = [None, None, None]
    shape.insert(1 if new.data_format == "channels_first" else 3, channels)
    build_with_cores(new, new, tuple(shape), [cores])
    weights = list(cores)
    if layer.use_bias:
        weights.append(keras.ops.convert_to_numpy(layer.bias))
    after = tt.num_params(*full, ranks) + (filters if layer.use_bias else 0)
    row = report(layer, new, after, error)
    row.tt_layout = layout
    return new, weights, row


def _map_shapes(ins, outs, gates):
    """Modes of a TT-RNN's "shared" input map: n_0 times the gates."""
    return ins, (gates * outs[0],) + tuple(outs[1:])


def rnn_to_tt(cls, layer, options):
    """A trained Keras SimpleRNN, GRU or LSTM as a `cls` (its TT twin,
    "shared" gate layout): the TT-SVD of the input kernel; recurrent
    kernel and bias copied."""
    cell = layer.cell
    kernel = np.asarray(keras.ops.convert_to_numpy(cell.kernel), np.float64)
    units = cell.units
    input_dim, gates = kernel.shape[0], kernel.shape[1] // units
    ins, outs = _auto_modes(input_dim, units, options)
    full = _map_shapes(ins, outs, gates)
    cores = _tt_svd(kernel, ins, outs, options, full)
    ranks = tt.cores_modes(cores)[2]
    config = layer.get_config()
    for key in ("units", "use_cudnn", "implementation"):
        config.pop(key, None)
    config["kernel_initializer"] = tt_initializer(
        config["kernel_initializer"], "glorot_uniform"
    )
    config.update(
        tt_input_shape=ins,
        tt_output_shape=outs,
        tt_ranks=ranks,
        tt_gate_layout="shared",
    )
    new = cls(**config)
    recurrent = keras.ops.convert_to_numpy(cell.recurrent_kernel)
    build_with_cores(new, new.cell, (None, None, input_dim), [cores], recurrent)
    weights = list(cores) + [recurrent]
    if cell.use_bias:
        weights.append(keras.ops.convert_to_numpy(cell.bias))
    after = layer.count_params() - kernel.size + tt.num_params(*full, ranks)
    return new, weights, report(layer, new, after, rel_error(kernel, cores))


def tt_layer_classes():
    """The TT layer classes of `ttrnn.layers` that `compress` knows: those
    with a `from_keras` classmethod and the `keras_class` it converts."""
    from ttrnn import layers

    classes = (getattr(layers, name) for name in layers.__all__)
    return [cls for cls in classes if hasattr(cls, "from_keras")]


def converters():
    """(layer class, converter) pairs: every TT layer class (rounded by
    `round_tt`), then the Keras class each replaces (its `from_keras`).
    A new TT layer plugs in by defining `keras_class` and `from_keras`."""
    tt_classes = tt_layer_classes()
    return [(cls, round_tt) for cls in tt_classes] + [
        (cls.keras_class, cls.from_keras) for cls in tt_classes
    ]


def converter(layer):
    """The converter of `layer`'s class (or of its nearest base class in
    `converters()`), or None."""
    table = dict(converters())
    for cls in type(layer).__mro__:
        if cls in table:
            return table[cls]
    return None


def kernel_size(layer):
    """Weights of a Keras layer's kernel (an RNN's input kernel, an
    Embedding's table); TT layers are always chosen, never sized."""
    owner = layer.cell if hasattr(layer, "cell") else layer
    kernel = getattr(owner, "kernel", getattr(layer, "embeddings", None))
    return math.prod(kernel.shape) if kernel is not None else 0


# --- helpers ----------------------------------------------------------------


def check_float(layer):
    if getattr(layer, "quantization_mode", None):
        raise Skip(
            ValueError(
                f"Layer {layer.name!r} is quantized "
                f"({layer.quantization_mode}): compress the float model."
            )
        )


def tt_initializer(identifier, default):
    """`identifier` if it has a TT counterpart, else `default`."""
    try:
        tt_initializers.get(identifier)
    except ValueError:
        return default
    return identifier


def rel_error(kernel, cores):
    """||W - W_tt|| / ||W|| over W's rows (a padded W_tt has more)."""
    norm = np.linalg.norm(kernel)
    dense = rounding.dense_numpy(cores)[: kernel.shape[0]]
    err = np.linalg.norm(kernel - dense)
    return float(err / norm) if norm > 0 else float(err)


def skipped_row(layer, note):
    """The report of a layer left as it is."""
    count = layer.count_params()
    return LayerReport(
        name=layer.name,
        before=type(layer).__name__,
        after=type(layer).__name__,
        params_before=count,
        params_after=count,
        note=note,
    )

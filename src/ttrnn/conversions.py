"""Per-layer conversions of `ttrnn.compress`: a trained layer to its TT
counterpart.

`converter(layer)` returns the function that converts a layer (Dense,
Embedding, Conv2D and the Keras RNNs to their TT twins, TT layers
rounded); each
returns `(new layer, its weights, LayerReport)` or raises `Skip`. A new
layer kind plugs in with one entry of `converters()`.
"""

import dataclasses
import math

import keras
import numpy as np

from ttrnn import compress_data
from ttrnn import tt
from ttrnn.layers._tt_kernel import build_with_cores
from ttrnn.layers.tt_conv2d import TTConv2D
from ttrnn.layers.tt_dense import TTDense
from ttrnn.layers.tt_embedding import DEFAULT_TT_D
from ttrnn.layers.tt_embedding import TTEmbedding
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
class Options:
    """The validated arguments of `compress` that converters read."""

    max_rank: object
    eps: object
    max_params: object
    compression: object
    d: object
    cores: dict = None  # {layer name: cores} of `compress(data=...)`


# --- converters ------------------------------------------------------------


class Skip(Exception):
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
    _check_float(layer)
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float64)
    input_dim, units = kernel.shape
    try:
        ins, outs = factorize.auto_shapes(input_dim, units, options.d)
        caps = _rank_caps(ins, outs, options)
    except ValueError as error:
        raise Skip(error) from None
    cores = compress_data.decompose(layer, kernel, ins, outs, caps, options)
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


def _convert_tt_layer(layer, options):
    """Rounds a TTDense, TTConv2D or TTEmbedding (`round()`)."""
    old = [keras.ops.convert_to_numpy(c) for c in layer.cores]
    full_ins, full_outs, _ = tt.cores_modes(old)
    try:
        caps = _rank_caps(full_ins, full_outs, options)
    except ValueError as error:
        raise Skip(error) from None
    new = compress_data.rounded(layer, caps, options)
    new_cores = [keras.ops.convert_to_numpy(c) for c in new.cores]
    row = LayerReport(
        name=layer.name,
        before=type(layer).__name__,
        after=type(layer).__name__,
        params_before=layer.count_params(),
        params_after=new.count_params(),
        rel_error=rounding.relative_error(new_cores, old),
        tt_input_shape=new.tt_input_shape,
        tt_output_shape=new.tt_output_shape,
        tt_ranks=new.tt_ranks,
    )
    return new, new.get_weights(), row


def _convert_embedding(layer, options):
    _check_float(layer)
    table = np.asarray(keras.ops.convert_to_numpy(layer.embeddings), np.float64)
    vocab, dim = table.shape
    d = options.d or DEFAULT_TT_D
    try:
        padded, ins = factorize.suggest_padding(vocab, d)
        outs = factorize.embedding_modes(dim, d)
        # A budget counts against the real table, not the padded one.
        budget = options
        if options.compression is not None:
            budget = dataclasses.replace(
                options,
                max_params=math.floor(vocab * dim / options.compression),
                compression=None,
            )
        caps = _rank_caps(ins, outs, budget)
    except ValueError as error:
        raise Skip(error) from None
    # Rows beyond the vocabulary are zero: never looked up.
    padded_table = np.zeros((padded, dim))
    padded_table[:vocab] = table
    cores = compress_data.decompose(
        layer, padded_table, ins, outs, caps, options
    )
    ranks = tt.cores_modes(cores)[2]
    config = layer.get_config()
    initializer = _tt_initializer(config["embeddings_initializer"], "uniform")
    new = TTEmbedding(
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
    row = LayerReport(
        name=layer.name,
        before=type(layer).__name__,
        after="TTEmbedding",
        params_before=layer.count_params(),
        params_after=tt.num_params(ins, outs, ranks),
        rel_error=_dense_rel_error(table, cores),
        tt_input_shape=ins,
        tt_output_shape=outs,
        tt_ranks=ranks,
    )
    return new, list(cores), row


def _convert_conv2d(layer, options):
    _check_float(layer)
    if layer.groups != 1:
        raise Skip(ValueError(f"Layer {layer.name!r} has groups > 1."))
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float64)
    kh, kw, channels, filters = kernel.shape
    # (kh, kw, C, F) -> rows (c, y, x): the TT-matrix of TTConv2D.
    matrix = kernel.transpose(2, 0, 1, 3).reshape(-1, filters)
    try:
        ins, outs = factorize.auto_shapes(channels, filters, options.d)
        full = (ins + (kh * kw,), outs + (1,))
        caps = _rank_caps(*full, options)
    except ValueError as error:
        raise Skip(error) from None
    cores = tt.from_dense(matrix, *full, max_rank=caps, eps=options.eps)
    ranks = tt.cores_modes(cores)[2]
    config = layer.get_config()
    for key in ("filters", "groups", "lora_rank", "lora_alpha"):
        config.pop(key, None)
    config["kernel_initializer"] = _tt_initializer(
        config["kernel_initializer"], "glorot_uniform"
    )
    config.update(tt_input_shape=ins, tt_output_shape=outs, tt_ranks=ranks)
    new = TTConv2D(**config)
    shape = [None, None, None]
    shape.insert(1 if new.data_format == "channels_first" else 3, channels)
    build_with_cores(new, new, tuple(shape), [cores])
    weights = list(cores)
    if layer.use_bias:
        weights.append(keras.ops.convert_to_numpy(layer.bias))
    row = LayerReport(
        name=layer.name,
        before=type(layer).__name__,
        after="TTConv2D",
        params_before=layer.count_params(),
        params_after=tt.num_params(*full, ranks)
        + (filters if layer.use_bias else 0),
        rel_error=_dense_rel_error(matrix, cores),
        tt_input_shape=ins,
        tt_output_shape=outs,
        tt_ranks=ranks,
    )
    return new, weights, row


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
        raise Skip(error) from None
    cores = tt.from_dense(
        kernel, *_map_shapes(ins, outs, gates), max_rank=caps, eps=options.eps
    )
    ranks = tt.cores_modes(cores)[2]
    config = layer.get_config()
    for key in ("units", "use_cudnn", "implementation"):
        config.pop(key, None)
    config["kernel_initializer"] = _tt_initializer(
        config["kernel_initializer"], "glorot_uniform"
    )
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
        raise Skip(error) from None
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


def converters():
    """(layer class, converter) pairs, most specific first."""
    rnns = _rnn_classes()
    tt_layers = (TTDense, TTConv2D, TTEmbedding)
    return (
        [(cls, _convert_tt_layer) for cls in tt_layers]
        + [(t, _convert_tt_rnn) for _, t in rnns]
        + [(keras.layers.Dense, _convert_dense)]
        + [(keras.layers.Embedding, _convert_embedding)]
        + [(keras.layers.Conv2D, _convert_conv2d)]
        + [(k, _convert_keras_rnn) for k, _ in rnns]
    )


def converter(layer):
    """The converter of `layer`'s class, or None."""
    for cls, convert in converters():
        if isinstance(layer, cls):
            return convert
    return None


def kernel_size(layer):
    """Weights of a Keras layer's kernel (an RNN's input kernel, an
    Embedding's table); TT layers are always chosen, never sized."""
    owner = layer.cell if hasattr(layer, "cell") else layer
    kernel = getattr(owner, "kernel", getattr(layer, "embeddings", None))
    return math.prod(kernel.shape) if kernel is not None else 0


# --- helpers ----------------------------------------------------------------


def _check_float(layer):
    if getattr(layer, "quantization_mode", None):
        raise Skip(
            ValueError(
                f"Layer {layer.name!r} is quantized "
                f"({layer.quantization_mode}): compress the float model."
            )
        )


def _tt_initializer(identifier, default):
    """`identifier` if it has a TT counterpart, else `default`."""
    try:
        tt_initializers.get(identifier)
    except ValueError:
        return default
    return identifier


def _dense_rel_error(kernel, cores):
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

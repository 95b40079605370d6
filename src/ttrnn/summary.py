"""`ttrnn.summary(model)`: weights, dense equivalent and cost per layer.

Like `model.summary()`, with three more columns per layer: the weights a
dense layer of the same shape would need, the compression (dense
equivalent / weights) and the multiply-adds of one example through the
layer's matrix products (bias adds and activations not counted; one
multiply-add is two FLOPs). The figures come from `layer_costs(model)`,
the one inspector of ttrnn: `ttrnn info` and the experiments' results
read it too.
"""

import dataclasses
import math
import numbers

import keras

from ttrnn import tt
from ttrnn.layers._tt_rnn_layer import TTRNNBase
from ttrnn.layers.tt_conv2d import TTConv2D
from ttrnn.layers.tt_dense import TTDense
from ttrnn.layers.tt_embedding import TTEmbedding
from ttrnn.tt.contraction.conv import channel_matrix

_KERAS_RNNS = (keras.layers.SimpleRNN, keras.layers.GRU, keras.layers.LSTM)


@dataclasses.dataclass
class LayerCost:
    """Counts of one layer.

    Attributes:
        name: the layer's name.
        class_name: its class, e.g. "TTDense".
        output_shape: its output shape (None for unknown dims), or None.
        params: its weights (`count_params()`).
        dense_params: the weights of the dense layer it stands for (equal
            to `params` for dense and unknown layers).
        macs: multiply-adds of one example through its matrix products,
            with the contraction order `tt.flops` finds cheapest for one
            example; None when unknown (layers without a cost model, or a
            recurrent layer with an unknown number of time steps).
        dense_macs: the same for the dense equivalent.
        kernel_params: the weights of the layer's (input) kernel alone:
            the TT cores of a TT layer, the kernel of a dense one; None
            for layers without one.
        dense_kernel_params: the weights of the dense kernel it stands
            for (M x G N for a recurrent layer with G gates).
        step_macs: multiply-adds of one vector (one time step of a
            recurrent layer, recurrence included), known whatever the
            sequence length; None when unknown.
        tt_shapes: `(tt_input_shape, tt_output_shape, tt_ranks)` of a TT
            layer, else None.
    """

    name: str
    class_name: str
    output_shape: object
    params: int
    dense_params: int
    macs: int = None
    dense_macs: int = None
    kernel_params: int = None
    dense_kernel_params: int = None
    step_macs: int = None
    tt_shapes: tuple = None

    @property
    def compression(self):
        """Layer compression: `dense_params / params`, all weights of the
        layer (a TT-RNN's recurrent kernel and bias included)."""
        return self.dense_params / max(self.params, 1)

    @property
    def input_map_compression(self):
        """Input-map compression: `dense_kernel_params / kernel_params`,
        the (input) kernel alone; None for layers without one."""
        if not self.kernel_params or self.dense_kernel_params is None:
            return None
        return self.dense_kernel_params / self.kernel_params


def _shape(tensor_or_none):
    if tensor_or_none is None:
        return None
    shape = getattr(tensor_or_none, "shape", None)
    if shape is None:  # a list of outputs
        return [tuple(t.shape) for t in tensor_or_none]
    return tuple(shape)


def _io_shapes(layer):
    """The layer's input and output shapes, or None where unknown.

    The input shape is that of the data tensor: a layer called after
    `Masking` (or any layer that emits a mask) records `[inputs, mask]`
    as its input, and only the first one is the data.
    """
    shapes = []
    for attr in ("input", "output"):
        try:
            shapes.append(_shape(getattr(layer, attr)))
        except (AttributeError, ValueError):
            shapes.append(None)
    if isinstance(shapes[0], list):
        shapes[0] = shapes[0][0] if shapes[0] else None
    return shapes


def _positions(input_shape):
    """Vectors per example a last-axis layer maps (1 for (batch, M))."""
    if input_shape is None:
        return 1
    inner = input_shape[1:-1]
    if any(s is None for s in inner):
        return None
    return math.prod(inner)


def _tt_macs(cores):
    """Per-example multiply-adds of x @ W for one TT-matrix."""
    ins, outs, ranks = tt.cores_modes(cores)
    return min(tt.flops(ins, outs, ranks, 1, s) for s in ("ltr", "rtl"))


def _ids_per_example(input_shape):
    """Ids an embedding looks up per example (1 for (batch,))."""
    if input_shape is None:
        return None
    inner = input_shape[1:]
    if any(s is None for s in inner):
        return None
    return math.prod(inner)


def _lookup_macs(cores):
    """Multiply-adds of one row of a TT-matrix (`tt.gather_rows`)."""
    _, outs, ranks = tt.cores_modes(cores)
    return sum(
        math.prod(outs[:k]) * ranks[k] * outs[k] * ranks[k + 1]
        for k in range(1, len(outs))
    )


def _times(count, factor):
    ints = (count, factor)
    if not all(isinstance(v, numbers.Integral) for v in ints):
        return None  # unknown, e.g. a time axis of unknown length
    return count * factor


def _tt_shapes(layer):
    return (
        tuple(layer.tt_input_shape),
        tuple(layer.tt_output_shape),
        tuple(layer.tt_ranks),
    )


def _cost(layer):
    params = layer.count_params() if layer.built else 0
    input_shape, output_shape = _io_shapes(layer)
    row = LayerCost(
        layer.name, type(layer).__name__, output_shape, params, params
    )
    if not layer.built:
        return row
    if isinstance(layer, TTDense):
        bias = layer.units if layer.use_bias else 0
        dense = layer.input_dim * layer.units
        positions = _positions(input_shape)
        row.dense_params = dense + bias
        row.step_macs = _tt_macs(layer.cores)
        row.macs = _times(row.step_macs, positions)
        row.dense_macs = _times(dense, positions)
        row.kernel_params = sum(math.prod(c.shape) for c in layer.cores)
        row.dense_kernel_params = dense
        row.tt_shapes = _tt_shapes(layer)
    elif isinstance(layer, keras.layers.Dense):
        dense = math.prod(layer.kernel.shape)
        row.step_macs = dense
        row.macs = row.dense_macs = _times(dense, _positions(input_shape))
        row.kernel_params = row.dense_kernel_params = dense
    elif isinstance(layer, TTRNNBase):
        cell = layer.cell
        gates, d = cell.num_gates, len(layer.tt_input_shape)
        kernel = layer.input_dim * gates * layer.units
        recurrent = math.prod(cell.recurrent_kernel.shape)
        cores = list(cell.cores)
        if cell.tt_gate_layout == "shared":
            groups = [cores]
        else:
            groups = [cores[g * d : (g + 1) * d] for g in range(gates)]
        tt_kernel = sum(math.prod(c.shape) for c in cores)
        row.dense_params = params - tt_kernel + kernel
        steps = input_shape[1] if input_shape else None
        row.step_macs = sum(_tt_macs(g) for g in groups) + recurrent
        row.macs = _times(row.step_macs, steps)
        row.dense_macs = _times(kernel + recurrent, steps)
        row.kernel_params = tt_kernel
        row.dense_kernel_params = kernel
        row.tt_shapes = _tt_shapes(layer)
    elif isinstance(layer, (TTEmbedding, keras.layers.Embedding)):
        table = layer.input_dim * layer.output_dim
        ids = _ids_per_example(input_shape)
        row.dense_params = table
        row.kernel_params = params
        row.dense_kernel_params = table
        row.step_macs = row.dense_macs = 0  # a dense lookup only copies
        if isinstance(layer, TTEmbedding):
            row.step_macs = _lookup_macs(layer.cores)
            row.tt_shapes = _tt_shapes(layer)
        row.macs = _times(row.step_macs, ids)
        row.dense_macs = _times(0, ids)
    elif isinstance(layer, (TTConv2D, keras.layers.Conv2D)):
        _conv_cost(layer, row, params, output_shape)
    elif type(layer) in _KERAS_RNNS:
        cell = layer.cell
        kernel = math.prod(cell.kernel.shape)
        row.step_macs = kernel + math.prod(cell.recurrent_kernel.shape)
        steps = input_shape[1] if input_shape else None
        row.macs = row.dense_macs = _times(row.step_macs, steps)
        row.kernel_params = row.dense_kernel_params = kernel
    return row


def _conv_cost(layer, row, params, output_shape):
    """Conv2D and TTConv2D: per example, over its output pixels."""
    first = layer.data_format == "channels_first"
    sides = None
    if output_shape is not None:
        sides = output_shape[2:4] if first else output_shape[1:3]
    pixels = None if sides is None or None in sides else math.prod(sides)
    taps = math.prod(layer.kernel_size)
    if isinstance(layer, TTConv2D):
        channels, filters = layer.input_dim, layer.filters
        dense = taps * channels * filters
        bias = filters if layer.use_bias else 0
        ins, outs, ranks = channel_matrix(
            layer.tt_input_shape, layer.tt_output_shape, layer.tt_ranks
        )
        # The channels path: r_d spatial filters per channel, then the
        # channel cores.
        row.step_macs = taps * channels * layer.tt_ranks[-2] + min(
            tt.flops(ins, outs, ranks, 1, s) for s in ("ltr", "rtl")
        )
        row.dense_params = dense + bias
        row.kernel_params = sum(math.prod(c.shape) for c in layer.cores)
        row.tt_shapes = _tt_shapes(layer)
    else:
        dense = math.prod(layer.kernel.shape)
        row.step_macs = dense
        row.kernel_params = dense
    row.dense_kernel_params = dense
    row.macs = _times(row.step_macs, pixels)
    row.dense_macs = _times(dense, pixels)


def flat_layers(model):
    """The layers of `model` and of its nested models, in order."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(flat_layers(layer))
        else:
            out.append(layer)
    return out


def layer_costs(model):
    """Weights, dense equivalent and multiply-adds of every layer.

    Layers of nested models are listed in their place. Costs are known
    for `TTDense`, `Dense`, `TTEmbedding`, `Embedding` (a dense lookup
    costs 0), `TTConv2D` (its channels path), `Conv2D`, the TT-RNNs and
    Keras' SimpleRNN, GRU and LSTM; other layers get their weights and
    `macs=None`.

    Args:
        model: a built Keras model.

    Returns:
        List of `LayerCost`, in model order.
    """
    if not model.built:
        raise ValueError(
            "`model` must be built (give it an Input or call it on data) "
            f"before `summary`. Received: unbuilt model {model.name!r}"
        )
    return [
        _cost(layer)
        for layer in flat_layers(model)
        if not isinstance(layer, keras.layers.InputLayer)
    ]


def _fmt(value):
    return "?" if value is None else f"{value:,}"


def summary(model, print_fn=None):
    """Prints a table of weights, dense equivalent, compression and cost.

    One row per layer (layers of nested models in their place, input
    layers left out): output shape, weights, the weights of the dense
    equivalent, compression, and multiply-adds per example ("?" where
    unknown, e.g. a convolution or a recurrent layer over a time axis of
    unknown length; "-" for layers without weights, not counted). The
    last row gives the totals.

    Args:
        model: a built Keras model.
        print_fn: function taking one line; defaults to `print`.

    Example:
    >>> import keras
    >>> from ttrnn import TTDense
    >>> model = keras.Sequential([keras.Input((1024,)),
    ...     TTDense((4, 8, 8, 4), (4, 8, 8, 4), 3, name="tt"),
    ...     keras.layers.Dense(10, name="head")])
    >>> summary(model)  # doctest: +NORMALIZE_WHITESPACE
    Layer (type) Output shape Weights Dense equiv. Layer compression Mult-adds
    tt (TTDense) (None, 1024) 2,272   1,049,600    462.0x            172,032
    head (Dense) (None, 10)   10,250  10,250       1.0x              10,240
    Total                     12,522  1,059,850    84.6x             182,272
    """
    print_fn = print if print_fn is None else print_fn
    costs = layer_costs(model)
    head = (
        "Layer (type)",
        "Output shape",
        "Weights",
        "Dense equiv.",
        "Layer compression",
        "Mult-adds",
    )
    rows = [head]
    for c in costs:
        shape = "" if c.output_shape is None else str(c.output_shape)
        rows.append(
            (
                f"{c.name} ({c.class_name})",
                shape,
                _fmt(c.params),
                _fmt(c.dense_params),
                "-" if c.params == 0 else f"{c.compression:.1f}x",
                "-" if c.macs is None and c.params == 0 else _fmt(c.macs),
            )
        )
    params = sum(c.params for c in costs)
    dense = sum(c.dense_params for c in costs)
    macs_text = f"{sum(c.macs for c in costs if c.macs is not None):,}"
    if any(c.macs is None and c.params > 0 for c in costs):
        macs_text += " + ?"  # layers with weights but no cost model
    rows.append(
        (
            "Total",
            "",
            _fmt(params),
            _fmt(dense),
            f"{dense / max(params, 1):.1f}x",
            macs_text,
        )
    )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print_fn("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())

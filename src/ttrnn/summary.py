"""`ttrnn.summary(model)`: weights, dense equivalent and cost per layer.

Like `model.summary()`, with three more columns per layer: the weights a
dense layer of the same shape would need, the compression (dense
equivalent / weights) and the multiply-adds of one example through the
layer's matrix products (bias adds and activations not counted; one
multiply-add is two FLOPs) at a stated batch size: a TT layer counts the
plans the contraction planner picks for that batch, whose per-batch work
(merging cores, rebuilding a kernel) is shared by the batch's examples.
The figures come from `layer_costs(model)`, the one inspector of ttrnn:
`ttrnn info` and the experiments' results read it too. Each TT layer
answers for itself (`kernel_cost`); Keras layers are counted here.
"""

import dataclasses
import math

import keras

from ttrnn.layers._costs import KernelCost
from ttrnn.layers._costs import known_size
from ttrnn.layers._costs import times
from ttrnn.tt.contraction import DEFAULT_PLANNING_BATCH


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
            at the batch size `layer_costs` assumes (a TT layer: the plans
            the planner picks for that batch, per-batch work shared by
            its examples); None when unknown (layers without a cost
            model, or a recurrent layer with an unknown number of time
            steps).
        dense_macs: the same for the dense equivalent.
        kernel_params: the weights of the layer's (input) kernel alone:
            the TT cores of a TT layer, the kernel of a dense one; None
            for layers without one.
        dense_kernel_params: the weights of the dense kernel it stands
            for (M x G N for a recurrent layer with G gates).
        step_macs: multiply-adds of one vector (a row, an id, an output
            pixel, one time step of a recurrent layer, recurrence
            included) at that batch, known whatever the sequence length;
            None when unknown.
        tt_shapes: `(tt_input_shape, tt_output_shape, tt_ranks)` of a TT
            layer, else None.
        dense_step_macs: `step_macs` of the dense equivalent.
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
    dense_step_macs: int = None

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
    """The layer's input and output shapes (None where unknown) and its
    input's dtype.

    The input is the data tensor: a layer called after `Masking` (or any
    layer that emits a mask) records `[inputs, mask]` as its input, and
    only the first one is the data.
    """
    shapes, dtype = [], "float32"
    for attr in ("input", "output"):
        try:
            tensor = getattr(layer, attr)
        except (AttributeError, ValueError):
            tensor = None
        if attr == "input" and isinstance(tensor, (list, tuple)):
            tensor = tensor[0] if tensor else None
        if attr == "input":
            dtype = getattr(tensor, "dtype", None) or dtype
        shapes.append(_shape(tensor))
    return shapes[0], shapes[1], dtype


def _keras_dense(layer, input_shape, output_shape):
    dense = math.prod(layer.kernel.shape)
    positions = 1 if input_shape is None else known_size(input_shape[1:-1])
    macs = times(dense, positions)
    return KernelCost(dense, dense, macs, macs, dense, dense)


def _keras_embedding(layer, input_shape, output_shape):
    ids = None if input_shape is None else known_size(input_shape[1:])
    table = math.prod(layer.embeddings.shape)
    return KernelCost(table, table, times(0, ids), times(0, ids), 0, 0)


def _keras_conv2d(layer, input_shape, output_shape):
    first = layer.data_format == "channels_first"
    pixels = None
    if output_shape is not None:
        pixels = known_size(output_shape[2:4] if first else output_shape[1:3])
    dense = math.prod(layer.kernel.shape)
    macs = times(dense, pixels)
    return KernelCost(dense, dense, macs, macs, dense, dense)


def _keras_rnn(layer, input_shape, output_shape):
    cell = layer.cell
    kernel = math.prod(cell.kernel.shape)
    step = kernel + math.prod(cell.recurrent_kernel.shape)
    steps = input_shape[1] if input_shape else None
    macs = times(step, steps)
    return KernelCost(kernel, kernel, macs, macs, step, step)


# The Keras layers with a cost model (TT layers answer `kernel_cost`):
# class -> function(layer, input_shape, output_shape).
_KERAS_COSTS = {
    keras.layers.Dense: _keras_dense,
    keras.layers.Embedding: _keras_embedding,
    keras.layers.Conv2D: _keras_conv2d,
}
# Keras' own RNNs only: a subclass may run another recurrence.
_KERAS_RNNS = (keras.layers.SimpleRNN, keras.layers.GRU, keras.layers.LSTM)


def _kernel_cost(layer, input_shape, output_shape, input_dtype, batch_size):
    """The layer's `KernelCost`, or None for layers without a cost
    model."""
    if hasattr(layer, "kernel_cost"):
        return layer.kernel_cost(input_shape, batch_size, input_dtype)
    if type(layer) in _KERAS_RNNS:
        return _keras_rnn(layer, input_shape, output_shape)
    for cls in type(layer).__mro__:
        if cls in _KERAS_COSTS:
            return _KERAS_COSTS[cls](layer, input_shape, output_shape)
    return None


def _cost(layer, batch_size):
    params = layer.count_params() if layer.built else 0
    input_shape, output_shape, input_dtype = _io_shapes(layer)
    row = LayerCost(
        layer.name, type(layer).__name__, output_shape, params, params
    )
    if not layer.built:
        return row
    cost = _kernel_cost(
        layer, input_shape, output_shape, input_dtype, batch_size
    )
    if cost is None:
        return row
    row.kernel_params = cost.kernel_params
    row.dense_kernel_params = cost.dense_kernel_params
    row.dense_params = params - cost.kernel_params + cost.dense_kernel_params
    row.macs, row.dense_macs = cost.macs, cost.dense_macs
    row.step_macs, row.dense_step_macs = cost.step_macs, cost.dense_step_macs
    if hasattr(layer, "tt_ranks"):
        row.tt_shapes = (
            tuple(layer.tt_input_shape),
            tuple(layer.tt_output_shape),
            tuple(layer.tt_ranks),
        )
    return row


def flat_layers(model):
    """The layers of `model` and of its nested models, in order."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(flat_layers(layer))
        else:
            out.append(layer)
    return out


def batch_size_of(model, batch_size=None):
    """The batch size `layer_costs` assumes: `batch_size`, else the
    model's static batch size, else `DEFAULT_PLANNING_BATCH` (32: what
    the planner assumes for an unknown batch, and Keras' `fit` default)."""
    if batch_size is not None:
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or batch_size < 1
        ):
            raise ValueError(
                "Argument `batch_size` must be a positive int or None. "
                f"Received: batch_size={batch_size!r}"
            )
        return batch_size
    inputs = getattr(model, "inputs", None) or []
    static = [t.shape[0] for t in inputs if t.shape and t.shape[0]]
    return int(static[0]) if static else DEFAULT_PLANNING_BATCH


def layer_costs(model, batch_size=None):
    """Weights, dense equivalent and multiply-adds of every layer.

    Layers of nested models are listed in their place. TT layers count
    themselves (`kernel_cost`: `TTDense`, `TTEmbedding`, `TTConv2D` on the
    path it takes, the TT-RNNs); costs are also known for `Dense`,
    `Embedding` (a dense lookup costs 0), `Conv2D` and Keras' SimpleRNN,
    GRU and LSTM; other layers get their weights and `macs=None`.

    Args:
        model: a built Keras model.
        batch_size: the batch the multiply-adds are counted at (see
            `batch_size_of`); None: the model's static batch size, else
            32.

    Returns:
        List of `LayerCost`, in model order.
    """
    if not model.built:
        raise ValueError(
            "`model` must be built (give it an Input or call it on data) "
            f"before `summary`. Received: unbuilt model {model.name!r}"
        )
    batch_size = batch_size_of(model, batch_size)
    return [
        _cost(layer, batch_size)
        for layer in flat_layers(model)
        if not isinstance(layer, keras.layers.InputLayer)
    ]


def _fmt(value):
    return "?" if value is None else f"{value:,}"


def summary(model, print_fn=None, batch_size=None):
    """Prints a table of weights, dense equivalent, compression and cost.

    One row per layer (layers of nested models in their place, input
    layers left out): output shape, weights, the weights of the dense
    equivalent, compression, and multiply-adds per example at the batch
    size named in the header ("?" where unknown, e.g. a recurrent layer
    over a time axis of unknown length; "-" for layers without weights,
    not counted). The last row gives the totals.

    Args:
        model: a built Keras model.
        print_fn: function taking one line; defaults to `print`.
        batch_size: the batch the multiply-adds are counted at; None: the
            model's static batch size, else 32 (`batch_size_of`).

    Raises:
        ValueError: if the model is not built, or `batch_size` is not a
            positive int.

    Example:
    >>> import keras
    >>> from ttrnn import TTDense
    >>> model = keras.Sequential([keras.Input((1024,)),
    ...     TTDense((4, 8, 8, 4), (4, 8, 8, 4), 3, name="tt"),
    ...     keras.layers.Dense(10, name="head")])
    >>> summary(model)  # doctest: +NORMALIZE_WHITESPACE
    Layer (type) Output shape Weights Dense equiv. Layer compression
    Mult-adds (batch 32)
    tt (TTDense) (None, 1024) 2,272   1,049,600    462.0x            197,184
    head (Dense) (None, 10)   10,250  10,250       1.0x              10,240
    Total                     12,522  1,059,850    84.6x             207,424
    """
    print_fn = print if print_fn is None else print_fn
    batch_size = batch_size_of(model, batch_size)
    costs = layer_costs(model, batch_size)
    head = (
        "Layer (type)",
        "Output shape",
        "Weights",
        "Dense equiv.",
        "Layer compression",
        f"Mult-adds (batch {batch_size})",
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
    for line in adapted_rank_lines(model):
        print_fn(line)


def adapted_rank_lines(model):
    """One line per TT layer whose cores hold fewer live ranks than their
    shapes (`ttrnn.callbacks.RankAdaptation` zero-pads what it drops):
    its adapted ranks, which the table's counts (the variables') do not
    show."""
    from ttrnn.tt.adaptive import effective_ranks

    lines = []
    for layer in flat_layers(model):
        ranks = getattr(layer, "tt_ranks", None)
        if not getattr(layer, "built", False) or ranks is None:
            continue
        cores = [keras.ops.convert_to_numpy(c) for c in layer.cores]
        live = effective_ranks(cores, len(cores) // (len(ranks) - 1))
        if tuple(live) != tuple(ranks):
            d = len(ranks) - 1
            weights = [
                (
                    live[k % d] * c.shape[1] * c.shape[2] * live[k % d + 1],
                    c.size,
                )
                for k, c in enumerate(cores)
            ]
            lines.append(
                f"{layer.name}: ranks adapted to {list(live)}, "
                f"{sum(w for w, _ in weights):,} weights in the TT cores "
                f"(the variables hold ranks {list(ranks)}, "
                f"{sum(n for _, n in weights):,} weights; "
                "`ttrnn.callbacks.export_adapted` rebuilds the model at "
                "the adapted ranks)"
            )
    return lines

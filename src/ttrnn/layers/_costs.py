"""What a TT layer's kernel costs: the figures `ttrnn.summary` reports.

Each TT layer answers `kernel_cost(input_shape, batch_size)` with a
`KernelCost` counted here from the plans its contractions run for a
batch of `batch_size` examples: `tt.matmul`'s plan for the rows the layer
hands it (`ttrnn.tt.contraction.planned_macs`, in the same chunks), the
lookup plan of `tt.gather_rows`, or the path `TTConv2D.evaluation_path`
takes. Work done once a batch (merging cores, rebuilding a kernel) is
shared over the batch's examples, so the cost of one example depends on
the batch assumed; bias adds and activations are not counted.
"""

import dataclasses
import math

from ttrnn.backends import MAX_INTEGER_CHUNK_VALUES
from ttrnn.layers._tt_rnn_inputs import MAX_PROJECTION_VALUES
from ttrnn.tt.contraction.contract import planned_macs
from ttrnn.tt.contraction.conv import channel_matrix
from ttrnn.tt.contraction.conv_kernel import chain_macs
from ttrnn.tt.cores import cores_modes
from ttrnn.tt.lookup import lookup_macs
from ttrnn.tt.lookup import lookup_plan


@dataclasses.dataclass(frozen=True)
class KernelCost:
    """Weights and multiply-adds of a layer's kernel and of the dense
    kernel it stands for.

    Attributes:
        kernel_params: weights of the kernel (a TT layer's cores).
        dense_kernel_params: weights of the dense kernel it stands for
            (M x G N for a recurrent layer with G gates).
        macs: multiply-adds of one example; None when unknown (a sequence
            or image of unknown size).
        dense_macs: the same for the dense kernel.
        step_macs: multiply-adds of one vector: a row, an id, an output
            pixel, or one time step of a recurrent layer (recurrence
            included); known whatever the sequence length.
        dense_step_macs: the same for the dense kernel.
    """

    kernel_params: int
    dense_kernel_params: int
    macs: object
    dense_macs: object
    step_macs: int
    dense_step_macs: int


def known_size(dims):
    """prod(dims), or None when a dim is unknown."""
    dims = tuple(dims)
    return None if None in dims else math.prod(int(s) for s in dims)


def times(count, factor):
    """count * factor, or None when either is unknown."""
    return None if count is None or factor is None else count * factor


def matmul_macs(matrices, rows, chunk, strategy, dtype):
    """Multiply-adds of x @ W_i for every TT-matrix W_i = (ins, outs,
    ranks) of `matrices`, over `rows` rows fed to `tt.matmul` `chunk`
    rows at a time (each chunk planned for its size)."""
    full, rest = divmod(rows, chunk)
    total = 0
    for modes in matrices:
        total += full * planned_macs(*modes, chunk, strategy, dtype)
        if rest:
            total += planned_macs(*modes, rest, strategy, dtype)
    return total


def _integer(input_dtype):
    return "int" in str(input_dtype)


def _size(cores):
    return sum(math.prod(c.shape) for c in cores)


def _result(layer, dense, total, batch, count, vectors, extra=0):
    """A `KernelCost` from the planned `total` for `batch` examples of
    `count` vectors each (None: unknown), `vectors` rows planned."""
    step = round(total / vectors) + extra
    return KernelCost(
        kernel_params=_size(layer.cores),
        dense_kernel_params=dense,
        macs=None if count is None else round(total / batch) + extra * count,
        dense_macs=times(dense + extra, count),
        step_macs=step,
        dense_step_macs=dense + extra,
    )


def dense_cost(layer, input_shape, batch, input_dtype="float32"):
    """`TTDense`: one `tt.matmul` over the batch's rows (integer inputs
    in rematerialised row chunks); an input with extra axes maps each of
    its vectors (unknown sizes: planned as one vector an example)."""
    positions = 1 if input_shape is None else known_size(input_shape[1:-1])
    rows = batch * (positions or 1)
    chunk = rows
    if _integer(input_dtype):
        chunk = min(rows, max(1, MAX_INTEGER_CHUNK_VALUES // layer.input_dim))
    matrix = [cores_modes(layer.cores)]
    strategy, dtype = layer.tt_strategy, layer.compute_dtype
    total = matmul_macs(matrix, rows, chunk, strategy, dtype)
    if layer.input_offset != 0.0:  # the offset's row, once a batch
        total += matmul_macs(matrix, 1, 1, strategy, dtype)
    dense = layer.input_dim * layer.units
    return _result(layer, dense, total, batch, positions, rows)


def recurrent_cost(layer, groups, input_shape, batch, input_dtype="float32"):
    """A TT-RNN: the input map over all batch * time frames in time
    chunks (`project_sequence`), one TT-matrix per group of `groups`,
    then the recurrent matmul every step. An unknown length is planned
    as one full chunk of frames."""
    cell = layer.cell
    steps = None if input_shape is None else input_shape[1]
    limit = MAX_PROJECTION_VALUES
    if _integer(input_dtype):
        limit = MAX_INTEGER_CHUNK_VALUES
    chunk = max(1, limit // (batch * cell.input_dim))
    span = chunk if steps is None else int(steps)
    matrices = [cores_modes(group) for group in groups]
    strategy, dtype = cell.tt_strategy, cell.compute_dtype
    total = matmul_macs(
        matrices, batch * span, batch * min(chunk, span), strategy, dtype
    )
    if cell.input_offset != 0.0:
        total += matmul_macs(matrices, 1, 1, strategy, dtype)
    recurrent = math.prod(cell.recurrent_kernel.shape)
    dense = cell.input_dim * cell.num_gates * cell.units
    return _result(layer, dense, total, batch, steps, batch * span, recurrent)


def lookup_cost(layer, input_shape, batch):
    """`TTEmbedding`: one `tt.gather_rows` of the batch's ids by its
    lookup plan (a dense lookup only copies: 0 multiply-adds)."""
    ids = None if input_shape is None else known_size(input_shape[1:])
    rows = batch * (ids or 1)
    modes = cores_modes(layer.cores)
    total = lookup_macs(lookup_plan(*modes, rows), *modes, rows)
    cost = _result(layer, 0, total, batch, ids, rows)
    dense = layer.input_dim * layer.output_dim
    return dataclasses.replace(cost, dense_kernel_params=dense)


def conv_cost(layer, input_shape, batch, side):
    """`TTConv2D`: the path `evaluation_path` picks for the batch, the
    channels path (r_d spatial filters per channel, then the channel
    cores) or the dense one (rebuild K once a batch, then im2col). An
    unknown image side counts as `side` pixels for planning."""
    first = layer.data_format == "channels_first"
    channels, filters = layer.input_dim, layer.filters
    if input_shape is None:
        input_shape = (None, None, None, channels)
        if first:
            input_shape = (None, channels, None, None)
    sides = input_shape[2:4] if first else input_shape[1:3]
    known = [side if s is None else s for s in sides]
    shape = (batch, channels, *known) if first else (batch, *known, channels)
    output = layer.compute_output_shape(shape)
    rows = math.prod(output[2:4] if first else output[1:3])
    pixels = rows if None not in sides else None
    rows *= batch
    path, plan = layer.evaluation_path(shape, layer.compute_dtype)
    taps = math.prod(layer.kernel_size)
    modes = (layer.tt_input_shape, layer.tt_output_shape, layer.tt_ranks)
    if path == "chain":  # the kernel layout's chain of convolutions
        total = chain_macs(modes, layer._geometry, shape)[0]
    elif path == "channels":
        spatial = rows * channels * taps * layer.tt_ranks[-2]
        total = spatial + planned_macs(*channel_matrix(*modes), rows, plan)
    else:
        kernel = cores_modes(layer.cores)
        total = planned_macs(*kernel, rows, "dense", layer.compute_dtype)
    return _result(layer, taps * channels * filters, total, batch, pixels, rows)

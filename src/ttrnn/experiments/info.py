"""Weights, compression and multiply-adds of every layer, as table rows.

The figures are `ttrnn.summary.layer_costs` (the one inspector), per
layer with weights: for a TT layer (TTDense, TT-RNN input map) the dense
equivalent is the (M, N) kernel it stands for, and the multiply-adds are
those of one vector (one time step of a recurrent layer, its
hidden-to-hidden matmul included) at a batch size: a TT layer's by the
plans the contraction planner picks for that batch, their per-batch work
shared by the batch's vectors.
"""

import textwrap

from ttrnn.summary import batch_size_of
from ttrnn.summary import layer_costs


def layer_rows(model, batch_size=None):
    """One row per weighted layer of a built model.

    Args:
        model: a built Keras model.
        batch_size: the batch the multiply-adds are counted at (an
            experiment's batch size); None: the model's static batch
            size, else 32 (`ttrnn.summary.batch_size_of`).

    Returns:
        A list of dicts: `layer`, `type`, `weights` (all weights of the
        layer), `input_to_hidden` (the kernel or TT cores alone),
        `dense_equivalent` (weights of the dense kernel it replaces),
        `compression` (input-map compression: dense equivalent /
        input-to-hidden; `LayerCost.input_map_compression`), `macs`
        (multiply-adds a sample or time step) and, for TT layers,
        `tt_input_shape`, `tt_output_shape` and `tt_ranks`.
    """
    return _rows(layer_costs(model, batch_size))


def _rows(costs):
    rows = []
    for cost in costs:
        if not cost.params:
            continue
        row = {
            "layer": cost.name,
            "type": cost.class_name,
            "weights": int(cost.params),
        }
        if cost.kernel_params is not None:
            row["input_to_hidden"] = int(cost.kernel_params)
            row["dense_equivalent"] = int(cost.dense_kernel_params)
            row["macs"] = int(cost.step_macs)
        if cost.tt_shapes is not None:
            ins, outs, ranks = cost.tt_shapes
            row["tt_input_shape"] = list(ins)
            row["tt_output_shape"] = list(outs)
            row["tt_ranks"] = list(ranks)
        row["compression"] = cost.input_map_compression
        rows.append(row)
    return rows


def format_rows(rows):
    """The rows of `layer_rows` as an aligned text table."""
    header = (
        f"{'layer':<12}{'type':<14}{'weights':>12}{'input map':>12}"
        f"{'dense input map':>17}{'input-map compression':>23}"
        f"{'MACs/step':>13}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        compression = row.get("compression")
        lines.append(
            f"{row['layer']:<12.12}{row['type']:<14.14}{row['weights']:>12,}"
            f"{_num(row.get('input_to_hidden')):>12}"
            f"{_num(row.get('dense_equivalent')):>17}"
            f"{(f'{compression:,.1f}x' if compression else '-'):>23}"
            f"{_num(row.get('macs')):>13}"
        )
    return "\n".join(lines)


def model_table(model, batch_size=None):
    """`format_rows` of `layer_rows`, then what the MACs column counts
    and, for each TT layer that costs more than its dense kernel at that
    batch, why.

    Args:
        model: a built Keras model.
        batch_size: as in `layer_rows`.

    Returns:
        The table and its notes, as one string.
    """
    batch_size = batch_size_of(model, batch_size)
    costs = layer_costs(model, batch_size)
    table = format_rows(_rows(costs))
    lines = [
        f"MACs/step: multiply-adds of one sample (one time step of a "
        f"recurrent layer) at batch {batch_size}; TT layers by the plans "
        "the contraction planner runs (least modelled time on this "
        "backend and device, not always the fewest multiply-adds), "
        "per-batch work shared by the batch."
    ]
    for cost in costs:
        if cost.tt_shapes is None or cost.step_macs is None:
            continue
        if cost.step_macs > cost.dense_step_macs:
            ins, outs, ranks = cost.tt_shapes
            lines.append(
                f"{cost.name}: TT costs more multiply-adds than dense here "
                f"({cost.step_macs:,} against {cost.dense_step_macs:,} a "
                f"step at batch {batch_size}): a TT contraction's work "
                "grows with the square of the ranks, and at tt_ranks "
                f"{list(ranks)} on modes {_modes(ins)} -> {_modes(outs)} "
                "it exceeds the dense matmul's. TT saves weights here "
                f"({cost.input_map_compression:,.1f}x), not multiply-adds."
            )
    width = len(table.splitlines()[0])
    notes = [textwrap.fill(line, width) for line in lines]
    return "\n".join([table, *notes])


def _modes(modes):
    return "x".join(str(m) for m in modes)


def _num(value):
    return "-" if value is None else f"{value:,}"

"""Weights, compression and multiply-adds of every layer, as table rows.

The figures are `ttrnn.summary.layer_costs` (the one inspector), per
layer with weights: for a TT layer (TTDense, TT-RNN input map) the dense
equivalent is the (M, N) kernel it stands for, and the multiply-adds are
those of one vector (one time step of a recurrent layer, its
hidden-to-hidden matmul included) by the cheapest core-by-core order.
"""

from ttrnn.summary import layer_costs


def layer_rows(model):
    """One row per weighted layer of a built model.

    Args:
        model: a built Keras model.

    Returns:
        A list of dicts: `layer`, `type`, `weights` (all weights of the
        layer), `input_to_hidden` (the kernel or TT cores alone),
        `dense_equivalent` (weights of the dense kernel it replaces),
        `compression` (input-map compression: dense equivalent /
        input-to-hidden; `LayerCost.input_map_compression`), `macs`
        (multiply-adds a sample or time step) and, for TT layers,
        `tt_input_shape`, `tt_output_shape` and `tt_ranks`.
    """
    rows = []
    for cost in layer_costs(model):
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


def _num(value):
    return "-" if value is None else f"{value:,}"

"""Weights, compression and multiply-adds of every layer of a model.

For a TT layer (TTDense, TT-RNN input map) the dense equivalent is the
(M, N) kernel it stands for; its multiply-adds are those of the cheapest
contraction order (`ttrnn.tt.flops(..., strategy="best")`) for one sample
(one time step for recurrent layers). Recurrent layers add their
hidden-to-hidden matmul (units x G * units).
"""

import math

from ttrnn import tt

_GATES = {"GRU": 3, "LSTM": 4, "SimpleRNN": 1}


def layer_rows(model):
    """One row per weighted layer of a built model.

    Args:
        model: a built Keras model.

    Returns:
        A list of dicts: `layer`, `type`, `weights` (all trainable
        weights of the layer), `input_to_hidden` (the kernel or TT cores
        alone), `dense_equivalent` (weights of the dense kernel it
        replaces), `compression` (dense equivalent / input-to-hidden) and
        `macs` (multiply-adds a sample or time step).
    """
    rows = []
    for layer in model.layers:
        weights = sum(math.prod(v.shape) for v in layer.trainable_weights)
        if not weights:
            continue
        row = {
            "layer": layer.name,
            "type": type(layer).__name__,
            "weights": int(weights),
        }
        row.update(_kernel_stats(layer))
        kernel = row.get("input_to_hidden")
        dense = row.get("dense_equivalent")
        row["compression"] = dense / kernel if kernel and dense else None
        rows.append(row)
    return rows


def _kernel_stats(layer):
    cores = getattr(layer, "cores", None)
    if cores:
        d = len(layer.tt_input_shape)
        chains = [cores[i : i + d] for i in range(0, len(cores), d)]
        kernel = sum(math.prod(c.shape) for c in cores)
        macs, columns = 0, 0
        for chain in chains:
            shapes = [tuple(c.shape) for c in chain]
            ins = [s[1] for s in shapes]
            outs = [s[2] for s in shapes]
            ranks = [s[0] for s in shapes] + [shapes[-1][3]]
            macs += tt.flops(ins, outs, ranks, strategy="best")
            columns += math.prod(outs)
        dense = layer.input_dim * columns
        macs += _recurrent_macs(layer)
        return {
            "input_to_hidden": int(kernel),
            "dense_equivalent": int(dense),
            "macs": int(macs),
            "tt_input_shape": list(layer.tt_input_shape),
            "tt_output_shape": list(layer.tt_output_shape),
            "tt_ranks": list(layer.tt_ranks),
        }
    owner = getattr(layer, "cell", layer)
    kernel = getattr(owner, "kernel", None)
    if kernel is None:
        return {}
    size = math.prod(kernel.shape)
    return {
        "input_to_hidden": int(size),
        "dense_equivalent": int(size),
        "macs": int(size + _recurrent_macs(layer)),
    }


def _recurrent_macs(layer):
    owner = getattr(layer, "cell", layer)
    recurrent = getattr(owner, "recurrent_kernel", None)
    return math.prod(recurrent.shape) if recurrent is not None else 0


def format_rows(rows):
    """The rows of `layer_rows` as an aligned text table."""
    header = (
        f"{'layer':<12}{'type':<14}{'weights':>12}{'input->hidden':>15}"
        f"{'dense equiv.':>14}{'compression':>13}{'MACs/step':>13}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        compression = row.get("compression")
        lines.append(
            f"{row['layer']:<12.12}{row['type']:<14.14}{row['weights']:>12,}"
            f"{_num(row.get('input_to_hidden')):>15}"
            f"{_num(row.get('dense_equivalent')):>14}"
            f"{(f'{compression:,.1f}x' if compression else '-'):>13}"
            f"{_num(row.get('macs')):>13}"
        )
    return "\n".join(lines)


def _num(value):
    return "-" if value is None else f"{value:,}"

"""Rank adaptation of a whole model's TT layers, in place.

`adapt_ranks` is one truncation step: it finds every TT layer of a model
(nested ones and TT-RNN cells too: any layer with `cores`), allocates
ranks across all of them by one global criterion (`ttrnn.tt.adaptive`),
rounds each TT-matrix to its ranks and writes the result back into the
same variables, zero-padded, carrying the optimiser's moments along.
`ttrnn.callbacks.RankAdaptation` calls it on a schedule during `fit`;
custom loops call it themselves. `export_adapted` rebuilds a model's TT
layers at their final (effective) ranks.

Why zero-padding: Keras 3 fixes a layer's variables at `build`, and an
assigned value must keep its shape, so a model cannot shrink its own
variables during `fit`. A rank index whose core column and next-core row
are both zero gets exactly zero gradient (every term of it has a factor
from that zero row or column), so with zero optimiser moments it stays
zero under SGD, momentum, Adam and AdamW: the padded model trains as the
small one. Saving, loading and resuming need nothing special.
"""

import keras
import numpy as np
from keras import ops

from ttrnn.layers._tt_rebuild import build_with_cores
from ttrnn.layers._tt_rebuild import rounded_groups
from ttrnn.layers._tt_rebuild import with_ranks
from ttrnn.tt import adaptive

MOMENTS = ("project", "project_first", "reset", "keep")
# Optimiser slots by name: running means of gradients, of squares.
_FIRST = ("momentum",)
_SECOND = ("velocity", "velocity_hat", "accumulator")


def tt_layers(model):
    """The built TT layers of a model: layers with `cores`, outermost
    first, each set of cores once (a TT-RNN layer, not also its cell)."""
    found, seen, seen_cores = [], set(), set()

    def visit(obj):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        cores = getattr(obj, "cores", None) if obj.built else None
        if isinstance(cores, (list, tuple)) and cores:
            key = id(cores[0])
            if key not in seen_cores and all(len(c.shape) == 4 for c in cores):
                seen_cores.add(key)
                found.append(obj)
        children = list(getattr(obj, "layers", None) or [])
        for value in vars(obj).values():
            values = value if isinstance(value, (list, tuple)) else [value]
            children += [v for v in values if isinstance(v, keras.Layer)]
        for child in children:
            visit(child)

    visit(model)
    return found


def layer_ranks(layer):
    """A TT layer's effective ranks, in the shape of its `tt_ranks`."""
    groups = len(layer.cores) // max(1, len(layer.tt_ranks) - 1)
    return adaptive.effective_ranks(
        [ops.convert_to_numpy(c) for c in layer.cores], groups
    )


def rank_masks(model):
    """[(core variable, 0/1 mask)] for the cores with dead rank slices:
    var * mask zeroes them (the mask has shape (R_k, 1, 1, R_{k+1}))."""
    masks = []
    for layer in tt_layers(model):
        shapes = [tuple(c.shape) for c in layer.cores]
        for start, stop in adaptive.chains(shapes):
            chain = layer.cores[start:stop]
            ranks = adaptive.effective_ranks(
                [ops.convert_to_numpy(c) for c in chain]
            )
            for k, var in enumerate(chain):
                r, r_next = ranks[k], ranks[k + 1]
                if (r, r_next) == (var.shape[0], var.shape[3]):
                    continue
                mask = np.zeros((var.shape[0], 1, 1, var.shape[3]))
                mask[:r, :, :, :r_next] = 1
                masks.append((var, ops.convert_to_tensor(mask, var.dtype)))
    return masks


def tt_params(model, effective=True):
    """Weights in the TT cores of a model: at the effective ranks, or at
    the variables' shapes."""
    total = 0
    for layer in tt_layers(model):
        shapes = [tuple(c.shape) for c in layer.cores]
        for start, stop in adaptive.chains(shapes):
            sizes = [s[1] * s[2] for s in shapes[start:stop]]
            if effective:
                ranks = adaptive.effective_ranks(
                    [ops.convert_to_numpy(c) for c in layer.cores[start:stop]]
                )
            else:
                ranks = [s[0] for s in shapes[start:stop]] + [1]
            total += adaptive.params(ranks, sizes)
    return total


def resolve_target(model, target_params, target_compression, eps):
    """The weights budget of a model's TT cores (None for `eps`).

    Raises:
        ValueError: not exactly one target given, or a bad one.
    """
    given = [
        a for a in (target_params, target_compression, eps) if a is not None
    ]
    if len(given) != 1:
        raise ValueError(
            "Give exactly one of `target_params`, `target_compression` and "
            f"`eps`. Received: target_params={target_params}, "
            f"target_compression={target_compression}, eps={eps}"
        )
    if target_compression is not None:
        if not target_compression > 0:
            raise ValueError(
                "Argument `target_compression` must be > 0. Received: "
                f"target_compression={target_compression}"
            )
        dense = 0
        for layer in tt_layers(model):
            shapes = [tuple(c.shape) for c in layer.cores]
            for start, stop in adaptive.chains(shapes):
                dense += int(np.prod([s[1] for s in shapes[start:stop]])) * int(
                    np.prod([s[2] for s in shapes[start:stop]])
                )
        return int(dense // target_compression)
    if target_params is not None and (
        isinstance(target_params, bool) or int(target_params) != target_params
    ):
        raise ValueError(
            "Argument `target_params` must be an int. Received: "
            f"target_params={target_params!r}"
        )
    if eps is not None and not eps >= 0:
        raise ValueError(f"Argument `eps` must be >= 0. Received: eps={eps}")
    if target_params is None:
        return None
    floor = 0
    for layer in tt_layers(model):
        shapes = [tuple(c.shape) for c in layer.cores]
        floor += sum(s[1] * s[2] for s in shapes)  # every rank 1
    if target_params < floor:
        raise ValueError(
            "Argument `target_params` must be at least the weights of the "
            f"TT layers at rank 1 ({floor}). Received: "
            f"target_params={target_params}"
        )
    return int(target_params)


def adapt_ranks(
    model,
    target_params=None,
    target_compression=None,
    eps=None,
    optimizer=None,
    moments="reset",
    balance=True,
):
    """Truncates the ranks of all TT layers of a model, in place.

    One step of rank-adaptive training, for custom loops (in `fit`, use
    `ttrnn.callbacks.RankAdaptation`). Every TT-matrix of every TT layer
    is TT-rounded; the ranks of all cuts of all layers are chosen
    together, dropping the singular values that cost the least relative
    error per weight saved (see `ttrnn.tt.adaptive.allocate`). The
    rounded cores are written into the same variables, zero-padded: the
    model keeps its shapes and computes with the rounded kernels.

    With a JAX stateless loop, write the state into the variables first
    (`v.assign(value)` for `model.trainable_variables` and
    `optimizer.variables`), call this, and read them back.

    Args:
        model: a built Keras model (or layer) holding TT layers.
        target_params: the total weights of all TT cores afterwards (met
            exactly: at most this, and no single rank more fits).
        target_compression: or the dense weights of all TT kernels over
            this.
        eps: or a tolerance: every TT-matrix keeps its TT-SVD error bound
            at most eps ||W||_F (the gates of a separate-layout TT-RNN,
            which keep equal ranks, their summed relative errors).
        optimizer: the optimiser whose moments to carry (default
            `model.optimizer` if built), or None.
        moments: "reset" (default: first and second moments zeroed;
            the best of the four on benchmarks/bench_ranks_adapt.py),
            "project" (first moments mapped as gradients, second moments
            by squared coefficients), "project_first" (second moments
            zeroed) or "keep" (unchanged, zeroed beyond the new ranks).
        balance: scale the rounded cores of each TT-matrix to equal
            norms (the same W).

    Returns:
        dict: "params" (TT weights after), "target_params" (None for
        `eps`), "ranks" (layer name -> effective ranks).

    Raises:
        ValueError: no built TT layer, a bad target, or a bad `moments`.

    Example:
    >>> import keras, ttrnn
    >>> model = keras.Sequential([keras.Input((64,)),
    ...     ttrnn.TTDense((4, 4, 4), (4, 4, 4), tt_ranks=6)])
    >>> ttrnn.adapt_ranks(model, target_params=300)["params"] <= 300
    True
    """
    if moments not in MOMENTS:
        raise ValueError(
            f"Argument `moments` must be one of {MOMENTS}. Received: "
            f"moments={moments!r}"
        )
    layers = tt_layers(model)
    if not layers:
        raise ValueError(
            "Argument `model` must hold at least one built TT layer (a "
            f"layer with `cores`). Received: model={model.name!r}"
        )
    budget = resolve_target(model, target_params, target_compression, eps)
    variables, groups = [], []  # TT-matrices' core variables; sizes
    for layer in layers:
        shapes = [tuple(c.shape) for c in layer.cores]
        bounds = adaptive.chains(shapes)
        # The gates of a separate-layout TT-RNN share the layer's
        # `tt_ranks`: equal TT-matrices of one layer keep equal ranks.
        same = len({tuple(shapes[a:b]) for a, b in bounds}) == 1
        for n, (a, b) in enumerate(bounds):
            variables.append(list(layer.cores[a:b]))
            if n == 0 or not same:
                groups.append(0)
            groups[-1] += 1
    values = [[ops.convert_to_numpy(v) for v in vs] for vs in variables]
    spectra = [adaptive.spectra(chain) for chain in values]
    starts = np.cumsum([0] + groups[:-1])
    tied = [adaptive.tie(spectra[a : a + g]) for a, g in zip(starts, groups)]
    ranks = adaptive.allocate(
        [s[0] for s in tied],
        [s[1] for s in tied],
        [[c.shape[1] * c.shape[2] for c in values[a]] for a in starts],
        target_params=budget,
        eps=eps,
        counts=groups,
    )
    ranks = [rank for rank, g in zip(ranks, groups) for _ in range(g)]
    optimizer = optimizer or getattr(model, "optimizer", None)
    slots = _slots(optimizer, [v for vs in variables for v in vs])
    for chain_vars, chain, rank in zip(variables, values, ranks):
        new, maps = adaptive.truncate(chain, rank, balance)
        for k, (var, core) in enumerate(zip(chain_vars, new)):
            var.assign(core.astype(var.dtype))
            for slot, kind in slots.get(id(var), []):
                slot.assign(
                    _carried(slot, kind, moments, maps[k], maps[k + 1], rank, k)
                )
    return {
        "params": tt_params(model),
        "target_params": budget,
        "ranks": {layer.name: list(layer_ranks(layer)) for layer in layers},
    }


def _slots(optimizer, core_vars):
    """Core variable id -> [(optimiser variable, "first"/"second"/"")].

    Keras names a slot after its variable's path ("a/b/core_0" ->
    "a_b_core_0_momentum")."""
    if optimizer is None or not getattr(optimizer, "built", False):
        return {}
    prefixes = {var.path.replace("/", "_") + "_": var for var in core_vars}
    out = {}
    for slot in optimizer.variables:
        name = str(slot.name)
        for prefix, var in prefixes.items():
            rest = name[len(prefix) :]
            if not (
                name.startswith(prefix)
                and rest[:1].isalpha()
                and tuple(slot.shape) == tuple(var.shape)
            ):
                continue
            kind = "first" if rest in _FIRST else ""
            kind = "second" if rest in _SECOND else kind
            out.setdefault(id(var), []).append((slot, kind))
    return out


def _carried(slot, kind, moments, left, right, rank, k):
    """The new value of one optimiser slot of core k."""
    value = ops.convert_to_numpy(slot).astype(np.float64)
    if moments == "keep" or (kind == "" and moments != "reset"):
        out = np.zeros_like(value)
        r, r_next = rank[k], rank[k + 1]
        out[:r, :, :, :r_next] = value[:r, :, :, :r_next]
    elif (
        moments == "reset"
        or not kind
        or (kind == "second" and moments == "project_first")
    ):
        out = np.zeros_like(value)
    else:
        out = adaptive.carry_moments(value, left, right, kind == "second")
    return out.astype(slot.dtype)


def export_adapted(model):
    """A copy of a model with its TT layers rebuilt at their effective
    ranks (zero rank slices removed): same outputs, fewer weights.

    TT layers and TT-RNN layers are rounded to their live ranks
    (`layer.round`); a bare TT-RNN cell inside `keras.layers.RNN` (or a
    subclass) is rebuilt at its live ranks in a new RNN layer of the
    same configuration.

    Args:
        model: a built Sequential or functional model.

    Returns:
        A new model (no optimiser: compile it to train on).

    Raises:
        ValueError: from `keras.models.clone_model`, for a subclassed
            model (it clones only Sequential and functional ones).
    """
    adapted = {id(layer) for layer in tt_layers(model)}

    def clone(layer):
        if id(layer) in adapted and hasattr(layer, "round"):
            return layer.round(
                max_rank=list(layer_ranks(layer)), name=layer.name
            )
        if id(getattr(layer, "cell", None)) in adapted:
            return _rnn_at_live_ranks(layer)
        new = layer.__class__.from_config(layer.get_config())
        if layer.built and layer.weights:
            new.build_from_config(layer.get_build_config())
            new.set_weights(layer.get_weights())
        return new

    return keras.models.clone_model(model, clone_function=clone)


def _rnn_at_live_ranks(layer):
    """A copy of an RNN layer whose cell is a bare TT-RNN cell, the cell
    rebuilt at its live ranks (as `TTRNNBase.round` does for TT-RNN
    layers): its cores rounded, its other weights copied."""
    cell = layer.cell
    groups, ranks = rounded_groups(cell.core_groups, list(layer_ranks(cell)))
    new_cell = with_ranks(cell, cell.tt_resolved_spec, ranks, cell.name)
    config = layer.get_config()
    config.pop("cell")
    new = layer.__class__(new_cell, **config)
    shape = layer.get_build_config()["input_shape"]
    build_with_cores(new, new_cell, shape, groups)
    cores = {id(c) for c in cell.cores}
    others = [w for w in cell.weights if id(w) not in cores]
    new_cores = {id(c) for c in new_cell.cores}
    for old, var in zip(
        others, [w for w in new_cell.weights if id(w) not in new_cores]
    ):
        var.assign(ops.convert_to_numpy(old))
    return new

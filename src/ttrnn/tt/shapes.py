"""Shapes, ranks and counts of TT-matrices: validation and bookkeeping.

A TT-matrix of shape (M, N) with input modes m_0..m_{d-1} (M = prod m_k),
output modes n_0..n_{d-1} (N = prod n_k) and ranks r_0..r_d (r_0 = r_d = 1)
is stored as d cores G_k of shape (r_k, m_k, n_k, r_{k+1}).

Everything here is plain Python on ints: no tensors, usable anywhere
(layers, CLI, planners).
"""

import math
import warnings


def _as_int_tuple(value, name):
    """Normalise a sequence of ints to a tuple of Python ints."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(
            f"`{name}` must be a list or tuple of positive ints. "
            f"Received: {name}={value!r}"
        )
    out = []
    for v in value:
        if isinstance(v, bool) or int(v) != v:
            raise ValueError(
                f"`{name}` must contain only integers. "
                f"Received: {name}={tuple(value)!r}"
            )
        out.append(int(v))
    return tuple(out)


def validate_modes(tt_input_shape, tt_output_shape):
    """Checks and normalises the input and output modes.

    Args:
        tt_input_shape: sequence of d positive ints, the input modes m_k.
        tt_output_shape: sequence of d positive ints, the output modes n_k.

    Returns:
        `(tt_input_shape, tt_output_shape)` as tuples of ints.

    Raises:
        ValueError: naming the argument when a mode is below 1, the
            lengths differ or a shape is empty.
    """
    in_shape = _as_int_tuple(tt_input_shape, "tt_input_shape")
    out_shape = _as_int_tuple(tt_output_shape, "tt_output_shape")
    for name, shape in (
        ("tt_input_shape", in_shape),
        ("tt_output_shape", out_shape),
    ):
        if len(shape) == 0:
            raise ValueError(
                f"`{name}` must have at least one mode. Received: {name}=()"
            )
        if any(m < 1 for m in shape):
            raise ValueError(
                f"Every mode in `{name}` must be >= 1. Received: {name}={shape}"
            )
    if len(in_shape) != len(out_shape):
        raise ValueError(
            "`tt_input_shape` and `tt_output_shape` must have the same "
            "number of modes d. Received: "
            f"tt_input_shape={in_shape} (d={len(in_shape)}) and "
            f"tt_output_shape={out_shape} (d={len(out_shape)})"
        )
    return in_shape, out_shape


def max_ranks(tt_input_shape, tt_output_shape):
    """Largest useful rank at every cut, r_0..r_d.

    At cut k the rank cannot usefully exceed
    min(prod_{j<k} m_j n_j, prod_{j>=k} m_j n_j): a larger rank only adds
    parameters, never expressiveness.

    Returns:
        Tuple of d + 1 ints, starting and ending with 1.
    """
    in_shape, out_shape = validate_modes(tt_input_shape, tt_output_shape)
    sizes = [m * n for m, n in zip(in_shape, out_shape)]
    d = len(sizes)
    return tuple(
        min(math.prod(sizes[:k]), math.prod(sizes[k:])) for k in range(d + 1)
    )


def validate_ranks(tt_ranks, tt_input_shape, tt_output_shape, clip=True):
    """Checks and normalises TT ranks.

    Args:
        tt_ranks: one int (every inner rank) or a sequence of d + 1 ints
            with first and last equal to 1.
        tt_input_shape: the input modes (d ints).
        tt_output_shape: the output modes (d ints).
        clip: when True, ranks above the largest useful rank of their cut
            (see `max_ranks`) are lowered to it with a warning that names
            the cut and the bound. When False they are kept.

    Returns:
        Tuple of d + 1 ints.

    Raises:
        ValueError: naming `tt_ranks` for a wrong length, a rank below 1
            or end ranks other than 1.
    """
    in_shape, out_shape = validate_modes(tt_input_shape, tt_output_shape)
    d = len(in_shape)
    if isinstance(tt_ranks, bool):
        raise ValueError(
            f"`tt_ranks` must be an int or a list of ints. "
            f"Received: tt_ranks={tt_ranks!r}"
        )
    if isinstance(tt_ranks, int) or (
        hasattr(tt_ranks, "__int__") and not hasattr(tt_ranks, "__iter__")
    ):
        r = int(tt_ranks)
        if r < 1:
            raise ValueError(
                f"`tt_ranks` must be >= 1. Received: tt_ranks={tt_ranks}"
            )
        ranks = (1,) + (r,) * (d - 1) + (1,)
    else:
        ranks = _as_int_tuple(tt_ranks, "tt_ranks")
        if len(ranks) != d + 1:
            raise ValueError(
                f"`tt_ranks` must have d + 1 = {d + 1} entries for "
                f"d = {d} modes (or be a single int). "
                f"Received: tt_ranks={ranks} ({len(ranks)} entries)"
            )
        if any(r < 1 for r in ranks):
            raise ValueError(
                f"Every entry of `tt_ranks` must be >= 1. "
                f"Received: tt_ranks={ranks}"
            )
        if ranks[0] != 1 or ranks[-1] != 1:
            raise ValueError(
                "The first and last entries of `tt_ranks` must be 1. "
                f"Received: tt_ranks={ranks}"
            )
    if clip:
        bounds = max_ranks(in_shape, out_shape)
        clipped = list(ranks)
        for k, (r, b) in enumerate(zip(ranks, bounds)):
            if r > b:
                warnings.warn(
                    f"tt_ranks[{k}]={r} exceeds the largest useful rank "
                    f"{b} at cut {k} for tt_input_shape={in_shape} and "
                    f"tt_output_shape={out_shape}; using {b}.",
                    stacklevel=3,
                )
                clipped[k] = b
        ranks = tuple(clipped)
    return ranks


def core_shapes(tt_input_shape, tt_output_shape, tt_ranks):
    """Shapes (r_k, m_k, n_k, r_{k+1}) of the d cores."""
    return [
        (tt_ranks[k], m, n, tt_ranks[k + 1])
        for k, (m, n) in enumerate(zip(tt_input_shape, tt_output_shape))
    ]


def num_params(tt_input_shape, tt_output_shape, tt_ranks):
    """Number of weights of the cores: sum_k r_k m_k n_k r_{k+1}."""
    in_shape, out_shape = validate_modes(tt_input_shape, tt_output_shape)
    ranks = validate_ranks(tt_ranks, in_shape, out_shape, clip=False)
    return sum(math.prod(s) for s in core_shapes(in_shape, out_shape, ranks))


def _step_costs(tt_input_shape, tt_output_shape, tt_ranks, order):
    """Per-sample multiply-adds of each core-by-core contraction step."""
    m, n, r = tt_input_shape, tt_output_shape, tt_ranks
    d = len(m)
    costs = []
    if order == "ltr":
        # Step k contracts (r_k, m_k) of a (N_{<k} M_{>k}) x (r_k m_k)
        # block with the core as an (r_k m_k) x (n_k r_{k+1}) matrix.
        for k in range(d):
            rows = math.prod(n[:k]) * math.prod(m[k + 1 :])
            costs.append(rows * r[k] * m[k] * n[k] * r[k + 1])
    elif order == "rtl":
        for k in range(d):
            rows = math.prod(m[:k]) * math.prod(n[k + 1 :])
            costs.append(rows * r[k + 1] * m[k] * n[k] * r[k])
    else:
        raise ValueError(
            f"`order` must be 'ltr' or 'rtl'. Received: order={order!r}"
        )
    return costs


def to_dense_flops(tt_input_shape, tt_output_shape, tt_ranks):
    """Multiply-adds to rebuild the full (M, N) matrix from the cores."""
    m, n, r = tt_input_shape, tt_output_shape, tt_ranks
    total = 0
    for k in range(1, len(m)):
        prefix = math.prod(m[:k]) * math.prod(n[:k])
        total += prefix * r[k] * m[k] * n[k] * r[k + 1]
    return total


def flops(
    tt_input_shape, tt_output_shape, tt_ranks, batch_size=1, strategy="ltr"
):
    """Multiply-adds of y = x @ W for a batch, for one strategy.

    Args:
        tt_input_shape, tt_output_shape, tt_ranks: the TT-matrix.
        batch_size: number of rows of x.
        strategy: "ltr" (core by core from the first core), "rtl" (from
            the last core), "dense" (rebuild W, then one GEMM) or "best"
            (the cheapest of the three).

    Returns:
        int, multiply-adds (one FLOP pair each).

    Complexity example: MNIST 1024 -> 1024 as [4, 8, 8, 4] rank 3 costs
    172,032 per sample with "ltr", against 1,048,576 dense.
    """
    in_shape, out_shape = validate_modes(tt_input_shape, tt_output_shape)
    ranks = validate_ranks(tt_ranks, in_shape, out_shape, clip=False)
    if strategy == "best":
        return min(
            flops(in_shape, out_shape, ranks, batch_size, s)
            for s in ("ltr", "rtl", "dense")
        )
    if strategy == "dense":
        return to_dense_flops(in_shape, out_shape, ranks) + batch_size * (
            math.prod(in_shape) * math.prod(out_shape)
        )
    return batch_size * sum(_step_costs(in_shape, out_shape, ranks, strategy))

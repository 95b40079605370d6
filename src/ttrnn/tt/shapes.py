"""Shapes, ranks and counts of TT-matrices: validation and bookkeeping,
and the checks of the TT layers' scalar arguments (`check_int`,
`check_finite`, `check_rate`).

A TT-matrix of shape (M, N) with input modes m_0..m_{d-1} (M = prod m_k),
output modes n_0..n_{d-1} (N = prod n_k) and ranks r_0..r_d (r_0 = r_d = 1)
is stored as d cores G_k of shape (r_k, m_k, n_k, r_{k+1}).

Everything here is plain Python on ints: no tensors, usable anywhere
(layers, CLI, planners).
"""

import math
import numbers
import warnings


def _is_integral(value):
    """Whether `value` is an integral number (2, 2.0, numpy ints), not a
    bool, string or None."""
    try:
        return not isinstance(value, bool) and int(value) == value
    except (TypeError, ValueError, OverflowError):
        return False  # "8", None, nan, inf


def check_int(value, name, low=1):
    """`value` as an int >= `low`; a ValueError naming `name` if it is not
    one (2.5, True, "8", None)."""
    if not _is_integral(value) or value < low:
        raise ValueError(
            f"`{name}` must be an int >= {low}. Received: {name}={value!r}"
        )
    return int(value)


def check_finite(value, name):
    """`value` as a finite float; a ValueError naming `name` if it is not
    a finite number (True, "1", None, nan, inf)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"`{name}` must be a number. Received: {name}={value!r}"
        )
    if not math.isfinite(float(value)):
        raise ValueError(f"`{name}` must be finite. Received: {name}={value!r}")
    return float(value)


def check_rate(value, name):
    """`value` as a float in [0, 1) (a dropout rate); a ValueError naming
    `name` if it is not one."""
    number = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if not number or not 0.0 <= float(value) < 1.0:
        raise ValueError(
            f"`{name}` must be a float in [0, 1). Received: {name}={value!r}"
        )
    return float(value)


def as_int_tuple(value, name):
    """Normalise a sequence of ints to a tuple of Python ints."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(
            f"`{name}` must be a list or tuple of positive ints. "
            f"Received: {name}={value!r}"
        )
    out = []
    for v in value:
        if not _is_integral(v):
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
    in_shape = as_int_tuple(tt_input_shape, "tt_input_shape")
    out_shape = as_int_tuple(tt_output_shape, "tt_output_shape")
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


def useful_ranks(tt_ranks, tt_input_shape, tt_output_shape):
    """The ranks lowered to the largest useful rank at every cut.

    Cut k of a TT-matrix with sizes s_j = m_j n_j never usefully holds a
    rank above min(prod_{j<k} s_j, prod_{j>=k} s_j) (`max_ranks`), nor,
    given its neighbours, above r_{k-1} s_{k-1} or s_k r_{k+1}: a larger
    rank adds weights, never expressiveness (an exact TT-matrix with the
    lower ranks exists). One sweep from each end applies all three bounds.

    Args:
        tt_ranks: d + 1 ints, first and last 1.
        tt_input_shape, tt_output_shape: the modes (d ints each).

    Returns:
        Tuple of d + 1 ints, each at most the corresponding entry of
        `tt_ranks`.
    """
    sizes = [m * n for m, n in zip(tt_input_shape, tt_output_shape)]
    bounds = max_ranks(tt_input_shape, tt_output_shape)
    ranks = [min(r, b) for r, b in zip(tt_ranks, bounds)]
    for k in range(1, len(ranks)):  # left to right
        ranks[k] = min(ranks[k], ranks[k - 1] * sizes[k - 1])
    for k in range(len(ranks) - 2, -1, -1):  # right to left
        ranks[k] = min(ranks[k], sizes[k] * ranks[k + 1])
    return tuple(ranks)


def validate_ranks(
    tt_ranks, tt_input_shape, tt_output_shape, clip=True, described=None
):
    """Checks and normalises TT ranks.

    Args:
        tt_ranks: one int (every inner rank) or a sequence of d + 1 ints
            with first and last equal to 1. Integral floats such as 3.0
            are accepted; 2.5, bools and strings are not.
        tt_input_shape: the input modes (d ints).
        tt_output_shape: the output modes (d ints).
        clip: when True (what the layers use), ranks above the largest
            useful rank of their cut (see `useful_ranks`) are lowered to
            it, with a warning that names the cuts, their bounds and the
            ranks used; a warning also says when the ranks give more
            weights than the dense matrix. When False they are kept,
            silently.
        described: how that warning names the modes (a layer's own
            words for a matrix it pads, e.g. a convolution's); default
            "tt_input_shape=... and tt_output_shape=...".

    Returns:
        Tuple of d + 1 ints.

    Raises:
        ValueError: naming `tt_ranks` for a non-integer, a wrong length,
            a rank below 1 or end ranks other than 1.
    """
    in_shape, out_shape = validate_modes(tt_input_shape, tt_output_shape)
    d = len(in_shape)
    if is_scalar_rank(tt_ranks):
        r = check_rank(tt_ranks)
        ranks = (1,) + (r,) * (d - 1) + (1,)
    else:
        ranks = as_int_tuple(tt_ranks, "tt_ranks")
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
        ranks = _clip_with_warning(
            tt_ranks, ranks, in_shape, out_shape, described
        )
    return ranks


def is_scalar_rank(tt_ranks):
    """Whether `tt_ranks` is one value (a string counts as one)."""
    return isinstance(tt_ranks, (str, bytes)) or not hasattr(
        tt_ranks, "__iter__"
    )


def check_rank(tt_ranks):
    """One rank: an int >= 1 (or an integral float); returns a Python int.

    Raises:
        ValueError: naming `tt_ranks` for bools, strings, non-integral
            numbers and values below 1, as Keras does for `units`.
    """
    if not _is_integral(tt_ranks):
        raise ValueError(
            "`tt_ranks` must be an int (or a list of ints), expected a "
            f"positive integer. Received: tt_ranks={tt_ranks!r}"
        )
    if tt_ranks < 1:
        raise ValueError(
            f"`tt_ranks` must be >= 1. Received: tt_ranks={tt_ranks!r}"
        )
    return int(tt_ranks)


def _clip_with_warning(given, ranks, in_shape, out_shape, described=None):
    """`useful_ranks`, warning about lowered ranks and weights > dense."""
    if described is None:
        described = f"tt_input_shape={in_shape} and tt_output_shape={out_shape}"
    clipped = useful_ranks(ranks, in_shape, out_shape)
    params = sum(
        math.prod(s) for s in core_shapes(in_shape, out_shape, clipped)
    )
    dense = math.prod(in_shape) * math.prod(out_shape)
    received = given if is_scalar_rank(given) else ranks
    messages = []
    if clipped != ranks:
        cuts = [k for k, (r, c) in enumerate(zip(ranks, clipped)) if r != c]
        messages.append(
            f"tt_ranks={received} exceeds the largest useful rank "
            + " and ".join(f"{clipped[k]} at cut {k}" for k in cuts)
            + f" for {described} (a larger rank adds weights, never "
            f"expressiveness); using tt_ranks={clipped}: {params:,} core "
            "weights."
        )
    if params > dense:
        messages.append(
            ("That is" if messages else f"tt_ranks={clipped} give")
            + f" {params / dense:.1f}x the {dense:,} weights of the dense "
            f"({math.prod(in_shape)}, {math.prod(out_shape)}) matrix: "
            "this TT-matrix compresses nothing. Lower `tt_ranks`, or use "
            'tt_ranks="auto" with `tt_compression`.'
        )
    if messages:
        warnings.warn(" ".join(messages), stacklevel=4)
    return clipped


def core_shapes(tt_input_shape, tt_output_shape, tt_ranks):
    """Shapes (r_k, m_k, n_k, r_{k+1}) of the d cores."""
    return [
        (tt_ranks[k], m, n, tt_ranks[k + 1])
        for k, (m, n) in enumerate(zip(tt_input_shape, tt_output_shape))
    ]


def _is_core_list(value):
    """Whether `value` is a list of arrays or tensors (not of ints)."""
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(hasattr(core, "shape") for core in value)
    )


def _core_list_params(cores):
    """Weights of a core list, after checking the cores chain."""
    shapes = [tuple(int(s) for s in core.shape) for core in cores]
    right = 1
    for k, shape in enumerate(shapes):
        if len(shape) != 4 or shape[0] != right:
            raise ValueError(
                "Argument `tt_input_shape`, given cores, must be a list of "
                "4-D cores (r_k, m_k, n_k, r_{k+1}) whose ranks chain from "
                f"1 to 1. Received: cores of shapes {shapes} (cores[{k}])"
            )
        right = shape[3]
    if right != 1:
        raise ValueError(
            "Argument `tt_input_shape`, given cores, must end in a core of "
            f"right rank 1. Received: cores of shapes {shapes}"
        )
    return sum(math.prod(shape) for shape in shapes)


def num_params(tt_input_shape, tt_output_shape=None, tt_ranks=None):
    """Number of weights of a TT-matrix: sum_k r_k m_k n_k r_{k+1}.

    Args:
        tt_input_shape: the input modes (m_k), or a list of cores (arrays
            or tensors of shape (r_k, m_k, n_k, r_{k+1})) to count.
        tt_output_shape: the output modes (n_k); not with cores.
        tt_ranks: one int or the d + 1 ranks; not with cores.

    Returns:
        int.

    Raises:
        ValueError: shapes without ranks, cores with shapes, or cores
            whose ranks do not chain.

    Example:
    >>> import numpy as np
    >>> num_params((4, 8, 8, 4), (4, 8, 8, 4), 3)
    1248
    >>> num_params([np.zeros((1, 4, 4, 3)), np.zeros((3, 8, 8, 1))])
    240
    """
    if _is_core_list(tt_input_shape):
        if tt_output_shape is not None or tt_ranks is not None:
            raise ValueError(
                "Give cores alone, or the modes and ranks. Received: "
                f"cores with tt_output_shape={tt_output_shape!r}, "
                f"tt_ranks={tt_ranks!r}"
            )
        return _core_list_params(tt_input_shape)
    for name, value in (
        ("tt_output_shape", tt_output_shape),
        ("tt_ranks", tt_ranks),
    ):
        if value is None:
            raise ValueError(
                f"Argument `{name}` is needed with modes (or pass a list of "
                f"cores alone). Received: {name}=None"
            )
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
            the last core) or "dense" (rebuild W, then one GEMM): the
            strategies of `ttrnn.tt.matmul` that fix one plan. For the
            fewest multiply-adds over every plan (merged cores too) see
            `ttrnn.tt.choose_plan(..., strategy="flops")`.

    Returns:
        int, multiply-adds (one FLOP pair each).

    Complexity example: MNIST 1024 -> 1024 as [4, 8, 8, 4] rank 3 costs
    172,032 per sample with "ltr", against 1,048,576 dense.
    """
    if strategy not in ("ltr", "rtl", "dense"):
        raise ValueError(
            "`strategy` must be 'ltr', 'rtl' or 'dense'. "
            f"Received: strategy={strategy!r}"
        )
    in_shape, out_shape = validate_modes(tt_input_shape, tt_output_shape)
    ranks = validate_ranks(tt_ranks, in_shape, out_shape, clip=False)
    if strategy == "dense":
        return to_dense_flops(in_shape, out_shape, ranks) + batch_size * (
            math.prod(in_shape) * math.prod(out_shape)
        )
    return batch_size * sum(_step_costs(in_shape, out_shape, ranks, strategy))

"""A TT-matrix as a list of cores: its modes and the full matrix.

Cores are tensors or variables of shape (r_k, m_k, n_k, r_{k+1}); the
TT-matrix W they represent has shape (prod m_k, prod n_k) with rows and
columns flattened in C order (i_0 and j_0 slowest). `keras.ops` only.
"""

import math

from keras import ops


def static_shape(core):
    """A core's shape as a tuple of ints."""
    return tuple(int(s) for s in core.shape)


def cores_modes(cores):
    """Returns (tt_input_shape, tt_output_shape, tt_ranks) of a core list.

    Raises:
        ValueError: if the cores are not 4-D or their ranks do not chain.
    """
    if len(cores) == 0:
        raise ValueError("`cores` must hold at least one core. Received: []")
    in_shape, out_shape, ranks = [], [], [1]
    for k, core in enumerate(cores):
        shape = static_shape(core)
        if len(shape) != 4:
            raise ValueError(
                f"Every core must be 4-D (r_k, m_k, n_k, r_k+1). "
                f"Received: cores[{k}] of shape {shape}"
            )
        if shape[0] != ranks[-1]:
            raise ValueError(
                f"cores[{k}] has left rank {shape[0]} but the previous "
                f"core's right rank (or r_0 = 1) is {ranks[-1]}. "
                f"Received shapes: {[static_shape(c) for c in cores]}"
            )
        in_shape.append(shape[1])
        out_shape.append(shape[2])
        ranks.append(shape[3])
    if ranks[-1] != 1:
        raise ValueError(
            f"The last core must have right rank 1. "
            f"Received: cores[-1] of shape {static_shape(cores[-1])}"
        )
    return tuple(in_shape), tuple(out_shape), tuple(ranks)


def to_dense(cores):
    """Rebuilds the full matrix W of shape (prod m_k, prod n_k).

    Complexity: sum_k (M_{<k} N_{<k}) r_k m_k n_k r_{k+1} multiply-adds.

    Args:
        cores: list of d tensors of shape (r_k, m_k, n_k, r_{k+1}).

    Returns:
        Tensor of shape (prod m_k, prod n_k).
    """
    in_shape, out_shape, ranks = cores_modes(cores)
    res = ops.reshape(cores[0], (in_shape[0], out_shape[0], ranks[1]))
    rows, cols = in_shape[0], out_shape[0]
    for k in range(1, len(cores)):
        r, m, n, r_next = ranks[k], in_shape[k], out_shape[k], ranks[k + 1]
        # (rows*cols, r) @ (r, m*n*r') -> (rows, cols, m, n*r')
        res = ops.matmul(
            ops.reshape(res, (rows * cols, r)),
            ops.reshape(cores[k], (r, m * n * r_next)),
        )
        res = ops.reshape(res, (rows, cols, m, n * r_next))
        # -> (rows, m, cols, n*r'): row index (i_<k, i_k), col (j_<k, j_k)
        res = ops.transpose(res, (0, 2, 1, 3))
        rows, cols = rows * m, cols * n
        res = ops.reshape(res, (rows, cols, r_next))
    return ops.reshape(res, (rows, cols))


def row_digits(indices, tt_input_shape):
    """Splits row indices of W into their mode digits (C order).

    Args:
        indices: integer tensor of any shape, entries in [0, prod m_k).
        tt_input_shape: the modes m_k.

    Returns:
        List of d integer tensors shaped like `indices`, digit k in
        [0, m_k); index = sum_k i_k * prod_{j>k} m_j.
    """
    digits = []
    rest = indices
    for m in reversed(tuple(tt_input_shape)):
        digits.append(ops.mod(rest, m))
        rest = ops.floor_divide(rest, m)
    return digits[::-1]


def gather_rows(cores, digits):
    """Rows W[i] of a TT-matrix for a batch of row indices, given as
    digits (`row_digits`), without forming W.

    Row i is the product of the core slices G_k[:, i_k, :, :]: each core
    is gathered at its digits, then the B small chains are contracted as
    batched matmuls, from whichever end costs fewer multiply-adds
    (`gather_macs`). The gradient reaches only the gathered slices.

    Args:
        cores: list of d tensors of shape (r_k, m_k, n_k, r_{k+1}).
        digits: list of d integer tensors of shape (B,), entries in
            [0, m_k) (others follow `keras.ops.take` on the backend).

    Returns:
        Tensor of shape (B, prod n_k).
    """
    _, out_shape, ranks = cores_modes(cores)
    if gather_macs(out_shape, ranks, "ltr") <= gather_macs(
        out_shape, ranks, "rtl"
    ):
        return _gather_ltr(cores, digits, out_shape, ranks)
    return _gather_rtl(cores, digits, out_shape, ranks)


def gather_macs(tt_output_shape, tt_ranks, direction):
    """Multiply-adds of one row by `gather_rows` in a direction."""
    n, r, d = tt_output_shape, tt_ranks, len(tt_output_shape)
    if direction == "ltr":
        steps = range(1, d)
        return sum(math.prod(n[:k]) * r[k] * n[k] * r[k + 1] for k in steps)
    steps = range(d - 1)
    return sum(r[k] * n[k] * r[k + 1] * math.prod(n[k + 1 :]) for k in steps)


def _gather_ltr(cores, digits, out_shape, ranks):
    res, cols = None, 1
    for k, (core, digit) in enumerate(zip(cores, digits)):
        r, n, r_next = ranks[k], out_shape[k], ranks[k + 1]
        # (m, r, n*r'): one gather of contiguous slices per index.
        table = ops.reshape(
            ops.transpose(core, (1, 0, 2, 3)), (-1, r, n * r_next)
        )
        sliced = ops.take(table, digit, axis=0)  # (B, r, n*r')
        if res is None:
            res = ops.reshape(sliced, (-1, n, r_next))
        else:
            res = ops.matmul(res, sliced)  # (B, cols, r) @ (B, r, n*r')
            res = ops.reshape(res, (-1, cols * n, r_next))
        cols *= n
    return ops.reshape(res, (-1, cols))


def _gather_rtl(cores, digits, out_shape, ranks):
    res, cols = None, 1
    for k in range(len(cores) - 1, -1, -1):
        r, n, r_next = ranks[k], out_shape[k], ranks[k + 1]
        # (m, r*n, r'): one gather of contiguous slices per index.
        table = ops.reshape(
            ops.transpose(cores[k], (1, 0, 2, 3)), (-1, r * n, r_next)
        )
        sliced = ops.take(table, digits[k], axis=0)  # (B, r*n, r')
        if res is None:
            res = ops.reshape(sliced, (-1, r, n))
        else:
            res = ops.matmul(sliced, res)  # (B, r*n, r') @ (B, r', cols)
            res = ops.reshape(res, (-1, r, n * cols))
        cols *= n
    return ops.reshape(res, (-1, cols))

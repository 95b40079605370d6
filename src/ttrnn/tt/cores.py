"""A TT-matrix as a list of cores: its modes and the full matrix.

Cores are tensors or variables of shape (r_k, m_k, n_k, r_{k+1}); the
TT-matrix W they represent has shape (prod m_k, prod n_k) with rows and
columns flattened in C order (i_0 and j_0 slowest). `keras.ops` only.
"""

import math

from keras import ops


def static_shape(core):
    """A core's shape as a tuple of ints (`core` may be its shape)."""
    shape = core if isinstance(core, tuple) else core.shape
    return tuple(int(s) for s in shape)


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
    in_shape, out_shape, _ = cores_modes(cores)
    return ops.reshape(
        leading_product(cores), (math.prod(in_shape), math.prod(out_shape))
    )


def leading_product(cores):
    """The product of the first k cores of a TT-matrix (any k >= 1).

    Args:
        cores: list of k tensors of shape (r_j, m_j, n_j, r_{j+1}), r_0 = 1
            (the last right rank may be any).

    Returns:
        Tensor of shape (prod m_j, prod n_j, r_k): rows and columns in C
        order, the last rank kept.
    """
    _, m, n, r_next = static_shape(cores[0])
    res = ops.reshape(cores[0], (m, n, r_next))
    rows, cols = m, n
    for core in cores[1:]:
        r, m, n, r_next = static_shape(core)
        # (rows*cols, r) @ (r, m*n*r') -> (rows, cols, m, n*r')
        res = ops.matmul(
            ops.reshape(res, (rows * cols, r)),
            ops.reshape(core, (r, m * n * r_next)),
        )
        res = ops.reshape(res, (rows, cols, m, n * r_next))
        # -> (rows, m, cols, n*r'): row index (i_<k, i_k), col (j_<k, j_k)
        res = ops.transpose(res, (0, 2, 1, 3))
        rows, cols = rows * m, cols * n
        res = ops.reshape(res, (rows, cols, r_next))
    return res


def transpose(cores):
    """The cores of the transposed TT-matrix W^T (same ranks).

    `tt.matmul(v, transpose(cores))` is v @ W^T: a product with the
    transpose at the cost of a forward pass, without building W (what
    relevance propagation through a TT layer needs).

    Args:
        cores: list of d tensors of shape (r_k, m_k, n_k, r_{k+1}).

    Returns:
        List of d tensors of shape (r_k, n_k, m_k, r_{k+1}).
    """
    return [ops.transpose(core, (0, 2, 1, 3)) for core in cores]


def fold_input_affine(
    cores, bias, scale, offset, linear_map, group, dtype, mask=None
):
    """Cores and bias with an input transform `x * scale + offset` folded in.

    With s = scale, o = offset and m the input dropout mask (or ones),
    ((x s + o) * m) W + b = (x * m)(s W) + (o (m W) + b): s scales the
    first core of each TT-matrix, and the offset becomes a bias. A layer
    then only casts (and masks) its inputs before the map, instead of
    also scaling and shifting them: two passes over every float input
    fewer (torch runs them one by one: its training step of 16 x 256
    uint8 UCF11 frames 2.05 -> 1.71 s).

    Args:
        cores: the cores of W: one TT-matrix, or several of `group` cores
            each whose outputs `linear_map` concatenates (the gates of a
            TT-RNN's "separate" layout).
        bias: the (N,) bias, or None.
        scale: s, a float.
        offset: o, a float.
        linear_map: `linear_map(rows, cores)`: rows @ W for (k, M) rows.
        group: cores per TT-matrix (its d).
        dtype: the dtype of the row of ones (the compute dtype).
        mask: None, or the (batch, M) input dropout mask m.

    Returns:
        (cores, bias): the cores as a new list, and the bias: (N,), or
        with `mask` one row a sequence, (batch, 1, N) (None if there was
        no bias and o = 0).
    """
    if offset != 0.0:
        if mask is None:
            width = math.prod(static_shape(c)[1] for c in cores[:group])
            rows = ops.ones((1, width), dtype=dtype)
        else:
            rows = mask
        shift = ops.multiply(linear_map(rows, cores), offset)
        if mask is None:
            shift = ops.reshape(shift, (-1,))
        else:
            shift = ops.expand_dims(shift, 1)
        bias = shift if bias is None else ops.add(bias, shift)
    if scale != 1.0:
        cores = [
            ops.multiply(core, scale) if i % group == 0 else core
            for i, core in enumerate(cores)
        ]
    return list(cores), bias

"""Backend-neutral TT-matrix operations (`keras.ops` only).

Cores are tensors or variables of shape (r_k, m_k, n_k, r_{k+1}); the
TT-matrix W they represent has shape (prod m_k, prod n_k) with rows and
columns flattened in C order (i_0 and j_0 slowest).
"""

import math

from keras import ops

from ttrnn.tt import shapes

STRATEGIES = ("auto", "ltr", "rtl", "dense")

# Batch size assumed when planning a contraction whose batch is not known
# when the graph is built (e.g. a symbolic `None` batch).
DEFAULT_PLANNING_BATCH = 32


def _static_shape(core):
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
        shape = _static_shape(core)
        if len(shape) != 4:
            raise ValueError(
                f"Every core must be 4-D (r_k, m_k, n_k, r_k+1). "
                f"Received: cores[{k}] of shape {shape}"
            )
        if shape[0] != ranks[-1]:
            raise ValueError(
                f"cores[{k}] has left rank {shape[0]} but the previous "
                f"core's right rank (or r_0 = 1) is {ranks[-1]}. "
                f"Received shapes: {[_static_shape(c) for c in cores]}"
            )
        in_shape.append(shape[1])
        out_shape.append(shape[2])
        ranks.append(shape[3])
    if ranks[-1] != 1:
        raise ValueError(
            f"The last core must have right rank 1. "
            f"Received: cores[-1] of shape {_static_shape(cores[-1])}"
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


def choose_strategy(tt_input_shape, tt_output_shape, tt_ranks, batch_size):
    """Picks the contraction with the fewest multiply-adds.

    Args:
        tt_input_shape, tt_output_shape, tt_ranks: the TT-matrix.
        batch_size: rows of x, or None when unknown (then
            `DEFAULT_PLANNING_BATCH` is assumed).

    Returns:
        One of "ltr", "rtl", "dense".
    """
    if batch_size is None:
        batch_size = DEFAULT_PLANNING_BATCH
    costs = {
        s: shapes.flops(
            tt_input_shape, tt_output_shape, tt_ranks, batch_size, s
        )
        for s in ("ltr", "rtl", "dense")
    }
    return min(costs, key=costs.get)


def _matmul_ltr(x2, cores, in_shape, out_shape, ranks):
    # State axes (r_k, m_k, m_{>k}, B, n_{<k}) as an (r_k m_k, -1) matrix.
    state = ops.transpose(x2)  # (M, B): r_0 = 1
    for k, core in enumerate(cores):
        r, m, n, r_next = ranks[k], in_shape[k], out_shape[k], ranks[k + 1]
        core_mat = ops.reshape(core, (r * m, n * r_next))
        # (n r', r m) @ (r m, M_{>k} B N_{<k}) -> (n, r', m_{>k}, B, n_{<k})
        state = ops.matmul(
            ops.transpose(core_mat), ops.reshape(state, (r * m, -1))
        )
        # Move n_k last: (r', m_{>k}, B, n_{<k}, n_k).
        state = ops.transpose(ops.reshape(state, (n, -1)))
    return ops.reshape(state, (-1, math.prod(out_shape)))


def _matmul_rtl(x2, cores, in_shape, out_shape, ranks):
    # State axes (n_{>k}, B, m_{<k}, m_k, r_{k+1}) as a (-1, m_k r_{k+1})
    # matrix; x itself is (B, m_{<d-1}, m_{d-1}) with r_d = 1.
    d = len(cores)
    state = x2
    for k in range(d - 1, -1, -1):
        r, m, n, r_next = ranks[k], in_shape[k], out_shape[k], ranks[k + 1]
        core_mat = ops.reshape(
            ops.transpose(cores[k], (1, 3, 0, 2)), (m * r_next, r * n)
        )
        # (n_{>k} B m_{<k}, m r') @ (m r', r n) -> (n_{>k}, B, m_{<k}, r, n)
        state = ops.matmul(ops.reshape(state, (-1, m * r_next)), core_mat)
        if k > 0:
            # Move n_k first: (n_k, n_{>k}, B, m_{<k}, r_k).
            state = ops.transpose(ops.reshape(state, (-1, n)))
    # (n_{>0}, B, n_0) with r_0 = 1 -> (B, n_0, n_{>0}).
    n_rest = math.prod(out_shape[1:])
    state = ops.reshape(state, (n_rest, -1, out_shape[0]))
    state = ops.transpose(state, (1, 2, 0))
    return ops.reshape(state, (-1, math.prod(out_shape)))


def matmul(x, cores, strategy="auto"):
    """Computes x @ W for the TT-matrix W without building W (unless cheaper).

    Complexity: see `ttrnn.tt.flops`; "auto" takes the strategy with the
    fewest multiply-adds for the static batch size of x.

    Args:
        x: tensor of shape (..., prod m_k).
        cores: list of d tensors of shape (r_k, m_k, n_k, r_{k+1}).
        strategy: "auto", "ltr" (core by core from core 0), "rtl" (from the
            last core) or "dense" (rebuild W, one GEMM). All give the same
            result up to float rounding.

    Returns:
        Tensor of shape (..., prod n_k).
    """
    if strategy not in STRATEGIES:
        raise ValueError(
            f"`strategy` must be one of {STRATEGIES}. "
            f"Received: strategy={strategy!r}"
        )
    in_shape, out_shape, ranks = cores_modes(cores)
    num_in, num_out = math.prod(in_shape), math.prod(out_shape)
    x_shape = tuple(x.shape)
    if x_shape[-1] is not None and int(x_shape[-1]) != num_in:
        raise ValueError(
            f"The last dimension of the input must equal the product of "
            f"tt_input_shape. Received: tt_input_shape={in_shape} "
            f"(product {num_in}) for an input of {x_shape[-1]} features"
        )
    batch_dims = x_shape[:-1]
    if len(batch_dims) == 1:
        x2 = x
    else:
        x2 = ops.reshape(x, (-1, num_in))
    if strategy == "auto":
        known = all(b is not None for b in batch_dims)
        batch = math.prod(int(b) for b in batch_dims) if known else None
        strategy = choose_strategy(in_shape, out_shape, ranks, batch)
    if strategy == "dense":
        y = ops.matmul(x2, to_dense(cores))
    elif strategy == "ltr":
        y = _matmul_ltr(x2, cores, in_shape, out_shape, ranks)
    else:
        y = _matmul_rtl(x2, cores, in_shape, out_shape, ranks)
    if len(batch_dims) != 1:
        lead = ops.shape(x)[:-1]
        y = ops.reshape(y, (*lead, num_out))
    return y

"""TT decompositions in NumPy: TT-SVD of a dense matrix, legacy import.

These run once (to initialise or convert a layer), so they work on NumPy
arrays in float64 and return NumPy cores of shape (r_k, m_k, n_k, r_{k+1}).
"""

import math

import numpy as np

from ttrnn.tt import shapes


def rank_caps(max_rank, d):
    """Per-cut caps r_1..r_{d-1} from an int, a sequence or None."""
    if max_rank is None:
        return [None] * (d - 1)
    if isinstance(max_rank, (int, np.integer)):
        if max_rank < 1:
            raise ValueError(
                f"`max_rank` must be >= 1. Received: max_rank={max_rank}"
            )
        return [int(max_rank)] * (d - 1)
    ranks = tuple(int(r) for r in max_rank)
    if len(ranks) != d + 1 or any(r < 1 for r in ranks):
        raise ValueError(
            f"`max_rank` must be an int >= 1 or a list of d + 1 = {d + 1} "
            f"ints >= 1. Received: max_rank={tuple(max_rank)}"
        )
    return list(ranks[1:-1])


def from_dense(
    matrix, tt_input_shape, tt_output_shape, max_rank=None, eps=None
):
    """TT-SVD of a dense matrix into TT-matrix cores.

    With `max_rank=None, eps=None` the decomposition is exact (up to float
    rounding). With `eps` alone, ||W - W_tt||_F <= eps ||W||_F (each of the
    d - 1 truncations drops at most eps ||W||_F / sqrt(d - 1)). `max_rank`
    caps the ranks on top of that, which may break the eps bound.

    Complexity: d SVDs of at most (r m n) x (M N / (m n)) matrices.

    Args:
        matrix: array of shape (prod tt_input_shape, prod tt_output_shape).
        tt_input_shape: input modes m_k.
        tt_output_shape: output modes n_k.
        max_rank: None, one int, or d + 1 ints (ends ignored).
        eps: None or relative Frobenius error bound >= 0.

    Returns:
        List of d float64 NumPy arrays of shape (r_k, m_k, n_k, r_{k+1}).

    Example:
    >>> import numpy as np
    >>> w = np.arange(12.0).reshape(4, 3)
    >>> cores = from_dense(w, (2, 2), (3, 1))
    >>> [c.shape for c in cores]
    [(1, 2, 3, 2), (2, 2, 1, 1)]
    """
    in_shape, out_shape = shapes.validate_modes(tt_input_shape, tt_output_shape)
    w = np.asarray(matrix, dtype=np.float64)
    expected = (math.prod(in_shape), math.prod(out_shape))
    if w.shape != expected:
        raise ValueError(
            f"`matrix` must have shape (prod tt_input_shape, prod "
            f"tt_output_shape) = {expected}. Received: matrix of shape "
            f"{w.shape} with tt_input_shape={in_shape}, "
            f"tt_output_shape={out_shape}"
        )
    if eps is not None and not eps >= 0:
        raise ValueError(f"`eps` must be >= 0. Received: eps={eps}")
    d = len(in_shape)
    caps = rank_caps(max_rank, d)
    # (m_0..m_{d-1}, n_0..n_{d-1}) -> (m_0, n_0, m_1, n_1, ...)
    perm = [ax for k in range(d) for ax in (k, d + k)]
    tensor = w.reshape(in_shape + out_shape).transpose(perm)
    sizes = [m * n for m, n in zip(in_shape, out_shape)]
    delta = 0.0
    if eps is not None and d > 1:
        delta = eps * np.linalg.norm(w) / math.sqrt(d - 1)
    cores = []
    rank = 1
    rest = tensor.reshape(-1)
    for k in range(d - 1):
        unfolding = rest.reshape(rank * sizes[k], -1)
        u, s, vt = np.linalg.svd(unfolding, full_matrices=False)
        # Smallest rank whose dropped tail has energy <= delta^2.
        tail = np.sqrt(np.cumsum((s**2)[::-1]))[::-1]  # tail[i] = ||s[i:]||
        keep = int(np.sum(tail > delta)) if delta > 0 else len(s)
        if delta == 0:
            # Exact: drop only singular values that are numerically zero.
            keep = int(np.sum(s > s[0] * 1e-14 * max(unfolding.shape)))
        keep = max(keep, 1)
        if caps[k] is not None:
            keep = min(keep, caps[k])
        cores.append(u[:, :keep].reshape(rank, in_shape[k], out_shape[k], keep))
        rest = s[:keep, None] * vt[:keep]
        rank = keep
    cores.append(rest.reshape(rank, in_shape[-1], out_shape[-1], 1))
    return cores


def from_legacy_kernel(flat, tt_input_shape, tt_output_shape, tt_ranks):
    """Converts a 2017 TT_Layer flat kernel into cores.

    The 2017 Keras 2 / Theano code stored all cores in one flat vector,
    last core first, core k as an (m_k r_{k+1}, r_k n_k) matrix in C order,
    i.e. indexed C_k[i_k, a_{k+1}, a_k, j_k].

    Args:
        flat: 1-D array of length sum_k r_k m_k n_k r_{k+1}.
        tt_input_shape, tt_output_shape, tt_ranks: as the layer had them.

    Returns:
        List of d NumPy arrays of shape (r_k, m_k, n_k, r_{k+1}).
    """
    in_shape, out_shape = shapes.validate_modes(tt_input_shape, tt_output_shape)
    ranks = shapes.validate_ranks(tt_ranks, in_shape, out_shape, clip=False)
    flat = np.asarray(flat).reshape(-1)
    expected = shapes.num_params(in_shape, out_shape, ranks)
    if flat.size != expected:
        raise ValueError(
            f"`flat` must hold sum_k r_k m_k n_k r_k+1 = {expected} values "
            f"for tt_input_shape={in_shape}, tt_output_shape={out_shape}, "
            f"tt_ranks={ranks}. Received: {flat.size} values"
        )
    d = len(in_shape)
    cores = [None] * d
    offset = 0
    for k in range(d - 1, -1, -1):
        r, m, n, r_next = ranks[k], in_shape[k], out_shape[k], ranks[k + 1]
        size = r * m * n * r_next
        block = flat[offset : offset + size].reshape(m, r_next, r, n)
        cores[k] = np.ascontiguousarray(block.transpose(2, 0, 3, 1))
        offset += size
    return cores

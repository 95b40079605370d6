"""TT rounding: lower the ranks of a TT-matrix without forming W.

NumPy float64, run once per layer (to shrink a trained layer), so it
returns NumPy cores of shape (r_k, m_k, n_k, r_{k+1}).

Reference: I. Oseledets, "Tensor-Train Decomposition", SIAM J. Sci.
Comput. 33(5), 2011, Algorithm 2.
"""

import math

import numpy as np

from ttrnn.tt.cores import cores_modes
from ttrnn.tt.decompositions import rank_caps


def _as_numpy_cores(cores):
    cores = [np.asarray(c, dtype=np.float64) for c in cores]
    in_shape, out_shape, ranks = cores_modes(cores)
    return cores, in_shape, out_shape, ranks


def right_orthogonalize(cores):
    """In place on 3-D cores (r_k, s_k, r_{k+1}): cores 1..d-1 become
    right-orthogonal (G_k = R^T Q^T), so ||W||_F = ||G_0||_F."""
    for k in range(len(cores) - 1, 0, -1):
        r, s, r_next = cores[k].shape
        q, rmat = np.linalg.qr(cores[k].reshape(r, s * r_next).T)
        cores[k] = q.T.reshape(-1, s, r_next)
        cores[k - 1] = np.tensordot(cores[k - 1], rmat.T, axes=(2, 0))
    return cores


def move_right(cores, k):
    """In place on 4-D cores (r_k, m_k, n_k, r_{k+1}): core k becomes
    left-orthogonal (QR) and its R factor goes into core k + 1; the TT
    is unchanged. Skipped where QR would lower the rank."""
    r, m, n, r_next = cores[k].shape
    if r * m * n < r_next:
        return
    q, rmat = np.linalg.qr(cores[k].reshape(r * m * n, r_next))
    cores[k] = q.reshape(r, m, n, -1)
    cores[k + 1] = np.tensordot(rmat, cores[k + 1], axes=(1, 0))


def move_left(cores, k):
    """In place on 4-D cores: core k becomes right-orthogonal and its R
    factor goes into core k - 1 (the mirror of `move_right`)."""
    r, m, n, r_next = cores[k].shape
    if m * n * r_next < r:
        return
    q, rmat = np.linalg.qr(cores[k].reshape(r, m * n * r_next).T)
    cores[k] = q.T.reshape(-1, m, n, r_next)
    cores[k - 1] = np.tensordot(cores[k - 1], rmat.T, axes=(3, 0))


def round_cores(cores, max_rank=None, eps=None):
    """TT rounding of TT-matrix cores: the same W at lower ranks.

    Right-to-left QR sweep (cores 1..d-1 become right-orthogonal), then a
    left-to-right sweep of truncated SVDs. With `eps`, the result W_r has
    ||W - W_r||_F <= eps ||W||_F (each of the d - 1 truncations drops at
    most eps ||W||_F / sqrt(d - 1)); `max_rank` caps the ranks on top of
    that, which may break the eps bound. With neither, only numerically
    zero singular values are dropped: W is kept to float rounding and
    every rank falls to the rank of its unfolding of W.

    Complexity: O(d r^3 max_k m_k n_k) for ranks r, never O(M N).

    Args:
        cores: list of d arrays (NumPy or tensors) of shape
            (r_k, m_k, n_k, r_{k+1}).
        max_rank: None, one int, or d + 1 ints (ends ignored).
        eps: None or relative Frobenius error bound >= 0.

    Returns:
        List of d float64 NumPy arrays of shape (r'_k, m_k, n_k, r'_{k+1})
        with r'_k <= r_k.

    Example:
    >>> import numpy as np
    >>> cores = [np.ones((1, 2, 2, 3)), np.ones((3, 2, 2, 1))]
    >>> [c.shape for c in round_cores(cores)]  # W = 3 * ones: rank 1
    [(1, 2, 2, 1), (1, 2, 2, 1)]
    """
    cores, in_shape, out_shape, ranks = _as_numpy_cores(cores)
    if eps is not None and not eps >= 0:
        raise ValueError(f"`eps` must be >= 0. Received: eps={eps}")
    d = len(cores)
    caps = rank_caps(max_rank, d)
    sizes = [m * n for m, n in zip(in_shape, out_shape)]
    # Work on 3-D cores (r_k, m_k n_k, r_{k+1}).
    cores = [
        c.reshape(ranks[k], sizes[k], ranks[k + 1]) for k, c in enumerate(cores)
    ]
    right_orthogonalize(cores)
    # Now ||W||_F = ||G_0||_F.
    delta = 0.0
    if eps is not None and d > 1:
        delta = eps * np.linalg.norm(cores[0]) / math.sqrt(d - 1)
    # Left-to-right truncated SVDs; everything right of k is orthogonal,
    # so these are the singular values of W's unfoldings.
    for k in range(d - 1):
        r, s, r_next = cores[k].shape
        unfolding = cores[k].reshape(r * s, r_next)
        u, sv, vt = np.linalg.svd(unfolding, full_matrices=False)
        if delta > 0:
            tail = np.sqrt(np.cumsum((sv**2)[::-1]))[::-1]  # ||sv[i:]||
            keep = int(np.sum(tail > delta))
        else:
            keep = int(np.sum(sv > sv[0] * 1e-14 * max(unfolding.shape)))
        keep = max(keep, 1)
        if caps[k] is not None:
            keep = min(keep, caps[k])
        cores[k] = u[:, :keep].reshape(r, s, keep)
        cores[k + 1] = np.tensordot(
            sv[:keep, None] * vt[:keep], cores[k + 1], axes=(1, 0)
        )
    return [
        c.reshape(c.shape[0], m, n, c.shape[2])
        for c, m, n in zip(cores, in_shape, out_shape)
    ]


def dense_numpy(cores):
    """W of shape (prod m_k, prod n_k) from cores, in NumPy float64.

    The NumPy twin of `ttrnn.tt.to_dense`, for one-off conversions and
    error reports where backend precision (float32 on JAX) would blur
    the figures.
    """
    cores, in_shape, out_shape, ranks = _as_numpy_cores(cores)
    res = cores[0].reshape(in_shape[0], out_shape[0], ranks[1])
    rows, cols = in_shape[0], out_shape[0]
    for k in range(1, len(cores)):
        m, n, r_next = in_shape[k], out_shape[k], ranks[k + 1]
        # (rows, cols, r) . (r, m, n, r') -> (rows, cols, m, n, r')
        res = np.tensordot(res, cores[k], axes=(2, 0))
        res = res.transpose(0, 2, 1, 3, 4)
        rows, cols = rows * m, cols * n
        res = res.reshape(rows, cols, r_next)
    return res.reshape(rows, cols)


def norm(cores):
    """||W||_F of a TT-matrix, without W (one QR sweep)."""
    cores, _, _, _ = _as_numpy_cores(cores)
    cores = [c.reshape(c.shape[0], -1, c.shape[3]) for c in cores]
    return float(np.linalg.norm(right_orthogonalize(cores)[0]))


def relative_error(cores, reference):
    """||W - W_ref||_F / ||W_ref||_F of a TT-matrix W against a reference.

    The reference is a dense matrix W_ref, or another TT-matrix. Against
    a TT-matrix W is never formed: the difference is a TT-matrix of ranks
    r_k + r'_k (block cores) whose norm comes from a QR sweep, which stays
    accurate for tiny errors (no cancellation as in ||A||^2 - 2<A, B> +
    ||B||^2). Against a dense matrix W is built once. NumPy float64.

    Args:
        cores: list of d cores (r_k, m_k, n_k, r_{k+1}).
        reference: a 2-D array or tensor of shape (prod m_k, prod n_k),
            or a list of d cores with the same modes.

    Returns:
        float; 0.0 when both are zero, inf when only the reference is.

    Raises:
        ValueError: a reference of another shape or other modes.

    Example:
    >>> import numpy as np
    >>> cores = [np.ones((1, 2, 2, 1)), np.ones((1, 3, 3, 1))]
    >>> relative_error(cores, np.full((6, 6), 2.0))
    0.5
    """
    if not isinstance(reference, (list, tuple)):
        return _relative_error_dense(cores, reference)
    a, in_a, out_a, _ = _as_numpy_cores(cores)
    b, in_b, out_b, _ = _as_numpy_cores(reference)
    if (in_a, out_a) != (in_b, out_b):
        raise ValueError(
            "`cores` and `reference` must have the same modes. Received: "
            f"{in_a}x{out_a} and {in_b}x{out_b}"
        )
    d = len(a)
    a = [c.reshape(c.shape[0], -1, c.shape[3]) for c in a]
    b = [c.reshape(c.shape[0], -1, c.shape[3]) for c in b]
    diff = []
    for k, (x, y) in enumerate(zip(a, b)):
        if d == 1:
            diff.append(x - y)
        elif k == 0:
            diff.append(np.concatenate([x, -y], axis=2))
        elif k == d - 1:
            diff.append(np.concatenate([x, y], axis=0))
        else:
            block = np.zeros(
                (x.shape[0] + y.shape[0], x.shape[1], x.shape[2] + y.shape[2])
            )
            block[: x.shape[0], :, : x.shape[2]] = x
            block[x.shape[0] :, :, x.shape[2] :] = y
            diff.append(block)
    num = np.linalg.norm(right_orthogonalize(diff)[0])
    den = np.linalg.norm(right_orthogonalize(b)[0])
    if den == 0:
        return 0.0 if num == 0 else math.inf
    return float(num / den)


def _relative_error_dense(cores, reference):
    """`relative_error` against a dense matrix."""
    w = dense_numpy(cores)
    ref = np.asarray(reference, dtype=np.float64)
    if ref.shape != w.shape:
        raise ValueError(
            "Argument `reference` must be a list of cores or a matrix of "
            f"the cores' shape {w.shape}. Received: reference of shape "
            f"{ref.shape}"
        )
    num = np.linalg.norm(w - ref)
    den = np.linalg.norm(ref)
    if den == 0:
        return 0.0 if num == 0 else math.inf
    return float(num / den)


def pad_ranks(cores, ranks):
    """Zero-pads NumPy cores to the given ranks (each at least the
    core's own): the same W, in bigger cores."""
    out = []
    for k, core in enumerate(cores):
        r, m, n, r_next = core.shape
        padded = np.zeros((ranks[k], m, n, ranks[k + 1]), core.dtype)
        padded[:r, :, :, :r_next] = core
        out.append(padded)
    return out

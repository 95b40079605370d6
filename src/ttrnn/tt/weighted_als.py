"""Row-weighted ALS: TT-matrices fitted to some rows of a table.

For a table T whose rows s are read with frequencies w_s (an embedding:
token counts), the output error of a TT-matrix A is

    sum_s w_s ||T[s, :] - A[s, :]||^2,

a sum over the rows actually read. With all cores but G_k fixed, A's
entry (s, j) is L_s[j_<k, :] G_k[:, i_k, j_k, :] R_s[:, j_>k], linear in
G_k, and the slice G_k[:, i_k, j_k, :] enters only the rows whose k-th
digit is i_k and the columns whose k-th digit is j_k: the update of G_k
splits into v_k small least-squares problems of r_k r_{k+1} unknowns
(one per row digit i_k, all n_k right-hand sides sharing one matrix),
built from the rows of nonzero weight only. The cost of a sweep scales
with the number of rows read, not the vocabulary.

Each update is proximal, argmin loss + mu ||G_k - G_k^old||^2 with a
tiny mu: it exists even for a digit no row uses (it keeps the old slice
there), and the loss never increases. Cores are kept orthogonal towards
the core being updated (the standard ALS gauge), which keeps the small
systems well conditioned; that gauge does not change A.

Everything here is NumPy float64 and runs once per layer.
"""

import math

import numpy as np

from ttrnn.tt import rounding
from ttrnn.tt.decompositions import from_dense

# The proximal weight mu, relative to the mean diagonal of each system.
PROXIMAL = 1e-8
# `fit_rows` sweeps only while every core's systems have at most this
# many unknowns r_k r_{k+1} (a dense solve each; above, the start stays).
MAX_UNKNOWNS = 4096
# Per-row products of one core update are formed for this many floats'
# worth of rows at a time.
CHUNK = 1 << 22


def weighted_loss(cores, rows, values, weights):
    """sum_s weights[s] ||values[s] - A[rows[s], :]||^2 for the cores' A.

    Args:
        cores: d arrays of shape (r_k, v_k, n_k, r_{k+1}).
        rows: int array of row indices into prod(v_k).
        values: array of shape (len(rows), prod(n_k)), the target rows.
        weights: array of len(rows), nonnegative.

    Returns:
        The loss, a float.
    """
    error = np.asarray(values, np.float64) - table_rows(cores, rows)
    return float(np.sum(np.asarray(weights) * np.sum(error * error, 1)))


def table_rows(cores, rows):
    """The rows `rows` of the TT-matrix of `cores`, shape (len, prod n_k)."""
    cores = [np.asarray(c, np.float64) for c in cores]
    ins = [c.shape[1] for c in cores]
    rows = np.asarray(rows, np.int64)
    # Chains of the first d - 1 cores once per distinct prefix, then one
    # product per last digit (a GEMM, not one small product per row).
    prefix, last = np.divmod(rows, ins[-1])
    keys, of = np.unique(prefix, return_inverse=True)
    left = _left(cores, _unravel(keys, ins[:-1]), len(cores) - 1)
    r, _, n, _ = cores[-1].shape
    out = np.empty((len(rows), left.shape[1], n))
    for i in np.unique(last):
        sel = np.flatnonzero(last == i)
        part = left[of[sel]].reshape(-1, r) @ cores[-1][:, i, :, 0]
        out[sel] = part.reshape(len(sel), -1, n)
    return out.reshape(len(rows), -1)


def fit_rows(table, weights, in_shape, out_shape, max_rank, eps=None, sweeps=2):
    """A TT-matrix fitted to the rows of `table` of nonzero weight.

    The start is the TT-SVD of the table with its rows of weight 0 zeroed
    (the ranks go to the rows that count), then `als` sweeps.

    Args:
        table: (prod in_shape, prod out_shape) array.
        weights: one nonnegative weight per row.
        in_shape, out_shape: the modes.
        max_rank, eps: the ranks of the TT-SVD start (`tt.from_dense`).
        sweeps: ALS sweeps.

    Returns:
        `(cores, loss)`: the cores and their weighted loss.
    """
    weights = np.asarray(weights, np.float64)
    rows = np.flatnonzero(weights > 0)
    seen = np.zeros(np.shape(table))
    seen[rows] = table[rows]
    start = from_dense(seen, in_shape, out_shape, max_rank=max_rank, eps=eps)
    if max(c.shape[0] * c.shape[3] for c in start) > MAX_UNKNOWNS:
        sweeps = 0
    cores, losses = als(start, rows, seen[rows], weights[rows], sweeps)
    return cores, losses[-1]


def als(cores, rows, values, weights, sweeps=4):
    """Alternating least squares on the row-weighted error, in place of
    nothing: returns new cores of the same ranks.

    Sweeps alternate left-to-right and right-to-left over the cores; each
    core update solves its small weighted least-squares problems exactly
    (up to the proximal term), so the loss never increases.

    Args:
        cores: d start cores of shape (r_k, v_k, n_k, r_{k+1}).
        rows: int array of distinct row indices into prod(v_k).
        values: (len(rows), prod(n_k)) array, the target rows.
        weights: len(rows) nonnegative weights (rows of weight 0 are
            dropped).
        sweeps: number of passes over the cores.

    Returns:
        `(cores, losses)`: float64 cores of the same shapes, and the loss
        before the first sweep and after each sweep.

    Example:
    >>> import numpy as np
    >>> from ttrnn import tt
    >>> table = np.random.default_rng(0).normal(size=(12, 6))
    >>> start = tt.from_dense(table, (3, 4), (2, 3), max_rank=2)
    >>> rows = np.array([0, 5, 7])
    >>> new, losses = als(start, rows, table[rows], np.ones(3), sweeps=2)
    >>> bool(losses[-1] <= losses[0])
    True
    """
    cores = [np.array(c, np.float64) for c in cores]
    rows = np.asarray(rows, np.int64)
    weights = np.asarray(weights, np.float64)
    keep = weights > 0
    rows, weights = rows[keep], weights[keep]
    values = np.asarray(values, np.float64)[keep]
    losses = [weighted_loss(cores, rows, values, weights)]
    if not len(rows) or len(cores) == 0:
        return cores, losses
    d = len(cores)
    ins = [c.shape[1] for c in cores]
    digits = np.unravel_index(rows, ins)
    _orthogonalize(cores, 0)
    for sweep in range(sweeps):
        order = range(d) if sweep % 2 == 0 else range(d - 1, -1, -1)
        for k in order:
            cores[k] = _update(cores, k, digits, values, weights)
            if sweep % 2 == 0 and k + 1 < d:
                rounding.move_right(cores, k)
            elif sweep % 2 == 1 and k > 0:
                rounding.move_left(cores, k)
        losses.append(weighted_loss(cores, rows, values, weights))
    return cores, losses


def solve_core(cores, k, rows, values, weights):
    """One ALS step: core k minimising the row-weighted loss (plus the
    proximal term), all other cores fixed. Args as `als`; returns the new
    core k (float64, same shape)."""
    cores = [np.asarray(c, np.float64) for c in cores]
    rows = np.asarray(rows, np.int64)
    weights = np.asarray(weights, np.float64)
    digits = np.unravel_index(rows, [c.shape[1] for c in cores])
    values = np.asarray(values, np.float64)
    return _update(cores, k, digits, values, weights)


def _update(cores, k, digits, values, weights):
    """Core k minimising the loss (plus the proximal term), others fixed."""
    r, v, n, r_next = cores[k].shape
    outs = [c.shape[2] for c in cores]
    n_left, n_right = math.prod(outs[:k]), math.prod(outs[k + 1 :])
    count = len(weights)
    prefix = _index(digits[:k], [c.shape[1] for c in cores[:k]], count)
    suffix = _index(
        digits[k + 1 :], [c.shape[1] for c in cores[k + 1 :]], count
    )
    p_keys, p_of = np.unique(prefix, return_inverse=True)
    q_keys, q_of = np.unique(suffix, return_inverse=True)
    p_digits = _unravel(p_keys, [c.shape[1] for c in cores[:k]])
    q_digits = _unravel(q_keys, [c.shape[1] for c in cores[k + 1 :]])
    left = _left(cores, p_digits, k)  # (P, N<, r)
    right = _right(cores, q_digits, k + 1)  # (Q, r', N>)
    # Right-hand sides: per row, L_s^T T_s R_s^T, summed by digit i_k;
    # in chunks of rows, so the per-row products stay within CHUNK floats.
    gram_l = np.matmul(left.transpose(0, 2, 1), left)  # (P, r, r)
    group = p_of * v + digits[k]
    g_keys, g_of = np.unique(group, return_inverse=True)
    rhs = np.zeros((v, r * n * r_next))
    summed = np.zeros((len(g_keys), r_next * r_next))
    per_row = r * (n_left + n * n_right + n * r_next) + r_next * (
        n_right + r_next
    )
    step = max(1, CHUNK // per_row)
    for a in range(0, len(values), step):
        b = slice(a, a + step)
        target = values[b].reshape(-1, n_left, n * n_right)
        part = np.matmul(left.transpose(0, 2, 1)[p_of[b]], target)
        part = part.reshape(len(target), r * n, n_right)
        part = np.matmul(part, right.transpose(0, 2, 1)[q_of[b]])
        part *= weights[b, None, None]
        rhs += _sum_by(digits[k][b], part.reshape(len(target), -1), v)
        # Systems: H_i = sum_s w_s (L_s^T L_s) (x) (R_s R_s^T), grouped
        # by (prefix, i_k): each Kronecker product formed once per group.
        chunk = right[q_of[b]]
        grams = np.matmul(chunk, chunk.transpose(0, 2, 1))
        grams = grams.reshape(-1, r_next**2)
        summed += _sum_by(g_of[b], weights[b, None] * grams, len(g_keys))
    rhs = rhs.reshape(v, r, n, r_next).transpose(0, 1, 3, 2)
    rhs = rhs.reshape(v, r * r_next, n)
    g_prefix, g_digit = np.divmod(g_keys, v)
    new = cores[k].copy()
    old = cores[k].transpose(1, 0, 3, 2).reshape(v, r * r_next, n)
    for i in np.unique(g_digit):
        sel = g_digit == i
        h = gram_l[g_prefix[sel]].reshape(-1, r * r).T @ summed[sel]
        h = h.reshape(r, r, r_next, r_next).transpose(0, 2, 1, 3)
        h = h.reshape(r * r_next, r * r_next)
        mu = PROXIMAL * max(np.trace(h) / len(h), 1e-300)
        h[np.diag_indices_from(h)] += mu
        x = np.linalg.solve(h, rhs[i] + mu * old[i])
        new[:, i] = x.reshape(r, r_next, n).transpose(0, 2, 1)
    return new


def _sum_by(index, values, count):
    """Rows of `values` summed by `index` (np.add.at, but buffered)."""
    order = np.argsort(index, kind="stable")
    index = index[order]
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    out = np.zeros((count,) + values.shape[1:])
    out[index[starts]] = np.add.reduceat(values[order], starts, axis=0)
    return out


def _index(digits, modes, count):
    """Row-major index of digit tuples (0 for no digits)."""
    if not modes:
        return np.zeros(count, np.int64)
    return np.ravel_multi_index(tuple(digits), modes)


def _unravel(keys, modes):
    return np.unravel_index(keys, modes) if modes else ()


def _left(cores, digits, k):
    """(count, N<, r_k): the product of cores 0..k-1 at the digits."""
    count = len(digits[0]) if len(digits) else 1
    out = np.ones((count, 1, 1))
    for m in range(k):
        g = cores[m][:, digits[m]].transpose(1, 0, 2, 3)  # (P, r, n, r')
        out = np.matmul(out, g.reshape(count, g.shape[1], -1))
        out = out.reshape(count, -1, g.shape[3])
    return out


def _right(cores, digits, k):
    """(count, r_k, N>): the product of cores k..d-1 at the digits."""
    count = len(digits[0]) if len(digits) else 1
    out = np.ones((count, 1, 1))
    for m in range(len(cores) - 1, k - 1, -1):
        g = cores[m][:, digits[m - k]].transpose(1, 0, 2, 3)
        out = np.matmul(g.reshape(count, -1, g.shape[3]), out)
        out = out.reshape(count, g.shape[1], -1)
    return out


def _orthogonalize(cores, k):
    """Cores after k right-orthogonal (QR from the right end)."""
    for m in range(len(cores) - 1, k, -1):
        rounding.move_left(cores, m)

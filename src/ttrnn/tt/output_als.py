"""ALS over TT-matrix cores in an output metric: min tr(E^T A E), E = V - T.

V is the TT-matrix of the cores (shape (M, N)), T a dense target and A an
M x M symmetric PSD metric (for a layer, the input second moment
E[x x^T]: then tr(E^T A E) = E||x E||^2 is the output error on the data).

With all cores but G_k fixed, V is linear in G_k. Split the row index i
into (p, i_k, q) (modes before, at and after k) and the column index j
into (s, j_k, t) likewise; with the interfaces L[p, s, a] (cores before k)
and R[b, q, t] (cores after k),

    V[(p, i_k, q), (s, j_k, t)] = sum_ab L[p, s, a] G_k[a, i_k, j_k, b]
                                          R[b, q, t].

A acts on rows only, so the normal equations do not couple the columns
j_k: one Gram matrix H of size (a m_k b)^2 serves all n_k right-hand
sides,

    H[(a i b), (a' i' b')] = sum_{p q p' q'} PL[p a p' a']
                             A[(p i q), (p' i' q')] PR[b q b' q'],

with PL = sum_s L L and PR = sum_t R R, and the right-hand side is
L^T (A T) R. Sweeps go left to right and back, each core solved exactly
(with a proximal ridge towards its current value, so directions the data
never visits keep their start and the loss never rises), the cores kept
orthogonal around the one being solved (the conditioning of DMRG/ALS:
with A = I, H is the identity).

Everything is NumPy float64.
"""

import numpy as np

from ttrnn.tt import rounding
from ttrnn.tt.rounding import dense_numpy

# The proximal ridge, relative to H's mean diagonal.
RIDGE = 1e-6
# A core whose local problem (a m_k b unknowns per output index) or
# contraction intermediates exceed this many floats is kept as it is.
LOCAL_LIMIT = 6000
WORK_LIMIT = 1 << 26


def _left(cores, k):
    """L[p, s, a]: the cores before k as (rows, cols, rank)."""
    out = np.ones((1, 1, 1))
    for c in cores[:k]:
        p, s, _ = out.shape
        _, m, n, b = c.shape
        out = np.tensordot(out, c, axes=(2, 0))  # p s m n b
        out = out.transpose(0, 2, 1, 3, 4).reshape(p * m, s * n, b)
    return out


def _right(cores, k):
    """R[b, q, t]: the cores after k as (rank, rows, cols)."""
    out = np.ones((1, 1, 1))
    for c in reversed(cores[k + 1 :]):
        _, q, t = out.shape
        a, m, n, _ = c.shape
        out = np.tensordot(c, out, axes=(3, 0))  # a m n q t
        out = out.transpose(0, 1, 3, 2, 4).reshape(a, m * q, n * t)
    return out


def _gram(metric, left, right, m):
    """H of core k as an (a m b, a m b) matrix, or None when too big."""
    p, _, a = left.shape
    b, q, _ = right.shape
    if max((p * a) ** 2, (q * b) ** 2, (p * m * b) ** 2, (a * m * q) ** 2) > (
        WORK_LIMIT
    ):
        return None
    a6 = metric.reshape(p, m, q, p, m, q)
    pl = np.tensordot(left, left, axes=(1, 1))  # p a p' a'
    pr = np.tensordot(right, right, axes=(2, 2))  # b q b' q'
    rows = p * m * q
    # Contract the wider side first: M^2 b^2 + (m b p a)^2 flops, or
    # M^2 a^2 + (m a q b)^2.
    if rows**2 * b * b + (m * b * p * a) ** 2 <= (
        rows**2 * a * a + (m * a * q * b) ** 2
    ):
        y = np.tensordot(a6, pr, axes=([2, 5], [1, 3]))  # p m p m b b'
        h = np.tensordot(pl, y, axes=([0, 2], [0, 2]))  # a a' m m b b'
        h = h.transpose(0, 2, 4, 1, 3, 5)
    else:
        y = np.tensordot(a6, pl, axes=([0, 3], [0, 2]))  # m q m q a a'
        h = np.tensordot(y, pr, axes=([1, 3], [1, 3]))  # m m a a' b b'
        h = h.transpose(2, 0, 4, 3, 1, 5)
    size = a * m * b
    return h.reshape(size, size)


def _rhs(weighted, left, right, m, n):
    """L^T (A T) R of core k as an (a m b, n) matrix."""
    p, s, a = left.shape
    b, q, t = right.shape
    w6 = weighted.reshape(p, m, q, s, n, t)
    g = np.tensordot(left, w6, axes=([0, 1], [0, 3]))  # a m q n t
    g = np.tensordot(g, right, axes=([2, 4], [1, 2]))  # a m n b
    return g.transpose(0, 1, 3, 2).reshape(a * m * b, n)


def _solve_core(core, h, rhs, ridge):
    """The core minimising g^T H g - 2 g^T rhs + lam ||g - core||^2,
    kept only when it lowers the unregularised objective. Returns
    (core, objective change)."""
    a, m, n, b = core.shape
    old = core.transpose(0, 1, 3, 2).reshape(a * m * b, n)
    lam = ridge * max(np.trace(h) / len(h), 1e-300)
    shifted = h + lam * np.eye(len(h))
    try:
        new = np.linalg.solve(shifted, rhs + lam * old)
    except np.linalg.LinAlgError:
        return core, 0.0

    def objective(g):
        return float(np.sum(g * (h @ g)) - 2 * np.sum(g * rhs))

    change = objective(new) - objective(old)
    if not change < 0:
        return core, 0.0
    return new.reshape(a, m, b, n).transpose(0, 1, 3, 2), change


def als(cores, target, metric, sweeps=3, ridge=RIDGE, tol=1e-4):
    """Alternating least squares over the cores in the metric A.

    Args:
        cores: start cores, each (r_k, m_k, n_k, r_{k+1}); not modified.
        target: dense T of shape (M, N).
        metric: A, a symmetric PSD (M, M) array.
        sweeps: the most left-to-right-and-back sweeps.
        ridge: proximal ridge relative to each Gram's mean diagonal.
        tol: stop when a sweep lowers the loss by less than this
            fraction of the loss before it.

    Returns:
        `(cores, losses)`: the cores (same ranks; the TT-matrix
        generally differs) and the loss before and after each sweep
        (non-increasing).
    """
    cores = [np.array(c, np.float64) for c in cores]
    target = np.asarray(target, np.float64)
    metric = np.asarray(metric, np.float64)
    d = len(cores)
    weighted = metric @ target
    for k in range(d - 1, 0, -1):
        rounding.move_left(cores, k)
    losses = [_loss(cores, target, metric)]
    # Right to d - 2, then left from d - 1 to 1; core 0 opens the next.
    order = list(range(d - 1)) + list(range(d - 1, 0, -1)) or [0]
    for _ in range(sweeps):
        before = losses[-1]
        for step, k in enumerate(order):
            _, m, n, _ = cores[k].shape
            left, right = _left(cores, k), _right(cores, k)
            h = _gram(metric, left, right, m)
            if h is not None and h.shape[0] <= LOCAL_LIMIT:
                rhs = _rhs(weighted, left, right, m, n)
                cores[k], _ = _solve_core(cores[k], h, rhs, ridge)
            if d == 1:
                continue
            if step < d - 1:
                rounding.move_right(cores, k)
            else:
                rounding.move_left(cores, k)
        losses.append(_loss(cores, target, metric))
        if not before - losses[-1] > tol * before:
            break
    return cores, losses


def _loss(cores, target, metric):
    """tr((V - T)^T A (V - T)), V reconstructed densely."""
    error = dense_numpy(cores) - target
    return float(np.sum(error * (metric @ error)))

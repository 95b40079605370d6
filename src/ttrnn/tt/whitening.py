"""Data-aware TT-SVD: TT-matrices that keep a layer's outputs, not W.

For inputs x with second moment C = E[x x^T], the output error of a
kernel approximation W_tt is E||x (W - W_tt)||^2 = ||S (W - W_tt)||_F^2
for any square root S S^T = C. Plain TT-SVD minimises ||W - W_tt||_F.

The row index of a TT-matrix is spread over all cores (i_k in core k), so
a full M x M whitening S does not map onto the cores: S^{-1} W'_tt is no
TT-matrix of the same ranks. A Kronecker-factored (K-FAC) metric does:
with C ~ C_0 (x) ... (x) C_{d-1}, S = S_0 (x) ... (x) S_{d-1} (each S_k
the symmetric square root of C_k), the TT-SVD of W' = S W at the target
ranks gives cores G'_k, and multiplying each core's i_k index by S_k^{-1}
gives exactly a TT-matrix of the same ranks whose output error (under the
Kronecker metric) is that of the TT-SVD of W'. Where C is not Kronecker
(a subspace that mixes the modes, token frequencies), `refine` lowers the
exact output error further by majorise-minimise steps, each one TT-SVD.

Everything here is NumPy float64 and runs once per layer.
"""

import numpy as np

from ttrnn.tt.decompositions import from_dense
from ttrnn.tt.rounding import dense_numpy
from ttrnn.tt.shapes import max_ranks
from ttrnn.tt.shapes import num_params

# Eigenvalues of each mode factor are lifted by RIDGE times their mean:
# directions the data never visits keep a finite (large) weight instead
# of an infinite one, so the unwhitened cores stay bounded there.
RIDGE = 1e-4


def mode_moments(x, in_shape):
    """Per-mode second moments of a batch: sum over samples and the other
    modes of X_(k) X_(k)^T, one (m_k, m_k) array per mode.

    Args:
        x: array of shape (batch, prod in_shape).
        in_shape: the input modes m_k.
    """
    t = np.asarray(x, np.float64).reshape((-1,) + tuple(in_shape))
    out = []
    for k in range(len(in_shape)):
        others = [0] + [j + 1 for j in range(len(in_shape)) if j != k]
        out.append(np.tensordot(t, t, axes=(others, others)))
    return out


def count_moments(counts, in_shape):
    """`mode_moments` of one-hot inputs: diagonal per-mode factors from
    the counts of each row (token frequencies), summed over the other
    modes."""
    t = np.asarray(counts, np.float64).reshape(tuple(in_shape))
    d = len(in_shape)
    return [
        np.diag(t.sum(axis=tuple(j for j in range(d) if j != k)))
        for k in range(d)
    ]


def kron_roots(moments, total, ridge=RIDGE):
    """Symmetric square roots S_k of the mode factors and their inverses.

    The factors are scaled so that trace(C_0 (x) ... (x) C_{d-1}) equals
    `total` = E||x||^2: whitened norms are then output norms. The
    symmetric root (rather than a Cholesky factor) is used because any
    root gives the same output error (an orthogonal change of one mode's
    basis changes no singular value of any unfolding) and the
    eigendecomposition lifts zero eigenvalues (a pixel that is always 0)
    by the ridge where Cholesky would fail.

    Returns:
        `(roots, inverses)`, two lists of (m_k, m_k) arrays.
    """
    d = len(moments)
    roots, inverses = [], []
    for c in moments:
        c = (np.asarray(c, np.float64) + np.asarray(c, np.float64).T) / 2
        trace = np.trace(c)
        if not trace > 0 or not total > 0:
            c, trace = np.eye(len(c)), len(c)
            scale = 1.0 / trace
        else:
            scale = total ** (1.0 / d) / trace
        lam, u = np.linalg.eigh(c * scale)
        lam = np.maximum(lam, 0) + ridge * max(lam.mean(), 1e-300)
        roots.append((u * np.sqrt(lam)) @ u.T)
        inverses.append((u / np.sqrt(lam)) @ u.T)
    return roots, inverses


def apply_rows(w, mats, in_shape):
    """(M_0 (x) ... (x) M_{d-1}) W for a dense W of shape (M, N)."""
    t = np.asarray(w, np.float64).reshape(tuple(in_shape) + (-1,))
    for k, m in enumerate(mats):
        t = np.moveaxis(np.tensordot(m, t, axes=(1, k)), 0, k)
    return t.reshape(np.shape(w))


def apply_modes(cores, mats):
    """The same product on TT cores: core k's i_k index times M_k."""
    return [
        np.einsum("ip,apjb->aijb", m, np.asarray(c, np.float64))
        for m, c in zip(mats, cores)
    ]


def unfolding_spectra(w, in_shape, out_shape):
    """Squared singular values (descending) of the d - 1 unfoldings of W
    in TT order ((m_0 n_0 ... m_k n_k) x rest): the energy each rank of
    each cut carries."""
    d = len(in_shape)
    perm = [ax for k in range(d) for ax in (k, d + k)]
    t = np.asarray(w, np.float64).reshape(tuple(in_shape) + tuple(out_shape))
    t = t.transpose(perm).reshape(-1)
    spectra, rows = [], 1
    for k in range(d - 1):
        rows *= in_shape[k] * out_shape[k]
        a = t.reshape(rows, -1)
        gram = a @ a.T if a.shape[0] <= a.shape[1] else a.T @ a
        spectra.append(np.maximum(np.linalg.eigvalsh(gram)[::-1], 0.0))
    return spectra


def allocate(shapes, spectra, budget, caps=None):
    """Ranks for several TT-matrices under one total weight budget.

    Greedy: from all ranks 1, repeatedly raise by one the rank of the cut
    (of any matrix) whose next squared singular value buys the most error
    per added core weight, while the total fits the budget. With spectra
    normalised per matrix, the criterion is the relative output error.

    Args:
        shapes: list of `(in_shape, out_shape)`.
        spectra: per matrix, the d - 1 arrays of `unfolding_spectra`.
        budget: the most core weights of all matrices together.
        caps: None or per matrix None or d + 1 ints capping the ranks.

    Returns:
        A list of rank tuples (d + 1 ints each, ends 1).

    Raises:
        ValueError: when even all ranks 1 exceed the budget.
    """
    caps = caps or [None] * len(shapes)
    ranks = [[1] * (len(ins) + 1) for ins, _ in shapes]
    spent = sum(num_params(i, o, r) for (i, o), r in zip(shapes, ranks))
    if spent > budget:
        raise ValueError(
            f"The budget of {budget} core weights is below the "
            f"{spent} weights of rank 1 everywhere: ask for less "
            "compression."
        )
    limits = []
    for (ins, outs), spec, cap in zip(shapes, spectra, caps):
        top = max_ranks(ins, outs)
        limits.append(
            [
                min(top[k + 1], len(s), cap[k + 1] if cap else len(s))
                for k, s in enumerate(spec)
            ]
        )
    while True:
        best, best_ratio = None, 0.0
        for j, ((ins, outs), spec) in enumerate(zip(shapes, spectra)):
            cost = num_params(ins, outs, ranks[j])
            for k, s in enumerate(spec):
                r = ranks[j][k + 1]
                if r >= limits[j][k] or not s[r] > 0:
                    continue
                trial = list(ranks[j])
                trial[k + 1] += 1
                delta = num_params(ins, outs, trial) - cost
                if spent + delta <= budget and s[r] / delta > best_ratio:
                    best, best_ratio = (j, k, delta), s[r] / delta
        if best is None:
            return [tuple(r) for r in ranks]
        j, k, delta = best
        ranks[j][k + 1] += 1
        spent += delta


def output_loss(error, metric):
    """tr(E^T A E) for a dense error E, `metric(E) = A E`."""
    return float(np.sum(error * metric(error)))


def refine(cores, target, metric, top, steps):
    """Accelerated majorise-minimise steps on tr((T - V)^T A (T - V)) over
    TT-matrices V of the cores' ranks (whitened coordinates).

    With A <= top I, the loss near a point Y is below a quadratic whose
    minimiser is Y + A (T - Y) / top; each step is the TT-SVD of that
    matrix at the same ranks (projected gradient, the "impute" step of
    weighted low-rank approximation), from a Nesterov extrapolation Y of
    the last two iterates, restarted from the last iterate when the loss
    rises (TT-SVD is quasi-optimal, not optimal). With A = I the first
    step returns the TT-SVD of T.

    Args:
        cores: start cores (the TT-SVD of T), NumPy float64.
        target: dense T of shape (M, N).
        metric: function E -> A E (A symmetric PSD).
        top: an upper bound of A's largest eigenvalue.
        steps: number of TT-SVDs.

    Returns:
        `(cores, loss)`: the best cores seen and their loss.
    """
    ins = tuple(c.shape[1] for c in cores)
    outs = tuple(c.shape[2] for c in cores)
    ranks = [c.shape[0] for c in cores] + [1]
    v = dense_numpy(cores)
    loss = output_loss(target - v, metric)
    y, t = v, 1.0
    for _ in range(steps):
        if not top > 0 or loss == 0:
            break
        trial = from_dense(y + metric(target - y) / top, ins, outs, ranks)
        v_trial = dense_numpy(trial)
        trial_loss = output_loss(target - v_trial, metric)
        if not trial_loss < loss:
            if y is v:  # a plain step that does not help: done
                break
            y, t = v, 1.0
            continue
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        y = v_trial + (t - 1) / t_next * (v_trial - v)
        cores, v, loss, t = trial, v_trial, trial_loss, t_next
    return cores, loss

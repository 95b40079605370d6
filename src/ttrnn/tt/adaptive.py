"""Rank allocation and truncation for rank-adaptive training (NumPy).

The math behind `ttrnn.callbacks.RankAdaptation` and `ttrnn.adapt_ranks`,
in NumPy float64 (it runs a few times per training run, on small cores).

A TT layer's `cores` hold one or more TT-matrices ("chains": consecutive
cores from a left rank 1 to a right rank 1; a TT-RNN in the separate gate
layout holds one per gate). For every cut of every chain, the singular
values of W's unfolding at that cut come from one TT-rounding sweep
(right-orthogonalise, then an SVD at each cut, Oseledets 2011, Alg. 2).
Dropping singular value sigma at a cut adds at most sigma^2 to
||W - W_r||_F^2, so sigma / ||W||_F is the relative error one drop costs
that TT-matrix: that is the one scale on which cuts of all layers are
compared. `allocate` drops, across the whole model, the rank whose
(sigma / ||W||_F)^2 per parameter saved is smallest until the budget
holds, then adds back the most valuable ranks that still fit.

Cores live in variables of fixed (maximal) shape: `truncate` returns the
rounded cores zero-padded to the old shapes, and the maps that carry an
optimiser's moments from the old cores to the new ones.
"""

import numpy as np

from ttrnn.tt import rounding

# Singular values below this fraction of the largest are numerically zero.
_ZERO = 1e-12


def effective_ranks(cores, groups=1):
    """The ranks of cores after dropping exactly-zero rank slices.

    Index j of the cut between cores k and k+1 counts when column j of
    core k and row j of core k+1 both hold a nonzero entry (zero-padded
    cores, as `ttrnn.callbacks.RankAdaptation` leaves them, have ranks
    below their shapes).

    Args:
        cores: list of cores (tensors or arrays) of shape
            (r_k, m_k, n_k, r_{k+1}).
        groups: the number of equal TT-matrices the list holds, one after
            the other (a TT-RNN cell in the separate gate layout holds one
            per gate: `len(cell.cores) // (len(cell.tt_ranks) - 1)`).

    Returns:
        Tuple of len(cores) // groups + 1 ints: at each cut, the largest
        effective rank over the groups.

    Raises:
        ValueError: `groups` does not divide the number of cores.

    Example:
    >>> import numpy as np
    >>> a, b = np.ones((1, 2, 2, 3)), np.ones((3, 2, 2, 1))
    >>> a[..., 2] = 0
    >>> b[2] = 0
    >>> effective_ranks([a, b])
    (1, 2, 1)
    """
    cores = [np.asarray(c) for c in cores]
    if groups < 1 or len(cores) % groups:
        raise ValueError(
            "Argument `groups` must divide the number of cores "
            f"({len(cores)}). Received: groups={groups}"
        )
    d = len(cores) // groups
    ranks = [1] * (d + 1)
    for g in range(groups):
        for k in range(1, d):
            left = cores[g * d + k - 1]
            right = cores[g * d + k]
            live = np.any(left != 0, axis=(0, 1, 2)) & np.any(
                right != 0, axis=(1, 2, 3)
            )
            ranks[k] = max(ranks[k], int(np.sum(live)))
    return tuple(ranks)


def chains(shapes):
    """Splits 4-D core shapes into TT-matrices: (start, stop) pairs."""
    bounds, start = [], 0
    for k, shape in enumerate(shapes):
        if shape[3] == 1:
            bounds.append((start, k + 1))
            start = k + 1
    return bounds


def spectra(chain):
    """Singular values at each cut of a TT-matrix, and its norm.

    Args:
        chain: list of d float arrays (r_k, m_k, n_k, r_{k+1}).

    Returns:
        (list of d - 1 descending float64 arrays, ||W||_F).
    """
    cores = [
        np.asarray(c, np.float64).reshape(c.shape[0], -1, c.shape[3])
        for c in chain
    ]
    rounding.right_orthogonalize(cores)
    norm = float(np.linalg.norm(cores[0]))
    values = []
    for k in range(len(cores) - 1):
        r, s, r_next = cores[k].shape
        u, sv, vt = np.linalg.svd(cores[k].reshape(r * s, r_next), False)
        values.append(sv)
        cores[k + 1] = np.tensordot(sv[:, None] * vt, cores[k + 1], (1, 0))
    return values, norm


def params(ranks, sizes):
    """Weights of a TT-matrix of `ranks` (d + 1) and core sizes m_k n_k."""
    return sum(ranks[k] * s * ranks[k + 1] for k, s in enumerate(sizes))


def tie(spectra_list):
    """One spectrum for TT-matrices that must keep equal ranks.

    The gates of a TT-RNN in the separate layout are G TT-matrices of one
    shape that share the layer's `tt_ranks`, so their ranks must move
    together: dropping rank index j at cut k drops it in every gate and
    costs the sum of the gates' relative squared errors there. The tied
    spectrum is sqrt(sum_g (sigma_g / ||W_g||)^2) with norm 1, on the
    scale `allocate` compares; give `allocate` the count G for it.

    Args:
        spectra_list: per TT-matrix, `spectra`'s (values, norm).

    Returns:
        (values, 1.0), as `spectra` returns.
    """
    tied = []
    for k in range(len(spectra_list[0][0])):
        length = max(len(values[k]) for values, _ in spectra_list)
        total = np.zeros(length)
        for values, norm in spectra_list:
            if norm > 0:
                total[: len(values[k])] += (values[k] / norm) ** 2
        tied.append(np.sqrt(total))
    return tied, 1.0


def allocate(
    cut_values, norms, sizes, target_params=None, eps=None, counts=None
):
    """Ranks for every cut of every TT-matrix, by one global criterion.

    Dropping the smallest kept singular value sigma at a cut costs
    (sigma / ||W||_F)^2 of relative squared error (the TT-SVD bound) and
    saves the weights of one column of the core on its left and one row
    of the core on its right. The drop with the least cost per weight
    saved goes first, across all TT-matrices, until the budget holds;
    then the ranks that still fit go back, most valuable first, so that
    no single rank can be added within the budget.

    Args:
        cut_values: per TT-matrix, the list of its d - 1 spectra
            (`spectra`).
        norms: per TT-matrix, ||W||_F.
        sizes: per TT-matrix, its d core sizes m_k n_k.
        target_params: the total weights of all TT-matrices, or None.
        eps: with no `target_params`: every TT-matrix keeps its TT-SVD
            error bound <= eps ||W||_F.
        counts: per TT-matrix, how many TT-matrices of its shape share
            its ranks (`tie`): its weights count that many times.
            Defaults to 1 each.

    Returns:
        Per TT-matrix, a list of d + 1 ranks.

    Raises:
        ValueError: a budget below the weights at rank 1 everywhere.
    """
    counts = counts or [1] * len(sizes)
    # Tied TT-matrices as one with G times the weights (the ranks' limits
    # stay those of one).
    sizes = [[s * g for s in size] for size, g in zip(sizes, counts)]
    ranks = [
        [1] + [_numerical_rank(sv) for sv in values] + [1]
        for values in cut_values
    ]
    for rank, size, g in zip(ranks, sizes, counts):
        _clamp(rank, size, g)
    floor = sum(params([1] * (len(s) + 1), s) for s in sizes)
    if target_params is not None and target_params < floor:
        raise ValueError(
            "Argument `target_params` must be at least the weights of the "
            f"TT layers at rank 1 ({floor}). Received: "
            f"target_params={target_params}"
        )
    scale = [1.0 / n**2 if n > 0 else 0.0 for n in norms]
    spent = [0.0] * len(ranks)  # relative squared error dropped so far

    def drop_cost(c, k):
        rank, size = ranks[c], sizes[c]
        saving = rank[k - 1] * size[k - 1] + size[k] * rank[k + 1]
        return cut_values[c][k - 1][rank[k] - 1] ** 2 * scale[c], saving

    total = sum(params(r, s) for r, s in zip(ranks, sizes))
    while target_params is None or total > target_params:
        best = None
        for c, rank in enumerate(ranks):
            for k in range(1, len(rank) - 1):
                if rank[k] == 1:
                    continue
                error, saving = drop_cost(c, k)
                if eps is not None and spent[c] + error > eps**2:
                    continue
                if best is None or error * best[3] < best[2] * saving:
                    best = (c, k, error, saving)
        if best is None:
            break
        c, k, error, saving = best
        ranks[c][k] -= 1
        spent[c] += error
        total -= saving
        total += _clamp(ranks[c], sizes[c], counts[c])
    if target_params is not None:
        _refill(ranks, cut_values, scale, sizes, target_params - total, counts)
    return ranks


def _numerical_rank(sv):
    if sv.size == 0 or sv[0] == 0:
        return 1
    return max(1, int(np.sum(sv > sv[0] * _ZERO)))


def _clamp(rank, size, count=1):
    """Lowers ranks no TT-matrix can use (r_k <= r_{k-1} s_{k-1} and
    <= s_k r_{k+1}, s = size / count); returns the change in weights
    (<= 0)."""
    before = params(rank, size)
    one = [s // count for s in size]
    for _ in range(2):
        for k in range(1, len(rank) - 1):
            rank[k] = min(rank[k], rank[k - 1] * one[k - 1])
        for k in range(len(rank) - 2, 0, -1):
            rank[k] = min(rank[k], one[k] * rank[k + 1])
    return params(rank, size) - before


def _refill(ranks, cut_values, scale, sizes, slack, counts):
    """Adds back single ranks that fit in `slack` weights, the largest
    (sigma / ||W||)^2 per weight first, until none fits."""
    while True:
        best = None
        for c, rank in enumerate(ranks):
            size = sizes[c]
            for k in range(1, len(rank) - 1):
                values = cut_values[c][k - 1]
                if rank[k] >= _numerical_rank(values):
                    continue
                one = [s // counts[c] for s in size]
                if rank[k] + 1 > min(
                    rank[k - 1] * one[k - 1], one[k] * rank[k + 1]
                ):
                    continue
                cost = rank[k - 1] * size[k - 1] + size[k] * rank[k + 1]
                gain = values[rank[k]] ** 2 * scale[c]
                if cost <= slack and (
                    best is None or gain * best[3] > best[2] * cost
                ):
                    best = (c, k, gain, cost)
        if best is None:
            return
        c, k, _, cost = best
        ranks[c][k] += 1
        slack -= cost


def truncate(chain, ranks, balance=True):
    """Rounds a TT-matrix to `ranks`, zero-padded to its own shapes.

    Args:
        chain: list of d arrays (R_k, m_k, n_k, R_{k+1}) (the variables).
        ranks: d + 1 ints, each <= the chain's.
        balance: scale the rounded cores to equal Frobenius norms (W is
            unchanged; TT rounding leaves all of ||W|| in the last core).

    Returns:
        (cores, maps): the d padded cores, and d + 1 matrices A_k of shape
        (R_k, r'_k) with X'_{<k} ~= X_{<k} A_k (least squares), where
        X_{<k} is the product of the first k old cores and X' that of the
        new ones. It is exact for a change of gauge and up to the first
        truncated cut. A gradient g_k of core k maps to
        A_k^T g_k pinv(A_{k+1})^T.
    """
    old = [np.asarray(c, np.float64) for c in chain]
    new = rounding.round_cores(old, max_rank=list(ranks))
    if balance:
        norms = [np.linalg.norm(c) for c in new]
        if all(n > 0 for n in norms):
            mean = np.exp(np.mean(np.log(norms)))
            new = [c * (mean / n) for c, n in zip(new, norms)]
    maps = _interface_maps(old, new)
    return rounding.pad_ranks(new, [c.shape[0] for c in old] + [1]), maps


def _interface_maps(old, new):
    """A_k = pinv(X_{<k}^T X_{<k}) X_{<k}^T X'_{<k}, by the Gram
    recursion over the cores (never forming X)."""
    gram = np.ones((1, 1))
    cross = np.ones((1, 1))
    maps = [cross]
    for a, b in zip(old[:-1], new[:-1]):
        gram = np.einsum("ab,aijc,bijd->cd", gram, a, a)
        cross = np.einsum("ab,aijc,bijd->cd", cross, a, b)
        maps.append(np.linalg.pinv(gram, rcond=1e-10, hermitian=True) @ cross)
    maps.append(np.ones((1, 1)))
    return maps


def carry_moments(moment, left, right, second=False):
    """Carries an optimiser moment of one core to the truncated core.

    A first moment (a running mean of gradients) maps as a gradient:
    A_k^T m pinv(A_{k+1})^T. A second moment (a running mean of squared
    gradients) maps by the squared coefficients, as the variance of a
    linear combination of independent entries would.

    Args:
        moment: array (R_k, m_k, n_k, R_{k+1}).
        left: A_k of shape (R_k, r'_k); right: A_{k+1} (R_{k+1}, r'_{k+1}).
        second: whether `moment` is a second moment.

    Returns:
        Array of the moment's shape, zero beyond the new ranks.
    """
    moment = np.asarray(moment, np.float64)
    right_t = np.linalg.pinv(right, rcond=1e-10).T
    if second:
        left, right_t = left**2, right_t**2
    out = np.einsum("ai,amnb,bj->imnj", left, moment, right_t)
    padded = np.zeros_like(moment)
    padded[: out.shape[0], :, :, : out.shape[3]] = out
    return padded

"""Automatic TT shapes and ranks: balanced mode factorisations, budgets.

Plain Python on ints (no tensors): choose the modes m_k, n_k of a
TT-matrix from its dense shape (M, N), and the largest ranks that fit a
parameter budget.

A dim factors *badly* into d modes when its balanced factorisation has a
mode far above the ideal size dim^(1/d) (a large prime factor, e.g.
1031): the TT layer then gains little. `balanced_modes` raises a ValueError
that names a nearby well-factorable size to pad to.
"""

import math

from ttrnn.tt import shapes

# A factorisation is bad when its largest mode exceeds both
# _BAD_RATIO * dim^(1/d) and _SMALL_MODE; a padding target must have its
# largest mode within _PAD_RATIO * dim^(1/d) (or _SMALL_MODE).
_BAD_RATIO = 2.0
_PAD_RATIO = 1.5
_SMALL_MODE = 8
# `auto_shapes` picks the smallest d whose ideal mode of the larger dim
# is at most this size.
_TARGET_MODE = 8
# Above this size, factorisations are built greedily instead of searched.
_EXHAUSTIVE_LIMIT = 10**12


def _prime_factors(n):
    """Prime factors of n with multiplicity, ascending."""
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


def _divisors(n):
    small = [k for k in range(1, math.isqrt(n) + 1) if n % k == 0]
    return sorted(set(small + [n // k for k in small]))


def _cost(modes):
    # Sum of squared log-modes: the sum of logs is fixed (log dim), so
    # this is the spread of the log-modes, smallest when balanced.
    return sum(math.log(m) ** 2 for m in modes)


def _search(n, d, divisors):
    """Most balanced non-decreasing d-tuple with product n (exhaustive)."""
    best = [None, math.inf]

    def rec(rest, k, low, prefix):
        if k == 1:
            if rest >= low:
                modes = prefix + [rest]
                cost = _cost(modes)
                if cost < best[1]:
                    best[:] = [tuple(modes), cost]
            return
        for f in divisors:
            if f < low or rest % f:
                continue
            if f**k > rest:  # f is the smallest of the k remaining modes
                break
            rec(rest // f, k - 1, f, prefix + [f])

    rec(n, d, 1, [])
    return best[0]


def _greedy(n, d):
    """Largest prime first into the currently smallest mode."""
    modes = [1] * d
    for p in sorted(_prime_factors(n), reverse=True):
        modes[modes.index(min(modes))] *= p
    return tuple(sorted(modes))


def _balanced(n, d):
    if n <= _EXHAUSTIVE_LIMIT:
        return _search(n, d, _divisors(n))
    return _greedy(n, d)


def _is_good(modes, n, d, ratio):
    ideal = n ** (1.0 / d)
    return max(modes) <= max(ratio * ideal, _SMALL_MODE)


def suggest_padding(n, d):
    """Smallest size >= n whose balanced d-mode factorisation is good.

    Good means no mode above 1.5 * size^(1/d) (or above 8).

    Example:
    >>> suggest_padding(1031, 3)
    (1040, (8, 10, 13))
    """
    n, d = shapes.check_int(n, "n", 1), shapes.check_int(d, "d", 1)
    size = n
    while True:
        modes = _balanced(size, d)
        if _is_good(modes, size, d, _PAD_RATIO):
            return size, modes
        size += 1


def balanced_modes(n, d, name="n"):
    """Balanced factorisation of n into d modes, ascending.

    Among all ways of writing n as a product of d ints (1 allowed), picks
    the one with the smallest spread of log-modes, e.g. 1024 = 4*4*8*8.

    Args:
        n: positive int, the dim to factorise.
        d: positive int, the number of modes.
        name: the argument name used in error messages.

    Returns:
        Tuple of d ints, ascending, with product n.

    Raises:
        ValueError: if the factorisation is bad (a mode above
            2 * n^(1/d) and above 8, e.g. a large prime factor). The
            message names the nearest size >= n that factors well, to pad
            the features (or units) to.

    Example:
    >>> balanced_modes(1024, 4)
    (4, 4, 8, 8)
    >>> balanced_modes(57600, 4)
    (15, 15, 16, 16)
    """
    n = shapes.check_int(n, name, 1)
    d = shapes.check_int(d, "d", 1)
    modes = _balanced(n, d)
    if not _is_good(modes, n, d, _BAD_RATIO):
        size, good = suggest_padding(n, d)
        raise ValueError(
            f"`{name}`={n} does not factor well into d={d} TT modes: its "
            f"most balanced factorisation {modes} has a mode of "
            f"{max(modes)} (prime factors {tuple(_prime_factors(n))}), so "
            f"a TT-matrix gains little. Zero-pad to {size} = "
            f"{' x '.join(map(str, good))} (or choose another d). "
            f"Received: {name}={n}, d={d}"
        )
    return modes


def choose_d(input_dim, units):
    """Number of modes for an (input_dim, units) matrix.

    The smallest d >= 2 whose ideal mode max(input_dim, units)^(1/d) is
    at most 8 (1024 -> 4 modes, 57600 -> 6), capped by the number of
    prime factors of the larger dim (no mode of 1 is forced on it) but
    never below 2.
    """
    big = max(input_dim, units)
    d = 2
    while big ** (1.0 / d) > _TARGET_MODE:
        d += 1
    return max(2, min(d, len(_prime_factors(big))))


def pair_modes(given, modes):
    """Orders `modes` against `given`: the largest mode meets the smallest.

    This balances the core sizes m_k * n_k.

    Example:
    >>> pair_modes((2, 8, 4), (3, 5, 7))
    (7, 3, 5)
    """
    order = sorted(range(len(given)), key=lambda k: given[k])
    out = [None] * len(given)
    for k, m in zip(order, sorted(modes, reverse=True)):
        out[k] = m
    return tuple(out)


def embedding_modes(output_dim, d):
    """Balanced modes of an embedding dim, the largest at the two ends.

    The end cores of a TT table carry one rank and the middle ones two,
    so a lookup (B * sum r_k n_k r_{k+1} ... multiply-adds) and the core
    weights are smallest with the small modes in the middle.

    Example:
    >>> embedding_modes(256, 3)
    (8, 4, 8)
    """
    modes = sorted(balanced_modes(output_dim, d, "output_dim"), reverse=True)
    return tuple(modes[0::2] + modes[1::2][::-1])


def _valley(pairs):
    """Largest m*n at the two ends: end cores carry one rank, not two."""
    pairs = sorted(pairs, key=lambda p: p[0] * p[1], reverse=True)
    left, right = [], []
    for k, p in enumerate(pairs):
        (left if k % 2 == 0 else right).append(p)
    return left + right[::-1]


def auto_shapes(input_dim, units, d=None):
    """Balanced TT modes for a dense (input_dim, units) matrix.

    Both dims are factorised into d balanced modes (see `balanced_modes`);
    input modes ascending meet output modes descending, so every core
    has a similar m_k * n_k, and the largest products go to the end
    cores, which carry one rank instead of two.

    Args:
        input_dim: M, the number of input features.
        units: N, the number of outputs.
        d: number of modes, or None to choose it (`choose_d`).

    Returns:
        `(tt_input_shape, tt_output_shape)`, tuples of d ints with
        products M and N.

    Raises:
        ValueError: for a dim that factors badly (see `balanced_modes`).

    Example:
    >>> auto_shapes(1024, 1024)
    ((4, 8, 8, 4), (8, 4, 4, 8))
    """
    input_dim = shapes.check_int(input_dim, "input_dim", 1)
    units = shapes.check_int(units, "units", 1)
    if d is None:
        d = choose_d(input_dim, units)
    d = shapes.check_int(d, "d", 1)
    ins = balanced_modes(input_dim, d, "input_dim")
    outs = balanced_modes(units, d, "units")
    pairs = _valley(zip(ins, outs[::-1]))
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def ranks_for_budget(
    tt_input_shape, tt_output_shape, max_params=None, compression=None
):
    """Largest near-uniform TT ranks whose cores fit a parameter budget.

    Takes the largest uniform rank r whose cores (ranks clipped to
    `max_ranks`) fit, then raises single cuts to r + 1, cheapest first,
    while the budget allows: every inner rank is r or r + 1 (or its
    `max_ranks` bound). Only core weights count (no bias).

    Args:
        tt_input_shape, tt_output_shape: the modes.
        max_params: the most core weights allowed.
        compression: alternatively, the least ratio M*N / core weights
            (max_params = floor(M*N / compression)). Give exactly one.

    Returns:
        Tuple of d + 1 ranks, each at most the largest useful rank.

    Raises:
        ValueError: if neither or both budgets are given, or even rank 1
            does not fit.

    Example:
    >>> ranks_for_budget((4, 8, 8, 4), (4, 8, 8, 4), max_params=1248)
    (1, 3, 3, 3, 1)
    """
    ins, outs = shapes.validate_modes(tt_input_shape, tt_output_shape)
    dense = math.prod(ins) * math.prod(outs)
    if (max_params is None) == (compression is None):
        raise ValueError(
            "Give exactly one of `max_params` and `compression`. "
            f"Received: max_params={max_params}, compression={compression}"
        )
    if compression is not None:
        if not compression > 0:
            raise ValueError(
                "`compression` must be > 0. "
                f"Received: compression={compression}"
            )
        budget = int(dense // compression)
    else:
        budget = shapes.check_int(max_params, "max_params", 1)
    bounds = shapes.max_ranks(ins, outs)
    d = len(ins)

    def cost(ranks):
        return shapes.num_params(ins, outs, ranks)

    def uniform(r):
        return tuple(min(r, b) for b in bounds)

    if cost(uniform(1)) > budget:
        raise ValueError(
            f"The smallest TT-matrix (rank 1) for tt_input_shape={ins}, "
            f"tt_output_shape={outs} has {cost(uniform(1))} weights, above "
            f"the budget. Received: max_params={max_params}, "
            f"compression={compression} (budget {budget} of {dense})"
        )
    r = 1
    while uniform(r + 1) != uniform(r) and cost(uniform(r + 1)) <= budget:
        r += 1
    ranks = list(uniform(r))
    # Raise single cuts by one, cheapest first, while they fit.
    cuts = [k for k in range(1, d) if ranks[k] < bounds[k]]
    extra = {}
    for k in cuts:
        trial = list(ranks)
        trial[k] += 1
        extra[k] = cost(trial) - cost(ranks)
    for k in sorted(cuts, key=lambda k: (extra[k], k)):
        trial = list(ranks)
        trial[k] += 1
        if cost(trial) <= budget:
            ranks = trial
    return tuple(ranks)

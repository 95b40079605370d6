"""Look-ahead rank allocation: a local search over the TT ranks of one
matrix under a weight budget, each candidate judged by a given loss.

The greedy allocation (`whitening.allocate`) ranks the cuts by the
spectra of one fixed (Kronecker-whitened) kernel, before the cores are
fitted in the exact output metric; it can give a cut too little (on a
Fashion-MNIST MLP: ranks 15, 13, 8, where 10, 20, 6 fit the outputs
better). The search moves weight between cuts: one cut up by one, another
down by the least that keeps the budget, then single ranks raised while
any fits; the first of these moves that lowers the loss (`judge`, e.g.
the output error after one ALS sweep) is taken, until none does.
Every candidate meets the budget the way `whitening.allocate` does: at
most `budget` weights, and no single rank more fits. Deterministic: the
moves are tried in a fixed order."""

from ttrnn.tt.shapes import max_ranks
from ttrnn.tt.shapes import num_params

# The most rank tuples judged in one search.
MAX_JUDGED = 24


def neighbours(ranks, ins, outs, budget, caps=None):
    """The rank tuples one move away from `ranks`: for each ordered pair
    of cuts (up, down), `up` raised by one, `down` lowered by the least
    that fits `budget`, then single cuts raised (cheapest first, `down`
    last) while any fits.

    Args:
        ranks: d + 1 ints (ends 1).
        ins, outs: the modes.
        budget: the most core weights.
        caps: None or d + 1 ints capping the ranks.

    Returns:
        A dict `{(up, down): tuple}` in a fixed order, without `ranks`.
    """
    top = list(max_ranks(ins, outs))
    if caps is not None:
        top = [min(t, c) for t, c in zip(top, caps)]
    cuts = range(1, len(ranks) - 1)
    found = {}
    for up in cuts:
        if ranks[up] >= top[up]:
            continue
        for down in cuts:
            if down == up:
                continue
            trial = list(ranks)
            trial[up] += 1
            while trial[down] > 1 and num_params(ins, outs, trial) > budget:
                trial[down] -= 1
            if num_params(ins, outs, trial) > budget:
                continue
            trial = tuple(_fill(trial, ins, outs, budget, top, last=down))
            if trial != tuple(ranks) and trial not in found.values():
                found[up, down] = trial
    return found


def _fill(ranks, ins, outs, budget, top, last):
    """Raises single cuts, cheapest first (`last` after all others),
    while one more fits."""
    ranks = list(ranks)
    while True:
        best = None
        for k in range(1, len(ranks) - 1):
            if ranks[k] >= top[k]:
                continue
            trial = list(ranks)
            trial[k] += 1
            cost = num_params(ins, outs, trial)
            if cost <= budget:
                key = (k == last, cost, k)
                if best is None or key < best[0]:
                    best = (key, trial)
        if best is None:
            return ranks
        ranks = best[1]


def search(starts, ins, outs, budget, judge, caps=None, most=MAX_JUDGED):
    """Local search over rank tuples from the best of `starts`.

    Each step judges the tuples one move away (`neighbours`) in turn and
    takes the first that lowers the loss, trying first the move that
    last did, then the moves raising the same cut (the search mostly
    walks one way: this judges about a third of the neighbourhood); it
    stops at a tuple none of whose neighbours is better, or after
    `most` tuples judged.

    Args:
        starts: rank tuples (d + 1 ints each) meeting the budget.
        ins, outs: the modes.
        budget: the most core weights.
        judge: `judge(ranks) -> (loss, value)`; called once per tuple.
        caps: None or d + 1 ints capping the ranks.
        most: the most tuples judged (the starts included).

    Returns:
        `(ranks, loss, value)` of the best tuple judged: its loss is at
        most that of every start.
    """
    judged = {}

    def weigh(ranks):
        if ranks not in judged:
            judged[ranks] = judge(ranks)
        return judged[ranks][0]

    best = min((tuple(r) for r in starts), key=weigh)
    last = (0, 0)
    while True:
        moves = neighbours(best, ins, outs, budget, caps)
        # The last move first, then those raising the same cut.
        order = sorted(moves, key=lambda m: (m != last, m[0] != last[0]))
        for move in order:
            if moves[move] not in judged and len(judged) >= most:
                return best, judged[best][0], judged[best][1]
            if weigh(moves[move]) < weigh(best):
                best, last = moves[move], move
                break
        else:
            break
    return best, judged[best][0], judged[best][1]

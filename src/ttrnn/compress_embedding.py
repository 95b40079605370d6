"""Data-aware compression of embeddings (`ttrnn.compress(..., data=)`).

An embedding's output error on the data is the table's error weighted by
token frequency, so its cores come from a row-weighted ALS over the seen
rows (`ttrnn.tt.weighted_als`), at near-uniform ranks within its share of
the budget. `compress_data` collects the statistics and calls these.
"""

import math

import numpy as np

from ttrnn.tt import factorize
from ttrnn.tt import shapes as tt_shapes
from ttrnn.tt import weighted_als

# Row-weighted ALS sweeps for an embedding (each one pass over the cores;
# on the text classifier of examples/ one sweep already keeps accuracy).
EMBEDDING_SWEEPS = 2


def balance(stats, ranks, budget, max_rank):
    """The greedy split, with each embedding's share of the budget (plus
    its part of what the greedy left unspent) re-spent on near-uniform
    ranks: the greedy, one rank at a time, raises a cheap first cut far
    ahead (ranks 320, 2 on the text classifier of examples/), which the
    row-weighted ALS cannot undo; uniform ranks fit its tokens."""
    spent = {
        name: tt_shapes.num_params(*stats[name].shapes[1:3], r)
        for name, r in ranks.items()
    }
    tables = [n for n in ranks if stats[n].embedding]
    left = budget - sum(spent.values())
    sizes = {n: stats[n].shapes[3] for n in tables}
    for name in tables:
        share = spent[name] + int(left * sizes[name] / sum(sizes.values()))
        _, ins, outs, _ = stats[name].shapes
        even = factorize.ranks_for_budget(ins, outs, max_params=share)
        cap = max(even) if max_rank is None else max_rank
        ranks[name] = tuple(min(r, cap) for r in even)
    return ranks


def embedding_cores(stat, ranks, options):
    """An embedding's cores by `weighted_als.fit_rows` (rows weighted by
    their token frequency: the output error of the lookups), and the
    relative output error."""
    table, ins, outs, _ = stat.shapes
    weights = stat.ids / max(stat.count, 1)
    found, loss = weighted_als.fit_rows(
        table,
        weights,
        ins,
        outs,
        max_rank=ranks,
        eps=options.eps,
        sweeps=EMBEDDING_SWEEPS,
    )
    energy = float(np.sum(weights * np.sum(table * table, 1)))
    error = math.sqrt(max(loss, 0.0) / energy) if energy else 0.0
    return found, error

"""Initialisers of gate-stacked TT kernels (the input map of a TT-GRU or
TT-LSTM with one TT-matrix per gate).

Keras' GRU and LSTM draw their (M, G N) input kernel at once, so each
gate's entries have the variance aimed at for the whole kernel (Glorot:
2 / (M + G N)). With one TT-matrix per gate ("separate" layout) that is
kept by drawing each gate's first core as the shared layout's (r_0, m_0,
G n_0, r_1) core and keeping the gate's columns, with a seed of each
gate's own.
"""

import keras


def _gate_seed(seed, gate):
    return (int(seed) + 7919 * gate) % (2**31 - 1)


def _gate_initializer(initializer, gate):
    """The TT initialiser for one gate's TT-matrix ("separate" layout).

    A seeded initialiser would draw the same cores for every gate: each
    gate gets its own seed, derived from the given one.
    """
    config = initializer.get_config()
    if gate == 0 or config.get("seed") is None:
        return initializer
    config["seed"] = _gate_seed(config["seed"], gate)
    return initializer.__class__.from_config(config)


def _reseeded(initializer, gate):
    """A Keras core initialiser with a seed of its own for `gate`.

    For TT initialisers without a seed in their config: one that hands out
    seeded (or cached) Keras initialisers would otherwise draw the same
    cores for every gate. A derived seed keeps seeded draws reproducible;
    an unseeded one gets a fresh seed. Initialisers without a `seed`
    (fixed values) are kept.
    """
    get_config = getattr(initializer, "get_config", None)
    config = get_config() if get_config is not None else {}
    if "seed" not in config:
        return initializer
    seed = config["seed"]
    if isinstance(seed, int) and not isinstance(seed, bool):
        config["seed"] = _gate_seed(seed, gate)
    else:  # None or a serialised SeedGenerator
        config["seed"] = None
    return initializer.__class__.from_config(config)


class _GateColumns(keras.initializers.Initializer):
    """One gate's columns of a core 0 drawn for all gates.

    The "separate" layout draws each gate's core 0 as the shared layout's
    (r_0, m_0, G n_0, r_1) core and keeps the gate's n_0 columns, so each
    gate's (M, units) matrix has the entry variance that the TT
    initialiser aims at for the whole (M, G units) kernel, as Keras' GRU
    and LSTM initialise theirs (Glorot: 2 / (M + G units), not
    2 / (M + units)). An initialiser that returns the gate's shape anyway
    (given values) is taken as is.
    """

    def __init__(self, initializer, num_gates, gate):
        self.initializer = initializer
        self.num_gates = num_gates
        self.gate = gate

    def __call__(self, shape, dtype=None):
        r, m, n, r_next = shape
        full = self.initializer((r, m, self.num_gates * n, r_next), dtype=dtype)
        if tuple(full.shape) == tuple(shape):
            return full
        return full[:, :, self.gate * n : (self.gate + 1) * n, :]


def gate_core_initializers(initializer, gate, num_gates, ins, outs, ranks):
    """Keras initialisers of gate `gate`'s d cores ("separate" layout).

    Each gate is drawn like the gate-expanded TT-matrix of the shared
    layout (see `_GateColumns`), from randomness of its own.

    Args:
        initializer: a `TTInitializer` aimed at the whole (M, G N) kernel.
        gate: the gate's index, 0 to `num_gates` - 1.
        num_gates: G.
        ins, outs, ranks: one gate's TT-matrix (M = prod ins, N = prod
            outs).

    Returns:
        A list of d Keras initialisers.
    """
    expanded = (num_gates * outs[0],) + tuple(outs[1:])
    gate_init = _gate_initializer(initializer, gate)
    inits = list(gate_init.core_initializers(ins, expanded, ranks))
    if gate > 0 and gate_init is initializer:
        inits = [_reseeded(init, gate) for init in inits]
    inits[0] = _GateColumns(inits[0], num_gates, gate)
    return inits

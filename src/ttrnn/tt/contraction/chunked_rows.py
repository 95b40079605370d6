"""Rows of a TT-matrix, chunk by chunk, with a hand-written backward.

`ttrnn.tt.gather_rows` computes B rows W[i] as B chains of small core
slices. Under autodiff every gathered slice, every partial product and
each of their gradients is a tensor of B rows written to fresh memory:
for a 1,000,000 x 256 table at rank 16 the gathered middle slices alone
are 16 MB, and so is their gradient, for a 4 MB output. On a CPU the
cache misses and allocations of those buffers, and the extra ops of the
autodiff graph, cost more than the multiply-adds.

Here the chain runs on a chunk of rows at a time, so a chunk's slices
stay in cache; the backward pass gathers each chunk's slices again,
recomputes its partial products and adds its slice gradients straight
into the cores' gradients (a segment sum per core), so no B-row slice
gradient is ever written. One code path for the three backends
(`keras.ops.custom_gradient` over `runtime.array_ops()`), the default on
torch only (`runtime.chunked_lookup`).

Measured (torch, one thread, 4,096 ids of a 1,000,000 x 256 table at
rank 16, forward + backward): 20-22 ms under autodiff, 17-18.4 ms here
(the same loop in pure torch: 15-16 ms; in one chunk of 4,096: 27).
"""

import math

from keras import ops as keras_ops

from ttrnn.tt.contraction import runtime

# Bytes of one chunk's gathered slices and partial products: within a
# CPU's L2 cache. Measured on the project machine (torch, one thread,
# the case above, pure-torch prototype): 256-512 rows (2-4 MiB) fastest,
# 128 or 1,024 rows 6-17 % slower, all 4,096 at once 70 % slower.
CHUNK_BYTES = 2**21


def values_per_row(out_shape, ranks, direction):
    """Values of the slices and partial products one row needs."""
    d = len(out_shape)
    slices = sum(ranks[k] * out_shape[k] * ranks[k + 1] for k in range(d))
    if direction == "rtl":
        states = sum(ranks[k] * math.prod(out_shape[k:]) for k in range(d))
    else:
        states = sum(
            math.prod(out_shape[: k + 1]) * ranks[k + 1] for k in range(d)
        )
    return slices + states


def chunk_rows(out_shape, ranks, direction, batch, itemsize=4):
    """Rows per chunk (None: one chunk of unknown size)."""
    if batch is None:
        return None
    per_row = values_per_row(out_shape, ranks, direction) * itemsize
    return int(max(1, min(batch, CHUNK_BYTES // per_row)))


def _bounds(batch, rows):
    """(start, stop) of each chunk: at most `rows` rows, sizes balanced
    (no short last chunk); one open chunk for an unknown batch."""
    if batch is None or rows is None:
        return [(None, None)]
    if batch == 0:
        return [(0, 0)]
    count = -(-batch // rows)
    size = -(-batch // count)
    return [(s, min(s + size, batch)) for s in range(0, batch, size)]


def chunked_gather_rows(cores, digits, direction, rows=None):
    """W[i] for a batch of rows given by their digits, chunk by chunk.

    Args:
        cores: list of d tensors (r_k, m_k, n_k, r_{k+1}), r_0 = r_d = 1
            (a merged table may stand for the first cores).
        digits: list of d integer tensors of shape (B,), in [0, m_k)
            (others follow `keras.ops.take` on the backend).
        direction: "rtl" (multiply the chains from the last core) or
            "ltr".
        rows: at most this many rows per chunk (a positive int); None:
            `chunk_rows` for the cores.

    Returns:
        (B, prod n_k) tensor; the gradients of the cores come from the
        hand-written backward pass (none flows to `digits`).
    """
    if rows is not None and (
        isinstance(rows, bool) or not isinstance(rows, int) or rows < 1
    ):
        raise ValueError(
            "`rows` must be a positive integer or None. "
            f"Received: rows={rows!r}"
        )
    shapes, out_shape, ranks = _modes(cores)
    batch = digits[0].shape[0]
    batch = None if batch is None else int(batch)
    if rows is None:
        rows = chunk_rows(
            out_shape, ranks, direction, batch, runtime.itemsize(cores[0])
        )
    bounds = _bounds(batch, rows)
    xp = runtime.array_ops()
    chain = _chain(direction)(xp, out_shape, ranks)
    digits = [keras_ops.convert_to_tensor(g) for g in digits]

    @keras_ops.custom_gradient
    def run(*cores):
        tables = chain.tables(cores)
        parts = []
        for s, e in bounds:
            sliced = [
                xp.take(t, g[s:e], axis=0) for t, g in zip(tables, digits)
            ]
            parts.append(chain.forward(sliced)[-1])
        out = parts[0] if len(parts) == 1 else xp.concatenate(parts, axis=0)

        def grad(*args, upstream=None):
            if upstream is None:  # JAX and TensorFlow call grad(upstream)
                (upstream,) = args
            d_tables = [xp.zeros(t.shape, t.dtype) for t in tables]
            for s, e in bounds:
                index = [g[s:e] for g in digits]
                sliced = [xp.take(t, i, axis=0) for t, i in zip(tables, index)]
                # Recomputed (in cache), not kept from the forward pass:
                # keeping them measured 15 % slower (fresh memory).
                states = chain.forward(sliced, rows_too=False)
                d_sliced = chain.backward(sliced, states, upstream[s:e])
                d_tables = [
                    _index_add(xp, d_t, i, d)
                    for d_t, i, d in zip(d_tables, index, d_sliced)
                ]
            return tuple(chain.core_grads(d_tables))

        return out, grad

    # Read variables into tensors outside the custom gradient: TensorFlow
    # rejects a tf.custom_gradient function that reads variables itself.
    return run(*[keras_ops.reshape(c, s) for c, s in zip(cores, shapes)])


def gather_rows_autodiff(cores, digits, direction):
    """The same chains, all rows at once in `keras.ops` under autodiff
    (the default on JAX and TensorFlow, whose compilers fuse them)."""
    _, out_shape, ranks = _modes(cores)
    chain = _chain(direction)(keras_ops, out_shape, ranks)
    tables = chain.tables(cores)
    sliced = [keras_ops.take(t, g, axis=0) for t, g in zip(tables, digits)]
    return chain.forward(sliced)[-1]


def _modes(cores):
    """Static core shapes, output modes and ranks (r_d = 1 appended)."""
    shapes = [tuple(int(s) for s in c.shape) for c in cores]
    return shapes, [s[2] for s in shapes], [s[0] for s in shapes] + [1]


def _chain(direction):
    if direction not in ("rtl", "ltr"):
        raise ValueError(
            f'`direction` must be "rtl" or "ltr". Received: {direction!r}'
        )
    return _Rtl if direction == "rtl" else _Ltr


def _index_add(xp, acc, indices, values):
    """acc with values[i] added at row indices[i] (in place on torch)."""
    if hasattr(xp, "index_add"):
        return xp.index_add(acc, indices, values)
    return acc + xp.segment_sum(values, indices, int(acc.shape[0]))


class _Chain:
    """The B chains of slices in one direction; the cores are kept as
    tables of shape (m_k, ...) whose row i_k is the slice at that digit.
    """

    def __init__(self, xp, out_shape, ranks):
        self.xp, self.n, self.r = xp, out_shape, ranks

    def core_grads(self, d_tables):
        """Core gradients from those of the tables (any (m_k, ...) layout)."""
        xp, n, r = self.xp, self.n, self.r
        return [
            xp.transpose(
                xp.reshape(d, (-1, r[k], n[k], r[k + 1])), (1, 0, 2, 3)
            )
            for k, d in enumerate(d_tables)
        ]


class _Rtl(_Chain):
    """From the last core: state P_k (b, r_k, prod_{j>=k} n_j).

    Tables: core k as (m_k, r_k n_k, r_{k+1}), so a gathered slice is
    one contiguous block per row, ready for the batched matmul.
    """

    def tables(self, cores):
        xp, n, r = self.xp, self.n, self.r
        return [
            xp.reshape(
                xp.transpose(c, (1, 0, 2, 3)), (-1, r[k] * n[k], r[k + 1])
            )
            for k, c in enumerate(cores)
        ]

    def forward(self, sliced, rows_too=True):
        """States P_{d-1}, ..., P_0; P_0 (b, prod n) is the rows (left
        out without `rows_too`)."""
        xp, n, r = self.xp, self.n, self.r
        d = len(n)
        state = xp.reshape(sliced[-1], (-1, r[d - 1], n[d - 1]))
        states, cols = [state], n[d - 1]
        for k in range(d - 2, -1 if rows_too else 0, -1):
            # (b, r n, r') @ (b, r', cols) -> (b, r, n cols)
            state = xp.matmul(sliced[k], state)
            cols *= n[k]
            state = xp.reshape(state, (-1, r[k], cols))
            states.append(state)
        if rows_too:
            states[-1] = xp.reshape(states[-1], (-1, cols))
        return states

    def backward(self, sliced, states, upstream):
        """Slice gradients, from the slices and the states P_{d-1}, ...,
        P_1 of `forward` (without the rows)."""
        xp, n, r = self.xp, self.n, self.r
        d = len(n)
        states = [None] + states[::-1]  # indexed by k
        d_state = upstream
        d_sliced = []
        cols = math.prod(n)
        for k in range(d - 1):
            cols //= n[k]
            d_state = xp.reshape(d_state, (-1, r[k] * n[k], cols))
            nxt = states[k + 1]  # (b, r', cols)
            d_sliced.append(xp.matmul(d_state, xp.transpose(nxt, (0, 2, 1))))
            d_state = xp.matmul(xp.transpose(sliced[k], (0, 2, 1)), d_state)
        d_sliced.append(xp.reshape(d_state, (-1, r[d - 1] * n[d - 1], 1)))
        return d_sliced


class _Ltr(_Chain):
    """From the first core: state Q_k (b, prod_{j<=k} n_j, r_{k+1}).

    Tables: core k as (m_k, r_k, n_k r_{k+1}).
    """

    def tables(self, cores):
        xp, n, r = self.xp, self.n, self.r
        return [
            xp.reshape(
                xp.transpose(c, (1, 0, 2, 3)), (-1, r[k], n[k] * r[k + 1])
            )
            for k, c in enumerate(cores)
        ]

    def forward(self, sliced, rows_too=True):
        """States Q_0, ..., Q_{d-1}; Q_{d-1} (b, prod n) is the rows (left
        out without `rows_too`)."""
        xp, n, r = self.xp, self.n, self.r
        d = len(n)
        state = xp.reshape(sliced[0], (-1, n[0], r[1]))
        states, cols = [state], n[0]
        for k in range(1, d if rows_too else d - 1):
            # (b, cols, r) @ (b, r, n r') -> (b, cols n, r')
            state = xp.matmul(state, sliced[k])
            cols *= n[k]
            state = xp.reshape(state, (-1, cols, r[k + 1]))
            states.append(state)
        if rows_too:
            states[-1] = xp.reshape(states[-1], (-1, cols))
        return states

    def backward(self, sliced, states, upstream):
        """Slice gradients, from the slices and the states Q_0, ...,
        Q_{d-2} of `forward` (without the rows)."""
        xp, n, r = self.xp, self.n, self.r
        d = len(n)
        d_state = upstream
        d_sliced = [None] * d
        cols = math.prod(n)
        for k in range(d - 1, 0, -1):
            cols //= n[k]
            d_state = xp.reshape(d_state, (-1, cols, n[k] * r[k + 1]))
            prev = states[k - 1]  # (b, cols, r)
            d_sliced[k] = xp.matmul(xp.transpose(prev, (0, 2, 1)), d_state)
            d_state = xp.matmul(d_state, xp.transpose(sliced[k], (0, 2, 1)))
        d_sliced[0] = xp.reshape(d_state, (-1, 1, n[0] * r[1]))
        return d_sliced

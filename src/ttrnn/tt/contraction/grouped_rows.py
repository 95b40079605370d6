"""Rows of a TT-matrix with the largest core's products grouped by digit.

`ttrnn.tt.gather_rows` multiplies B chains of core slices. On the
"chunked" and "autodiff" paths every product is a batched matmul of B
tiny matrices (for 1,000,000 x 256 at rank 16: (64 x 16) @ (16 x 8) and
(8 x 16) @ (16 x 32)), run at a few GFLOP/s on a CPU, and the largest
core's slices are gathered B times (16 MB) and their gradients scattered
back (16 MB more).

Here the rows are sorted by their digit at one core g (the one of the
largest slices, never the first), and cut into chunks of P rows that
share that digit. Each chunk's product with core g is then one ordinary
GEMM, (P * prod_{k<g} n_k, r_g) @ (r_g, n_g r_{g+1}), against the core's
slice itself: B / P + m_g GEMMs of P times more rows each, and that
core's slices are gathered once per chunk, not per row (its gradient is
a GEMM per chunk and a scatter of B / P + m_g slices). The other cores
run per row in the chunks' order; the rows are gathered back to the
ids' order at the end.

Every shape is static (chunks of P rows, at most floor(B / P) + m_g of
them, unused ones computed and discarded), so the same code runs under
`jax.jit` and `tf.function`, and skewed ids (a digit shared by most
rows) cost no more than uniform ones: at most B + m_g P chunk rows
whatever the ids. Gradients come from the backend's autodiff.
"""

import math

from keras import ops

from ttrnn.tt.contraction.chunked_rows import gather_rows_autodiff

# Chunks per digit of the grouping core for uniform ids: P = ceil(B /
# (CHUNKS_PER_DIGIT m_g)) rows a chunk, at most B + m_g P chunk rows
# (1.13 B), each chunk's GEMM P * prod_{k<g} n_k rows tall. Measured
# (torch, one thread, 1,000,000 x 256 at rank 16, 4,096 ids, forward +
# backward, CPU time under load 6): 1 chunk a digit (P = 41) 28.7 ms,
# 2: 25.6, 4: 25.3, 8: 25.4, 16: 26.0 (rows gathered after core g);
# gathering the rows at the end instead, 4: 20.4, 8: 20.0, 16: 20.6.
CHUNKS_PER_DIGIT = 8


def group_core(core_shapes):
    """The core whose digit groups the rows: of the cores after the
    first, the one with the largest slice r_k n_k r_{k+1} (the first of
    equals); None for a single core."""
    sizes = [s[0] * s[2] * s[3] for s in core_shapes]
    if len(sizes) < 2:
        return None
    return max(range(1, len(sizes)), key=lambda k: (sizes[k], -k))


# Rows a chunk needs before a compiling backend off the CPU (where
# nothing is timed) takes the path.
MIN_CHUNK_ROWS = 4


def rows_per_chunk(batch, modes):
    """P, the rows of a chunk, for B rows and m_g digits."""
    return max(1, -(-batch // (CHUNKS_PER_DIGIT * modes)))


def grouping_can_pay(core_shapes, batch):
    """Whether the grouped path can beat the others at all: there is a
    core to group by and chunks hold at least 2 rows. With one row a
    chunk its GEMMs are the per-row products of the other paths, plus
    the sort and up to m_g unused chunks; so "auto" times it only here.
    """
    g = group_core(core_shapes)
    if g is None or batch is None:
        return False
    return rows_per_chunk(int(batch), core_shapes[g][1]) >= 2


def grouping_pays(core_shapes, batch):
    """Whether JAX and TensorFlow take the grouped path where the paths
    are not timed (a device other than the CPU): the grouping core has
    the largest slice (the gather it saves) and chunks of at least
    `MIN_CHUNK_ROWS` rows. On a CPU `ttrnn.tt.lookup_path` times it.

    Measured on the project's Xeon (one thread, forward + backward
    compiled, load 6-8, ms, autodiff -> grouped): 1,000,000 x 256 at
    rank 16, 4,096 ids: JAX 86-126 -> 41-54, TensorFlow 66-72 -> 48-52
    (P = 6); 1,024 ids (P = 2): JAX 5.5 -> 5.4, TensorFlow 13.6 -> 14.5;
    256 ids (P = 1): 1.5 -> 1.9 and 3.6 -> 4.6. 100,000 x 256 at rank 34
    (the first two cores merged, whose slices are the largest), 4,096
    ids: JAX 158 -> 141, TensorFlow 59 -> 69.
    """
    g = group_core(core_shapes)
    if g is None or batch is None:
        return False
    sizes = [s[0] * s[2] * s[3] for s in core_shapes]
    per = rows_per_chunk(int(batch), core_shapes[g][1])
    return sizes[g] == max(sizes) and per >= MIN_CHUNK_ROWS


def chunk_layout(digit, modes, batch):
    """Where each row goes in chunks of rows sharing `digit`.

    Args:
        digit: integer tensor (B,), entries in [0, modes).
        modes: the core's number of digits m_g.
        batch: B (a static int).

    Returns:
        (rows_per_chunk P, chunks C, chunk_digit (C,): each chunk's digit,
        source (C * P,): the row each chunk position holds (any row for
        an unused position), slot (B,): each row's chunk position).
    """
    per = rows_per_chunk(batch, modes)
    chunks = batch // per + min(modes, batch)
    digit = ops.cast(digit, "int32")
    order = ops.cast(ops.argsort(digit), "int32")
    ranked = ops.take(digit, order)  # digits in sorted order
    # Each digit's rows in sorted order (static shapes, unlike bincount).
    every = ops.arange(modes, dtype="int32")
    group_start = ops.cast(ops.searchsorted(ranked, every, "left"), "int32")
    group_end = ops.cast(ops.searchsorted(ranked, every, "right"), "int32")
    counts = group_end - group_start
    group_chunks = (counts + per - 1) // per
    chunk_end = ops.cumsum(group_chunks)
    chunk_start = chunk_end - group_chunks
    # Row at sorted position p: its rank in its group, then its slot.
    rank = ops.arange(batch, dtype="int32") - ops.take(group_start, ranked)
    chunk = ops.take(chunk_start, ranked) + rank // per
    slot_sorted = chunk * per + rank % per
    slot = ops.take(slot_sorted, ops.argsort(order))
    # Chunk c belongs to the digit whose chunks end after it.
    ends = ops.arange(chunks, dtype="int32")
    chunk_digit = ops.searchsorted(chunk_end, ends, side="right")
    chunk_digit = ops.minimum(ops.cast(chunk_digit, "int32"), modes - 1)
    # Position q of chunk c: sorted position start + (c - first c) P + q.
    position = ops.arange(chunks * per, dtype="int32")
    c, q = position // per, position % per
    c_digit = ops.take(chunk_digit, c)
    sorted_pos = (
        ops.take(group_start, c_digit)
        + (c - ops.take(chunk_start, c_digit)) * per
        + q
    )
    source = ops.take(order, ops.minimum(sorted_pos, batch - 1))
    return per, chunks, chunk_digit, source, slot


def grouped_gather_rows(cores, digits, direction=None):
    """W[i] for a batch of rows given by their digits, with the products
    of one core (`group_core`) grouped by its digit into plain GEMMs.

    Args:
        cores: list of d tensors (r_k, m_k, n_k, r_{k+1}), r_0 = r_d = 1
            (a merged table may stand for the first cores).
        digits: list of d integer tensors of shape (B,) with a static B,
            in [0, m_k) (others follow `keras.ops.take` on the backend;
            the grouping core's digits must be in range).
        direction: unused (the chains run from the first core); accepted
            for the other paths' signature.

    Returns:
        (B, prod n_k) tensor, differentiable in the cores. With a
        single core, or a B unknown while tracing, the rows come from
        the autodiff path (`gather_rows_autodiff`).
    """
    del direction
    shapes = [tuple(int(s) for s in c.shape) for c in cores]
    g = group_core(shapes)
    batch = digits[0].shape[0]
    if g is None or batch is None or int(batch) == 0:
        return gather_rows_autodiff(cores, digits, "ltr")
    batch = int(batch)
    n = [s[2] for s in shapes]
    r = [s[0] for s in shapes] + [1]
    # Tables (m_k, r_k, n_k r_{k+1}): row i_k is the slice at that digit.
    tables = [
        ops.reshape(ops.transpose(c, (1, 0, 2, 3)), (s[1], s[0], -1))
        for c, s in zip(cores, shapes)
    ]
    per, chunks, chunk_digit, source, slot = chunk_layout(
        digits[g], shapes[g][1], batch
    )
    # Every core runs per chunk position (rows in the chunks' order);
    # the rows are put back in the ids' order last, the smallest tensor.
    state = ops.take(tables[0], ops.take(digits[0], source), axis=0)
    cols = n[0]
    for k in range(1, len(cores)):
        if k == g:
            # One GEMM per chunk against the chunk's shared slice.
            state = ops.reshape(state, (chunks, per * cols, r[k]))
            sliced = ops.take(tables[k], chunk_digit, axis=0)
        else:
            state = ops.reshape(state, (chunks * per, cols, r[k]))
            sliced = ops.take(tables[k], ops.take(digits[k], source), axis=0)
        state = ops.matmul(state, sliced)
        cols *= n[k]
    # (A 3-d gather: torch differentiates a 2-d one as an embedding, by a
    # sort, several times slower.)
    state = ops.take(ops.reshape(state, (chunks * per, 1, cols)), slot, axis=0)
    return ops.reshape(state, (-1, math.prod(n)))

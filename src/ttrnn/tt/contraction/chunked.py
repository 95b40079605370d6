"""Two-step TT contraction run chunk by chunk, with a hand-written backward.

A plan with two (merged) cores, G1 of shape (1, M1, N1, r) and G2 of
shape (r, M2, N2, 1), computes y = x @ W in two GEMM steps through an
intermediate state of B * N1 * r * M2 values ("ltr") or B * M1 * r * N2
values ("rtl"). For square modes that state is r times bigger than the
output (case D of the benchmarks: 134 MB for an 8 MB output): autodiff
writes it to fresh memory in the forward pass, keeps it for the backward
pass and writes its gradient too. On a CPU the page faults and cache
misses of those buffers, not the multiply-adds, then set the speed.

Here both steps run on a chunk of rows at a time, so the state of one
chunk stays in cache, and the backward pass recomputes each chunk's
state (one extra first-step GEMM) instead of storing it. Training memory
for the layer drops from O(B N1 r M2) to O(chunk N1 r M2).

One code path for the three backends: `keras.ops.custom_gradient`, with
the kernel written against `runtime.array_ops()` (`keras.ops` itself on
JAX and TensorFlow, where the graph is compiled; on torch the same few
functions called directly, since eager `keras.ops` calls cost more than
the GEMMs of a small chunk).
"""

import math

from keras import ops as keras_ops

from ttrnn.tt.contraction import kernels
from ttrnn.tt.contraction import runtime

# Bytes of one chunk's intermediate state: small enough to stay in a
# CPU's L2/L3 cache, big enough that per-chunk op overheads stay small.
# Measured on the project machine (torch, one thread): cases A and D of
# the benchmarks are fastest between 0.5 and 2 MiB.
CHUNK_BYTES = 2**20


def chunk_rows(state_per_row, batch_size, itemsize=4):
    """Rows per chunk for a state of `state_per_row` values per row.

    Args:
        state_per_row: values of the intermediate state per row of x.
        batch_size: rows of x (None: unknown, one chunk).
        itemsize: bytes per value.

    Returns:
        int rows per chunk, or None for one chunk of unknown size.
    """
    if batch_size is None:
        return None
    rows = max(1, CHUNK_BYTES // max(1, state_per_row * itemsize))
    return int(max(1, min(rows, batch_size)))


def state_per_row(direction, merged_shapes):
    """Values of the intermediate state per row of x."""
    (_, m1, n1, r), (_, m2, n2, _) = merged_shapes
    return n1 * r * m2 if direction == "ltr" else m1 * r * n2


def _bounds(batch, rows):
    """(start, stop) of each chunk; one open chunk for an unknown batch."""
    if batch is None or rows is None:
        return [(None, None)]
    if batch == 0:
        return [(0, 0)]
    return [(s, min(s + rows, batch)) for s in range(0, batch, rows)]


def _size(start, stop):
    return None if start is None else stop - start


def _batch_sum_matmul(xp, a, b):
    """sum_p a[p] @ b[p] for (P, i, k) and (P, k, j)."""
    return xp.sum(xp.matmul(a, b), axis=0)


def two_step_matmul(x2, group1, group2, direction):
    """y = x2 @ W for W given by two groups of cores, chunked over rows.

    The cores of each group are merged inside the custom gradient (and
    their gradients split by hand), so autodiff sees one op: on torch
    that saves ~0.6 ms of eager op and autograd overhead per step on
    case A of the benchmarks.

    Args:
        x2: (B, M1 * M2) tensor.
        group1: the first cores, merging to (1, M1, N1, r).
        group2: the last cores, merging to (r, M2, N2, 1).
        direction: "ltr" (contract the first group first) or "rtl".

    Returns:
        (B, N1 * N2) tensor; its gradients with respect to x2 and every
        core come from the hand-written backward pass.
    """
    shapes1 = [tuple(int(s) for s in c.shape) for c in group1]
    shapes2 = [tuple(int(s) for s in c.shape) for c in group2]
    m1, n1 = math.prod(s[1] for s in shapes1), math.prod(s[2] for s in shapes1)
    m2, n2 = math.prod(s[1] for s in shapes2), math.prod(s[2] for s in shapes2)
    r = shapes2[0][0]
    merged = ((1, m1, n1, r), (r, m2, n2, 1))
    batch = x2.shape[0]
    batch = None if batch is None else int(batch)
    rows = chunk_rows(
        state_per_row(direction, merged), batch, runtime.itemsize(x2)
    )
    bounds = _bounds(batch, rows)
    need_dx = runtime.needs_gradient(x2)
    kernel_cls = _Ltr if direction == "ltr" else _Rtl
    kernel = kernel_cls(m1, n1, r, m2, n2, runtime.array_ops())
    xp = kernel.xp
    k = len(group1)

    @keras_ops.custom_gradient
    def run(x, *cores):
        g1, saved1 = kernels.merge_cores(xp, cores[:k])
        g2, saved2 = kernels.merge_cores(xp, cores[k:])
        a1, a2 = kernel.operands(g1, g2)
        ys = [kernel.forward(x[s:e], a1, a2, _size(s, e)) for s, e in bounds]
        y = ys[0] if len(ys) == 1 else xp.concatenate(ys, axis=0)

        def grad(*args, upstream=None):
            if upstream is None:  # JAX and TensorFlow call grad(upstream)
                (upstream,) = args
            da1 = da2 = None
            dxs = []
            for s, e in bounds:
                dx, d1, d2 = kernel.backward(
                    x[s:e], upstream[s:e], a1, a2, _size(s, e), need_dx
                )
                da1 = d1 if da1 is None else da1 + d1
                da2 = d2 if da2 is None else da2 + d2
                dxs.append(dx)
            dg1, dg2 = kernel.operand_grads(da1, da2)
            dcores = kernels.merge_cores_backward(xp, saved1, dg1)
            dcores += kernels.merge_cores_backward(xp, saved2, dg2)
            if not need_dx:  # torch only: x needs no gradient
                return (None, *dcores)
            dx = dxs[0] if len(dxs) == 1 else xp.concatenate(dxs, axis=0)
            return (dx, *dcores)

        return y, grad

    # Read variables into tensors outside the custom gradient: TensorFlow
    # rejects a tf.custom_gradient function that reads variables itself.
    cores = [
        keras_ops.reshape(c, shape)
        for c, shape in zip((*group1, *group2), (*shapes1, *shapes2))
    ]
    return run(x2, *cores)


class _TwoStepKernel:
    """The sizes of a two-step kernel: x (b, M1 M2) @ W (M1 M2, N1 N2),
    W the product of G1 (1, M1, N1, r) and G2 (r, M2, N2, 1); `xp` the
    array ops (`runtime.array_ops()`)."""

    def __init__(self, m1, n1, r, m2, n2, xp):
        self.m1, self.n1, self.r, self.m2, self.n2 = m1, n1, r, m2, n2
        self.sizes = (m1, n1, r, m2, n2)
        self.xp = xp


class _Ltr(_TwoStepKernel):
    """G1 first: state t (b, N1 r, M2), then one GEMM with G2.

    Operands: a1 = (N1 r, M1), G1 as the left factor shared by all rows;
    a2 = (r M2, N2), G2 as a plain right factor.
    """

    def operands(self, g1, g2):
        xp, (m1, n1, r, m2, n2) = self.xp, self.sizes
        # g1 (1, M1, N1, r) -> (N1, r, M1) -> (N1 r, M1)
        a1 = xp.reshape(xp.transpose(g1, (2, 3, 1, 0)), (n1 * r, m1))
        a2 = xp.reshape(g2, (r * m2, n2))
        return a1, a2

    def operand_grads(self, da1, da2):
        xp, (m1, n1, r, m2, n2) = self.xp, self.sizes
        dg1 = xp.transpose(xp.reshape(da1, (n1, r, m1, 1)), (3, 2, 0, 1))
        return dg1, xp.reshape(da2, (r, m2, n2, 1))

    def _state(self, x, a1, b):
        x3 = self.xp.reshape(x, (-1, self.m1, self.m2))
        return x3, kernels.shared_matmul(self.xp, a1, x3, b)  # (b, N1 r, M2)

    def forward(self, x, a1, a2, b):
        xp = self.xp
        _, t = self._state(x, a1, b)
        y = xp.matmul(xp.reshape(t, (-1, self.r * self.m2)), a2)
        return xp.reshape(y, (-1, self.n1 * self.n2))

    def backward(self, x, g, a1, a2, b, need_dx):
        xp, n1, r, m2, n2 = self.xp, self.n1, self.r, self.m2, self.n2
        x3, t = self._state(x, a1, b)  # recomputed, not stored
        g2 = xp.reshape(g, (-1, n2))  # (b N1, N2)
        da2 = xp.matmul(xp.transpose(xp.reshape(t, (-1, r * m2))), g2)
        dt = xp.reshape(xp.matmul(g2, xp.transpose(a2)), (-1, n1 * r, m2))
        da1 = _batch_sum_matmul(xp, dt, xp.transpose(x3, (0, 2, 1)))
        dx = None
        if need_dx:
            dx = kernels.shared_matmul(
                xp, xp.transpose(a1), dt, b
            )  # (b, M1, M2)
            dx = xp.reshape(dx, (-1, self.m1 * m2))
        return dx, da1, da2


class _Rtl(_TwoStepKernel):
    """G2 first: state u (b, M1 r, N2) from one GEMM on x as it lies.

    Operands: a1 = (N1, M1 r), G1 as the left factor shared by all rows;
    a2 = (M2, r N2), G2 as a plain right factor.
    """

    def operands(self, g1, g2):
        xp, (m1, n1, r, m2, n2) = self.xp, self.sizes
        # g1 (1, M1, N1, r) -> (N1, M1, r); g2 (r, M2, N2, 1) -> (M2, r, N2)
        a1 = xp.reshape(xp.transpose(g1, (2, 1, 3, 0)), (n1, m1 * r))
        a2 = xp.reshape(xp.transpose(g2, (1, 0, 2, 3)), (m2, r * n2))
        return a1, a2

    def operand_grads(self, da1, da2):
        xp, (m1, n1, r, m2, n2) = self.xp, self.sizes
        dg1 = xp.transpose(xp.reshape(da1, (n1, m1, r, 1)), (3, 1, 0, 2))
        dg2 = xp.transpose(xp.reshape(da2, (m2, r, n2, 1)), (1, 0, 2, 3))
        return dg1, dg2

    def _state(self, x, a2):
        rows = self.xp.reshape(x, (-1, self.m2))  # (b M1, M2), no copy
        return rows, self.xp.matmul(rows, a2)  # (b M1, r N2)

    def forward(self, x, a1, a2, b):
        xp = self.xp
        _, u = self._state(x, a2)
        u = xp.reshape(u, (-1, self.m1 * self.r, self.n2))
        y = kernels.shared_matmul(xp, a1, u, b)  # (b, N1, N2)
        return xp.reshape(y, (-1, self.n1 * self.n2))

    def backward(self, x, g, a1, a2, b, need_dx):
        xp, m1, r, n2 = self.xp, self.m1, self.r, self.n2
        rows, u = self._state(x, a2)  # recomputed, not stored
        u = xp.reshape(u, (-1, m1 * r, n2))
        g3 = xp.reshape(g, (-1, self.n1, n2))
        da1 = _batch_sum_matmul(xp, g3, xp.transpose(u, (0, 2, 1)))
        du = kernels.shared_matmul(xp, xp.transpose(a1), g3, b)  # (b, M1 r, N2)
        du = xp.reshape(du, (-1, r * n2))  # (b M1, r N2)
        da2 = xp.matmul(xp.transpose(rows), du)
        dx = None
        if need_dx:
            dx = xp.matmul(du, xp.transpose(a2))  # (b M1, M2)
            dx = xp.reshape(dx, (-1, m1 * self.m2))
        return dx, da1, da2

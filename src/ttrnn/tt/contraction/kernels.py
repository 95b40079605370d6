"""Contraction steps shared by the sweeps of `execute` and `chunked`.

Each takes the array namespace `xp` it runs on: `keras.ops` (autodiff
sees every op) or `backend.array_ops()` inside a custom gradient.
"""


def shared_matmul(xp, left, state, batch):
    """(a, b) @ (P, b, Q) -> (P, a, Q), the left matrix shared by all P.

    The explicit broadcast makes every backend run one strided batched
    GEMM (no copy of the state); torch would otherwise fold the batch
    into a transposed copy of the state when `left` needs a gradient.
    With P = 1 the result is the 2-D (a, Q); callers reshape it.
    """
    shape = tuple(left.shape)
    if batch == 1:
        return xp.matmul(left, xp.reshape(state, (shape[1], -1)))
    if batch is None:  # dynamic batch: let the backend broadcast
        return xp.matmul(left, state)
    return xp.matmul(xp.broadcast_to(left[None], (batch,) + shape), state)


def merge_cores(xp, cores):
    """Merges neighbouring cores into one (r_a, prod m, prod n, r_b) core.

    Complexity: like `ttrnn.tt.to_dense` restricted to the group.

    Returns:
        (merged core, saved factors for `merge_cores_backward`).
    """
    res = cores[0]
    r0, rows, cols, r = (int(s) for s in res.shape)
    saved = []
    for core in cores[1:]:
        _, m, n, r_next = (int(s) for s in core.shape)
        # (r0 rows cols, r) @ (r, m n r') -> (r0, rows, cols, m, n r')
        left = xp.reshape(res, (r0 * rows * cols, r))
        right = xp.reshape(core, (r, m * n * r_next))
        saved.append((left, right, (r0, rows, cols, r, m, n, r_next)))
        res = xp.reshape(xp.matmul(left, right), (r0, rows, cols, m, -1))
        # -> (r0, rows, m, cols, n r'): rows (i_<k, i_k), cols (j_<k, j_k)
        res = xp.transpose(res, (0, 1, 3, 2, 4))
        rows, cols, r = rows * m, cols * n, r_next
        res = xp.reshape(res, (r0, rows, cols, r))
    return res, saved


def merge_cores_backward(xp, saved, d_merged):
    """Gradients of the merged cores, first core first."""
    grads = []
    d_res = d_merged
    for left, right, shape in reversed(saved):
        r0, rows, cols, r, m, n, r_next = shape
        d_prod = xp.reshape(d_res, (r0, rows, m, cols, n * r_next))
        d_prod = xp.transpose(d_prod, (0, 1, 3, 2, 4))
        d_prod = xp.reshape(d_prod, (r0 * rows * cols, m * n * r_next))
        d_right = xp.matmul(xp.transpose(left), d_prod)
        grads.append(xp.reshape(d_right, (r, m, n, r_next)))
        d_res = xp.reshape(
            xp.matmul(d_prod, xp.transpose(right)), (r0, rows, cols, r)
        )
    grads.append(d_res)
    return grads[::-1]

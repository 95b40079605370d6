"""A TT convolution in the kernel layout (TensorLy-Torch's form).

The kernel's own modes are the TT: d channel cores (r, c_k, 1, r'), a kh
core (r, kh, 1, r'), a kw core (r, kw, 1, r') and d filter cores
(r, 1, f_k, r'): the TT-matrix of input modes (c_1, ..., c_d, kh, kw,
1, ..., 1) and output modes (1, ..., 1, 1, 1, f_1, ..., f_d), whose
dense (C kh kw, F) matrix has rows (c, y, x), as in the channel layout
(`conv.conv_kernel` rebuilds both). The "chain" path runs it as four
small convolutions: 1x1 from C to r_a (the channel cores' (C, r_a)
matrix), kh x 1 from r_a to r_h, 1 x kw from r_h to r_w, and 1x1 from
r_w to F (the filter cores' (r_w, F) matrix); "dense" rebuilds K.
"""

import math

from keras import ops

from ttrnn.tt.contraction.conv import conv_kernel
from ttrnn.tt.contraction.conv import conv_output_length

KERNEL_PATHS = ("auto", "chain", "dense")


def chain_factors(cores):
    """The chain's four factors of the 2 d + 2 kernel-layout cores.

    Returns:
        (U, H, W, V): U (C, r_a), the channel cores' product; H the
        (kh, 1, r_a, r_h) and W the (1, kw, r_h, r_w) conv kernels; V
        (r_w, F), the filter cores' product (channels and filters in the
        modes' C order).
    """
    d = (len(cores) - 2) // 2
    u = None
    for core in cores[:d]:  # (r, c, 1, r') -> (C so far, r')
        r_prev, c, _, rank = ops.shape(core)
        core = ops.reshape(core, (r_prev, c * rank))
        u = core if u is None else ops.matmul(u, core)
        u = ops.reshape(u, (-1, rank))
    v = None
    for core in reversed(cores[d + 2 :]):  # (r, 1, f, r') -> (r, F so far)
        r_prev, _, f, rank = ops.shape(core)
        core = ops.reshape(core, (r_prev * f, rank))
        v = core if v is None else ops.matmul(core, v)
        v = ops.reshape(v, (r_prev, -1))
    h = ops.transpose(cores[d], (1, 2, 0, 3))  # (kh, 1, r_a, r_h)
    w = ops.transpose(cores[d + 1], (2, 1, 0, 3))  # (1, kw, r_h, r_w)
    return u, h, w, v


def chain_conv(x, cores, geometry):
    """conv2d(x, K) for the kernel-layout TT kernel K of `cores`, by the
    chain 1x1 - kh x 1 - 1 x kw - 1x1 (no bias), in `geometry`'s data
    format. Zero padding and the 1x1 maps commute, so "same" padding of
    each axis in its own step equals that of the whole kernel."""
    u, h, w, v = chain_factors(cores)
    (sh, sw), (dh, dw) = geometry.strides, geometry.dilation_rate
    pad = geometry.padding
    # The steps between the 1x1s run channels last: channels first, the
    # first 1x1 writes its output so, and the last reads it so, as
    # batched matmuls of transposed views (no copies; oneDNN's and
    # TensorFlow's CPU convs take channels last natively).
    if geometry.channels_first:
        batch, channels, rows, cols = ops.shape(x)
        x = ops.transpose(ops.reshape(x, (batch, channels, -1)), (0, 2, 1))
        x = ops.matmul(x, _batched(u, batch))  # (B, H W, r)
        x = ops.reshape(x, (batch, rows, cols, ops.shape(u)[1]))
    else:
        x = ops.matmul(x, u)
    x = ops.conv(x, h, (sh, 1), pad, "channels_last", dilation_rate=(dh, 1))
    x = ops.conv(x, w, (1, sw), pad, "channels_last", dilation_rate=(1, dw))
    if not geometry.channels_first:
        return ops.matmul(x, v)
    batch, rows, cols, rank = ops.shape(x)
    x = ops.transpose(ops.reshape(x, (batch, -1, rank)), (0, 2, 1))
    y = ops.matmul(_batched(ops.transpose(v), batch), x)  # (B, F, H W)
    return ops.reshape(y, (batch, ops.shape(v)[1], rows, cols))


def _batched(matrix, batch):
    """`matrix` broadcast to (batch, *shape): a 3-D @ 3-D matmul is a
    batched one on every backend (torch folds 3-D @ 2-D into one 2-D
    product, copying a transposed view)."""
    return ops.broadcast_to(matrix, (batch, *ops.shape(matrix)))


def kernel_tt_conv(x, cores, geometry, path="chain"):
    """The kernel-layout TT conv on `path` ("chain" or "dense")."""
    if path == "dense":
        kernel = conv_kernel(cores, geometry.kernel_size)
        return ops.conv(x, kernel, **geometry.conv_args())
    return chain_conv(x, cores, geometry)


def chain_macs(modes, geometry, input_shape):
    """Forward multiply-adds of (the chain, the dense conv) for one
    `input_shape` (a known batch and sides), `modes` = (tt_input_shape,
    tt_output_shape, tt_ranks) of the kernel layout."""
    ins, outs, ranks = modes
    d = len(ins)
    channels, filters = math.prod(ins), math.prod(outs)
    r_a, r_h, r_w = ranks[d], ranks[d + 1], ranks[d + 2]
    batch = input_shape[0]
    rows, cols = geometry.sides(input_shape)
    kh, kw = geometry.kernel_size
    lengths = [
        conv_output_length(n, k, s, r, geometry.padding)
        for n, k, s, r in zip(
            (rows, cols),
            geometry.kernel_size,
            geometry.strides,
            geometry.dilation_rate,
        )
    ]
    out = batch * lengths[0] * lengths[1]
    chain = (
        batch * rows * cols * channels * r_a
        + batch * lengths[0] * cols * kh * r_a * r_h
        + out * (kw * r_h * r_w + r_w * filters)
    )
    rebuild = channels * kh * kw * filters * max(ranks)  # about
    return chain, out * kh * kw * channels * filters + rebuild


def kernel_path(modes, geometry, input_shape, strategy="auto", side=32):
    """The path of a kernel-layout TT conv for an input shape: "chain" or
    "dense" as `strategy` says; "auto" takes the one of fewer forward
    multiply-adds (unknown batch: 1; unknown sides: `side`)."""
    if strategy != "auto":
        return strategy
    shape = [1 if input_shape[0] is None else input_shape[0]]
    shape += [side if s is None else s for s in input_shape[1:]]
    chain, dense = chain_macs(modes, geometry, tuple(shape))
    return "chain" if chain <= dense else "dense"

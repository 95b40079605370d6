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

from ttrnn.tt.contraction import runtime
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


def chain_conv(x, cores, geometry, bias=None):
    """conv2d(x, K) (+ `bias`) for the kernel-layout TT kernel K of
    `cores`, by the chain 1x1 - kh x 1 - 1 x kw - 1x1, in `geometry`'s
    data format. Zero padding and the 1x1 maps commute, so "same" padding
    of each axis in its own step equals that of the whole kernel."""
    u, h, w, v = chain_factors(cores)
    # The steps between the 1x1s run on channels-last memory: channels
    # first, the first 1x1 writes its output so, and the last reads it
    # so, as batched matmuls of transposed views (no copies; oneDNN's and
    # TensorFlow's CPU convs take channels last natively).
    if geometry.channels_first:
        batch, channels, rows, cols = ops.shape(x)
        x = ops.transpose(ops.reshape(x, (batch, channels, -1)), (0, 2, 1))
        x = ops.matmul(x, _batched(u, batch))  # (B, H W, r)
        x = ops.reshape(x, (batch, rows, cols, ops.shape(u)[1]))
    else:
        x = ops.matmul(x, u)
    x = _spatial_steps(x, h, w, geometry)
    if not geometry.channels_first:
        x = ops.matmul(x, v)
        return x if bias is None else ops.add(x, bias)
    batch, rows, cols, rank = ops.shape(x)
    y = output_map(ops.reshape(x, (batch, -1, rank)), v, bias)
    return ops.reshape(y, (batch, ops.shape(v)[1], rows, cols))


def _spatial_steps(x, h, w, geometry):
    """The kh x 1 and 1 x kw convs of channels-last `x` (B, H, W, r),
    channels last out, each called in the data format that takes the
    memory as it is (`runtime.conv_format_of_channels_last`)."""
    (sh, sw), (dh, dw) = geometry.strides, geometry.dilation_rate
    pad = geometry.padding
    fmt = runtime.conv_format_of_channels_last()
    if fmt == "channels_first":
        x = ops.transpose(x, (0, 3, 1, 2))
    x = ops.conv(x, h, (sh, 1), pad, fmt, dilation_rate=(dh, 1))
    x = ops.conv(x, w, (1, sw), pad, fmt, dilation_rate=(1, dw))
    if fmt == "channels_first":
        x = ops.transpose(x, (0, 2, 3, 1))
    return x


def output_map(x, v, bias=None):
    """The last 1x1 step, channels first: (B, F, P) = V^T x^T (+ bias
    along F) for x (B, P, r), V (r, F).

    Under autodiff, or with the hand-written gradient that writes x's
    gradient as (B, P, r) and adds the bias in place
    (`runtime.explicit_output_map_gradient`); the two are equal.
    """
    batch = ops.shape(x)[0]
    if not runtime.explicit_output_map_gradient():
        y = ops.matmul(
            _batched(ops.transpose(v), batch), ops.transpose(x, (0, 2, 1))
        )
        return y if bias is None else _add_bias(y, ops.reshape(bias, (-1, 1)))
    xp = runtime.array_ops()

    @ops.custom_gradient
    def run(x, v, *bias):
        v_t = xp.broadcast_to(xp.transpose(v), (batch, *ops.shape(v)[::-1]))
        y = xp.matmul(v_t, xp.transpose(x, (0, 2, 1)))
        if bias:
            b = xp.reshape(bias[0], (-1, 1))
            # torch: in place into y; keras.ops: bias first (`_add_bias`).
            y = _add_bias(y, b) if xp is ops else xp.add(y, b)

        def grad(*args, upstream=None):
            if upstream is None:  # JAX and TensorFlow call grad(upstream)
                (upstream,) = args
            # x's gradient as x is held, (B, P, F) @ (B, F, r); V's and
            # the bias' as products with upstream (B, F, P) untransposed
            # (torch: a transposed one, or a sum over (B, P), measured
            # 3-5x slower at rank 6).
            d_x = xp.matmul(xp.transpose(upstream, (0, 2, 1)), v_t)
            d_v = xp.transpose(xp.sum(xp.matmul(upstream, x), 0))
            if not bias:
                return d_x, d_v
            ones = ops.ones((ops.shape(x)[1], 1), upstream.dtype)
            d_bias = xp.sum(xp.matmul(upstream, ones), 0)
            return d_x, d_v, xp.reshape(d_bias, (-1,))

        return y, grad

    if bias is None:
        return run(x, v)
    # A variable read outside: torch's autograd.Function (and TensorFlow's
    # custom gradient) take tensors only.
    return run(x, v, ops.convert_to_tensor(bias))


def _batched(matrix, batch):
    """`matrix` broadcast to (batch, *shape): a 3-D @ 3-D matmul is a
    batched one on every backend (torch folds 3-D @ 2-D into one 2-D
    product, copying a transposed view)."""
    return ops.broadcast_to(matrix, (batch, *ops.shape(matrix)))


def kernel_tt_conv(x, cores, geometry, path="chain", bias=None):
    """The kernel-layout TT conv on `path` ("chain" or "dense"), plus
    `bias` (F,) if given (the chain adds it in its last step)."""
    if path != "dense":
        return chain_conv(x, cores, geometry, bias)
    kernel = conv_kernel(cores, geometry.kernel_size)
    y = ops.conv(x, kernel, **geometry.conv_args())
    if bias is None:
        return y
    if geometry.channels_first:
        return _add_bias(y, ops.reshape(bias, (-1, 1, 1)))
    return ops.add(y, bias)


def _add_bias(y, bias):
    """y + bias for a channels-first `y` and a bias shaped (F, 1, ...).

    The bias comes first: Keras' TensorFlow `add(y, bias)` takes a bias
    whose size matches y's last axis for a channels-last one
    (`tf.nn.bias_add` "NHWC"), and adds it along that axis when the last
    side equals F (Keras 3 on TensorFlow; `keras.layers.Conv2D` channels
    first does so too).
    """
    return ops.add(bias, y)


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

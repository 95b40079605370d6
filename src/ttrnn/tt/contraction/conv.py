"""The cost of a TT convolution's two evaluation paths (`TTConv2D`).

A TT conv kernel is the TT-matrix of input modes (c_1, ..., c_d, kh kw)
and output modes (f_1, ..., f_d, 1). The "channels" path convolves each
channel with the r_d spatial filters and then maps the (C r_d)-vector of
each pixel by the channel cores (`channel_matrix`); the "dense" path
rebuilds the kernel and convolves. `conv_path_costs` prices both with the
planner's cost model.
"""

import math

from ttrnn.tt.contraction.backend import dtype_itemsize
from ttrnn.tt.contraction.cost import get_cost_model
from ttrnn.tt.contraction.cost import plan_ops
from ttrnn.tt.contraction.plan import Plan


def conv_output_length(size, kernel, stride, dilation, padding):
    """One output dim of a convolution (None stays None)."""
    if size is None:
        return None
    if padding == "same":
        return -(-int(size) // stride)
    span = dilation * (kernel - 1) + 1
    return max(0, (int(size) - span) // stride + 1)


def channel_matrix(tt_input_shape, tt_output_shape, tt_ranks):
    """The channel transform's TT-matrix: the spatial rank r_d joins the
    last channel mode. Returns (input modes, output modes, ranks):
    (c_1, ..., c_d r_d), (f_1, ..., f_d), (1, r_1, ..., r_{d-1}, 1)."""
    rank = tt_ranks[-2]
    ins = tuple(tt_input_shape[:-1]) + (tt_input_shape[-1] * rank,)
    return ins, tuple(tt_output_shape), tuple(tt_ranks[:-2]) + (1,)


def conv_path_costs(
    modes,
    kernel_size,
    pixels,
    plan,
    dtype="float32",
    channels_first=False,
    flat=False,
):
    """Modelled forward+backward seconds (channels, dense) of `TTConv2D`
    by the planner's `get_cost_model()`, for `modes` = (tt_input_shape,
    tt_output_shape, tt_ranks) and `pixels` = (input, output) pixels (P)
    of the batch: the spatial conv as ("mm", P C, kh kw, r_d),
    the layout changes, and `plan`'s ops on `channel_matrix`, against
    rebuilding K (the dense plan of the d + 1 cores) and the im2col GEMM
    ("mm", P, kh kw C, F). `flat`: the spatial step convolves (B, H, W C, 1)
    (`ttrnn.backends.conv_spatial_steps`): x moves to channels last and
    the conv's output needs no transpose."""
    tt_input_shape, tt_output_shape, tt_ranks = modes
    kernel = math.prod(kernel_size)
    channels, filters = math.prod(tt_input_shape), math.prod(tt_output_shape)
    (in_pixels, pixels), rank = pixels, tt_ranks[-2]
    ins, outs, ranks = channel_matrix(tt_input_shape, tt_output_shape, tt_ranks)
    tt_ops = [
        (
            "copy",
            0 if channels_first != flat else in_pixels * channels,
        ),
        ("mm", pixels * channels, kernel, rank, 1),  # the spatial conv
        ("copy", 0 if flat else pixels * channels * rank),  # to NHWC
        ("copy", ranks[-2] * ins[-1] * outs[-1]),  # last core's transpose
        *plan_ops(plan, ins, outs, ranks, pixels),
        ("copy", pixels * filters if channels_first else 0),
    ]
    full = (tuple(tt_input_shape) + (kernel,), tuple(tt_output_shape) + (1,))
    dense_ops = plan_ops(Plan((len(full[0]),)), *full, tt_ranks, pixels)
    dense_ops.append(("copy", kernel * channels * filters))  # K's transpose
    model = get_cost_model()
    itemsize = dtype_itemsize(dtype)
    return model.cost(tt_ops, itemsize), model.cost(dense_ops, itemsize)

"""A TT convolution (`TTConv2D`): its two evaluation paths and their cost.

A TT conv kernel is the TT-matrix of input modes (c_1, ..., c_d, kh kw)
and output modes (f_1, ..., f_d, 1). The "channels" path convolves each
channel with the r_d spatial filters and then maps the (C r_d)-vector of
each pixel by the channel cores (`channel_matrix`); the "dense" path
rebuilds the kernel (`conv_kernel`) and convolves. `conv_path` picks the
path for an input shape, pricing both with the planner's cost model
(`conv_path_costs`); `tt_conv` runs it.
"""

import dataclasses
import math

import keras
from keras import ops

from ttrnn.tt.contraction import runtime
from ttrnn.tt.contraction.contract import choose_plan
from ttrnn.tt.contraction.contract import matmul
from ttrnn.tt.contraction.cost import get_cost_model
from ttrnn.tt.contraction.cost import plan_ops
from ttrnn.tt.contraction.plan import DEFAULT_PLANNING_BATCH
from ttrnn.tt.contraction.plan import Plan
from ttrnn.tt.contraction.plan import validate_strategy
from ttrnn.tt.cores import static_shape
from ttrnn.tt.cores import to_dense

PLANNING_SIDE = 32  # rows and cols assumed when unknown at planning
_TO_LAST = (0, 2, 3, 1, 4)  # (B, C, H, W, r) -> (B, H, W, C, r)


@dataclasses.dataclass(frozen=True)
class ConvGeometry:
    """The geometry of a 2-D convolution, in `keras.layers.Conv2D`'s
    terms (pairs of ints; the layer checks them).

    Attributes:
        kernel_size: (kh, kw).
        strides: (sh, sw).
        padding: "valid" or "same".
        dilation_rate: (dh, dw).
        data_format: "channels_last" or "channels_first".
    """

    kernel_size: tuple
    strides: tuple = (1, 1)
    padding: str = "valid"
    dilation_rate: tuple = (1, 1)
    data_format: str = "channels_last"

    @property
    def channels_first(self):
        return self.data_format == "channels_first"

    def sides(self, shape):
        """(rows, cols) of a 4-D shape in this data format."""
        return tuple(shape[2:4] if self.channels_first else shape[1:3])

    def output_shape(self, input_shape, filters):
        """The output shape for an input shape, as `keras.layers.Conv2D`
        (None sizes stay None)."""
        geometry = (self.kernel_size, self.strides, self.dilation_rate)
        sides = zip(self.sides(input_shape), *geometry)
        out = tuple(conv_output_length(*a, self.padding) for a in sides)
        if self.channels_first:
            return (input_shape[0], filters) + out
        return (input_shape[0],) + out + (filters,)

    def conv_args(self, data_format=None):
        """Keyword arguments of `keras.ops.conv` (another data format if
        given)."""
        return dict(
            strides=self.strides,
            padding=self.padding,
            data_format=data_format or self.data_format,
            dilation_rate=self.dilation_rate,
        )

    def spatial_step(self):
        """The channel path's spatial step: the first of
        `runtime.conv_spatial_steps()` that fits, "flat" or "folded"."""
        # "same" padding splits W C's padding into whole columns only if
        # W's own padding is even.
        span = self.dilation_rate[1] * (self.kernel_size[1] - 1)
        fits = tuple(self.strides) == (1, 1) and (
            self.padding == "valid" or span % 2 == 0
        )
        flat = "flat" in runtime.conv_spatial_steps()
        return "flat" if flat and fits else "folded"


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
    (`ConvGeometry.spatial_step`): x moves to channels last and
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
    itemsize = runtime.dtype_itemsize(dtype)
    return model.cost(tt_ops, itemsize), model.cost(dense_ops, itemsize)


def conv_path(modes, geometry, input_shape, strategy="auto", dtype="float32"):
    """The path a TT convolution takes for an input shape.

    Args:
        modes: (tt_input_shape, tt_output_shape, tt_ranks) of the kernel:
            d channel modes, d filter modes and d + 2 ranks.
        geometry: the `ConvGeometry`.
        input_shape: the 4-D input shape (None sizes: batch
            `DEFAULT_PLANNING_BATCH`, sides `PLANNING_SIDE`).
        strategy: "auto" (the path of least modelled time), "dense",
            "channels" (the channel path, planned by the cost model), or a
            `matmul` strategy or plan for the channel path.
        dtype: the compute dtype.

    Returns:
        ("channels", the `Plan` of its channel transform) or
        ("dense", None).
    """
    if strategy == "dense":
        return "dense", None
    dtype = keras.backend.standardize_dtype(dtype)
    filters = math.prod(modes[1])
    out = geometry.output_shape(tuple(input_shape), filters)
    batch = DEFAULT_PLANNING_BATCH if out[0] is None else int(out[0])
    in_pixels, pixels = (
        batch * math.prod(PLANNING_SIDE if s is None else s for s in sides)
        for sides in (geometry.sides(input_shape), geometry.sides(out))
    )
    if isinstance(strategy, Plan) or "[" in str(strategy):
        plan = validate_strategy(strategy, "tt_strategy")
    else:
        planned = "auto" if strategy == "channels" else strategy
        matrix = channel_matrix(*modes)  # pixels: rows of the matmul
        plan = choose_plan(*matrix, pixels, planned, dtype)
    if strategy != "auto":
        return "channels", plan
    costs = conv_path_costs(
        modes,
        geometry.kernel_size,
        (in_pixels, pixels),
        plan,
        dtype,
        geometry.channels_first,
        flat=geometry.spatial_step() == "flat",
    )
    return ("channels", plan) if costs[0] <= costs[1] else ("dense", None)


def conv_kernel(cores, kernel_size):
    """The full (kh, kw, C, F) kernel of a TT conv's d + 1 cores, as
    `keras.layers.Conv2D` holds it."""
    filters = math.prod(static_shape(c)[2] for c in cores)
    w = to_dense(cores)  # (C kh kw, F), row c (kh kw) + y kw + x
    w = ops.reshape(w, (-1, *kernel_size, filters))
    return ops.transpose(w, (1, 2, 0, 3))


def tt_conv(x, cores, geometry, path="channels", plan="auto"):
    """conv2d(x, K) for the TT kernel K of `cores`, without bias.

    Args:
        x: the 4-D input, in `geometry.data_format`.
        cores: the d channel cores (r_{k-1}, c_k, f_k, r_k), then the
            spatial core (r_d, kh kw, 1, 1).
        geometry: the `ConvGeometry`.
        path: "channels" or "dense" (`conv_path`).
        plan: the channel transform's plan or `matmul` strategy.

    Returns:
        The 4-D output, in `geometry.data_format`.
    """
    if path == "dense":
        kernel = conv_kernel(cores, geometry.kernel_size)
        return ops.conv(x, kernel, **geometry.conv_args())
    y = _channel_path(x, cores, geometry, plan)
    return ops.transpose(y, (0, 3, 1, 2)) if geometry.channels_first else y


def _channel_path(x, cores, geometry, plan):
    """Spatial filters per channel, then the channel map (to NHWC)."""
    channels = math.prod(static_shape(c)[1] for c in cores[:-1])
    sizes = (channels, static_shape(cores[-1])[0])  # C, r_d
    # The r_d spatial filters, (kh, kw, 1, r_d).
    filters = ops.reshape(cores[-1], (-1, *geometry.kernel_size))
    filters = ops.expand_dims(ops.transpose(filters, (1, 2, 0)), 2)
    if geometry.spatial_step() == "flat":
        u = _flat_spatial(x, filters, geometry, sizes)
    else:
        u = _folded_spatial(x, filters, geometry, sizes)
    # Channel (c_1, ..., c_d, r) in C order: `channel_matrix`'s input.
    r_prev, c_d, f_d, rank = static_shape(cores[-2])
    last = ops.transpose(cores[-2], (0, 1, 3, 2))
    last = ops.reshape(last, (r_prev, c_d * rank, f_d, 1))
    return matmul(u, [*cores[:-2], last], strategy=plan)


def _flat_spatial(x, filters, geometry, sizes):
    """(B, H', W', C r_d): (W, C) as one axis of W C values, one
    1-channel conv of dilation C along it by the (kh, kw, 1, r_d)
    `filters` (strides (1, 1), and "same" padding only with an even span
    of W's padding)."""
    channels, rank = sizes
    if geometry.channels_first:
        x = ops.transpose(x, (0, 2, 3, 1))
    h, w = ops.shape(x)[1:3]
    x = ops.reshape(x, (-1, h, w * channels, 1))
    dilation = geometry.dilation_rate
    u = ops.conv(
        x,
        filters,
        padding=geometry.padding,
        data_format="channels_last",
        dilation_rate=(dilation[0], dilation[1] * channels),
    )
    h, w = ops.shape(u)[1:3]
    return ops.reshape(u, (-1, h, w // channels, channels * rank))


def _folded_spatial(x, filters, geometry, sizes):
    """(B, H', W', C r_d): channels join the batch, a 1-channel conv
    to r_d maps (XLA's CPU depthwise conv, its backward, takes 100x
    longer), then a transpose to channels last."""
    channels, rank = sizes
    if not geometry.channels_first:
        x = ops.transpose(x, (0, 3, 1, 2))
    x = ops.reshape(x, (-1, *ops.shape(x)[2:], 1))
    u = ops.conv(x, filters, **geometry.conv_args("channels_last"))
    h, w = ops.shape(u)[1:3]
    u = ops.transpose(ops.reshape(u, (-1, channels, h, w, rank)), _TO_LAST)
    return ops.reshape(u, (-1, h, w, channels * rank))

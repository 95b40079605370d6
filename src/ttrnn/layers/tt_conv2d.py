"""TTConv2D: a 2-D convolution whose kernel is a TT-matrix."""

import math

import keras
from keras import ops

from ttrnn import backends
from ttrnn import tt
from ttrnn.layers import _costs
from ttrnn.layers._tt_kernel import TTKernelMixin
from ttrnn.tt import factorize
from ttrnn.tt import shapes
from ttrnn.tt.contraction import DEFAULT_PLANNING_BATCH
from ttrnn.tt.contraction import Plan
from ttrnn.tt.contraction.conv import channel_matrix
from ttrnn.tt.contraction.conv import conv_output_length
from ttrnn.tt.contraction.conv import conv_path_costs

PLANNING_SIDE = 32  # rows and cols assumed when unknown at planning
_TO_LAST = (0, 2, 3, 1, 4)  # (B, C, H, W, r) -> (B, H, W, C, r)
_FORMATS = ("channels_last", "channels_first")


@keras.saving.register_keras_serializable(package="ttrnn")
class TTConv2D(TTKernelMixin, keras.layers.Layer):
    """2-D convolution layer with a Tensor-Train kernel.

    Computes `activation(conv2d(x, K) + bias)` as `keras.layers.Conv2D`,
    but the (kh, kw, C, F) kernel K is the TT-matrix of input modes
    (c_1, ..., c_d, kh kw) and output modes (f_1, ..., f_d, 1): d channel
    cores G_k of shape (r_{k-1}, c_k, f_k, r_k), C = prod c_k, F = prod
    f_k, then a spatial core S of shape (r_d, kh kw, 1, 1):
    K[y, x, (c_k), (f_k)] = G_1[c_1, f_1] ... G_d[c_d, f_d] S[y kw + x].

    Two paths, for P output pixels: "channels" convolves each channel
    alone with the r_d filters of S (P C kh kw r_d multiply-adds), then
    maps each pixel's (C r_d)-vector by the channel cores (`tt.matmul`);
    "dense" rebuilds K (`to_dense()`), then convolves (P kh kw C F).
    "auto" takes the one of least modelled time (`conv_path_costs`) for
    the static input shape (unknown batch: `DEFAULT_PLANNING_BATCH`
    images; unknown sides: `PLANNING_SIDE`).

    Args:
        filters: the number of filters F (or give `tt_output_shape`).
        kernel_size: int or 2 ints, (kh, kw).
        tt_input_shape, tt_output_shape: d ints each, the channel modes
            c_k (product: the input channels) and filter modes f_k
            (product `filters`). None: chosen in `build` / from `filters`.
        tt_ranks: one int (every inner rank, the spatial rank r_d too), d
            + 2 ints (1, r_1, ..., r_d, 1), or "auto" (with
            `tt_max_params` or `tt_compression`). Ranks above the largest
            useful rank of a cut (r_d <= kh kw) are lowered, with a warning.
        strides, padding ("valid", "same"), data_format, dilation_rate,
            groups (1 only), activation, use_bias, bias_initializer,
            kernel_regularizer, bias_regularizer, activity_regularizer,
            kernel_constraint, bias_constraint: as `keras.layers.Conv2D`
            (the kernel's regulariser and constraint act on every core).
        kernel_initializer: aimed at the variance of K with Keras' conv
            fans (kh kw C, kh kw F): "glorot_uniform" (default),
            "he_normal", ..., "orthogonal" (that of a semi-orthogonal
            (kh kw C, F) matrix) or a `ttrnn.tt.TTInitializer` (handed
            output modes (f_1, ..., f_d, kh kw), of product fan_out).
        tt_strategy: "auto" (default), "dense", "channels" (the channel
            path, planned by the cost model), or a `ttrnn.tt.matmul`
            strategy ("measure", "flops", "ltr", "rtl", a plan name such
            as "ltr[1,2]/batch_last") for the channel path's contraction.
        tt_d, tt_max_params, tt_compression: as `TTDense`, d counting the
            channel modes, the compression against kh kw C F weights.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Input shape:
        `(batch, rows, cols, C)` or, channels first, `(batch, C, rows, cols)`.

    Output shape:
        As `keras.layers.Conv2D`: `(batch, new_rows, new_cols, F)`.

    Example:
    >>> import numpy as np
    >>> layer = TTConv2D(64, 3, (4, 4, 4), (4, 4, 4), tt_ranks=4,
    ...                  padding="same", data_format="channels_last")
    >>> tuple(layer(np.ones((2, 8, 8, 64), "float32")).shape)
    (2, 8, 8, 64)
    >>> layer.count_params()  # 36,864 + 64 dense
    676

    Reference:
        Garipov, Podoprikhin, Novikov, Vetrov, "Ultimate tensorization:
        compressing convolutional and FC layers alike", 2016.
    """

    def __init__(
        self,
        filters=None,
        kernel_size=None,
        tt_input_shape=None,
        tt_output_shape=None,
        tt_ranks=None,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        tt_strategy="auto",
        tt_d=None,
        tt_max_params=None,
        tt_compression=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        _check_conv_arguments(filters, tt_output_shape, tt_ranks, groups)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` is not supported together with "
                f"`dilation_rate > 1`. Received: strides={self.strides}, "
                f"dilation_rate={self.dilation_rate}"
            )
        self.padding = _choice(str(padding).lower(), "padding")
        data_format = data_format or keras.config.image_data_format()
        self.data_format = _choice(data_format, "data_format")
        self._init_tt_kernel(
            tt_input_shape=tt_input_shape,
            tt_output_shape=tt_output_shape,
            tt_ranks=tt_ranks,
            units=filters,
            tt_d=tt_d,
            tt_max_params=tt_max_params,
            tt_compression=tt_compression,
            tt_strategy="auto" if tt_strategy == "channels" else tt_strategy,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            kernel_constraint=kernel_constraint,
        )
        self.tt_strategy = tt_strategy
        self._init_bias_and_activation(
            activation,
            use_bias,
            bias_initializer,
            bias_regularizer,
            bias_constraint,
        )
        self.input_spec = keras.layers.InputSpec(ndim=4)
        self._resolve_given()

    def build(self, input_shape):
        channels = input_shape[self._channel_axis]
        if self.tt_input_shape is None:
            self._resolve_from_input_dim(channels)
        if channels != self.input_dim:
            raise ValueError(
                f"The product of `tt_input_shape` of {self.name} must equal "
                "the input channels. Received: tt_input_shape="
                f"{self.tt_input_shape} (product {self.input_dim}) for "
                f"an input of {channels} channels"
            )
        init = self.kernel_initializer
        ins, outs = self._kernel_modes()
        if not isinstance(init, tt.TTOrthogonal):  # fan_out = kh kw F
            outs = self.tt_output_shape + (math.prod(self.kernel_size),)
        self._add_cores(
            [("", init.core_initializers(ins, outs, self.tt_ranks))]
        )
        self._add_bias()
        self.input_spec = keras.layers.InputSpec(
            ndim=4, axes={self._channel_axis: self.input_dim}
        )

    @property
    def filters(self):
        """F = prod(tt_output_shape), the number of output filters."""
        return self.units

    @property
    def tt_core_shapes(self):
        """Shapes of `cores`: d channel cores, then the spatial core."""
        if self.tt_ranks is None:
            return None
        return tt.core_shapes(*self._kernel_modes(), self.tt_ranks)

    def call(self, inputs):
        path, plan = self.evaluation_path(inputs.shape, inputs.dtype)
        if path == "dense":
            kernel = self.to_dense()
            x = ops.conv(inputs, kernel, **self._conv_args(self.data_format))
        else:
            x = self._channel_path(inputs, plan)
            if self._channel_axis == 1:
                x = ops.transpose(x, (0, 3, 1, 2))
        if self.bias is not None:
            shape = (-1, 1, 1) if self._channel_axis == 1 else (-1,)
            x = ops.add(x, ops.reshape(self.bias, shape))
        if self.activation is not None:
            x = self.activation(x)
        return x

    def compute_output_shape(self, input_shape):
        geometry = (self.kernel_size, self.strides, self.dilation_rate)
        sides = zip(self._sides(input_shape), *geometry)
        out = tuple(conv_output_length(*a, self.padding) for a in sides)
        if self._channel_axis == 1:
            return (input_shape[0], self.filters) + out
        return (input_shape[0],) + out + (self.filters,)

    def to_dense(self):
        """The full (kh, kw, C, F) kernel, as `keras.layers.Conv2D` holds."""
        w = tt.to_dense(self.cores)  # (C kh kw, F), row c (kh kw) + y kw + x
        w = ops.reshape(w, (self.input_dim, *self.kernel_size, self.filters))
        return ops.transpose(w, (1, 2, 0, 3))

    def evaluation_path(self, input_shape, dtype="float32"):
        """The path `call` takes for an input shape: ("channels", the
        `Plan` of its channel transform) or ("dense", None)."""
        strategy, first = self.tt_strategy, self._channel_axis == 1
        if strategy == "dense":
            return "dense", None
        dtype = keras.backend.standardize_dtype(dtype)
        out = self.compute_output_shape(tuple(input_shape))
        batch = DEFAULT_PLANNING_BATCH if out[0] is None else int(out[0])
        in_pixels, pixels = (
            batch * math.prod(PLANNING_SIDE if s is None else s for s in sides)
            for sides in (self._sides(input_shape), self._sides(out))
        )
        modes = (self.tt_input_shape, self.tt_output_shape, self.tt_ranks)
        if isinstance(strategy, Plan) or "[" in str(strategy):
            plan = tt.validate_strategy(strategy, "tt_strategy")
        else:
            planned = "auto" if strategy == "channels" else strategy
            matrix = channel_matrix(*modes)  # pixels: rows of the matmul
            plan = tt.choose_plan(*matrix, pixels, planned, dtype)
        if strategy != "auto":
            return "channels", plan
        costs = conv_path_costs(
            modes,
            self.kernel_size,
            (in_pixels, pixels),
            plan,
            dtype,
            first,
            flat=self._spatial_step() == "flat",
        )
        return ("channels", plan) if costs[0] <= costs[1] else ("dense", None)

    def _round_build_shape(self):
        shape = [None, None, None]
        shape.insert(self._channel_axis % 4, self.input_dim)
        return tuple(shape)

    def get_config(self):
        tt_config = self._tt_kernel_config()
        config = {
            **super().get_config(),
            "filters": tt_config.pop("units"),
            "kernel_size": list(self.kernel_size),
            **tt_config,
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            **self._bias_and_activation_config(),
        }
        return config

    @property
    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    def _sides(self, shape):
        return shape[2:4] if self._channel_axis == 1 else shape[1:3]

    def _conv_args(self, data_format):
        s, p, r = self.strides, self.padding, self.dilation_rate
        return dict(
            strides=s, padding=p, data_format=data_format, dilation_rate=r
        )

    def _kernel_modes(self, tt_input_shape=None, tt_output_shape=None):
        """Modes of the kernel's TT-matrix: the spatial core appended."""
        ins = tt_input_shape or self.tt_input_shape
        outs = tt_output_shape or self.tt_output_shape
        return tuple(ins) + (math.prod(self.kernel_size),), tuple(outs) + (1,)

    def _tt_ranks_for(self, tt_input_shape, tt_output_shape):
        """The d + 2 ranks of the kernel's TT-matrix (spatial core too)."""
        ins, outs = self._kernel_modes(tt_input_shape, tt_output_shape)
        given = self._tt_ranks_arg
        if given == "auto":
            return factorize.ranks_for_budget(
                ins, outs, self._tt_max_params, self._tt_compression
            )
        if not shapes.is_scalar_rank(given) and len(given) != len(ins) + 1:
            d = len(tt_input_shape)
            raise ValueError(
                f"`tt_ranks` must have d + 2 = {d + 2} entries (1, r_1, "
                f"..., r_d, 1) for d = {d} channel modes (or be one int). "
                f"Received: tt_ranks={given} ({len(given)} entries)"
            )
        return tt.validate_ranks(given, ins, outs)

    def _channel_path(self, x, plan):
        """Spatial filters per channel, then the channel map (to NHWC)."""
        rank = self.tt_ranks[-2]
        if self._spatial_step() == "flat":
            u = self._flat_spatial(x)
        else:
            u = self._folded_spatial(x)
        # Channel (c_1, ..., c_d, r) in C order: `channel_matrix`'s input.
        last = self.cores[-2]  # (r_{d-1}, c_d, f_d, r_d)
        r_prev, c_d, f_d, _ = last.shape
        last = ops.transpose(last, (0, 1, 3, 2))
        last = ops.reshape(last, (r_prev, c_d * rank, f_d, 1))
        return tt.matmul(u, [*self.cores[:-2], last], strategy=plan)

    def _spatial_filters(self):
        """The r_d spatial filters, (kh, kw, r_d)."""
        spatial = ops.reshape(self.cores[-1], (-1, *self.kernel_size))
        return ops.transpose(spatial, (1, 2, 0))

    def _spatial_step(self):
        """The channel path's spatial step (`conv_spatial_steps`)."""
        # "same" padding splits W C's padding into whole columns only if
        # W's own padding is even.
        span = self.dilation_rate[1] * (self.kernel_size[1] - 1)
        fits = self.strides == (1, 1) and (
            self.padding == "valid" or span % 2 == 0
        )
        flat = "flat" in backends.conv_spatial_steps()
        return "flat" if flat and fits else "folded"

    def _flat_spatial(self, x):
        """(B, H', W', C r_d): (W, C) as one axis of W C values, one
        1-channel conv of dilation C along it (strides (1, 1), and
        "same" padding only with an even span of W's padding)."""
        rank, channels = self.tt_ranks[-2], self.input_dim
        if self._channel_axis == 1:
            x = ops.transpose(x, (0, 2, 3, 1))
        h, w = ops.shape(x)[1:3]
        x = ops.reshape(x, (-1, h, w * channels, 1))
        spatial = ops.expand_dims(self._spatial_filters(), 2)
        dilation = self.dilation_rate
        u = ops.conv(
            x,
            spatial,
            padding=self.padding,
            data_format="channels_last",
            dilation_rate=(dilation[0], dilation[1] * channels),
        )
        h, w = ops.shape(u)[1:3]
        return ops.reshape(u, (-1, h, w // channels, channels * rank))

    def _folded_spatial(self, x):
        """(B, H', W', C r_d): channels join the batch, a 1-channel conv
        to r_d maps (XLA's CPU depthwise conv, its backward, takes 100x
        longer), then a transpose to channels last."""
        rank, channels = self.tt_ranks[-2], self.input_dim
        if self._channel_axis == -1:
            x = ops.transpose(x, (0, 3, 1, 2))
        x = ops.reshape(x, (-1, *ops.shape(x)[2:], 1))
        spatial = ops.expand_dims(self._spatial_filters(), 2)
        u = ops.conv(x, spatial, **self._conv_args("channels_last"))
        h, w = ops.shape(u)[1:3]
        u = ops.transpose(ops.reshape(u, (-1, channels, h, w, rank)), _TO_LAST)
        return ops.reshape(u, (-1, h, w, channels * rank))

    # --- What `summary`, `compress` and `explain` ask of the layer ---
    keras_class = keras.layers.Conv2D  # the Keras layer it replaces

    @classmethod
    def from_keras(cls, layer, options):
        """`ttrnn.compress`'s TTConv2D of a trained `keras.layers.Conv2D`
        (`ttrnn.conversions.conv2d_to_tt`)."""
        from ttrnn import conversions

        return conversions.conv2d_to_tt(cls, layer, options)

    def kernel_cost(self, input_shape, batch_size, input_dtype="float32"):
        """The kernel's `KernelCost` for a batch of `batch_size` images of
        `input_shape`, on the path `evaluation_path` picks for it."""
        return _costs.conv_cost(self, input_shape, batch_size, PLANNING_SIDE)


def _check_conv_arguments(filters, tt_output_shape, tt_ranks, groups):
    if filters is None and tt_output_shape is None:
        raise ValueError(
            "Give `filters` or `tt_output_shape`. "
            "Received: filters=None, tt_output_shape=None"
        )
    if filters is not None:
        filters = shapes.check_int(filters, "filters", 1)
    if filters is not None and tt_output_shape is not None:
        modes = shapes.as_int_tuple(tt_output_shape, "tt_output_shape")
        if math.prod(modes) != filters:
            raise ValueError(
                "`filters` must equal the product of `tt_output_shape`. "
                f"Received: filters={filters}, tt_output_shape={modes} "
                f"(product {math.prod(modes)})"
            )
    if tt_ranks is None:
        raise ValueError(
            '`tt_ranks` is required: an int, d + 2 ints or "auto". '
            "Received: tt_ranks=None"
        )
    if groups != 1:
        raise ValueError(
            f"TTConv2D supports only `groups=1`. Received: groups={groups}"
        )


def _choice(value, name):
    choices = ("valid", "same") if name == "padding" else _FORMATS
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {choices}. Received: {name}={value!r}"
        )
    return value


def _pair(value, name):
    if shapes.is_scalar_rank(value):
        value = (value, value)
    pair = shapes.as_int_tuple(value, name)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(
            f"`{name}` must be an int or a tuple of 2 ints >= 1. "
            f"Received: {name}={value!r}"
        )
    return pair

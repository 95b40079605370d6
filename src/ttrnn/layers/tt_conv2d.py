"""TTConv2D: a 2-D convolution whose kernel is a TT-matrix."""

import math

import keras
from keras import ops

from ttrnn import tt
from ttrnn.layers import _costs
from ttrnn.layers._tt_kernel import TTKernelMixin
from ttrnn.tt import shapes
from ttrnn.tt.contraction.conv import PLANNING_SIDE
from ttrnn.tt.contraction.conv import ConvGeometry
from ttrnn.tt.contraction.conv import conv_kernel
from ttrnn.tt.contraction.conv import conv_path
from ttrnn.tt.contraction.conv import tt_conv
from ttrnn.tt.contraction.conv_kernel import KERNEL_PATHS
from ttrnn.tt.contraction.conv_kernel import kernel_path
from ttrnn.tt.contraction.conv_kernel import kernel_tt_conv
from ttrnn.tt.spec import TTMatrixSpec

_FORMATS = ("channels_last", "channels_first")
LAYOUTS = ("channel", "kernel")


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

    `tt_layout="kernel"` takes TensorLy-Torch's form instead: a TT of the
    kernel's own modes, d channel cores, a kh core, a kw core and d filter
    cores (ranks (1, r_1, ..., r_{2d+1}, 1); d = 1 unless shapes or `tt_d`
    say), run as the chain of convolutions 1x1 (C -> r_d), kh x 1,
    1 x kw, 1x1 (-> F) ("chain"), or by rebuilding K ("dense"; "auto":
    fewer multiply-adds) (`ttrnn.tt.contraction.conv_kernel`).

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
            In the kernel layout: "auto", "chain" or "dense".
        tt_d, tt_max_params, tt_compression: as `TTDense`, d counting the
            channel modes, the compression against kh kw C F weights.
        tt_layout: "channel" (default; Garipov et al.) or "kernel".
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
        tt_layout="channel",
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if groups != 1:
            raise ValueError(
                f"TTConv2D supports only `groups=1`. Received: groups={groups}"
            )
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
        self.tt_layout = _choice(tt_layout, "tt_layout")
        kernel = self.tt_layout == "kernel"
        if kernel and tt_strategy not in KERNEL_PATHS:
            raise ValueError(
                f"`tt_strategy` must be one of {KERNEL_PATHS} with "
                f'tt_layout="kernel". Received: tt_strategy={tt_strategy!r}'
            )
        spec = TTMatrixSpec(
            tt_input_shape,
            tt_output_shape,
            tt_ranks,
            filters,
            tt_d,
            tt_max_params,
            tt_compression,
            spatial_mode=None if kernel else math.prod(self.kernel_size),
            kernel_modes=self.kernel_size if kernel else None,
            units_name="filters",
        )
        self._init_tt_kernel(
            spec,
            "auto" if kernel or tt_strategy == "channels" else tt_strategy,
            kernel_initializer,
            kernel_regularizer,
            kernel_constraint,
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

    def build(self, input_shape):
        channels = input_shape[self._channel_axis]
        self._resolve_tt(channels)
        if channels != self.input_dim:
            raise ValueError(
                f"The product of `tt_input_shape` of {self.name} must equal "
                "the input channels. Received: tt_input_shape="
                f"{self.tt_input_shape} (product {self.input_dim}) for "
                f"an input of {channels} channels"
            )
        init = self.kernel_initializer
        ins, outs = self.tt_resolved_spec.matrix_shape
        if not isinstance(init, tt.TTOrthogonal):  # fan_out = kh kw F
            outs = self.tt_output_shape + (math.prod(self.kernel_size),)
            if self.tt_layout == "kernel":
                ones = (1,) * len(self.tt_output_shape)
                outs = ones + self.kernel_size + self.tt_output_shape
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

    def call(self, inputs):
        path, plan = self.evaluation_path(inputs.shape, inputs.dtype)
        if self.tt_layout == "kernel":  # the bias joins the last step
            x = kernel_tt_conv(
                inputs, self.cores, self._geometry, path, self.bias
            )
        else:
            x = tt_conv(inputs, self.cores, self._geometry, path, plan)
            if self.bias is not None:
                shape = (-1, 1, 1) if self._channel_axis == 1 else (-1,)
                # Bias first: Keras' TensorFlow `add(x, bias)` adds a
                # (F, 1, 1) bias along x's last axis when that side is F.
                x = ops.add(ops.reshape(self.bias, shape), x)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def compute_output_shape(self, input_shape):
        return self._geometry.output_shape(input_shape, self.filters)

    def to_dense(self):
        """The full (kh, kw, C, F) kernel, as `keras.layers.Conv2D` holds."""
        return conv_kernel(self.cores, self.kernel_size)

    def evaluation_path(self, input_shape, dtype="float32"):
        """The path `call` takes for an input shape: ("channels", the
        `Plan` of its channel transform) or ("dense", None)
        (`ttrnn.tt.contraction.conv.conv_path`); in the kernel layout
        ("chain", None) or ("dense", None) (`conv_kernel.kernel_path`)."""
        modes = (self.tt_input_shape, self.tt_output_shape, self.tt_ranks)
        if self.tt_layout == "kernel":
            path = kernel_path(
                modes, self._geometry, input_shape, self.tt_strategy
            )
            return path, None
        return conv_path(
            modes, self._geometry, input_shape, self.tt_strategy, dtype
        )

    def _round_build_shape(self):
        shape = [None, None, None]
        shape.insert(self._channel_axis % 4, self.input_dim)
        return tuple(shape)

    def get_config(self):
        tt_config = self._tt_kernel_config()
        config = {
            **super().get_config(),
            "filters": tt_config.pop("filters"),
            "kernel_size": list(self.kernel_size),
            **tt_config,
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            **self._bias_and_activation_config(),
            "tt_layout": self.tt_layout,
        }
        return config

    @property
    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    @property
    def _geometry(self):
        return ConvGeometry(
            tuple(self.kernel_size),
            tuple(self.strides),
            self.padding,
            tuple(self.dilation_rate),
            self.data_format,
        )

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


def _choice(value, name):
    choices = {"padding": ("valid", "same"), "tt_layout": LAYOUTS}
    choices = choices.get(name, _FORMATS)
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

"""TTDense: a densely connected layer whose kernel is a TT-matrix."""

import math

import keras
from keras import ops

from ttrnn import backends
from ttrnn import tt
from ttrnn.layers import _costs
from ttrnn.layers._tt_kernel import TTKernelMixin
from ttrnn.tt import contraction
from ttrnn.tt.contraction import precision as tt_precision
from ttrnn.tt.contraction import runtime
from ttrnn.tt.cores import fold_input_affine
from ttrnn.tt.shapes import check_finite
from ttrnn.tt.spec import TTMatrixSpec


@keras.saving.register_keras_serializable(package="ttrnn")
class TTDense(TTKernelMixin, keras.layers.Layer):
    """Densely connected layer with a Tensor-Train kernel.

    Computes `output = activation(x @ W + bias)` where the (M, N) kernel W
    is never stored: it is a TT-matrix of d cores G_k of shape
    (r_k, m_k, n_k, r_{k+1}), M = prod m_k, N = prod n_k, and x @ W is
    contracted core by core (or through W, whichever is cheaper). Inputs
    are flattened in C order, so an image (32, 32) with
    `tt_input_shape=(4, 8, 8, 4)` splits its rows and columns cleanly.

    Modes and ranks can be chosen automatically: `TTDense(units=1024,
    tt_ranks=3)` factorises the input dim (when the layer is built) and
    `units` into d balanced modes (`ttrnn.tt.auto_shapes`), and
    `tt_ranks="auto"` with `tt_max_params=` or `tt_compression=` takes
    the largest near-uniform ranks within that budget of core weights
    (`ttrnn.tt.ranks_for_budget`). `get_config()` holds the arguments;
    the resolved modes and ranks are saved with the build config.

    Args:
        tt_input_shape: list of d ints, the input modes m_k; their product
            must equal the last dimension of the input. None (default):
            derived from the input dim when the layer is built.
        tt_output_shape: list of d ints, the output modes n_k; the layer
            has prod n_k units. None (default): derived from `units`.
        tt_ranks: one int (every inner rank), a list of d + 1 ints
            starting and ending with 1, or "auto" (needs `tt_max_params`
            or `tt_compression`). Ranks above the largest useful rank at
            a cut are lowered to it with a warning.
        activation: activation function. Defaults to None (linear).
        use_bias: whether to add a bias vector. Defaults to True.
        kernel_initializer: initialiser of the TT kernel, aimed at the
            variance of the full W: "glorot_uniform" (default),
            "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
            "lecun_normal", "orthogonal", a Keras initialiser object of
            those kinds, or a `ttrnn.tt.TTInitializer`.
        bias_initializer: initialiser of the bias. Defaults to "zeros".
        kernel_regularizer: regulariser applied to every core.
        bias_regularizer: regulariser of the bias.
        activity_regularizer: regulariser of the output.
        kernel_constraint: constraint applied to every core.
        bias_constraint: constraint of the bias.
        tt_strategy: contraction order: "auto" (the planner's least
            modelled time for the batch size), "measure" (the fastest of
            the best few plans, timed once per shape on this machine),
            "flops", "ltr", "rtl", "dense", or a plan name such as
            "ltr[2,2]/chunked" (see docs/speed.md). Defaults to "auto".
        units: the number of outputs, instead of (or agreeing with)
            `tt_output_shape`.
        tt_d: the number of modes d when neither shape is given; None
            (default) picks it from the dims (`ttrnn.tt.choose_d`).
        tt_max_params: with `tt_ranks="auto"`, the most core weights.
        tt_compression: with `tt_ranks="auto"`, the least ratio of dense
            kernel weights (M * N) to core weights.
        input_scale: factor applied to the inputs: the layer computes
            `(inputs * input_scale + input_offset) @ W`. Defaults to 1.0.
        input_offset: added after `input_scale`. Defaults to 0.0. Both
            are folded into the weights (the scale into the first core,
            the offset into the bias), not applied to every value.
            Integer inputs (raw uint8 pixels) are cast inside row chunks
            of at most 2^22 values whose map is recomputed in the backward
            pass, so no float copy of the whole input is ever made.
        input_precision: "float32" (default) or "bfloat16": the
            precision of the GEMM that reads the inputs, forward and
            backward (bfloat16 operands, float32 accumulation; uint8
            inputs are exact in bfloat16). 4-9x faster GEMMs on CPUs with
            AMX or AVX512_BF16; see docs/speed.md, "bfloat16 input
            products". Everything else stays in the compute dtype.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Input shape:
        N-D tensor `(..., prod(tt_input_shape))`.

    Output shape:
        N-D tensor `(..., prod(tt_output_shape))`.

    Example:
    >>> import numpy as np
    >>> layer = TTDense((4, 8, 8, 4), (4, 8, 8, 4), tt_ranks=3)
    >>> tuple(layer(np.ones((2, 1024), "float32")).shape)
    (2, 1024)
    >>> layer.count_params()  # 1,048,576 + 1,024 dense
    2272
    >>> auto = TTDense(units=1024, tt_ranks="auto", tt_compression=100)
    >>> tuple(auto(np.ones((2, 1024), "float32")).shape)
    (2, 1024)
    >>> auto.tt_input_shape, auto.tt_output_shape, auto.tt_ranks
    ((4, 8, 8, 4), (8, 4, 4, 8), (1, 13, 12, 12, 1))

    Reference:
        Novikov, Podoprikhin, Osokin, Vetrov, "Tensorizing Neural
        Networks", NIPS 2015.
    """

    def __init__(
        self,
        tt_input_shape=None,
        tt_output_shape=None,
        tt_ranks=None,
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
        units=None,
        tt_d=None,
        tt_max_params=None,
        tt_compression=None,
        input_scale=1.0,
        input_offset=0.0,
        input_precision="float32",
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.input_scale = check_finite(input_scale, "input_scale")
        self.input_offset = check_finite(input_offset, "input_offset")
        self.input_precision = tt_precision.validate(input_precision)
        spec = TTMatrixSpec(
            tt_input_shape,
            tt_output_shape,
            tt_ranks,
            units,
            tt_d,
            tt_max_params,
            tt_compression,
        )
        self._init_tt_kernel(
            spec,
            tt_strategy,
            kernel_initializer,
            kernel_regularizer,
            kernel_constraint,
        )
        self._init_bias_and_activation(
            activation,
            use_bias,
            bias_initializer,
            bias_regularizer,
            bias_constraint,
        )
        self.input_spec = keras.layers.InputSpec(min_ndim=1)
        self.supports_masking = True

    def build(self, input_shape):
        self._build_tt_kernel(input_shape)
        core_inits = self.kernel_initializer.core_initializers(
            self.tt_input_shape, self.tt_output_shape, self.tt_ranks
        )
        self._add_cores([("", core_inits)])
        self._add_bias()
        self.input_spec = keras.layers.InputSpec(
            min_ndim=1, axes={-1: self.input_dim}
        )

    def call(self, inputs):
        cores, bias = list(self.cores), self.bias
        if self.input_scale != 1.0 or self.input_offset != 0.0:
            cores, bias = self._folded_weights()
        integer = "int" in keras.backend.standardize_dtype(inputs.dtype)
        if integer:
            x = self._integer_map(inputs, cores, bias)
        else:
            x = self._map(inputs, *cores, *([] if bias is None else [bias]))
        if self.activation is not None:
            x = self.activation(x)
        return x

    def _map(self, inputs, *weights):
        """x @ W (+ bias): `weights` are the cores, then the bias if any."""
        d = len(self.tt_input_shape)
        x = ops.cast(inputs, self.compute_dtype)
        x = tt.matmul(
            x,
            list(weights[:d]),
            strategy=self.tt_strategy,
            precision=self.input_precision,
        )
        return ops.add(x, weights[d]) if len(weights) > d else x

    def _folded_weights(self):
        """The cores and bias with `input_scale` and `input_offset` folded
        in (`ttrnn.tt.cores.fold_input_affine`)."""
        cores = [ops.convert_to_tensor(c) for c in self.cores]
        return fold_input_affine(
            cores,
            self.bias,
            self.input_scale,
            self.input_offset,
            lambda rows, w: tt.matmul(rows, w, strategy=self.tt_strategy),
            len(cores),
            self.compute_dtype,
        )

    def _integer_map(self, inputs, cores, bias):
        """The map of integer inputs, as the TT-RNNs' frames: the first
        GEMM casts them piece by piece where the plan starts with one
        (`runtime.integer_first_gemm_in_pieces`), else the rows are seen
        as one sequence (1, rows, M) and cast in rematerialised chunks
        (`backends.remat_integer_chunks`, saving the first GEMM's output
        on JAX)."""
        weights = [ops.convert_to_tensor(c) for c in cores]
        if (
            runtime.integer_first_gemm_in_pieces()
            and contraction.reads_integers(
                inputs, weights, self.tt_strategy, self.input_precision
            )
        ):
            x = tt.matmul(
                inputs,
                weights,
                strategy=self.tt_strategy,
                precision=self.input_precision,
            )
            return x if bias is None else ops.add(x, bias)
        if bias is not None:
            weights.append(ops.convert_to_tensor(bias))
        lead = tuple(inputs.shape[:-1])
        static = all(size is not None for size in lead)
        rows = math.prod(lead) if static else -1
        x = ops.reshape(inputs, (1, rows, self.input_dim))
        y = backends.remat_integer_chunks(
            self._map, x, weights, self.compute_dtype, save_first_gemm=True
        )
        # TensorFlow graphs: the unknown sizes as scalar tensors.
        lead = lead if static else tuple(ops.shape(inputs)[:-1])
        return ops.reshape(y, lead + (self.units,))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            **self._tt_kernel_config(),
            **self._bias_and_activation_config(),
            "input_scale": self.input_scale,
            "input_offset": self.input_offset,
            "input_precision": self.input_precision,
        }

    # --- What `summary`, `compress` and `explain` ask of the layer ---
    keras_class = keras.layers.Dense  # the Keras layer it replaces
    lrp_rule = "linear"  # the epsilon-rule through x @ W (`ttrnn.explain`)

    @classmethod
    def from_keras(cls, layer, options):
        """`ttrnn.compress`'s TTDense of a trained `keras.layers.Dense`
        (`ttrnn.conversions.dense_to_tt`)."""
        from ttrnn import conversions

        return conversions.dense_to_tt(cls, layer, options)

    def kernel_cost(self, input_shape, batch_size, input_dtype="float32"):
        """The kernel's `KernelCost` for a batch of `batch_size` inputs of
        `input_shape`, by the plans the planner picks for it."""
        return _costs.dense_cost(self, input_shape, batch_size, input_dtype)

"""TTDense: a densely connected layer whose kernel is a TT-matrix."""

import math

import keras
from keras import ops

from ttrnn import backends
from ttrnn import tt
from ttrnn.layers import _costs
from ttrnn.layers._tt_kernel import TTKernelMixin
from ttrnn.layers._tt_rnn_cell import check_finite

# Integer inputs are cast and mapped in row chunks of at most this many
# input values (16 MiB in float32), as the TT-RNNs' time chunks are.
MAX_INTEGER_CHUNK_VALUES = 2**22


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
    (`ttrnn.tt.ranks_for_budget`). `get_config()` stores the resolved
    shapes and ranks once they are known.

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
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.input_scale = check_finite("input_scale", input_scale)
        self.input_offset = check_finite("input_offset", input_offset)
        self._init_tt_kernel(
            tt_input_shape=tt_input_shape,
            tt_output_shape=tt_output_shape,
            tt_ranks=tt_ranks,
            units=units,
            tt_d=tt_d,
            tt_max_params=tt_max_params,
            tt_compression=tt_compression,
            tt_strategy=tt_strategy,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            kernel_constraint=kernel_constraint,
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
        # The ranks now if both modes are known; the rest in build().
        self._resolve_given()

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
        x = tt.matmul(x, list(weights[:d]), strategy=self.tt_strategy)
        return ops.add(x, weights[d]) if len(weights) > d else x

    def _folded_weights(self):
        """((x s + o) W + b = x (s W) + (o 1ᵀW + b): the cores and bias
        with `input_scale` s and `input_offset` o folded in."""
        cores = [ops.convert_to_tensor(c) for c in self.cores]
        bias = self.bias
        if self.input_offset != 0.0:
            ones = ops.ones((1, self.input_dim), dtype=self.compute_dtype)
            shift = tt.matmul(ones, cores, strategy=self.tt_strategy)
            shift = ops.multiply(ops.reshape(shift, (-1,)), self.input_offset)
            bias = shift if bias is None else ops.add(bias, shift)
        if self.input_scale != 1.0:
            cores[0] = ops.multiply(cores[0], self.input_scale)
        return cores, bias

    def _integer_map(self, inputs, cores, bias):
        """The map of integer inputs, cast in rematerialised row chunks:
        the rows are seen as one sequence (1, rows, M) and mapped by the
        TT-RNNs' time-chunked path (`backends.remat_time_chunks`)."""
        weights = [ops.convert_to_tensor(c) for c in cores]
        if bias is not None:
            weights.append(ops.convert_to_tensor(bias))
        lead = tuple(inputs.shape[:-1])
        static = all(size is not None for size in lead)
        rows = math.prod(lead) if static else -1
        x = ops.reshape(inputs, (1, rows, self.input_dim))
        chunk = max(1, MAX_INTEGER_CHUNK_VALUES // self.input_dim)
        if static:
            y = backends.remat_time_chunks(self._map, x, chunk, weights)
        elif keras.backend.backend() == "tensorflow":
            y = backends.remat_dynamic_time_chunks(
                self._map,
                x,
                MAX_INTEGER_CHUNK_VALUES,
                self.input_dim,
                self.compute_dtype,
                weights,
            )
        else:  # unknown sizes (shape inference): no chunks
            y = self._map(x, *weights)
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

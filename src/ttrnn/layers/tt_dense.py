"""TTDense: a densely connected layer whose kernel is a TT-matrix."""

import math

import keras
from keras import ops

from ttrnn import tt
from ttrnn.tt import initializers as tt_initializers


@keras.saving.register_keras_serializable(package="ttrnn")
class TTDense(keras.layers.Layer):
    """Densely connected layer with a Tensor-Train kernel.

    Computes `output = activation(x @ W + bias)` where the (M, N) kernel W
    is never stored: it is a TT-matrix of d cores G_k of shape
    (r_k, m_k, n_k, r_{k+1}), M = prod m_k, N = prod n_k, and x @ W is
    contracted core by core (or through W, whichever is cheaper). Inputs
    are flattened in C order, so an image (32, 32) with
    `tt_input_shape=(4, 8, 8, 4)` splits its rows and columns cleanly.

    Args:
        tt_input_shape: list of d ints, the input modes m_k; their product
            must equal the last dimension of the input.
        tt_output_shape: list of d ints, the output modes n_k; the layer
            has prod n_k units.
        tt_ranks: one int (every inner rank) or a list of d + 1 ints
            starting and ending with 1. Ranks above the largest useful
            rank at a cut are lowered to it with a warning.
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
        tt_strategy: contraction order: "auto" (fewest multiply-adds for
            the batch size), "ltr", "rtl" or "dense". Defaults to "auto".
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

    Reference:
        Novikov, Podoprikhin, Osokin, Vetrov, "Tensorizing Neural
        Networks", NIPS 2015.
    """

    def __init__(
        self,
        tt_input_shape,
        tt_output_shape,
        tt_ranks,
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
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.tt_input_shape, self.tt_output_shape = tt.validate_modes(
            tt_input_shape, tt_output_shape
        )
        self.tt_ranks = tt.validate_ranks(
            tt_ranks, self.tt_input_shape, self.tt_output_shape
        )
        if tt_strategy not in tt.ops.STRATEGIES:
            raise ValueError(
                f"`tt_strategy` must be one of {tt.ops.STRATEGIES}. "
                f"Received: tt_strategy={tt_strategy!r}"
            )
        self.tt_strategy = tt_strategy
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = tt_initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.layers.InputSpec(min_ndim=1)
        self.supports_masking = True

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is not None and input_dim != self.input_dim:
            raise ValueError(
                f"The last dimension of the input of {self.name} must equal "
                "the product of `tt_input_shape`. Received: "
                f"tt_input_shape={self.tt_input_shape} (product "
                f"{self.input_dim}) for an input of {input_dim} features"
            )
        core_inits = self.kernel_initializer.core_initializers(
            self.tt_input_shape, self.tt_output_shape, self.tt_ranks
        )
        core_shapes = tt.core_shapes(
            self.tt_input_shape, self.tt_output_shape, self.tt_ranks
        )
        self.cores = [
            self.add_weight(
                name=f"core_{k}",
                shape=shape,
                initializer=init,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            )
            for k, (shape, init) in enumerate(zip(core_shapes, core_inits))
        ]
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.input_spec = keras.layers.InputSpec(
            min_ndim=1, axes={-1: self.input_dim}
        )

    @property
    def input_dim(self):
        """M = prod(tt_input_shape)."""
        return math.prod(self.tt_input_shape)

    @property
    def units(self):
        """N = prod(tt_output_shape), the output size."""
        return math.prod(self.tt_output_shape)

    def call(self, inputs):
        x = tt.matmul(inputs, self.cores, strategy=self.tt_strategy)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def to_dense(self):
        """The full (M, N) kernel W = to_dense(cores), as a tensor."""
        return tt.to_dense(self.cores)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "tt_input_shape": list(self.tt_input_shape),
                "tt_output_shape": list(self.tt_output_shape),
                "tt_ranks": list(self.tt_ranks),
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": tt_initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(
                    self.bias_regularizer
                ),
                "activity_regularizer": keras.regularizers.serialize(
                    self.activity_regularizer
                ),
                "kernel_constraint": keras.constraints.serialize(
                    self.kernel_constraint
                ),
                "bias_constraint": keras.constraints.serialize(
                    self.bias_constraint
                ),
                "tt_strategy": self.tt_strategy,
            }
        )
        return config

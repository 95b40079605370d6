"""TTDense: a densely connected layer whose kernel is a TT-matrix."""

import math
import numbers

import keras
from keras import ops

from ttrnn import tt
from ttrnn.tt import factorize
from ttrnn.tt import initializers as tt_initializers
from ttrnn.tt import rounding


@keras.saving.register_keras_serializable(package="ttrnn")
class TTDense(keras.layers.Layer):
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
        tt_strategy: contraction order: "auto" (fewest multiply-adds for
            the batch size), "ltr", "rtl" or "dense". Defaults to "auto".
        units: the number of outputs, instead of (or agreeing with)
            `tt_output_shape`.
        tt_d: the number of modes d when neither shape is given; None
            (default) picks it from the dims (`ttrnn.tt.choose_d`).
        tt_max_params: with `tt_ranks="auto"`, the most core weights.
        tt_compression: with `tt_ranks="auto"`, the least ratio of dense
            kernel weights (M * N) to core weights.
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
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._check_shape_arguments(
            tt_input_shape, tt_output_shape, units, tt_d
        )
        self._check_rank_arguments(tt_ranks, tt_max_params, tt_compression)
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
        # Resolve now what the arguments determine; the rest in build().
        self.tt_input_shape = self.tt_output_shape = self.tt_ranks = None
        if tt_input_shape is not None:
            self.tt_input_shape = tuple(tt_input_shape)
        if tt_output_shape is not None:
            self.tt_output_shape = tuple(tt_output_shape)
        elif tt_input_shape is not None:
            d = len(self.tt_input_shape)
            modes = factorize.balanced_modes(units, d, "units")
            self.tt_output_shape = factorize.pair_modes(
                self.tt_input_shape, modes
            )
        elif tt_d is not None:
            factorize.balanced_modes(units, tt_d, "units")  # fail early
        if self.tt_input_shape is not None and self.tt_output_shape:
            self._resolve(self.tt_input_shape, self.tt_output_shape)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if self.tt_input_shape is None:
            self._resolve_from_input_dim(input_dim)
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
        """M = prod(tt_input_shape), or None until the layer is built."""
        if self.tt_input_shape is None:
            return None
        return math.prod(self.tt_input_shape)

    @property
    def units(self):
        """N = prod(tt_output_shape), the output size."""
        if self.tt_output_shape is None:
            return self._units
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

    def round(self, max_rank=None, eps=None, name=None):
        """A new, smaller TTDense with the cores TT-rounded.

        TT rounding (`ttrnn.tt.round_cores`) lowers the ranks without
        forming W: with `eps`, ||W - W_r||_F <= eps ||W||_F; `max_rank`
        caps the ranks (which may break that bound); with neither, only
        redundant ranks go and W is kept to float rounding. Train big,
        round, fine-tune.

        Args:
            max_rank: None, one int, or d + 1 ints (ends ignored).
            eps: None or the relative Frobenius error bound.
            name: the new layer's name; None picks a fresh one.

        Returns:
            A built TTDense with the same configuration (activation, bias,
            initialisers, dtype policy) except `tt_ranks`, holding the
            rounded cores and a copy of the bias. This layer is unchanged.

        Example:
        >>> import numpy as np
        >>> big = TTDense((4, 8, 8, 4), (4, 8, 8, 4), tt_ranks=8)
        >>> big.build((None, 1024))
        >>> small = big.round(max_rank=3)
        >>> small.tt_ranks
        (1, 3, 3, 3, 1)
        """
        if not self.built:
            raise ValueError(
                f"Layer {self.name} must be built (called on data or "
                "`build(input_shape)`) before `round()`: it has no cores yet."
            )
        cores = rounding.round_cores(
            [ops.convert_to_numpy(c) for c in self.cores], max_rank, eps
        )
        config = self.get_config()
        config["tt_ranks"] = [int(c.shape[0]) for c in cores] + [1]
        config.pop("name")
        if name is not None:
            config["name"] = name
        layer = self.__class__.from_config(config)
        build_with_cores(layer, layer, (None, self.input_dim), [cores])
        if self.use_bias:
            layer.bias.assign(ops.convert_to_numpy(self.bias))
        return layer

    def get_config(self):
        config = super().get_config()
        resolved = self.tt_ranks is not None
        config.update(
            {
                "tt_input_shape": _as_list(self.tt_input_shape),
                "tt_output_shape": _as_list(self.tt_output_shape),
                "tt_ranks": (
                    list(self.tt_ranks)
                    if resolved
                    else _as_list(self._tt_ranks_arg)
                ),
                "units": self.units,
                "tt_d": None if resolved else self._tt_d,
                "tt_max_params": None if resolved else self._tt_max_params,
                "tt_compression": (None if resolved else self._tt_compression),
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

    def _check_shape_arguments(
        self, tt_input_shape, tt_output_shape, units, tt_d
    ):
        if units is not None:
            units = factorize._check_int(units, "units", 1)
        if tt_d is not None:
            tt_d = factorize._check_int(tt_d, "tt_d", 1)
        if tt_output_shape is None and units is None:
            raise ValueError(
                "Give `units` or `tt_output_shape`. "
                "Received: units=None, tt_output_shape=None"
            )
        given = [s for s in (tt_input_shape, tt_output_shape) if s is not None]
        for shape in given:
            if tt_d is not None and len(tuple(shape)) != tt_d:
                raise ValueError(
                    f"`tt_d` must equal the number of given modes. "
                    f"Received: tt_d={tt_d} with tt_input_shape="
                    f"{tt_input_shape}, tt_output_shape={tt_output_shape}"
                )
        if len(given) == 2:
            tt.validate_modes(tt_input_shape, tt_output_shape)
        elif len(given) == 1:
            tt.validate_modes(given[0], given[0])
        if tt_output_shape is not None and units is not None:
            product = math.prod(tuple(tt_output_shape))
            if product != units:
                raise ValueError(
                    "`units` must equal the product of `tt_output_shape`. "
                    f"Received: units={units}, tt_output_shape="
                    f"{tuple(tt_output_shape)} (product {product})"
                )
        self._units, self._tt_d = units, tt_d

    def _check_rank_arguments(self, tt_ranks, tt_max_params, tt_compression):
        budget = tt_max_params is not None or tt_compression is not None
        if tt_ranks is None:
            raise ValueError(
                "`tt_ranks` is required: an int, a list of d + 1 ints, or "
                '"auto" with `tt_max_params` or `tt_compression`. '
                "Received: tt_ranks=None"
            )
        if isinstance(tt_ranks, str):
            if tt_ranks != "auto":
                raise ValueError(
                    '`tt_ranks` must be an int, a list of ints or "auto". '
                    f"Received: tt_ranks={tt_ranks!r}"
                )
            if (tt_max_params is None) == (tt_compression is None):
                raise ValueError(
                    'tt_ranks="auto" needs exactly one of `tt_max_params` '
                    "and `tt_compression`. Received: tt_max_params="
                    f"{tt_max_params}, tt_compression={tt_compression}"
                )
        elif budget:
            raise ValueError(
                '`tt_max_params` and `tt_compression` need tt_ranks="auto". '
                f"Received: tt_ranks={tt_ranks!r}, tt_max_params="
                f"{tt_max_params}, tt_compression={tt_compression}"
            )
        if tt_max_params is not None:
            tt_max_params = factorize._check_int(
                tt_max_params, "tt_max_params", 1
            )
        if tt_compression is not None and not tt_compression > 0:
            raise ValueError(
                "`tt_compression` must be > 0. "
                f"Received: tt_compression={tt_compression}"
            )
        if isinstance(tt_ranks, numbers.Integral) and not isinstance(
            tt_ranks, bool
        ):
            tt_ranks = int(tt_ranks)
        elif not isinstance(tt_ranks, str) and hasattr(tt_ranks, "__iter__"):
            tt_ranks = tuple(tt_ranks)
        self._tt_ranks_arg = tt_ranks
        self._tt_max_params = tt_max_params
        self._tt_compression = tt_compression

    def _resolve_from_input_dim(self, input_dim):
        if input_dim is None:
            raise ValueError(
                f"Layer {self.name} needs a known last input dimension to "
                "choose `tt_input_shape`. Received: input_shape with last "
                "dimension None"
            )
        if self.tt_output_shape is not None:
            d = len(self.tt_output_shape)
            modes = factorize.balanced_modes(input_dim, d, "input_dim")
            ins = factorize.pair_modes(self.tt_output_shape, modes)
            outs = self.tt_output_shape
        else:
            ins, outs = factorize.auto_shapes(
                input_dim, self._units, self._tt_d
            )
        self._resolve(ins, outs)

    def _resolve(self, tt_input_shape, tt_output_shape):
        ins, outs = tt.validate_modes(tt_input_shape, tt_output_shape)
        if self._tt_ranks_arg == "auto":
            ranks = factorize.ranks_for_budget(
                ins, outs, self._tt_max_params, self._tt_compression
            )
        else:
            ranks = tt.validate_ranks(self._tt_ranks_arg, ins, outs)
        self.tt_input_shape, self.tt_output_shape = ins, outs
        self.tt_ranks = ranks


class _Given(keras.initializers.Initializer):
    """Returns a given array (cast to the variable's dtype)."""

    def __init__(self, value):
        self.value = value

    def __call__(self, shape, dtype=None):
        return ops.convert_to_tensor(self.value, dtype=dtype)


class _GivenCores(tt_initializers.TTInitializer):
    """Hands out given core groups, one group per `core_initializers`."""

    def __init__(self, groups):
        self._groups = iter(groups)

    def core_initializers(self, tt_input_shape, tt_output_shape, tt_ranks):
        return [_Given(core) for core in next(self._groups)]

    def get_config(self):
        return {}


def build_with_cores(layer, owner, input_shape, groups, recurrent=None):
    """Builds `layer` with the given cores (and recurrent kernel).

    Skips the random draws (and, on JAX, their per-shape compilation) of
    weights that are overwritten at once. `owner` holds the initialisers
    (the layer, or an RNN layer's cell); `groups` lists the core groups in
    the order the owner's `build` asks for them. The initialisers are
    restored afterwards, so the configuration is unchanged.
    """
    names = ["kernel_initializer"]
    if recurrent is not None:
        names.append("recurrent_initializer")
    saved = {name: getattr(owner, name) for name in names}
    owner.kernel_initializer = _GivenCores(groups)
    if recurrent is not None:
        owner.recurrent_initializer = _Given(recurrent)
    try:
        layer.build(input_shape)
    finally:
        for name, value in saved.items():
            setattr(owner, name, value)


def _as_list(value):
    if value is None or isinstance(value, (str, int)):
        return value
    return [int(v) for v in value]

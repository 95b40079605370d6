"""The base of every TT layer: a kernel held as TT cores.

`TTKernelMixin` gives a layer (`TTDense`, the TT-RNN cells, and any new
TT layer) what all TT kernels share:

- the shape and rank arguments: validates `tt_input_shape`,
  `tt_output_shape`, `units`, `tt_d`, `tt_ranks`, `tt_max_params` and
  `tt_compression`, resolves what they determine in `__init__` and the
  rest from the input dim in `build` (the math is `ttrnn.tt.factorize`),
  and writes them back to the config;
- `input_dim`, `units`, `tt_core_shapes`, `to_dense`, `round`;
- the build-time input check (`_build_tt_kernel`) and the cores as
  weights (`_add_cores`);
- `build_with_cores`: building a layer around given cores (rounding,
  compression), without drawing random ones first.
"""

import math

import keras
from keras import ops

from ttrnn import tt
from ttrnn.tt import factorize
from ttrnn.tt import initializers as tt_initializers
from ttrnn.tt import rounding
from ttrnn.tt import shapes


class TTKernelMixin:
    """Shape arguments, cores and dense view of a layer's TT kernel.

    The host layer calls `_init_tt_kernel` in `__init__` (after whatever
    `_tt_ranks_for` needs), then `_resolve_given()` at its end; in `build`
    it calls `_build_tt_kernel(input_shape)` and `_add_cores(...)`;
    `get_config` adds `_tt_kernel_config()`. Hosts whose TT-matrix is
    not (tt_input_shape, tt_output_shape), such as the gate-expanded map
    of a TT-RNN, override `_tt_ranks_for` and `tt_core_shapes`.
    """

    @property
    def input_dim(self):
        """M = prod(tt_input_shape), or None until the modes are known."""
        if self.tt_input_shape is None:
            return None
        return math.prod(self.tt_input_shape)

    @property
    def units(self):
        """N = prod(tt_output_shape), the output size."""
        if self.tt_output_shape is None:
            return self._units
        return math.prod(self.tt_output_shape)

    @property
    def tt_core_shapes(self):
        """Shapes of `cores`; None while the modes wait for the input."""
        if self.tt_ranks is None:
            return None
        return tt.core_shapes(
            self.tt_input_shape, self.tt_output_shape, self.tt_ranks
        )

    def to_dense(self):
        """The full (M, N) kernel W = to_dense(cores), as a tensor."""
        return tt.to_dense(self.cores)

    def round(self, max_rank=None, eps=None, name=None):
        """A new, smaller layer of this class with the cores TT-rounded.

        TT rounding (`ttrnn.tt.round_cores`) lowers the ranks without
        forming W: with `eps`, ||W - W_r||_F <= eps ||W||_F; `max_rank`
        caps the ranks (which may break that bound); with neither, only
        redundant ranks go and W is kept to float rounding. Train big,
        round, fine-tune.

        Args:
            max_rank: None, one int, or one int per rank (ends ignored).
            eps: None or the relative Frobenius error bound.
            name: the new layer's name; None picks a fresh one.

        Returns:
            A built layer with the same configuration (activation, bias,
            initialisers, dtype policy) except `tt_ranks`, holding the
            rounded cores and a copy of the bias. This layer is unchanged.

        Example:
        >>> from ttrnn import TTDense
        >>> big = TTDense((4, 8, 8, 4), (4, 8, 8, 4), tt_ranks=8)
        >>> big.build((None, 1024))
        >>> small = big.round(max_rank=3)
        >>> small.tt_ranks
        (1, 3, 3, 3, 1)
        """
        require_built(self, "round()")
        cores = rounding.round_cores(
            [ops.convert_to_numpy(c) for c in self.cores], max_rank, eps
        )
        config = self.get_config()
        config["tt_ranks"] = [int(c.shape[0]) for c in cores] + [1]
        config.pop("name")
        if name is not None:
            config["name"] = name
        layer = self.__class__.from_config(config)
        build_with_cores(layer, layer, self._round_build_shape(), [cores])
        if getattr(self, "bias", None) is not None:
            layer.bias.assign(ops.convert_to_numpy(self.bias))
        return layer

    def _round_build_shape(self):
        """The input shape `round` builds the new layer for."""
        return (None, self.input_dim)

    def _build_tt_kernel(self, input_shape):
        """Resolves the modes from the input dim if needed; checks it."""
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

    def _add_cores(self, groups):
        """Adds `self.cores`: for each `(prefix, initializers)` group, one
        weight `core_<prefix><k>` per initialiser, shaped by
        `tt_core_shapes` in order."""
        core_shapes = iter(self.tt_core_shapes)
        self.cores = [
            self.add_weight(
                name=f"core_{prefix}{k}",
                shape=next(core_shapes),
                initializer=init,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            )
            for prefix, inits in groups
            for k, init in enumerate(inits)
        ]

    def _init_bias_and_activation(
        self,
        activation,
        use_bias,
        bias_initializer,
        bias_regularizer,
        bias_constraint,
    ):
        """Stores the arguments of `activation(y + bias)` (Dense, Conv)."""
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.bias_constraint = keras.constraints.get(bias_constraint)

    def _add_bias(self):
        """Adds `self.bias` of shape (units,), or sets it to None."""
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def _bias_and_activation_config(self):
        """Config entries of `_init_bias_and_activation`'s arguments (and
        the activity regulariser)."""
        return {
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "bias_initializer": keras.initializers.serialize(
                self.bias_initializer
            ),
            "bias_regularizer": keras.regularizers.serialize(
                self.bias_regularizer
            ),
            "activity_regularizer": keras.regularizers.serialize(
                self.activity_regularizer
            ),
            "bias_constraint": keras.constraints.serialize(
                self.bias_constraint
            ),
        }

    def _init_tt_kernel(
        self,
        *,
        tt_input_shape,
        tt_output_shape,
        tt_ranks,
        units,
        tt_d,
        tt_max_params,
        tt_compression,
        tt_strategy,
        kernel_initializer,
        kernel_regularizer,
        kernel_constraint,
    ):
        """Validates and stores the kernel's arguments (shapes, ranks,
        strategy, initialiser, regulariser, constraint); resolves the
        modes they determine. The host then calls `_resolve_given()` at
        the end of its `__init__`."""
        self._check_shape_arguments(
            tt_input_shape, tt_output_shape, units, tt_d
        )
        self._check_rank_arguments(tt_ranks, tt_max_params, tt_compression)
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
        tt.validate_strategy(tt_strategy, "tt_strategy")
        self.tt_strategy = tt_strategy
        self.kernel_initializer = tt_initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)

    def _tt_kernel_config(self):
        """Config entries of `_init_tt_kernel`'s arguments."""
        return {
            **self._tt_shape_config(),
            "tt_strategy": self.tt_strategy,
            "kernel_initializer": tt_initializers.serialize(
                self.kernel_initializer
            ),
            "kernel_regularizer": keras.regularizers.serialize(
                self.kernel_regularizer
            ),
            "kernel_constraint": keras.constraints.serialize(
                self.kernel_constraint
            ),
        }

    def _resolve_given(self):
        """Resolves the ranks when both modes were given (end of init)."""
        if self.tt_input_shape is not None and self.tt_output_shape:
            self._resolve(self.tt_input_shape, self.tt_output_shape)

    def _check_shape_arguments(
        self, tt_input_shape, tt_output_shape, units, tt_d
    ):
        if units is not None:
            units = shapes.check_int(units, "units", 1)
        if tt_d is not None:
            tt_d = shapes.check_int(tt_d, "tt_d", 1)
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
            tt_max_params = shapes.check_int(tt_max_params, "tt_max_params", 1)
        if tt_compression is not None and not tt_compression > 0:
            raise ValueError(
                "`tt_compression` must be > 0. "
                f"Received: tt_compression={tt_compression}"
            )
        if isinstance(tt_ranks, str):
            pass  # "auto", checked above
        elif shapes.is_scalar_rank(tt_ranks):
            # 2.5, True: rejected here, as Keras rejects units=2.5.
            tt_ranks = shapes.check_rank(tt_ranks)
        else:
            tt_ranks = shapes.as_int_tuple(tt_ranks, "tt_ranks")
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
        ranks = self._tt_ranks_for(ins, outs)
        self.tt_input_shape, self.tt_output_shape = ins, outs
        self.tt_ranks = ranks

    def _tt_ranks_for(self, tt_input_shape, tt_output_shape):
        """The ranks of the (tt_input_shape, tt_output_shape) TT-matrix."""
        if self._tt_ranks_arg == "auto":
            return factorize.ranks_for_budget(
                tt_input_shape,
                tt_output_shape,
                self._tt_max_params,
                self._tt_compression,
            )
        return tt.validate_ranks(
            self._tt_ranks_arg, tt_input_shape, tt_output_shape
        )

    def _tt_shape_config(self):
        """Config entries of the shape arguments: resolved once known."""
        resolved = self.tt_ranks is not None
        return {
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
            "tt_compression": None if resolved else self._tt_compression,
        }


def _as_list(value):
    if value is None or isinstance(value, (str, int)):
        return value
    return [int(v) for v in value]


def require_built(layer, action):
    """Raises a ValueError naming `layer` and `action` if it is unbuilt."""
    if not layer.built:
        raise ValueError(
            f"Layer {layer.name} must be built (called on data or "
            f"`build(input_shape)`) before `{action}`: it has no cores yet."
        )


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

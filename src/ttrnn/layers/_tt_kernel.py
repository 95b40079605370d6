"""The Keras side of every TT layer: a kernel held as TT cores.

`TTKernelMixin` gives a TT layer its cores as weights, bias and
activation, and `round`. What the shape and rank arguments mean is
`ttrnn.tt.TTMatrixSpec`: the layer holds its arguments (`tt_spec`, the
config) and, once the modes are known (in `__init__` when given, else in
`build`), the resolved spec (`tt_resolved_spec`, the build config).
"""

import math

import keras
from keras import ops

from ttrnn import tt
from ttrnn.layers._tt_rebuild import build_with_cores
from ttrnn.layers._tt_rebuild import load_resolved_spec
from ttrnn.layers._tt_rebuild import save_resolved_spec
from ttrnn.layers._tt_rebuild import with_ranks
from ttrnn.tt import initializers as tt_initializers
from ttrnn.tt import rounding


def _spec_property(name, doc, given=True):
    def getter(self):
        spec = self.tt_resolved_spec or (self.tt_spec if given else None)
        return getattr(spec, name, None)

    return property(getter, doc=f"{doc}; None until they are known.")


class TTKernelMixin:
    """Cores, bias, activation and round of a layer's TT kernel: the host
    calls `_init_tt_kernel` in `__init__`, `_build_tt_kernel` (or
    `_resolve_tt`) and `_add_cores` in `build`."""

    def _init_tt_kernel(
        self,
        spec,
        tt_strategy,
        kernel_initializer,
        kernel_regularizer,
        kernel_constraint,
    ):
        """Stores the spec (resolved now unless the modes wait for the
        input), the strategy and the kernel's Keras arguments."""
        self.tt_spec = spec
        self.tt_resolved_spec = None
        if not spec.needs_input_dim:
            self.tt_resolved_spec = spec.resolve()
        tt.validate_strategy(tt_strategy, "tt_strategy")
        self.tt_strategy = tt_strategy
        self.kernel_initializer = tt_initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)

    tt_input_shape = _spec_property("tt_input_shape", "The input modes")
    tt_output_shape = _spec_property("tt_output_shape", "The output modes")
    tt_ranks = _spec_property("tt_ranks", "The resolved ranks", given=False)

    @property
    def input_dim(self):
        """M = prod(tt_input_shape), or None until the modes are known."""
        return self.tt_input_shape and math.prod(self.tt_input_shape)

    @property
    def units(self):
        """N = prod(tt_output_shape), the output size."""
        return (self.tt_resolved_spec or self.tt_spec).output_size

    @property
    def tt_core_shapes(self):
        """Shapes of `cores`; None while the modes wait for the input."""
        resolved = self.tt_resolved_spec
        return None if resolved is None else resolved.core_shapes

    @property
    def core_groups(self):
        """`cores` split per TT-matrix: one list, or one per gate (a
        TT-RNN's separate layout), each a TT-matrix of its own."""
        require_built(self, "core_groups")
        return self.tt_resolved_spec.core_groups(self.cores)

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
        ranks = [int(c.shape[0]) for c in cores] + [1]
        layer = with_ranks(self, self.tt_resolved_spec, ranks, name)
        build_with_cores(layer, layer, self._round_build_shape(), [cores])
        if getattr(self, "bias", None) is not None:
            layer.bias.assign(ops.convert_to_numpy(self.bias))
        return layer

    def _round_build_shape(self):
        """The input shape `round` builds the new layer for."""
        return (None, self.input_dim)

    def _resolve_tt(self, input_dim):
        """Resolves the spec against the input dim, once."""
        if self.tt_resolved_spec is not None:
            return
        if input_dim is None:
            raise ValueError(
                f"Layer {self.name} needs a known last input dimension to "
                "choose `tt_input_shape`. Received: input_shape with last "
                "dimension None"
            )
        self.tt_resolved_spec = self.tt_spec.resolve(input_dim)

    def _build_tt_kernel(self, input_shape):
        """Resolves the modes from the input dim if needed; checks it."""
        input_dim = input_shape[-1]
        self._resolve_tt(input_dim)
        if input_dim is not None and input_dim != self.input_dim:
            raise ValueError(
                f"The last dimension of the input of {self.name} must equal "
                "the product of `tt_input_shape`. Received: "
                f"tt_input_shape={self.tt_input_shape} (product "
                f"{self.input_dim}) for an input of {input_dim} features"
            )

    def get_build_config(self):
        """Keras' build config, with the resolved modes and ranks."""
        return save_resolved_spec(self, super().get_build_config())

    def build_from_config(self, config):
        """Builds with the saved modes and ranks (not chosen again)."""
        load_resolved_spec(self, config)
        super().build_from_config(config)

    def _add_cores(self, groups):
        """Adds `self.cores`: per `(prefix, initializers)` group, weights
        `core_<prefix><k>` shaped by `tt_core_shapes` in order."""
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

    def _init_bias_and_activation(self, activation, use_bias, *bias):
        """Stores the arguments of `activation(y + bias)` (Dense, Conv);
        `bias`: the bias's initialiser, regulariser and constraint."""
        initializer, regularizer, constraint = bias
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(initializer)
        self.bias_regularizer = keras.regularizers.get(regularizer)
        self.bias_constraint = keras.constraints.get(constraint)

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
        names = ("initializer", "regularizer", "constraint")
        config = serialized(self, "activation", "use_bias")
        config.update(serialized(self, *(f"bias_{n}" for n in names)))
        return {**config, **serialized(self, "activity_regularizer")}

    def _tt_kernel_config(self):
        """Config entries of the spec's arguments and of the kernel's."""
        return {
            **self.tt_spec.to_config(),
            "tt_strategy": self.tt_strategy,
            "kernel_initializer": tt_initializers.serialize(
                self.kernel_initializer
            ),
            **serialized(self, "kernel_regularizer", "kernel_constraint"),
        }


_SERIALIZERS = {
    "activation": keras.activations.serialize,
    "initializer": keras.initializers.serialize,
    "regularizer": keras.regularizers.serialize,
    "constraint": keras.constraints.serialize,
}


def serialized(layer, *names):
    """Config entries `{name: layer.<name>}`, Keras initialisers,
    regularisers and constraints (by the name's ending) serialised."""
    config = {}
    for name in names:
        serialize = _SERIALIZERS.get(name.rsplit("_", 1)[-1])
        value = getattr(layer, name)
        config[name] = value if serialize is None else serialize(value)
    return config


def require_built(layer, action):
    """Raises a ValueError naming `layer` and `action` if it is unbuilt."""
    if not layer.built:
        raise ValueError(
            f"Layer {layer.name} must be built (called on data or "
            f"`build(input_shape)`) before `{action}`: it has no cores yet."
        )

"""Rebuilding TT layers: around given cores, or from a build config.

`round` and `ttrnn.compress` make a layer of new ranks from cores they
computed: `with_ranks` gives the unbuilt layer, `build_with_cores` builds
it with those cores (skipping the random draws, and on JAX their
per-shape compilation, of weights that are overwritten at once). A saved
layer is built with the modes and ranks its build config holds
(`save_resolved_spec`, `load_resolved_spec`), not chosen again.
"""

import keras
from keras import ops

from ttrnn.tt import initializers as tt_initializers
from ttrnn.tt import rounding
from ttrnn.tt.spec import TTMatrixSpec


def save_resolved_spec(owner, build_config):
    """`build_config` with `owner`'s resolved spec (modes and ranks)."""
    if build_config is not None and owner.tt_resolved_spec is not None:
        build_config["tt_spec"] = owner.tt_resolved_spec.to_config()
    return build_config


def load_resolved_spec(owner, build_config):
    """Sets `owner`'s resolved spec from a build config that has one
    (files saved before the spec had none: their configs held it)."""
    if "tt_spec" in build_config:
        saved = TTMatrixSpec.from_config(
            build_config["tt_spec"], **owner.tt_spec.context
        )
        owner.tt_resolved_spec = saved.resolve()


def with_ranks(layer, resolved, tt_ranks, name):
    """An unbuilt copy of `layer` with the `resolved` spec's modes and the
    given ranks, named `name` (None: a fresh name)."""
    config = layer.get_config()
    config.update(resolved.replace(tt_ranks=tuple(tt_ranks)).to_config())
    config.pop("name")
    if name is not None:
        config["name"] = name
    return layer.__class__.from_config(config)


def rounded_groups(core_groups, max_rank=None, eps=None):
    """Each TT-matrix of `core_groups` TT-rounded (`round_cores`), then
    zero-padded to the largest rank at each cut, as the gates of a
    TT-RNN share its `tt_ranks` (zero padding keeps W).

    Returns:
        `(groups, ranks)`: the rounded groups of NumPy cores, and the
        ranks (d + 1 ints) they share.
    """
    groups = [
        rounding.round_cores(
            [ops.convert_to_numpy(c) for c in group], max_rank, eps
        )
        for group in core_groups
    ]
    d = len(groups[0])
    ranks = [
        max(int(group[k].shape[0]) for group in groups) for k in range(d)
    ] + [1]
    return [rounding.pad_ranks(group, ranks) for group in groups], ranks


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

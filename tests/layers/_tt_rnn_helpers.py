"""Shared checks of the TT-RNN tests: Keras twins with the same weights."""

import keras
import numpy as np

from tests.helpers import dense_from_cores
from tests.helpers import to_numpy

# Small TT-RNN used by the equality tests: 12 features, 6 units.
INS, OUTS, RANKS = (3, 4), (2, 3), 2
FEATURES, UNITS = 12, 6


def sequences(batch=3, steps=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, steps, FEATURES)).astype("float32")


def ragged_mask(batch=3, steps=5):
    """Right padding, left padding and a hole in the middle."""
    mask = np.ones((batch, steps), bool)
    mask[0, -2:] = False
    if batch > 1:
        mask[1, :2] = False
    if batch > 2:
        mask[2, 2] = False
    return mask


def dense_kernel(layer_or_cell):
    """The (M, G units) kernel from the cores, by an independent einsum."""
    cell = getattr(layer_or_cell, "cell", layer_or_cell)
    cores = [to_numpy(c) for c in cell.cores]
    if cell.tt_gate_layout == "shared":
        return dense_from_cores(cores)
    d = len(cell.tt_input_shape)
    gates = [
        dense_from_cores(cores[g * d : (g + 1) * d])
        for g in range(cell.num_gates)
    ]
    return np.concatenate(gates, axis=1)


def keras_weights(layer_or_cell):
    """[kernel, recurrent_kernel, (bias)] for Keras' own layer."""
    cell = getattr(layer_or_cell, "cell", layer_or_cell)
    weights = [dense_kernel(cell), to_numpy(cell.recurrent_kernel)]
    if cell.bias is not None:
        weights.append(to_numpy(cell.bias))
    return weights


def keras_twin(keras_cls, tt_layer, steps=None, **kwargs):
    """A built Keras layer of the same units holding the TT layer's weights."""
    twin = keras_cls(tt_layer.units, **kwargs)
    twin.build((None, steps, tt_layer.input_dim))
    twin.set_weights(keras_weights(tt_layer))
    return twin


def as_list(outputs):
    if isinstance(outputs, (list, tuple)):
        return [to_numpy(o) for o in outputs]
    return [to_numpy(outputs)]


def assert_same(actual, expected, rtol=1e-5, atol=1e-5):
    actual, expected = as_list(actual), as_list(expected)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


def config_round_trip(obj):
    config = obj.get_config()
    again = obj.__class__.from_config(config)
    assert again.get_config() == config
    return again


def save_and_load(model, path, x):
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects needed
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(loaded(x)))
    return loaded


def core_param_count(cell_cls, ranks, layout, **kwargs):
    """Input-to-hidden weights of a UCF11 cell (Yang et al. 2017, Table 1).

    Counted from `tt_core_shapes`, the shapes `build` gives the cores (no
    57,600-input cell needs building for that).
    """
    cell = cell_cls(
        (8, 20, 20, 18), (4, 4, 4, 4), ranks, tt_gate_layout=layout, **kwargs
    )
    return sum(int(np.prod(s)) for s in cell.tt_core_shapes)

"""For every TT layer: `get_config()` is the same before and after
`build()`, the resolved modes and ranks travel in the build config, and
a `.keras` reload gets the same cores."""

import os

import keras
import numpy as np
import pytest

import ttrnn
from tests.helpers import to_numpy

SEQ = (3, 12)
# name -> (layer factory, input shape without batch, input dtype)
CASES = {
    "dense": (
        lambda: ttrnn.TTDense(units=6, tt_ranks="auto", tt_max_params=40),
        (12,),
        "float32",
    ),
    "embedding": (
        lambda: ttrnn.TTEmbedding(50, 6, tt_ranks="auto", tt_compression=3),
        (3,),
        "int32",
    ),
    "conv2d": (
        lambda: ttrnn.TTConv2D(
            4, 3, tt_ranks=2, tt_d=2, data_format="channels_last"
        ),
        (5, 5, 6),
        "float32",
    ),
    "simple_rnn": (
        lambda: ttrnn.TTSimpleRNN(units=6, tt_ranks="auto", tt_compression=2),
        SEQ,
        "float32",
    ),
    "gru": (
        lambda: ttrnn.TTGRU(
            units=6,
            tt_ranks="auto",
            tt_max_params=120,
            tt_gate_layout="separate",
        ),
        SEQ,
        "float32",
    ),
    "lstm": (
        lambda: ttrnn.TTLSTM(units=6, tt_ranks=2, tt_d=2),
        SEQ,
        "float32",
    ),
    "gru_cell": (
        lambda: keras.layers.RNN(
            ttrnn.TTGRUCell(units=6, tt_ranks="auto", tt_compression=2)
        ),
        SEQ,
        "float32",
    ),
}


def _tt_layer(layer):
    return layer.cell if type(layer) is keras.layers.RNN else layer


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_unchanged_by_build(name):
    make, shape, _ = CASES[name]
    layer = _tt_layer(make())
    config = layer.get_config()
    layer.build((None, *shape))
    assert layer.get_config() == config
    assert layer.tt_ranks is not None
    assert layer.get_build_config()["tt_spec"] == (
        layer.tt_resolved_spec.to_config()
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_keras_file_restores_the_cores(name, tmp_path):
    make, shape, dtype = CASES[name]
    model = keras.Sequential([keras.Input(shape, dtype=dtype), make()])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 50, (2, *shape)).astype(dtype)
    path = os.path.join(tmp_path, f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    before, after = _tt_layer(model.layers[-1]), _tt_layer(loaded.layers[-1])
    assert after.tt_resolved_spec == before.tt_resolved_spec
    assert after.get_config() == before.get_config()
    for a, b in zip(after.cores, before.cores):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))

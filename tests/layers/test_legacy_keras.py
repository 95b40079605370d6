"""`.keras` files saved before the TT-matrix spec still load.

The files and the expected outputs in `legacy_keras/` were written by
`legacy_keras/make_files.py` with the code of main at 896303c, whose
configs held the resolved modes and ranks: the outputs are the saving
code's own, an independent reference for the loading code.
"""

import os

import keras
import numpy as np
import pytest

from tests.helpers import to_numpy

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "legacy_keras")
NAMES = [
    "tt_dense",
    "tt_embedding",
    "tt_conv2d",
    "tt_simple_rnn",
    "tt_simple_rnn_cell",
    "tt_gru",
    "tt_lstm",
]


@pytest.fixture(scope="module")
def expected():
    with np.load(os.path.join(HERE, "expected.npz")) as data:
        return dict(data)


@pytest.mark.parametrize("name", NAMES)
def test_legacy_file_loads_with_the_same_outputs(name, expected):
    model = keras.saving.load_model(os.path.join(HERE, f"{name}.keras"))
    y = to_numpy(model(expected[f"{name}_x"]))
    np.testing.assert_allclose(y, expected[f"{name}_y"], rtol=1e-5, atol=1e-6)
    # The reloaded layer's config round-trips.
    layer = model.layers[-1]
    if type(layer) is keras.layers.RNN:
        layer = layer.cell
    config = layer.get_config()
    assert layer.__class__.from_config(config).get_config() == config

"""TT-RNNs under Keras' `mixed_bfloat16` policy (variables float32,
products bfloat16), on uint8 frames: the integer input map casts its
pieces to the compute dtype. Outputs and one training step's weight
updates must match the float32 layer with the same weights within
bfloat16's precision (~3 significant digits)."""

import keras
import numpy as np
import pytest

from tests.helpers import to_numpy
from tests.layers.test_tt_rnn_inputs import FEATURES
from tests.layers.test_tt_rnn_inputs import LAYERS
from tests.layers.test_tt_rnn_inputs import OFFSET
from tests.layers.test_tt_rnn_inputs import SCALE
from tests.layers.test_tt_rnn_inputs import pixels

INS, OUTS, RANKS = (4, 6), (2, 3), 2


def _models(layer_cls):
    """A float32 and a mixed_bfloat16 model with the same weights."""
    models = {}
    for policy in ("float32", "mixed_bfloat16"):
        layer = layer_cls(
            INS,
            OUTS,
            RANKS,
            input_scale=SCALE,
            input_offset=OFFSET,
            dtype=policy,
        )
        models[policy] = keras.Sequential(
            [keras.Input((None, FEATURES), dtype="uint8"), layer]
        )
    weights = models["float32"].get_weights()
    models["mixed_bfloat16"].set_weights(weights)
    return models, weights


@pytest.mark.parametrize("layer_cls", LAYERS)
def test_mixed_bfloat16_matches_float32(layer_cls):
    models, weights = _models(layer_cls)
    layer = models["mixed_bfloat16"].layers[0]
    assert layer.compute_dtype == "bfloat16"
    assert all(w.dtype == "float32" for w in layer.weights)
    x = pixels()
    want = to_numpy(models["float32"](x))
    got = to_numpy(models["mixed_bfloat16"](x)).astype("float32")
    assert np.abs(want).max() > 0.05
    np.testing.assert_allclose(got, want, atol=0.03 * np.abs(want).max())
    y = np.random.default_rng(1).standard_normal(want.shape)
    updates = {}
    for policy, model in models.items():
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
        model.fit(x, y.astype("float32"), batch_size=3, verbose=0)
        updates[policy] = [
            np.asarray(w, np.float64) - w0
            for w, w0 in zip(model.get_weights(), weights)
        ]
    for low, full in zip(updates["mixed_bfloat16"], updates["float32"]):
        assert np.abs(full).max() > 0
        np.testing.assert_allclose(low, full, atol=0.08 * np.abs(full).max())

import keras
import numpy as np
import pytest

from tests.helpers import to_numpy
from ttrnn import activations


class TestKeras2HardSigmoid:
    def test_values(self):
        x = np.array([-4.0, -2.5, -1.0, 0.0, 1.0, 2.5, 4.0], "float32")
        y = to_numpy(activations.keras2_hard_sigmoid(x))
        np.testing.assert_allclose(y, np.clip(0.2 * x + 0.5, 0, 1), 1e-7)
        # Keras 3's hard_sigmoid is a different function (slope 1/6).
        keras3 = to_numpy(keras.activations.hard_sigmoid(x))
        assert abs(keras3[4] - y[4]) > 0.03
        for dtype in ("float16", "bfloat16"):
            out = activations.keras2_hard_sigmoid(keras.ops.cast(x, dtype))
            assert keras.backend.standardize_dtype(out.dtype) == dtype

    def test_get_and_serialize(self):
        fn = activations.keras2_hard_sigmoid
        assert activations.get("keras2_hard_sigmoid") is fn
        config = activations.serialize(fn)
        assert activations.get(config) is fn
        assert keras.saving.deserialize_keras_object(config) is fn
        assert activations.get("tanh") is keras.activations.tanh
        assert activations.get(None) is keras.activations.linear
        with pytest.raises(ValueError, match=r"keras2_hard_sigmod"):
            activations.get("keras2_hard_sigmod")

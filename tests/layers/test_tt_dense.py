import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import to_numpy
from ttrnn import TTDense
from ttrnn import tt
from ttrnn.testing import run_layer_test

BACKEND = keras.backend.backend()
INS, OUTS, RANKS = (4, 6, 2), (3, 2, 5), (1, 3, 2, 1)


def _weights(layer):
    cores = [to_numpy(c) for c in layer.cores]
    bias = to_numpy(layer.bias) if layer.bias is not None else 0.0
    return cores, bias


class TestTTDense:
    def test_layer(self):
        run_layer_test(
            TTDense,
            {
                "tt_input_shape": INS,
                "tt_output_shape": OUTS,
                "tt_ranks": RANKS,
                "activation": "relu",
                "kernel_initializer": "orthogonal",
            },
            input_shape=(5, 48),
            expected_output_shape=(5, 30),
            expected_num_trainable_weights=4,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            supports_masking=True,
        )

    @pytest.mark.parametrize(
        "kwargs, input_shape, output_shape, losses",
        [
            (
                {
                    "use_bias": False,
                    "kernel_initializer": "he_normal",
                    "kernel_regularizer": keras.regularizers.L2(0.01),
                    "bias_constraint": "non_neg",
                    "tt_strategy": "rtl",
                },
                (4, 48),
                (4, 30),
                3,
            ),
            ({"activation": "tanh"}, (2, 7, 48), (2, 7, 30), 0),
        ],
    )
    def test_variants(self, kwargs, input_shape, output_shape, losses):
        run_layer_test(
            TTDense,
            {"tt_input_shape": [4, 6, 2], "tt_output_shape": OUTS,
             "tt_ranks": 2, **kwargs},
            input_shape=input_shape,
            expected_output_shape=output_shape,
            expected_num_losses=losses,
            run_training_check=False,
            run_mixed_precision_check=False,
            run_saving_check=False,
        )  # fmt: skip

    def test_cores_and_arguments(self):
        layer = TTDense(INS, OUTS, RANKS)
        layer.build((None, 48))
        assert layer.units == 30 and layer.input_dim == 48
        assert [tuple(c.shape) for c in layer.cores] == [
            (1, 4, 3, 3),
            (3, 6, 2, 2),
            (2, 2, 5, 1),
        ]
        assert layer.count_params() == tt.num_params(INS, OUTS, RANKS) + 30
        again = TTDense([4, 6, 2], [3, 2, 5], 2, kernel_initializer="he_normal")
        assert again.tt_ranks == (1, 2, 2, 1)
        assert isinstance(again.kernel_initializer, tt.TTVarianceScaling)
        assert again.kernel_initializer.mode == "fan_in"

    @pytest.mark.parametrize("lead", [(6,), (2, 3), (2, 3, 1)])
    @pytest.mark.parametrize("strategy", ["auto", "ltr", "rtl", "dense"])
    def test_correctness_against_float64_reference(self, lead, strategy):
        layer = TTDense(
            INS,
            OUTS,
            RANKS,
            activation="sigmoid",
            bias_initializer="random_normal",
            tt_strategy=strategy,
        )
        x = np.random.default_rng(1).standard_normal(lead + (48,))
        y = to_numpy(layer(x.astype("float32")))
        cores, bias = _weights(layer)
        expected = 1 / (1 + np.exp(-(x @ dense_from_cores(cores) + bias)))
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)

    def test_equals_keras_dense_with_reconstructed_kernel(self):
        layer = TTDense(INS, OUTS, RANKS, bias_initializer="random_normal")
        x = np.random.default_rng(2).standard_normal((4, 48)).astype("f4")
        y = layer(x)
        dense = keras.layers.Dense(30)
        dense.build((None, 48))
        dense.set_weights([to_numpy(layer.to_dense()), to_numpy(layer.bias)])
        np.testing.assert_allclose(
            to_numpy(y), to_numpy(dense(x)), rtol=1e-5, atol=1e-5
        )

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"tt_input_shape": (4, 0)}, r"tt_input_shape"),
            ({"tt_output_shape": (3, 2, 5, 1)}, r"same number of modes"),
            ({"tt_ranks": (1, 3, 1)}, r"tt_ranks.*d \+ 1 = 4"),
            ({"tt_ranks": 0}, r"tt_ranks.*>= 1"),
            ({"tt_ranks": (2, 3, 2, 1)}, r"first and last"),
            ({"kernel_initializer": "zeros"}, r"kernel_initializer"),
            ({"tt_strategy": "fast"}, r"tt_strategy"),
            ({"activation": "no_such_activation"}, r"no_such_activation"),
        ],
    )
    def test_invalid_arguments(self, kwargs, match):
        args = {
            "tt_input_shape": INS,
            "tt_output_shape": OUTS,
            "tt_ranks": RANKS,
        }
        args.update(kwargs)
        with pytest.raises(ValueError, match=match):
            TTDense(**args)

    def test_wrong_input_dim(self):
        layer = TTDense(INS, OUTS, RANKS)
        with pytest.raises(
            ValueError,
            match=r"tt_input_shape=\(4, 6, 2\) \(product 48\)"
            r" for an input of 50 features",
        ):
            layer(np.ones((2, 50), "float32"))

    def test_too_large_ranks_warn_and_clip(self):
        with pytest.warns(UserWarning, match=r"cut 1"):
            layer = TTDense((2, 2), (2, 2), 9)
        assert layer.tt_ranks == (1, 4, 1)

    def test_training_moves_every_core(self):
        rng = np.random.default_rng(3)
        x = rng.standard_normal((256, 48)).astype("float32")
        w_true = rng.standard_normal((48, 4)).astype("float32")
        y = np.argmax(x @ w_true, axis=1)
        model = keras.Sequential(
            [
                keras.Input((48,)),
                TTDense(INS, OUTS, RANKS, activation="relu"),
                keras.layers.Dense(4),
            ]
        )
        model.compile(
            keras.optimizers.Adam(1e-2),
            keras.losses.SparseCategoricalCrossentropy(True),
        )
        before = [to_numpy(c) for c in model.layers[0].cores]
        hist = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
        losses = hist.history["loss"]
        assert losses[-1] < 0.7 * losses[0]
        for b, c in zip(before, model.layers[0].cores):
            assert np.max(np.abs(b - to_numpy(c))) > 1e-3

    def test_regularizer_and_constraint_apply_to_every_core(self):
        layer = TTDense(
            INS, OUTS, RANKS, kernel_regularizer=keras.regularizers.L2(0.5)
        )
        layer.build((None, 48))
        expected = sum(0.5 * np.sum(to_numpy(c) ** 2) for c in layer.cores)
        assert len(layer.losses) == 3
        np.testing.assert_allclose(
            sum(float(to_numpy(v)) for v in layer.losses), expected, rtol=1e-5
        )

    @pytest.mark.parametrize("strategy", ["auto", "ltr[2,1]/chunked"])
    @pytest.mark.parametrize(
        "policy", ["bfloat16", "mixed_bfloat16", "mixed_float16"]
    )
    def test_dtype_policies(self, policy, strategy):
        layer = TTDense(INS, OUTS, RANKS, dtype=policy, tt_strategy=strategy)
        x = np.random.default_rng(5).standard_normal((4, 48)).astype("f4")
        y = layer(x)
        policy_obj = keras.dtype_policies.get(policy)
        assert (
            keras.backend.standardize_dtype(y.dtype) == policy_obj.compute_dtype
        )
        assert (
            keras.backend.standardize_dtype(layer.cores[0].dtype)
            == policy_obj.variable_dtype
        )
        cores, bias = _weights(layer)
        expected = x @ dense_from_cores(cores) + bias
        np.testing.assert_allclose(
            to_numpy(y), expected, rtol=0.05, atol=0.05 * np.abs(expected).max()
        )

    @pytest.mark.skipif(
        BACKEND == "torch", reason="jit_compile=True is XLA (JAX/TF) only"
    )
    def test_jit_compile_fit_and_predict(self):
        model = keras.Sequential(
            [keras.Input((48,)), TTDense(INS, OUTS, RANKS)]
        )
        model.compile("adam", "mse", jit_compile=True)
        x = np.ones((8, 48), "float32")
        model.fit(x, np.zeros((8, 30), "float32"), verbose=0)
        cores, bias = _weights(model.layers[0])
        np.testing.assert_allclose(
            model.predict(x, verbose=0),
            x @ dense_from_cores(cores) + bias,
            rtol=1e-4,
            atol=1e-5,
        )

    def test_masking_passes_through(self):
        layer = TTDense(INS, OUTS, RANKS)
        x = keras.ops.ones((2, 5, 48))
        mask = keras.ops.convert_to_tensor(
            np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
        )
        assert layer.supports_masking
        np.testing.assert_array_equal(
            to_numpy(layer.compute_mask(x, mask)), to_numpy(mask)
        )

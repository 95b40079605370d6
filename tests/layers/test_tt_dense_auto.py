"""TTDense with automatic shapes (`units=`), budget ranks and `round()`."""

import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import to_numpy
from ttrnn import TTDense
from ttrnn import tt
from ttrnn.testing import run_layer_test


def _cores(layer):
    return [to_numpy(c) for c in layer.cores]


def _x(rows, dim, seed=0):
    return np.random.default_rng(seed).standard_normal((rows, dim))


class TestTTDenseAutoShapes:
    def test_units_only(self):
        layer = TTDense(units=96, tt_ranks=2, bias_initializer="ones")
        assert layer.units == 96 and layer.input_dim is None
        x = _x(3, 256)
        y = to_numpy(layer(x.astype("float32")))
        assert (layer.tt_input_shape, layer.tt_output_shape) == (
            tt.auto_shapes(256, 96)
        )
        expected = x @ dense_from_cores(_cores(layer)) + 1.0
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)

    def test_units_with_input_modes(self):
        layer = TTDense((4, 8, 8, 4), units=512, tt_ranks=3)
        assert layer.tt_output_shape == (8, 4, 4, 4)  # big meets small
        assert layer.tt_ranks == (1, 3, 3, 3, 1)

    def test_output_modes_with_input_derived_in_build(self):
        layer = TTDense(tt_output_shape=(2, 8), tt_ranks=4, tt_d=2)
        layer.build((None, 60))
        assert layer.tt_output_shape == (2, 8)
        assert sorted(layer.tt_input_shape) == [6, 10]
        assert layer.tt_input_shape == (10, 6)  # 10 meets 2

    def test_given_d(self):
        layer = TTDense(units=1024, tt_ranks=2, tt_d=2)
        layer.build((None, 1024))
        assert layer.tt_input_shape == (32, 32)

    def test_prime_input_dim_suggests_padding(self):
        layer = TTDense(units=64, tt_ranks=2, tt_d=3)
        with pytest.raises(
            ValueError, match=r"`input_dim`=1031.*Zero-pad to 1040 = 8 x 10"
        ):
            layer.build((None, 1031))

    def test_prime_units_fail_early(self):
        with pytest.raises(ValueError, match=r"`units`=1031.*Zero-pad"):
            TTDense(units=1031, tt_ranks=2, tt_d=3)


class TestTTDenseBudgetRanks:
    def test_max_params(self):
        layer = TTDense((4, 8, 8, 4), (4, 8, 8, 4), "auto", tt_max_params=1248)
        assert layer.tt_ranks == (1, 3, 3, 3, 1)
        layer.build((None, 1024))
        assert sum(c.size for c in _cores(layer)) == 1248

    def test_compression_with_auto_shapes(self):
        layer = TTDense(units=64, tt_ranks="auto", tt_compression=10)
        layer.build((None, 120))
        cores = sum(c.size for c in _cores(layer))
        assert 120 * 64 / cores >= 10
        assert layer.tt_ranks == tt.ranks_for_budget(
            layer.tt_input_shape, layer.tt_output_shape, compression=10
        )


class TestTTDenseArguments:
    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({}, r"Give `units` or `tt_output_shape`"),
            ({"units": 8, "tt_ranks": None}, r"`tt_ranks` is required"),
            (
                {"units": 8, "tt_ranks": "big"},
                r"int, a list of ints or \"auto\". Received: tt_ranks='big'",
            ),
            (
                {"units": 8, "tt_ranks": "auto"},
                r"exactly one of `tt_max_params` and `tt_compression`",
            ),
            (
                {"units": 8, "tt_ranks": 2, "tt_max_params": 10},
                r'need tt_ranks="auto". Received: tt_ranks=2',
            ),
            (
                {"tt_output_shape": (2, 4), "units": 9, "tt_ranks": 2},
                r"`units` must equal the product.*units=9.*\(product 8\)",
            ),
            (
                {"tt_output_shape": (2, 4), "tt_d": 3, "tt_ranks": 2},
                r"`tt_d` must equal the number of given modes",
            ),
            ({"units": 0, "tt_ranks": 2}, r"`units` must be an int >= 1"),
            (
                {"units": 8, "tt_ranks": "auto", "tt_compression": -1},
                r"`tt_compression` must be > 0",
            ),
            # Non-integer ranks fail in __init__, before the modes are
            # known, as Keras' Dense rejects units=2.5.
            (
                {"units": 8, "tt_ranks": 2.5},
                r"`tt_ranks` must be an int.*Received: tt_ranks=2.5",
            ),
            (
                {"units": 8, "tt_ranks": True},
                r"`tt_ranks` must be an int.*Received: tt_ranks=True",
            ),
            (
                {"units": 8, "tt_ranks": (1, 2.5, 1)},
                r"`tt_ranks` must contain only integers",
            ),
            ({"units": 8, "tt_ranks": 0}, r"`tt_ranks` must be >= 1"),
        ],
    )
    def test_invalid_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            TTDense(**kwargs)

    def test_fractional_ranks_with_given_modes(self):
        with pytest.raises(ValueError, match=r"Received: tt_ranks=2.5"):
            TTDense((4, 8), (2, 4), tt_ranks=2.5)

    def test_integral_float_ranks(self):
        layer = TTDense((4, 8), (2, 4), tt_ranks=2.0)
        assert layer.tt_ranks == (1, 2, 1)
        assert layer.get_config()["tt_ranks"] == 2


class TestTTDenseRankClipping:
    def test_every_cut_clipped_and_reported(self):
        # The case: tt_ranks=1000 on a 4-core 1024 x 1024 layer.
        ins = outs = (4, 8, 8, 4)
        with pytest.warns(UserWarning) as record:
            layer = TTDense(ins, outs, tt_ranks=1000, use_bias=False)
        message = " ".join(str(w.message) for w in record)
        assert layer.tt_ranks == (1, 16, 1000, 16, 1)
        assert f"using tt_ranks={layer.tt_ranks}" in message
        assert "compresses nothing" in message
        layer.build((None, 1024))
        assert layer.count_params() == tt.num_params(ins, outs, layer.tt_ranks)

    def test_clipped_ranks_below_dense_size(self):
        ins = outs = (4, 8, 8, 4)
        with pytest.warns(UserWarning, match=r"16 at cut 1 and 16 at cut 3"):
            layer = TTDense(ins, outs, (1, 1000, 2, 1000, 1), use_bias=False)
        assert layer.tt_ranks == (1, 16, 2, 16, 1)
        layer.build((None, 1024))
        params = layer.count_params()
        assert params == tt.num_params(ins, outs, layer.tt_ranks) == 4608
        assert params <= 1024 * 1024

    def test_unknown_input_dim(self):
        layer = TTDense(units=8, tt_ranks=2)
        with pytest.raises(ValueError, match=r"known last input dimension"):
            layer.build((None, None))


class TestTTDenseAutoConfig:
    def test_layer(self):
        kwargs = {"units": 64, "tt_ranks": "auto", "tt_max_params": 500}
        config = TTDense(**kwargs, tt_d=3).get_config()
        assert config["tt_input_shape"] is None
        assert config["tt_ranks"] == "auto" and config["tt_d"] == 3
        run_layer_test(TTDense, {**kwargs, "tt_d": 3})  # config only
        run_layer_test(
            TTDense,
            {"units": 64, "tt_ranks": "auto", "tt_compression": 10},
            input_shape=(2, 120),
            expected_output_shape=(2, 64),
            expected_num_trainable_weights=4,
            run_training_check=False,
            run_mixed_precision_check=False,
        )

    def test_config_unchanged_by_build(self):
        layer = TTDense(units=64, tt_ranks="auto", tt_max_params=500)
        config = layer.get_config()
        layer.build((None, 256))
        assert layer.get_config() == config
        assert config["tt_input_shape"] is None
        assert config["tt_max_params"] == 500 and config["units"] == 64
        # The resolved modes and ranks are in the build config.
        resolved = layer.get_build_config()["tt_spec"]
        assert resolved["tt_input_shape"] == list(layer.tt_input_shape)
        assert resolved["tt_ranks"] == list(layer.tt_ranks)
        again = TTDense.from_config(config)
        again.build_from_config(layer.get_build_config())
        assert again.tt_ranks == layer.tt_ranks
        assert again.tt_input_shape == layer.tt_input_shape


class TestTTDenseRound:
    def _big(self, **kwargs):
        layer = TTDense(
            (3, 4, 2),
            (2, 3, 4),
            (1, 6, 8, 1),
            activation="tanh",
            bias_initializer="random_normal",
            **kwargs,
        )
        layer.build((None, 24))
        return layer

    def test_exact_round_keeps_outputs(self):
        layer = self._big()
        # Inflate the ranks of a rank-2 TT: the same W at ranks 6, 8.
        rng = np.random.default_rng(1)
        small = [
            rng.standard_normal(s)
            for s in [(1, 3, 2, 2), (2, 4, 3, 2), (2, 2, 4, 1)]
        ]
        a, b = rng.standard_normal((2, 6)), rng.standard_normal((2, 8))
        big = [
            np.einsum("imnr,rs->imns", small[0], a),
            np.einsum("sr,rmnj,jt->smnt", np.linalg.pinv(a), small[1], b),
            np.einsum("sr,rmnj->smnj", np.linalg.pinv(b), small[2]),
        ]
        for v, c in zip(layer.cores, big):
            v.assign(c.astype("float32"))
        rounded = layer.round()
        assert rounded.tt_ranks == (1, 2, 2, 1)
        assert rounded.built and rounded is not layer
        assert rounded.name != layer.name
        x = _x(5, 24).astype("float32")
        np.testing.assert_allclose(
            to_numpy(rounded(x)), to_numpy(layer(x)), rtol=1e-4, atol=1e-4
        )
        np.testing.assert_array_equal(
            to_numpy(rounded.bias), to_numpy(layer.bias)
        )
        assert rounded.get_config()["activation"] == "tanh"

    def test_truncated_round_against_float64_reference(self):
        layer = self._big()
        w = dense_from_cores(_cores(layer))
        rounded = layer.round(eps=0.3, name="small")
        assert rounded.name == "small"
        err = np.linalg.norm(dense_from_cores(_cores(rounded)) - w)
        assert err <= 0.3 * np.linalg.norm(w) * (1 + 1e-5)
        capped = layer.round(max_rank=2)
        assert max(capped.tt_ranks) == 2
        assert capped.count_params() < layer.count_params()
        # The original is untouched.
        np.testing.assert_array_equal(dense_from_cores(_cores(layer)), w)

    def test_round_then_fine_tune(self):
        layer = self._big()
        rounded = layer.round(max_rank=2)
        model = keras.Sequential([keras.Input((24,)), rounded])
        model.compile(keras.optimizers.SGD(0.1), "mse")
        before = _cores(rounded)
        model.fit(
            _x(16, 24).astype("float32"),
            np.ones((16, 24), "float32"),
            verbose=0,
        )
        assert any(
            np.abs(b - a).max() > 0 for b, a in zip(before, _cores(rounded))
        )

    def test_round_keeps_dtype_policy(self):
        layer = self._big(dtype="mixed_bfloat16")
        rounded = layer.round(max_rank=2)
        assert rounded.dtype_policy.name == "mixed_bfloat16"
        assert keras.backend.standardize_dtype(rounded.cores[0].dtype) == (
            "float32"
        )

    def test_round_needs_build(self):
        layer = TTDense((2, 2), (2, 2), 2)
        with pytest.raises(ValueError, match=r"must be built.*round"):
            layer.round()

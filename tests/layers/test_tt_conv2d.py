import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import to_numpy
from ttrnn import tt
from ttrnn.layers.tt_conv2d import TTConv2D
from ttrnn.testing import run_layer_test
from ttrnn.tt.contraction import runtime
from ttrnn.tt.contraction.conv import conv_path_costs

INS, OUTS, RANKS = (2, 3), (3, 2), (1, 2, 3, 1)  # C = 6, F = 6, r_d = 3


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("f4")


def _keras_conv(layer, input_shape, **kwargs):
    """keras.layers.Conv2D holding the TT layer's kernel and bias."""
    conv = keras.layers.Conv2D(layer.filters, layer.kernel_size, **kwargs)
    conv.build(input_shape)
    weights = [to_numpy(layer.to_dense())]
    if layer.use_bias:
        weights.append(to_numpy(layer.bias))
    conv.set_weights(weights)
    return conv


def _channels_last_reference(layer, x, **kwargs):
    """Conv2D channels last, with the TT layer's weights, on a
    channels-first x transposed (and its output transposed back): Keras'
    TensorFlow Conv2D channels first adds its bias along the width when
    the width equals the filters, so it cannot be the reference there."""
    x_last = np.transpose(to_numpy(x), (0, 2, 3, 1))
    conv = _keras_conv(layer, x_last.shape, **kwargs)
    return np.transpose(to_numpy(conv(x_last)), (0, 3, 1, 2))


def _weight_grads(layer, x, g):
    """Gradients of sum(layer(x) * g) with respect to the weights."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def loss(values):
            return (layer.stateless_call(values, [], x)[0] * g).sum()

        values = [v.value for v in layer.trainable_weights]
        return [np.asarray(v) for v in jax.grad(loss)(values)]
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) * g)
        return [v.numpy() for v in tape.gradient(loss, layer.trainable_weights)]
    import torch

    for v in layer.trainable_weights:
        v.value.grad = None
    (layer(x) * torch.as_tensor(g)).sum().backward()
    return [to_numpy(v.value.grad) for v in layer.trainable_weights]


# Padding, strides and dilation against keras.layers.Conv2D.
GEOMETRIES = [
    {"padding": "valid"},
    {"padding": "same"},
    {"padding": "same", "strides": 2},
    {"padding": "valid", "strides": (2, 1)},
    {"padding": "same", "dilation_rate": 2},
    {"padding": "valid", "dilation_rate": (2, 1)},
]


class TestTTConv2D:
    def test_layer(self):
        run_layer_test(
            TTConv2D,
            {"filters": 6, "kernel_size": (3, 2), "tt_input_shape": INS,
             "tt_output_shape": OUTS, "tt_ranks": RANKS,
             "activation": "relu", "tt_strategy": "channels"},
            input_shape=(2, 7, 9, 6),
            expected_output_shape=(2, 5, 8, 6),
            expected_num_trainable_weights=4,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
        )  # fmt: skip

    @pytest.mark.parametrize(
        "kwargs, input_shape, output_shape",
        [
            (
                {"strides": (2, 1), "padding": "SAME",
                 "data_format": "channels_first", "activation": "tanh",
                 "use_bias": False, "kernel_initializer": "he_normal",
                 "kernel_regularizer": keras.regularizers.L2(0.01),
                 "bias_constraint": "non_neg", "tt_strategy": "channels"},
                (2, 6, 7, 9),
                (2, 6, 4, 9),
            ),
            (
                {"padding": "same", "kernel_initializer": "orthogonal",
                 "tt_strategy": "dense"},
                (2, 5, 5, 6),
                (2, 5, 5, 6),
            ),
        ],
    )  # fmt: skip
    def test_variants(self, kwargs, input_shape, output_shape):
        run_layer_test(
            TTConv2D,
            {"filters": 6, "kernel_size": (3, 2), "tt_input_shape": [2, 3],
             "tt_output_shape": [3, 2], "tt_ranks": 2, **kwargs},
            input_shape=input_shape,
            expected_output_shape=output_shape,
            run_training_check=False,
            run_mixed_precision_check=False,
        )  # fmt: skip

    def test_cores_and_arguments(self):
        layer = TTConv2D(6, (3, 2), INS, OUTS, RANKS)
        layer.build((None, 7, 9, 6))
        assert layer.filters == 6 and layer.input_dim == 6
        assert [tuple(c.shape) for c in layer.cores] == [
            (1, 2, 3, 2),
            (2, 3, 2, 3),
            (3, 6, 1, 1),
        ]
        assert layer.count_params() == 12 + 36 + 18 + 6
        assert tuple(layer.to_dense().shape) == (3, 2, 6, 6)
        sym = layer(keras.Input((None, 11, 6)))  # unknown height
        assert tuple(sym.shape) == (None, None, 10, 6)
        layer = TTConv2D(
            6, 3, [2, 3], [3, 2], 2, strides=(2, 1), padding="SAME",
            kernel_initializer="he_normal",
        )  # fmt: skip
        config = layer.get_config()
        assert config["filters"] == 6 and "units" not in config
        assert config["tt_ranks"] == 2  # as passed (resolved: build config)
        assert layer.tt_ranks == (1, 2, 2, 1)
        assert config["padding"] == "same"
        assert layer.kernel_size == (3, 3) and layer.strides == (2, 1)
        assert isinstance(layer.kernel_initializer, tt.TTVarianceScaling)

    def test_to_dense_layout(self):
        # K[y, x, c, f] = W[c (kh kw) + y kw + x, f], W the TT-matrix.
        layer = TTConv2D(6, (3, 2), INS, OUTS, RANKS)
        layer.build((None, 5, 5, 6))
        w = dense_from_cores([to_numpy(c) for c in layer.cores])
        expected = w.reshape(6, 3, 2, 6).transpose(1, 2, 0, 3)
        np.testing.assert_allclose(
            to_numpy(layer.to_dense()), expected, rtol=1e-5, atol=1e-6
        )

    @pytest.mark.parametrize("strategy", ["channels", "dense", "auto"])
    @pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
    @pytest.mark.parametrize("geometry", GEOMETRIES)
    def test_equals_keras_conv2d(self, geometry, data_format, strategy):
        layer = TTConv2D(
            6,
            (3, 2),
            INS,
            OUTS,
            RANKS,
            data_format=data_format,
            tt_strategy=strategy,
            bias_initializer="random_normal",
            **geometry,
        )
        shape = (2, 9, 8, 6) if data_format == "channels_last" else (2, 6, 9, 8)
        x = _x(shape)
        y = layer(x)
        conv = _keras_conv(layer, shape, data_format=data_format, **geometry)
        expected = to_numpy(conv(x))
        np.testing.assert_allclose(to_numpy(y), expected, rtol=1e-5, atol=1e-5)
        assert tuple(y.shape) == layer.compute_output_shape(shape)
        assert tuple(y.shape) == conv.compute_output_shape(shape)

    @pytest.mark.parametrize("strategy", ["channels", "dense"])
    def test_channels_first_bias_when_width_equals_filters(self, strategy):
        # Keras' TensorFlow `add(y, bias)` took a (F, 1, 1) bias for a
        # channels-last one when y's last side was F; the reference is
        # Conv2D channels last on the transposed input.
        layer = TTConv2D(
            6,
            3,
            INS,
            OUTS,
            RANKS,
            padding="same",
            data_format="channels_first",
            tt_strategy=strategy,
            bias_initializer="random_normal",
        )
        x = _x((2, 6, 7, 6))
        y = to_numpy(layer(x))
        expected = _channels_last_reference(layer, x, padding="same")
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)

    @pytest.mark.parametrize("steps", [("folded",), ("flat", "folded")])
    @pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
    @pytest.mark.parametrize(
        "geometry",
        GEOMETRIES
        + [
            {"padding": "same", "kernel_size": 3},
            {"padding": "same", "kernel_size": 3, "dilation_rate": (1, 2)},
        ],
    )
    def test_spatial_steps_equal_keras_conv2d(
        self, geometry, data_format, steps, monkeypatch
    ):
        # Both spatial steps of the channel path (`ttrnn.tt.contraction.
        # runtime.conv_spatial_steps` orders them per backend), on every
        # backend; "flat" only with strides (1, 1) and, for "same", an even
        # padding of W (kw = 2 here: "folded").
        monkeypatch.setattr(runtime, "conv_spatial_steps", lambda: steps)
        geometry = dict(geometry)
        layer = TTConv2D(
            8,
            geometry.pop("kernel_size", (3, 2)),
            tt_input_shape=(2, 4),
            tt_output_shape=(4, 2),
            tt_ranks=(1, 3, 2, 1),
            data_format=data_format,
            tt_strategy="channels",
            bias_initializer="random_normal",
            **geometry,
        )
        shape = (2, 9, 8, 8) if data_format == "channels_last" else (2, 8, 9, 8)
        x = _x(shape)
        y = layer(x)
        if data_format == "channels_first":  # width 8 = filters
            expected = _channels_last_reference(layer, x, **geometry)
        else:
            expected = to_numpy(_keras_conv(layer, shape, **geometry)(x))
        np.testing.assert_allclose(to_numpy(y), expected, rtol=1e-5, atol=1e-5)

    @pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
    def test_spatial_steps_have_equal_gradients(self, data_format, monkeypatch):
        layer = TTConv2D(
            8, 3, (2, 4), (4, 2), (1, 3, 2, 1), padding="same",
            data_format=data_format, tt_strategy="channels",
        )  # fmt: skip
        shape = (2, 6, 5, 8) if data_format == "channels_last" else (2, 8, 6, 5)
        x, g = _x(shape), _x(shape, 1)
        layer.build(shape)
        grads = []
        for steps in [("folded",), ("flat",)]:
            monkeypatch.setattr(
                runtime, "conv_spatial_steps", lambda s=steps: s
            )
            grads.append(_weight_grads(layer, x, g))
        for a, b in zip(*grads):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)

    def test_flat_step_costs_no_transpose(self):
        # Channels first: the flat step moves x (P C) to channels last
        # instead of moving the conv's output (P C r_d).
        plan = tt.choose_plan((16, 32), (16, 16), (1, 4, 1), 8 * 32 * 32)
        modes = ((16, 16), (16, 16), (1, 4, 2, 1))
        args = (modes, (3, 3), (8192, 8192), plan, "float32", True)
        folded = conv_path_costs(*args)[0]
        assert conv_path_costs(*args, flat=True)[0] < folded

    @pytest.mark.parametrize(
        "strategy", ["ltr", "rtl", "flops", "ltr[1,2]/batch_last"]
    )
    def test_tt_path_equals_dense_path(self, strategy):
        kwargs = dict(padding="same", use_bias=False)
        layer = TTConv2D(
            8, 3, (2, 2, 2), (2, 2, 2), 2, tt_strategy=strategy, **kwargs
        )
        x = _x((3, 6, 5, 8))
        y = layer(x)
        assert layer.evaluation_path(x.shape)[0] == "channels"
        dense = TTConv2D(
            8, 3, (2, 2, 2), (2, 2, 2), 2, tt_strategy="dense", **kwargs
        )
        dense.build(x.shape)
        dense.set_weights(layer.get_weights())
        assert dense.evaluation_path(x.shape) == ("dense", None)
        np.testing.assert_allclose(
            to_numpy(y), to_numpy(dense(x)), rtol=1e-5, atol=1e-5
        )

    def test_auto_picks_the_cheaper_path(self):
        # Small ranks: the channel path has far fewer multiply-adds; full
        # spatial rank 9 and r_1 = 16: as many as dense, plus the layout
        # changes, so dense (both agree with timings on CPU).
        small = TTConv2D(256, 3, (16, 16), (16, 16), (1, 4, 2, 1))
        large = TTConv2D(256, 3, (16, 16), (16, 16), (1, 16, 9, 1))
        for layer in (small, large):
            layer.build((None, 32, 32, 256))
        assert small.evaluation_path((8, 32, 32, 256))[0] == "channels"
        assert large.evaluation_path((8, 32, 32, 256))[0] == "dense"
        assert large.evaluation_path((None, None, None, 256))[0] == "dense"
        plan = tt.choose_plan((16, 32), (16, 16), (1, 4, 1), 8 * 30 * 30)
        modes = ((16, 16), (16, 16), (1, 4, 2, 1))
        channels, dense = conv_path_costs(modes, (3, 3), (8192, 7200), plan)
        assert 0 < channels < dense

    def test_spatial_layout_of_channel_path(self):
        # The channels-into-batch conv and reshape order (c, r): one
        # channel mode, rank 1 and a delta filter make y a shifted x @ W.
        layer = TTConv2D(3, 3, (4,), (3,), (1, 2, 1), tt_strategy="channels")
        layer.build((None, 5, 5, 4))
        spatial = np.zeros((2, 9, 1, 1), "f4")
        spatial[0, 0], spatial[1, 8] = 1.0, 2.0  # taps (0, 0) and (2, 2)
        core = _x((1, 4, 3, 2), 1)
        layer.set_weights([core, spatial, np.zeros(3, "f4")])
        x = _x((1, 5, 5, 4), 2)
        y = to_numpy(layer(x))
        expected = x[:, :3, :3] @ core[0, :, :, 0] + 2.0 * (
            x[:, 2:, 2:] @ core[0, :, :, 1]
        )
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)

    def test_config_round_trip(self):
        layer = TTConv2D(
            6,
            (3, 2),
            [2, 3],
            [3, 2],
            2,
            strides=(2, 1),
            padding="SAME",
            data_format="channels_first",
            activation="tanh",
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=keras.regularizers.L2(0.01),
            bias_constraint="non_neg",
            tt_strategy="channels",
        )
        config = layer.get_config()
        assert config["filters"] == 6 and "units" not in config
        assert config["tt_ranks"] == 2
        assert config["padding"] == "same"
        again = TTConv2D.from_config(config)
        assert again.get_config() == config
        assert again.kernel_size == (3, 2) and again.strides == (2, 1)
        assert isinstance(again.kernel_initializer, tt.TTVarianceScaling)

    def test_modes_and_ranks_chosen_at_build(self):
        layer = TTConv2D(32, 3, tt_ranks="auto", tt_compression=10, tt_d=2)
        layer.build((None, 8, 8, 16))
        assert math_prod(layer.tt_input_shape) == 16
        assert math_prod(layer.tt_output_shape) == 32
        assert len(layer.tt_ranks) == 4
        weights = sum(int(np.prod(s)) for s in layer.tt_core_shapes)
        assert weights <= 9 * 16 * 32 / 10
        config = layer.get_config()
        assert config["tt_input_shape"] is None and config["tt_d"] == 2
        again = TTConv2D.from_config(config)
        again.build_from_config(layer.get_build_config())
        assert again.tt_core_shapes == layer.tt_core_shapes
        assert again.get_config() == config

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"filters": 5}, r"filters=5, tt_output_shape=\(3, 2\) \(prod"),
            ({"filters": 0}, r"`filters` must be an int >= 1"),
            ({"filters": None, "tt_output_shape": None}, r"Give `filters`"),
            ({"tt_ranks": (1, 2, 1)}, r"tt_ranks.*d \+ 2 = 4 entries"),
            ({"tt_ranks": (1, 2, 0, 1)}, r"tt_ranks.*>= 1"),
            ({"tt_ranks": 0}, r"tt_ranks.*>= 1"),
            ({"tt_ranks": None}, r"`tt_ranks` is required"),
            ({"tt_ranks": (2, 2, 2, 1)}, r"first and last"),
            ({"kernel_size": (3, 3, 3)}, r"`kernel_size`"),
            ({"strides": 0}, r"`strides`"),
            ({"strides": 2, "dilation_rate": 2}, r"dilation_rate"),
            ({"padding": "causal"}, r"`padding`"),
            ({"data_format": "nhwc"}, r"`data_format`"),
            ({"groups": 2}, r"groups=2"),
            ({"tt_strategy": "fast"}, r"tt_strategy"),
            ({"kernel_initializer": "zeros"}, r"kernel_initializer"),
        ],
    )
    def test_invalid_arguments(self, kwargs, match):
        args = dict(
            filters=6,
            kernel_size=3,
            tt_input_shape=INS,
            tt_output_shape=OUTS,
            tt_ranks=RANKS,
        )
        args.update(kwargs)
        with pytest.raises(ValueError, match=match):
            TTConv2D(**args)

    @pytest.mark.parametrize(
        "data_format, shape",
        [("channels_last", (2, 5, 5, 7)), ("channels_first", (2, 7, 5, 5))],
    )
    def test_wrong_input_channels(self, data_format, shape):
        layer = TTConv2D(6, 3, INS, OUTS, RANKS, data_format=data_format)
        with pytest.raises(
            ValueError,
            match=r"tt_input_shape=\(2, 3\) \(product 6\) for an input of "
            r"7 channels",
        ):
            layer(_x(shape))

    def test_spatial_rank_above_kernel_size_warns_and_clips(self):
        with pytest.warns(
            UserWarning,
            match=r"useful rank 2 at cut 2 for tt_input_shape=\(2, 3\), "
            r"tt_output_shape=\(3, 2\) and the kernel's 2 positions \(kh "
            r"kw: the last core's input mode\)",
        ):
            layer = TTConv2D(6, (1, 2), INS, OUTS, (1, 2, 5, 1))
        assert layer.tt_ranks == (1, 2, 2, 1)

    def test_initializer_matches_keras_conv_variance(self):
        # Glorot for a conv kernel: 2 / (kh kw (C + F)).
        variances = []
        for seed in range(6):
            layer = TTConv2D(
                64,
                3,
                (8, 8),
                (8, 8),
                (1, 8, 9, 1),
                kernel_initializer=keras.initializers.GlorotNormal(seed),
            )
            layer.build((None, 8, 8, 64))
            variances.append(np.var(to_numpy(layer.to_dense())))
        target = 2.0 / (9 * (64 + 64))
        assert 0.7 * target < np.mean(variances) < 1.3 * target

    def test_round_keeps_the_kernel(self):
        layer = TTConv2D(8, 3, (2, 4), (4, 2), (1, 6, 9, 1))
        layer.build((None, 5, 5, 8))
        small = layer.round()  # only redundant ranks go
        assert small.tt_ranks[1] <= 6 and small.tt_ranks[2] <= 9
        np.testing.assert_allclose(
            to_numpy(small.to_dense()),
            to_numpy(layer.to_dense()),
            rtol=1e-4,
            atol=1e-5,
        )
        capped = layer.round(max_rank=2)
        assert capped.tt_ranks == (1, 2, 2, 1)

    def test_unbuilt_round_raises(self):
        with pytest.raises(ValueError, match=r"must be built"):
            TTConv2D(6, 3, INS, OUTS, RANKS).round()


def math_prod(values):
    return int(np.prod(values))


@pytest.mark.parametrize("strategy", ["channels", "dense"])
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_dtype_policies(policy, strategy):
    layer = TTConv2D(6, 3, INS, OUTS, RANKS, dtype=policy, tt_strategy=strategy)
    x = _x((2, 6, 6, 6))
    y = layer(x)
    policy_obj = keras.dtype_policies.get(policy)
    assert keras.backend.standardize_dtype(y.dtype) == policy_obj.compute_dtype
    assert keras.backend.standardize_dtype(layer.cores[0].dtype) == "float32"
    conv = _keras_conv(layer, x.shape)
    expected = to_numpy(conv(x))
    np.testing.assert_allclose(
        to_numpy(y), expected, rtol=0.05, atol=0.05 * np.abs(expected).max()
    )

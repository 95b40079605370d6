"""TTConv2D in the kernel layout (tt_layout="kernel")."""

import keras
import numpy as np
import pytest

from tests.helpers import to_numpy
from ttrnn import TTConv2D
from ttrnn import compress
from ttrnn.testing import run_layer_test
from ttrnn.tt.contraction import conv_kernel
from ttrnn.tt.contraction import runtime

INS, OUTS, RANKS = (2, 3), (3, 2), (1, 2, 3, 4, 3, 2, 1)  # C = F = 6


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("f4")


def _kernel(**kwargs):
    args = dict(filters=6, kernel_size=3, tt_input_shape=INS)
    args.update(tt_output_shape=OUTS, tt_ranks=RANKS, tt_layout="kernel")
    return TTConv2D(**{**args, **kwargs})


def _einsum_kernel(cores):
    """The (kh, kw, C, F) kernel from the cores by plain NumPy: channel
    cores, kh core, kw core, filter cores (independent of `to_dense`)."""
    cores = [np.asarray(to_numpy(c), np.float64) for c in cores]
    d = (len(cores) - 2) // 2
    u = np.ones((1, 1))  # (C so far, r)
    for core in cores[:d]:
        u = np.einsum("pa,acb->pcb", u, core[:, :, 0, :])
        u = u.reshape(-1, core.shape[-1])
    v = np.ones((1, 1))  # (r, F so far)
    for core in reversed(cores[d + 2 :]):
        v = np.einsum("afb,bq->afq", core[:, 0, :, :], v)
        v = v.reshape(core.shape[0], -1)
    h, w = cores[d][:, :, 0, :], cores[d + 1][:, :, 0, :]
    return np.einsum("ca,ayb,bxe,ef->yxcf", u, h, w, v)


def _keras_conv(layer, input_shape, **kwargs):
    kwargs.pop("kernel_size", None)
    conv = keras.layers.Conv2D(layer.filters, layer.kernel_size, **kwargs)
    conv.build(input_shape)
    weights = [to_numpy(layer.to_dense())]
    if conv.use_bias:
        weights.append(to_numpy(layer.bias))
    conv.set_weights(weights)
    return conv


def _grads(layer, x, g):
    """Gradients of sum(layer(x) * g) for the weights and the input."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def loss(values, x):
            return (layer.stateless_call(values, [], x)[0] * g).sum()

        values = [v.value for v in layer.trainable_weights]
        grads = jax.grad(loss, argnums=(0, 1))(values, x)
        return [np.asarray(v) for v in grads[0]], np.asarray(grads[1])
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) * g)
        grads = tape.gradient(loss, layer.trainable_weights + [x])
        return [v.numpy() for v in grads[:-1]], grads[-1].numpy()
    import torch

    x = torch.tensor(x, requires_grad=True)
    for v in layer.trainable_weights:
        v.value.grad = None
    (layer(x) * torch.as_tensor(g)).sum().backward()
    grads = [to_numpy(v.value.grad) for v in layer.trainable_weights]
    return grads, to_numpy(x.grad)


GEOMETRIES = [
    {"padding": "valid"},
    {"padding": "same"},
    {"padding": "same", "strides": 2},
    {"padding": "valid", "strides": (2, 1)},
    {"padding": "same", "dilation_rate": 2},
    {"padding": "valid", "dilation_rate": (1, 2), "kernel_size": (2, 3)},
]


class TestKernelLayout:
    def test_layer(self):
        run_layer_test(
            TTConv2D,
            {"filters": 6, "kernel_size": (3, 2), "tt_input_shape": INS,
             "tt_output_shape": OUTS, "tt_ranks": RANKS,
             "activation": "relu", "tt_layout": "kernel"},
            input_shape=(2, 7, 9, 6),
            expected_output_shape=(2, 5, 8, 6),
            expected_num_trainable_weights=7,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
        )  # fmt: skip

    def test_cores_are_the_kernels_modes(self):
        layer = _kernel(kernel_size=(3, 2))
        layer.build((None, 5, 5, 6))
        assert layer.tt_core_shapes == [
            (1, 2, 1, 2),
            (2, 3, 1, 3),
            (3, 3, 1, 4),
            (4, 2, 1, 3),
            (3, 1, 3, 2),
            (2, 1, 2, 1),
        ]
        np.testing.assert_allclose(
            to_numpy(layer.to_dense()),
            _einsum_kernel(layer.cores),
            rtol=1e-5,
            atol=1e-6,
        )

    def test_unsplit_channels_by_default(self):
        layer = TTConv2D(8, 3, tt_ranks=4, tt_layout="kernel")
        layer.build((None, 6, 6, 5))
        assert layer.tt_input_shape == (5,) and layer.tt_output_shape == (8,)
        assert layer.tt_ranks == (1, 4, 4, 4, 1)
        # TensorLy-Torch's count: C r + kh r^2 + kw r^2 + r F, plus bias.
        assert layer.count_params() == 5 * 4 + 2 * 3 * 16 + 4 * 8 + 8

    @pytest.mark.parametrize("geometry", GEOMETRIES)
    @pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
    @pytest.mark.parametrize("strategy", ["chain", "dense"])
    def test_equals_keras_conv2d(self, geometry, data_format, strategy):
        layer = _kernel(
            **geometry,
            data_format=data_format,
            tt_strategy=strategy,
            bias_initializer="random_normal",
        )
        shape = (2, 9, 8, 6) if data_format == "channels_last" else (2, 6, 9, 8)
        x = _x(shape)
        y = layer(x)
        assert layer.evaluation_path(x.shape)[0] == strategy
        # Conv2D without its bias, the bias added here: Keras 3's
        # TensorFlow Conv2D adds a channels-first bias along the last axis
        # when that side equals the filters (valid padding here: 6).
        conv = _keras_conv(
            layer, shape, data_format=data_format, use_bias=False, **geometry
        )
        axis = 1 if data_format == "channels_first" else -1
        bias = to_numpy(layer.bias).reshape((-1, 1, 1) if axis == 1 else -1)
        expected = to_numpy(conv(x)) + bias
        np.testing.assert_allclose(to_numpy(y), expected, rtol=1e-4, atol=1e-5)
        g = _x(expected.shape, seed=1)
        grads, dx = _grads(layer, x, g)
        ref_grads, ref_dx = _grads(conv, x, g)
        ref_grads.append(g.sum(tuple(a for a in range(4) if a != axis % 4)))
        np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-4)
        # The cores' gradients through the dense kernel's: d loss / d K
        # is Conv2D's kernel gradient; the cores' follow from the chain
        # rule, checked on the rebuilt kernel's directional derivative.
        kernel_grad = ref_grads[0]
        cores = [to_numpy(c) for c in layer.cores]
        step = 1e-3
        for k, grad in enumerate(grads[:-1]):
            direction = _x(cores[k].shape, seed=10 + k)
            moved = list(cores)
            moved[k] = cores[k] + step * direction
            back = list(cores)
            back[k] = cores[k] - step * direction
            change = (_einsum_kernel(moved) - _einsum_kernel(back)) / (2 * step)
            expected_dir = float((kernel_grad * change).sum())
            got = float((grad * direction).sum())
            assert got == pytest.approx(expected_dir, rel=1e-3, abs=1e-3)
        np.testing.assert_allclose(grads[-1], ref_grads[-1], rtol=1e-4)

    @pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
    def test_without_bias_equals_keras_conv2d(self, data_format):
        layer = _kernel(padding="same", data_format=data_format, use_bias=False)
        shape = (2, 9, 8, 6) if data_format == "channels_last" else (2, 6, 9, 8)
        x = _x(shape)
        y = layer(x)
        conv = keras.layers.Conv2D(
            6, 3, padding="same", data_format=data_format, use_bias=False
        )
        conv.build(shape)
        conv.set_weights([to_numpy(layer.to_dense())])
        expected = to_numpy(conv(x))
        np.testing.assert_allclose(to_numpy(y), expected, rtol=1e-4, atol=1e-5)
        g = _x(expected.shape, seed=1)
        np.testing.assert_allclose(
            _grads(layer, x, g)[1], _grads(conv, x, g)[1], rtol=1e-4, atol=1e-4
        )

    def test_auto_picks_fewer_multiply_adds(self):
        small = TTConv2D(64, 3, tt_ranks=2, tt_layout="kernel")
        big = TTConv2D(8, 3, tt_ranks=64, tt_layout="kernel")
        with pytest.warns(UserWarning, match=r"exceeds the largest useful"):
            big.build((None, 32, 32, 8))
        small.build((None, 32, 32, 64))
        assert small.evaluation_path((8, 32, 32, 64))[0] == "chain"
        assert big.evaluation_path((8, 32, 32, 8))[0] == "dense"

    def test_rank_warning_names_the_users_modes(self):
        # Not the padded matrix modes (2, 4, 3, 3, 1, 1) -> (1, ..., 4, 4).
        with pytest.warns(UserWarning) as caught:
            layer = TTConv2D(16, 3, (2, 4), (4, 4), 50, tt_layout="kernel")
            layer.build((None, 8, 8, 8))
        (message,) = [str(w.message) for w in caught]
        assert message.startswith(
            "tt_ranks=50 exceeds the largest useful rank 2 at cut 1 and 8 "
            "at cut 2 and 24 at cut 3 and 16 at cut 4 and 4 at cut 5 for "
            "tt_input_shape=(2, 4), tt_output_shape=(4, 4) and the 3x3 "
            "kernel in the kernel layout, whose cores take the input "
            "modes, kh, kw, then the output modes (a larger rank adds "
            "weights, never expressiveness); using tt_ranks=(1, 2, 8, 24, "
            "16, 4, 1): 2,068 core weights."
        )
        assert ", 1, 1)" not in message
        assert layer.tt_ranks == (1, 2, 8, 24, 16, 4, 1)

    def test_kernel_cost_counts_the_chain(self):
        layer = TTConv2D(16, 3, tt_ranks=4, tt_layout="kernel", padding="same")
        layer.build((None, 8, 8, 12))
        cost = layer.kernel_cost((None, 8, 8, 12), batch_size=2)
        pixels = 8 * 8
        chain = pixels * (12 * 4 + 3 * 16 + 3 * 16 + 4 * 16)
        assert cost.macs == chain
        assert cost.dense_macs == pixels * 9 * 12 * 16
        assert cost.kernel_params == 12 * 4 + 2 * 3 * 16 + 4 * 16

    def test_config_and_saving_round_trip(self, tmp_path):
        layer = _kernel(padding="same", name="tt")
        model = keras.Sequential([keras.Input((5, 5, 6)), layer])
        config = layer.get_config()
        assert config["tt_layout"] == "kernel"
        assert list(config["tt_ranks"]) == list(RANKS)
        path = str(tmp_path / "kernel.keras")
        model.save(path)
        loaded = keras.saving.load_model(path).get_layer("tt")
        assert loaded.tt_layout == "kernel"
        assert loaded.tt_core_shapes == layer.tt_core_shapes
        x = _x((2, 5, 5, 6))
        np.testing.assert_allclose(
            to_numpy(loaded(x)), to_numpy(layer(x)), rtol=1e-5, atol=1e-6
        )

    def test_default_layout_is_channel(self):
        config = TTConv2D(6, 3, INS, OUTS, (1, 2, 3, 1)).get_config()
        assert config["tt_layout"] == "channel"
        del config["tt_layout"]  # a config saved before the option
        assert TTConv2D.from_config(config).tt_layout == "channel"

    def test_round_keeps_the_kernel(self):
        layer = _kernel(tt_ranks=(1, 2, 6, 9, 6, 2, 1))
        layer.build((None, 5, 5, 6))
        small = layer.round()
        assert small.tt_layout == "kernel"
        np.testing.assert_allclose(
            to_numpy(small.to_dense()),
            to_numpy(layer.to_dense()),
            rtol=1e-4,
            atol=1e-5,
        )
        capped = layer.round(max_rank=2)
        assert capped.tt_ranks == (1, 2, 2, 2, 2, 2, 1)

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            (
                {"tt_ranks": (1, 2, 3, 1)},
                r"`tt_ranks` must have 2 d \+ 3 = 7 entries .* d = 2 channel "
                r"modes in the kernel layout.*Received: tt_ranks=\(1, 2, 3, "
                r"1\) \(4 entries\)",
            ),
            (
                {"tt_layout": "spatial"},
                r"`tt_layout` must be one of \('channel', 'kernel'\). "
                r"Received: tt_layout='spatial'",
            ),
            (
                {"tt_strategy": "channels"},
                r"`tt_strategy` must be one of \('auto', 'chain', 'dense'\) "
                r"with tt_layout=\"kernel\". Received: tt_strategy='channels'",
            ),
            (
                {"tt_ranks": None},
                r"`tt_ranks` is required: an int, a list of 2 d \+ 3 ints",
            ),
        ],
    )
    def test_invalid_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            _kernel(**kwargs).build((None, 5, 5, 6))

    def test_chain_strategy_needs_the_kernel_layout(self):
        with pytest.raises(ValueError, match=r"tt_strategy"):
            TTConv2D(6, 3, INS, OUTS, (1, 2, 3, 1), tt_strategy="chain")


def _output_map_grads(x, v, bias, g):
    """output_map(x, v, bias) and the gradients of sum(output * g) for
    x, v and bias (NumPy)."""
    backend = keras.backend.backend()
    args = [keras.ops.convert_to_tensor(a) for a in (x, v, bias)]
    if backend == "jax":
        import jax

        def loss(*args):
            return (conv_kernel.output_map(*args) * g).sum()

        grads = jax.grad(loss, argnums=(0, 1, 2))(*args)
        y = conv_kernel.output_map(*args)
    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(args)
            y = conv_kernel.output_map(*args)
            loss = tf.reduce_sum(y * g)
        grads = tape.gradient(loss, args)
    else:
        for a in args:
            a.requires_grad_(True)
        y = conv_kernel.output_map(*args)
        (y * keras.ops.convert_to_tensor(g)).sum().backward()
        grads = [a.grad for a in args]
    return to_numpy(y), [to_numpy(d) for d in grads]


class TestOutputMap:
    """The chain's last 1x1 step, channels first, with the hand-written
    gradient (torch's default) and under autodiff, on every backend."""

    # pixels = filters: Keras' TensorFlow `add` would take the bias for
    # the last axis's (see `conv_kernel._add_bias`).
    @pytest.mark.parametrize("pixels", [10, 5])
    @pytest.mark.parametrize("explicit", [True, False])
    def test_equals_the_product(self, explicit, pixels, monkeypatch):
        monkeypatch.setattr(
            runtime, "explicit_output_map_gradient", lambda: explicit
        )
        batch, rank, filters = 3, 4, 5
        x = _x((batch, pixels, rank))
        v, bias = _x((rank, filters), seed=1), _x((filters,), seed=2)
        g = _x((batch, filters, pixels), seed=3)
        y, (d_x, d_v, d_bias) = _output_map_grads(x, v, bias, g)
        x64, v64, g64 = (a.astype("f8") for a in (x, v, g))
        expected = np.einsum("bpr,rf->bfp", x64, v64) + bias[:, None]
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            d_x, np.einsum("bfp,rf->bpr", g64, v64), rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(
            d_v, np.einsum("bpr,bfp->rf", x64, g64), rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(
            d_bias, g64.sum((0, 2)), rtol=1e-5, atol=1e-5
        )


def _conv_model(seed=0):
    inputs = keras.Input((8, 8, 16))
    conv = keras.layers.Conv2D(16, 3, padding="same", name="conv")
    model = keras.Model(inputs, conv(inputs))
    rng = np.random.default_rng(seed)
    # A kernel exact in the kernel layout at rank 2: sum of two separable
    # terms U H W V.
    u, v = rng.standard_normal((16, 2)), rng.standard_normal((2, 16))
    h, w = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 3))
    kernel = np.einsum("ca,ayb,bx,bf->yxcf", u, h, w, v)
    conv.set_weights([kernel.astype("f4"), np.zeros(16, "f4")])
    return model


class TestCompressLayout:
    def test_kernel_layout_is_exact_without_truncation(self):
        model = _conv_model()
        new, report = compress(model, layers=["conv"], conv_layout="kernel")
        layer = new.get_layer("conv")
        assert layer.tt_layout == "kernel"
        assert report["conv"].tt_layout == "kernel"
        assert "kernel layout" in str(report)
        np.testing.assert_allclose(
            to_numpy(layer.to_dense()),
            to_numpy(model.get_layer("conv").kernel),
            rtol=1e-4,
            atol=1e-5,
        )

    def test_auto_picks_the_lower_error(self):
        model = _conv_model()
        budget = dict(max_params=400, layers=["conv"])
        new, report = compress(model, conv_layout="auto", **budget)
        errors = {}
        for layout in ("channel", "kernel"):
            row = compress(model, conv_layout=layout, **budget)[1]["conv"]
            errors[layout] = row.rel_error
        best = min(errors, key=errors.get)
        assert errors["kernel"] < 1e-5 < errors["channel"]
        assert report["conv"].tt_layout == best == "kernel"
        assert new.get_layer("conv").tt_layout == "kernel"
        assert report["conv"].rel_error == pytest.approx(errors[best])

    def test_bad_layout(self):
        with pytest.raises(
            ValueError,
            match=r"`conv_layout` must be one of \('channel', 'kernel', "
            r"'auto'\). Received: conv_layout='kernels'",
        ):
            compress(_conv_model(), conv_layout="kernels")

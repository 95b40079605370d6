import keras
import numpy as np
import pytest

import ttrnn
from tests.explain import reference
from ttrnn.explain import lrp

KINDS = {
    "lstm": (ttrnn.TTLSTM, keras.layers.LSTM),
    "gru": (ttrnn.TTGRU, keras.layers.GRU),
    "simple": (ttrnn.TTSimpleRNN, keras.layers.SimpleRNN),
}
CASES = [
    ("lstm", {}),
    ("gru", {"reset_after": False}),
    ("gru", {"reset_after": True}),
    ("simple", {}),
]


def _numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value), dtype="float64")


def _randomise(model, rng):
    """Non-zero biases everywhere, so the bias rules are exercised."""
    for weight in model.weights:
        if "bias" in weight.path:
            weight.assign(rng.normal(scale=0.3, size=weight.shape))


def _rnn_model(kind, tt, rng, steps=6, **kwargs):
    tt_layer, keras_layer = KINDS[kind]
    if tt:
        rnn = tt_layer(
            tt_input_shape=(3, 4),
            tt_output_shape=(2, 4),
            tt_ranks=2,
            **kwargs,
        )
    else:
        rnn = keras_layer(8, **kwargs)
    model = keras.Sequential(
        [
            keras.Input((steps, 12)),
            keras.layers.Masking(0.0),
            rnn,
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    _randomise(model, rng)
    return model


def _sequences(rng, batch=4, steps=6, padded=(0, 2, 1, 3)):
    x = rng.normal(size=(batch, steps, 12))
    for n, pad in enumerate(padded[:batch]):
        x[n, :pad] = 0.0  # pre-padding, masked
    return x


def _reference(model, x, eps, bias_factor, reset_after=False):
    rnn, head = model.layers[1], model.layers[2]
    cell = rnn.cell
    kernel = _numpy(rnn.to_dense() if hasattr(rnn, "to_dense") else cell.kernel)
    u_mat = _numpy(cell.recurrent_kernel)
    bias = _numpy(cell.bias)
    b, rb = (bias[0], bias[1]) if reset_after else (bias, None)
    w_o, b_o = _numpy(head.kernel), _numpy(head.bias)
    kind = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple"}[
        type(rnn).__name__.removeprefix("TT")
    ]
    out, targets = [], []
    for n in range(len(x)):
        mask = np.any(x[n] != 0.0, axis=-1)

        def head_relevance(h):
            z = h @ w_o + b_o
            target = int(np.argmax(z))
            targets.append(target)
            r_z = np.zeros_like(z)
            r_z[target] = z[target]
            return reference.lrp_linear(
                h, w_o, b_o, z, r_z, len(h), eps, bias_factor
            )

        r_x, _ = reference.rnn_relevance(
            kind,
            x[n],
            mask,
            kernel,
            u_mat,
            b,
            rb,
            head_relevance,
            eps,
            bias_factor,
            reset_after=reset_after,
        )
        out.append(r_x)
    return np.stack(out), np.array(targets)


class TestRecurrent:
    @pytest.mark.parametrize("bias_factor", [0.0, 1.0])
    @pytest.mark.parametrize("tt", [True, False], ids=["tt", "keras"])
    @pytest.mark.parametrize("kind, kwargs", CASES)
    def test_matches_numpy_reference(self, rng, kind, kwargs, tt, bias_factor):
        model = _rnn_model(kind, tt, rng, **kwargs)
        x = _sequences(rng)
        got = lrp(
            model, x, eps=1e-2, bias_factor=bias_factor, return_details=True
        )
        expected, targets = _reference(
            model, x, 1e-2, bias_factor, kwargs.get("reset_after", False)
        )
        np.testing.assert_array_equal(got.target, targets)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(
            got.relevance, expected, rtol=1e-4, atol=1e-5 * scale
        )

    @pytest.mark.parametrize("kind, kwargs", CASES)
    def test_conservation(self, rng, kind, kwargs):
        model = _rnn_model(kind, True, rng, **kwargs)
        x = _sequences(rng)
        out = lrp(model, x, eps=1e-3, bias_factor=1.0, return_details=True)
        total = out.relevance.sum(axis=(1, 2)) + out.initial_state
        np.testing.assert_allclose(total, out.score, rtol=1e-5, atol=1e-6)
        # The input carries relevance (not all of it left on the state).
        assert np.all(np.abs(out.relevance).sum(axis=(1, 2)) > 0)

    @pytest.mark.parametrize("kind", ["lstm", "gru"])
    def test_masked_steps_get_zero_relevance(self, rng, kind):
        model = _rnn_model(kind, True, rng)
        x = _sequences(rng, padded=(3, 1, 0, 5))
        relevance = lrp(model, x, bias_factor=1.0)
        for n, pad in enumerate((3, 1, 0, 5)):
            assert np.all(relevance[n, :pad] == 0.0)
            assert np.any(relevance[n, pad:] != 0.0)

    @pytest.mark.parametrize("kind", ["lstm", "gru", "simple"])
    def test_tt_layer_equals_its_dense_twin(self, rng, kind):
        tt_model = _rnn_model(kind, True, rng)
        dense_model = _rnn_model(kind, False, rng)
        tt_rnn = tt_model.layers[1]
        dense_model.layers[1].set_weights(
            [
                _numpy(tt_rnn.to_dense()),
                _numpy(tt_rnn.cell.recurrent_kernel),
                _numpy(tt_rnn.cell.bias),
            ]
        )
        dense_model.layers[2].set_weights(tt_model.layers[2].get_weights())
        x = _sequences(rng)
        np.testing.assert_allclose(
            lrp(tt_model, x), lrp(dense_model, x), rtol=1e-4, atol=1e-6
        )

    def test_stacked_sequences_conserve(self, rng):
        model = keras.Sequential(
            [
                keras.Input((5, 12)),
                keras.layers.Masking(0.0),
                ttrnn.TTGRU(
                    tt_input_shape=(3, 4),
                    tt_output_shape=(2, 4),
                    tt_ranks=2,
                    return_sequences=True,
                ),
                keras.layers.LSTM(6),
                keras.layers.Dense(2),
            ]
        )
        _randomise(model, rng)
        x = _sequences(rng, steps=5)
        out = lrp(model, x, bias_factor=1.0, return_details=True)
        total = out.relevance.sum(axis=(1, 2)) + out.initial_state
        np.testing.assert_allclose(total, out.score, rtol=1e-5, atol=1e-6)
        assert np.all(out.relevance[0, :0] == 0) and np.all(
            out.relevance[1, :2] == 0
        )

    def test_input_scale_and_offset(self, rng):
        """Relevance is that of the values the map sees (x * s + o)."""
        model = keras.Sequential(
            [
                keras.Input((4, 12)),
                ttrnn.TTSimpleRNN(
                    tt_input_shape=(3, 4),
                    tt_output_shape=(2, 4),
                    tt_ranks=2,
                    input_scale=0.5,
                    input_offset=-1.0,
                ),
                keras.layers.Dense(2),
            ]
        )
        x = rng.normal(size=(3, 4, 12))
        plain = keras.Sequential(
            [
                keras.Input((4, 12)),
                ttrnn.TTSimpleRNN(
                    tt_input_shape=(3, 4), tt_output_shape=(2, 4), tt_ranks=2
                ),
                keras.layers.Dense(2),
            ]
        )
        plain.set_weights(model.get_weights())
        np.testing.assert_allclose(
            lrp(model, x), lrp(plain, x * 0.5 - 1.0), rtol=1e-5, atol=1e-7
        )


def _feedforward(rng, functional=False, tt_strategy="auto"):
    layers = [
        ttrnn.TTDense(
            tt_input_shape=(3, 4),
            tt_output_shape=(2, 4),
            tt_ranks=2,
            activation="relu",
            tt_strategy=tt_strategy,
        ),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(4, activation="softmax"),
    ]
    if functional:
        inputs = keras.Input((12,))
        out = inputs
        for layer in layers:
            out = layer(out)
        model = keras.Model(inputs, out)
    else:
        model = keras.Sequential([keras.Input((12,)), *layers])
    _randomise(model, rng)
    bn = layers[1]
    bn.moving_mean.assign(rng.normal(size=8))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, size=8))
    bn.gamma.assign(rng.normal(size=8))
    return model


class TestFeedforward:
    @pytest.mark.parametrize("bias_factor", [0.0, 1.0])
    @pytest.mark.parametrize("functional", [False, True])
    def test_matches_numpy_reference(self, rng, functional, bias_factor):
        model = _feedforward(rng, functional)
        x = rng.normal(size=(5, 12))
        tt_layer, bn, _, head = [
            layer
            for layer in model.layers
            if not isinstance(layer, keras.layers.InputLayer)
        ]
        eps = 1e-2
        w1, b1 = _numpy(tt_layer.to_dense()), _numpy(tt_layer.bias)
        h = np.maximum(x @ w1 + b1, 0.0)
        a = _numpy(bn.gamma) / np.sqrt(_numpy(bn.moving_variance) + bn.epsilon)
        shift = _numpy(bn.beta) - _numpy(bn.moving_mean) * a
        y = h * a + shift
        z = y @ _numpy(head.kernel) + _numpy(head.bias)
        target = np.full(5, 2)
        r_z = np.zeros_like(z)
        r_z[np.arange(5), target] = z[np.arange(5), target]
        r_y = reference.dense_relevance(
            y, _numpy(head.kernel), _numpy(head.bias), r_z, eps, bias_factor
        )
        # Batch normalisation: one input per unit (a diagonal map).
        r_h = reference.elementwise_relevance(
            h, a, shift, r_y, eps, bias_factor
        )
        r_x = reference.dense_relevance(x, w1, b1, r_h, eps, bias_factor)
        got = lrp(model, x, target=2, eps=eps, bias_factor=bias_factor)
        np.testing.assert_allclose(got, r_x, rtol=1e-4, atol=1e-6)

    def test_conservation_and_default_target(self, rng):
        model = _feedforward(rng)
        x = rng.normal(size=(6, 12))
        out = lrp(model, x, bias_factor=1.0, return_details=True, batch_size=4)
        np.testing.assert_array_equal(
            out.target, np.argmax(model.predict(x, verbose=0), axis=-1)
        )
        np.testing.assert_allclose(
            out.relevance.sum(axis=1), out.score, rtol=1e-5, atol=1e-6
        )

    def test_never_builds_the_tt_matrix(self, rng, monkeypatch):
        # The planner may rebuild a tiny W (cheaper); with a contraction
        # strategy, neither the forward nor the transposed product does.
        model = _feedforward(rng, tt_strategy="ltr")
        expected = lrp(model, rng.normal(size=(2, 12)))

        def refuse(*args, **kwargs):
            raise AssertionError("the TT-matrix was built")

        for module in (ttrnn.tt, ttrnn.tt.cores):
            monkeypatch.setattr(module, "to_dense", refuse)
            monkeypatch.setattr(
                module, "leading_product", refuse, raising=False
            )
        assert lrp(model, np.zeros((2, 12))).shape == expected.shape


class TestInvalidArguments:
    def test_arguments(self, rng):
        model = _feedforward(rng)
        x = rng.normal(size=(2, 12))
        with pytest.raises(ValueError, match="`eps` must be a positive"):
            lrp(model, x, eps=0.0)
        with pytest.raises(
            ValueError, match=r"`bias_factor` must be .* \[0, 1\]"
        ):
            lrp(model, x, bias_factor=2.0)
        with pytest.raises(ValueError, match=r"`target` must be .* \[0, 4\)"):
            lrp(model, x, target=4)
        with pytest.raises(ValueError, match=r"`x` must be .*\(2, 13\)"):
            lrp(model, rng.normal(size=(2, 13)))
        with pytest.raises(ValueError, match="`batch_size` must be"):
            lrp(model, x, batch_size=0)

    def test_unsupported_models(self, rng):
        conv = keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                keras.layers.Conv2D(2, 3),
                keras.layers.Flatten(),
                keras.layers.Dense(2),
            ]
        )
        with pytest.raises(ValueError, match="does not support layer .*Conv2D"):
            lrp(conv, np.zeros((1, 8, 8, 1)))
        inputs = keras.Input((4,))
        branch = keras.layers.Dense(3)(inputs)
        merged = keras.layers.Add()([branch, keras.layers.Dense(3)(inputs)])
        two_paths = keras.Model(inputs, keras.layers.Dense(2)(merged))
        with pytest.raises(ValueError, match="single path|does not support"):
            lrp(two_paths, np.zeros((1, 4)))
        backwards = keras.Sequential(
            [
                keras.Input((3, 4)),
                keras.layers.GRU(2, go_backwards=True),
                keras.layers.Dense(2),
            ]
        )
        with pytest.raises(ValueError, match="go_backwards=True"):
            lrp(backwards, np.zeros((1, 3, 4)))
        no_head = keras.Sequential([keras.Input((3, 4)), keras.layers.GRU(2)])
        with pytest.raises(ValueError, match="last TTDense or Dense"):
            lrp(no_head, np.zeros((1, 3, 4)))


class TestFramePooling:
    """The TT-MLP of the video experiments: a TT layer on every frame,
    the mean over the frames the mask input keeps, the head."""

    def _model(self, rng, tt):
        frames = keras.Input((5, 12))
        mask = keras.Input((5,), dtype="bool")
        if tt:
            per_frame = ttrnn.TTDense(
                (3, 4), (2, 4), 2, activation="relu", tt_strategy="ltr"
            )
        else:
            per_frame = keras.layers.Dense(8, activation="relu")
        pooled = keras.layers.GlobalAveragePooling1D()(
            per_frame(frames), mask=mask
        )
        model = keras.Model([frames, mask], keras.layers.Dense(3)(pooled))
        _randomise(model, rng)
        return model

    def test_matches_numpy_reference_and_conserves(self, rng):
        model = self._model(rng, tt=True)
        x = rng.normal(size=(4, 5, 12))
        mask = np.ones((4, 5), bool)
        mask[1, :2] = mask[3, :4] = False
        eps = 1e-2
        got = lrp(
            model, [x, mask], eps=eps, bias_factor=1.0, return_details=True
        )
        tt_layer, _, head = [
            layer
            for layer in model.layers
            if not isinstance(layer, keras.layers.InputLayer)
        ]
        w1, b1 = _numpy(tt_layer.to_dense()), _numpy(tt_layer.bias)
        w2, b2 = _numpy(head.kernel), _numpy(head.bias)
        for n in range(4):
            steps = np.flatnonzero(mask[n])
            h = np.maximum(x[n, steps] @ w1 + b1, 0.0)  # (t, 8)
            pooled = h.mean(axis=0)
            z = pooled @ w2 + b2
            target = int(np.argmax(z))
            r_z = np.zeros(3)
            r_z[target] = z[target]
            r_p = reference.lrp_linear(pooled, w2, b2, z, r_z, 8, eps, 1.0)
            # The mean: input (t, j) feeds unit j with weight 1/t.
            r_h = np.stack(
                [
                    reference.lrp_linear(
                        h[:, j],
                        np.full((len(steps), 1), 1 / len(steps)),
                        np.zeros(1),
                        pooled[j : j + 1],
                        r_p[j : j + 1],
                        len(steps),
                        eps,
                        1.0,
                    )
                    for j in range(8)
                ],
                axis=1,
            )
            r_x = np.stack(
                [
                    reference.lrp_linear(
                        x[n, t], w1, b1, x[n, t] @ w1 + b1, r_h[k], 12, eps, 1.0
                    )
                    for k, t in enumerate(steps)
                ]
            )
            np.testing.assert_allclose(
                got.relevance[n, steps], r_x, rtol=1e-4, atol=1e-6
            )
            assert np.all(got.relevance[n, ~mask[n]] == 0)
        np.testing.assert_allclose(
            got.relevance.sum(axis=(1, 2)), got.score, rtol=1e-5, atol=1e-6
        )

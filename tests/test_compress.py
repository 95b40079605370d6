"""ttrnn.compress against the dense model and NumPy SVD references."""

import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import to_numpy
from ttrnn import TTGRU
from ttrnn import TTDense
from ttrnn import compress

RNG = np.random.default_rng(7)
X = RNG.standard_normal((4, 120)).astype("float32")


def _mlp():
    return keras.Sequential(
        [
            keras.Input((120,)),
            keras.layers.Dense(
                64, activation="relu", bias_initializer="random_normal"
            ),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, name="head"),
        ],
        name="mlp",
    )


def _close(a, b):
    a, b = to_numpy(a), to_numpy(b)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


class TestCompressExact:
    def test_sequential_outputs_unchanged(self):
        model = _mlp()
        new, report = compress(model, min_params=0)
        assert [type(layer).__name__ for layer in new.layers] == [
            "TTDense",
            "Dropout",
            "TTDense",
        ]
        _close(new(X), model(X))
        assert all(row.rel_error < 1e-6 for row in report.layers)
        assert report.params_before == model.count_params()
        assert report.params_after == new.count_params()
        for row, layer in zip(report.layers, [new.layers[0], new.layers[2]]):
            assert row.params_after == layer.count_params()
            assert row.tt_ranks == layer.tt_ranks
        assert new.layers[2].name == "head"

    def test_functional_with_nested_model_and_branches(self):
        inner = keras.Sequential(
            [keras.Input((64,)), keras.layers.Dense(48, name="inner_fc")]
        )
        inp = keras.Input((120,))
        h = keras.layers.Dense(64, activation="tanh", name="fc")(inp)
        out = keras.layers.Concatenate()([inner(h), h])
        model = keras.Model(inp, keras.layers.Dense(6, name="out")(out))
        new, report = compress(model, min_params=1000)
        assert {row.name for row in report.layers} == {"fc", "inner_fc"}
        assert isinstance(new.get_layer("fc"), TTDense)
        _close(new(X), model(X))

    def test_recurrent_layers(self):
        model = keras.Sequential(
            [
                keras.Input((5, 24)),
                keras.layers.GRU(16, return_sequences=True, name="gru"),
                keras.layers.LSTM(8, return_sequences=True, name="lstm"),
                keras.layers.SimpleRNN(8, name="rnn"),
            ]
        )
        x = RNG.standard_normal((3, 5, 24)).astype("float32")
        new, report = compress(model, min_params=0)
        assert [type(layer).__name__ for layer in new.layers] == [
            "TTGRU",
            "TTLSTM",
            "TTSimpleRNN",
        ]
        _close(new(x), model(x))
        assert all(row.rel_error < 1e-6 for row in report.layers)
        # The recurrent kernel is copied, the input kernel rebuilt.
        gru_old, gru_new = model.layers[0], new.layers[0]
        np.testing.assert_array_equal(
            to_numpy(gru_new.recurrent_kernel),
            to_numpy(gru_old.cell.recurrent_kernel),
        )
        _close(gru_new.to_dense(), gru_old.cell.kernel)

    def test_original_untouched_and_new_model_trains(self):
        model = _mlp()
        before = [to_numpy(w) for w in model.weights]
        new, _ = compress(model, max_rank=2, min_params=0)
        start = [to_numpy(c) for c in new.layers[0].cores]
        new.compile(keras.optimizers.SGD(0.1), "mse")
        new.fit(X, np.ones((4, 10), "float32"), verbose=0)
        for b, w in zip(before, model.weights):
            np.testing.assert_array_equal(b, to_numpy(w))
        moved = [to_numpy(c) for c in new.layers[0].cores]
        assert any(np.abs(a - b).max() > 0 for a, b in zip(start, moved))


class TestCompressTruncated:
    @pytest.mark.parametrize("rank", [1, 3])
    def test_two_modes_give_the_best_low_rank_matrix(self, rank):
        # With d = 2, TT-SVD is one truncated SVD of the rearranged kernel:
        # the reported error must equal the NumPy SVD tail.
        model = _mlp()
        new, report = compress(model, max_rank=rank, d=2, layers=["dense"])
        w = to_numpy(model.layers[0].kernel)
        layer = new.layers[0]
        ins, outs = layer.tt_input_shape, layer.tt_output_shape
        t = w.reshape(ins + outs).transpose(0, 2, 1, 3)
        s = np.linalg.svd(t.reshape(ins[0] * outs[0], -1), compute_uv=False)
        expected = np.sqrt(np.sum(s[rank:] ** 2) / np.sum(s**2))
        assert report["dense"].rel_error == pytest.approx(expected, rel=1e-6)
        cores = [to_numpy(c) for c in layer.cores]
        got = np.linalg.norm(dense_from_cores(cores) - w) / np.linalg.norm(w)
        assert got == pytest.approx(expected, rel=1e-3)
        assert layer.tt_ranks == (1, rank, 1)

    def test_eps_and_budgets(self):
        model = _mlp()
        _, report = compress(model, eps=0.5, min_params=0)
        assert all(row.rel_error <= 0.5 + 1e-9 for row in report.layers)
        new, report = compress(model, max_params=300, min_params=0)
        for layer in (new.layers[0], new.layers[2]):
            assert sum(int(np.prod(c.shape)) for c in layer.cores) <= 300
        new, report = compress(model, compression=20, layers=["dense"])
        row = report["dense"]
        assert 120 * 64 / (row.params_after - 64) >= 20

    def test_rounds_tt_layers(self):
        model = keras.Sequential(
            [
                keras.Input((120,)),
                TTDense((4, 5, 6), (4, 4, 4), 6, name="tt"),
                keras.layers.Reshape((8, 8)),
                TTGRU((2, 4), (2, 4), 4, name="g"),
            ]
        )
        x = RNG.standard_normal((2, 120)).astype("float32")
        new, report = compress(model, max_rank=2)
        assert new.get_layer("tt").tt_ranks == (1, 2, 2, 1)
        assert new.get_layer("g").tt_ranks == (1, 2, 1)
        old_tt = [to_numpy(c) for c in model.get_layer("tt").cores]
        new_tt = [to_numpy(c) for c in new.get_layer("tt").cores]
        w_old, w_new = dense_from_cores(old_tt), dense_from_cores(new_tt)
        assert report["tt"].rel_error == pytest.approx(
            np.linalg.norm(w_new - w_old) / np.linalg.norm(w_old), rel=1e-4
        )
        exact, _ = compress(model)
        _close(exact(x), model(x))


class TestCompressSelection:
    def test_min_params_and_names(self):
        model = _mlp()
        _, report = compress(model)  # both kernels below 4096 weights
        assert [row.name for row in report.layers] == ["dense"]
        _, report = compress(model, layers=[model.get_layer("head")])
        assert [row.name for row in report.layers] == ["head"]
        assert "head" in str(report) and "model" in str(report)

    def test_badly_factoring_dims(self):
        model = keras.Sequential(
            [keras.Input((1031,)), keras.layers.Dense(8, name="prime")]
        )
        with pytest.warns(UserWarning, match=r"'prime' left dense.*pad"):
            new, report = compress(model, d=3)
        assert "Zero-pad to 1040" in report["prime"].note
        assert isinstance(new.layers[0], keras.layers.Dense)
        with pytest.raises(ValueError, match=r"`input_dim`=1031.*1040"):
            compress(model, d=3, layers=["prime"])

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"layers": ["nope"]}, r"known names.*Received: 'nope'"),
            ({"layers": ["dropout"]}, r"converts only.*'dropout' of type"),
            ({"max_rank": 0}, r"`max_rank` must be None or an int >= 1"),
            ({"eps": -1.0}, r"`eps` must be None or a float >= 0"),
            (
                {"max_params": 10, "compression": 2},
                r"at most one of `max_params` and `compression`",
            ),
            ({"d": 0}, r"`d` must be None or an int >= 1"),
        ],
    )
    def test_invalid_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            compress(_mlp(), **kwargs)

    def test_unbuilt_and_subclassed_models(self):
        with pytest.raises(ValueError, match=r"must be built"):
            compress(keras.Sequential([keras.layers.Dense(4)]))

        class Sub(keras.Model):
            def call(self, x):
                return x

        with pytest.raises(ValueError, match=r"Sequential or functional"):
            compress(Sub())


class TestCompressEmbedding:
    def _model(self, vocab=1031, dim=24):
        return keras.Sequential(
            [
                keras.Input((5,), dtype="int32"),
                keras.layers.Embedding(
                    vocab,
                    dim,
                    mask_zero=True,
                    embeddings_initializer="random_normal",
                    name="emb",
                ),
                keras.layers.GRU(4, name="gru"),
            ]
        )

    def test_exact_table_and_padding(self):
        from ttrnn import TTEmbedding

        model = self._model()
        ids = np.array([[1, 1030, 7, 0, 0], [5, 0, 0, 0, 0]])
        new, report = compress(model, layers=["emb"])
        emb = new.get_layer("emb")
        assert isinstance(emb, TTEmbedding) and emb.mask_zero
        assert np.prod(emb.tt_input_shape) >= 1031  # 1031 is prime
        table = to_numpy(model.get_layer("emb").embeddings)
        cores = [to_numpy(c) for c in emb.cores]
        np.testing.assert_allclose(
            dense_from_cores(cores)[:1031], table, atol=1e-5
        )
        assert report["emb"].rel_error < 1e-6
        _close(new(ids), model(ids))  # mask carried: same GRU outputs

    def test_compression_counts_against_the_real_table(self):
        model = self._model(vocab=4096, dim=32)
        new, report = compress(model, compression=10, layers=["emb"])
        row = report["emb"]
        assert row.after == "TTEmbedding"
        assert row.params_before / row.params_after >= 10
        assert row.params_after == new.get_layer("emb").count_params()
        # The best rank-capped TT of a random table is far from exact.
        assert 0.1 < row.rel_error < 1.0
        # min_params picks the table when no names are given.
        _, auto = compress(model, min_params=0)
        assert auto["emb"].after == "TTEmbedding"
        # A second pass rounds the TTEmbedding.
        _, again = compress(new, max_rank=2, layers=["emb"])
        assert again["emb"].before == again["emb"].after == "TTEmbedding"
        assert max(again["emb"].tt_ranks) <= 2


class TestCompressConv2D:
    @pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
    def test_exact_kernel_same_outputs(self, data_format):
        from ttrnn import TTConv2D

        shape = (8, 8, 12) if data_format == "channels_last" else (12, 8, 8)
        model = keras.Sequential(
            [
                keras.Input(shape),
                keras.layers.Conv2D(
                    16,
                    3,
                    strides=2,
                    padding="same",
                    activation="relu",
                    bias_initializer="random_normal",
                    data_format=data_format,
                    name="conv",
                ),
                keras.layers.Flatten(),
            ]
        )
        x = np.random.default_rng(2).standard_normal((2, *shape), "float32")
        new, report = compress(model, layers=["conv"])
        conv = new.get_layer("conv")
        assert isinstance(conv, TTConv2D)
        assert conv.data_format == data_format and conv.strides == (2, 2)
        np.testing.assert_allclose(
            to_numpy(conv.to_dense()),
            to_numpy(model.get_layer("conv").kernel),
            atol=1e-5,
        )
        assert report["conv"].rel_error < 1e-6
        _close(new(x), model(x))

    def test_budget_then_rounding_a_tt_conv(self):
        model = keras.Sequential(
            [keras.Input((6, 6, 16)), keras.layers.Conv2D(16, 3, name="conv")]
        )
        new, report = compress(model, compression=4, layers=["conv"])
        row = report["conv"]
        assert row.after == "TTConv2D"
        assert 3 * 3 * 16 * 16 / (row.params_after - 16) >= 4
        assert row.params_after == new.get_layer("conv").count_params()
        # A second pass rounds the TT layer (TTConv2D.round).
        smaller, again = compress(new, max_rank=2, layers=["conv"])
        assert again["conv"].before == again["conv"].after == "TTConv2D"
        assert max(again["conv"].tt_ranks) <= 2
        assert again["conv"].params_after < row.params_after

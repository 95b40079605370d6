"""compress(model, data=...): output error on the data against NumPy
references (the outputs of the original model, SVDs of the kernel)."""

import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import random_cores
from tests.helpers import to_numpy
from ttrnn import TTDense
from ttrnn import compress
from ttrnn import tt
from ttrnn.tt import factorize
from ttrnn.tt import whitening

RNG = np.random.default_rng(11)


def _dense_model(weights, units=64, name="fc"):
    model = keras.Sequential(
        [
            keras.Input((weights.shape[0],)),
            keras.layers.Dense(units, use_bias=False, name=name),
        ]
    )
    model.layers[0].set_weights([weights.astype("float32")])
    return model


def _output_error(model, new, x):
    """||f(x) - g(x)|| / ||f(x)|| in float64 on the sample."""
    a, b = to_numpy(model(x)), to_numpy(new(x))
    return np.linalg.norm(a - b) / np.linalg.norm(a)


def _kron_subspace_inputs(n=600):
    """x = u (x) z: the first input mode only ever sees direction u."""
    u = RNG.standard_normal(8)
    z = RNG.standard_normal((n, 8))
    return np.einsum("i,nj->nij", u, z).reshape(n, 64).astype("float32")


def _embedding_model(vocab, dim):
    table = RNG.standard_normal((vocab, dim)).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((12,), dtype="int32"),
            keras.layers.Embedding(vocab, dim, name="emb"),
        ]
    )
    model.layers[0].set_weights([table])
    return model, table


def _weighted_error(new, table, counts):
    """Relative frequency-weighted error of a compressed table."""
    got = dense_from_cores(new.layers[0].cores)[: len(table)]
    err = counts @ ((got - table) ** 2).sum(1)
    return np.sqrt(err / (counts @ (table.astype(float) ** 2).sum(1)))


class TestDataAware:
    def test_subspace_inputs_exact_where_plain_is_not(self):
        model = _dense_model(RNG.standard_normal((64, 64)))
        x = _kron_subspace_inputs()
        args = dict(max_rank=8, d=2, min_params=0)
        plain, _ = compress(model, **args)
        aware, report = compress(model, data=x, **args)
        assert aware.layers[0].tt_ranks == (1, 8, 1)
        # Rank 8 of 64 at the only cut: plain TT-SVD loses most of W.
        assert _output_error(model, plain, x) > 0.5
        assert _output_error(model, aware, x) < 1e-3
        assert report.output_errors["fc"] < 1e-3

    def test_mixed_subspace_beats_plain(self):
        model = _dense_model(RNG.standard_normal((64, 64)))
        x = RNG.standard_normal((600, 4)) @ RNG.standard_normal((4, 64))
        x = x.astype("float32")
        plain, _ = compress(model, max_rank=4, d=2, min_params=0)
        aware, report = compress(model, max_rank=4, d=2, min_params=0, data=x)
        err = _output_error(model, aware, x)
        assert err < 0.5 * _output_error(model, plain, x)
        # atol: ALS reaches the float32 floor here (4 useful input dims).
        np.testing.assert_allclose(
            report.output_errors["fc"], err, rtol=1e-3, atol=1e-5
        )

    def test_white_inputs_give_plain_tt_svd(self):
        w = RNG.standard_normal((64, 64))
        model = _dense_model(w)
        q, _ = np.linalg.qr(RNG.standard_normal((512, 64)))
        x = (np.sqrt(512) * q).astype("float32")  # x^T x / n = I
        args = dict(max_rank=5, d=3, min_params=0)
        plain, _ = compress(model, **args)
        aware, _ = compress(model, data=x, **args)
        expected = dense_from_cores(tt.from_dense(w, (4, 4, 4), (4, 4, 4), 5))
        for new in (plain, aware):
            got = dense_from_cores(new.layers[0].cores)
            np.testing.assert_allclose(got, expected, atol=2e-4)

    def test_streamed_pydataset_and_generator_match_one_array(self):
        model = _dense_model(RNG.standard_normal((64, 64)))
        x = RNG.standard_normal((300, 64)) * np.linspace(0.1, 3, 64)
        x = x.astype("float32")

        class Batches(keras.utils.PyDataset):
            def __len__(self):
                return 6

            def __getitem__(self, i):
                rows = x[50 * i : 50 * (i + 1)]
                return rows, np.zeros(len(rows))

        args = dict(max_rank=6, d=2, min_params=0)
        whole, _ = compress(model, data=x, **args)
        expected = dense_from_cores(whole.layers[0].cores)
        generator = (x[i : i + 64] for i in range(0, 300, 64))
        for data in (Batches(), generator):
            streamed, _ = compress(model, data=data, **args)
            got = dense_from_cores(streamed.layers[0].cores)
            np.testing.assert_allclose(got, expected, atol=1e-5)

    def test_budget_met_over_layers_by_output_error(self):
        white, narrow = keras.Input((64,)), keras.Input((64,))
        out = keras.layers.Concatenate()(
            [
                keras.layers.Dense(64, name="a")(white),
                keras.layers.Dense(64, name="b")(narrow),
            ]
        )
        model = keras.Model([white, narrow], out)
        x = [
            RNG.standard_normal((600, 64)).astype("float32"),
            _kron_subspace_inputs(),
        ]
        # 2 x 768 weights: b needs rank 8 (1024) for its 8 useful input
        # dims; a, white and random, takes the rest.
        new, report = compress(
            model, compression=4096 / 768, d=2, min_params=0, data=x
        )
        budget = 2 * 768
        spent = sum(tt.num_params(new.get_layer(n).cores) for n in "ab")
        assert spent <= budget
        assert new.get_layer("b").tt_ranks == (1, 8, 1)
        assert new.get_layer("a").tt_ranks == (1, 4, 1)
        assert report.output_errors["b"] < 1e-3
        # No single cut can grow within the budget: it is used up.
        layer = new.get_layer("a")
        grown = tt.num_params(layer.tt_input_shape, layer.tt_output_shape, 5)
        assert spent + grown - tt.num_params(layer.cores) > budget

    def test_rank_search_keeps_the_budget_and_never_ends_worse(
        self, monkeypatch
    ):
        from ttrnn.tt import rank_search

        searches = []
        search = rank_search.search

        def spy(starts, ins, outs, budget, judge, **kwargs):
            found = search(starts, ins, outs, budget, judge, **kwargs)
            start_losses = [judge(tuple(s))[0] for s in starts]
            searches.append((budget, start_losses, found))
            return found

        monkeypatch.setattr(rank_search, "search", spy)
        # Correlated inputs (a low-dimensional part plus a little noise)
        # and a kernel whose cuts matter unequally.
        x = RNG.standard_normal((500, 6)) @ RNG.standard_normal((6, 64))
        x = (x + 0.1 * RNG.standard_normal((500, 64))).astype("float32")
        model = _dense_model(RNG.standard_normal((64, 64)))
        new, report = compress(model, compression=8, d=3, min_params=0, data=x)
        assert len(searches) == 1
        budget, start_losses, (ranks, loss, _) = searches[0]
        assert budget == 64 * 64 // 8
        assert loss <= min(start_losses)
        layer = new.get_layer("fc")
        assert layer.tt_ranks == ranks
        ins, outs = layer.tt_input_shape, layer.tt_output_shape
        assert tt.num_params(ins, outs, ranks) <= budget
        top = tt.shapes.max_ranks(ins, outs)
        for k in range(1, len(ranks) - 1):
            grown = list(ranks)
            grown[k] += 1
            assert grown[k] > top[k] or (
                tt.num_params(ins, outs, grown) > budget
            )
        assert _output_error(model, new, x) == pytest.approx(
            report.output_errors["fc"], rel=1e-3
        )

    def test_allocate_prefers_the_larger_singular_values(self):
        shapes = [((4, 4), (4, 4))] * 2
        flat = [np.full(16, 1.0)]
        steep = [np.array([100.0] + [1e-3] * 15)]
        ranks = whitening.allocate(shapes, [flat, steep], budget=2 * 64)
        assert ranks[1] == (1, 1, 1)
        assert ranks[0] == (1, 3, 1)  # 32 + 32 * 3 <= 128 - 32

    def test_tt_dense_rounded_in_the_data_metric(self):
        cores = random_cores(RNG, (8, 8), (8, 8), (1, 16, 1))
        model = keras.Sequential(
            [keras.Input((64,)), TTDense((8, 8), (8, 8), 16, name="tt")]
        )
        layer = model.layers[0]
        layer.set_weights(
            [c.astype("float32") for c in cores] + [np.zeros(64, "float32")]
        )
        x = _kron_subspace_inputs()
        plain, _ = compress(model, max_rank=8)
        aware, _ = compress(model, max_rank=8, data=x)
        assert aware.layers[0].tt_ranks == (1, 8, 1)
        assert _output_error(model, aware, x) < 1e-3
        assert _output_error(model, plain, x) > 0.1

    def test_embedding_weights_rows_by_frequency(self):
        vocab, dim = 4096, 16
        model, table = _embedding_model(vocab, dim)
        frequent = RNG.choice(vocab, 20, replace=False)
        ids = RNG.choice(frequent, (400, 12))
        ids[:, -1] = RNG.integers(0, vocab, 400)  # a rare tail
        counts = np.bincount(ids.ravel(), minlength=vocab).astype(float)

        plain, _ = compress(model, max_rank=8, d=3, min_params=0)
        aware, report = compress(model, max_rank=8, d=3, min_params=0, data=ids)
        error = _weighted_error(aware, table, counts)
        assert error < 0.5 * _weighted_error(plain, table, counts)
        np.testing.assert_allclose(
            report.output_errors["emb"], error, rtol=1e-3
        )

    def test_embedding_budget_goes_to_near_uniform_ranks(self):
        vocab, dim = 4096, 16
        model, table = _embedding_model(vocab, dim)
        ids = RNG.choice(RNG.choice(vocab, 300, replace=False), (400, 12))
        counts = np.bincount(ids.ravel(), minlength=vocab).astype(float)
        plain, _ = compress(model, compression=16, d=3, min_params=0)
        aware, report = compress(
            model, compression=16, d=3, min_params=0, data=ids
        )
        layer = aware.get_layer("emb")
        # The whole budget, on the ranks plain compression also takes.
        assert layer.tt_ranks == plain.get_layer("emb").tt_ranks
        assert layer.tt_ranks == factorize.ranks_for_budget(
            layer.tt_input_shape,
            layer.tt_output_shape,
            max_params=vocab * dim // 16,
        )
        error = _weighted_error(aware, table, counts)
        assert error < 0.8 * _weighted_error(plain, table, counts)
        assert report.output_errors["emb"] == pytest.approx(error, rel=1e-3)

    def test_finetune_distills_toward_the_original(self):
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(64, activation="tanh", name="fc"),
                keras.layers.Dense(4, name="head"),
            ]
        )
        x = RNG.standard_normal((256, 64)).astype("float32")
        new, report = compress(
            model, max_rank=2, min_params=0, data=x, finetune=40
        )
        assert len(report.finetune_losses) == 40
        assert report.finetune_losses[-1] < report.finetune_losses[0]

    def test_bad_arguments(self):
        model = _dense_model(RNG.standard_normal((64, 64)))
        with pytest.raises(ValueError, match="`finetune` must be None or"):
            compress(model, max_rank=2, finetune=3)
        with pytest.raises(ValueError, match="Argument `data` must be an"):
            compress(model, max_rank=2, min_params=0, data=3.0)
        with pytest.raises(ValueError, match="must hold at least one batch"):
            compress(model, max_rank=2, min_params=0, data=iter([]))

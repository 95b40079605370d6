import math

import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import to_numpy
from ttrnn import TTEmbedding
from ttrnn import tt
from ttrnn.testing import run_layer_test

BACKEND = keras.backend.backend()
# 7 * 8 * 9 = 504 rows, 500 real: ids 500..503 are padding rows.
VOCAB, DIM, INS, OUTS, RANKS = 500, 12, (7, 8, 9), (2, 3, 2), (1, 3, 4, 1)


def _table(layer):
    """The layer's table from its cores, by an independent float64 einsum."""
    cores = [to_numpy(c) for c in layer.cores]
    return dense_from_cores(cores)[: layer.input_dim]


def _keras_embedding(layer, **kwargs):
    if not layer.built:
        layer.build()
    ref = keras.layers.Embedding(layer.input_dim, layer.output_dim, **kwargs)
    ref.build()
    ref.embeddings.assign(to_numpy(layer.to_dense()).astype("float32"))
    return ref


class TestTTEmbedding:
    def test_layer(self):
        run_layer_test(
            TTEmbedding,
            {"input_dim": VOCAB, "output_dim": DIM, "tt_input_shape": INS,
             "tt_output_shape": OUTS, "tt_ranks": RANKS, "mask_zero": True},
            input_data=np.array([[0, 499, 3], [250, 17, 1]], "int32"),
            expected_output_shape=(2, 3, DIM),
            expected_num_trainable_weights=3,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
        )  # fmt: skip

    def test_layer_with_budget_ranks(self):
        run_layer_test(
            TTEmbedding,
            {"input_dim": VOCAB, "output_dim": DIM, "tt_ranks": "auto",
             "tt_compression": 20, "embeddings_regularizer": "l2",
             "name": "emb"},
            input_shape=(2, 4),
            input_dtype="int32",
            expected_output_shape=(2, 4, DIM),
            expected_num_losses=3,
            run_training_check=False,
            run_mixed_precision_check=False,
            run_saving_check=False,
        )  # fmt: skip

    def test_cores_and_lookups(self):
        layer = TTEmbedding(VOCAB, DIM, INS, OUTS, RANKS, name="tte")
        ids = np.array([[0, 499, 3], [250, 17, 1]])
        y = layer(ids)
        assert layer.input_dim == VOCAB and layer.output_dim == DIM
        assert [tuple(c.shape) for c in layer.cores] == [
            (1, 7, 2, 3),
            (3, 8, 3, 4),
            (4, 9, 2, 1),
        ]
        assert layer.count_params() == tt.num_params(INS, OUTS, RANKS)
        assert tuple(to_numpy(layer.to_dense()).shape) == (VOCAB, DIM)
        np.testing.assert_allclose(
            to_numpy(y), _table(layer)[ids], rtol=1e-5, atol=1e-7
        )

    @pytest.mark.parametrize("shape", [(6,), (2, 5), (2, 3, 4)])
    def test_equals_keras_embedding_with_the_dense_table(self, shape):
        layer = TTEmbedding(
            VOCAB, DIM, INS, OUTS, RANKS, embeddings_initializer="normal"
        )
        ids = np.random.default_rng(0).integers(-VOCAB, VOCAB, size=shape)
        ref = _keras_embedding(layer)
        np.testing.assert_allclose(
            to_numpy(layer(ids)), to_numpy(ref(ids)), rtol=1e-5, atol=1e-6
        )
        # Float ids are cast, as Keras does.
        np.testing.assert_allclose(
            to_numpy(layer(np.abs(ids).astype("float32"))),
            to_numpy(ref(np.abs(ids))),
            rtol=1e-5,
            atol=1e-6,
        )

    def test_automatic_vocabulary_modes_pad_the_table(self):
        layer = TTEmbedding(1031, 16, tt_ranks=4)
        assert len(layer.tt_input_shape) == 3
        assert math.prod(layer.tt_input_shape) >= 1031
        assert math.prod(layer.tt_output_shape) == 16
        y = layer(np.array([1030, 0]))
        np.testing.assert_allclose(
            to_numpy(y), _table(layer)[[1030, 0]], rtol=1e-5, atol=1e-7
        )
        assert tuple(to_numpy(layer.to_dense()).shape) == (1031, 16)
        two = TTEmbedding(1031, 16, tt_ranks=4, tt_d=2)
        assert len(two.tt_input_shape) == 2

    @pytest.mark.parametrize(
        "bad_id", [VOCAB, VOCAB + 3, 7 * 8 * 9, -VOCAB - 1]
    )
    def test_out_of_range_ids_behave_as_keras_embedding(self, bad_id):
        # VOCAB..503 are padding rows of the TT table: still out of range.
        layer = TTEmbedding(VOCAB, DIM, INS, OUTS, RANKS)
        ref = _keras_embedding(layer)
        ids = np.array([1, bad_id])
        try:
            expected = to_numpy(ref(ids))
        except Exception as e:  # the backend's own out-of-range error
            with pytest.raises(type(e)):
                to_numpy(layer(ids))
            return
        got = to_numpy(layer(ids))
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-6)
        assert np.isnan(expected[1]).all() and np.isnan(got[1]).all()

    def test_mask_zero(self):
        layer = TTEmbedding(VOCAB, DIM, INS, OUTS, RANKS, mask_zero=True)
        ref = _keras_embedding(layer, mask_zero=True)
        ids = np.array([[3, 9, 0, 0], [4, 0, 0, 0]])
        np.testing.assert_array_equal(
            to_numpy(layer.compute_mask(ids)), to_numpy(ref.compute_mask(ids))
        )
        assert (
            TTEmbedding(VOCAB, DIM, INS, OUTS, RANKS).compute_mask(ids) is None
        )
        # The mask reaches a GRU: padded steps are skipped as with Keras'.
        gru = keras.layers.GRU(5)
        inputs = keras.Input((4,), dtype="int32")
        tt_model = keras.Model(inputs, gru(layer(inputs)))
        ref_model = keras.Model(inputs, gru(ref(inputs)))
        np.testing.assert_allclose(
            to_numpy(tt_model(ids)), to_numpy(ref_model(ids)), atol=1e-5
        )
        short = np.array([[3, 9], [4, 0]])
        np.testing.assert_allclose(
            to_numpy(tt_model(ids))[0],
            to_numpy(gru(ref(short[:1, :2]))[0]),
            atol=1e-5,
        )

    def test_lookup_never_builds_the_table(self):
        # 2e9 x 16 float32 would be 128 GB: only the looked-up rows exist.
        big = 2_000_000_000
        layer = TTEmbedding(big, 16, tt_ranks=4)
        ids = np.array([[0, big - 1, 123_456_789]], dtype="int32")
        model = keras.Sequential(
            [keras.Input((3,), dtype="int32"), layer, keras.layers.Dense(1)]
        )
        model.compile("adam", "mse")
        model.train_on_batch(ids, np.ones((1, 3, 1), "float32"))
        cores = [to_numpy(c) for c in layer.cores]
        digits = [
            to_numpy(x).astype(int)
            for x in tt.row_digits(np.array([big - 1]), layer.tt_input_shape)
        ]
        row = cores[0][:, digits[0][0]]
        for core, digit in zip(cores[1:], digits[1:]):
            row = np.einsum("...r,rns->...ns", row, core[:, digit[0]])
            row = row.reshape(-1, row.shape[-1])
        np.testing.assert_allclose(
            to_numpy(layer(ids[:, 1:2]))[0, 0],
            row.ravel(),
            rtol=1e-4,
            atol=1e-6,
        )

    def test_gradients_reach_only_the_looked_up_slices(self):
        layer = TTEmbedding(VOCAB, DIM, INS, OUTS, RANKS)
        model = keras.Sequential(
            [keras.Input((4,), dtype="int32"), layer, keras.layers.Flatten()]
        )
        model.compile(keras.optimizers.SGD(0.5), "mse")
        # Digits used: mode 0 {1, 2}, mode 1 {0, 3}, mode 2 {5}.
        used = [{1, 2}, {0, 3}, {5}]
        ids = np.array([[i * 72 + j * 9 + 5 for i in (1, 2) for j in (0, 3)]])
        before = [to_numpy(c) for c in layer.cores]
        model.train_on_batch(ids, np.ones((1, 4 * DIM), "float32"))
        for k, (b, c) in enumerate(zip(before, layer.cores)):
            moved = np.abs(to_numpy(c) - b).max(axis=(0, 2, 3)) > 0
            assert set(np.flatnonzero(moved)) == used[k], k

    def test_round_keeps_the_table_and_the_lookups(self):
        big = TTEmbedding(VOCAB, DIM, INS, OUTS, 3, mask_zero=True, name="e")
        big.build()
        # Exact rounding: rank 2 at the first cut is all it can use.
        exact = big.round()
        np.testing.assert_allclose(
            _table(exact), _table(big), rtol=1e-5, atol=1e-6
        )
        small = big.round(max_rank=1, name="small")
        assert small.tt_ranks == (1, 1, 1, 1) and small.name == "small"
        assert small.mask_zero and small.input_dim == VOCAB
        ids = np.array([[1, 2, 499]])
        np.testing.assert_allclose(
            to_numpy(small(ids)), _table(small)[ids], rtol=1e-5, atol=1e-7
        )
        # The best rank-1 table is no worse than keeping one core slice.
        error = np.linalg.norm(_table(small) - _table(big))
        assert error < np.linalg.norm(_table(big))

    def test_config_round_trip(self):
        layer = TTEmbedding(
            VOCAB,
            DIM,
            tt_ranks="auto",
            tt_compression=20,
            mask_zero=True,
            embeddings_regularizer="l2",
            name="emb",
        )
        config = layer.get_config()
        assert config["input_dim"] == VOCAB and config["output_dim"] == DIM
        assert config["tt_ranks"] == "auto"
        assert config["tt_compression"] == 20
        layer.build()
        assert layer.get_config() == config
        clone = TTEmbedding.from_config(config)
        assert clone.get_config() == config
        assert clone.tt_input_shape == layer.tt_input_shape
        assert clone.mask_zero

    def test_auto_ranks_meet_the_compression_of_the_real_table(self):
        layer = TTEmbedding(100_000, 256, tt_ranks="auto", tt_compression=100)
        layer.build()
        assert 100_000 * 256 / layer.count_params() >= 100
        assert max(layer.tt_ranks) > 1

    def test_regularizer_and_constraint_apply_to_every_core(self):
        layer = TTEmbedding(
            VOCAB,
            DIM,
            INS,
            OUTS,
            RANKS,
            embeddings_regularizer=keras.regularizers.L2(0.5),
            embeddings_constraint="non_neg",
        )
        layer.build()
        expected = sum(0.5 * np.sum(to_numpy(c) ** 2) for c in layer.cores)
        assert len(layer.losses) == 3
        np.testing.assert_allclose(
            sum(float(to_numpy(v)) for v in layer.losses), expected, rtol=1e-5
        )
        assert all(
            c.constraint is layer.embeddings_constraint for c in layer.cores
        )

    @pytest.mark.parametrize(
        "policy", ["bfloat16", "mixed_bfloat16", "mixed_float16"]
    )
    def test_dtype_policies(self, policy):
        layer = TTEmbedding(VOCAB, DIM, INS, OUTS, RANKS, dtype=policy)
        ids = np.array([[0, 7, 499]])
        y = layer(ids)
        policy_obj = keras.dtype_policies.get(policy)
        assert (
            keras.backend.standardize_dtype(y.dtype) == policy_obj.compute_dtype
        )
        assert (
            keras.backend.standardize_dtype(layer.cores[0].dtype)
            == policy_obj.variable_dtype
        )
        expected = _table(layer)[ids]
        np.testing.assert_allclose(
            to_numpy(y), expected, rtol=0.05, atol=0.05 * np.abs(expected).max()
        )

    def test_initializer_aims_at_the_table_variance(self):
        layer = TTEmbedding(100_000, 64, tt_ranks=8)
        ids = np.arange(0, 100_000, 7)
        std = np.std(to_numpy(layer(ids)))
        # Keras' "uniform" is U(-0.05, 0.05): std 0.0289.
        assert 0.5 * 0.0289 < std < 2 * 0.0289

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"input_dim": 0}, "input_dim"),
            ({"output_dim": 2.5}, "output_dim"),
            ({"tt_input_shape": (7, 8, 8)}, "at least `input_dim`"),
            ({"tt_output_shape": (2, 3, 3)}, "tt_output_shape"),
            ({"tt_ranks": (1, 3, 1)}, "tt_ranks"),
            ({"tt_ranks": 0}, "rank"),
            ({"tt_ranks": None}, "tt_ranks"),
            ({"embeddings_initializer": "zeros"}, "embeddings_initializer"),
        ],
    )
    def test_invalid_arguments(self, kwargs, match):
        args = dict(
            input_dim=VOCAB,
            output_dim=DIM,
            tt_input_shape=INS,
            tt_output_shape=OUTS,
            tt_ranks=RANKS,
        )
        args.update(kwargs)
        with pytest.raises(ValueError, match=match):
            TTEmbedding(**args)

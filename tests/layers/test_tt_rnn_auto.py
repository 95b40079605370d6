"""TT-RNNs with automatic shapes (`units=`), budget ranks, `round()`, and
the separate layout's initial variance."""

import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import to_numpy
from tests.layers import _tt_rnn_helpers as h
from ttrnn import TTGRU
from ttrnn import TTLSTM
from ttrnn import TTGRUCell
from ttrnn import TTLSTMCell
from ttrnn import TTSimpleRNN
from ttrnn import tt
from ttrnn.testing import run_layer_test


def _cores(layer):
    return [to_numpy(c) for c in layer.cores]


def _gates(layer):
    """The cores of each TT-matrix of the input map (1 or G groups)."""
    cores, d = _cores(layer), len(layer.tt_input_shape)
    return [cores[k : k + d] for k in range(0, len(cores), d)]


def _built(layer, features=h.FEATURES, batch=None):
    layer.build((batch, None, features))
    return layer


def _layer(cls, layout, ranks=2, **kwargs):
    return _built(
        cls(
            h.INS,
            h.OUTS,
            ranks,
            tt_gate_layout=layout,
            bias_initializer="random_normal",
            **kwargs,
        )
    )


def _map_modes(outs, gates):
    return (gates * outs[0],) + tuple(outs[1:])


class TestTTRNNAutoShapes:
    @pytest.mark.parametrize(
        "tt_cls, keras_cls, layout",
        [
            (TTSimpleRNN, keras.layers.SimpleRNN, "shared"),
            (TTGRU, keras.layers.GRU, "separate"),
            (TTLSTM, keras.layers.LSTM, "shared"),
        ],
    )
    def test_units_only_matches_keras_twin(self, tt_cls, keras_cls, layout):
        layer = tt_cls(
            units=h.UNITS,
            tt_ranks=2,
            tt_d=2,
            tt_gate_layout=layout,
            bias_initializer="random_normal",
            return_sequences=True,
        )
        assert layer.units == h.UNITS and layer.input_dim is None
        assert layer.cell.tt_core_shapes is None  # modes wait for build
        x = h.sequences()
        y = layer(x)
        ins, outs = tt.auto_shapes(h.FEATURES, h.UNITS, 2)
        assert (layer.tt_input_shape, layer.tt_output_shape) == (ins, outs)
        assert [c.shape for c in _cores(layer)] == layer.cell.tt_core_shapes
        twin = h.keras_twin(keras_cls, layer, return_sequences=True)
        h.assert_same(y, twin(x))

    def test_units_with_input_modes(self):
        layer = TTGRU((3, 4), units=6, tt_ranks=2)
        assert layer.tt_output_shape == (3, 2)  # big meets small
        assert [tuple(s) for s in layer.cell.tt_core_shapes] == [
            (1, 3, 9, 2),  # 3 gates * 3
            (2, 4, 2, 1),
        ]

    def test_output_modes_with_input_derived_in_build(self):
        layer = _built(TTLSTM(tt_output_shape=(2, 3), tt_ranks=2))
        assert layer.tt_input_shape == (4, 3)  # 4 meets 2
        assert layer.units == 6 and layer.input_dim == 12

    def test_cell_alone_in_keras_rnn(self):
        cell = TTGRUCell(units=6, tt_ranks=2, tt_d=2)
        rnn = keras.layers.RNN(cell)
        assert tuple(rnn(h.sequences()).shape) == (3, 6)
        assert cell.tt_input_shape == tt.auto_shapes(12, 6, 2)[0]

    def test_prime_input_dim_suggests_padding(self):
        layer = TTGRU(units=64, tt_ranks=2, tt_d=3)
        with pytest.raises(
            ValueError, match=r"`input_dim`=1031.*Zero-pad to 1040 = 8 x 10"
        ):
            _built(layer, features=1031)

    def test_unknown_input_dim(self):
        with pytest.raises(ValueError, match=r"known last input dimension"):
            _built(TTSimpleRNN(units=6, tt_ranks=2), features=None)


class TestTTRNNBudgetRanks:
    def test_shared_budget_counts_the_gate_expanded_map(self):
        layer = _built(
            TTGRU(units=64, tt_ranks="auto", tt_max_params=2000), features=120
        )
        ins, outs = layer.tt_input_shape, layer.tt_output_shape
        assert (ins, outs) == tt.auto_shapes(120, 64)
        expected = tt.ranks_for_budget(ins, _map_modes(outs, 3), 2000)
        assert layer.tt_ranks == expected
        assert 1900 < sum(c.size for c in _cores(layer)) <= 2000

    def test_separate_budget_is_shared_by_the_gates(self):
        layer = _built(
            TTLSTM(
                units=64,
                tt_ranks="auto",
                tt_compression=50,
                tt_gate_layout="separate",
            ),
            features=120,
        )
        budget = 120 * 4 * 64 // 50  # of the dense (M, 4 units) kernel
        ins, outs = layer.tt_input_shape, layer.tt_output_shape
        expected = tt.ranks_for_budget(ins, outs, max_params=budget // 4)
        assert layer.tt_ranks == expected
        total = sum(c.size for c in _cores(layer))
        assert 0.9 * budget < total <= budget

    def test_budget_below_rank_one(self):
        layer = TTGRU(
            units=6,
            tt_ranks="auto",
            tt_max_params=10,
            tt_gate_layout="separate",
        )
        with pytest.raises(
            ValueError,
            match=r"smallest TT input map \(rank 1\).*separate layout, 3 "
            r"gates\) has \d+ weights.*Received: tt_max_params=10, "
            r"tt_compression=None",
        ):
            _built(layer)


class TestTTRNNAutoArguments:
    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"tt_ranks": 2}, r"Give `units` or `tt_output_shape`"),
            (
                {"tt_output_shape": (2, 3), "units": 7, "tt_ranks": 2},
                r"`units` must equal the product.*units=7.*\(product 6\)",
            ),
            ({"units": 6}, r"`tt_ranks` is required"),
            (
                {"units": 6, "tt_ranks": 2, "tt_compression": 4},
                r'need tt_ranks="auto". Received: tt_ranks=2',
            ),
            (
                {"units": 6, "tt_ranks": "auto"},
                r"exactly one of `tt_max_params` and `tt_compression`",
            ),
            (
                {
                    "tt_input_shape": (3, 4),
                    "units": 6,
                    "tt_ranks": 2,
                    "tt_d": 3,
                },
                r"`tt_d` must equal the number of given modes",
            ),
            (
                {"units": 6, "tt_ranks": 2.5},
                r"`tt_ranks` must be an int.*Received: tt_ranks=2.5",
            ),
            (
                {"tt_input_shape": (3, 4), "units": 6, "tt_ranks": 2.5},
                r"`tt_ranks` must be an int.*Received: tt_ranks=2.5",
            ),
            (
                {"units": 6, "tt_ranks": False},
                r"`tt_ranks` must be an int.*Received: tt_ranks=False",
            ),
            (
                {"units": 6, "tt_ranks": [1, "2", 1]},
                r"`tt_ranks` must contain only integers",
            ),
        ],
    )
    def test_invalid_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            TTGRU(**kwargs)
        with pytest.raises(ValueError, match=match):
            TTLSTMCell(**kwargs)

    @pytest.mark.parametrize("layout", ["shared", "separate"])
    def test_too_large_ranks_clip_every_cut(self, layout):
        # Shared: the map (4, 8, 8, 4) -> (12, 4, 4, 4) allows at most
        # 48, 512 and 16 at cuts 1, 2, 3; separate: each gate's
        # (4, 8, 8, 4) -> (4, 4, 4, 4) allows 16, 512, 16.
        ins, outs = (4, 8, 8, 4), (4, 4, 4, 4)
        map_outs = (12, 4, 4, 4) if layout == "shared" else outs
        expected = {
            "shared": (1, 48, 512, 16, 1),
            "separate": (1, 16, 512, 16, 1),
        }
        with pytest.warns(UserWarning, match=r"using tt_ranks=") as record:
            layer = TTGRU(ins, outs, 1000, tt_gate_layout=layout)
        assert layer.tt_ranks == expected[layout]
        assert "compresses nothing" in str(record[0].message)
        layer.build((None, None, 1024))
        gates = 1 if layout == "shared" else 3
        cores = sum(int(np.prod(c.shape)) for c in layer.cell.cores)
        assert cores == gates * tt.num_params(ins, map_outs, layer.tt_ranks)

    def test_clipped_ranks_below_dense_size(self):
        ins, outs = (4, 8, 8, 4), (4, 4, 4, 4)
        with pytest.warns(
            UserWarning, match=r"largest useful rank 48 at cut 1"
        ):
            layer = TTGRU(ins, outs, (1, 1000, 2, 1000, 1))
        assert layer.tt_ranks == (1, 48, 2, 16, 1)
        layer.build((None, None, 1024))
        cores = sum(int(np.prod(c.shape)) for c in layer.cell.cores)
        assert cores == tt.num_params(ins, (12, 4, 4, 4), layer.tt_ranks)
        assert cores == 6656 <= 1024 * 3 * 256

    def test_config_round_trip_before_build(self):
        kwargs = {"units": 6, "tt_ranks": "auto", "tt_max_params": 200,
                  "tt_d": 2, "tt_gate_layout": "separate"}  # fmt: skip
        config = TTLSTM(**kwargs).get_config()
        assert config["tt_input_shape"] is None
        assert config["tt_ranks"] == "auto" and config["tt_d"] == 2
        assert config["tt_max_params"] == 200 and config["units"] == 6
        run_layer_test(TTLSTM, kwargs)  # config only
        run_layer_test(TTLSTMCell, kwargs)

    def test_config_unchanged_by_build(self):
        layer = TTGRU(units=6, tt_ranks="auto", tt_compression=2)
        config, cell_config = layer.get_config(), layer.cell.get_config()
        _built(layer)
        assert layer.get_config() == config
        assert layer.cell.get_config() == cell_config
        assert config["tt_input_shape"] is None
        assert config["tt_compression"] == 2
        # The resolved modes and ranks travel in the build config.
        resolved = layer.get_build_config()["tt_spec"]
        assert resolved["tt_input_shape"] == list(layer.tt_input_shape)
        assert resolved["tt_output_shape"] == list(layer.tt_output_shape)
        assert resolved["tt_ranks"] == list(layer.tt_ranks)
        assert resolved["tt_compression"] is None and resolved["tt_d"] is None
        again = h.config_round_trip(layer)
        again.build_from_config(layer.get_build_config())
        assert again.tt_ranks == layer.tt_ranks

    def test_layer(self):
        run_layer_test(
            TTGRU,
            {"units": 6, "tt_ranks": "auto", "tt_compression": 2, "tt_d": 2},
            input_shape=(3, 5, h.FEATURES),
            expected_output_shape=(3, 6),
            expected_num_trainable_weights=4,
            run_training_check=False,
            run_mixed_precision_check=False,
        )


def _inflate(small, big_rank, rng):
    """Two cores of rank r as cores of rank big_rank with the same W."""
    a = rng.standard_normal((small[0].shape[3], big_rank))
    return [
        np.einsum("imnr,rs->imns", small[0], a),
        np.einsum("sr,rmnj->smnj", np.linalg.pinv(a), small[1]),
    ]


class TestTTRNNRound:
    @pytest.mark.parametrize(
        "cls, layout",
        [(TTSimpleRNN, "shared"), (TTGRU, "separate"), (TTLSTM, "shared")],
    )
    def test_round_without_truncation_keeps_outputs(self, cls, layout):
        layer = _layer(cls, layout, return_sequences=True)
        rounded = layer.round(max_rank=8)
        assert type(rounded) is cls and rounded.built
        assert rounded.tt_ranks == layer.tt_ranks
        assert rounded.name != layer.name
        x = h.sequences()
        h.assert_same(rounded(x), layer(x))
        np.testing.assert_array_equal(
            to_numpy(rounded.recurrent_kernel), to_numpy(layer.recurrent_kernel)
        )
        np.testing.assert_array_equal(
            to_numpy(rounded.bias), to_numpy(layer.bias)
        )
        config, again = layer.get_config(), rounded.get_config()
        del config["name"], again["name"]
        # The same arguments but the modes and ranks, given resolved.
        config.update(layer.tt_resolved_spec.to_config())
        assert again == config

    def test_redundant_ranks_go_per_gate(self):
        layer = _layer(TTGRU, "separate", ranks=5, reset_after=False)
        rng = np.random.default_rng(3)
        # Gates z, r, h hold rank-2, rank-1 and rank-2 matrices at rank 5.
        cores = []
        for small_rank in (2, 1, 2):
            small = [
                rng.standard_normal((1, 3, 2, small_rank)),
                rng.standard_normal((small_rank, 4, 3, 1)),
            ]
            cores += _inflate(small, 5, rng)
        for v, c in zip(layer.cores, cores):
            v.assign(c.astype("float32"))
        w = h.dense_kernel(layer)
        rounded = layer.round(name="small")
        assert rounded.tt_ranks == (1, 2, 1) and rounded.name == "small"
        assert not rounded.reset_after
        np.testing.assert_allclose(
            h.dense_kernel(rounded), w, rtol=1e-4, atol=1e-4
        )
        assert rounded.count_params() < layer.count_params()
        x = h.sequences()
        h.assert_same(rounded(x), layer(x), rtol=1e-4, atol=1e-4)

    @pytest.mark.parametrize(
        "cls, layout", [(TTLSTM, "shared"), (TTGRU, "separate")]
    )
    def test_truncation_bound_against_float64_reference(self, cls, layout):
        layer = _layer(cls, layout, ranks=6)
        w = h.dense_kernel(layer)
        gates = [dense_from_cores(g) for g in _gates(layer)]
        rounded = layer.round(eps=0.3)
        assert rounded.tt_ranks[1] < 6
        w_r = h.dense_kernel(rounded)
        norm = np.linalg.norm
        assert norm(w_r - w) <= 0.3 * norm(w) * (1 + 1e-5)
        for g, g_r in zip(gates, _gates(rounded)):
            error = norm(dense_from_cores(g_r) - g)
            assert error <= 0.3 * norm(g) * (1 + 1e-5)
        capped = layer.round(max_rank=2)
        assert capped.tt_ranks == (1, 2, 1)
        assert capped.count_params() < rounded.count_params()
        np.testing.assert_array_equal(h.dense_kernel(layer), w)  # unchanged

    def test_round_then_fine_tune(self):
        rounded = _layer(TTGRU, "shared", ranks=4).round(max_rank=1)
        model = keras.Sequential([keras.Input((5, 12)), rounded])
        model.compile(keras.optimizers.SGD(0.1), "mse")
        before = _cores(rounded)
        model.fit(h.sequences(), np.ones((3, 6), "float32"), verbose=0)
        assert any(
            np.abs(b - a).max() > 0 for b, a in zip(before, _cores(rounded))
        )

    def test_round_stateful_keeps_dtype_policy(self):
        layer = _built(
            TTLSTM(h.INS, h.OUTS, 3, stateful=True, dtype="mixed_bfloat16"),
            batch=3,
        )
        rounded = layer.round(max_rank=1)
        assert rounded.stateful and rounded.tt_ranks == (1, 1, 1)
        assert rounded.dtype_policy.name == "mixed_bfloat16"
        assert keras.backend.standardize_dtype(rounded.cores[0].dtype) == (
            "float32"
        )
        assert tuple(rounded(h.sequences()).shape) == (3, 6)

    def test_round_needs_build(self):
        with pytest.raises(ValueError, match=r"must be built.*round"):
            TTGRU(h.INS, h.OUTS, 2).round()


class _FixedSeeds(tt.TTInitializer):
    """Seeded Keras initialisers, but no seed in its config."""

    def core_initializers(self, tt_input_shape, tt_output_shape, tt_ranks):
        return [
            keras.initializers.RandomNormal(stddev=0.3, seed=7 + k)
            for k in range(len(tt_input_shape))
        ]


class _Cached(tt.TTInitializer):
    """The same unseeded Keras initialisers on every call."""

    def __init__(self):
        self._inits = None

    def core_initializers(self, tt_input_shape, tt_output_shape, tt_ranks):
        if self._inits is None:
            self._inits = [
                keras.initializers.RandomNormal(stddev=0.3)
                for _ in tt_input_shape
            ]
        return self._inits


class TestSeparateLayoutInitialisation:
    @pytest.mark.parametrize("cell_cls", [TTGRUCell, TTLSTMCell])
    @pytest.mark.parametrize("init", ["glorot_uniform", "orthogonal"])
    def test_each_gate_has_the_full_kernel_variance(self, cell_cls, init):
        # Keras' GRU / LSTM initialise the whole (M, G units) kernel.
        m, units, gates = 64, 64, cell_cls.num_gates
        target = {
            "glorot_uniform": 2.0 / (m + gates * units),
            "orthogonal": 1.0 / max(m, gates * units),
        }[init]
        cell = cell_cls(
            (8, 8),
            (8, 8),
            8,
            kernel_initializer=init,
            tt_gate_layout="separate",
        )
        cell.build((None, m))
        stds = np.array([dense_from_cores(g).std() for g in _gates(cell)])
        # One gate's own target would be 1.6 (Glorot) or 2 (LSTM
        # orthogonal) times larger in std.
        np.testing.assert_allclose(stds, np.sqrt(target), rtol=0.15)
        np.testing.assert_allclose(stds.mean(), np.sqrt(target), rtol=0.07)

    @pytest.mark.parametrize("init_cls", [_FixedSeeds, _Cached])
    def test_custom_initializer_without_seed_gives_distinct_gates(
        self, init_cls
    ):
        cell = TTLSTMCell(
            h.INS,
            h.OUTS,
            2,
            kernel_initializer=init_cls(),
            tt_gate_layout="separate",
        )
        cell.build((None, h.FEATURES))
        gates = _gates(cell)
        for a in range(len(gates)):
            for b in range(a):
                # Core 1 is drawn whole: equal seeds would repeat it.
                assert not np.allclose(gates[a][1], gates[b][1])

    def test_seeded_initializer_is_reproducible(self):
        def build():
            cell = TTGRUCell(
                h.INS,
                h.OUTS,
                2,
                kernel_initializer=keras.initializers.GlorotNormal(seed=5),
                tt_gate_layout="separate",
            )
            cell.build((None, h.FEATURES))
            return _cores(cell)

        first, second = build(), build()
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a, b)
        assert not np.allclose(first[1], first[3])

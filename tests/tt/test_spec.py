import math

import pytest

from ttrnn import tt
from ttrnn.tt import TTMatrixSpec


def _weights(spec):
    return sum(math.prod(s) for s in spec.core_shapes)


def _bumped(ranks):
    """Every ranks tuple with one inner rank raised by one."""
    for k in range(1, len(ranks) - 1):
        yield ranks[:k] + (ranks[k] + 1,) + ranks[k + 1 :]


class TestChecks:
    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"units": 8}, r"`tt_ranks` is required: .* d \+ 1 ints"),
            (
                {"units": 8, "spatial_mode": 9},
                r"`tt_ranks` is required: .* d \+ 2 ints",
            ),
            ({"tt_ranks": 2}, r"Give `units` or `tt_output_shape`"),
            (
                {"tt_ranks": 2, "units_name": "filters"},
                r"Give `filters` or `tt_output_shape`. Received: filters=None",
            ),
            (
                {"tt_output_shape": (2, 4), "units": 9, "tt_ranks": 2},
                r"`units` must equal the product .* \(product 8\)",
            ),
            (
                {"tt_output_shape": (2, 4), "tt_d": 3, "tt_ranks": 2},
                r"`tt_d` must equal the number of given modes",
            ),
            (
                {"units": 8, "tt_ranks": "big"},
                r'must be an int, a list .*"auto"',
            ),
            ({"units": 8, "tt_ranks": "auto"}, r"needs exactly one of"),
            (
                {"units": 8, "tt_ranks": 2, "tt_compression": 3},
                r'need tt_ranks="auto"',
            ),
            (
                {"units": 8, "tt_ranks": "auto", "tt_compression": 0},
                r"`tt_compression` must be > 0",
            ),
            ({"units": 8, "tt_ranks": 2.5}, r"Received: tt_ranks=2.5"),
            (
                {
                    "tt_input_shape": (7, 8),
                    "units": 4,
                    "tt_ranks": 2,
                    "rows": 57,
                },
                r"at least `input_dim`.*input_dim=57",
            ),
            (
                {"units": 4, "tt_ranks": 2, "gate_layout": "twin"},
                r"`tt_gate_layout` must be one of",
            ),
        ],
    )
    def test_invalid(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            TTMatrixSpec(**kwargs)

    def test_normalised_and_frozen(self):
        spec = TTMatrixSpec([4, 8], [2, 4], [1, 3.0, 1])
        assert spec.tt_input_shape == (4, 8) and spec.tt_ranks == (1, 3, 1)
        with pytest.raises(AttributeError):
            spec.tt_ranks = 2

    def test_config_round_trip_keeps_the_arguments(self):
        spec = TTMatrixSpec(
            units=64, tt_ranks="auto", tt_max_params=500, units_name="filters"
        )
        config = spec.to_config()
        assert config == {
            "tt_input_shape": None,
            "tt_output_shape": None,
            "tt_ranks": "auto",
            "filters": 64,
            "tt_d": None,
            "tt_max_params": 500,
            "tt_compression": None,
        }
        assert TTMatrixSpec.from_config(config, **spec.context) == spec


class TestResolve:
    def test_modes_from_the_input_dim(self):
        spec = TTMatrixSpec(units=1024, tt_ranks=3)
        assert spec.needs_input_dim and not spec.resolved
        resolved = spec.resolve(1024)
        ins, outs = tt.auto_shapes(1024, 1024)
        assert (resolved.tt_input_shape, resolved.tt_output_shape) == (
            ins,
            outs,
        )
        assert resolved.tt_ranks == (1, 3, 3, 3, 1) and resolved.resolved
        assert resolved.units == 1024 and resolved.tt_d is None
        assert resolved.resolve() == resolved  # once is enough

    def test_input_modes_paired_with_given_output_modes(self):
        resolved = TTMatrixSpec(None, (2, 8, 4), 2).resolve(105)
        # The largest input mode meets the smallest output mode.
        assert resolved.tt_input_shape == (7, 3, 5)

    @pytest.mark.parametrize("layout", ["shared", "separate"])
    def test_budget_counts_the_whole_gate_map(self, layout):
        spec = TTMatrixSpec(
            (4, 6),
            (3, 4),
            "auto",
            tt_max_params=400,
            gates=3,
            gate_layout=layout,
        )
        resolved = spec.resolve()
        assert _weights(resolved) <= 400
        # The largest: no single rank can grow within the budget.
        bounds = tt.max_ranks(*resolved.matrix_shape)
        for ranks in _bumped(resolved.tt_ranks):
            if all(r <= b for r, b in zip(ranks, bounds)):
                bigger = resolved.replace(tt_ranks=ranks)
                assert _weights(bigger) > 400
        if layout == "shared":
            assert resolved.matrix_shape == ((4, 6), (9, 4))
            assert resolved.num_matrices == 1
        else:
            assert resolved.matrix_shape == ((4, 6), (3, 4))
            assert len(resolved.core_shapes) == 6

    def test_smallest_map_above_the_budget(self):
        spec = TTMatrixSpec((4, 6), (3, 4), "auto", tt_max_params=50, gates=4)
        with pytest.raises(
            ValueError, match=r"smallest TT input map .*4 gates"
        ):
            spec.resolve()

    def test_spatial_mode_adds_a_core_and_a_rank(self):
        resolved = TTMatrixSpec((2, 3), (3, 2), 2, spatial_mode=9).resolve()
        assert resolved.matrix_shape == ((2, 3, 9), (3, 2, 1))
        assert resolved.tt_ranks == (1, 2, 2, 1)
        with pytest.raises(ValueError, match=r"d \+ 2 = 4 entries"):
            TTMatrixSpec((2, 3), (3, 2), (1, 2, 1), spatial_mode=9).resolve()

    def test_lookup_rows_pad_the_vocabulary_and_count_compression(self):
        spec = TTMatrixSpec(
            units=16, tt_ranks="auto", tt_compression=4, rows=1031
        )
        assert not spec.needs_input_dim
        resolved = spec.resolve()
        assert len(resolved.tt_input_shape) == 3  # the lookup default
        assert math.prod(resolved.tt_input_shape) >= 1031
        # Against the 1031 real rows, not the padded table.
        assert _weights(resolved) <= 1031 * 16 // 4

import math
import warnings

import pytest

from ttrnn import tt


class TestValidateModes:
    def test_normalises_to_int_tuples(self):
        assert tt.validate_modes([4, 8], (2, 3)) == ((4, 8), (2, 3))

    @pytest.mark.parametrize(
        "ins, outs, match",
        [
            ((4, 0), (2, 3), r"tt_input_shape.*>= 1"),
            ((4, 8), (2, -3), r"tt_output_shape.*>= 1"),
            ((4, 8), (2, 3, 4), r"same number of modes"),
            ((), (), r"at least one mode"),
            ((4, 2.5), (2, 3), r"only integers"),
            ("48", (2, 3), r"tt_input_shape"),
        ],
    )
    def test_errors_name_the_argument(self, ins, outs, match):
        with pytest.raises(ValueError, match=match):
            tt.validate_modes(ins, outs)


class TestValidateRanks:
    def test_int_expands_to_inner_ranks(self):
        assert tt.validate_ranks(3, (4, 8, 8, 4), (4, 8, 8, 4)) == (
            1,
            3,
            3,
            3,
            1,
        )

    @pytest.mark.parametrize(
        "ranks, match",
        [
            ((1, 3, 1), r"d \+ 1 = 4 entries"),
            ((1, 0, 2, 1), r">= 1"),
            ((2, 3, 3, 1), r"first and last"),
            (0, r">= 1"),
            (True, r"int or a list"),
        ],
    )
    def test_errors_name_tt_ranks(self, ranks, match):
        with pytest.raises(ValueError, match=match):
            tt.validate_ranks(ranks, (4, 8, 8), (2, 2, 2))

    def test_clips_too_large_ranks_with_warning(self):
        # Cut 1 of [2, 3] -> [2, 3]: min(2*2, 3*3) = 4.
        with pytest.warns(UserWarning, match=r"tt_ranks\[1\]=10.*rank 4"):
            ranks = tt.validate_ranks(10, (2, 3), (2, 3))
        assert ranks == (1, 4, 1)

    def test_no_warning_at_bound(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert tt.validate_ranks(4, (2, 3), (2, 3)) == (1, 4, 1)


class TestCounts:
    def test_max_ranks_definition(self):
        ins, outs = (2, 3, 4), (5, 1, 2)
        sizes = [10, 3, 8]
        expected = tuple(
            min(math.prod(sizes[:k]), math.prod(sizes[k:])) for k in range(4)
        )
        assert tt.max_ranks(ins, outs) == expected

    def test_num_params_mnist_reference(self):
        # REFERENCE: MNIST first layer [4,8,8,4] -> [4,8,8,4] rank 3 = 1,248.
        assert tt.num_params((4, 8, 8, 4), (4, 8, 8, 4), 3) == 1248

    @pytest.mark.parametrize(
        "ins, outs, ranks, expected",
        [
            # NIPS 2003 first layers of the 2017 experiments (REFERENCE §4).
            ((10, 10, 10, 10), (5, 5, 5, 5), 10, 11000),
            ((5, 10, 10, 10), (3, 3, 3, 3), 5, 1725),
            ((4, 10, 10, 10, 5), (3, 3, 3, 3, 3), 10, 9270),
            ((10, 20, 50, 10), (5, 5, 5, 5), (1, 10, 10, 5, 1), 23250),
            ((8, 8, 8, 6), (10, 10, 10, 10), 2, 920),
        ],
    )
    def test_num_params_paper_layers(self, ins, outs, ranks, expected):
        assert tt.num_params(ins, outs, ranks) == expected

    def test_flops_references(self):
        # REFERENCE §1: 1.93 M (rtl) vs 44.2 M dense for UCF11's
        # 57600 -> 768 TT-GRU map; 0.17 M for MNIST 1024 -> 1024 rank 3.
        ucf = tt.flops((8, 20, 20, 18), (12, 4, 4, 4), 4, 1, "rtl")
        assert ucf == 1_929_216
        assert tt.flops((4, 8, 8, 4), (4, 8, 8, 4), 3, 1, "ltr") == 172_032

    def test_flops_by_brute_force_count(self):
        # Independent count: ltr step k multiplies a (B N_<k M_>k, r m)
        # block by an (r m, n r') matrix.
        ins, outs, ranks, b = (3, 4, 5), (2, 6, 7), (1, 2, 3, 1), 5
        total = 0
        for k in range(3):
            rows = b * math.prod(outs[:k]) * math.prod(ins[k + 1 :])
            total += rows * ranks[k] * ins[k] * outs[k] * ranks[k + 1]
        assert tt.flops(ins, outs, ranks, b, "ltr") == total
        dense = tt.flops(ins, outs, ranks, b, "dense")
        assert dense > b * 60 * 84
        assert tt.flops(ins, outs, ranks, b, "best") == min(
            total, dense, tt.flops(ins, outs, ranks, b, "rtl")
        )

    def test_flops_bad_strategy(self):
        with pytest.raises(ValueError, match="order"):
            tt.flops((2, 2), (2, 2), 2, 1, "sideways")

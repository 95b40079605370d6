import math
import warnings

import numpy as np
import pytest

from ttrnn import tt
from ttrnn.tt import shapes


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
            (True, r"`tt_ranks` must be an int.*Received: tt_ranks=True"),
            (2.5, r"`tt_ranks` must be an int.*Received: tt_ranks=2.5"),
            ("3", r"`tt_ranks` must be an int.*Received: tt_ranks='3'"),
            ("auto", r"Received: tt_ranks='auto'"),
            (float("nan"), r"`tt_ranks` must be an int"),
            ((1, 2.5, 2, 1), r"only integers.*tt_ranks=\(1, 2.5, 2, 1\)"),
            ((1, "2", 2, 1), r"only integers"),
            ((1, None, 2, 1), r"only integers"),
        ],
    )
    def test_errors_name_tt_ranks(self, ranks, match):
        with pytest.raises(ValueError, match=match):
            tt.validate_ranks(ranks, (4, 8, 8), (2, 2, 2))

    @pytest.mark.parametrize("ranks", [3.0, (1, 3.0, 3, 1)])
    def test_integral_floats_are_ints(self, ranks):
        out = tt.validate_ranks(ranks, (4, 8, 8), (2, 2, 2))
        assert out == (1, 3, 3, 1)
        assert all(type(r) is int for r in out)

    def test_clips_too_large_ranks_with_warning(self):
        # Cut 1 of [2, 3] -> [2, 3]: min(2*2, 3*3) = 4.
        with pytest.warns(
            UserWarning, match=r"tt_ranks=10 exceeds the largest useful rank 4"
        ):
            ranks = tt.validate_ranks(10, (2, 3), (2, 3))
        assert ranks == (1, 4, 1)

    def test_clips_every_cut_and_says_what_ranks_became(self):
        # The case: rank 1000 on a 4-core 1024 x 1024 layer. Cuts
        # 1 and 3 are bounded by 4 * 4 = 16; cut 2 by 1024 (the unfolding
        # is 1024 x 1024), so 1000 is still a useful rank there, and the
        # warning says what that costs.
        ins = outs = (4, 8, 8, 4)
        with pytest.warns(UserWarning) as record:
            ranks = tt.validate_ranks(1000, ins, outs)
        assert ranks == (1, 16, 1000, 16, 1)
        (message,) = [str(w.message) for w in record]
        params = tt.num_params(ins, outs, ranks)
        assert params == 2_048_512
        assert "16 at cut 1 and 16 at cut 3" in message
        assert f"using tt_ranks={ranks}: {params:,} core weights" in message
        assert "2.0x the 1,048,576 weights of the dense" in message
        assert "compresses nothing" in message

    def test_clips_with_neighbouring_ranks(self):
        # Given r_1 = r_3 = 2, cut 2 is useful only up to
        # r_1 m_1 n_1 = 2 * 64 = 128, though max_ranks allows 1024.
        ins = outs = (4, 8, 8, 4)
        with pytest.warns(
            UserWarning,
            match=r"largest useful rank 128 at cut 2 .*using "
            r"tt_ranks=\(1, 2, 128, 2, 1\): 32,832 core weights\.$",
        ):
            ranks = tt.validate_ranks((1, 2, 1000, 2, 1), ins, outs)
        assert ranks == (1, 2, 128, 2, 1)
        params = tt.num_params(ins, outs, ranks)
        assert params == 32_832 <= math.prod(ins) * math.prod(outs)

    def test_clipped_ranks_are_exact(self):
        # Lowering to `useful_ranks` loses nothing: the exact TT-SVD of a
        # random TT-matrix with the requested ranks has just these ranks.
        rng = np.random.default_rng(0)
        ins, outs, asked = (2, 3, 2), (3, 2, 2), (1, 9, 9, 1)
        useful = tt.shapes.useful_ranks(asked, ins, outs)
        assert useful == (1, 6, 4, 1)
        cores = [
            rng.standard_normal(s) for s in tt.core_shapes(ins, outs, asked)
        ]
        full = tt.to_dense([c.astype("float64") for c in cores])
        exact = tt.from_dense(np.asarray(full), ins, outs)
        assert tuple(c.shape[0] for c in exact) + (1,) == useful

    def test_unclipped_ranks_above_dense_size_warn(self):
        with pytest.warns(UserWarning, match=r"compresses nothing"):
            tt.validate_ranks((1, 4, 4, 1), (2, 2, 2), (2, 2, 2))

    def test_no_warning_at_or_below_bound_when_compressing(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert tt.validate_ranks(3, (4, 8, 8, 4), (4, 8, 8, 4)) == (
                1,
                3,
                3,
                3,
                1,
            )
            assert tt.validate_ranks(16, (4, 8, 8, 4), (4, 8, 8, 4))[1] == 16

    def test_no_warning_without_clip(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ranks = tt.validate_ranks(1000, (2, 2), (2, 2), clip=False)
        assert ranks == (1, 1000, 1)


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

    def test_flops_bad_strategy(self):
        with pytest.raises(ValueError, match="`strategy` must be"):
            tt.flops((2, 2), (2, 2), 2, 1, "sideways")
        with pytest.raises(ValueError, match="`strategy` must be"):
            tt.flops((2, 2), (2, 2), 2, 1, "best")


class TestScalarArguments:
    """The layers' scalar argument checks (`tt.shapes`)."""

    def test_accepted_values_become_python_numbers(self):
        assert shapes.check_finite(np.float32(0.5), "s") == 0.5
        assert type(shapes.check_finite(np.int64(-3), "s")) is float
        assert shapes.check_rate(0, "dropout") == 0.0
        assert shapes.check_rate(np.float64(0.25), "dropout") == 0.25
        assert shapes.check_int(4.0, "units") == 4

    @pytest.mark.parametrize(
        "check, value, match",
        [
            (shapes.check_finite, "1", r"`x` must be a number\. Received: x="),
            (shapes.check_finite, None, r"`x` must be a number"),
            (shapes.check_finite, np.bool_(True), r"`x` must be a number"),
            (shapes.check_finite, -math.inf, r"`x` must be finite"),
            (shapes.check_rate, 1.0, r"`x` must be a float in \[0, 1\)"),
            (shapes.check_rate, -0.1, r"`x` must be a float in \[0, 1\)"),
            (shapes.check_rate, "0.5", r"Received: x='0\.5'"),
            (shapes.check_rate, True, r"`x` must be a float in \[0, 1\)"),
            (shapes.check_int, 2.5, r"`x` must be an int >= 1"),
        ],
    )
    def test_rejected_values_name_the_argument(self, check, value, match):
        with pytest.raises(ValueError, match=match):
            check(value, "x")

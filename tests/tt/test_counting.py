"""`tt.num_params` of a core list and `tt.relative_error` against a dense
matrix, checked against NumPy sizes and norms of the einsum-built W."""

import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import random_cores
from ttrnn import tt

INS, OUTS, RANKS = (2, 3, 4), (3, 2, 2), (1, 3, 2, 1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


class TestNumParams:
    def test_core_list_counts_its_weights(self, rng):
        cores = random_cores(rng, INS, OUTS, RANKS)
        expected = sum(core.size for core in cores)  # 18 + 36 + 16
        assert expected == 70
        assert tt.num_params(cores) == expected
        assert tt.num_params(tuple(cores)) == expected
        assert tt.num_params(INS, OUTS, RANKS) == expected

    def test_backend_tensors_and_a_layer_cores(self):
        layer = tt.num_params((4, 8, 8, 4), (4, 8, 8, 4), 3)
        assert layer == 1248  # the 2017 MNIST layer
        tensors = [keras.ops.zeros(s) for s in [(1, 4, 4, 3), (3, 8, 8, 1)]]
        assert tt.num_params(tensors) == 16 * 3 + 3 * 64

    def test_shapes_without_ranks(self):
        with pytest.raises(ValueError, match=r"Argument `tt_ranks` is needed"):
            tt.num_params(INS, OUTS)
        with pytest.raises(
            ValueError, match=r"Argument `tt_output_shape` is needed"
        ):
            tt.num_params(INS)

    def test_cores_with_shapes(self, rng):
        cores = random_cores(rng, INS, OUTS, RANKS)
        with pytest.raises(ValueError, match=r"Give cores alone"):
            tt.num_params(cores, OUTS, RANKS)

    @pytest.mark.parametrize(
        "shapes, match",
        [
            ([(1, 2, 3, 2), (3, 2, 2, 1)], r"ranks chain .*cores\[1\]"),
            ([(1, 2, 3)], r"4-D cores .*cores\[0\]"),
            ([(1, 2, 3, 2), (2, 2, 2, 2)], r"right rank 1"),
        ],
    )
    def test_bad_cores(self, shapes, match):
        with pytest.raises(ValueError, match=match):
            tt.num_params([np.zeros(s) for s in shapes])


class TestRelativeErrorAgainstDense:
    def test_equals_the_norm_of_the_difference(self, rng):
        cores = random_cores(rng, INS, OUTS, RANKS)
        w = dense_from_cores(cores)
        ref = w + 0.1 * rng.standard_normal(w.shape)
        expected = np.linalg.norm(w - ref) / np.linalg.norm(ref)
        assert tt.relative_error(cores, ref) == pytest.approx(expected)
        assert tt.relative_error(cores, w) == pytest.approx(0.0, abs=1e-14)

    def test_a_tensor_reference_and_tt_reference_agree(self, rng):
        cores = random_cores(rng, INS, OUTS, RANKS)
        other = random_cores(rng, INS, OUTS, (1, 2, 2, 1))
        ref = dense_from_cores(other)
        as_tensor = keras.ops.convert_to_tensor(ref.astype("float32"))
        dense = tt.relative_error(cores, ref)
        assert tt.relative_error(cores, other) == pytest.approx(dense)
        assert tt.relative_error(cores, as_tensor) == pytest.approx(
            dense, rel=1e-6
        )

    def test_zero_reference(self, rng):
        cores = random_cores(rng, INS, OUTS, RANKS)
        zero = np.zeros((24, 12))
        assert tt.relative_error(cores, zero) == np.inf
        zeros = [np.zeros_like(c) for c in cores]
        assert tt.relative_error(zeros, zero) == 0.0

    def test_wrong_shape(self, rng):
        cores = random_cores(rng, INS, OUTS, RANKS)
        with pytest.raises(
            ValueError,
            match=r"Argument `reference` must be .* shape \(24, 12\)\. "
            r"Received: reference of shape \(12, 24\)",
        ):
            tt.relative_error(cores, np.zeros((12, 24)))

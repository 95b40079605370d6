import math

import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import to_numpy
from ttrnn import tt
from ttrnn.tt import initializers as tt_init

# UCF11-like shape scaled down so W fits in memory quickly.
INS, OUTS, RANKS = (8, 10, 10, 9), (4, 4, 4, 4), (1, 4, 4, 4, 1)
M, N = 7200, 256


def _w(init, ins=INS, outs=OUTS, ranks=RANKS):
    return dense_from_cores([to_numpy(c) for c in init(ins, outs, ranks)])


@pytest.mark.parametrize(
    "name, target_var",
    [
        ("glorot_uniform", 2.0 / (M + N)),
        ("glorot_normal", 2.0 / (M + N)),
        ("he_uniform", 2.0 / M),
        ("he_normal", 2.0 / M),
        ("lecun_uniform", 1.0 / M),
        ("lecun_normal", 1.0 / M),
        ("orthogonal", 1.0 / M),
    ],
)
def test_std_of_w_hits_dense_target(name, target_var):
    # Average over several draws: W entries of one draw are correlated.
    stds = [np.std(_w(tt_init.get(name))) for _ in range(6)]
    ratio = np.mean(stds) / math.sqrt(target_var)
    assert 0.8 < ratio < 1.25, ratio


def test_keras_object_maps_to_tt_counterpart():
    init = tt_init.get(keras.initializers.VarianceScaling(2.0, "fan_out"))
    assert isinstance(init, tt.TTVarianceScaling)
    assert (init.scale, init.mode) == (2.0, "fan_out")
    assert isinstance(
        tt_init.get(keras.initializers.Orthogonal(3.0)), tt.TTOrthogonal
    )
    ttr = tt_init.get(keras.initializers.RandomNormal(stddev=0.02))
    stds = [np.std(_w(ttr)) for _ in range(4)]
    assert 0.8 < np.mean(stds) / 0.02 < 1.25


def test_output_std_matches_dense_layer():
    # Glorot on W must give the same output scale as a dense Glorot layer.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, M))
    dense_std = np.std(
        x @ (rng.uniform(-1, 1, (M, N)) * math.sqrt(6.0 / (M + N)))
    )
    tt_std = np.mean(
        [np.std(x @ _w(tt_init.get("glorot_uniform"))) for _ in range(4)]
    )
    assert 0.8 < tt_std / dense_std < 1.25


def test_cores_differ_and_seed_is_reproducible():
    a = tt.TTVarianceScaling(seed=3)((4, 4, 4), (4, 4, 4), (1, 2, 2, 1))
    b = tt.TTVarianceScaling(seed=3)((4, 4, 4), (4, 4, 4), (1, 2, 2, 1))
    for ca, cb in zip(a, b):
        np.testing.assert_array_equal(to_numpy(ca), to_numpy(cb))
    # Cores 0 and 2 share a shape; they must not be copies of each other.
    assert not np.allclose(to_numpy(a[0]).ravel(), to_numpy(a[2]).ravel())


def test_rank_one_orthogonal_is_exactly_orthogonal():
    init = tt.TTOrthogonal(gain=2.0, seed=1)
    w = _w(init, (4, 3, 5), (2, 3, 4), (1, 1, 1, 1))
    np.testing.assert_allclose(w.T @ w, 4.0 * np.eye(24), atol=1e-5)


@pytest.mark.parametrize(
    "identifier, match",
    [
        ("zeros", "no TT counterpart"),
        (keras.initializers.RandomNormal(mean=1.0), "mean 0"),
        ("not_an_initializer", "Unknown `kernel_initializer`"),
        (42, "Could not interpret"),
    ],
)
def test_bad_initializers(identifier, match):
    with pytest.raises(ValueError, match=match):
        tt_init.get(identifier)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scale": 0}, "scale"),
        ({"mode": "fan_sum"}, "mode"),
        ({"distribution": "cauchy"}, "distribution"),
    ],
)
def test_variance_scaling_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tt.TTVarianceScaling(**kwargs)


def test_config_round_trip():
    for init in (
        tt.TTVarianceScaling(2.0, "fan_in", "normal", 5),
        tt.TTOrthogonal(1.5, 2),
        tt.TTRandom(0.1, "uniform", 4),
    ):
        again = tt_init.get(tt_init.serialize(init))
        assert type(again) is type(init)
        assert again.get_config() == init.get_config()


def test_core_initializer_draws_per_seed_and_dtype():
    init = tt_init.CoreInitializer("normal", 0.5, seed=7)
    a = to_numpy(init((2, 3, 4, 5), dtype="float32"))
    b = to_numpy(tt_init.CoreInitializer("normal", 0.5, seed=8)((2, 3, 4, 5)))
    assert a.shape == (2, 3, 4, 5) and not np.allclose(a, b)
    np.testing.assert_array_equal(a, to_numpy(init((2, 3, 4, 5))))
    half = init((2, 3, 4, 5), dtype="bfloat16")
    assert keras.backend.standardize_dtype(half.dtype) == "bfloat16"
    ortho = to_numpy(
        tt_init.CoreInitializer("orthogonal", 1.0, 0)((2, 3, 4, 1))
    )
    unfolding = ortho.reshape(6, 4)
    np.testing.assert_allclose(unfolding.T @ unfolding, np.eye(4), atol=1e-6)
    with pytest.raises(ValueError, match="kind"):
        tt_init.CoreInitializer("cauchy", 1.0, 0)

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.helpers import dense_from_cores
from tests.helpers import random_cores
from tests.helpers import to_numpy
from ttrnn import tt
from ttrnn.tt.cores import fold_input_affine

CASES = [
    ((4, 8, 8, 4), (2, 5, 3, 4), (1, 3, 4, 2, 1)),
    ((5,), (7,), (1, 1)),
    ((2, 3), (4, 1), (1, 2, 1)),
    ((3, 1, 4), (1, 5, 2), (1, 2, 2, 1)),
]


def _tensors(arrays, dtype="float32"):
    return [keras.ops.convert_to_tensor(a, dtype=dtype) for a in arrays]


class TestToDense:
    @pytest.mark.parametrize("ins, outs, ranks", CASES)
    def test_matches_einsum_reference(self, rng, ins, outs, ranks):
        cores = random_cores(rng, ins, outs, ranks)
        got = to_numpy(tt.to_dense(_tensors(cores)))
        np.testing.assert_allclose(
            got, dense_from_cores(cores), rtol=1e-4, atol=1e-4
        )

    def test_rank_one_is_kronecker(self, rng):
        a, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 5))
        cores = [a.reshape(1, 2, 3, 1), b.reshape(1, 4, 5, 1)]
        np.testing.assert_allclose(
            to_numpy(tt.to_dense(_tensors(cores))), np.kron(a, b), rtol=1e-5
        )

    def test_bad_cores(self):
        with pytest.raises(ValueError, match="left rank"):
            tt.cores_modes([np.ones((1, 2, 2, 3)), np.ones((2, 2, 2, 1))])
        with pytest.raises(ValueError, match="right rank 1"):
            tt.cores_modes([np.ones((1, 2, 2, 3))])
        with pytest.raises(ValueError, match="4-D"):
            tt.cores_modes([np.ones((2, 2, 1))])


class TestTranspose:
    @pytest.mark.parametrize("ins, outs, ranks", CASES)
    def test_product_with_the_transpose(self, rng, ins, outs, ranks):
        cores = random_cores(rng, ins, outs, ranks)
        v = rng.standard_normal((5, int(np.prod(outs))))
        expected = v @ dense_from_cores(cores).T
        got = to_numpy(tt.matmul(*_tensors([v]), tt.transpose(_tensors(cores))))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


class TestFoldInputAffine:
    """((x s + o) * m) W + b against the folded cores and bias, for two
    TT-matrices side by side (a TT-RNN's gate groups), with and without a
    dropout mask m, by dense NumPy products."""

    INS, OUTS, RANKS = (3, 4), (2, 3), (1, 2, 1)

    @pytest.mark.parametrize("masked", [False, True])
    def test_equals_the_affine_inputs(self, rng, masked):
        groups = [random_cores(rng, self.INS, self.OUTS, self.RANKS)] * 2
        groups[1] = random_cores(rng, self.INS, self.OUTS, self.RANKS)
        w = np.concatenate([dense_from_cores(g) for g in groups], axis=1)
        x = rng.standard_normal((4, 12))
        mask = (rng.random((4, 12)) > 0.3) / 0.7 if masked else np.ones(12)
        bias = rng.standard_normal(12)
        s, o = 0.5, -1.25
        expected = ((x * s + o) * mask) @ w + bias

        def linear_map(rows, cores):
            return keras.ops.concatenate(
                [tt.matmul(rows, cores[:2]), tt.matmul(rows, cores[2:])], -1
            )

        cores, folded_bias = fold_input_affine(
            _tensors(groups[0] + groups[1]),
            *_tensors([bias]),
            s,
            o,
            linear_map,
            2,
            "float32",
            *_tensors([mask]) if masked else [],
        )
        got = to_numpy(linear_map(*_tensors([x * mask]), cores))
        got = got + to_numpy(folded_bias).reshape(-1, 12)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
        assert tuple(folded_bias.shape) == ((4, 1, 12) if masked else (12,))


class TestMatmul:
    @pytest.mark.parametrize("strategy", ["auto", "ltr", "rtl", "dense"])
    @pytest.mark.parametrize("ins, outs, ranks", CASES)
    def test_all_strategies_match_dense(self, rng, ins, outs, ranks, strategy):
        cores = random_cores(rng, ins, outs, ranks)
        x = rng.standard_normal((6, int(np.prod(ins))))
        expected = x @ dense_from_cores(cores)
        got = to_numpy(tt.matmul(*_tensors([x]), _tensors(cores), strategy))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)

    @pytest.mark.parametrize("lead", [(), (3,), (2, 3), (2, 1, 3)])
    def test_any_leading_dims(self, rng, lead):
        ins, outs, ranks = CASES[0]
        cores = random_cores(rng, ins, outs, ranks)
        x = rng.standard_normal(lead + (1024,))
        got = to_numpy(tt.matmul(*_tensors([x]), _tensors(cores)))
        assert got.shape == lead + (120,)
        np.testing.assert_allclose(
            got, x @ dense_from_cores(cores), rtol=1e-4, atol=1e-4
        )

    def test_wrong_input_dim_names_modes(self, rng):
        cores = _tensors(random_cores(rng, (4, 8), (2, 2), (1, 2, 1)))
        x = keras.ops.ones((2, 30))
        with pytest.raises(
            ValueError,
            match=r"tt_input_shape=\(4, 8\) \(product 32\).*30 features",
        ):
            tt.matmul(x, cores)

    def test_bad_strategy(self, rng):
        cores = _tensors(random_cores(rng, (2,), (2,), (1, 1)))
        with pytest.raises(ValueError, match="strategy"):
            tt.matmul(keras.ops.ones((1, 2)), cores, "magic")

    @pytest.mark.parametrize("strategy", ["ltr", "rtl", "dense"])
    def test_gradients_match_dense_reconstruction(self, rng, strategy):
        ins, outs, ranks = (2, 3, 2), (3, 2, 2), (1, 2, 3, 1)
        cores = random_cores(rng, ins, outs, ranks)
        x = rng.standard_normal((4, 12))
        g = rng.standard_normal((4, 12))  # upstream gradient
        grads = _grad(
            lambda x_, cs: keras.ops.sum(
                tt.matmul(x_, cs, strategy)
                * keras.ops.convert_to_tensor(g, "float32")
            ),
            x,
            cores,
        )
        w = dense_from_cores(cores)
        # d/dx sum(g * (x W)) = g W^T
        np.testing.assert_allclose(grads[0], g @ w.T, rtol=1e-3, atol=1e-4)
        # d/dG_k: central finite differences of the float64 reference.
        for k in range(len(cores)):
            fd = np.zeros_like(cores[k])
            for idx in np.ndindex(cores[k].shape):
                plus = [c.copy() for c in cores]
                minus = [c.copy() for c in cores]
                plus[k][idx] += 1e-6
                minus[k][idx] -= 1e-6
                fd[idx] = (
                    np.sum(g * (x @ dense_from_cores(plus)))
                    - np.sum(g * (x @ dense_from_cores(minus)))
                ) / 2e-6
            np.testing.assert_allclose(grads[1 + k], fd, rtol=1e-3, atol=1e-3)


def _grad(fn, x, cores):
    """Gradients of fn(x, cores) w.r.t. x and every core, per backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        x_t, cs = _tensors([x])[0], _tensors(cores)
        gx, gcs = jax.grad(fn, argnums=(0, 1))(x_t, cs)
        return [to_numpy(gx)] + [to_numpy(g) for g in gcs]
    if backend == "tensorflow":
        import tensorflow as tf

        vs = [tf.Variable(a, dtype="float32") for a in [x] + cores]
        with tf.GradientTape() as tape:
            out = fn(vs[0], vs[1:])
        return [to_numpy(g) for g in tape.gradient(out, vs)]
    import torch

    ts = [
        torch.tensor(a, dtype=torch.float32, requires_grad=True)
        for a in [x] + cores
    ]
    fn(ts[0], ts[1:]).backward()
    return [t.grad.numpy().astype(np.float64) for t in ts]


@settings(max_examples=25, deadline=None)
@given(
    d=st.integers(1, 4),
    data=st.data(),
)
def test_matmul_property_random_shapes(d, data):
    ins = tuple(data.draw(st.integers(1, 4)) for _ in range(d))
    outs = tuple(data.draw(st.integers(1, 4)) for _ in range(d))
    ranks = (1,) + tuple(data.draw(st.integers(1, 3)) for _ in range(d - 1))
    ranks += (1,)
    batch = data.draw(st.integers(1, 5))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    cores = random_cores(rng, ins, outs, ranks)
    x = rng.standard_normal((batch, int(np.prod(ins))))
    expected = x @ dense_from_cores(cores)
    for strategy in ("ltr", "rtl", "dense"):
        got = to_numpy(tt.matmul(*_tensors([x]), _tensors(cores), strategy))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)

"""Integer (uint8) rows in the TT contraction: `integer.matmul` and the
plans that read them as they lie, against float64 NumPy references."""

import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import random_cores
from tests.helpers import to_numpy
from tests.tt.test_planner import _core_grads_reference
from ttrnn import tt
from ttrnn.tt import contraction
from ttrnn.tt.contraction import integer

BACKEND = keras.backend.backend()
# The last core (r 3, m 6, n 2) shrinks x: r n = 6 <= m = 6.
INS, OUTS, RANKS = (2, 3, 6), (2, 2, 2), (1, 2, 3, 1)
READS = contraction.Plan((1, 1, 1), "rtl", "batch_last")
CASTS = [
    contraction.Plan((1, 1, 1), "ltr", "batch_last"),
    contraction.Plan((1, 1, 1), "rtl", "batch_first"),
    contraction.Plan((1, 2), "ltr", "chunked"),
    contraction.Plan((3,), "ltr", "batch_first"),  # dense
]


def _tensor(a, dtype="float32"):
    return keras.ops.convert_to_tensor(a, dtype=dtype)


def _pixels(rng, shape):
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _weight_grads(fn, x, weights):
    """Gradients of sum(fn(x, weights) * g) w.r.t. the float weights
    only (x is integer), per backend; fn returns the weighted sum."""
    if BACKEND == "jax":
        import jax

        grads = jax.grad(lambda ws: fn(x, ws))([_tensor(w) for w in weights])
        return [to_numpy(g) for g in grads]
    if BACKEND == "tensorflow":
        import tensorflow as tf

        ws = [tf.Variable(w, dtype="float32") for w in weights]
        with tf.GradientTape() as tape:
            out = fn(x, ws)
        return [to_numpy(g) for g in tape.gradient(out, ws)]
    import torch

    ws = [
        torch.tensor(w, dtype=torch.float32, requires_grad=True)
        for w in weights
    ]
    fn(x, ws).backward()
    return [to_numpy(w.grad) for w in ws]


@pytest.fixture
def tiny_pieces(monkeypatch):
    """Pieces of 4 rows of 6 values: several pieces, the last one short."""
    monkeypatch.setattr(integer, "PIECE_VALUES", 4 * 6)


@pytest.mark.parametrize("rows", [1, 4, 11])
def test_integer_matmul_equals_float(rng, tiny_pieces, rows):
    x = _pixels(rng, (rows, 6))
    w = rng.standard_normal((6, 5))
    g = rng.standard_normal((rows, 5))
    xt = _tensor(x, "uint8")
    got = to_numpy(integer.matmul(xt, _tensor(w)))
    np.testing.assert_allclose(got, x @ w, rtol=1e-5, atol=1e-3)
    (dw,) = _weight_grads(
        lambda x_, ws: keras.ops.sum(integer.matmul(x_, ws[0]) * _tensor(g)),
        xt,
        [w],
    )
    np.testing.assert_allclose(dw, x.T.astype(float) @ g, rtol=1e-5, atol=1e-3)


def test_integer_matmul_calls_of_other_widths(rng, tiny_pieces):
    """Successive calls of other widths and row counts (torch casts every
    piece into one buffer, which a call may find larger than it needs,
    or too small), and an upstream gradient that is a transposed view."""
    for rows, k, n in [(11, 6, 5), (3, 4, 2), (9, 12, 3), (11, 6, 5)]:
        x = _pixels(rng, (rows, k))
        w = rng.standard_normal((k, n))
        g = rng.standard_normal((n, rows))
        xt = _tensor(x, "uint8")
        got = to_numpy(integer.matmul(xt, _tensor(w)))
        np.testing.assert_allclose(got, x @ w, rtol=1e-5, atol=1e-3)
        (dw,) = _weight_grads(
            lambda x_, ws, g=g: keras.ops.sum(
                keras.ops.transpose(integer.matmul(x_, ws[0])) * _tensor(g)
            ),
            xt,
            [w],
        )
        want = x.T.astype(float) @ g.T
        np.testing.assert_allclose(dw, want, rtol=1e-5, atol=1e-3)


@pytest.mark.skipif(BACKEND != "torch", reason="torch's dtypes")
def test_integer_matmul_in_float64_after_float32(rng, tiny_pieces):
    # The reused buffer follows the weights' dtype.
    import torch

    x = _pixels(rng, (11, 6))
    xt = torch.from_numpy(x)
    for dtype in (torch.float32, torch.float64, torch.float32):
        w = torch.tensor(rng.standard_normal((6, 5)), dtype=dtype)
        w.requires_grad_(True)
        y = integer.matmul(xt, w)
        assert y.dtype == dtype
        y.square().sum().backward()
        want = x @ w.detach().double().numpy()
        np.testing.assert_allclose(y.detach().double(), want, rtol=1e-5)
        np.testing.assert_allclose(
            w.grad.double(), 2 * x.T.astype(float) @ want, rtol=1e-5
        )


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow graphs")
def test_integer_matmul_with_unknown_rows(rng, tiny_pieces):
    # tf.data batches of several lengths reach it with rows unknown.
    import tensorflow as tf

    w = tf.Variable(rng.standard_normal((6, 5)), dtype="float32")

    @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.uint8)])
    def run(x):
        with tf.GradientTape() as tape:
            y = integer.matmul(x, tf.identity(w))
            loss = tf.reduce_sum(y * y)
        return y, tape.gradient(loss, w)

    for rows in (11, 4, 1, 0):
        x = _pixels(rng, (rows, 6))
        y, dw = run(tf.constant(x))
        want = x @ w.numpy().astype(np.float64)
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(
            dw.numpy(), 2 * x.T.astype(float) @ want, rtol=1e-5, atol=1e-2
        )


def test_reads_integers():
    cores = [np.zeros(s, "float32") for s in tt.core_shapes(INS, OUTS, RANKS)]
    x = np.zeros((3, 36), np.uint8)
    assert contraction.reads_integers(x, cores, READS)
    for plan in CASTS:
        assert not contraction.reads_integers(x, cores, plan), plan.name
    # r n > m: the last core does not shrink x.
    shapes = tt.core_shapes(INS, (2, 2, 7), (1, 3, 3, 1))
    wide = [np.zeros(s, "float32") for s in shapes]
    assert not contraction.reads_integers(x, wide, READS)


@pytest.mark.parametrize(
    "plan", [READS, *CASTS], ids=[p.name for p in [READS, *CASTS]]
)
@pytest.mark.parametrize("batch", [1, 5])
def test_matmul_of_integer_rows(rng, tiny_pieces, plan, batch):
    """tt.matmul of uint8 rows equals x @ W, and its core gradients, for
    the plan that reads them as they lie and for those that cast them."""
    cores = random_cores(rng, INS, OUTS, RANKS)
    x = _pixels(rng, (batch, 2, 36))  # leading axes flattened
    g = rng.standard_normal((batch, 2, 8))
    w = dense_from_cores(cores)
    xt = _tensor(x, "uint8")
    got = to_numpy(tt.matmul(xt, [_tensor(c) for c in cores], plan))
    np.testing.assert_allclose(got, x @ w, rtol=1e-4, atol=1e-3)
    grads = _weight_grads(
        lambda x_, cs: keras.ops.sum(tt.matmul(x_, cs, plan) * _tensor(g)),
        xt,
        cores,
    )
    want = _core_grads_reference(
        x.reshape(-1, 36).astype(float), g.reshape(-1, 8), cores
    )
    for got, ref in zip(grads, want):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-2)

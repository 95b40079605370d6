"""`gather_rows`: rows and core gradients against float64 NumPy
references, for every plan, by the backend's default path (`rows=None`:
the chunked kernel on torch, autodiff elsewhere) and by the chunked
kernel with its hand-written backward (`rows=k`) on every backend."""

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.helpers import dense_from_cores
from tests.helpers import random_cores
from tests.helpers import to_numpy
from tests.tt.test_ops import CASES
from tests.tt.test_planner import _core_grads_reference
from ttrnn import TTEmbedding
from ttrnn import tt
from ttrnn.tt.contraction import chunked_rows

BACKEND = keras.backend.backend()


def _plans(d):
    return [tt.LookupPlan("rtl")] + [
        tt.LookupPlan("ltr", k) for k in range(1, d + 1)
    ]


def _core_grads(fn, cores):
    """Gradients of the scalar fn(cores) w.r.t. every core, per backend."""
    if BACKEND == "jax":
        import jax

        cs = [keras.ops.convert_to_tensor(c, "float32") for c in cores]
        return [to_numpy(g) for g in jax.grad(fn)(cs)]
    if BACKEND == "tensorflow":
        import tensorflow as tf

        vs = [tf.Variable(c, dtype="float32") for c in cores]
        with tf.GradientTape() as tape:
            out = fn(vs)
        return [to_numpy(g) for g in tape.gradient(out, vs)]
    import torch

    ts = [
        torch.tensor(c, dtype=torch.float32, requires_grad=True) for c in cores
    ]
    fn(ts).backward()
    return [t.grad.numpy().astype(np.float64) for t in ts]


def _check(rng, ins, outs, ranks, rows, plan, chunk):
    cores = random_cores(rng, ins, outs, ranks)
    g = rng.standard_normal((len(rows), int(np.prod(outs))))
    digits = tt.row_digits(keras.ops.convert_to_tensor(rows, "int32"), ins)
    w = dense_from_cores(cores)

    def loss(cs):
        got = tt.gather_rows(cs, digits, plan, rows=chunk)
        return keras.ops.sum(got * keras.ops.convert_to_tensor(g, "float32"))

    cs = [keras.ops.convert_to_tensor(c, "float32") for c in cores]
    got = to_numpy(tt.gather_rows(cs, digits, plan, rows=chunk))
    np.testing.assert_allclose(got, w[rows], rtol=1e-4, atol=1e-4)
    # Rows as one-hot x: W[rows] = x @ W, so the reference of the matmul
    # applies (repeated rows add up their gradients).
    onehot = np.eye(w.shape[0])[rows]
    want = _core_grads_reference(onehot, g, cores)
    for k, (a, b) in enumerate(zip(_core_grads(loss, cores), want)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=str(k))


@pytest.mark.parametrize("ins, outs, ranks", CASES)
@pytest.mark.parametrize("chunk", [None, 3])
def test_every_plan_and_chunking_matches_dense(rng, ins, outs, ranks, chunk):
    # 8 rows, two of them twice: with 3 rows a chunk, the last is short.
    rows = rng.integers(0, int(np.prod(ins)), size=6)
    rows = np.concatenate([rows, rows[:2]])
    for plan in _plans(len(ins)):
        _check(rng, ins, outs, ranks, rows, plan, chunk)


@settings(max_examples=15, deadline=None)
@given(
    modes=st.lists(
        st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 3)),
        min_size=1,
        max_size=4,
    ),
    batch=st.integers(1, 9),
    chunk=st.one_of(st.none(), st.integers(1, 10)),
    seed=st.integers(0, 2**16),
)
def test_any_shape_any_plan(modes, batch, chunk, seed):
    rng = np.random.default_rng(seed)
    ins = tuple(m for m, _, _ in modes)
    outs = tuple(n for _, n, _ in modes)
    ranks = (1, *(r for _, _, r in modes[:-1]), 1)
    rows = rng.integers(0, int(np.prod(ins)), size=batch)
    digits = tt.row_digits(keras.ops.convert_to_tensor(rows), ins)
    # The digits are C-order: np.unravel_index is the reference.
    np.testing.assert_array_equal(
        [to_numpy(d).astype(int) for d in digits], np.unravel_index(rows, ins)
    )
    cores = random_cores(rng, ins, outs, ranks)
    cs = [keras.ops.convert_to_tensor(c, "float32") for c in cores]
    plans = _plans(len(ins))
    for plan in plans:
        got = to_numpy(tt.gather_rows(cs, digits, plan, rows=chunk))
        np.testing.assert_allclose(
            got, dense_from_cores(cores)[rows], rtol=1e-4, atol=1e-4
        )
    # Gradients (slower to check) for one plan per example.
    _check(rng, ins, outs, ranks, rows, plans[seed % len(plans)], chunk)


def test_chunks_are_balanced_and_cover_the_batch():
    assert chunked_rows._bounds(4096, 240) == [
        (s, min(s + 228, 4096)) for s in range(0, 4096, 228)
    ]  # 18 chunks of 228 or 220 rows, not 17 of 240 and one of 16
    assert chunked_rows._bounds(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert chunked_rows._bounds(6, 3) == [(0, 3), (3, 6)]
    assert chunked_rows._bounds(0, 3) == [(0, 0)]
    assert chunked_rows._bounds(None, 3) == [(None, None)]


def test_empty_batch(rng):
    cores = random_cores(rng, (3, 4), (2, 5), (1, 2, 1))
    cs = [keras.ops.convert_to_tensor(c, "float32") for c in cores]
    ids = keras.ops.zeros((0,), "int32")
    for chunk in (None, 2):
        got = tt.gather_rows(cs, tt.row_digits(ids, (3, 4)), rows=chunk)
        assert tuple(got.shape) == (0, 10)


@pytest.mark.parametrize("rows", [0, -2, 1.5, True, "8"])
def test_rows_must_be_a_positive_integer(rng, rows):
    cores = random_cores(rng, (3, 4), (2, 5), (1, 2, 1))
    cs = [keras.ops.convert_to_tensor(c, "float32") for c in cores]
    digits = tt.row_digits(keras.ops.convert_to_tensor([1, 5]), (3, 4))
    with pytest.raises(ValueError, match="`rows` must be a positive integer"):
        tt.gather_rows(cs, digits, rows=rows)


def test_chunk_rows_fit_the_cache_budget():
    # The benchmark's table: 1,000,000 x 256 at rank 16.
    out_shape, ranks = (8, 4, 8), (1, 16, 16, 1)
    rows = chunked_rows.chunk_rows(out_shape, ranks, "rtl", 4096)
    per_row = chunked_rows.values_per_row(out_shape, ranks, "rtl") * 4
    assert rows * per_row <= chunked_rows.CHUNK_BYTES
    assert (rows + 1) * per_row > chunked_rows.CHUNK_BYTES
    assert chunked_rows.chunk_rows(out_shape, ranks, "rtl", 7) == 7
    assert chunked_rows.chunk_rows(out_shape, ranks, "rtl", None) is None


def test_training_under_mixed_precision_moves_the_looked_up_slices(rng):
    layer = TTEmbedding(60, 12, (3, 4, 5), (2, 3, 2), 3, dtype="mixed_float16")
    model = keras.Sequential(
        [keras.Input((2,), dtype="int32"), layer, keras.layers.Flatten()]
    )
    model.compile(keras.optimizers.SGD(0.1), "mse")
    before = [to_numpy(c) for c in layer.cores]
    ids = np.array([[0, 59], [7, 7]])
    loss = model.train_on_batch(ids, rng.standard_normal((2, 24)))
    assert np.isfinite(loss)
    moved = [
        np.abs(to_numpy(c) - b).max() > 0 for c, b in zip(layer.cores, before)
    ]
    assert all(moved)
    assert all(str(c.dtype).endswith("float32") for c in layer.cores)


def test_lookup_plan_merges_leading_cores_when_the_table_is_small():
    # 4,096 ids: 40 x 50 digit pairs (2,000 rows) merged once beat 4,096
    # gathered middle slices; 100 x 100 = 10,000 rows do not.
    small = tt.lookup_plan((40, 50, 50), (8, 4, 8), (1, 34, 34, 1), 4096)
    assert small == tt.LookupPlan("ltr", 2)
    big = tt.lookup_plan((100, 100, 100), (8, 4, 8), (1, 16, 16, 1), 4096)
    assert big.merged == 1
    tiny = tt.lookup_plan((4, 5), (8, 8), (1, 4, 1), 4096)
    assert tiny == tt.LookupPlan("ltr", 2)  # the whole 20-row table

"""The "grouped" lookup path (`ttrnn.tt.contraction.grouped_rows`): rows
and core gradients equal a float64 dense reference for uniform, skewed,
repeated and tiny batches, 3 and 4 cores, eagerly and compiled; its
chunk layout is a one-to-one map; TTEmbedding runs it with masks."""

import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import random_cores
from tests.helpers import to_numpy
from tests.tt.test_lookup import _core_grads
from tests.tt.test_planner import _core_grads_reference
from ttrnn import TTEmbedding
from ttrnn import tt
from ttrnn.tt.contraction import grouped_rows

BACKEND = keras.backend.backend()


def _check(rng, ins, outs, ranks, rows, plan=None):
    cores = random_cores(rng, ins, outs, ranks)
    rows = np.asarray(rows)
    g = rng.standard_normal((len(rows), int(np.prod(outs))))
    digits = tt.row_digits(keras.ops.convert_to_tensor(rows, "int32"), ins)
    g_t = keras.ops.convert_to_tensor(g, "float32")

    def lookup(cs):
        return tt.gather_rows(cs, digits, plan, path="grouped")

    def loss(cs):
        return keras.ops.sum(lookup(cs) * g_t)

    cs = [keras.ops.convert_to_tensor(c, "float32") for c in cores]
    np.testing.assert_allclose(
        to_numpy(lookup(cs)),
        dense_from_cores(cores)[rows],
        rtol=1e-4,
        atol=1e-4,
    )
    want = _core_grads_reference(np.eye(int(np.prod(ins)))[rows], g, cores)
    for k, (a, b) in enumerate(zip(_core_grads(loss, cores), want)):
        np.testing.assert_allclose(
            a, b, rtol=1e-4, atol=1e-4, err_msg=f"core {k}"
        )


INS, OUTS, RANKS = (5, 6, 7), (2, 3, 4), (1, 3, 4, 1)


@pytest.mark.parametrize(
    "case",
    ["uniform", "one_digit", "repeated", "single", "fewer_than_digits"],
)
def test_rows_and_gradients_equal_the_dense_reference(rng, case):
    size = int(np.prod(INS))
    rows = {
        "uniform": rng.integers(0, size, size=40),
        # Every id shares the grouping digit (the middle one): skewed ids
        # fill many chunks of one digit.
        "one_digit": rng.integers(0, 5, size=30) * 42
        + 7 * 3
        + rng.integers(0, 7, size=30),
        "repeated": np.array([17, 17, 17, 3, 17, 3, 209, 0]),
        "single": np.array([123]),
        "fewer_than_digits": np.array([4, 100]),
    }[case]
    _check(rng, INS, OUTS, RANKS, rows)


def test_four_cores_group_a_middle_core(rng):
    ins, outs, ranks = (3, 4, 5, 2), (2, 2, 3, 2), (1, 2, 5, 3, 1)
    shapes = [
        (ranks[k], m, n, ranks[k + 1])
        for k, (m, n) in enumerate(zip(ins, outs))
    ]
    assert grouped_rows.group_core(shapes) == 2
    rows = rng.integers(0, int(np.prod(ins)), size=50)
    _check(rng, ins, outs, ranks, rows)


def test_with_merged_leading_cores(rng):
    rows = rng.integers(0, int(np.prod(INS)), size=25)
    _check(rng, INS, OUTS, RANKS, rows, tt.LookupPlan("ltr", 2))


def test_chunk_layout_places_each_row_once(rng):
    for digit in (
        rng.integers(0, 7, size=60),
        np.full(23, 4),
        np.array([6]),
    ):
        per, chunks, chunk_digit, source, slot = grouped_rows.chunk_layout(
            keras.ops.convert_to_tensor(digit, "int32"), 7, len(digit)
        )
        chunk_digit, source, slot = (
            np.asarray(keras.ops.convert_to_numpy(t))
            for t in (chunk_digit, source, slot)
        )
        assert len(source) == chunks * per and len(slot) == len(digit)
        assert len(set(slot.tolist())) == len(digit)  # one slot per row
        np.testing.assert_array_equal(source[slot], np.arange(len(digit)))
        # Each row's chunk holds its digit.
        np.testing.assert_array_equal(chunk_digit[slot // per], digit)


def test_compiled_equals_eager(rng):
    cores = random_cores(rng, INS, OUTS, RANKS)
    cs = [keras.ops.convert_to_tensor(c, "float32") for c in cores]
    rows = keras.ops.convert_to_tensor(rng.integers(0, 210, 33), "int32")

    def lookup(cs, rows):
        return grouped_rows.grouped_gather_rows(cs, tt.row_digits(rows, INS))

    if BACKEND == "jax":
        import jax

        compiled = jax.jit(lookup)
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(lookup)
    else:
        compiled = lookup
    np.testing.assert_allclose(
        to_numpy(compiled(cs, rows)),
        dense_from_cores(cores)[to_numpy(rows).astype(int)],
        rtol=1e-4,
        atol=1e-4,
    )


def test_rows_argument_is_for_the_chunked_path_only(rng):
    cs = [
        keras.ops.convert_to_tensor(c, "float32")
        for c in random_cores(rng, INS, OUTS, RANKS)
    ]
    digits = tt.row_digits(keras.ops.convert_to_tensor([1, 7]), INS)
    with pytest.raises(ValueError, match="the 'grouped' path chunks rows"):
        tt.gather_rows(cs, digits, rows=1, path="grouped")


def test_embedding_grouped_with_mask_and_padding(rng):
    ids = rng.integers(1, 210, size=(4, 6))
    ids[:, 4:] = 0  # padded sequences
    ids[0, :3] = 99  # a repeated id
    layer = TTEmbedding(
        210, 24, INS, OUTS, RANKS, mask_zero=True, tt_lookup="grouped"
    )
    layer.build()
    want = dense_from_cores(layer.get_weights())[:210][ids]
    np.testing.assert_allclose(to_numpy(layer(ids)), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer.compute_mask(ids)), ids != 0
    )
    # Negative ids count from the end, as in Keras' Embedding.
    table = dense_from_cores(layer.get_weights())[:210]
    np.testing.assert_allclose(
        to_numpy(layer(np.array([-1, -210]))),
        table[[209, 0]],
        rtol=1e-4,
        atol=1e-5,
    )

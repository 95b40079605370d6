"""The lookup paths of `gather_rows` ("chunked", "autodiff", "grouped")
and their per-machine choice ("auto"): the same rows and core gradients
as a float64 NumPy reference and as each other, the choice timed once
per shape and cached with the planner's plans, and a forced path never
timed."""

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
from ttrnn.tt.contraction import contract
from ttrnn.tt.contraction import measure

BACKEND = keras.backend.backend()
INS, OUTS, RANKS = (5, 6, 7), (2, 3, 4), (1, 3, 4, 1)
PLANS = [tt.LookupPlan("rtl"), tt.LookupPlan("ltr"), tt.LookupPlan("ltr", 2)]


def _rows_and_grads(cores, rows, g, plan, path):
    digits = tt.row_digits(keras.ops.convert_to_tensor(rows, "int32"), INS)
    g_t = keras.ops.convert_to_tensor(g, "float32")

    def loss(cs):
        return keras.ops.sum(tt.gather_rows(cs, digits, plan, path=path) * g_t)

    cs = [keras.ops.convert_to_tensor(c, "float32") for c in cores]
    out = to_numpy(tt.gather_rows(cs, digits, plan, path=path))
    return out, _core_grads(loss, cores)


@pytest.mark.parametrize("plan", PLANS, ids=["rtl", "ltr", "ltr2"])
def test_paths_equal_the_reference_and_each_other(rng, plan):
    cores = random_cores(rng, INS, OUTS, RANKS)
    rows = rng.integers(0, int(np.prod(INS)), size=9)
    rows[-1] = rows[0]  # a repeated id adds up its gradients
    g = rng.standard_normal((len(rows), int(np.prod(OUTS))))
    want_rows = dense_from_cores(cores)[rows]
    want_grads = _core_grads_reference(
        np.eye(int(np.prod(INS)))[rows], g, cores
    )
    got = {
        path: _rows_and_grads(cores, rows, g, plan, path)
        for path in tt.lookup.LOOKUP_PATHS
    }
    for path, (out, grads) in got.items():
        np.testing.assert_allclose(out, want_rows, rtol=1e-4, atol=1e-4)
        for k, (a, b) in enumerate(zip(grads, want_grads)):
            np.testing.assert_allclose(
                a, b, rtol=1e-4, atol=1e-4, err_msg=f"{path} core {k}"
            )
    # The paths agree to float32 rounding (gradients summed in another
    # order), far closer than to the float64 reference: which one "auto"
    # takes does not change a result.
    base_out, base_grads = got["chunked"]
    for path in ("autodiff", "grouped", "auto"):
        out, grads = got[path]
        # "grouped" (which "auto" may take) multiplies from the first core,
        # whatever the plan: float32 rounding of another order of products.
        tol = 1e-6 if path == "autodiff" else 1e-5
        np.testing.assert_allclose(out, base_out, rtol=tol, atol=tol / 10)
        for a, b in zip(grads, base_grads):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.fixture
def counted_timing(monkeypatch):
    """Counts `measured_lookup_path` calls; the choice is "autodiff"."""
    calls = []

    def fake(core_shapes, batch, direction, repeats=9):
        calls.append((core_shapes, batch, direction))
        return "autodiff"

    monkeypatch.setattr(measure, "measured_lookup_path", fake)
    contract.clear_cache()
    yield calls
    contract.clear_cache()


def test_auto_times_once_per_shape(rng, counted_timing):
    # Middle core's slices the largest; 64 ids: chunks of 2 rows.
    shapes = ((1, 5, 2, 3), (3, 6, 3, 1))
    for _ in range(3):
        path = tt.lookup_path(shapes, 64, "rtl")
    assert path == "autodiff"
    assert counted_timing == [(shapes, 64, "rtl")]
    tt.lookup_path(shapes, 65, "rtl")  # another batch: timed again
    assert len(counted_timing) == 2
    tt.lookup_path(shapes, 64, "ltr")  # another direction: timed again
    assert len(counted_timing) == 3
    assert tt.lookup_path(shapes, None, "rtl") in ("chunked", "autodiff")
    assert len(counted_timing) == 3


def test_compiled_backends_time_only_where_grouping_can_pay(counted_timing):
    shapes = ((1, 5, 2, 3), (3, 6, 3, 1))
    # 32 ids: one row a chunk, so grouping cannot pay.
    path = tt.lookup_path(shapes, 32, "rtl")
    if BACKEND == "torch":
        assert counted_timing == [(shapes, 32, "rtl")]
        return
    assert path == "autodiff" and counted_timing == []
    # A single core has nothing to group by.
    assert tt.lookup_path(((1, 5, 2, 1),), 256, "rtl") == "autodiff"
    assert counted_timing == []
    # The first core's slices larger: grouping by the second still may
    # pay (100,000 x 256 at rank 34 measured either way), so it is timed.
    first_larger = ((1, 5, 9, 3), (3, 6, 1, 1))
    tt.lookup_path(first_larger, 256, "rtl")
    assert counted_timing == [(first_larger, 256, "rtl")]


def test_a_forced_path_is_never_timed(rng, counted_timing):
    cores = random_cores(rng, INS, OUTS, RANKS)
    cs = [keras.ops.convert_to_tensor(c, "float32") for c in cores]
    ids = keras.ops.convert_to_tensor(rng.integers(0, 210, size=64))
    digits = tt.row_digits(ids, INS)
    for path in ("chunked", "autodiff", "grouped"):
        tt.gather_rows(cs, digits, path=path)
    assert counted_timing == []
    tt.gather_rows(cs, digits)
    assert len(counted_timing) == 1


def test_auto_is_timed_once_under_a_trace(rng, monkeypatch):
    """Under `jax.jit` / `tf.function` the paths are timed eagerly, once,
    when the trace meets the shape; later calls reuse the choice."""
    calls = []
    timed = measure.measured_lookup_path

    def spy(core_shapes, batch, direction, repeats=9):
        calls.append(batch)
        return timed(core_shapes, batch, direction, repeats=1)

    monkeypatch.setattr(measure, "measured_lookup_path", spy)
    contract.clear_cache()
    cores = random_cores(rng, INS, OUTS, RANKS)
    cs = [keras.ops.convert_to_tensor(c, "float32") for c in cores]
    ids = rng.integers(0, 210, size=64)
    want = dense_from_cores(cores)[ids]

    def lookup(cs_, ids_):
        return tt.gather_rows(cs_, tt.row_digits(ids_, INS))

    if BACKEND == "jax":
        import jax

        lookup = jax.jit(lookup)
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        lookup = tf.function(lookup)
    ids_t = keras.ops.convert_to_tensor(ids, "int32")
    for _ in range(2):
        out = to_numpy(lookup(cs, ids_t))
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    assert calls == [64]
    contract.clear_cache()


@pytest.mark.parametrize("batch", [32, 256])
def test_measured_lookup_path_times_the_backends_paths(batch):
    shapes = ((1, 5, 2, 3), (3, 6, 3, 1))
    want = ("chunked", "autodiff", "grouped")
    if BACKEND != "torch":
        want = ("autodiff", "grouped")
    assert measure.lookup_paths_timed() == want
    assert measure.measured_lookup_path(shapes, batch, "ltr", 1) in want


def test_measured_lookup_path_stops_at_its_budget(monkeypatch):
    calls = []
    autodiff = measure.gather_rows_autodiff

    def counted(*args):
        calls.append(1)
        return autodiff(*args)

    monkeypatch.setattr(measure, "gather_rows_autodiff", counted)
    monkeypatch.setattr(measure, "LOOKUP_TIMING_BUDGET", 0.0)
    shapes = ((1, 5, 2, 3), (3, 6, 3, 1))
    measure.measured_lookup_path(shapes, 256, "rtl", repeats=50)
    # Traced once (JAX, TensorFlow) or run once a round (torch): the
    # warm-up and the minimum of rounds, not 50.
    assert 1 <= len(calls) <= 1 + measure.MIN_LOOKUP_REPEATS


@pytest.mark.parametrize("path", ["fast", None, 1])
def test_path_must_be_a_known_name(rng, path):
    cores = random_cores(rng, INS, OUTS, RANKS)
    cs = [keras.ops.convert_to_tensor(c, "float32") for c in cores]
    digits = tt.row_digits(keras.ops.convert_to_tensor([1, 7]), INS)
    with pytest.raises(ValueError, match="Argument `path` must be one of"):
        tt.gather_rows(cs, digits, path=path)
    with pytest.raises(ValueError, match="Argument `tt_lookup` must be one"):
        TTEmbedding(210, 24, INS, OUTS, RANKS, tt_lookup=path)


def test_rows_need_the_chunked_path(rng):
    cores = random_cores(rng, INS, OUTS, RANKS)
    cs = [keras.ops.convert_to_tensor(c, "float32") for c in cores]
    digits = tt.row_digits(keras.ops.convert_to_tensor([1, 7]), INS)
    with pytest.raises(ValueError, match="Argument `rows` chunks the"):
        tt.gather_rows(cs, digits, rows=1, path="autodiff")


def test_embedding_paths_give_the_same_layer(rng):
    ids = rng.integers(0, 210, size=(3, 5))
    outs, weights = {}, None
    for path in tt.lookup.LOOKUP_PATHS:
        layer = TTEmbedding(210, 24, INS, OUTS, RANKS, tt_lookup=path)
        layer.build()
        if weights is None:
            weights = layer.get_weights()
        layer.set_weights(weights)
        outs[path] = to_numpy(layer(ids))
        config = layer.get_config()
        assert config["tt_lookup"] == path
        assert TTEmbedding.from_config(config).tt_lookup == path
    want = dense_from_cores(weights)[:210][ids]
    for out in outs.values():
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out, outs["chunked"], rtol=1e-6, atol=0)

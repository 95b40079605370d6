"""The chunked two-step plans: values and hand-written gradients."""

import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import random_cores
from tests.helpers import to_numpy
from tests.tt.test_ops import _grad
from tests.tt.test_planner import _core_grads_reference
from ttrnn import TTDense
from ttrnn import tt
from ttrnn.tt import contraction
from ttrnn.tt.contraction import chunked
from ttrnn.tt.contraction import plan as plan_lib

BACKEND = keras.backend.backend()
INS, OUTS, RANKS = (2, 3, 2, 2), (2, 2, 3, 1), (1, 2, 3, 2, 1)
CHUNKED = [
    contraction.Plan(groups, direction, "chunked")
    for groups in ((1, 3), (2, 2), (3, 1))
    for direction in ("ltr", "rtl")
]


def _tensor(a):
    return keras.ops.convert_to_tensor(a, dtype="float32")


@pytest.fixture
def tiny_chunks(monkeypatch):
    """About 3 rows per chunk for the test shapes: several chunks, the
    last one short."""
    monkeypatch.setattr(chunked, "CHUNK_BYTES", 3 * 4 * 24)


def _check(rng, plan, batch):
    cores = random_cores(rng, INS, OUTS, RANKS)
    x = rng.standard_normal((batch, 24))
    g = rng.standard_normal((batch, 12))
    w = dense_from_cores(cores)
    got = to_numpy(tt.matmul(_tensor(x), [_tensor(c) for c in cores], plan))
    np.testing.assert_allclose(got, x @ w, rtol=1e-4, atol=1e-4)
    grads = _grad(
        lambda x_, cs: keras.ops.sum(tt.matmul(x_, cs, plan) * _tensor(g)),
        x,
        cores,
    )
    np.testing.assert_allclose(grads[0], g @ w.T, rtol=1e-4, atol=1e-4)
    for got, want in zip(grads[1:], _core_grads_reference(x, g, cores)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("plan", CHUNKED, ids=[p.name for p in CHUNKED])
@pytest.mark.parametrize("batch", [1, 7])
def test_many_chunks_match_dense(rng, tiny_chunks, plan, batch):
    per_row = chunked.state_per_row(
        plan.direction,
        _merged(plan.groups),
    )
    rows = chunked.chunk_rows(per_row, batch)
    assert rows < batch or batch == 1  # several chunks at batch 7
    _check(rng, plan, batch)


def _merged(groups):
    """(r, M_g, N_g, r') of the two merged groups of the test TT."""
    k = groups[0]
    return (
        (1, int(np.prod(INS[:k])), int(np.prod(OUTS[:k])), RANKS[k]),
        (RANKS[k], int(np.prod(INS[k:])), int(np.prod(OUTS[k:])), 1),
    )


def test_empty_batch(rng):
    cores = [_tensor(c) for c in random_cores(rng, INS, OUTS, RANKS)]
    y = tt.matmul(keras.ops.zeros((0, 24)), cores, "ltr[2,2]/chunked")
    assert tuple(y.shape) == (0, 12)


def test_one_chunk_when_rows_fit(rng):
    _check(rng, contraction.Plan((2, 2), "ltr", "chunked"), 5)


def test_chunk_rows_cover_the_batch():
    rows = chunked.chunk_rows(1000, 37)  # 4 kB per row, 1 MiB chunks
    assert rows == 37
    bounds = chunked._bounds(37, 5)
    covered = [i for s, e in bounds for i in range(s, e)]
    assert covered == list(range(37))
    assert chunked.chunk_rows(10**9, 8) == 1  # never zero rows
    assert chunked._bounds(None, chunked.chunk_rows(10, None)) == [(None, None)]


def test_core_gradients_without_input_gradient(rng, tiny_chunks):
    # x is data (no gradient): torch skips the input gradient entirely.
    plan = contraction.Plan((2, 2), "rtl", "chunked")
    cores = random_cores(rng, INS, OUTS, RANKS)
    x = rng.standard_normal((6, 24))
    g = rng.standard_normal((6, 12))
    want = _core_grads_reference(x, g, cores)
    if BACKEND == "torch":
        import torch

        cs = [
            torch.tensor(c, dtype=torch.float32, requires_grad=True)
            for c in cores
        ]
        xt = torch.tensor(x, dtype=torch.float32)
        assert not chunked.runtime.needs_gradient(xt)
        (tt.matmul(xt, cs, plan) * torch.tensor(g).float()).sum().backward()
        got = [c.grad.numpy() for c in cs]
    else:
        got = _grad(
            lambda x_, cs: keras.ops.sum(
                tt.matmul(keras.ops.stop_gradient(x_), cs, plan) * _tensor(g)
            ),
            x,
            cores,
        )[1:]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("direction", ["ltr", "rtl"])
def test_layer_fit_with_symbolic_batch(rng, tiny_chunks, direction):
    # model.fit traces with an unknown batch on TensorFlow (one chunk)
    # and with the concrete batch on JAX/torch (several chunks): the
    # weights after one SGD step must match the float64 reference.
    plan = f"{direction}[2,2]/chunked"
    cores = random_cores(rng, INS, OUTS, RANKS)
    x = rng.standard_normal((7, 24)).astype("float32")
    y = rng.standard_normal((7, 12)).astype("float32")
    layer = TTDense(INS, OUTS, RANKS, use_bias=False, tt_strategy=plan)
    model = keras.Sequential([keras.Input((24,)), layer])
    layer.set_weights([c.astype("float32") for c in cores])
    lr = 0.01
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    model.fit(x, y, batch_size=7, epochs=1, verbose=0, shuffle=False)
    # d mean((xW - y)^2) / dW = 2 x^T (xW - y) / (B * N)
    w = dense_from_cores(cores)
    g = 2 * (x @ w - y) / y.size
    grads = _core_grads_reference(x.astype(np.float64), g, cores)
    for got, core, grad in zip(layer.get_weights(), cores, grads):
        np.testing.assert_allclose(got, core - lr * grad, rtol=1e-4, atol=1e-5)
    assert layer.get_config()["tt_strategy"] == plan
    np.testing.assert_allclose(
        model.predict(x, batch_size=3, verbose=0),
        x @ dense_from_weights(layer),
        rtol=1e-4,
        atol=1e-4,
    )


def dense_from_weights(layer):
    return dense_from_cores([np.asarray(w) for w in layer.get_weights()])


def test_jit_compiled_training_step(rng, tiny_chunks):
    if BACKEND == "torch":
        pytest.skip("jit_compile is XLA's (JAX, TensorFlow)")
    layer = TTDense(
        INS, OUTS, RANKS, tt_strategy="ltr[2,2]/chunked", use_bias=False
    )
    model = keras.Sequential([keras.Input((24,)), layer])
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    x = rng.standard_normal((8, 24)).astype("float32")
    before = [np.array(w) for w in layer.get_weights()]
    model.fit(x, x[:, :12], batch_size=8, epochs=1, verbose=0)
    after = layer.get_weights()
    assert all(np.abs(a - b).max() > 0 for a, b in zip(after, before))


class TestPlanNames:
    def test_parse_round_trip(self):
        for plan in plan_lib.candidate_plans(4):
            if not plan.is_dense:
                assert contraction.parse_plan(plan.name) == plan

    @pytest.mark.parametrize(
        "name, match",
        [
            ("ltr[2,2]", "looks like"),
            ("up[2,2]/chunked", "looks like"),
            ("ltr[2,x]/chunked", "looks like"),
            ("ltr[2,2]/sideways", "layout"),
            ("ltr[1,1,2]/chunked", "exactly two groups"),
        ],
    )
    def test_bad_names(self, name, match):
        with pytest.raises(ValueError, match=match):
            contraction.parse_plan(name)

    def test_layer_rejects_a_bad_plan_name(self):
        with pytest.raises(ValueError, match="tt_strategy"):
            TTDense((2, 2), (2, 2), 2, tt_strategy="ltr[1,1,1]/chunked")


def test_mixed_bfloat16_training_step_matches_float32(rng, tiny_chunks):
    # The hand-written backward runs in the compute dtype (bfloat16) and
    # returns gradients the optimizer applies to float32 cores.
    cores = [c.astype("float32") for c in random_cores(rng, INS, OUTS, RANKS)]
    x = rng.standard_normal((7, 24)).astype("float32")
    y = rng.standard_normal((7, 12)).astype("float32")
    steps = {}
    for policy in ("float32", "mixed_bfloat16"):
        layer = TTDense(
            INS,
            OUTS,
            RANKS,
            use_bias=False,
            dtype=policy,
            tt_strategy="rtl[2,2]/chunked",
        )
        model = keras.Sequential([keras.Input((24,)), layer])
        layer.set_weights(cores)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.fit(x, y, batch_size=7, epochs=1, verbose=0)
        steps[policy] = [
            np.asarray(w, np.float64) - c
            for w, c in zip(layer.get_weights(), cores)
        ]
    for low, full in zip(steps["mixed_bfloat16"], steps["float32"]):
        assert np.abs(full).max() > 0
        np.testing.assert_allclose(
            low, full, rtol=0.1, atol=0.05 * np.abs(full).max()
        )

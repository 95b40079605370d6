import string

import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import random_cores
from tests.helpers import to_numpy
from tests.tt.test_ops import _grad
from ttrnn import TTDense
from ttrnn import tt
from ttrnn.tt import contraction
from ttrnn.tt.contraction import contract
from ttrnn.tt.contraction import cost
from ttrnn.tt.contraction import measure
from ttrnn.tt.contraction import plan as plan_lib

BACKEND = keras.backend.backend()
SHAPES = [
    ((2, 3, 2), (3, 2, 2), (1, 2, 3, 1)),
    ((3, 2, 2, 2), (2, 2, 1, 3), (1, 2, 3, 2, 1)),
]


def _tensors(arrays):
    return [keras.ops.convert_to_tensor(a, dtype="float32") for a in arrays]


def ops_x_as_it_lies(ins, outs, ranks, groups):
    """Whether the last merged core of `groups` shrinks x (r n <= m)."""
    start = len(ins) - groups[-1]
    m, n = int(np.prod(ins[start:])), int(np.prod(outs[start:]))
    return ranks[start] * n <= m


def _plan_ids(plans):
    return [p.name for p in plans]


def _core_grads_reference(x, g, cores):
    """dL/dG_k of L = sum(g * (x @ W)) by float64 einsum (no ttrnn code).

    L = sum_{I,J} C[I, J] W[I, J] with C = x^T g, so dL/dG_k is C
    contracted with every other core.
    """
    cores = [np.asarray(c, np.float64) for c in cores]
    d = len(cores)
    letters = iter(string.ascii_letters)
    rk = [next(letters) for _ in range(d + 1)]
    rows = [next(letters) for _ in range(d)]
    cols = [next(letters) for _ in range(d)]
    terms = [rk[k] + rows[k] + cols[k] + rk[k + 1] for k in range(d)]
    c = (x.T @ g).reshape(
        [s.shape[1] for s in cores] + [s.shape[2] for s in cores]
    )
    c_term = "".join(rows) + "".join(cols)
    grads = []
    for k in range(d):
        others = [t for j, t in enumerate(terms) if j != k]
        args = [cores[j] for j in range(d) if j != k]
        # r_0 = r_d = 1 appear in one core only: drop them, then reshape.
        out = terms[k].replace(rk[0], "").replace(rk[d], "")
        expr = ",".join([c_term] + others) + "->" + out
        grads.append(np.einsum(expr, c, *args).reshape(cores[k].shape))
    return grads


class TestPlans:
    @pytest.mark.parametrize("ins, outs, ranks", SHAPES)
    def test_every_plan_matches_dense(self, rng, ins, outs, ranks):
        cores = random_cores(rng, ins, outs, ranks)
        x = rng.standard_normal((5, int(np.prod(ins))))
        expected = x @ dense_from_cores(cores)
        for plan in plan_lib.candidate_plans(len(ins)):
            got = to_numpy(tt.matmul(*_tensors([x]), _tensors(cores), plan))
            np.testing.assert_allclose(
                got, expected, rtol=1e-4, atol=1e-4, err_msg=plan.name
            )

    @pytest.mark.parametrize(
        "plan",
        plan_lib.candidate_plans(3),
        ids=_plan_ids(plan_lib.candidate_plans(3)),
    )
    def test_every_plan_gradients(self, rng, plan):
        ins, outs, ranks = SHAPES[0]
        cores = random_cores(rng, ins, outs, ranks)
        x = rng.standard_normal((4, 12))
        g = rng.standard_normal((4, 12))  # upstream gradient
        grads = _grad(
            lambda x_, cs: keras.ops.sum(
                tt.matmul(x_, cs, plan)
                * keras.ops.convert_to_tensor(g, dtype="float32")
            ),
            x,
            cores,
        )
        w = dense_from_cores(cores)
        np.testing.assert_allclose(grads[0], g @ w.T, rtol=1e-4, atol=1e-4)
        for got, want in zip(grads[1:], _core_grads_reference(x, g, cores)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)

    @pytest.mark.parametrize("groups", [(1, 1, 1), (1, 2), (2, 1)])
    def test_tall_skinny_rtl_batch_last(self, rng, groups):
        # The last (merged) core shrinks x (r n <= m): the sweep starts
        # on x untransposed, with the backend's operand order.
        ins, outs, ranks = (2, 6, 8), (2, 2, 1), (1, 2, 2, 1)
        plan = contraction.Plan(groups, "rtl", "batch_last")
        assert ops_x_as_it_lies(ins, outs, ranks, groups)
        cores = random_cores(rng, ins, outs, ranks)
        x = rng.standard_normal((5, 96))
        g = rng.standard_normal((5, 4))
        grads = _grad(
            lambda x_, cs: keras.ops.sum(
                tt.matmul(x_, cs, plan)
                * keras.ops.convert_to_tensor(g, dtype="float32")
            ),
            x,
            cores,
        )
        w = dense_from_cores(cores)
        got = to_numpy(tt.matmul(*_tensors([x]), _tensors(cores), plan))
        np.testing.assert_allclose(got, x @ w, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(grads[0], g @ w.T, rtol=1e-4, atol=1e-4)
        for got, want in zip(grads[1:], _core_grads_reference(x, g, cores)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)

    def test_tall_skinny_plan_with_symbolic_batch(self, rng):
        ins, outs, ranks = (2, 6, 8), (2, 2, 1), (1, 2, 2, 1)
        plan = contraction.Plan((1, 2), "rtl", "batch_last")
        cores = random_cores(rng, ins, outs, ranks)
        tensors = _tensors(cores)
        inputs = keras.Input((96,))
        outputs = keras.layers.Lambda(
            lambda t: tt.matmul(t, tensors, plan), output_shape=(4,)
        )(inputs)
        model = keras.Model(inputs, outputs)
        x = rng.standard_normal((3, 96)).astype("float32")
        np.testing.assert_allclose(
            to_numpy(model.predict(x, verbose=0)),
            x @ dense_from_cores(cores),
            rtol=1e-4,
            atol=1e-4,
        )

    def test_reference_core_gradient_by_finite_differences(self, rng):
        # Checks the test's own reference once against finite differences.
        ins, outs, ranks = SHAPES[0]
        cores = random_cores(rng, ins, outs, ranks)
        x, g = rng.standard_normal((3, 12)), rng.standard_normal((3, 12))
        ref = _core_grads_reference(x, g, cores)
        idx = (1, 2, 1, 0)
        plus = [c.copy() for c in cores]
        minus = [c.copy() for c in cores]
        plus[1][idx] += 1e-6
        minus[1][idx] -= 1e-6
        fd = (
            np.sum(g * (x @ dense_from_cores(plus)))
            - np.sum(g * (x @ dense_from_cores(minus)))
        ) / 2e-6
        np.testing.assert_allclose(ref[1][idx], fd, rtol=1e-5)

    @pytest.mark.parametrize("strategy", tt.STRATEGIES)
    def test_named_strategies_and_leading_dims(self, rng, strategy):
        ins, outs, ranks = SHAPES[1]
        cores = random_cores(rng, ins, outs, ranks)
        x = rng.standard_normal((2, 3, 24))
        got = to_numpy(tt.matmul(*_tensors([x]), _tensors(cores), strategy))
        np.testing.assert_allclose(
            got, x @ dense_from_cores(cores), rtol=1e-4, atol=1e-4
        )

    def test_plan_validation(self, rng):
        with pytest.raises(
            ValueError, match=r"`groups`.*Received: groups=\(\)"
        ):
            contraction.Plan(())
        with pytest.raises(ValueError, match="`direction`.*Received: dir"):
            contraction.Plan((1, 1), "up")
        with pytest.raises(ValueError, match="`layout`.*Received: layout="):
            contraction.Plan((1, 1), "ltr", "diagonal")
        cores = _tensors(random_cores(rng, (2, 2), (2, 2), (1, 2, 1)))
        with pytest.raises(ValueError, match=r"d = 2\. Received: groups="):
            tt.matmul(keras.ops.ones((1, 4)), cores, contraction.Plan((1, 2)))

    def test_plan_names(self):
        assert plan_lib.dense_plan(3).name == "dense"
        assert contraction.Plan((1, 2), "rtl", "batch_last").name == (
            "rtl[1,2]/batch_last"
        )
        # 2^(d-1) - 1 group splits x 2 directions x 2 layouts, the 3
        # two-group splits x 2 directions chunked, and dense.
        assert len(plan_lib.candidate_plans(4)) == 7 * 4 + 3 * 2 + 1
        assert len(plan_lib.candidate_plans(4, "ltr")) == 2
        assert len(plan_lib.candidate_plans(2, "ltr")) == 3
        assert contraction.Plan((1, 3), "rtl", "chunked").name == (
            "rtl[1,3]/chunked"
        )


class TestChoosePlan:
    def test_costs_prefer_fewer_flops_for_big_products(self):
        # Case D of the benchmarks: merging pairs halves the FLOPs.
        plan = contraction.choose_plan((8,) * 4, (8,) * 4, 16, 512)
        assert plan.groups == (2, 2)
        flops = cost.plan_flops(
            plan, (8,) * 4, (8,) * 4, (1,) + (16,) * 3 + (1,), 512
        )
        assert flops < 0.6 * 512 * 4096 * 4096

    def test_flops_strategy_is_flop_minimal(self):
        ins, outs, ranks = (4, 8, 8, 4), (4, 8, 8, 4), (1, 8, 8, 8, 1)
        best = contraction.choose_plan(ins, outs, ranks, 256, "flops")
        flops = [
            cost.plan_flops(p, ins, outs, ranks, 256)
            for p in plan_lib.candidate_plans(4)
        ]
        assert cost.plan_flops(best, ins, outs, ranks, 256) == min(flops)

    def test_cache_and_unknown_batch(self):
        contraction.clear_cache()
        a = contraction.choose_plan((4, 4), (4, 4), 2, None)
        b = contraction.choose_plan(
            (4, 4), (4, 4), 2, contraction.DEFAULT_PLANNING_BATCH
        )
        assert a == b
        assert len(contract._CACHE) == 1
        # A new cost model: the cached plan of the old one is not reused.
        contraction.set_cost_model(contraction.get_cost_model())
        contraction.choose_plan((4, 4), (4, 4), 2, None)
        assert len(contract._CACHE) == 2

    def test_cost_model_counts_backward(self):
        model = contraction.CostModel(
            op_time=0, mac_time=1, byte_time=0, batch_time=0
        )
        ops_ = [("mm", 2, 3, 4, 1)]
        assert model.cost(ops_, backward=False) == 24
        assert model.cost(ops_) == 72

    def test_estimate_orders_dense_last_for_small_batch(self):
        ins, outs, ranks = (8, 20, 20, 18), (4, 4, 4, 12), (1, 4, 4, 4, 1)
        dense = cost.estimate(plan_lib.dense_plan(4), ins, outs, ranks, 16)
        best = contraction.choose_plan(ins, outs, ranks, 16)
        assert cost.estimate(best, ins, outs, ranks, 16) < dense / 5

    def test_calibrate_fits_positive_constants(self):
        old = contraction.get_cost_model()
        try:
            model = contraction.calibrate(
                cases=(((2, 3), (3, 2), 2, 4), ((2, 2, 2), (2, 2, 2), 2, 8)),
                repeats=1,
                max_plans=4,
            )
            assert isinstance(model, contraction.CostModel)
            values = [
                model.op_time,
                model.mac_time,
                model.byte_time,
                model.batch_time,
            ]
            assert all(v > 0 for v in values)
            assert contraction.get_cost_model() is model
        finally:
            contraction.set_cost_model(old)


def test_dynamic_batch_inside_compiled_function(rng):
    ins, outs, ranks = SHAPES[1]
    cores = random_cores(rng, ins, outs, ranks)
    x = rng.standard_normal((7, 24)).astype("float32")
    layer = TTDense(ins, outs, ranks, use_bias=False, tt_strategy="auto")
    model = keras.Sequential([keras.Input((24,)), layer])
    layer.set_weights([c.astype("float32") for c in cores])
    # predict compiles the model with an unknown batch on every backend.
    got = model.predict(x, batch_size=4, verbose=0)
    np.testing.assert_allclose(
        got, x @ dense_from_cores(cores), rtol=1e-4, atol=1e-4
    )
    if BACKEND == "tensorflow":
        import tensorflow as tf

        fn = tf.function(
            lambda v: tt.matmul(v, layer.cores, "ltr"),
            input_signature=[tf.TensorSpec((None, 24), "float32")],
        )
        np.testing.assert_allclose(
            to_numpy(fn(x)), x @ dense_from_cores(cores), rtol=1e-4, atol=1e-4
        )


class TestMeasuredPlans:
    """strategy="measure": the fastest of a few plans, timed once."""

    @pytest.fixture(autouse=True)
    def _few_plans(self, monkeypatch):
        monkeypatch.setattr(measure, "MEASURED_BY_MODEL", 2)
        monkeypatch.setattr(measure, "MEASURED_BY_FLOPS", 1)
        contraction.clear_cache()
        yield
        contraction.clear_cache()

    def test_picks_a_timed_candidate_and_caches_it(self, monkeypatch):
        ins, outs, ranks = (2, 3, 2), (3, 2, 2), (1, 2, 3, 1)
        timed = []

        def fake_time(plans, *args, **kwargs):
            timed.append(list(plans))
            # The last candidate is "fastest": it must be the choice.
            return [1.0] * (len(plans) - 1) + [0.5]

        monkeypatch.setattr(measure, "time_plans", fake_time)
        plan = contraction.choose_plan(ins, outs, ranks, 5, "measure")
        assert len(timed) == 1 and plan == timed[0][-1]
        assert 2 <= len(timed[0]) <= 3
        assert contraction.choose_plan(ins, outs, ranks, 5, "measure") == plan
        assert len(timed) == 1  # cached

    def test_real_timing_matches_dense(self, rng):
        ins, outs, ranks = SHAPES[1]
        cores = random_cores(rng, ins, outs, ranks)
        x = rng.standard_normal((6, 24))
        got = tt.matmul(*_tensors([x]), _tensors(cores), "measure")
        np.testing.assert_allclose(
            to_numpy(got), x @ dense_from_cores(cores), rtol=1e-4, atol=1e-4
        )

    def test_layer_times_outside_traced_training(self, rng, monkeypatch):
        calls = []
        measured = contraction.measured_plan

        def counting(*args, **kwargs):
            calls.append(args)
            return measured(*args, **kwargs)

        monkeypatch.setattr(measure, "measured_plan", counting)
        ins, outs, ranks = SHAPES[1]
        layer = TTDense(ins, outs, ranks, tt_strategy="measure")
        model = keras.Sequential([keras.Input((24,)), layer])
        assert calls == []  # shape inference times nothing
        model.compile(optimizer="sgd", loss="mse")
        x = rng.standard_normal((8, 24)).astype("float32")
        # Trained under jax.jit / tf.function / torch autograd: the
        # timing runs eagerly beside the trace.
        model.fit(x, x[:, :12], batch_size=8, epochs=1, verbose=0)
        assert calls
        np.testing.assert_allclose(
            model.predict(x, verbose=0),
            x
            @ dense_from_cores(
                [np.asarray(w) for w in layer.get_weights()[:-1]]
            )
            + layer.get_weights()[-1],
            rtol=1e-4,
            atol=1e-4,
        )


def test_backend_cost_models_scale_only_chunked_plans():
    ins, outs, ranks = (8,) * 4, (8,) * 4, (1, 16, 16, 16, 1)
    base = contraction.CostModel()
    jax_model = cost.default_cost_model("jax")
    assert cost.default_cost_model("torch") == base
    chunked_ops = cost.plan_ops(
        contraction.parse_plan("ltr[2,2]/chunked"), ins, outs, ranks, 512
    )
    merges = [op for op in chunked_ops if op[0] != "chunked"]
    kernel = [op for op in chunked_ops if op[0] == "chunked"]
    expected = base.cost(merges) + jax_model.chunked_scale * base.cost(kernel)
    assert jax_model.chunked_scale > 1
    assert jax_model.cost(chunked_ops) == pytest.approx(expected)
    plain = cost.plan_ops(
        contraction.parse_plan("ltr[2,2]/batch_first"), ins, outs, ranks, 1
    )
    assert jax_model.cost(plain) == pytest.approx(base.cost(plain))


def _mirror_plans(backend):
    """Modelled seconds of ltr and rtl [2,2]/batch_last for case D."""
    ins, outs, ranks = (8,) * 4, (8,) * 4, (1, 16, 16, 16, 1)
    model = cost.default_cost_model(backend)
    return [
        model.cost(
            cost.plan_ops(
                contraction.parse_plan(f"{d}[2,2]/batch_last"),
                ins,
                outs,
                ranks,
                512,
            )
        )
        for d in ("ltr", "rtl")
    ]


def test_batched_operands_break_the_mirror_tie_on_jax():
    # Case D: the two plans have the same multiply-adds, writes and batch
    # entries; ltr's batched step streams (1024, 512) operands per product
    # for 64 rows, rtl's (64, 512) for 1,024 rows.
    ltr, rtl = _mirror_plans("jax")
    assert rtl < ltr
    assert _mirror_plans("torch")[0] == pytest.approx(_mirror_plans("torch")[1])
    features = cost.CostModel().features([("mm", 64, 1024, 512, 64)])
    # forward (1024, 512), backward g (64, 512) and x^T (512, 1024), x 64.
    assert features[4] == 64 * 512 * (1024 + 64 + 1024)
    assert cost.CostModel().features([("mm", 64, 1024, 512, 1)])[4] == 0


@pytest.mark.parametrize(
    "case, plan",
    [
        (((4, 8, 8, 4), (4, 8, 8, 4), 8, 256), "rtl[2,2]/batch_last"),
        (((8, 20, 20, 18), (4, 4, 4, 12), 4, 96), "ltr[2,2]/batch_first"),
        (((2, 7, 8, 8, 7, 4), (4,) * 6, 4, 64), "rtl[2,1,3]/batch_first"),
        (((8, 8, 8, 8), (8, 8, 8, 8), 16, 512), "rtl[2,2]/batch_last"),
    ],
)
def test_jax_model_picks_for_the_benchmark_cases(case, plan):
    # The plans measured fastest on JAX among the model's best two
    # (RESULTS.md, "Kernel-layout conv at rank 97 and case D on JAX").
    ins, outs, rank, batch = case
    ranks = (1,) + (rank,) * (len(ins) - 1) + (1,)
    model = cost.default_cost_model("jax")  # JAX's CPU model, any backend
    got = min(
        plan_lib.candidate_plans(len(ins)),
        key=lambda p: model.cost(cost.plan_ops(p, ins, outs, ranks, batch)),
    )
    assert got.name == plan


def _reads_x_as_it_lies(plan, modes):
    ins, outs, ranks, _ = modes
    return (
        not plan.is_dense
        and plan.direction == "rtl"
        and plan.layout == "batch_last"
        and ops_x_as_it_lies(ins, outs, ranks, plan.groups)
    )


@pytest.mark.parametrize("strategy", ["auto", "flops"])
@pytest.mark.parametrize("backend", ["jax", "tensorflow", "torch"])
def test_bfloat16_on_jax_takes_a_plan_that_reads_x_as_it_lies(
    strategy, backend
):
    # TTDense on uint8 frames in chunks of 72 rows. In bfloat16 only a
    # first GEMM on x gets float32 accumulation; any other plan runs in
    # bfloat16 throughout, which only XLA runs slowly.
    modes = ((8, 20, 20, 18), (4, 4, 4, 4), (1, 4, 4, 4, 1), 72)
    f32 = contract.choose_plan(*modes, strategy, "float32", backend)
    low = contract.choose_plan(
        *modes, strategy, "float32", backend, precision="bfloat16"
    )
    if backend != "jax" or _reads_x_as_it_lies(f32, modes):
        assert low == f32
    else:
        assert _reads_x_as_it_lies(low, modes)


def test_float32_choice_differs_there():
    # The control: the case above is one where the choice changes.
    modes = ((8, 20, 20, 18), (4, 4, 4, 4), (1, 4, 4, 4, 1), 72)
    f32 = contract.choose_plan(*modes, "auto", "float32", "jax")
    assert not _reads_x_as_it_lies(f32, modes)


def test_bfloat16_without_such_a_plan_keeps_the_float32_choice():
    # The last core (r 8, m 2, n 4) grows x at every grouping.
    modes = ((2, 2), (4, 4), (1, 8, 1), 64)
    f32 = contract.choose_plan(*modes, "auto", "float32", "jax")
    low = contract.choose_plan(
        *modes, "auto", "float32", "jax", precision="bfloat16"
    )
    assert low == f32

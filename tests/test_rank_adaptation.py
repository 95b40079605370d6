"""Rank-adaptive training: ttrnn.adapt_ranks and RankAdaptation."""

import keras
import numpy as np
import pytest
from keras import ops

import ttrnn
from ttrnn import tt
from ttrnn.rank_adaptation import tt_params
from ttrnn.tt import adaptive


def _numpy(cores):
    return [ops.convert_to_numpy(c).astype(np.float64) for c in cores]


def _model(layout="separate", regularizer=None):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 24))
    x = ttrnn.TTGRU(
        (2, 3, 4),
        (2, 2, 2),
        tt_ranks=(1, 4, 5, 1),
        tt_gate_layout=layout,
        return_sequences=False,
    )(inputs)
    x = ttrnn.TTDense(
        (2, 2, 2), (3, 2, 2), tt_ranks=3, kernel_regularizer=regularizer
    )(x)
    return keras.Model(inputs, x)


def _data(n=32):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 6, 24)).astype("float32")
    return x, rng.standard_normal((n, 12)).astype("float32")


def _fit(model, optimizer=None, epochs=1, **kwargs):
    if getattr(model, "optimizer", None) is None or optimizer is not None:
        model.compile(optimizer or keras.optimizers.Adam(1e-2), "mse")
    x, y = _data()
    return model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, **kwargs)


def _chains(model):
    out = []
    for layer in ttrnn.rank_adaptation.tt_layers(model):
        shapes = [tuple(c.shape) for c in layer.cores]
        out += [layer.cores[a:b] for a, b in adaptive.chains(shapes)]
    return out


def _zero_outside(cores, ranks):
    for k, core in enumerate(_numpy(cores)):
        if np.any(core[ranks[k] :]) or np.any(core[..., ranks[k + 1] :]):
            return False
    return True


@pytest.mark.parametrize("layout", ["shared", "separate"])
def test_adapted_cores_are_the_rounded_cores(layout):
    model = _model(layout)
    _fit(model)
    before = [_numpy(c) for c in _chains(model)]
    budget = tt_params(model, effective=False) // 2
    report = ttrnn.adapt_ranks(model, target_params=budget)
    assert report["params"] == tt_params(model) <= budget
    for old, new in zip(before, _chains(model)):
        ranks = tt.effective_ranks(new)
        ref = tt.round_cores(old, max_rank=list(ranks))
        np.testing.assert_allclose(
            ops.convert_to_numpy(tt.to_dense(new)),
            ops.convert_to_numpy(tt.to_dense(ref)),
            atol=1e-5,
        )
        assert _zero_outside(new, ranks)
    # Exactly: no single rank more fits in the budget (in every gate at
    # once for the separate layout's gates, which keep equal ranks).
    for layer in ttrnn.rank_adaptation.tt_layers(model):
        shapes = [tuple(c.shape) for c in layer.cores]
        bounds = adaptive.chains(shapes)
        chain = layer.cores[bounds[0][0] : bounds[0][1]]
        ranks = tt.effective_ranks(chain)
        sizes = [c.shape[1] * c.shape[2] for c in chain]
        for k in range(1, len(ranks) - 1):
            if ranks[k] < chain[k].shape[0]:
                cost = ranks[k - 1] * sizes[k - 1] + sizes[k] * ranks[k + 1]
                assert report["params"] + len(bounds) * cost > budget


def test_separate_gates_keep_equal_ranks():
    # The gates share the layer's `tt_ranks`: unequal ranks would be
    # padded back to the largest when the model is exported, over budget
    # (here per-gate ranks 3,3 / 2,4 / 2,3 exported 398 weights for 297).
    model = _model("separate")
    _fit(model)
    x = _data()[0]
    budget = tt_params(model, effective=False) // 2
    report = ttrnn.adapt_ranks(model, target_params=budget)
    gru = model.layers[1]
    gates = [tt.effective_ranks(c) for c in _chains(gru)]
    assert len(gates) == 3 and gates[0] == gates[1] == gates[2]
    small = ttrnn.callbacks.export_adapted(model)
    exported = sum(int(np.prod(c.shape)) for c in tt_layers_cores(small))
    assert exported == report["params"] <= budget
    np.testing.assert_allclose(
        ops.convert_to_numpy(small(x)),
        ops.convert_to_numpy(model(x)),
        atol=1e-4,
    )


def tt_layers_cores(model):
    layers = ttrnn.rank_adaptation.tt_layers(model)
    return [c for layer in layers for c in layer.cores]


def test_compression_target():
    model = _model()
    model.build((None, 6, 24))
    dense = 24 * 3 * 8 + 8 * 12
    report = ttrnn.adapt_ranks(model, target_compression=4)
    assert report["target_params"] == dense // 4
    assert report["params"] <= dense // 4


def _slots(optimizer, var):
    prefix = var.path.replace("/", "_") + "_"
    return {
        v.name[len(prefix) :]: v
        for v in optimizer.variables
        if v.name.startswith(prefix)
        and v.name[len(prefix) :]
        in (
            "momentum",
            "velocity",
        )
    }


def test_reset_zeroes_the_moments():
    model = _model("shared")
    _fit(model)
    ttrnn.adapt_ranks(model, target_params=tt_params(model) // 2)
    for var in model.layers[-1].cores:
        for slot in _slots(model.optimizer, var).values():
            assert not np.any(ops.convert_to_numpy(slot))


def test_adam_moments_follow_the_cores():
    model = _model("shared")
    _fit(model)
    opt = model.optimizer
    layer = model.layers[-1]
    old = _numpy(layer.cores)
    old_m = [_numpy([_slots(opt, v)["momentum"]])[0] for v in layer.cores]
    ttrnn.adapt_ranks(
        model, target_params=tt_params(model) // 2, moments="project"
    )
    ranks = tt.effective_ranks(layer.cores)
    new = _numpy(layer.cores)
    _, maps = adaptive.truncate(old, ranks)
    for k, var in enumerate(layer.cores):
        slots = _slots(opt, var)
        m, v = (_numpy([slots[n]])[0] for n in ("momentum", "velocity"))
        assert _zero_outside([m], ranks[k : k + 2])
        assert _zero_outside([v], ranks[k : k + 2])
        assert np.all(v >= 0) and np.any(v > 0)
        # The first moment maps as a gradient: A_k^T m pinv(A_{k+1})^T.
        ref = np.einsum(
            "ai,amnb,bj->imnj",
            maps[k],
            old_m[k],
            np.linalg.pinv(maps[k + 1]).T,
        )
        r, r_next = ref.shape[0], ref.shape[3]
        np.testing.assert_allclose(
            m[:r, :, :, :r_next], ref, rtol=1e-4, atol=1e-7
        )
    assert [c.shape for c in new] == [c.shape for c in old]


@pytest.mark.parametrize(
    "optimizer,regularizer",
    [
        ("adam", None),
        ("adamw", None),
        ("sgd", "l2"),
    ],
)
def test_zeros_stay_zero_through_fit(optimizer, regularizer):
    model = _model("separate", regularizer)
    opt = {
        "adam": keras.optimizers.Adam(1e-2),
        "adamw": keras.optimizers.AdamW(1e-2, weight_decay=0.1),
        "sgd": keras.optimizers.SGD(1e-2, momentum=0.9),
    }[optimizer]
    _fit(model, opt)
    ttrnn.adapt_ranks(model, target_params=tt_params(model) // 3)
    ranks = [tt.effective_ranks(c) for c in _chains(model)]
    _fit(model, epochs=2)
    for chain, rank in zip(_chains(model), ranks):
        assert _zero_outside(chain, rank)
        assert tt.effective_ranks(chain) == rank


def test_callback_keeps_zeros_under_l1():
    """L1's gradient at 0 is 1 on JAX: the callback zeroes dead slices
    again at every epoch end."""
    model = _model("separate", "l1")
    adapt = ttrnn.callbacks.RankAdaptation(
        target_params=tt_params(model, effective=False) // 3, stages=1
    )
    _fit(model, epochs=3, callbacks=[adapt])
    ranks = adapt.schedule[0]["ranks"]
    for layer in ttrnn.rank_adaptation.tt_layers(model):
        assert (
            list(ttrnn.rank_adaptation.layer_ranks(layer)) == ranks[layer.name]
        )
    assert tt_params(model) == adapt.schedule[0]["params"]


def test_callback_schedule_save_and_resume(tmp_path):
    model = _model("separate")
    start = tt_params(model, effective=False)
    target = start // 3
    adapt = ttrnn.callbacks.RankAdaptation(
        target_params=target, warmup=1, every=1, stages=3
    )
    history = _fit(model, epochs=2, callbacks=[adapt])
    assert len(history.history["loss"]) == 2
    assert [s["epoch"] for s in adapt.schedule] == [1, 2]
    budgets = [s["target_params"] for s in adapt.schedule]
    assert budgets == [
        target + (start - target) * 2 // 3,
        target + (start - target) // 3,
    ]
    assert all(s["params"] <= s["target_params"] for s in adapt.schedule)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for a, b in zip(_chains(model), _chains(loaded)):
        assert tt.effective_ranks(a) == tt.effective_ranks(b)
    # Resume: the third stage runs after epoch 3, the target met exactly.
    resumed = ttrnn.callbacks.RankAdaptation(
        target_params=target, warmup=1, every=1, stages=3
    )
    _fit(loaded, epochs=4, initial_epoch=2, callbacks=[resumed])
    assert [s["epoch"] for s in resumed.schedule] == [3]
    assert resumed.schedule[0]["target_params"] == target
    assert tt_params(loaded) == resumed.schedule[0]["params"] <= target


def test_step_unit_and_eps():
    model = _model("shared")
    adapt = ttrnn.callbacks.RankAdaptation(
        eps=0.5, warmup=2, every=3, stages=2, unit="step"
    )
    _fit(model, epochs=2, callbacks=[adapt])  # 4 steps an epoch
    assert [s["step"] for s in adapt.schedule] == [2, 5]
    assert adapt.schedule[-1]["eps"] == 0.5
    assert tt_params(model) < tt_params(model, effective=False)


def test_export_adapted():
    model = _model("separate")
    _fit(model)
    ttrnn.adapt_ranks(model, target_params=tt_params(model) // 2)
    small = ttrnn.callbacks.export_adapted(model)
    x, _ = _data(4)
    np.testing.assert_allclose(
        small.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-4
    )
    for big_layer, layer in zip(
        ttrnn.rank_adaptation.tt_layers(model),
        ttrnn.rank_adaptation.tt_layers(small),
    ):
        assert layer.tt_ranks == ttrnn.rank_adaptation.layer_ranks(big_layer)
    assert small.count_params() < model.count_params()


@pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="a torch custom loop"
)
def test_torch_custom_loop():
    import torch

    model = _model("shared")
    model.build((None, 6, 24))
    params = [v.value for v in model.trainable_variables]
    opt = torch.optim.SGD(params, lr=1e-2)
    x, y = (torch.tensor(a) for a in _data())
    budget = tt_params(model) // 2
    for step in range(4):
        loss = torch.mean((model(x) - y) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 1:
            ttrnn.adapt_ranks(model, target_params=budget)
            ranks = [tt.effective_ranks(c) for c in _chains(model)]
    assert tt_params(model) <= budget
    assert [tt.effective_ranks(c) for c in _chains(model)] == ranks


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="a JAX stateless loop"
)
def test_jax_stateless_loop():
    import jax

    model = _model("shared")
    opt = keras.optimizers.Adam(1e-2)
    model.build((None, 6, 24))
    opt.build(model.trainable_variables)
    x, y = _data()

    def loss_fn(tv, ntv, x, y):
        pred, ntv = model.stateless_call(tv, ntv, x)
        return jax.numpy.mean((pred - y) ** 2), ntv

    grad_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in opt.variables],
    )
    budget = tt_params(model) // 2
    for step in range(4):
        tv, ntv, ov = state
        (_, ntv), grads = grad_fn(tv, ntv, x, y)
        tv, ov = opt.stateless_apply(ov, grads, tv)
        state = (tv, ntv, ov)
        if step == 1:  # write the state in, adapt, read it back
            for var, value in zip(model.trainable_variables, tv):
                var.assign(value)
            for var, value in zip(opt.variables, ov):
                var.assign(value)
            ttrnn.adapt_ranks(model, target_params=budget, optimizer=opt)
            state = (
                [v.value for v in model.trainable_variables],
                ntv,
                [v.value for v in opt.variables],
            )
            ranks = [tt.effective_ranks(c) for c in _chains(model)]
    for var, value in zip(model.trainable_variables, state[0]):
        var.assign(value)
    assert tt_params(model) <= budget
    assert [tt.effective_ranks(c) for c in _chains(model)] == ranks


def test_errors():
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="at least one built TT layer"):
        ttrnn.adapt_ranks(dense, target_params=10)
    model = _model()
    model.build((None, 6, 24))
    with pytest.raises(ValueError, match="Give exactly one of"):
        ttrnn.adapt_ranks(model, target_params=10, eps=0.1)
    with pytest.raises(ValueError, match="`target_params` must be at least"):
        ttrnn.adapt_ranks(model, target_params=10)
    with pytest.raises(ValueError, match="`target_params` must be an int"):
        ttrnn.adapt_ranks(model, target_params=10.5)
    with pytest.raises(ValueError, match="`moments` must be one of"):
        ttrnn.adapt_ranks(model, target_params=500, moments="x")
    with pytest.raises(ValueError, match="`target_compression` must be > 0"):
        ttrnn.adapt_ranks(model, target_compression=0)
    with pytest.raises(ValueError, match="`stages` must be an int >= 1"):
        ttrnn.callbacks.RankAdaptation(target_params=5, stages=0)
    with pytest.raises(ValueError, match='`unit` must be "epoch" or "step"'):
        ttrnn.callbacks.RankAdaptation(target_params=5, unit="batch")


@pytest.mark.parametrize(
    "cell_class, layout",
    [
        (ttrnn.TTGRUCell, "separate"),
        (ttrnn.TTLSTMCell, "shared"),
        (ttrnn.TTSimpleRNNCell, "shared"),
    ],
)
def test_export_adapted_bare_cell_in_keras_rnn(cell_class, layout, tmp_path):
    """A bare TT cell inside keras.layers.RNN: exported at its live ranks
    (core shapes), same outputs, the RNN's own settings kept."""
    keras.utils.set_random_seed(0)
    cell = cell_class(
        (2, 3, 4), (2, 2, 2), tt_ranks=(1, 4, 5, 1), tt_gate_layout=layout
    )
    inputs = keras.Input((6, 24))
    rnn = keras.layers.RNN(cell, return_sequences=True, name="rnn")
    model = keras.Model(inputs, keras.layers.Dense(3)(rnn(inputs)))
    model.compile("adam", "mse")
    x = np.random.default_rng(0).standard_normal((8, 6, 24)).astype("f4")
    ttrnn.adapt_ranks(model, target_params=tt_params(model) // 3)
    live = ttrnn.rank_adaptation.layer_ranks(cell)
    assert live != tuple(cell.tt_ranks)
    small = ttrnn.callbacks.export_adapted(model)
    layer = small.get_layer("rnn")
    assert type(layer) is keras.layers.RNN and layer.return_sequences
    assert type(layer.cell) is cell_class and layer.cell.name == cell.name
    assert layer.cell.tt_ranks == live
    core_ranks = [int(c.shape[0]) for c in layer.cell.core_groups[0]] + [1]
    assert tuple(core_ranks) == live
    assert small.count_params() == model.count_params() - (
        tt_params(model, effective=False) - tt_params(model)
    )
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(small.predict(x, verbose=0), expected, atol=1e-5)
    small.save(tmp_path / "small.keras")
    loaded = keras.saving.load_model(tmp_path / "small.keras")
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), expected, atol=1e-5
    )

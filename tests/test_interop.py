"""Framework-native use: a torch user or a JAX user needs no Keras calls
beyond building the model."""

import keras
import numpy as np
import pytest

from tests.helpers import dense_from_cores
from tests.helpers import to_numpy
from ttrnn import TTDense

BACKEND = keras.backend.backend()


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((128, 48)).astype("float32")
    y = (x @ rng.standard_normal((48, 30)) / 7).astype("float32")
    return x, y


@pytest.mark.skipif(BACKEND != "torch", reason="torch backend only")
def test_torch_module_trains_with_plain_torch_loop():
    import torch

    model = keras.Sequential(
        [keras.Input((48,)), TTDense((4, 6, 2), (3, 2, 5), 3)]
    )
    assert isinstance(model, torch.nn.Module)
    params = list(model.parameters())
    core_ids = {id(c.value) for c in model.layers[0].cores}
    assert core_ids <= {id(p) for p in params}
    x, y = map(torch.from_numpy, _problem())
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    before = [to_numpy(c) for c in model.layers[0].cores]
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    for b, c in zip(before, model.layers[0].cores):
        assert np.max(np.abs(b - to_numpy(c))) > 1e-3
    # The module's output is still x @ to_dense(cores) + b.
    cores = [to_numpy(c) for c in model.layers[0].cores]
    expected = x.numpy() @ dense_from_cores(cores) + to_numpy(
        model.layers[0].bias
    )
    np.testing.assert_allclose(
        model(x).detach().numpy(), expected, rtol=1e-4, atol=1e-4
    )


@pytest.mark.skipif(BACKEND != "jax", reason="jax backend only")
def test_jax_stateless_call_with_jax_grad():
    import jax
    import jax.numpy as jnp

    layer = TTDense((4, 6, 2), (3, 2, 5), 3)
    layer.build((None, 48))
    x, y = map(jnp.asarray, _problem())
    params = [v.value for v in layer.trainable_variables]

    def loss_fn(params):
        out, _ = layer.stateless_call(params, [], x)
        return jnp.mean((out - y) ** 2)

    step = jax.jit(
        lambda p: [w - 0.05 * g for w, g in zip(p, jax.grad(loss_fn)(p))]
    )
    first = float(loss_fn(params))
    for _ in range(200):
        params = step(params)
    assert float(loss_fn(params)) < 0.5 * first
    # The gradient of the bias is independent of the TT math: check it.
    grads = jax.grad(loss_fn)(params)
    out, _ = layer.stateless_call(params, [], x)
    np.testing.assert_allclose(
        np.asarray(grads[-1]),
        np.asarray(2 * jnp.mean(out - y, axis=0) * 1.0 / y.shape[1]) * 1,
        rtol=1e-4,
        atol=1e-6,
    )

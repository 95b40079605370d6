"""The random state of a training run, checkpointed with its weights.

A `.keras` file keeps a model's weights and optimiser state, but not the
state of its `keras.random.SeedGenerator`s (the dropout masks of
`keras.layers.Dropout` and of RNN cells' `dropout` and
`recurrent_dropout`): a loaded model draws new seeds. Nor does it keep
the global generators: torch's, from which Keras' torch backend draws the
dropout masks of a layer made without a `seed`, NumPy's and Python's.
`capture` takes them all after an epoch and `restore` puts them back into
the loaded model, so that a resumed run draws the masks the uninterrupted
run draws. The batch order needs nothing here: it is a function of the
seed and the epoch (`parallel.ArrayBatches`, `data.VideoSequence`).
TensorFlow's global seed is not kept: Keras draws nothing from it (its
TensorFlow backend runs stateless ops seeded by the `SeedGenerator`s).

The state is JSON: lists of ints, and the global generators' bytes as
hexadecimal text.
"""

import random

import keras
import numpy as np


def seed_states(model):
    """The state variables of `model`'s `SeedGenerator`s, in model order
    (`model.variables` less `model.weights`)."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def capture(model):
    """`model`'s random state and the global generators', as JSON data."""
    state = {
        "seed_generators": [
            keras.ops.convert_to_numpy(v).tolist() for v in seed_states(model)
        ],
        "python": _python_state(),
        "numpy": _numpy_state(),
    }
    if keras.backend.backend() == "torch":
        state["torch"] = _torch_state()
    return state


def restore(model, state):
    """Puts a `capture`d state back: into `model`'s `SeedGenerator`s (the
    same architecture) and the global generators.

    Raises:
        ValueError: if `model` has not as many `SeedGenerator`s as the
            state.
    """
    variables = seed_states(model)
    saved = state["seed_generators"]
    if len(saved) != len(variables):
        raise ValueError(
            f"The checkpoint's random state holds {len(saved)} seed "
            f"generator states; the model has {len(variables)}."
        )
    for variable, value in zip(variables, saved):
        dtype = keras.backend.standardize_dtype(variable.dtype)
        variable.assign(np.asarray(value, dtype=dtype))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(_ints(internal).tolist()), gauss))
    numpy = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            _ints(numpy["keys"]),
            numpy["pos"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    if "torch" in state and keras.backend.backend() == "torch":
        _set_torch_state(state["torch"])


def _python_state():
    version, internal, gauss = random.getstate()
    return [version, _hex(internal), gauss]


def _numpy_state():
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "keys": _hex(keys),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _torch_state():
    import torch

    state = {"cpu": torch.get_rng_state().numpy().tobytes().hex()}
    if torch.cuda.is_available():
        state["cuda"] = [
            s.numpy().tobytes().hex() for s in torch.cuda.get_rng_state_all()
        ]
    return state


def _set_torch_state(state):
    import torch

    def tensor(text):
        return torch.tensor(list(bytes.fromhex(text)), dtype=torch.uint8)

    torch.set_rng_state(tensor(state["cpu"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensor(s) for s in state["cuda"]])


def _hex(words):
    """32-bit words (a Mersenne Twister's state) as hexadecimal text."""
    return np.asarray(words, dtype="<u4").tobytes().hex()


def _ints(text):
    return np.frombuffer(bytes.fromhex(text), dtype="<u4").astype(np.int64)

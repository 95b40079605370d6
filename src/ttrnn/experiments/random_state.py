"""The random state of a training run, so that a resumed run draws what
the uninterrupted run draws.

Two kinds of state drive the dropout masks:

- The model's `keras.random.SeedGenerator`s (`keras.layers.Dropout`, the
  `dropout` and `recurrent_dropout` of RNN cells), whose state is a
  variable that every step advances. A `.keras` file does not keep it (a
  loaded model draws new seeds, on every backend): `capture` takes it
  after an epoch, for the checkpoint, and `restore` puts it back into the
  loaded model.
- The global generators: torch's, from which Keras' torch backend draws
  the masks of a layer made without a `seed`; NumPy's, Python's,
  TensorFlow's and Keras' global seed. Their streams are also drawn by
  Keras itself, a different number of times in a fresh `fit` and in a
  resumed one (each torch `DataLoader` iterator draws a seed, and `fit`
  makes an extra one to build the model). `EpochSeeds` therefore
  reseeds them at the start of every epoch from `(seed, epoch)`, so each
  epoch's draws depend on the seed and the epoch alone, as the batch
  order does (`parallel.ArrayBatches`, `data.VideoSequence`).
"""

import keras
import numpy as np


def seed_states(model):
    """The state variables of `model`'s `SeedGenerator`s, in model order
    (`model.variables` less `model.weights`)."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def capture(model):
    """`model`'s random state, as JSON data."""
    return {
        "seed_generators": [
            keras.ops.convert_to_numpy(v).tolist() for v in seed_states(model)
        ]
    }


def restore(model, state):
    """Puts a `capture`d state back into `model` (the same architecture).

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


def epoch_seed(seed, epoch):
    """The seed of the global generators in epoch `epoch` (0-based) of a
    run seeded `seed`: a 31-bit int."""
    state = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)
    return int(state[0] >> 1)


class EpochSeeds(keras.callbacks.Callback):
    """Makes an epoch's draws those of its number: when an epoch begins,
    seeds the global generators with `epoch_seed(seed, epoch)`
    (`keras.utils.set_random_seed`) and sets the data's epoch.

    The data's own count of epochs is off by one: Keras' `fit` calls a
    `PyDataset`'s `on_epoch_end` once before the first epoch too (it
    resets the iterator it built the model with).

    Args:
        seed: the run's seed.
        data: a dataset with `set_epoch(epoch)` (`parallel.ArrayBatches`,
            `data.VideoSequence`), or `None`.
    """

    def __init__(self, seed, data=None):
        super().__init__()
        self.seed = int(seed)
        self.data = data if hasattr(data, "set_epoch") else None

    def on_epoch_begin(self, epoch, logs=None):
        keras.utils.set_random_seed(epoch_seed(self.seed, epoch))
        if self.data is not None:
            self.data.set_epoch(epoch)

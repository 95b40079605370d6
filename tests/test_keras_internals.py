"""Canaries for the few private Keras names ttrnn relies on.

Each use has a fallback (a guarded import or `getattr` default), so a
Keras release that moves one does not break ttrnn at import; it loses a
refinement instead. These tests fail first, naming what moved, so the
next release is checked before the pin in pyproject.toml is raised.
"""

import sys

import keras


def test_symbolic_scope():
    # `tt.contraction.runtime.in_symbolic_build`: no plan timing during
    # Keras' shape inference.
    from keras.src.backend.common.symbolic_scope import in_symbolic_scope

    assert in_symbolic_scope() is False


def test_dropout_rnn_cell():
    # The TT-RNN cells subclass it so that keras.layers.RNN resets their
    # dropout masks.
    from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

    assert isinstance(keras.layers.GRUCell(2), DropoutRNNCell)


def test_initializer_seed():
    # `tt.initializers` keeps a Keras initialiser's int seed.
    init = keras.initializers.GlorotUniform(seed=7)
    assert init._init_seed == 7


def test_backend_config_module():
    # `_select_backend` asks an already imported Keras for its backend.
    config = sys.modules["keras.src.backend.config"]
    assert config.backend() == keras.backend.backend()


def test_functional_operations():
    # `compress` recognises functional models (subclasses included).
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert hasattr(model, "_operations")
    assert not hasattr(keras.layers.Dense(2), "_operations")

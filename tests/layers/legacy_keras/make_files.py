"""Writes the `.keras` files that `test_legacy_keras.py` loads.

Run once with the code of main at 896303c (before the TT-matrix spec),
from the repository root:

    KERAS_BACKEND=torch PYTHONPATH=src python \
        tests/layers/legacy_keras/make_files.py

It saves one tiny model per TT layer type, with "auto" ranks and modes
resolved from the input dim where the layer allows, and their outputs on
fixed inputs (`expected.npz`), computed by the saving code: the reference
the loading test compares against.
"""

import os

import keras
import numpy as np

import ttrnn

HERE = os.path.dirname(os.path.abspath(__file__))


def _models():
    """name -> (model, input array)."""
    rng = np.random.default_rng(0)
    seq = rng.standard_normal((2, 3, 12)).astype("float32")
    return {
        "tt_dense": (
            [
                keras.Input((12,)),
                ttrnn.TTDense(
                    units=6,
                    tt_ranks="auto",
                    tt_max_params=40,
                    bias_initializer="random_normal",
                ),
            ],
            rng.standard_normal((2, 12)).astype("float32"),
        ),
        "tt_embedding": (
            [
                keras.Input((3,), dtype="int32"),
                ttrnn.TTEmbedding(50, 6, tt_ranks="auto", tt_compression=3),
            ],
            np.array([[0, 7, 49], [3, 3, 20]], "int32"),
        ),
        "tt_conv2d": (
            [
                keras.Input((5, 5, 6)),
                ttrnn.TTConv2D(
                    filters=4,
                    kernel_size=3,
                    tt_ranks=2,
                    padding="same",
                    data_format="channels_last",
                    bias_initializer="random_normal",
                ),
            ],
            rng.standard_normal((2, 5, 5, 6)).astype("float32"),
        ),
        "tt_simple_rnn": (
            [
                keras.Input((3, 12)),
                ttrnn.TTSimpleRNN(
                    units=6, tt_ranks=2, bias_initializer="random_normal"
                ),
            ],
            seq,
        ),
        "tt_simple_rnn_cell": (
            [
                keras.Input((3, 12)),
                keras.layers.RNN(
                    ttrnn.TTSimpleRNNCell(
                        units=6, tt_ranks="auto", tt_compression=2
                    )
                ),
            ],
            seq,
        ),
        "tt_gru": (
            [
                keras.Input((3, 12)),
                ttrnn.TTGRU(
                    units=6,
                    tt_ranks="auto",
                    tt_max_params=120,
                    tt_gate_layout="separate",
                    bias_initializer="random_normal",
                ),
            ],
            seq,
        ),
        "tt_lstm": (
            [
                keras.Input((3, 12)),
                ttrnn.TTLSTM(
                    (3, 4),
                    (2, 3),
                    tt_ranks="auto",
                    tt_compression=2,
                    return_sequences=True,
                ),
            ],
            seq,
        ),
    }


def main():
    keras.utils.set_random_seed(0)
    expected = {}
    for name, (layers, x) in _models().items():
        model = keras.Sequential(layers)
        expected[f"{name}_x"] = x
        expected[f"{name}_y"] = keras.ops.convert_to_numpy(model(x))
        model.save(os.path.join(HERE, f"{name}.keras"))
    np.savez_compressed(os.path.join(HERE, "expected.npz"), **expected)


if __name__ == "__main__":
    main()

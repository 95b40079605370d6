"""The models of the experiments: a TT model and its dense baseline.

Feed-forward (2017 scripts): input -> TT layer or Dense layer of the same
width (`hidden_activation`) -> head. Video and sequences (ICML 2017):
frames -> [Masking] -> TT-RNN or RNN -> head on the last hidden state,
with the 2017 cell semantics (GRU reset gate before the recurrent matmul,
Keras 2 hard sigmoid as recurrent activation, dropout and recurrent
dropout as the experiment says, L2 on the head's kernel, the head's
dropout if any). The video TT-MLP (Table 2 of
the paper) has no recurrence: a TT layer on every frame, the mean over
the (unmasked) frames, the head.
"""

import math

import keras

from ttrnn.experiments.experiment import TT_MLP_OUTPUT_SHAPE
from ttrnn.experiments.registry import ExperimentError
from ttrnn.tt.spec import TTMatrixSpec

TT_MLP_ACTIVATION = "relu"

_HEADS = {
    "multiclass": ("softmax", "sparse_categorical_crossentropy"),
    "binary": ("sigmoid", "binary_crossentropy"),
    "multilabel": ("sigmoid", "binary_crossentropy"),
    "regression": (None, "mse"),
}


def head_dropout(experiment, x):
    """`x` through the experiment's `Dropout` before the head, if any."""
    if not experiment.head_dropout:
        return x
    layer = keras.layers.Dropout(experiment.head_dropout, name="head_dropout")
    return layer(x)


def head(experiment, outputs, name="head"):
    """The output layer and loss of an experiment's task.

    Args:
        experiment: an `Experiment`.
        outputs: number of outputs (classes, or 1 for binary tasks).
        name: layer name.

    Returns:
        `(layer, loss)`.
    """
    activation, loss = _HEADS[experiment.task]
    layer = keras.layers.Dense(
        outputs,
        activation=activation,
        kernel_regularizer=_l2(experiment.l2),
        name=name,
    )
    return layer, loss


def build_feedforward(
    experiment, model_name, outputs, tt_ranks=None, input_precision="float32"
):
    """A two-layer network: TT (or dense) hidden layer, [batch
    normalisation,] then the head.

    Args:
        experiment: a feed-forward `Experiment`.
        model_name: `"tt"` or `"dense"`.
        outputs: number of outputs of the head.
        tt_ranks: ranks overriding the experiment's, or `None`.
        input_precision: the TT layer's `input_precision`.

    Returns:
        `(model, loss)`; the hidden layer is named `"hidden"`.
    """
    from ttrnn import TTDense

    experiment.check_model(model_name)
    inputs = keras.Input((experiment.input_dim,), name="features")
    if model_name == "tt":
        hidden = TTDense(
            experiment.tt_input_shape,
            experiment.tt_output_shape,
            experiment.ranks(tt_ranks, model_name),
            activation=experiment.hidden_activation,
            kernel_regularizer=_l2(experiment.tt_l2),
            input_precision=input_precision,
            name="hidden",
        )
    else:
        l2 = experiment.dense_hidden_l2
        hidden = keras.layers.Dense(
            experiment.units,
            activation=experiment.hidden_activation,
            kernel_regularizer=_l2(experiment.l2 if l2 is None else l2),
            name="hidden",
        )
    x = hidden(inputs)
    if experiment.batch_norm:
        x = keras.layers.BatchNormalization(name="batch_norm")(x)
    x = head_dropout(experiment, x)
    out_layer, loss = head(experiment, outputs)
    model = keras.Model(inputs, out_layer(x), name=model_name)
    return model, loss


def build_recurrent(
    experiment,
    model_name,
    input_dim,
    outputs,
    tt_input_shape=None,
    tt_ranks=None,
    masking=False,
    dropout=None,
    recurrent_dropout=None,
    pixels=None,
    input_precision="float32",
):
    """A clip classifier: frames -> (TT-)RNN -> head, or the TT-MLP.

    Args:
        experiment: a video or sequence `Experiment`.
        model_name: one of `experiment.models`: "tt-gru", "tt-lstm",
            "tt-rnn" (one TT-matrix for all gates), "vtt-gru", "vtt-lstm"
            ("vanilla": one TT-matrix a gate), "gru", "lstm", "rnn", or
            "tt-mlp" (no recurrence: `TTDense` on every frame with
            `TT_MLP_OUTPUT_SHAPE`, `TT_MLP_RANKS` and ReLU, the mean over
            the unmasked frames, dropout, the head).
        input_dim: features a time step (e.g. 57600 for 120x160x3 frames).
        outputs: number of outputs of the head.
        tt_input_shape: input modes; `None` takes the experiment's when
            their product is `input_dim`, else a balanced factorisation
            of `input_dim` into as many modes (`tt.factorize`).
        tt_ranks: ranks overriding the experiment's (the TT-MLP's), or
            `None`.
        masking: mask padded steps (zero pre-padding): with float
            inputs a `Masking(0.0)` layer first; with `pixels`, a second
            input `"mask"` (batch, time) of booleans, since a black uint8
            frame is all zeros too.
        dropout: input dropout of the RNN (TT-MLP: dropout of the mean
            frame features). `None` for the experiment's
            (`Experiment.dropout_for`).
        recurrent_dropout: recurrent dropout. `None` for the
            experiment's.
        pixels: `None` for float32 inputs, or `(center, scale)` for raw
            uint8 pixels that the model maps to `(x - center) * scale`
            itself: inside the TT input map's time chunks for TT-RNNs
            (`input_scale`, `input_offset`), so the float frames never
            exist whole (the TT-MLP's `TTDense` likewise, in row chunks);
            with a `Rescaling` layer for dense RNNs.
        input_precision: the TT layers' `input_precision` ("float32" or
            "bfloat16"); dense models have no TT map.

    Returns:
        `(model, loss)`; the recurrent layer is named `"rnn"` (the
        TT-MLP's frame layer `"frames_tt"`).
    """
    experiment.check_model(model_name)
    ranks = experiment.ranks(tt_ranks, model_name)
    if dropout is None:
        dropout = experiment.dropout_for(model_name)
    if recurrent_dropout is None:
        recurrent_dropout = experiment.recurrent_dropout
    dtype = "float32" if pixels is None else "uint8"
    frames = keras.Input((None, input_dim), dtype=dtype, name="frames")
    inputs, x, mask = frames, frames, None
    if masking and pixels is not None:
        mask = keras.Input((None,), dtype="bool", name="mask")
        inputs = [frames, mask]
    elif masking:
        x = keras.layers.Masking(mask_value=0.0, name="masking")(x)
    common = dict(
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
        name="rnn",
    )
    kind = model_name.split("-")[-1]
    if model_name == "tt-mlp":
        in_shape = tt_input_modes(experiment, input_dim, tt_input_shape)
        hidden = _tt_mlp(
            in_shape, ranks, dropout, x, mask, pixels, input_precision
        )
    elif model_name.startswith(("tt-", "vtt-")):
        if pixels is not None:
            center, scale = pixels
            common.update(input_scale=scale, input_offset=-center * scale)
        common.update(input_precision=input_precision)
        in_shape = tt_input_modes(experiment, input_dim, tt_input_shape)
        layer = _tt_rnn(
            kind,
            in_shape,
            experiment.tt_output_shape,
            ranks,
            "separate" if model_name.startswith("vtt-") else "shared",
            common,
        )
        hidden = layer(x) if mask is None else layer(x, mask=mask)
    else:
        if pixels is not None:
            x = _rescaling(pixels)(x)
        layer = _dense_rnn(kind, experiment.plain_rnn_units, common)
        hidden = layer(x) if mask is None else layer(x, mask=mask)
    hidden = head_dropout(experiment, hidden)
    out_layer, loss = head(experiment, outputs)
    model = keras.Model(inputs, out_layer(hidden), name=model_name)
    return model, loss


def tt_input_modes(experiment, input_dim, tt_input_shape=None):
    """The TT input modes for `input_dim` features (see build_recurrent)."""
    if tt_input_shape is not None:
        modes = tuple(int(m) for m in tt_input_shape)
        if math.prod(modes) != input_dim:
            raise ExperimentError(
                "The product of `tt_input_shape` must equal the features "
                f"of a frame ({input_dim}). Received: tt_input_shape="
                f"{modes} (product {math.prod(modes)})"
            )
        return modes
    if experiment.input_dim == input_dim:
        return experiment.tt_input_shape
    # The modes a TT layer with these output modes chooses for
    # `input_dim` (the ranks are not read here).
    spec = TTMatrixSpec(tt_output_shape=experiment.tt_output_shape, tt_ranks=1)
    return spec.resolve(input_dim).tt_input_shape


def _rescaling(pixels):
    center, scale = pixels
    return keras.layers.Rescaling(scale, offset=-center * scale, name="pixels")


def _tt_mlp(
    in_shape, ranks, dropout, x, mask, pixels=None, input_precision="float32"
):
    """The TT-MLP on frames `x` (batch, time, features): the per-frame TT
    layer, then the mean over the frames `mask` keeps (all without one;
    a `Masking` layer's mask reaches the pooling through `TTDense`).
    uint8 `pixels` are scaled by the TT layer itself, in row chunks (no
    float copy of the batch)."""
    from ttrnn import TTDense

    affine = {}
    if pixels is not None:
        center, scale = pixels
        affine = dict(input_scale=scale, input_offset=-center * scale)
    frames = TTDense(
        in_shape,
        TT_MLP_OUTPUT_SHAPE,
        ranks,
        activation=TT_MLP_ACTIVATION,
        name="frames_tt",
        input_precision=input_precision,
        **affine,
    )(x)
    pool = keras.layers.GlobalAveragePooling1D(name="mean_over_frames")
    pooled = pool(frames) if mask is None else pool(frames, mask=mask)
    return keras.layers.Dropout(dropout, name="dropout")(pooled)


def _tt_rnn(kind, in_shape, out_shape, ranks, layout, common):
    from ttrnn import TTGRU
    from ttrnn import TTLSTM
    from ttrnn import TTSimpleRNN
    from ttrnn.activations import keras2_hard_sigmoid

    if kind == "rnn":
        return TTSimpleRNN(in_shape, out_shape, ranks, **common)
    if kind == "gru":
        return TTGRU(
            in_shape,
            out_shape,
            ranks,
            recurrent_activation=keras2_hard_sigmoid,
            reset_after=False,
            tt_gate_layout=layout,
            **common,
        )
    return TTLSTM(
        in_shape,
        out_shape,
        ranks,
        recurrent_activation=keras2_hard_sigmoid,
        tt_gate_layout=layout,
        **common,
    )


def _dense_rnn(kind, units, common):
    from ttrnn.activations import keras2_hard_sigmoid

    if kind == "rnn":
        return keras.layers.SimpleRNN(units, **common)
    if kind == "gru":
        return keras.layers.GRU(
            units,
            recurrent_activation=keras2_hard_sigmoid,
            reset_after=False,
            **common,
        )
    return keras.layers.LSTM(
        units, recurrent_activation=keras2_hard_sigmoid, **common
    )


def _l2(factor):
    return keras.regularizers.L2(factor) if factor else None

"""TTLSTM: a long short-term memory layer whose input kernel is a TT-matrix."""

import keras
from keras import ops

from ttrnn import activations
from ttrnn.layers._tt_rnn_cell import TTRNNCellBase
from ttrnn.layers._tt_rnn_layer import TTRNNBase


@keras.saving.register_keras_serializable(package="ttrnn")
class TTLSTMCell(TTRNNCellBase):
    """Cell of `TTLSTM`: Keras' LSTM cell with a TT input kernel.

    With `[z_i, z_f, z_c, z_o] = x_t @ W + h_{t-1} @ U + b`:

    ```
    c_t = sigma(z_f) * c_{t-1} + sigma(z_i) * activation(z_c)
    h_t = sigma(z_o) * activation(c_t)
    ```

    (sigma = `recurrent_activation`). W (M, 4 units) is a TT-matrix;
    U = `recurrent_kernel` (units, 4 units) and `bias` (4 units,) have the
    shapes of `keras.layers.LSTMCell`, gate order [i, f, c, o]. In the
    "shared" layout `ttrnn.tt.to_dense(cell.cores)` is a drop-in
    `keras.layers.LSTM` kernel. The states are `[h, c]`.

    Args:
        tt_input_shape: d ints m_k with prod m_k = the input features.
            None (default): derived from the input dim in `build`
            (`ttrnn.tt.auto_shapes`), as in `TTDense`.
        tt_output_shape: d ints n_k; units = prod n_k. None (default):
            derived from `units`.
        tt_ranks: one int (every inner rank), d + 1 ints starting and
            ending with 1, or "auto" (needs `tt_max_params` or
            `tt_compression`), for the TT-matrices of the chosen layout;
            ranks above the largest useful one are lowered with a warning.
        activation: Defaults to "tanh".
        recurrent_activation: Defaults to "sigmoid". "keras2_hard_sigmoid"
            gives the 2017 paper's clip(0.2 x + 0.5, 0, 1).
        use_bias: Defaults to True.
        kernel_initializer: TT initialiser of W, aimed at the variance of
            the full (M, G units) matrix in both layouts, as Keras
            initialises its kernel (each gate is drawn independently in
            the "separate" layout). Defaults to "glorot_uniform".
        recurrent_initializer: Defaults to "orthogonal".
        bias_initializer: Defaults to "zeros".
        unit_forget_bias: start the forget-gate bias at 1 (the other gates
            use `bias_initializer`). Defaults to True.
        kernel_regularizer: applied to every core. Defaults to None.
        recurrent_regularizer: Defaults to None.
        bias_regularizer: Defaults to None.
        kernel_constraint: applied to every core. Defaults to None.
        recurrent_constraint: Defaults to None.
        bias_constraint: Defaults to None.
        dropout: rate in [0, 1) of the input features dropped (one mask per
            sequence, before the TT map, shared by the gates). Defaults
            to 0.
        recurrent_dropout: rate in [0, 1) of the recurrent state dropped
            (one mask per gate and sequence). Defaults to 0.
        seed: random seed of the dropout masks. Defaults to None.
        input_scale: factor applied to the inputs before the TT map,
            after casting them to the compute dtype. Defaults to 1.0.
        input_offset: added after `input_scale`: the map reads
            `inputs * input_scale + input_offset`. Integer inputs (raw
            uint8 frames) are cast, scaled and offset inside time chunks
            of the map, so no float copy of the sequence is made.
            Defaults to 0.0.
        tt_gate_layout: "shared" (one TT-matrix whose first output mode is
            multiplied by 4, the paper's TT-LSTM) or "separate" (one
            TT-matrix per gate, the paper's "vanilla" TT-LSTM). Defaults to
            "shared".
        tt_strategy: contraction order of the TT map, as in `TTDense`.
            Defaults to "auto".
        units: the size of the hidden state, instead of (or agreeing
            with) `tt_output_shape`.
        tt_d: the number of modes d when neither shape is given; None
            (default) picks it from the dims (`ttrnn.tt.choose_d`).
        tt_max_params: with `tt_ranks="auto"`, the most weights of the
            whole input map (all gates; no bias).
        tt_compression: with `tt_ranks="auto"`, the least ratio of the
            dense (M, G units) kernel's weights to the input map's.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: (batch, M) tensor, one time step.
        states: list `[h, c]` of the previous states, each (batch, units).
        training: whether dropout applies.

    Example:
    >>> import numpy as np
    >>> cell = TTLSTMCell((4, 8), (4, 4), 3)
    >>> tuple(keras.layers.RNN(cell)(np.ones((2, 5, 32), "float32")).shape)
    (2, 16)
    """

    num_gates = 4
    _gate_names = ("i", "f", "c", "o")

    def __init__(
        self,
        tt_input_shape=None,
        tt_output_shape=None,
        tt_ranks=None,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        tt_gate_layout="shared",
        tt_strategy="auto",
        units=None,
        tt_d=None,
        tt_max_params=None,
        tt_compression=None,
        **kwargs,
    ):
        super().__init__(
            tt_input_shape,
            tt_output_shape,
            tt_ranks,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            tt_gate_layout=tt_gate_layout,
            tt_strategy=tt_strategy,
            units=units,
            tt_d=tt_d,
            tt_max_params=tt_max_params,
            tt_compression=tt_compression,
            **kwargs,
        )
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [self.units, self.units]

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, init = self.units, self.bias_initializer

        def initializer(shape, dtype=None):
            del shape  # always (4 units,)
            return ops.concatenate(
                [
                    init((units,), dtype=dtype),
                    ops.ones((units,), dtype=dtype),
                    init((2 * units,), dtype=dtype),
                ]
            )

        return initializer

    def _recurrence(self, projected, states, training):
        h_tm1, c_tm1 = states[0], states[1]
        u = self.units
        kernel = self.recurrent_kernel
        per_gate = self._recurrent_inputs(h_tm1, training)
        if per_gate is None:
            rec = ops.matmul(h_tm1, kernel)
        else:
            rec = ops.concatenate(
                [
                    ops.matmul(h_g, kernel[:, g * u : (g + 1) * u])
                    for g, h_g in enumerate(per_gate)
                ],
                axis=-1,
            )
        z_i, z_f, z_c, z_o = ops.split(ops.add(projected, rec), 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = ops.add(
            ops.multiply(f, c_tm1), ops.multiply(i, self.activation(z_c))
        )
        o = self.recurrent_activation(z_o)
        h = ops.multiply(o, self.activation(c))
        return h, [h, c]

    def _arg_config(self):
        config = super()._arg_config()
        config["recurrent_activation"] = activations.serialize(
            self.recurrent_activation
        )
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


@keras.saving.register_keras_serializable(package="ttrnn")
class TTLSTM(TTRNNBase):
    """Long short-term memory layer whose input kernel is a TT-matrix.

    `keras.layers.LSTM` with W of shape (M, 4 units) stored as TT cores (the
    TT-LSTM of Yang et al. 2017). The TT map runs once over all batch * time
    frames before the recurrence; the cell equations are in `TTLSTMCell`.
    In the "shared" layout, a `keras.layers.LSTM` with the weights
    `[to_dense(), recurrent_kernel, bias]` gives the same outputs.

    Modes and ranks can be chosen as in `TTDense`: with `units=` the
    input modes are derived from the input dim when the layer is built,
    and `tt_ranks="auto"` takes the largest ranks whose input map (all
    gates) fits `tt_max_params` or `tt_compression`. `round()` returns a
    smaller copy with TT-rounded cores, to fine-tune.

    Args:
        tt_input_shape, tt_output_shape, tt_ranks, activation,
        recurrent_activation, use_bias, kernel_initializer,
        recurrent_initializer, bias_initializer, unit_forget_bias,
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint, dropout,
        recurrent_dropout, seed, input_scale, input_offset, tt_gate_layout,
        tt_strategy, units, tt_d,
        tt_max_params, tt_compression: as in `TTLSTMCell`.
        activity_regularizer: regulariser of the output. Defaults to None.
        return_sequences: return the whole output sequence. Defaults to
            False.
        return_state: also return the last states h and c. Defaults to
            False.
        go_backwards: process the sequence backwards (and return it
            reversed). Defaults to False.
        stateful: carry the last states over to the next batch. Defaults
            to False.
        unroll: unroll the time loop. Defaults to False.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        sequences: (batch, time, M) tensor.
        initial_state: optional list `[h, c]` of initial states.
        mask: optional (batch, time) boolean tensor.
        training: whether dropout applies.

    Input shape:
        3-D tensor `(batch, time, prod(tt_input_shape))`.

    Output shape:
        `(batch, units)`, or `(batch, time, units)` with
        `return_sequences`; with `return_state`, also the last states h
        and c, each `(batch, units)`.

    Example:
    >>> import numpy as np
    >>> lstm = TTLSTM((8, 20, 20, 18), (4, 4, 4, 4), tt_ranks=4)
    >>> tuple(lstm(np.ones((1, 2, 57600), "float32")).shape)
    (1, 256)
    >>> sum(int(np.prod(c.shape)) for c in lstm.cores)  # Yang et al. 2017
    3360

    Reference:
        Yang, Krompass, Tresp, "Tensor-Train Recurrent Neural Networks for
        Video Classification", ICML 2017.
    """

    def __init__(
        self,
        tt_input_shape=None,
        tt_output_shape=None,
        tt_ranks=None,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        tt_gate_layout="shared",
        tt_strategy="auto",
        units=None,
        tt_d=None,
        tt_max_params=None,
        tt_compression=None,
        **kwargs,
    ):
        cell = TTLSTMCell(
            tt_input_shape,
            tt_output_shape,
            tt_ranks,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            tt_gate_layout=tt_gate_layout,
            tt_strategy=tt_strategy,
            units=units,
            tt_d=tt_d,
            tt_max_params=tt_max_params,
            tt_compression=tt_compression,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="tt_lstm_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )

    @property
    def recurrent_activation(self):
        """The cell's `recurrent_activation`."""
        return self.cell.recurrent_activation

    @property
    def unit_forget_bias(self):
        """The cell's `unit_forget_bias`."""
        return self.cell.unit_forget_bias

    # --- What `summary`, `compress` and `explain` ask of the layer ---
    keras_class = keras.layers.LSTM  # the Keras layer it replaces
    lrp_rule = "lstm"  # `ttrnn.explain`'s rules for LSTM cells

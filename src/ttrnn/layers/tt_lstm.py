"""TTLSTM: a long short-term memory layer whose input kernel is a TT-matrix."""

import keras
from keras import ops

from ttrnn.layers._tt_rnn_cell import TTGatedCellBase
from ttrnn.layers._tt_rnn_layer import TTRNNBase
from ttrnn.layers._tt_rnn_layer import cell_property


@keras.saving.register_keras_serializable(package="ttrnn")
class TTLSTMCell(TTGatedCellBase):
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
        recurrent_activation: sigma. Defaults to "sigmoid";
            "keras2_hard_sigmoid" gives the 2017 paper's clip(0.2 x + 0.5,
            0, 1).
        unit_forget_bias: start the forget-gate bias at 1 (the other gates
            use `bias_initializer`). Defaults to True.
        tt_gate_layout: "shared" (one TT-matrix whose first output mode is
            multiplied by 4, the paper's TT-LSTM) or "separate" (one
            TT-matrix per gate, the paper's "vanilla" TT-LSTM). Defaults to
            "shared".
        tt_input_shape, tt_output_shape, tt_ranks, **kwargs: the other
            arguments, as in `TTGRUCell`.

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
    extra_arguments = ("recurrent_activation", "unit_forget_bias")

    def __init__(self, *args, unit_forget_bias=True, **kwargs):
        super().__init__(*args, **kwargs)
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

    def _recurrence(self, projected, states, training, weights=None):
        h_tm1, c_tm1 = states[0], states[1]
        u = self.units
        kernel, per_gate = self._step_kernel_and_inputs(
            h_tm1, weights, training
        )
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

    def projected_step(self, projected, states, weights, training):
        """`_recurrence` with `step_weights`'s kernel and masks."""
        return self._recurrence(projected, states, training, weights)


@keras.saving.register_keras_serializable(package="ttrnn")
class TTLSTM(TTRNNBase):
    """Long short-term memory layer whose input kernel is a TT-matrix.

    `keras.layers.LSTM` with W of shape (M, 4 units) stored as TT cores (the
    TT-LSTM of Yang et al. 2017). The TT map runs once over all batch * time
    frames before the recurrence; the cell equations are in `TTLSTMCell`.
    In the "shared" layout, a `keras.layers.LSTM` with the weights
    `[to_dense(), recurrent_kernel, bias]` gives the same outputs.

    Modes and ranks are chosen as in `TTDense`, a budget counting the
    whole input map (all gates); `round()` returns a copy with TT-rounded
    cores, to fine-tune.

    Args:
        tt_input_shape, tt_output_shape, tt_ranks, **kwargs: the arguments
            of `TTLSTMCell`, those of `keras.layers.LSTM` the layer adds
            (`activity_regularizer`, `return_sequences`, `return_state`
            (the states h and c), `go_backwards`, `stateful`, `unroll`) and
            the base layer's (`name`, `dtype`, `trainable`).

    Call arguments, input and output shapes: as `keras.layers.LSTM`, for
    inputs `(batch, time, prod(tt_input_shape))`.

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

    cell_class = TTLSTMCell
    cell_name = "tt_lstm_cell"
    recurrent_activation = cell_property("recurrent_activation")
    unit_forget_bias = cell_property("unit_forget_bias")

    # --- What `summary`, `compress` and `explain` ask of the layer ---
    keras_class = keras.layers.LSTM  # the Keras layer it replaces
    lrp_rule = "lstm"  # `ttrnn.explain`'s rules for LSTM cells

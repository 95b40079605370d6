"""TTSimpleRNN: a fully connected RNN whose input kernel is a TT-matrix."""

import keras
from keras import ops

from ttrnn.layers._tt_rnn_cell import TTRNNCellBase
from ttrnn.layers._tt_rnn_layer import TTRNNBase


@keras.saving.register_keras_serializable(package="ttrnn")
class TTSimpleRNNCell(TTRNNCellBase):
    """Cell of `TTSimpleRNN`: Keras' SimpleRNN cell with a TT input kernel.

    `h_t = activation(x_t @ W + h_{t-1} @ U + b)`, where the (M, units)
    kernel W is a TT-matrix with cores `cell.cores` of shape
    (r_k, m_k, n_k, r_{k+1}), M = prod(tt_input_shape) and
    units = prod(tt_output_shape). `recurrent_kernel` U and `bias` b have
    the shapes of `keras.layers.SimpleRNNCell`, so `cell.to_dense()` (equal
    to `ttrnn.tt.to_dense(cell.cores)`) is a drop-in Keras kernel.

    Args:
        tt_input_shape: d ints m_k with prod m_k = the input features.
            None (default): derived from the input dim in `build`
            (`ttrnn.tt.auto_shapes`), as in `TTDense`.
        tt_output_shape: d ints n_k; units = prod n_k. None (default):
            derived from `units`.
        tt_ranks: one int (every inner rank), d + 1 ints starting and
            ending with 1, or "auto" (needs `tt_max_params` or
            `tt_compression`); ranks above the largest useful one are
            lowered with a warning.
        activation: Defaults to "tanh". Also takes "keras2_hard_sigmoid".
        use_bias: Defaults to True.
        kernel_initializer: TT initialiser of W, aimed at the variance of
            the full matrix (see `ttrnn.tt.initializers.get`). Defaults to
            "glorot_uniform".
        recurrent_initializer: Defaults to "orthogonal".
        bias_initializer: Defaults to "zeros".
        kernel_regularizer: applied to every core. Defaults to None.
        recurrent_regularizer: Defaults to None.
        bias_regularizer: Defaults to None.
        kernel_constraint: applied to every core. Defaults to None.
        recurrent_constraint: Defaults to None.
        bias_constraint: Defaults to None.
        dropout: rate in [0, 1) of the input features dropped (one mask per
            sequence, before the TT map). Defaults to 0.
        recurrent_dropout: rate in [0, 1) of the recurrent state dropped
            (one mask per sequence). Defaults to 0.
        seed: random seed of the dropout masks. Defaults to None.
        input_scale: factor applied to the inputs before the TT map,
            after casting them to the compute dtype. Defaults to 1.0.
        input_offset: added after `input_scale`: the map reads
            `inputs * input_scale + input_offset`. Integer inputs (raw
            uint8 frames) are cast, scaled and offset inside time chunks
            of the map, so no float copy of the sequence is made.
            Defaults to 0.0.
        tt_gate_layout: "shared" or "separate"; with one gate both give one
            TT-matrix. Defaults to "shared".
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
        states: the previous state (batch, units), alone or in a list.
        training: whether dropout applies.

    Example:
    >>> import numpy as np
    >>> rnn = keras.layers.RNN(TTSimpleRNNCell((4, 8), (4, 4), 3))
    >>> tuple(rnn(np.ones((2, 5, 32), "float32")).shape)
    (2, 16)
    """

    num_gates = 1
    _gate_names = ("h",)

    def _recurrence(self, projected, states, training):
        nested = isinstance(states, (list, tuple))
        h_tm1 = states[0] if nested else states
        per_gate = self._recurrent_inputs(h_tm1, training)
        h_in = h_tm1 if per_gate is None else per_gate[0]
        output = ops.add(projected, ops.matmul(h_in, self.recurrent_kernel))
        output = self.activation(output)
        return output, [output] if nested else output


@keras.saving.register_keras_serializable(package="ttrnn")
class TTSimpleRNN(TTRNNBase):
    """Fully connected RNN whose input-to-hidden kernel is a TT-matrix.

    `keras.layers.SimpleRNN` with W of shape (M, units) stored as TT cores:
    `h_t = activation(x_t @ W + h_{t-1} @ U + b)`. The TT map runs once
    over all batch * time frames before the recurrence (see
    `TTSimpleRNNCell`). With the weights `[to_dense(), recurrent_kernel,
    bias]` a `keras.layers.SimpleRNN` gives the same outputs.

    Modes and ranks can be chosen as in `TTDense`: with `units=` the
    input modes are derived from the input dim when the layer is built,
    and `tt_ranks="auto"` takes the largest ranks whose input map (all
    gates) fits `tt_max_params` or `tt_compression`. `round()` returns a
    smaller copy with TT-rounded cores, to fine-tune.

    Args:
        tt_input_shape, tt_output_shape, tt_ranks, activation, use_bias,
        kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint, dropout,
        recurrent_dropout, seed, input_scale, input_offset, tt_gate_layout,
        tt_strategy, units, tt_d,
        tt_max_params, tt_compression: as in `TTSimpleRNNCell`.
        activity_regularizer: regulariser of the output. Defaults to None.
        return_sequences: return the whole output sequence. Defaults to
            False.
        return_state: also return the last state. Defaults to False.
        go_backwards: process the sequence backwards (and return it
            reversed). Defaults to False.
        stateful: carry the last states over to the next batch. Defaults
            to False.
        unroll: unroll the time loop. Defaults to False.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        sequences: (batch, time, M) tensor.
        initial_state: optional list of initial state tensors.
        mask: optional (batch, time) boolean tensor.
        training: whether dropout applies.

    Input shape:
        3-D tensor `(batch, time, prod(tt_input_shape))`.

    Output shape:
        `(batch, units)`, or `(batch, time, units)` with
        `return_sequences`; with `return_state`, also the last state
        `(batch, units)`.

    Example:
    >>> import numpy as np
    >>> rnn = TTSimpleRNN((8, 20, 20, 18), (4, 4, 4, 4), tt_ranks=3)
    >>> tuple(rnn(np.ones((1, 2, 57600), "float32")).shape)
    (1, 256)
    >>> sum(int(np.prod(c.shape)) for c in rnn.cores)  # Yang et al. 2017
    1752

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
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
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
        cell = TTSimpleRNNCell(
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
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="tt_simple_rnn_cell",
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

    # --- What `summary`, `compress` and `explain` ask of the layer ---
    keras_class = keras.layers.SimpleRNN  # the Keras layer it replaces
    lrp_rule = "simple"  # `ttrnn.explain`'s rules for SimpleRNN cells

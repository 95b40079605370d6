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
        activation: Defaults to "tanh". Also takes "keras2_hard_sigmoid".
        tt_gate_layout: "shared" or "separate"; with one gate both give one
            TT-matrix. Defaults to "shared".
        tt_input_shape, tt_output_shape, tt_ranks, **kwargs: the other
            arguments, as in `TTGRUCell` (with one gate, one dropout mask).

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

    def _recurrence(self, projected, states, training, weights=None):
        nested = isinstance(states, (list, tuple))
        h_tm1 = states[0] if nested else states
        kernel, per_gate = self._step_kernel_and_inputs(
            h_tm1, weights, training
        )
        h_in = h_tm1 if per_gate is None else per_gate[0]
        output = ops.add(projected, ops.matmul(h_in, kernel))
        output = self.activation(output)
        return output, [output] if nested else output

    def projected_step(self, projected, states, weights, training):
        """`_recurrence` with `step_weights`'s kernel and masks."""
        return self._recurrence(projected, states, training, weights)


@keras.saving.register_keras_serializable(package="ttrnn")
class TTSimpleRNN(TTRNNBase):
    """Fully connected RNN whose input-to-hidden kernel is a TT-matrix.

    `keras.layers.SimpleRNN` with W of shape (M, units) stored as TT cores:
    `h_t = activation(x_t @ W + h_{t-1} @ U + b)`. The TT map runs once
    over all batch * time frames before the recurrence (see
    `TTSimpleRNNCell`). With the weights `[to_dense(), recurrent_kernel,
    bias]` a `keras.layers.SimpleRNN` gives the same outputs.

    Modes and ranks are chosen as in `TTDense`; `round()` returns a copy
    with TT-rounded cores, to fine-tune.

    Args:
        tt_input_shape, tt_output_shape, tt_ranks, **kwargs: the arguments
            of `TTSimpleRNNCell`, those of `keras.layers.SimpleRNN` the
            layer adds (`activity_regularizer`, `return_sequences`,
            `return_state`, `go_backwards`, `stateful`, `unroll`) and the
            base layer's (`name`, `dtype`, `trainable`).

    Call arguments, input and output shapes: as `keras.layers.SimpleRNN`,
    for inputs `(batch, time, prod(tt_input_shape))`.

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

    cell_class = TTSimpleRNNCell
    cell_name = "tt_simple_rnn_cell"

    # --- What `summary`, `compress` and `explain` ask of the layer ---
    keras_class = keras.layers.SimpleRNN  # the Keras layer it replaces
    lrp_rule = "simple"  # `ttrnn.explain`'s rules for SimpleRNN cells

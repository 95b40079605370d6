"""The base of the TT-RNN layers: project the sequence, then recur.

`TTRNNBase` is a `keras.layers.RNN` whose cell (a `TTRNNCellBase`) takes
projected gate inputs: the TT input map runs once over all batch * time
frames (`project_sequence`), then Keras' own recurrence loop runs.
"""

import keras
from keras import ops

from ttrnn import backends
from ttrnn.layers._tt_kernel import build_with_cores
from ttrnn.layers._tt_kernel import require_built
from ttrnn.layers._tt_rnn_cell import check_finite
from ttrnn.tt import rounding


def _cell_property(name):
    def getter(self):
        return getattr(self.cell, name)

    getter.__doc__ = f"The cell's `{name}`."
    return property(getter)


class TTRNNBase(keras.layers.RNN):
    """Base of the TT-RNN layers: projects the sequence, then recurs.

    `inner_loop` runs the TT input map once over all batch * time frames
    (in time chunks, see `MAX_PROJECTION_VALUES`) and then Keras' own
    recurrence loop with a cell that takes the projected gate inputs, so
    masking, `go_backwards`, `unroll`, `stateful` and `Bidirectional`
    behave exactly as for Keras' layers.
    """

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        activity_regularizer=None,
        **kwargs,
    ):
        # The cell's input transform, passed by the layers' configs
        # (the subclasses build the cell before calling this).
        for name in ("input_scale", "input_offset"):
            if name in kwargs:
                setattr(cell, name, check_finite(name, kwargs.pop(name)))
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
        self.input_spec = keras.layers.InputSpec(ndim=3)

    units = _cell_property("units")
    input_dim = _cell_property("input_dim")
    tt_input_shape = _cell_property("tt_input_shape")
    tt_output_shape = _cell_property("tt_output_shape")
    tt_ranks = _cell_property("tt_ranks")
    tt_gate_layout = _cell_property("tt_gate_layout")
    tt_strategy = _cell_property("tt_strategy")
    activation = _cell_property("activation")
    use_bias = _cell_property("use_bias")
    kernel_initializer = _cell_property("kernel_initializer")
    recurrent_initializer = _cell_property("recurrent_initializer")
    bias_initializer = _cell_property("bias_initializer")
    kernel_regularizer = _cell_property("kernel_regularizer")
    recurrent_regularizer = _cell_property("recurrent_regularizer")
    bias_regularizer = _cell_property("bias_regularizer")
    kernel_constraint = _cell_property("kernel_constraint")
    recurrent_constraint = _cell_property("recurrent_constraint")
    bias_constraint = _cell_property("bias_constraint")
    dropout = _cell_property("dropout")
    recurrent_dropout = _cell_property("recurrent_dropout")
    seed = _cell_property("seed")
    cores = _cell_property("cores")
    recurrent_kernel = _cell_property("recurrent_kernel")
    bias = _cell_property("bias")

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        # Masks are drawn here, outside the loop (a no-op when
        # keras.layers.RNN.call already drew them).
        cell.get_dropout_mask(sequences[:, 0, :])
        first_state = initial_state
        while isinstance(first_state, (list, tuple)):
            first_state = first_state[0]
        cell.get_recurrent_dropout_mask(first_state)
        projected = cell.project_sequence(sequences, training=training)
        if training:  # warns once if torch's denormals slow the backward
            projected = backends.watch_denormals(projected, self.name)
        with cell.consuming_projected_inputs():
            return super().inner_loop(
                projected, initial_state, mask=mask, training=training
            )

    def call(self, sequences, initial_state=None, mask=None, training=False):
        try:
            return super().call(
                sequences,
                initial_state=initial_state,
                mask=mask,
                training=training,
            )
        finally:
            self.cell.reset_dropout_mask()
            self.cell.reset_recurrent_dropout_mask()

    def to_dense(self):
        """The (M, G * units) input kernel in Keras' layout."""
        return self.cell.to_dense()

    def round(self, max_rank=None, eps=None, name=None):
        """A new layer of this class with the TT input map rounded.

        TT rounding (`ttrnn.tt.round_cores`) lowers the ranks of the input
        map without forming W: in the shared layout the gate-expanded
        TT-matrix is rounded, in the separate layout each gate's on its
        own, after which all gates take the largest rank at each cut (the
        smaller ones zero-padded, which keeps W). With `eps`, every
        rounded TT-matrix W_r has ||W - W_r||_F <= eps ||W||_F, so the
        whole (M, G units) kernel does too; `max_rank` caps the ranks on
        top of that (which may break the bound); with neither, only
        redundant ranks go. Train big, round, fine-tune.

        Args:
            max_rank: None, one int, or d + 1 ints (ends ignored).
            eps: None or the relative Frobenius error bound.
            name: the new layer's name; None picks a fresh one.

        Returns:
            A built layer of this class with the same configuration (and
            dtype policy) except `tt_ranks`, holding the rounded cores and
            copies of the recurrent kernel and bias. A stateful layer's
            states start at zero. This layer is unchanged.

        Example:
        >>> from ttrnn import TTGRU
        >>> big = TTGRU((4, 8), (4, 4), tt_ranks=8)
        >>> big.build((None, 5, 32))
        >>> small = big.round(max_rank=3)
        >>> small.tt_ranks, small.count_params() < big.count_params()
        ((1, 3, 1), True)
        """
        require_built(self, "round()")
        cell = self.cell
        d = len(cell.tt_input_shape)
        cores = [ops.convert_to_numpy(c) for c in cell.cores]
        groups = [
            rounding.round_cores(cores[g : g + d], max_rank, eps)
            for g in range(0, len(cores), d)
        ]
        ranks = [
            max(int(group[k].shape[0]) for group in groups) for k in range(d)
        ] + [1]
        groups = [rounding.pad_ranks(group, ranks) for group in groups]
        config = self.get_config()
        config["tt_ranks"] = ranks
        config.pop("name")
        if name is not None:
            config["name"] = name
        layer = self.__class__.from_config(config)
        batch = None
        if self.stateful:
            batch = int(ops.shape(self.states[0])[0])
        build_with_cores(
            layer,
            layer.cell,
            (batch, None, cell.input_dim),
            groups,
            ops.convert_to_numpy(cell.recurrent_kernel),
        )
        if cell.use_bias:
            layer.cell.bias.assign(ops.convert_to_numpy(cell.bias))
        return layer

    def get_config(self):
        base = super().get_config()
        del base["cell"]
        return {**base, **self.cell._arg_config()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

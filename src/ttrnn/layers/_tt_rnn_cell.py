"""The base of the TT-RNN cells.

A TT-RNN cell differs from Keras' own cell only in its input-to-hidden map:
the kernel W of shape (M, G * units) (G gates) is a TT-matrix. Two layouts:

- "shared" (the paper's TT-GRU / TT-LSTM): one TT-matrix with output modes
  (G * n_0, n_1, ..., n_{d-1}). Its columns (j_0, j_1, ...) in C order with
  j_0 = g * n_0 + u_0 are exactly g * units + u, Keras' [gate][unit] kernel
  order, so `tt.to_dense(cell.cores)` is a drop-in Keras kernel. Only core 0
  is gate-specific.
- "separate" (the paper's "vanilla" variants): G TT-matrices of output
  modes (n_0, ..., n_{d-1}), cores listed gate-major.

Modes and ranks are resolved as in `TTDense` (`units=`, `tt_d=`,
`tt_ranks="auto"` with a budget of the whole map's weights); given ranks
and budgets apply to the TT-matrices of the chosen layout. Both layouts
aim the kernel initialiser at the variance of the whole (M, G * units)
kernel, as Keras' GRU and LSTM do: in the separate layout each gate is an
independent draw of the shared layout's TT-matrix, restricted to the
gate's columns.

The map does not depend on the hidden state, so the layers (subclasses of
`keras.layers.RNN`) project the whole sequence at once before the
recurrence, and the cell then consumes the projected gate inputs. The cell
also works alone in `keras.layers.RNN`, projecting one step at a time.

Dropout: one input mask per sequence, applied to the raw input before the
map (shape (batch, M), shared by all gates and time steps), and one
recurrent mask per gate per sequence (shape (G, batch, units)), as Keras 3
cells with `recurrent_dropout` do (`_tt_rnn_inputs`). The layers are in
`_tt_rnn_layer`.
"""

import keras
from keras import ops

from ttrnn import activations
from ttrnn import tt
from ttrnn.layers._tt_kernel import TTKernelMixin
from ttrnn.layers._tt_kernel import serialized
from ttrnn.layers._tt_rnn_inputs import TTDropoutMixin
from ttrnn.layers._tt_rnn_inputs import TTInputMapMixin
from ttrnn.tt import gates
from ttrnn.tt.contraction import precision as tt_precision
from ttrnn.tt.shapes import check_finite
from ttrnn.tt.shapes import check_rate
from ttrnn.tt.spec import TTMatrixSpec

# The constructor arguments every cell stores as attributes of their name.
_ARGUMENTS = (
    "use_bias",
    "recurrent_initializer",
    "bias_initializer",
    "recurrent_regularizer",
    "bias_regularizer",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
    "seed",
    "tt_gate_layout",
    "input_scale",
    "input_offset",
    "input_precision",
)


class TTRNNCellBase(
    TTKernelMixin, TTDropoutMixin, TTInputMapMixin, keras.layers.Layer
):
    """Base of the TT-RNN cells: TT input map, weights, dropout, config.

    Subclasses set `num_gates` and `state_size`, and implement
    `_bias_shape`, `_bias_initializer`, `_input_bias` and `_recurrence`
    (one step from the projected gate inputs). The TT modes and ranks are
    resolved as in `TTDense` (`units=`, `tt_d=`, `tt_ranks="auto"`), with
    the ranks of the map's TT-matrices (`ttrnn.tt.TTMatrixSpec` with
    `gates`).
    """

    num_gates = 1
    extra_arguments = ()  # a subclass's own arguments, for the config

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
        input_scale=1.0,
        input_offset=0.0,
        input_precision="float32",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_scale = check_finite(input_scale, "input_scale")
        self.input_offset = check_finite(input_offset, "input_offset")

        self.input_precision = tt_precision.validate(input_precision)
        spec = TTMatrixSpec(
            tt_input_shape,
            tt_output_shape,
            tt_ranks,
            units,
            tt_d,
            tt_max_params,
            tt_compression,
            gates=self.num_gates,
            gate_layout=tt_gate_layout,
        )
        self.tt_gate_layout = tt_gate_layout
        self._init_tt_kernel(
            spec,
            tt_strategy,
            kernel_initializer,
            kernel_regularizer,
            kernel_constraint,
        )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.recurrent_initializer = keras.initializers.get(
            recurrent_initializer
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.recurrent_regularizer = keras.regularizers.get(
            recurrent_regularizer
        )
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = check_rate(dropout, "dropout")
        self.recurrent_dropout = check_rate(
            recurrent_dropout, "recurrent_dropout"
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.state_size = self.units
        self.output_size = self.units
        self._inputs_projected = False

    def build(self, input_shape):
        self._build_tt_kernel(input_shape)
        ranks = self.tt_ranks
        ins, outs = self.tt_resolved_spec.matrix_shape
        init, count = self.kernel_initializer, self.num_gates
        if self.tt_gate_layout == "shared":
            groups = [("", init.core_initializers(ins, outs, ranks))]
        else:
            groups = [
                (
                    f"{name}_",
                    gates.gate_core_initializers(
                        init, g, count, ins, outs, ranks
                    ),
                )
                for g, name in enumerate(self.gate_names)
            ]
        self._add_cores(groups)
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel",
            shape=(self.units, self.num_gates * self.units),
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=self._bias_shape(),
                initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    @property
    def gate_names(self):
        """Gate names in Keras' kernel order."""
        return self._gate_names

    def call(self, inputs, states, training=False):
        if self._inputs_projected:
            projected = inputs
        else:
            mask = None
            if training and self.dropout > 0:
                mask = self.get_dropout_mask(inputs)
            projected = self.input_map(self._prepare_inputs(inputs, mask))
        return self._recurrence(projected, states, training)

    def to_dense(self):
        """The (M, G * units) kernel in Keras' layout, as a tensor."""
        groups = [tt.to_dense(group) for group in self.core_groups]
        return groups[0] if len(groups) == 1 else ops.concatenate(groups, 1)

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size
        if isinstance(sizes, int):
            return [ops.zeros((batch_size, sizes), dtype=self.compute_dtype)]
        return [
            ops.zeros((batch_size, s), dtype=self.compute_dtype) for s in sizes
        ]

    def get_config(self):
        return {**super().get_config(), **self._arg_config()}

    def _arg_config(self):
        """The constructor arguments (shared by the cell and layer)."""
        config = {
            **self._tt_kernel_config(),
            "activation": activations.serialize(self.activation),
            **serialized(self, *_ARGUMENTS),
        }
        for name in self.extra_arguments:
            value = getattr(self, name)
            config[name] = (
                activations.serialize(value) if callable(value) else value
            )
        return config

    def _bias_shape(self):
        return (self.num_gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def _input_bias(self):
        return self.bias

    def _recurrent_inputs(self, h_tm1, training):
        """h_tm1 per gate: a list of G tensors, or None without dropout."""
        mask = self.get_recurrent_dropout_mask(h_tm1)
        if not training or mask is None:
            return None
        return [ops.multiply(h_tm1, mask[g]) for g in range(self.num_gates)]

    def _recurrence(self, projected, states, training):
        raise NotImplementedError

    def step_weights(self, training):
        """The step's weights, prepared once a sequence for
        `projected_step` (the layers' loop): on TensorFlow the recurrent
        kernel and the recurrent dropout masks (when they apply) as
        tensors, so that the loop can run as an XLA computation taking
        them as arguments (`ttrnn.recurrence_loops.xla_rnn`); None
        elsewhere (`_recurrence` reads them itself).

        Called inside the layer's call (the dtype policy's autocast scope)
        after the dropout masks are drawn."""
        if keras.backend.backend() != "tensorflow":
            return None
        mask = getattr(self, "_recurrent_dropout_mask", None)
        masks = None
        if bool(training) and mask is not None:
            masks = [mask[g] for g in range(self.num_gates)]
        kernel = ops.convert_to_tensor(self.recurrent_kernel)
        return {"kernel": kernel, "masks": masks}

    def _step_kernel_and_inputs(self, h_tm1, weights, training):
        """The recurrent kernel and h_tm1 per gate (`_recurrent_inputs`)
        from `step_weights`'s result, or read from the cell (None)."""
        if weights is None:
            return self.recurrent_kernel, self._recurrent_inputs(
                h_tm1, training
            )
        masks = weights["masks"]
        per_gate = None
        if masks is not None:
            per_gate = [ops.multiply(h_tm1, m) for m in masks]
        return weights["kernel"], per_gate

    def projected_step(self, projected, states, weights, training):
        """One step from projected gate inputs, with `step_weights`'s
        result (or None: `_recurrence`, as `call`): the same as `call` on
        projected inputs; the GRU cell fuses the gates' work."""
        return self._recurrence(projected, states, training)


class TTGatedCellBase(TTRNNCellBase):
    """Base of the gated cells (GRU, LSTM): adds `recurrent_activation`."""

    extra_arguments = ("recurrent_activation",)

    def __init__(
        self,
        tt_input_shape=None,
        tt_output_shape=None,
        tt_ranks=None,
        *,
        recurrent_activation="sigmoid",
        **kwargs,
    ):
        super().__init__(tt_input_shape, tt_output_shape, tt_ranks, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)

"""Shared machinery of the TT-RNN cells and layers.

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
cells with `recurrent_dropout` do. `keras.layers.RNN` prepares masks
outside its loop (which keeps the loop stateless on JAX) only for cells
that subclass its private `DropoutRNNCell`: the cells subclass it when it
can be imported (Keras 3.0 to at least 3.15), as a marker only; our own
layers prepare and reset the masks themselves and do not rely on it.
"""

import contextlib
import math

import keras
import numpy as np
from keras import ops

from ttrnn import activations
from ttrnn import backends
from ttrnn import tt
from ttrnn.layers._tt_kernel import TTKernelMixin
from ttrnn.layers._tt_kernel import build_with_cores
from ttrnn.layers._tt_kernel import require_built
from ttrnn.tt import factorize
from ttrnn.tt import gates
from ttrnn.tt import initializers as tt_initializers
from ttrnn.tt import rounding

try:  # A marker for keras.layers.RNN; every method is overridden below.
    from keras.src.layers.rnn.dropout_rnn_cell import (
        DropoutRNNCell as _KerasDropoutRNNCell,
    )
except ImportError:  # pragma: no cover - future Keras without the class

    class _KerasDropoutRNNCell:
        pass


GATE_LAYOUTS = ("shared", "separate")

# The input map runs over time chunks holding at most this many input
# values (batch * frames * features): 2**26 float32 values are 256 MiB.
# The map's temporaries are at most a few times its input chunk (less than
# one chunk for the UCF11 TT-GRU), so its working memory stays bounded for
# sequences of any length. The projected sequence itself, batch * frames *
# G * units values, is always held whole. Chunking needs static batch and
# time sizes; with a symbolic time axis the sequence is projected at once.
MAX_PROJECTION_VALUES = 2**26
# Integer (uint8) frames run in smaller, rematerialised chunks (see
# `project_sequence`): on the UCF11 TT-GRU (batch 16 x 256 frames, JAX)
# chunks of 2**22 values (4 frames of the batch) trained 1,890 frames/s
# and peaked at 1.27 GB, chunks of 2**26 values 1,520 and 1.67 GB.
MAX_INTEGER_CHUNK_VALUES = 2**22


def _check_finite(name, value):
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise ValueError(
            f"`{name}` must be a number. Received: {name}={value!r}"
        )
    if not math.isfinite(float(value)):
        raise ValueError(f"`{name}` must be finite. Received: {name}={value!r}")
    return float(value)


def _check_rate(name, value):
    if isinstance(value, bool) or not 0.0 <= float(value) < 1.0:
        raise ValueError(
            f"`{name}` must be a float in [0, 1). Received: {name}={value!r}"
        )
    return float(value)


class TTDropoutMixin(_KerasDropoutRNNCell):
    """Dropout masks of a TT-RNN cell: one per sequence, none at inference.

    Implements the protocol `keras.layers.RNN` uses (`get_dropout_mask`,
    `get_recurrent_dropout_mask`, `reset_dropout_mask`,
    `reset_recurrent_dropout_mask`). Needs `dropout`, `recurrent_dropout`,
    `seed_generator` and `num_gates`. Masks are created on first request
    and cached until reset, so every time step of a sequence uses the same
    masks and every batch gets new ones.
    """

    def get_dropout_mask(self, step_input):
        """Input mask of shape (batch, M), or None when `dropout` is 0."""
        mask = getattr(self, "_dropout_mask", None)
        if mask is None and self.dropout > 0:
            # In the compute dtype: the input may be uint8 pixels.
            mask = keras.random.dropout(
                ops.ones(ops.shape(step_input), dtype=self.compute_dtype),
                rate=self.dropout,
                seed=self.seed_generator,
            )
            self._dropout_mask = mask
        return mask

    def get_recurrent_dropout_mask(self, step_input):
        """Recurrent masks (G, batch, units), or None when the rate is 0."""
        mask = getattr(self, "_recurrent_dropout_mask", None)
        if mask is None and self.recurrent_dropout > 0:
            ones = ops.stack([ops.ones_like(step_input)] * self.num_gates)
            mask = keras.random.dropout(
                ones, rate=self.recurrent_dropout, seed=self.seed_generator
            )
            self._recurrent_dropout_mask = mask
        return mask

    def reset_dropout_mask(self):
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self):
        self._recurrent_dropout_mask = None


class TTRNNCellBase(TTKernelMixin, TTDropoutMixin, keras.layers.Layer):
    """Base of the TT-RNN cells: TT input map, weights, dropout, config.

    Subclasses set `num_gates` and `state_size`, and implement
    `_bias_shape`, `_bias_initializer`, `_input_bias` and `_recurrence`
    (one step from the projected gate inputs). The TT modes and ranks are
    resolved as in `TTDense` (`units=`, `tt_d=`, `tt_ranks="auto"`), with
    the ranks of the map's TT-matrices (see `_tt_ranks_for`).
    """

    num_gates = 1

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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_scale = _check_finite("input_scale", input_scale)
        self.input_offset = _check_finite("input_offset", input_offset)
        if tt_gate_layout not in GATE_LAYOUTS:
            raise ValueError(
                f"`tt_gate_layout` must be one of {GATE_LAYOUTS}. "
                f"Received: tt_gate_layout={tt_gate_layout!r}"
            )
        self.tt_gate_layout = tt_gate_layout
        # Validates the shape arguments and resolves the modes they fix.
        self._init_tt_shapes(
            tt_input_shape,
            tt_output_shape,
            tt_ranks,
            units,
            tt_d,
            tt_max_params,
            tt_compression,
        )
        tt.validate_strategy(tt_strategy, "tt_strategy")
        self.tt_strategy = tt_strategy
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = tt_initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(
            recurrent_initializer
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(
            recurrent_regularizer
        )
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = _check_rate("dropout", dropout)
        self.recurrent_dropout = _check_rate(
            "recurrent_dropout", recurrent_dropout
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.state_size = self.units
        self.output_size = self.units
        self._inputs_projected = False
        # The ranks now if both modes are known; the rest in build().
        self._resolve_given()

    def build(self, input_shape):
        self._build_tt_kernel(input_shape)
        ins, outs, ranks = (
            self.tt_input_shape,
            self._tt_map_output_shape,
            self.tt_ranks,
        )
        if self.tt_gate_layout == "shared":
            groups = [
                (
                    "",
                    self.kernel_initializer.core_initializers(ins, outs, ranks),
                )
            ]
        else:
            groups = [
                (
                    f"{name}_",
                    gates.gate_core_initializers(
                        self.kernel_initializer,
                        g,
                        self.num_gates,
                        ins,
                        outs,
                        ranks,
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
    def tt_core_shapes(self):
        """Shapes of `cores`: d, or G * d gate-major.

        Known before `build` when the modes are given; None while they
        wait for the input dim.
        """
        if self.tt_ranks is None:
            return None
        shapes = tt.core_shapes(
            self.tt_input_shape, self._tt_map_output_shape, self.tt_ranks
        )
        if self.tt_gate_layout == "shared":
            return shapes
        return shapes * self.num_gates

    @property
    def gate_names(self):
        """Gate names in Keras' kernel order."""
        return self._gate_names

    @property
    def _tt_map_output_shape(self):
        """Output modes of one TT-matrix of the input map."""
        return self._map_modes(self.tt_output_shape)

    def _map_modes(self, tt_output_shape):
        if self.tt_gate_layout == "shared":
            first = self.num_gates * tt_output_shape[0]
            return (first,) + tuple(tt_output_shape[1:])
        return tuple(tt_output_shape)

    def call(self, inputs, states, training=False):
        if self._inputs_projected:
            projected = inputs
        else:
            mask = None
            if training and self.dropout > 0:
                mask = self.get_dropout_mask(inputs)
            projected = self.input_map(self._prepare_inputs(inputs, mask))
        return self._recurrence(projected, states, training)

    def _prepare_inputs(self, inputs, dropout_mask=None):
        """Cast to the compute dtype, `x * input_scale + input_offset`,
        then the input dropout mask (broadcast over any time axis)."""
        x = ops.cast(inputs, self.compute_dtype)
        if self.input_scale != 1.0:
            x = ops.multiply(x, self.input_scale)
        if self.input_offset != 0.0:
            x = ops.add(x, self.input_offset)
        if dropout_mask is not None:
            if len(x.shape) == 3:
                dropout_mask = ops.expand_dims(dropout_mask, 1)
            x = ops.multiply(x, dropout_mask)
        return x

    def input_map(self, inputs, cores=None, bias=None):
        """x @ W + input bias: (..., M) -> (..., G * units), no dropout.

        `inputs` must already be in the compute dtype (see
        `_prepare_inputs`). `cores` and `bias` default to the layer's
        weights; `project_sequence` passes them in explicitly so that the
        rematerialised chunks take them as arguments.

        Complexity: see `ttrnn.tt.flops` per gate group; the "shared"
        layout costs little more than one gate of the "separate" one.
        """
        if cores is None:
            cores, bias = self.cores, self._input_bias()
        d = len(self.tt_input_shape)
        if self.tt_gate_layout == "shared":
            x = tt.matmul(inputs, cores, strategy=self.tt_strategy)
        else:
            x = ops.concatenate(
                [
                    tt.matmul(
                        inputs,
                        cores[g * d : (g + 1) * d],
                        strategy=self.tt_strategy,
                    )
                    for g in range(self.num_gates)
                ],
                axis=-1,
            )
        if bias is not None:
            x = ops.add(x, bias)
        return x

    def project_sequence(self, sequences, training=False):
        """Input map of a whole sequence (batch, time, M) at once.

        Casts the input to the compute dtype, applies `input_scale`,
        `input_offset` and (in training) the input dropout mask (one per
        sequence), and runs the map over time chunks of at most
        `MAX_PROJECTION_VALUES` input values.

        Integer inputs (uint8 video frames) are cast inside each chunk,
        and each chunk's map is rematerialised (`keras.remat`): the
        backward pass recomputes it from the integer chunk, so no float
        copy of the whole sequence ever exists, in the forward pass or
        the backward. The map's working memory is then O(chunk) for any
        sequence length, at the price of one more forward pass of the
        map.

        Returns:
            Tensor (batch, time, G * units).
        """
        mask = None
        if training and self.dropout > 0:
            mask = self.get_dropout_mask(sequences[:, 0, :])
        integer = "int" in str(keras.backend.standardize_dtype(sequences.dtype))
        batch, steps = sequences.shape[0], sequences.shape[1]
        if batch is None or steps is None:
            chunk = None
        else:
            limit = (
                MAX_INTEGER_CHUNK_VALUES if integer else MAX_PROJECTION_VALUES
            )
            chunk = max(1, limit // (batch * self.input_dim))
        if not integer:
            x = self._prepare_inputs(sequences, mask)
            if chunk is None or chunk >= steps:
                return self.input_map(x)
            return ops.concatenate(
                [
                    self.input_map(x[:, start : start + chunk])
                    for start in range(0, steps, chunk)
                ],
                axis=1,
            )
        # Weights enter the rematerialised chunks as arguments (not
        # closed-over variables), which every backend's remat supports;
        # the integer frames are closed over (they need no gradient, and
        # TensorFlow's remat warns about watching an integer argument).
        cores = [ops.convert_to_tensor(c) for c in self.cores]
        bias = self._input_bias()
        head = [] if mask is None else [mask]
        tail = [] if bias is None else [ops.convert_to_tensor(bias)]
        num_cores = len(cores)

        def project(x, *args):
            drop = args[0] if head else None
            weights = list(args[len(head) : len(head) + num_cores])
            b = args[-1] if tail else None
            return self.input_map(self._prepare_inputs(x, drop), weights, b)

        if chunk is None and keras.backend.backend() == "tensorflow":
            # Keras' tf.data input leaves the time axis of bucketed
            # batches unknown: chunks of a size found when it runs.
            return backends.remat_dynamic_time_chunks(
                project,
                sequences,
                MAX_INTEGER_CHUNK_VALUES,
                self.input_dim,
                self.compute_dtype,
                [*head, *cores, *tail],
            )
        if chunk is None:  # unknown sizes (shape inference): no chunks
            return project(sequences, *head, *cores, *tail)
        return backends.remat_time_chunks(
            project, sequences, chunk, [*head, *cores, *tail]
        )

    def to_dense(self):
        """The (M, G * units) kernel in Keras' layout, as a tensor."""
        if self.tt_gate_layout == "shared":
            return tt.to_dense(self.cores)
        d = len(self.tt_input_shape)
        return ops.concatenate(
            [
                tt.to_dense(self.cores[g * d : (g + 1) * d])
                for g in range(self.num_gates)
            ],
            axis=1,
        )

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size
        if isinstance(sizes, int):
            return [ops.zeros((batch_size, sizes), dtype=self.compute_dtype)]
        return [
            ops.zeros((batch_size, s), dtype=self.compute_dtype) for s in sizes
        ]

    @contextlib.contextmanager
    def consuming_projected_inputs(self):
        """Within this context `call` takes projected gate inputs."""
        self._inputs_projected = True
        try:
            yield
        finally:
            self._inputs_projected = False

    def get_config(self):
        return {**super().get_config(), **self._arg_config()}

    def _arg_config(self):
        """The constructor arguments (shared by the cell and layer)."""
        return {
            **self._tt_shape_config(),
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": tt_initializers.serialize(
                self.kernel_initializer
            ),
            "recurrent_initializer": keras.initializers.serialize(
                self.recurrent_initializer
            ),
            "bias_initializer": keras.initializers.serialize(
                self.bias_initializer
            ),
            "kernel_regularizer": keras.regularizers.serialize(
                self.kernel_regularizer
            ),
            "recurrent_regularizer": keras.regularizers.serialize(
                self.recurrent_regularizer
            ),
            "bias_regularizer": keras.regularizers.serialize(
                self.bias_regularizer
            ),
            "kernel_constraint": keras.constraints.serialize(
                self.kernel_constraint
            ),
            "recurrent_constraint": keras.constraints.serialize(
                self.recurrent_constraint
            ),
            "bias_constraint": keras.constraints.serialize(
                self.bias_constraint
            ),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "tt_gate_layout": self.tt_gate_layout,
            "tt_strategy": self.tt_strategy,
            "input_scale": self.input_scale,
            "input_offset": self.input_offset,
        }

    def _tt_ranks_for(self, tt_input_shape, tt_output_shape):
        """Ranks of the map's TT-matrices for the cell's modes.

        Given ranks are validated against the gate-expanded modes (shared
        layout) or one gate's (separate). A budget (`tt_max_params`, or
        `tt_compression` against the dense (M, G units) kernel) counts
        the weights of the whole input map: `ranks_for_budget` on the
        gate-expanded modes, or on one gate's modes with a G-th of the
        budget.
        """
        outs = self._map_modes(tt_output_shape)
        if self._tt_ranks_arg != "auto":
            return tt.validate_ranks(self._tt_ranks_arg, tt_input_shape, outs)
        matrices = 1 if self.tt_gate_layout == "shared" else self.num_gates
        if self._tt_max_params is not None:
            budget = self._tt_max_params
        else:
            dense = math.prod(tt_input_shape) * math.prod(outs) * matrices
            budget = int(dense // self._tt_compression)
        ones = (1,) * (len(tt_input_shape) + 1)
        smallest = matrices * tt.num_params(tt_input_shape, outs, ones)
        if smallest > budget:
            raise ValueError(
                f"The smallest TT input map (rank 1) of {self.name} for "
                f"tt_input_shape={tuple(tt_input_shape)}, tt_output_shape="
                f"{tuple(tt_output_shape)} ({self.tt_gate_layout} layout, "
                f"{self.num_gates} gates) has {smallest} weights, above the "
                f"budget of {budget}. Received: tt_max_params="
                f"{self._tt_max_params}, tt_compression={self._tt_compression}"
            )
        return factorize.ranks_for_budget(
            tt_input_shape, outs, max_params=budget // matrices
        )

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
                setattr(cell, name, _check_finite(name, kwargs.pop(name)))
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

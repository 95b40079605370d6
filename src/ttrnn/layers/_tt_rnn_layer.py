"""The base of the TT-RNN layers: project the sequence, then recur.

`TTRNNBase` is a `keras.layers.RNN` whose cell (a `TTRNNCellBase`) takes
projected gate inputs: the TT input map runs once over all batch * time
frames (`project_sequence`), then Keras' own recurrence loop runs.
"""

import inspect

import keras
from keras import ops

from ttrnn import backends
from ttrnn import recurrence_loops
from ttrnn.layers import _costs
from ttrnn.layers._tt_kernel import require_built
from ttrnn.layers._tt_rebuild import build_with_cores
from ttrnn.layers._tt_rebuild import load_resolved_spec
from ttrnn.layers._tt_rebuild import rounded_groups
from ttrnn.layers._tt_rebuild import save_resolved_spec
from ttrnn.layers._tt_rebuild import with_ranks
from ttrnn.layers._tt_rnn_cell import TTRNNCellBase
from ttrnn.tt.contraction import runtime

try:  # Keras' backend loop, which `keras.layers.RNN.inner_loop` runs.
    from keras.src.backend import rnn as _keras_backend_rnn
except ImportError:  # pragma: no cover - a future Keras without it
    _keras_backend_rnn = None

# The first three arguments of the TT-RNN cells and layers, positional;
# the others are keywords.
_POSITIONAL = ("tt_input_shape", "tt_output_shape", "tt_ranks")
# The arguments of `keras.layers.RNN` the TT-RNN layers take: defaults.
_RNN_ARGUMENTS = {
    "activity_regularizer": None,
    "return_sequences": False,
    "return_state": False,
    "go_backwards": False,
    "stateful": False,
    "unroll": False,
}


def cell_property(name):
    """A property reading the cell's attribute `name`."""

    def getter(self):
        return getattr(self.cell, name)

    getter.__doc__ = f"The cell's `{name}`."
    return property(getter)


def cell_parameters(cell_class):
    """The parameters of a TT-RNN cell class's constructor: those of
    `TTRNNCellBase`, then each subclass's own, as `inspect.Parameter`s."""
    params = {}
    for klass in reversed(cell_class.__mro__):
        if "__init__" not in vars(klass) or not issubclass(
            klass, TTRNNCellBase
        ):
            continue
        for p in inspect.signature(klass.__init__).parameters.values():
            if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            kind = p.POSITIONAL_OR_KEYWORD
            params[p.name] = p.replace(
                kind=kind if p.name in _POSITIONAL else p.KEYWORD_ONLY
            )
    return list(params.values())


def signature(parameters):
    """The signature of `parameters` and `**kwargs` (for `help()`)."""
    kwargs = inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)
    return inspect.Signature([*parameters, kwargs])


class TTRNNBase(keras.layers.RNN):
    """Base of the TT-RNN layers: projects the sequence, then recurs.

    `inner_loop` runs the TT input map once over all batch * time frames
    (in time chunks, see `MAX_PROJECTION_VALUES`) and then Keras' own
    recurrence loop with a cell that takes the projected gate inputs, so
    masking, `go_backwards`, `unroll`, `stateful` and `Bidirectional`
    behave exactly as for Keras' layers.
    """

    cell_class = TTRNNCellBase  # the subclass's cell
    cell_name = "tt_rnn_cell"
    # Whether the loop calls `cell.call` (True) or, as Keras' own loop,
    # the cell as a layer at every step (False: the reference path).
    direct_step = True
    # With `direct_step` on torch: `recurrence_loops.torch_rnn` (True) or Keras'
    # torch loop (False), which tiles the step mask and runs a first
    # step twice.
    torch_loop = True
    # With `torch_loop`, for a cell whose `step_weights` give a
    # "torch_sequence" (the GRU): the whole recurrence as one autograd
    # Function (`recurrence_torch.gru_sequence`, True) or step by step.
    torch_sequence = True
    # With `direct_step` on TensorFlow, in a traced function, for a cell
    # with `step_weights` (the GRU): the loop compiled by XLA
    # (`recurrence_loops.xla_rnn`, True; `runtime.xla_recurrence`) or run by
    # TensorFlow's executor op by op (False).
    xla_loop = True

    def __init__(
        self, tt_input_shape=None, tt_output_shape=None, tt_ranks=None, **kwargs
    ):
        names = {p.name for p in cell_parameters(self.cell_class)}
        cell_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        cell = self.cell_class(
            tt_input_shape,
            tt_output_shape,
            tt_ranks,
            **cell_kwargs,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name=self.cell_name,
        )
        super().__init__(cell, **kwargs)
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        extra = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=v)
            for name, v in _RNN_ARGUMENTS.items()
        ]
        cell = cell_parameters(cls.cell_class)
        # For help(): the arguments the layer and its cell take.
        cls.cell_class.__signature__ = signature(cell)
        cls.__signature__ = signature(cell + extra)

    units = cell_property("units")
    input_dim = cell_property("input_dim")
    tt_input_shape = cell_property("tt_input_shape")
    tt_output_shape = cell_property("tt_output_shape")
    tt_ranks = cell_property("tt_ranks")
    tt_gate_layout = cell_property("tt_gate_layout")
    tt_strategy = cell_property("tt_strategy")
    input_precision = cell_property("input_precision")
    activation = cell_property("activation")
    use_bias = cell_property("use_bias")
    kernel_initializer = cell_property("kernel_initializer")
    recurrent_initializer = cell_property("recurrent_initializer")
    bias_initializer = cell_property("bias_initializer")
    kernel_regularizer = cell_property("kernel_regularizer")
    recurrent_regularizer = cell_property("recurrent_regularizer")
    bias_regularizer = cell_property("bias_regularizer")
    kernel_constraint = cell_property("kernel_constraint")
    recurrent_constraint = cell_property("recurrent_constraint")
    bias_constraint = cell_property("bias_constraint")
    dropout = cell_property("dropout")
    recurrent_dropout = cell_property("recurrent_dropout")
    seed = cell_property("seed")
    cores = cell_property("cores")
    core_groups = cell_property("core_groups")
    tt_spec = cell_property("tt_spec")
    tt_resolved_spec = cell_property("tt_resolved_spec")
    recurrent_kernel = cell_property("recurrent_kernel")
    bias = cell_property("bias")

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        # Masks are drawn here, outside the loop (a no-op when
        # keras.layers.RNN.call already drew them).
        cell.get_dropout_mask(sequences[:, 0, :])
        first_state = initial_state
        while isinstance(first_state, (list, tuple)):
            first_state = first_state[0]
        masks = cell.get_recurrent_dropout_mask(first_state)
        projected = cell.project_sequence(sequences, training=training)
        if training:  # warns once if torch's denormals slow the backward
            projected = backends.watch_denormals(projected, self.name)
        with cell.consuming_projected_inputs():
            return self.sharded_recur(
                projected, initial_state, mask, masks, training
            )

    def sharded_recur(self, projected, initial_state, mask, masks, training):
        """`recur`, on each device's rows of the batch under a JAX
        distribution (`ttrnn.backends.batch_sharded`): the recurrent
        weights' gradients are then summed over the devices once a
        sequence, not at every time step. `masks`: the cell's recurrent
        dropout masks (G, batch, units), or None."""
        if not backends.splits_batch(projected):
            return self.recur(projected, initial_state, mask, training)
        cell = self.cell
        # The cell's weights enter as arguments: read inside the devices'
        # program, the variables would be the whole mesh's arrays.
        weights = list(cell.variables)
        values = [ops.cast(w.value, w.dtype) for w in weights]
        args, axes = [values, initial_state], [None, 0]
        if mask is not None:
            args, axes = [*args, mask], [*axes, 0]
        if masks is not None:  # (G, batch, units)
            args, axes = [*args, masks], [*axes, 1]

        def run(rows, own_values, states, *more):
            rows_mask = more[0] if mask is not None else None
            own_masks = more[-1] if masks is not None else None
            with (
                keras.StatelessScope(
                    state_mapping=list(zip(weights, own_values))
                ),
                cell.recurrent_dropout_mask_as(own_masks),
            ):
                return self.recur(rows, states, rows_mask, training)

        return backends.batch_sharded(run, projected, args, axes)

    def recur(self, projected, initial_state, mask=None, training=False):
        """The recurrence over projected gate inputs (batch, time, G units)
        (within `cell.consuming_projected_inputs()`): Keras' loop
        `(last_output, outputs, states)`.

        With `direct_step` (the default) this is
        `keras.layers.RNN.inner_loop` stepping the cell directly.

        Keras' loop calls the cell as a layer (`Layer.__call__`: input
        conversion, call context, name scope, mask metadata) at every time
        step; on torch, which runs the loop eagerly, that Python work
        costs about as much as the step's own ops. This layer's `call`
        has already entered the dtype policy's autocast scope (the cell
        shares it) and the cell is built, so the step is the cell's
        `projected_step`, with the weights it prepares once a sequence
        (`step_weights`: no slicing of the recurrent kernel per step;
        not on JAX, see below). Without it, Keras' own loop (the
        reference path).
        """
        if not self.direct_step or _keras_backend_rnn is None:
            return super().inner_loop(
                projected, initial_state, mask=mask, training=training
            )
        cell = self.cell
        copy_states = keras.backend.backend() == "torch" and self.stateful
        # XLA hoists the kernel's slices out of JAX's scan and fuses the
        # gates itself: the fused step showed no gain there (RESULTS.md),
        # so JAX keeps Keras' step.
        weights = None
        if keras.backend.backend() != "jax":
            weights = cell.step_weights(training)

        def step_with(inputs, states, weights):
            if copy_states:  # as Keras: no in-place writes under autograd
                states = [ops.copy(s) for s in states]
            output, new_states = cell.projected_step(
                inputs, states, weights, training
            )
            if not isinstance(new_states, (list, tuple)):
                new_states = [new_states]
            return output, new_states

        def step(inputs, states):
            return step_with(inputs, states, weights)

        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        torch = keras.backend.backend() == "torch"
        if torch and self.torch_loop and not self.unroll:
            sequence = isinstance(weights, dict) and self.torch_sequence
            sequence = sequence and weights.get("torch_sequence")
            if sequence:
                return sequence(
                    projected,
                    initial_state[0],
                    mask,
                    self.go_backwards,
                    self.zero_output_for_mask,
                    self.return_sequences,
                )
            return recurrence_loops.torch_rnn(
                step,
                projected,
                initial_state,
                go_backwards=self.go_backwards,
                mask=mask,
                zero_output_for_mask=self.zero_output_for_mask,
                return_all_outputs=self.return_sequences,
            )
        options = dict(
            go_backwards=self.go_backwards,
            mask=mask,
            unroll=self.unroll,
            input_length=projected.shape[1],
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )
        # Only a step whose weights enter as tensors (the GRU's
        # `step_weights`): variables read inside cannot cross into XLA.
        xla = weights is not None and self.xla_loop and not self.unroll
        if xla and runtime.xla_recurrence():
            return recurrence_loops.xla_rnn(
                _keras_backend_rnn,
                step_with,
                weights,
                projected,
                initial_state,
                **options,
            )
        return _keras_backend_rnn(step, projected, initial_state, **options)

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
        groups, ranks = rounded_groups(cell.core_groups, max_rank, eps)
        layer = with_ranks(self, cell.tt_resolved_spec, ranks, name)
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

    def get_build_config(self):
        """Keras' build config, with the cell's resolved modes and ranks."""
        return save_resolved_spec(self.cell, super().get_build_config())

    def build_from_config(self, config):
        """Builds with the saved modes and ranks (not chosen again)."""
        load_resolved_spec(self.cell, config)
        super().build_from_config(config)

    def get_config(self):
        base = super().get_config()
        del base["cell"]
        return {**base, **self.cell._arg_config()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # --- What `summary`, `compress` and `explain` ask of the layer ---
    # (Each subclass names its `keras_class` and `lrp_rule`.)

    @classmethod
    def from_keras(cls, layer, options):
        """`ttrnn.compress`'s TT-RNN of a trained Keras RNN of
        `keras_class` (`ttrnn.conversions.rnn_to_tt`)."""
        from ttrnn import conversions

        return conversions.rnn_to_tt(cls, layer, options)

    def kernel_cost(self, input_shape, batch_size, input_dtype="float32"):
        """The input map's `KernelCost` (recurrent matmul included) for a
        batch of `batch_size` sequences of `input_shape`, by the plans the
        planner picks for its time chunks."""
        return _costs.recurrent_cost(
            self, self.core_groups, input_shape, batch_size, input_dtype
        )

"""TTGRU: a gated recurrent unit whose input kernel is a TT-matrix."""

import keras
from keras import ops

from ttrnn import recurrence_loops
from ttrnn import recurrence_torch
from ttrnn.layers._tt_rnn_cell import TTGatedCellBase
from ttrnn.layers._tt_rnn_layer import TTRNNBase
from ttrnn.layers._tt_rnn_layer import cell_property


@keras.saving.register_keras_serializable(package="ttrnn")
class TTGRUCell(TTGatedCellBase):
    """Cell of `TTGRU`: Keras' GRU cell with a TT input kernel.

    With gate inputs `[x_z, x_r, x_h] = x_t @ W + b_in`:

    ```
    z = recurrent_activation(x_z + h_{t-1} @ U_z (+ b_rz))
    r = recurrent_activation(x_r + h_{t-1} @ U_r (+ b_rr))
    reset_after=True:  hh = activation(x_h + r * (h_{t-1} @ U_h + b_rh))
    reset_after=False: hh = activation(x_h + (r * h_{t-1}) @ U_h)
    h_t = z * h_{t-1} + (1 - z) * hh
    ```

    W (M, 3 units) is a TT-matrix; U = `recurrent_kernel` (units,
    3 units) and `bias` ((2, 3 units) with `reset_after`, else
    (3 units,)) have the shapes of `keras.layers.GRUCell`, gate order
    [z, r, h]. In the "shared" layout `ttrnn.tt.to_dense(cell.cores)` is a
    drop-in `keras.layers.GRU` kernel.

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
        input_precision: "float32" (default) or "bfloat16": the
            precision of the TT map's GEMM on the inputs (95 % of the
            UCF11 map's multiply-adds), forward and backward: bfloat16
            operands, float32 accumulation; uint8 frames are exact in
            bfloat16. 4-9x faster GEMMs on CPUs with AMX or
            AVX512_BF16 (docs/speed.md, "bfloat16 input products"); the
            recurrence and everything else stay in the compute dtype.
        reset_after: apply the reset gate after the recurrent matmul
            (Keras 3's default) or before it (False; Keras 2 and the 2017
            paper). Defaults to True.
        tt_gate_layout: "shared" (one TT-matrix whose first output mode is
            multiplied by 3, the paper's TT-GRU) or "separate" (one
            TT-matrix per gate, the paper's "vanilla" TT-GRU). Defaults to
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
        states: the previous state (batch, units), alone or in a list.
        training: whether dropout applies.

    Example:
    >>> import numpy as np
    >>> cell = TTGRUCell((4, 8), (4, 4), 3)
    >>> tuple(keras.layers.RNN(cell)(np.ones((2, 5, 32), "float32")).shape)
    (2, 16)
    >>> [tuple(c.shape) for c in cell.cores]  # n_0 = 3 gates * 4
    [(1, 4, 12, 3), (3, 8, 4, 1)]
    """

    num_gates = 3
    _gate_names = ("z", "r", "h")
    extra_arguments = ("recurrent_activation", "reset_after")

    def __init__(self, *args, reset_after=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        if self.reset_after:
            # Separate input and recurrent biases, as Keras' GRUCell.
            return (2, 3 * self.units)
        return (3 * self.units,)

    def _input_bias(self):
        if self.bias is None:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def _recurrence(self, projected, states, training):
        nested = isinstance(states, (list, tuple))
        h_tm1 = states[0] if nested else states
        u = self.units
        kernel = self.recurrent_kernel
        per_gate = self._recurrent_inputs(h_tm1, training)
        h_z, h_r, h_h = per_gate or (h_tm1, h_tm1, h_tm1)
        x_z, x_r, x_h = ops.split(projected, 3, axis=-1)
        if self.reset_after:
            if per_gate is None:
                inner = ops.matmul(h_tm1, kernel)
            else:
                inner = ops.concatenate(
                    [
                        ops.matmul(h_z, kernel[:, :u]),
                        ops.matmul(h_r, kernel[:, u : 2 * u]),
                        ops.matmul(h_h, kernel[:, 2 * u :]),
                    ],
                    axis=-1,
                )
            if self.bias is not None:
                inner = ops.add(inner, self.bias[1])
            rec_z, rec_r, rec_h = ops.split(inner, 3, axis=-1)
        else:
            if per_gate is None:
                inner = ops.matmul(h_tm1, kernel[:, : 2 * u])
                rec_z, rec_r = ops.split(inner, 2, axis=-1)
            else:
                rec_z = ops.matmul(h_z, kernel[:, :u])
                rec_r = ops.matmul(h_r, kernel[:, u : 2 * u])
        z = self.recurrent_activation(ops.add(x_z, rec_z))
        r = self.recurrent_activation(ops.add(x_r, rec_r))
        if self.reset_after:
            rec_h = ops.multiply(r, rec_h)
        else:
            rec_h = ops.matmul(ops.multiply(r, h_h), kernel[:, 2 * u :])
        hh = self.activation(ops.add(x_h, rec_h))
        h = ops.add(ops.multiply(z, h_tm1), ops.multiply(1 - z, hh))
        return h, [h] if nested else h

    def step_weights(self, training):
        """The recurrent kernel cut per gate once a sequence (contiguous
        copies), with the recurrent dropout masks when they apply."""
        u = self.units
        kernel = ops.convert_to_tensor(self.recurrent_kernel)
        mask = getattr(self, "_recurrent_dropout_mask", None)
        gates = [ops.copy(kernel[:, g * u : (g + 1) * u]) for g in range(3)]
        weights = {"kernels": gates, "masks": None, "bias": None}
        if bool(training) and mask is not None:
            weights["masks"] = [mask[g] for g in range(3)]
        elif self.reset_after:  # one matmul for the three gates
            weights["kernel"] = kernel
        else:
            weights["kernel"] = ops.copy(kernel[:, : 2 * u])
        if self.bias is not None and self.reset_after:
            weights["bias"] = ops.convert_to_tensor(self.bias)[1]
        weights["torch_step"] = recurrence_loops.torch_gru_step(
            weights,
            u,
            self.reset_after,
            self.activation,
            self.recurrent_activation,
        )
        weights["torch_sequence"] = recurrence_torch.gru_sequence(
            kernel,
            weights,
            u,
            self.reset_after,
            self.activation,
            self.recurrent_activation,
        )
        return weights

    def projected_step(self, projected, states, weights, training):
        """`_recurrence` with the kernel cut once a sequence (no slicing
        per step), the gates' matmuls merged where no dropout mask
        separates them, one activation call for z and r, and
        h_t = hh + z (h_{t-1} - hh); on torch as direct torch calls
        (`ttrnn.recurrence_loops.torch_gru_step`)."""
        if weights is None:  # Keras' step (JAX: see `TTRNNBase`)
            return self._recurrence(projected, states, training)
        nested = isinstance(states, (list, tuple))
        h_tm1 = states[0] if nested else states
        if weights.get("torch_step") is not None:  # direct torch calls
            h = weights["torch_step"](projected, h_tm1)
            return h, [h] if nested else h
        u, masks, bias = self.units, weights["masks"], weights["bias"]
        if masks is None:
            h_gates = [h_tm1] * 3
            inner = ops.matmul(h_tm1, weights["kernel"])
        else:
            h_gates = [ops.multiply(h_tm1, m) for m in masks]
            count = 3 if self.reset_after else 2
            inner = [
                ops.matmul(h_gates[g], weights["kernels"][g])
                for g in range(count)
            ]
            inner = ops.concatenate(inner, axis=-1)
        if bias is not None:
            inner = ops.add(inner, bias)
        rec_zr = inner[:, : 2 * u]
        zr = self.recurrent_activation(ops.add(projected[:, : 2 * u], rec_zr))
        z, r = zr[:, :u], zr[:, u:]
        if self.reset_after:
            rec_h = ops.multiply(r, inner[:, 2 * u :])
        else:
            rec_h = ops.multiply(r, h_gates[2])
            rec_h = ops.matmul(rec_h, weights["kernels"][2])
        hh = self.activation(ops.add(projected[:, 2 * u :], rec_h))
        h = ops.add(hh, ops.multiply(z, ops.subtract(h_tm1, hh)))
        return h, [h] if nested else h


@keras.saving.register_keras_serializable(package="ttrnn")
class TTGRU(TTRNNBase):
    """Gated recurrent unit whose input-to-hidden kernel is a TT-matrix.

    `keras.layers.GRU` with W of shape (M, 3 units) stored as TT cores (the
    TT-GRU of Yang et al. 2017). The TT map runs once over all batch * time
    frames before the recurrence; the cell equations are in `TTGRUCell`.
    In the "shared" layout, a `keras.layers.GRU` with the weights
    `[to_dense(), recurrent_kernel, bias]` gives the same outputs.

    Modes and ranks are chosen as in `TTDense`: with `units=` the input
    modes come from the input dim when the layer is built, and
    `tt_ranks="auto"` takes the largest ranks whose input map (all gates)
    fits `tt_max_params` or `tt_compression`. `round()` returns a smaller
    copy with TT-rounded cores, to fine-tune.

    Args:
        tt_input_shape, tt_output_shape, tt_ranks, **kwargs: the arguments
            of `TTGRUCell`, those of `keras.layers.GRU` the layer adds
            (`activity_regularizer`, `return_sequences`, `return_state`,
            `go_backwards`, `stateful`, `unroll`) and the base layer's
            (`name`, `dtype`, `trainable`).

    Call arguments, input and output shapes: as `keras.layers.GRU`, for
    inputs `(batch, time, prod(tt_input_shape))`.

    Example:
    >>> import numpy as np
    >>> gru = TTGRU((8, 20, 20, 18), (4, 4, 4, 4), tt_ranks=4)
    >>> tuple(gru(np.ones((1, 2, 57600), "float32")).shape)
    (1, 256)
    >>> sum(int(np.prod(c.shape)) for c in gru.cores)  # Yang et al. 2017
    3232
    >>> auto = TTGRU(units=256, tt_ranks="auto", tt_max_params=4000)
    >>> auto.build((None, None, 57600))
    >>> auto.tt_input_shape, auto.tt_output_shape
    ((5, 8, 6, 6, 8, 5), (4, 2, 2, 2, 2, 4))
    >>> sum(int(np.prod(c.shape)) for c in auto.cores)
    4000
    >>> auto.round(max_rank=2).tt_ranks
    (1, 2, 2, 2, 2, 2, 1)

    Reference:
        Yang, Krompass, Tresp, "Tensor-Train Recurrent Neural Networks for
        Video Classification", ICML 2017.
    """

    cell_class = TTGRUCell
    cell_name = "tt_gru_cell"
    recurrent_activation = cell_property("recurrent_activation")
    reset_after = cell_property("reset_after")

    # --- What `summary`, `compress` and `explain` ask of the layer ---
    keras_class = keras.layers.GRU  # the Keras layer it replaces
    lrp_rule = "gru"  # `ttrnn.explain`'s rules for GRU cells

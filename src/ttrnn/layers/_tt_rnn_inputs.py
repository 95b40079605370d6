"""The input side of a TT-RNN cell: dropout masks and the TT input map.

`TTDropoutMixin` gives a cell Keras' dropout-mask protocol (one input mask
per sequence, applied before the map; one recurrent mask per gate).
`TTInputMapMixin` runs the input-to-hidden TT map, one step at a time or
over a whole sequence at once (`project_sequence`, in time chunks whose
working memory stays bounded for any length; uint8 frames cast piece by
piece in the map's first GEMM, or inside each rematerialised chunk).

Dropout: `keras.layers.RNN` prepares masks outside its loop (which keeps
the loop stateless on JAX) only for cells that subclass its private
`DropoutRNNCell`: the cells subclass it when it can be imported (Keras 3.0
to at least 3.15), as a marker only; our own layers prepare and reset the
masks themselves and do not rely on it.
"""

import contextlib

import keras
from keras import ops

from ttrnn import backends
from ttrnn import tt
from ttrnn.tt import contraction
from ttrnn.tt.contraction import precision as precision_
from ttrnn.tt.contraction import runtime
from ttrnn.tt.cores import fold_input_affine

try:  # A marker for keras.layers.RNN; every method is overridden below.
    from keras.src.layers.rnn.dropout_rnn_cell import (
        DropoutRNNCell as _KerasDropoutRNNCell,
    )
except ImportError:  # pragma: no cover - future Keras without the class

    class _KerasDropoutRNNCell:
        pass


# The input map runs over time chunks holding at most this many input
# values (batch * frames * features): 2**26 float32 values are 256 MiB.
# The map's temporaries are at most a few times its input chunk (less than
# one chunk for the UCF11 TT-GRU), so its working memory stays bounded for
# sequences of any length. The projected sequence itself, batch * frames *
# G * units values, is always held whole. Chunking needs static batch and
# time sizes; with a symbolic time axis the sequence is projected at once.
# Integer (uint8) frames run in smaller, rematerialised chunks
# (`ttrnn.backends.MAX_INTEGER_CHUNK_VALUES`, as TTDense's integer rows).
MAX_PROJECTION_VALUES = 2**26


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

    @contextlib.contextmanager
    def recurrent_dropout_mask_as(self, mask):
        """Within this context the recurrent masks are `mask` (a
        device's rows of them, `ttrnn.backends.batch_sharded`)."""
        saved = getattr(self, "_recurrent_dropout_mask", None)
        self._recurrent_dropout_mask = mask
        try:
            yield
        finally:
            self._recurrent_dropout_mask = saved


class TTInputMapMixin:
    """The TT input map of a cell (needs the cell's `cores`, `input_dim`,
    `dropout`, `input_scale`, `input_offset`, `tt_strategy` and
    `_input_bias`).

    `integer_first_gemm = False` (on a cell) maps integer frames in
    rematerialised chunks even where the plan could read them as they
    lie: the reference path of the tests and benchmarks.
    """

    integer_first_gemm = True

    def _prepare_inputs(self, inputs, dropout_mask=None):
        """Cast to the compute dtype, `x * input_scale + input_offset`,
        then the input dropout mask (broadcast over any time axis)."""
        x = ops.cast(inputs, self.compute_dtype)
        if self.input_scale != 1.0:
            x = ops.multiply(x, self.input_scale)
        if self.input_offset != 0.0:
            x = ops.add(x, self.input_offset)
        return self._cast_and_mask(x, dropout_mask)

    def _cast_and_mask(self, inputs, dropout_mask=None):
        """Cast to the compute dtype and apply the input dropout mask:
        the only per-value work `project_sequence` does before the map
        (`input_scale` and `input_offset` are folded into the map's
        weights by `_folded_weights`)."""
        x = ops.cast(inputs, self.compute_dtype)
        if dropout_mask is not None:
            if len(x.shape) == 3:
                dropout_mask = ops.expand_dims(dropout_mask, 1)
            x = ops.multiply(x, dropout_mask)
        return x

    def _folded_weights(self, cores, bias, dropout_mask=None):
        """Cores and bias with `input_scale` and `input_offset` folded in
        (`ttrnn.tt.cores.fold_input_affine`): s scales the first core of
        each gate group, and the offset becomes a bias, one row a sequence
        under dropout, (batch, 1, G * units), else (G * units,)."""
        return fold_input_affine(
            cores,
            bias,
            self.input_scale,
            self.input_offset,
            # the offset's bias: a few rows, in float32
            lambda rows, w: self.input_map(rows, w, None, "float32"),
            len(self.tt_input_shape),
            self.compute_dtype,
            dropout_mask,
        )

    def input_map(self, inputs, cores=None, bias=None, precision=None):
        """x @ W + input bias: (..., M) -> (..., G * units), no dropout.

        `inputs` must already be in the compute dtype (see
        `_prepare_inputs`). `cores` and `bias` default to the layer's
        weights; `project_sequence` passes them in explicitly so that the
        rematerialised chunks take them as arguments. `precision` of the
        GEMM on x defaults to the cell's `input_precision`.

        Complexity: see `ttrnn.tt.flops` per gate group; the "shared"
        layout costs little more than one gate of the "separate" one.
        """
        if cores is None:
            cores, bias = self.cores, self._input_bias()
        x = [
            tt.matmul(
                inputs,
                group,
                strategy=self.tt_strategy,
                precision=precision or self.input_precision,
            )
            for group in self.tt_resolved_spec.core_groups(cores)
        ]
        x = x[0] if len(x) == 1 else ops.concatenate(x, axis=-1)
        if bias is not None:
            x = ops.add(x, bias)
        return x

    def project_sequence(self, sequences, training=False):
        """Input map of a whole sequence (batch, time, M) at once.

        Casts the input to the compute dtype, applies (in training) the
        input dropout mask (one per sequence), and runs the map over time
        chunks of at most `MAX_PROJECTION_VALUES` input values;
        `input_scale` and `input_offset` are folded into the map's weights
        (`_folded_weights`), not applied to every value.

        Integer inputs (uint8 video frames) never exist as a float copy
        of the whole sequence, in the forward pass or the backward. They
        are cast and mapped in rematerialised time chunks
        (`ttrnn.backends.remat_integer_chunks`), whose backward pass
        recomputes each chunk's map from its integer frames. Where the
        plan starts with one GEMM on the frames as they lie (the video
        TT-RNNs' plans; `ttrnn.tt.contraction.reads_integers`), 95 % of
        the UCF11 map, that GEMM's output (40 KB a frame, against 230 KB
        of float32 frames) is kept instead of recomputed: on JAX, where
        `runtime.keeps_first_gemm` (off by default: recomputing it ran
        faster on two cores), the chunks save it (a checkpoint policy),
        and without an input dropout mask the GEMM casts the chunk's
        frames piece by piece (`runtime.integer_cast_in_first_gemm`);
        on torch, without an input
        dropout mask, the GEMM casts the frames piece by piece with its
        own backward (`ttrnn.tt.contraction.integer`) and the rest of the
        map is differentiated as usual
        (`runtime.integer_first_gemm_in_pieces`); on TensorFlow the
        chunks record it and their backward replays it
        (`runtime.first_gemm_scope`). `integer_first_gemm = False`
        recomputes everywhere. In bfloat16 `input_precision` without a
        mask, the chunks cast their frames to bfloat16 (exactly), not to
        float32.

        Returns:
            Tensor (batch, time, G * units).
        """
        mask = None
        if training and self.dropout > 0:
            mask = self.get_dropout_mask(sequences[:, 0, :])
        integer = "int" in str(keras.backend.standardize_dtype(sequences.dtype))
        cores = [ops.convert_to_tensor(c) for c in self.cores]
        cores, bias = self._folded_weights(cores, self._input_bias(), mask)
        if not integer:
            return self._project_floats(sequences, mask, cores, bias)
        if (
            mask is None
            and None not in sequences.shape[:2]
            and self.integer_first_gemm
            and runtime.integer_first_gemm_in_pieces()
            and self._reads_integers(sequences, cores)
        ):
            return self._project_integer_pieces(sequences, cores, bias)
        # Weights enter the rematerialised chunks as arguments (not
        # closed-over variables), which every backend's remat supports;
        # the integer frames are closed over (they need no gradient, and
        # TensorFlow's remat warns about watching an integer argument).
        head = [] if mask is None else [mask]
        tail = [] if bias is None else [ops.convert_to_tensor(bias)]
        num_cores = len(cores)

        # JAX: the first GEMM casts the chunk's frames itself (reordered,
        # `runtime.outer_major_first_gemm`, or piece by piece).
        uncast = (
            mask is None
            and self.integer_first_gemm
            and (
                runtime.outer_major_first_gemm()
                or (
                    runtime.keeps_first_gemm()
                    and runtime.integer_cast_in_first_gemm()
                )
            )
            and self._reads_integers(sequences, cores)
        )

        # bfloat16 input products (TensorFlow's path): the frames are
        # cast to bfloat16 at once (exactly), not through a float32 copy
        # twice that size (TF epoch 2,259-2,318 against 2,076-2,127).
        low = (
            not uncast
            and mask is None
            and precision_.is_low(self.input_precision)
            and self._reads_integers(sequences, cores)
        )

        def project(x, *args):
            drop = args[0] if head else None
            weights = list(args[len(head) : len(head) + num_cores])
            b = args[-1] if tail else None
            if low:
                x = ops.cast(x, "bfloat16")
            elif not uncast:
                x = self._cast_and_mask(x, drop)
            return self.input_map(x, weights, b)

        return backends.remat_integer_chunks(
            project,
            sequences,
            [*head, *cores, *tail],
            self.compute_dtype,
            save_first_gemm=self.integer_first_gemm
            and runtime.keeps_first_gemm(),
            # a dropout mask, and the bias it makes (batch, 1, N), have
            # a row a clip
            row_axes=[0] * len(head)
            + [None] * num_cores
            + [0 if len(t.shape) == 3 else None for t in tail],
        )

    def _project_integer_pieces(self, sequences, cores, bias):
        """`project_sequence` of integer frames whose map's first GEMM
        casts them piece by piece and keeps its small output for the
        backward pass (`ttrnn.tt.contraction.integer`): nothing is
        recomputed. The map runs clip by clip over time chunks of at
        most `backends.MAX_INTEGER_CHUNK_VALUES` input values: one clip's
        frames lie contiguous (no copy of them is kept), and the
        gradients of the map's states are those of one chunk at a time
        (over the whole batch, they added 1.3 GB to a 8,192-frame torch
        batch)."""
        batch, steps = sequences.shape[0], sequences.shape[1]
        chunk = max(1, backends.MAX_INTEGER_CHUNK_VALUES // self.input_dim)
        clips = []
        for b in range(int(batch)):
            parts = [
                self.input_map(sequences[b, s : s + chunk], cores, bias)
                for s in range(0, int(steps), chunk)
            ]
            clips.append(
                parts[0] if len(parts) == 1 else ops.concatenate(parts, 0)
            )
        return ops.stack(clips, axis=0)

    def _reads_integers(self, sequences, cores):
        """Whether every TT-matrix of the map reads integer frames as
        they lie (`ttrnn.tt.contraction.reads_integers`)."""
        return all(
            contraction.reads_integers(
                sequences, group, self.tt_strategy, self.input_precision
            )
            for group in self.tt_resolved_spec.core_groups(cores)
        )

    def _project_floats(self, sequences, mask, cores, bias):
        """`project_sequence` of float inputs: time chunks of at most
        `MAX_PROJECTION_VALUES` input values (static sizes only)."""
        x = self._cast_and_mask(sequences, mask)
        batch, steps = sequences.shape[0], sequences.shape[1]
        if batch is None or steps is None:
            return self.input_map(x, cores, bias)
        chunk = max(1, MAX_PROJECTION_VALUES // (batch * self.input_dim))
        if chunk >= steps:
            return self.input_map(x, cores, bias)
        return ops.concatenate(
            [
                self.input_map(x[:, start : start + chunk], cores, bias)
                for start in range(0, steps, chunk)
            ],
            axis=1,
        )

    @contextlib.contextmanager
    def consuming_projected_inputs(self):
        """Within this context `call` takes projected gate inputs."""
        self._inputs_projected = True
        try:
            yield
        finally:
            self._inputs_projected = False

"""TTEmbedding: an embedding table held as a TT-matrix."""

import keras
from keras import ops

from ttrnn import tt
from ttrnn.layers import _costs
from ttrnn.layers._tt_kernel import TTKernelMixin
from ttrnn.layers._tt_kernel import require_built
from ttrnn.tt import initializers as tt_initializers
from ttrnn.tt import shapes
from ttrnn.tt.spec import DEFAULT_LOOKUP_D
from ttrnn.tt.spec import TTMatrixSpec

# Vocabulary modes when neither shape nor `tt_d` says (`TTMatrixSpec`).
DEFAULT_TT_D = DEFAULT_LOOKUP_D


@keras.saving.register_keras_serializable(package="ttrnn")
class TTEmbedding(TTKernelMixin, keras.layers.Layer):
    """Turns integer ids into dense vectors, from a Tensor-Train table.

    The (input_dim, output_dim) table W of `keras.layers.Embedding` is
    never stored: it is the top `input_dim` rows of a TT-matrix of d cores
    G_k of shape (r_k, v_k, n_k, r_{k+1}), with vocabulary modes
    prod v_k >= input_dim (the rows beyond `input_dim` are padding, never
    looked up) and embedding modes prod n_k = output_dim. A lookup of B
    ids splits each id into its digits (i_1, ..., i_d) and multiplies the
    B chains of core slices G_k[:, i_k, :, :] (`ttrnn.tt.gather_rows`):
    only those B rows are computed, in the forward and the backward pass,
    and the gradient reaches only the slices the ids touched.

    When `tt_input_shape` is not given, the vocabulary modes are the most
    balanced d modes of the smallest size >= input_dim that factorises
    well (`ttrnn.tt.suggest_padding`); `tt_ranks="auto"` with
    `tt_max_params=` or `tt_compression=` takes the largest near-uniform
    ranks within that budget (`ttrnn.tt.ranks_for_budget`).

    Ids are handled as `keras.layers.Embedding` handles them: a negative
    id counts from the end (-1 is row input_dim - 1), and an id outside
    [-input_dim, input_dim) gets the backend's out-of-range lookup: an
    error on TensorFlow (CPU) and PyTorch, a row of NaN on JAX.

    Args:
        input_dim: size of the vocabulary, the largest id + 1.
        output_dim: size of each embedding vector.
        tt_input_shape: d ints, the vocabulary modes v_k, with product
            >= input_dim. None (default): chosen from `input_dim`.
        tt_output_shape: d ints, the embedding modes n_k, with product
            output_dim. None (default): balanced modes of `output_dim`.
        tt_ranks: one int (every inner rank), d + 1 ints starting and
            ending with 1, or "auto" (needs `tt_max_params` or
            `tt_compression`). Ranks above the largest useful rank at a
            cut are lowered to it with a warning.
        embeddings_initializer: initialiser of the table, aimed at the
            variance of the full W: "uniform" (default, Keras' U(-0.05,
            0.05)), "normal", a variance-scaling name such as
            "glorot_uniform", "orthogonal", a Keras initialiser object of
            those kinds, or a `ttrnn.tt.TTInitializer`.
        embeddings_regularizer: regulariser applied to every core.
        embeddings_constraint: constraint applied to every core.
        activity_regularizer: regulariser of the output.
        mask_zero: whether id 0 is a padding value to be masked out, as in
            `keras.layers.Embedding`.
        tt_d: the number of modes d when neither shape is given.
            Defaults to 3.
        tt_max_params: with `tt_ranks="auto"`, the most core weights.
        tt_compression: with `tt_ranks="auto"`, the least ratio of table
            weights (input_dim * output_dim) to core weights.
        tt_lookup: how the rows are computed (`ttrnn.tt.gather_rows`):
            "chunked" (chunks of rows with a hand-written backward pass),
            "autodiff" (all rows at once), "grouped" (ids sorted into
            chunks sharing one core's digit, whose products become one
            GEMM per chunk), or "auto" (default: on a CPU the fastest,
            timed once per process and shape, since the winner depends
            on the CPU: all three on torch, autodiff against grouped on
            JAX and TensorFlow where chunks hold 2 rows or more).
            All give the same values.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Input shape:
        Integer tensor of any shape `(...)`.

    Output shape:
        `(..., output_dim)`.

    Example:
    >>> import numpy as np
    >>> layer = TTEmbedding(100_000, 256, tt_ranks=16)
    >>> layer.tt_input_shape, layer.tt_output_shape
    ((40, 50, 50), (8, 4, 8))
    >>> tuple(layer(np.array([[3, 99_999]])).shape)
    (1, 2, 256)
    >>> layer.count_params()  # the dense table: 25,600,000
    62720

    Reference:
        Hrinchuk, Khrulkov, Mirvakhabova, Orlova, Oseledets,
        "Tensorized Embedding Layers", Findings of EMNLP 2020.
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        tt_input_shape=None,
        tt_output_shape=None,
        tt_ranks=None,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        activity_regularizer=None,
        mask_zero=False,
        tt_d=None,
        tt_max_params=None,
        tt_compression=None,
        tt_lookup="auto",
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._input_dim = shapes.check_int(input_dim, "input_dim", 1)
        spec = TTMatrixSpec(
            tt_input_shape,
            tt_output_shape,
            tt_ranks,
            output_dim,
            tt_d,
            tt_max_params,
            tt_compression,
            rows=self._input_dim,
            units_name="output_dim",
        )
        self._init_tt_kernel(
            spec,
            "auto",
            tt_initializers.get(
                embeddings_initializer, "embeddings_initializer"
            ),
            embeddings_regularizer,
            embeddings_constraint,
        )
        self.tt_lookup = tt.validate_lookup_path(tt_lookup, "tt_lookup")
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero

    # Keras' names for the kernel's initialiser, regulariser, constraint.
    embeddings_initializer = property(lambda self: self.kernel_initializer)
    embeddings_regularizer = property(lambda self: self.kernel_regularizer)
    embeddings_constraint = property(lambda self: self.kernel_constraint)

    @property
    def input_dim(self):
        """The vocabulary size (rows of the table)."""
        return self._input_dim

    @property
    def output_dim(self):
        """The embedding size, prod(tt_output_shape)."""
        return self.units

    def build(self, input_shape=None):
        core_inits = self.kernel_initializer.core_initializers(
            self.tt_input_shape, self.tt_output_shape, self.tt_ranks
        )
        self._add_cores([("", core_inits)])

    def call(self, inputs):
        ids = inputs
        if keras.backend.standardize_dtype(ids.dtype) not in (
            "int32",
            "int64",
        ):
            ids = ops.cast(ids, "int32")
        lead = ops.shape(ids)
        ids = ops.reshape(ids, (-1,))
        # As keras' take: -1 is the last real row.
        ids = ops.where(ops.less(ids, 0), ids + self._input_dim, ids)
        digits = tt.row_digits(ids, self.tt_input_shape)
        # Ids out of range (padding rows included) send the first digit
        # out of range, so the lookup fails as Keras' Embedding does.
        valid = ops.logical_and(
            ops.greater_equal(ids, 0), ops.less(ids, self._input_dim)
        )
        digits[0] = ops.where(valid, digits[0], self.tt_input_shape[0])
        # (Keras casts the cores to the compute dtype inside `call`.)
        rows = tt.gather_rows(self.cores, digits, path=self.tt_lookup)
        return ops.reshape(rows, (*lead, self.output_dim))

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def _round_build_shape(self):
        return None

    def to_dense(self):
        """The (input_dim, output_dim) table, as a tensor."""
        require_built(self, "to_dense()")
        return tt.to_dense(self.cores)[: self._input_dim]

    def get_config(self):
        tt_config = self._tt_kernel_config()
        # Keras' Embedding names for the kernel's arguments; no strategy.
        del tt_config["tt_strategy"]
        output_dim = tt_config.pop("output_dim")
        for part in ("initializer", "regularizer", "constraint"):
            value = tt_config.pop(f"kernel_{part}")
            tt_config[f"embeddings_{part}"] = value
        return {
            **super().get_config(),
            "input_dim": self._input_dim,
            "output_dim": output_dim,
            **tt_config,
            "activity_regularizer": keras.regularizers.serialize(
                self.activity_regularizer
            ),
            "mask_zero": self.mask_zero,
            "tt_lookup": self.tt_lookup,
        }

    # --- What `summary`, `compress` and `explain` ask of the layer ---
    keras_class = keras.layers.Embedding  # the Keras layer it replaces

    @classmethod
    def from_keras(cls, layer, options):
        """`ttrnn.compress`'s TTEmbedding of a trained Keras `Embedding`
        (`ttrnn.conversions.embedding_to_tt`)."""
        from ttrnn import conversions

        return conversions.embedding_to_tt(cls, layer, options, DEFAULT_TT_D)

    def kernel_cost(self, input_shape, batch_size, input_dtype="int32"):
        """The table's `KernelCost` for a batch of `batch_size` id arrays
        of `input_shape`, by the lookup plan `tt.gather_rows` picks."""
        return _costs.lookup_cost(self, input_shape, batch_size)

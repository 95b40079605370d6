"""The running backend, as the contraction sees it: its switches and facts.

The contraction is `keras.ops` on every backend. This module holds what
differs: which of two equivalent formulations a backend differentiates
faster (where that was measured to matter: `transposed_first_gemm`,
`chunked_lookup`, `conv_spatial_steps`, `conv_format_of_channels_last`,
`explicit_output_map_gradient`), torch's direct calls for the
chunked kernel's few ops, and what a backend can tell about a tensor, a
device or a distribution.
Plan timing, which runs each backend the way it trains, is in
`measure`.
"""

import contextlib

import keras


def transposed_first_gemm():
    """Whether the wide first GEMM of a sweep runs as core @ x^T.

    Measured on the UCF11 input map (x: 40960 x 360, core 64 x 360, one
    thread, forward+backward): torch differentiates core @ x^T about 2x
    faster than x @ core^T (its core gradient becomes g @ x, a
    non-transposed GEMM, instead of x^T @ g); XLA is about 1.7x faster
    the other way round, TensorFlow shows no clear difference.
    """
    return keras.backend.backend() == "torch"


def outer_major_first_gemm():
    """Whether the first GEMM of an "rtl"/"batch_last" sweep on integer
    x (uint8 frames) as it lies casts x's rows reordered outer-first,
    (M_<k, B, m), and multiplies them at once, so that its output needs
    only a transpose within each outer index to become the batch-last
    state (M_<k, r n, B), instead of one transpose of the whole
    (B, M_<k r n) output; otherwise `integer.matmul` casts x in pieces.
    Moving x's rows of m values is a block copy, which XLA fuses with
    the cast; the output's transpose moves single values.

    On JAX unless `JAX_KEEP_FIRST_GEMM` (whose chunks keep the output of
    `integer.matmul`). Measured (the paper TT-GRU's map of 16 x 64 uint8
    frames, forward and backward, 2-core Xeon, load < 1, 7 Dec 2026):
    148-151 against 170-171 ms; the 160-clip epoch 3,942-4,034 against
    3,763-3,849 real frames/s. Float x keeps the plain GEMM: its
    reordered copy is not free (the TT-GRU step on 16 x 16 float frames
    took 63 against 48 ms). TensorFlow: no difference (298 against 298
    ms).
    """
    return keras.backend.backend() == "jax" and not JAX_KEEP_FIRST_GEMM


# The name of a sweep's first GEMM output under `jax.checkpoint`: a
# rematerialised map of integer frames saves it instead of recomputing it
# (`ttrnn.backends.remat_time_chunks(..., save_first_gemm=True)`).
FIRST_GEMM = "ttrnn_first_gemm"


def name_first_gemm(y):
    """`y` (a sweep's first GEMM output) named for JAX's checkpoint
    policies; itself elsewhere."""
    if keras.backend.backend() != "jax":
        return y
    from jax.ad_checkpoint import checkpoint_name

    return checkpoint_name(y, FIRST_GEMM)


# TensorFlow's rematerialised chunks that keep their first GEMM's output
# (`first_gemm_scope`): the innermost scope's record of outputs, or the
# outputs to replay in the backward's recomputation.
_FIRST_GEMM_SCOPES = []


@contextlib.contextmanager
def first_gemm_scope(replay=None):
    """Within it, on TensorFlow, `first_gemm` records the output of each
    sweep's first GEMM into the list it yields (`replay=None`), or
    returns the outputs of `replay` in turn instead of recomputing them
    (their weight's gradient computed from the rows: a rematerialised
    chunk's backward that keeps the GEMM's output, as JAX's checkpoint
    policy on `name_first_gemm` does)."""
    scope = {"record": [], "replay": None if replay is None else list(replay)}
    _FIRST_GEMM_SCOPES.append(scope)
    try:
        yield scope["record"]
    finally:
        _FIRST_GEMM_SCOPES.pop()


def first_gemm(rows, w, precision="float32"):
    """rows @ w, a sweep's first GEMM on x as it lies, in `precision`
    (`ttrnn.tt.contraction.precision`): named for JAX's checkpoint
    policies (`name_first_gemm`), recorded or replayed on TensorFlow
    within a `first_gemm_scope`."""
    from ttrnn.tt.contraction import precision as precision_

    if not _FIRST_GEMM_SCOPES or keras.backend.backend() != "tensorflow":
        return name_first_gemm(precision_.matmul(rows, w, precision))
    scope = _FIRST_GEMM_SCOPES[-1]
    if not scope["replay"]:
        y = precision_.matmul(rows, w, precision)
        scope["record"].append(y)
        return y
    import tensorflow as tf

    saved = scope["replay"].pop(0)

    @tf.custom_gradient
    def replayed(w):
        def grad(upstream):
            # No gradient for rows: integer frames, cast (and masked).
            if precision_.is_low(precision):
                return precision_.matmul(
                    tf.transpose(rows), upstream, precision
                )
            return tf.matmul(rows, upstream, transpose_a=True)

        return tf.identity(saved), grad

    return replayed(w)


# On JAX, whether the rematerialised chunks of integer frames keep their
# first GEMM's output for the backward pass (`keeps_first_gemm`).
JAX_KEEP_FIRST_GEMM = False


def keeps_first_gemm():
    """Whether a TT-RNN's rematerialised chunks of integer frames keep
    the output of their map's first GEMM for the backward pass (a JAX
    checkpoint policy on `name_first_gemm`; TensorFlow's
    `first_gemm_scope`) instead of recomputing the whole chunk.

    On JAX only with `JAX_KEEP_FIRST_GEMM`. Measured on the 2-core Xeon
    (the paper TT-GRU, uint8 frames, load < 1, 7 Dec 2026): its map of
    16 x 64 frames forward and backward took 168-176 ms recomputing
    against 194-210 keeping (chunks of 2**20-2**24 values: keeping never
    won), and the 160-clip epoch ran 3,805-3,835 real frames/s against
    3,437-3,585 with a peak of 1.97 against 2.19 GB
    (`benchmarks/RESULTS.md`). Its GEMM keeps both cores busy (~290
    GFLOP/s), so recomputing it costs less than storing, zeroing and
    reading back its stacked outputs (40 KB a frame). One busy core
    measured the other way (load 2-5, 6 Dec: 188 against 219 ms at 16 x
    16): set it where a step gets one core.
    """
    if keras.backend.backend() == "jax":
        return JAX_KEEP_FIRST_GEMM
    return True


# On JAX, at most this many values a piece when a rematerialised chunk of
# integer frames casts them inside its first GEMM
# (`integer_cast_in_first_gemm`), or `None`: the chunk casts all its
# frames at once (2**22 values, 16 MiB of float32), then one GEMM.
JAX_INTEGER_PIECE_VALUES = 2**18


def integer_cast_in_first_gemm():
    """Whether JAX's rematerialised chunks of integer frames hand them to
    `integer.matmul` uncast: pieces of `JAX_INTEGER_PIECE_VALUES`, each
    cast and multiplied while it is in the cache, the GEMM's output
    kept for the backward pass (`name_first_gemm`; the TT-RNNs only
    where `keeps_first_gemm`), whose weight gradient casts each piece
    again. Otherwise the chunk casts all its frames first and runs one
    GEMM."""
    return (
        keras.backend.backend() == "jax"
        and JAX_INTEGER_PIECE_VALUES is not None
    )


def integer_first_gemm_in_pieces():
    """Whether a TT-RNN maps integer frames with `integer.matmul` (the
    first GEMM cast piece by piece, keeping its output; the rest of the
    map differentiated over the whole sequence) rather than in
    rematerialised time chunks (`ttrnn.backends.remat_integer_chunks`;
    on JAX these save the first GEMM's output, `name_first_gemm`).

    Measured (paper TT-GRU map, uint8 frames, forward+backward, one
    thread, interleaved medians, load 4-6; benchmarks/RESULTS.md): torch,
    eager, 196 -> 137 ms (16 x 16 frames) and 335 -> 265 ms (16 x 32)
    from recomputed chunks to pieces over the whole batch, 258 -> 181 ms
    clip by clip (the step 449 -> 309 ms), at the price of the map's
    states living for the whole batch (+1 GB at 8,192 frames); JAX 219
    ms recomputing each chunk, 188 saving its first GEMM, 224 in pieces
    (16 x 16; 277 / 244 / 245 at 16 x 32: the rest of the map runs
    slower over the whole sequence than chunk by chunk); TensorFlow no
    gain (16 x 16, chunks against pieces, three runs: 71 / 85, 160 /
    188, 137 / 138 ms).
    """
    return keras.backend.backend() == "torch"


def xla_recurrence():
    """Whether a TT-RNN's recurrence runs as XLA computations
    (`ttrnn.recurrence_loops.xla_rnn`): on TensorFlow, inside a traced function
    (a `tf.function`, as Keras' `fit` runs; eagerly each call would
    compile anew).

    TensorFlow's executor runs a `tf.while_loop` op by op: the paper
    TT-GRU's recurrence measured ~1.35 ms a step forward+backward at
    batch 5 and at batch 16 alike (RESULTS.md, "TensorFlow epoch").
    """
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return not tf.executing_eagerly()


def chunked_lookup():
    """Whether TT lookups (`ttrnn.tt.gather_rows`) run in chunks with
    the hand-written backward of `ttrnn.tt.contraction.chunked_rows` where
    the path is not timed (`ttrnn.tt.lookup_path`: torch on a CPU times
    both paths once per machine and shape, since the winner depends on
    the CPU).

    Measured (one thread, 4,096 ids): torch, eager, gains (Keras
    `train_on_batch` of a 1,000,000 x 256 rank-16 table 33.5 -> 26-30 ms;
    the 100,000 x 256 text classifier's epoch 4.3 -> 3.4 s). JAX and
    TensorFlow compile the unrolled chunks: on the text classifier's
    step compiling took 3-5x longer and the step ran 46.8 vs 42.5 ms
    (JAX) and 83.6 vs 38.8 ms (TensorFlow); in one chunk 54.2 and 41.4.
    """
    return keras.backend.backend() == "torch"


def conv_spatial_steps():
    """`TTConv2D`'s spatial steps for the channels path, preferred first
    (a step that does not fit the layer's geometry is passed over):

    - "flat": (W, C) flattened into one axis of W C values, one 1-channel
      convolution of dilation C along it (strides (1, 1); "same" padding
      only for an even kw - 1 times W's dilation): its
      output is the (B, H, W, C r_d) layout the channel matmul takes;
    - "folded": the channels join the batch, a 1-channel convolution, then
      a transpose of its (B, C, H, W, r_d) output (fits every geometry).

    256 -> 256 channels, 3x3, 32x32 maps, batch 32, forward+backward
    (3 Dec 2026): torch (channels first) folded 412, flat 357 ms; JAX
    (channels last) 865 vs 792; TensorFlow 275 vs 432 (its dilated
    convolution goes through space-to-batch), so folded there. A
    depthwise convolution of channel multiplier r_d measured between the
    two on torch (375 ms); XLA's CPU depthwise backward takes minutes.
    """
    if keras.backend.backend() == "tensorflow":
        return ("folded",)
    return ("flat", "folded")


def conv_format_of_channels_last():
    """The `data_format` in which `ops.conv` takes a tensor held channels
    last in memory without copying it: "channels_last", or on torch
    "channels_first", the (B, C, H, W) transposed view of that memory.

    Keras' torch `conv` copies a channels-last input twice (to NCHW, then
    back to torch's channels-last memory format, which oneDNN takes
    natively); on the view, torch convolves the memory as it is and
    writes channels-last memory. Measured in `TTConv2D`'s kernel layout
    (256 -> 256, 3x3, 32 x 32, batch 32, rank 97, forward + backward):
    the two convs' three input copies and one gradient copy, 25 of 335 ms
    a step. JAX and TensorFlow convolve channels last natively.
    """
    if keras.backend.backend() == "torch":
        return "channels_first"
    return "channels_last"


def explicit_output_map_gradient():
    """Whether `TTConv2D`'s kernel layout, channels first, runs its last
    1x1 step (and bias) with a hand-written gradient
    (`conv_kernel.output_map`) rather than autodiff.

    Torch's autodiff writes the gradient of the step's input (B, P, r),
    a transposed view of channels-last memory, as contiguous (B, r, P);
    the conv before it then copies it into channels-last memory (8 ms of
    a 335 ms step in the case of `conv_format_of_channels_last`), and the
    bias, added after the product, is a pass over the output of its own
    (14 ms). The hand-written step writes the gradient channels last and
    adds the bias into the product's output in place. JAX and TensorFlow
    compile the chain and fuse the bias.
    """
    return keras.backend.backend() == "torch"


class _TorchArrayOps:
    """The few `keras.ops` the chunked kernels use, as direct torch calls.

    Each `keras.ops` call on torch costs ~15-20 us of Python (argument
    conversion, dtype resolution); the chunked kernel issues ~20 per
    chunk, which measured ~0.4 ms per chunk on case A of the benchmarks
    (1.5x the time of its GEMMs). Same signatures and semantics as the
    `keras.ops` functions of the same name, for tensors only.
    """

    def __init__(self):
        import torch

        self._torch = torch

    def matmul(self, a, b):
        return self._torch.matmul(a, b)

    def reshape(self, x, shape):
        return self._torch.reshape(x, shape)

    def transpose(self, x, axes=None):
        if axes is None:
            axes = tuple(range(x.ndim - 1, -1, -1))
        return self._torch.permute(x, axes)

    def sum(self, x, axis):
        return self._torch.sum(x, dim=axis)

    def concatenate(self, xs, axis=0):
        return self._torch.cat(xs, dim=axis)

    def broadcast_to(self, x, shape):
        return x.expand(shape)

    def take(self, x, indices, axis=0):
        # index_select raises on an index out of range, as keras.ops.take.
        return self._torch.index_select(x, axis, indices)

    def index_add(self, acc, indices, values):
        """acc[indices[i]] += values[i], in place (acc is a new tensor
        of the caller's; the keras.ops version returns a new one)."""
        return acc.index_add_(0, indices, values)

    def zeros(self, shape, dtype):
        return self._torch.zeros(shape, dtype=dtype)

    def add(self, x, y):
        """x + y, in place into x (a new tensor of the caller's, of the
        result's shape; the keras.ops version returns a new one)."""
        return x.add_(y)


_TORCH_OPS = []


def array_ops():
    """`keras.ops`, or on torch the same few ops without Keras' overhead.

    Used inside `keras.ops.custom_gradient` functions only, whose inputs
    are already backend tensors.
    """
    if keras.backend.backend() != "torch":
        return keras.ops
    if not _TORCH_OPS:
        _TORCH_OPS.append(_TorchArrayOps())
    return _TORCH_OPS[0]


def needs_gradient(x):
    """Whether autodiff will ask for the gradient of tensor `x`.

    Only torch can say so at trace time (`requires_grad`); JAX and
    TensorFlow prune a gradient nobody uses from the compiled graph, so
    there it is always computed.
    """
    if keras.backend.backend() == "torch":
        return bool(getattr(x, "requires_grad", True))
    return True


def dtype_itemsize(dtype):
    """Bytes per element of a dtype (any backend's or a name)."""
    dtype = str(dtype)
    for size, tag in ((2, "16"), (8, "64")):
        if tag in dtype:
            return size
    return 4


def itemsize(x):
    """Bytes per element of tensor `x` (4 when the dtype is unknown)."""
    return dtype_itemsize(getattr(x, "dtype", "float32"))


def in_symbolic_build():
    """Whether Keras is inferring shapes (placeholder tensors, no data)."""
    try:
        from keras.src.backend.common.symbolic_scope import in_symbolic_scope
    except ImportError:  # pragma: no cover - a future Keras layout
        return False
    return bool(in_symbolic_scope())


def batch_shards():
    """How many devices the batch is split over by the current
    `keras.distribution` (1 without one, and on backends other than JAX).

    Inside a step traced under a distribution, JAX sees the global batch;
    each device runs its `batch / batch_shards()` rows, and plans are
    chosen for those.
    """
    if keras.backend.backend() != "jax":
        return 1
    dist = keras.distribution.distribution()
    if dist is None:
        return 1
    name = getattr(dist, "batch_dim_name", None)
    mesh = dist.device_mesh
    if name not in mesh.axis_names:
        return 1
    return int(mesh.shape[mesh.axis_names.index(name)])


def process_count():
    """The processes of a multi-process JAX run (1 otherwise)."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return jax.process_count()


_KINDS = {}


def device_kind(backend=None):
    """ "cpu", "gpu" or "tpu": where `backend` computes by default (the
    planner's cost constants differ). Asked once per backend."""
    backend = backend or keras.backend.backend()
    if backend not in _KINDS:
        _KINDS[backend] = _ask_device_kind(backend)
    return _KINDS[backend]


def _ask_device_kind(backend):
    if backend == "jax":
        import jax

        platform = jax.default_backend()
        return platform if platform in ("gpu", "tpu") else "cpu"
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    if backend == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    return "cpu"

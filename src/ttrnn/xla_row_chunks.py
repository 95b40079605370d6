"""TensorFlow's rematerialised map of integer frames in chunks of a
static row count, each chunk's forward and its backward one XLA
computation (`row_chunks`).

The input map of a TT-RNN (and of a `TTDense` on integer rows) maps each
frame by itself: the chunks need not follow the (batch, time) layout.
Keras' `fit` over length buckets traces the training step with the
batch and time axes unknown, so chunks of whole time steps have an
unknown row count (`ttrnn.backends.remat_dynamic_time_chunks`, a
`tf.map_fn` run op by op by TensorFlow's executor). Chunks of a fixed
number of frames (the last one zero-padded) have a static shape
whatever the bucket: each chunk's forward, and its recomputation with
its backward, are compiled by XLA once, and the two loops over the
chunks stay in TensorFlow.
"""

import keras

from ttrnn.tt.contraction import runtime

# "on": True runs the map in these chunks; False (the default) the
# reference path (`remat_dynamic_time_chunks` or the static
# `remat_time_chunks`). Off by default: on the paper TT-GRU they took
# 4-14 % less process CPU time a step, but under a load of 8-13 on the
# 2-core machine they ran slower in wall time on 2 threads, step and
# 48-clip epoch alike (benchmarks/RESULTS.md, "TensorFlow: the map's
# chunks"); to be measured on a quiet machine. "jit": False runs the
# same static chunks on TensorFlow's executor instead of XLA.
SWITCH = {"on": False, "jit": True}


def enabled(row_axes=()):
    """Whether `row_chunks` runs an integer map: on TensorFlow, inside a
    traced function (eagerly each call would compile anew), with no
    argument holding a row a clip (an input dropout mask: its rows follow
    the batch, not the frames), when `SWITCH["on"]`."""
    if not SWITCH["on"] or keras.backend.backend() != "tensorflow":
        return False
    if any(axis is not None for axis in row_axes):
        return False
    import tensorflow as tf

    return not tf.executing_eagerly()


def row_chunks(fn, x, args, rows, dtype, save_first_gemm=False):
    """`fn(x, *args)` for a map applied frame by frame (each row of x's
    last axis by itself), in rematerialised chunks of `rows` frames.

    The frames (batch, steps, features) are seen as (frames, features)
    without a copy; chunk i is frames [i * rows, (i + 1) * rows), the last
    one zero-padded to `rows`. Its forward is one XLA computation of
    static shape (compiled once for every bucket shape); with
    `save_first_gemm` it also returns the output of the sweep's first
    GEMM (`runtime.first_gemm_scope`), kept for the backward. The
    backward runs a second XLA computation a chunk: the chunk's map
    recomputed (replaying the kept GEMM output) and differentiated, its
    weight gradients summed over the chunks. Both loops run one chunk at
    a time, so the map's memory stays one chunk's.

    Args:
        fn: `fn(x_chunk, *args)` -> (1, rows, out) for x_chunk
            (1, rows, features); it casts the integer chunk itself.
        x: (..., features) integer tensor, features static; the leading
            sizes may be unknown.
        args: tensors passed to every call (weights: differentiated),
            none of them holding a row a clip.
        rows: frames a chunk.
        dtype: the dtype of `fn`'s result.
        save_first_gemm: keep each chunk's first GEMM output for the
            backward pass instead of recomputing it.

    Returns:
        (..., out) tensor.
    """
    import tensorflow as tf

    features = int(x.shape[-1])
    lead = tf.shape(x)[:-1]
    frames = tf.reshape(x, [-1, features])
    total = tf.shape(frames)[0]
    count = (total + rows - 1) // rows
    args = [tf.convert_to_tensor(a) for a in args]

    def piece(i, whole, width):
        part = whole[i * rows : (i + 1) * rows]
        part = tf.pad(part, [[0, rows - tf.shape(part)[0]], [0, 0]])
        return tf.ensure_shape(part, [rows, width])

    def forward(part, *weights):
        with runtime.first_gemm_scope() as saved:
            y = fn(part[None], *weights)[0]
        return [y, *saved] if save_first_gemm else [y]

    def backward(part, upstream, saved, weights):
        with tf.GradientTape() as tape:
            tape.watch(weights)
            replay = saved if save_first_gemm else None
            with runtime.first_gemm_scope(replay=replay):
                y = fn(part[None], *weights)[0]
        return tape.gradient(
            y,
            weights,
            output_gradients=upstream,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )

    compiled_forward = tf.function(forward, jit_compile=True, autograph=False)
    compiled_backward = tf.function(backward, jit_compile=True, autograph=False)
    # The forward's output structure (and the kept GEMM outputs' shapes),
    # traced once: a concrete function serves every chunk.
    specs = [tf.TensorSpec([rows, features], x.dtype)] + [
        tf.TensorSpec(a.shape, a.dtype) for a in args
    ]
    traced = compiled_forward.get_concrete_function(*specs)
    outputs = [tf.TensorSpec(o.shape, o.dtype) for o in traced.outputs]

    @tf.custom_gradient
    def run(*weights):
        def body(i, arrays):
            out = traced(piece(i, frames, features), *weights)
            return i + 1, [a.write(i, o) for a, o in zip(arrays, out)]

        arrays = [
            tf.TensorArray(o.dtype, size=count, element_shape=o.shape)
            for o in outputs
        ]
        _, arrays = tf.while_loop(
            lambda i, _: i < count,
            body,
            [tf.constant(0), arrays],
            parallel_iterations=1,
        )
        stacked = [a.stack() for a in arrays]
        y, saved = stacked[0], stacked[1:]
        width = int(y.shape[-1])
        y = tf.reshape(y, [-1, width])[:total]
        y = tf.reshape(y, tf.concat([lead, [width]], 0))

        def grad(upstream):
            up = tf.reshape(tf.cast(upstream, dtype), [-1, width])

            def step(i, sums):
                parts = compiled_backward(
                    piece(i, frames, features),
                    piece(i, up, width),
                    [s[i] for s in saved],
                    list(weights),
                )
                return i + 1, [a + p for a, p in zip(sums, parts)]

            _, sums = tf.while_loop(
                lambda i, _: i < count,
                step,
                [tf.constant(0), [tf.zeros_like(w) for w in weights]],
                parallel_iterations=1,
            )
            return sums

        return y, grad

    out = run(*args)
    return tf.ensure_shape(out, list(x.shape[:-1]) + [out.shape[-1]])

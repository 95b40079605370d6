"""TensorFlow: the paper TT-GRU's integer input map in chunks of a static
frame count compiled by XLA (`ttrnn.xla_row_chunks`) against the
reference path (`remat_dynamic_time_chunks`: a `tf.map_fn` of chunks of
an unknown row count).

The model of `ttrnn experiment ucf11 --protocol paper --model tt-gru`
(as `bench_roofline.py` builds it); every function is a `tf.function`
whose batch and time axes are unknown, as Keras' `fit` over length
buckets traces the step. Per bucket shape (batch x frames) and path:
the map forward+backward (the gradients of the cores and bias of the
sum of its squared outputs) and the whole `train_step`, interleaved,
medians of wall and process CPU time.

    TTRNN_BENCH_THREADS=2 python benchmarks/bench_tf_map.py \
        --shapes 16x64,5x1492 --repeats 3

ROWS_NOJIT=1 adds a third path: the same static chunks run by
TensorFlow's executor (`SWITCH["jit"] = False`).
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
FEATURES = 160 * 120 * 3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", default="16x64,5x1492")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="map,step")
    args = parser.parse_args()
    import common
    import numpy as np
    import tensorflow as tf

    from ttrnn import xla_row_chunks
    from ttrnn.experiments import registry
    from ttrnn.experiments import training

    common.set_backend_threads()
    experiment = registry.get("ucf11").with_protocol("paper")

    def paper_model():
        model, loss = common.paper_tt_gru()
        training.compile_model(model, loss, experiment, 1e-4)
        return model

    specs = [
        tf.TensorSpec((None, None, FEATURES), tf.uint8),
        tf.TensorSpec((None, None), tf.bool),
        tf.TensorSpec((None,), tf.int32),
        tf.TensorSpec((None,), tf.float32),
    ]
    fns, first = {}, {}
    paths = [("xla rows", True), ("reference", False)]
    if os.environ.get("ROWS_NOJIT"):
        paths.append(("rows tf", "nojit"))
    for path, on in paths:
        model = paper_model()
        cell = model.get_layer("rnn").cell
        vars_ = list(cell.cores) + [cell.bias]

        def traced(fn, on=on):
            def run(*a):
                xla_row_chunks.SWITCH["on"] = bool(on)
                xla_row_chunks.SWITCH["jit"] = on != "nojit"
                try:
                    return fn(*a)
                finally:
                    xla_row_chunks.SWITCH.update(on=False, jit=True)

            return tf.function(run, input_signature=specs, autograph=False)

        def map_grad(x, m, y, w, cell=cell, vars_=vars_):
            with tf.GradientTape() as tape:
                out = cell.project_sequence(x, training=True)
                loss = tf.reduce_sum(tf.square(out))
            return [loss] + tape.gradient(loss, vars_)

        def step(x, m, y, w, model=model):
            logs = model.train_step(([x, m], y, w))
            return logs["loss"]

        model.optimizer.build(model.trainable_variables)
        fns[("map", path)] = traced(map_grad)
        fns[("step", path)] = traced(step)
    parts = args.parts.split(",")
    rng = np.random.default_rng(0)
    for shape in args.shapes.split(","):
        b, t = (int(s) for s in shape.split("x"))
        lengths = rng.integers(t // 2, t + 1, b)
        lengths[0] = t
        x = rng.integers(0, 256, (b, t, FEATURES), dtype=np.uint8)
        m = np.arange(t)[None, :] >= (t - lengths)[:, None]
        x[~m] = 0
        batch = [
            tf.constant(x),
            tf.constant(m),
            tf.constant(rng.integers(0, 11, b).astype("int32")),
            tf.constant(np.ones(b, "float32")),
        ]
        del x
        for part in parts:
            keys = [k for k in fns if k[0] == part]
            for k in keys:  # warm-up: traces, compiles
                start = time.perf_counter()
                out = fns[k](*batch)
                first[k] = (out, time.perf_counter() - start)
            if part == "map":
                a, r = (first[k][0] for k in keys[:2])
                err = max(
                    float(tf.reduce_max(tf.abs(p - q)))
                    / (float(tf.reduce_max(tf.abs(q))) + 1e-30)
                    for p, q in zip(a, r)
                )
                print(f"{shape} map: max relative difference {err:.2e}")
            wall = {k: [] for k in keys}
            cpu = {k: [] for k in keys}
            for _ in range(args.repeats):
                for k in keys:
                    w0, c0 = time.perf_counter(), time.process_time()
                    tf.nest.map_structure(lambda v: v.numpy(), fns[k](*batch))
                    wall[k].append(time.perf_counter() - w0)
                    cpu[k].append(time.process_time() - c0)
            frames = b * t
            for k in keys:
                w, c = statistics.median(wall[k]), statistics.median(cpu[k])
                print(
                    f"{shape} {part:4s} {k[1]:9s}: {w * 1e3:8.0f} ms wall "
                    f"({w / frames * 1e6:5.0f} us/frame), cpu "
                    f"{c * 1e3:8.0f} ms; first call {first[k][1]:.1f} s; "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {rss:.2f} GB")


if __name__ == "__main__":
    main()

"""The TT-RNN loop's paths side by side: the reference against the fast.

One process per backend (`KERAS_BACKEND`). Two `TTGRU`s with the same
weights, configured as the paper TT-GRU's recurrence (256 units,
`reset_after=False`, Keras 2's hard sigmoid, recurrent dropout 0.25, a
padding mask, training), one on the reference path (Keras' own loop,
which calls the cell as a layer every step, `direct_step=False`), one on
the fast path (the default); on torch also the fast step in Keras' torch
loop (`torch_loop=False`) and in the layer's step-by-step loop
(`torch_sequence=False`: autograd records every step; the default runs
the whole recurrence as one autograd Function). The input map is small
(64 features) so that the recurrence is most of the time. Forward and
forward+backward (gradients of every weight and of the input), each
compiled as `bench_roofline.compiled` does (jax.jit, tf.function, eager
torch), interleaved, medians.

    KERAS_BACKEND=torch python benchmarks/bench_recurrence.py
    KERAS_BACKEND=jax python benchmarks/bench_recurrence.py --frames 256
    KERAS_BACKEND=torch python benchmarks/bench_recurrence.py --step

`--step`: the whole training step instead (`train_on_batch` of the
experiment's own paper TT-GRU model, uint8 frames of 57,600 values and
the padding mask, as `bench_roofline.py`), two models with the same
weights, one per path (on torch a third, `torch_sequence=False`),
interleaved.

`--cpu`: process CPU time instead of the wall clock (a loaded machine).

Threads: TTRNN_BENCH_THREADS (default 1, as the other benchmarks).
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def build(direct_step, units, frames, batch, rate):
    import keras

    from ttrnn import TTGRU
    from ttrnn.activations import keras2_hard_sigmoid

    keras.utils.set_random_seed(0)
    layer = TTGRU(
        (4, 4, 4),
        (units // 16, 4, 4),
        tt_ranks=4,
        reset_after=False,
        recurrent_activation=keras2_hard_sigmoid,
        recurrent_dropout=rate,
        seed=1,
    )
    layer.direct_step = direct_step
    layer.build((batch, frames, 64))
    return layer


def train_steps(args):
    """{path: callable}: one `train_on_batch` of the paper model each."""
    import common
    import keras
    import numpy as np
    from bench_roofline import FEATURES
    from keras import ops

    from ttrnn.experiments import registry
    from ttrnn.experiments import training

    experiment = registry.get("ucf11").with_protocol("paper")
    b, t = args.batch, args.frames
    rng = np.random.default_rng(0)
    lengths = rng.integers(t // 2, t + 1, b)
    lengths[0] = t
    x_np = rng.integers(0, 256, (b, t, FEATURES), dtype=np.uint8)
    mask_np = np.arange(t)[None, :] >= (t - lengths)[:, None]
    x_np[~mask_np] = 0
    x, mask = ops.convert_to_tensor(x_np), ops.convert_to_tensor(mask_np)
    y = ops.convert_to_tensor(rng.integers(0, 11, b).astype("int32"))
    fns, first = {}, None
    paths = [("reference", False, True), ("fast", True, True)]
    if keras.backend.backend() == "torch":
        paths.append(("fast step by step", True, False))
    for name, direct, sequence in paths:
        model, loss = common.paper_tt_gru()
        model.get_layer("rnn").direct_step = direct
        model.get_layer("rnn").torch_sequence = sequence
        training.compile_model(model, loss, experiment, 1e-4)
        model.train_on_batch([x, mask], y)  # builds and compiles
        if first is None:
            first = model
        else:
            model.set_weights(first.get_weights())
        fns[f"{name} step"] = (
            lambda m: lambda: m.train_on_batch([x, mask], y)
        )(model)
    return fns


def main():
    import common

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--rate", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--step", action="store_true", help="train steps")
    parser.add_argument("--cpu", action="store_true", help="CPU time")
    args = parser.parse_args()
    common.set_backend_threads()
    import time

    import keras
    import numpy as np
    from bench_roofline import compiled
    from bench_roofline import load
    from keras import ops

    if keras.backend.backend() == "torch":
        import torch

        torch.set_flush_denormal(True)
    clock = time.process_time if args.cpu else time.perf_counter
    if args.step:
        before = load()
        fns = train_steps(args)
        seconds = common.interleaved(fns, args.repeats, 1, clock=clock)
        print(
            json.dumps(
                {
                    "backend": keras.backend.backend(),
                    "batch": args.batch,
                    "frames": args.frames,
                    "ms": {k: round(1e3 * v, 1) for k, v in seconds.items()},
                    "load": [before, load()],
                }
            )
        )
        return
    b, t = args.batch, args.frames
    rng = np.random.default_rng(0)
    x = ops.convert_to_tensor(rng.standard_normal((b, t, 64), "float32"))
    lengths = rng.integers(t // 2, t + 1, b)
    mask = ops.convert_to_tensor(np.arange(t)[None] >= (t - lengths)[:, None])
    fns = {}
    paths = [("reference", False, False, False), ("fast", True, True, True)]
    if keras.backend.backend() == "torch":  # the step without the loop
        paths.append(("fast step, Keras' loop", True, False, False))
        paths.append(("fast step by step", True, True, False))
    for name, direct, torch_loop, sequence in paths:
        layer = build(direct, args.units, t, b, args.rate)
        layer.torch_loop = torch_loop
        layer.torch_sequence = sequence
        variables = {"train": layer.trainable_variables, "all": []}

        def run(x, layer=layer):
            return layer(x, mask=mask, training=True)

        fwd = compiled(run, {"train": [], "all": []})
        bwd = compiled(run, variables, grad_inputs=1)
        fns[f"{name} fwd"] = (lambda f: lambda: f(x))(fwd)
        fns[f"{name} fwd+bwd"] = (lambda f: lambda: f(x))(bwd)
    if keras.backend.backend() == "torch":
        import torch

        for key in [k for k in fns if k.endswith("fwd")]:
            fns[key] = (lambda f: lambda: torch.no_grad()(f)())(fns[key])
    before = load()
    seconds = common.interleaved(fns, args.repeats, 1, clock=clock)
    record = {
        "backend": keras.backend.backend(),
        "batch": b,
        "frames": t,
        "ms": {k: round(1e3 * v, 2) for k, v in seconds.items()},
        "ms_per_step_fwd+bwd": {
            k: round(1e3 * seconds[f"{k} fwd+bwd"] / t, 3) for k, *_ in paths
        },
        "load": [before, load()],
        "clock": "cpu" if args.cpu else "wall",
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()

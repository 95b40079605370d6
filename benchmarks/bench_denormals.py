"""A user's own torch training loop on the paper TT-GRU, with and without
`torch.set_flush_denormal(True)`.

The model of `ttrnn experiment ucf11 --protocol paper --model tt-gru`
(uint8 frames, pixels - 128 inside the layer, padding mask) trained by a
plain torch loop (`torch.optim.Adam`, cross-entropy), no Keras `fit`:
steps alternate between denormals kept (torch's default) and flushed,
in one process; medians. The first step without flushing also shows
the layer's warning.

    KERAS_BACKEND=torch python benchmarks/bench_denormals.py --frames 64
"""

import argparse
import os
import statistics
import sys
import time
import warnings

os.environ["KERAS_BACKEND"] = "torch"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402, F401 - thread counts before torch loads


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import keras
    import numpy as np
    import torch

    from ttrnn.experiments import models
    from ttrnn.experiments import registry

    common.set_backend_threads()
    keras.utils.set_random_seed(0)
    experiment = registry.get("ucf11").with_protocol("paper")
    model, _ = models.build_recurrent(
        experiment, "tt-gru", 57600, 11, masking=True, pixels=(128.0, 1.0)
    )
    rng = np.random.default_rng(0)
    b, t = args.batch, args.frames
    x = torch.from_numpy(rng.integers(0, 256, (b, t, 57600), dtype=np.uint8))
    mask = torch.ones(b, t, dtype=torch.bool)
    y = torch.from_numpy(rng.integers(0, 11, b))
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(model([x, mask], training=True), y)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    times = {"kept": [], "flushed": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for flush in (False, True):  # warm-up
            torch.set_flush_denormal(flush)
            step()
    for w in caught:
        if "Denormal" in str(w.message):
            print(f"warning: {w.message}")
    loads = [os.getloadavg()[0]]
    for _ in range(args.repeats):
        for flush in (False, True):
            torch.set_flush_denormal(flush)
            times["flushed" if flush else "kept"].append(step())
    loads.append(os.getloadavg()[0])
    kept, flushed = (statistics.median(times[k]) for k in times)
    print(
        f"{b} x {t} uint8 frames, plain torch loop, median of "
        f"{args.repeats}: denormals kept {kept:.2f} s, flushed "
        f"{flushed:.2f} s ({kept / flushed:.1f}x); load average "
        f"{loads[0]:.1f} -> {loads[1]:.1f}; {common.machine()}"
    )


if __name__ == "__main__":
    main()

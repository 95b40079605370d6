"""Length buckets of the 2017 video protocol: padding against compiles.

Three sections:

- `padding` (no backend, deterministic): padded / real frames of the
  epoch plan (`ttrnn.data.plan_batches`) for several bucket counts and
  frame budgets, on `bench_epoch.py`'s length distribution
  (`make_lengths`): its 160-clip set (4 clips of 1,492 frames) and a
  1,280-clip UCF11-sized set (26 such clips, as `ucf11_padding`).
- `variety` (deterministic): what more buckets cost in shuffling. Clips
  are shuffled within their bucket, so with more (smaller) buckets the
  same clips share batches epoch after epoch: the share of the pairs of
  clips batched together in one epoch that are again in the next.
- `compile` (one backend, `KERAS_BACKEND`): the cost of one more bucket.
  The paper TT-GRU (57,600 -> 256, rank 4, uint8 frames and a padding
  mask) takes `train_on_batch` and `test_on_batch` on zero-padded batches
  of the bucket shapes of a small set (`--clips`, default 48, bucketed
  as the experiment buckets it), each shape twice: the first call
  traces and compiles, the second only runs. It reports per shape the
  first call's extra seconds (wall and CPU), the growth of the process's
  resident memory (after `malloc_trim`) and the number of traces of the
  train and test steps (under jax.jit and tf.function each trace is one
  graph).

    python benchmarks/bench_buckets.py                     # padding
    python benchmarks/bench_buckets.py --section variety   # batch mates
    KERAS_BACKEND=jax python benchmarks/bench_buckets.py --section compile
"""

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
COUNTS = (8, 12, 16, 24, 32, 48, 64)
BUDGETS = (4096, 8192)  # JAX's default; TensorFlow's and torch's


def padding_table(counts=COUNTS, budgets=BUDGETS, batch_size=16, seed=0):
    """Rows `(set, clips, budget, count, buckets used, batches, padding)`
    of the deterministic padding sweep."""
    from bench_epoch import make_lengths

    from ttrnn.data import bucket_lengths
    from ttrnn.data import plan_batches
    from ttrnn.data.buckets import planned_frames

    small = make_lengths(160, seed, long_clips=4)
    sets = {
        "160 clips": small,
        "160 clips, fold 0's 128 training clips": small[fold_zero(160)],
        "1,280 clips": make_lengths(1280, seed, long_clips=26),
    }
    rows = []
    for name, lengths in sets.items():
        for budget in budgets:
            for count in counts:
                buckets = bucket_lengths(
                    lengths, count, batch_size, max_batch_frames=budget
                )
                padded = planned_frames(lengths, buckets, batch_size, budget)
                batches = plan_batches(
                    lengths, buckets, batch_size, max_batch_frames=budget
                )
                rows.append(
                    {
                        "set": name,
                        "real_frames": int(lengths.sum()),
                        "budget": budget,
                        "count": count,
                        "buckets": len(buckets),
                        "batches": len(batches),
                        "padded_frames": int(padded),
                        "padding": padded / lengths.sum(),
                    }
                )
    return rows


def fold_zero(clips):
    """The clip indices that fold 0 of `bench_epoch.py`'s `clips`-clip
    set trains on (its file names decide the folds)."""
    import tempfile

    from bench_epoch import write_placeholder

    from ttrnn.experiments import datasets
    from ttrnn.experiments import registry

    with tempfile.TemporaryDirectory() as data_dir:
        for index in range(clips):
            write_placeholder(data_dir, index)
        dataset = datasets.load_video(registry.get("ucf11"), data_dir)
        train, _ = dataset.folds(5, seed=0)[0]
        names = [os.path.basename(dataset.clips[i]) for i in train]
    return [int(name[-8:-4]) for name in names]


def format_padding(rows):
    """A markdown table: one line per set and budget, one column per
    count: the padding, and in brackets the buckets used."""
    counts = sorted({r["count"] for r in rows})
    lines = [
        "| set | real frames | max_batch_frames | "
        + " | ".join(f"{c} buckets" for c in counts)
        + " |",
        "|---" * (3 + len(counts)) + "|",
    ]
    keys = []
    for r in rows:
        if (r["set"], r["budget"]) not in keys:
            keys.append((r["set"], r["budget"]))
    for name, budget in keys:
        cells = {
            r["count"]: f"{r['padding']:.3f} ({r['buckets']})"
            for r in rows
            if (r["set"], r["budget"]) == (name, budget)
        }
        real = next(r["real_frames"] for r in rows if r["set"] == name)
        lines.append(
            f"| {name} | {real:,} | {budget:,} | "
            + " | ".join(cells[c] for c in counts)
            + " |"
        )
    return "\n".join(lines)


def batch_mates(counts=COUNTS, budgets=BUDGETS, epochs=5, seed=0):
    """Rows `(budget, count, share)`: of the pairs of clips of the
    1,280-clip set batched together in an epoch, the share batched
    together again in the next (mean over `epochs` epoch pairs)."""
    import numpy as np
    from bench_epoch import make_lengths

    from ttrnn.data import bucket_lengths
    from ttrnn.data import plan_batches

    lengths = make_lengths(1280, seed, long_clips=26)

    def batch_of(plan):
        which = np.full(len(lengths), -1)
        for index, (_, members) in enumerate(plan):
            which[members[members >= 0]] = index
        return which[:, None] == which[None, :]

    rows = []
    for budget in budgets:
        for count in (*counts, len(lengths)):
            buckets = bucket_lengths(lengths, count, 16, None, budget)
            rng = np.random.default_rng(seed)
            plans = [
                batch_of(plan_batches(lengths, buckets, 16, rng, budget))
                for _ in range(epochs + 1)
            ]
            shares = []
            for before, after in zip(plans, plans[1:]):
                np.fill_diagonal(before, False)
                shares.append((before & after).sum() / before.sum())
            rows.append((budget, count, float(np.mean(shares))))
    return rows


def _rss_mb():
    """Resident memory now (MB), after returning freed heap to the OS."""
    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/status", encoding="ascii") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def compile_costs(clips=48, count=8, budget=None, seed=0):
    """Per bucket shape of a `clips`-clip set: seconds of the first train
    and test call beyond the second, resident memory growth, traces."""
    import common  # noqa: F401 - thread counts before the backend loads
    import keras
    import numpy as np
    from bench_epoch import make_lengths

    from ttrnn.data import bucket_lengths
    from ttrnn.data import bucket_rows
    from ttrnn.experiments import models
    from ttrnn.experiments import registry
    from ttrnn.experiments import settings
    from ttrnn.experiments import training
    from ttrnn.experiments.run_config import default_max_batch_frames

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        torch.set_flush_denormal(True)
    budget = budget or default_max_batch_frames(backend)
    lengths = make_lengths(clips, seed, long_clips=min(4, clips))
    buckets = bucket_lengths(lengths, count, 16, max_batch_frames=budget)
    rows = bucket_rows(buckets, 16, budget)
    traces = {"train": 0, "test": 0}
    train_step, test_step = keras.Model.train_step, keras.Model.test_step

    def counted_train(self, *args, **kwargs):
        traces["train"] += 1
        return train_step(self, *args, **kwargs)

    def counted_test(self, *args, **kwargs):
        traces["test"] += 1
        return test_step(self, *args, **kwargs)

    keras.Model.train_step = counted_train
    keras.Model.test_step = counted_test
    keras.utils.set_random_seed(seed)
    experiment = registry.get("ucf11").with_protocol("paper")
    features = 120 * 160 * 3
    model, loss = models.build_recurrent(
        experiment,
        "tt-gru",
        features,
        11,
        masking=True,
        pixels=(128.0, settings.pixel_scale("paper")),
    )
    training.compile_model(model, loss, experiment, 1e-4)
    rng = np.random.default_rng(seed)
    base = _rss_mb()
    records = []
    # Longest first, as plan_batches leads every epoch.
    for steps, batch in sorted(zip(buckets, rows), reverse=True):
        x = rng.integers(0, 256, (batch, steps, features), dtype=np.uint8)
        real = rng.integers(max(1, steps // 2), steps + 1, batch)
        mask = np.arange(steps)[None, :] >= (steps - real)[:, None]
        x[~mask] = 0
        y = rng.integers(0, 11, batch).astype("int32")
        weight = np.ones(batch, "float32")
        record = {"steps": int(steps), "rows": int(batch)}
        for kind, call in (
            ("train", model.train_on_batch),
            ("test", model.test_on_batch),
        ):
            seconds, cpu = [], []
            for _ in range(2):
                started = time.perf_counter(), time.process_time()
                call([x, mask], y, sample_weight=weight)
                seconds.append(time.perf_counter() - started[0])
                cpu.append(time.process_time() - started[1])
            record[f"{kind}_first_s"] = seconds[0]
            record[f"{kind}_run_s"] = seconds[1]
            record[f"{kind}_compile_s"] = seconds[0] - seconds[1]
            # CPU seconds: less swayed by the other processes' load.
            record[f"{kind}_compile_cpu_s"] = cpu[0] - cpu[1]
        del x, mask
        record["rss_mb"] = _rss_mb() - base
        record["train_traces"] = traces["train"]
        record["test_traces"] = traces["test"]
        record["load"] = os.getloadavg()[0]
        records.append(record)
        print("RESULT " + json.dumps(record), flush=True)
    return {
        "backend": backend,
        "budget": budget,
        "buckets": list(buckets),
        "rows": list(rows),
        "records": records,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--section", choices=("padding", "compile", "variety"))
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--buckets", type=int, default=8)
    parser.add_argument("--max-batch-frames", type=int, default=None)
    args = parser.parse_args()
    if args.section == "compile":
        if args.clips > 48:
            parser.error("--clips: at most 48 on this shared machine")
        result = compile_costs(args.clips, args.buckets, args.max_batch_frames)
        print(json.dumps(result, indent=1))
        return 0
    if args.section == "variety":
        for budget, count, share in batch_mates():
            print(f"max_batch_frames {budget}, {count} buckets: {share:.2f}")
        return 0
    print(format_padding(padding_table()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

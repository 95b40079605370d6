"""One training epoch of the 2017 video protocol, at its real scale.

`ttrnn experiment ucf11 --protocol paper` (every frame of every clip,
zero pre-padding and masking, batch 16 with at most `--max-batch-frames`
padded frames a batch (the library's default: 4,096 on JAX, 8,192 on
TensorFlow and torch), in at most `--buckets` length buckets (the
library's default: 24 on JAX, 32 on TensorFlow and torch), TT-GRU
57,600 -> 256 at rank 4)
on a generated set in UCF11's layout: by default 200 clips of 120x160x3
frames whose lengths are drawn log-normally (median 180 frames, sigma
0.6, clipped to 30..1,492, the protocol's range), with 4 clips of the
maximum 1,492 frames. The frames are written straight into the decoded
frame cache (`FrameCache.store`), so encoding does not dominate the set-up
(about 2.5 GB of cache files, written once and reused).

Each backend runs in its own process (`KERAS_BACKEND`), which trains
fold 0 of the 5-fold protocol for `--epochs` epochs and reports:

- training frames/s: real (unpadded) training frames over the epoch's
  training seconds (validation excluded), for the last epoch (the first
  one includes the compiles);
- the seconds a 1,280-clip UCF11 epoch (1,280 x 190 frames, the mean of
  this distribution) would take: its padded frames (with the padding a
  1,280-clip set of this distribution gets in as many buckets as the run
  used, `ucf11_padding`: the few clips of a small set fill the length
  buckets worse) at the rate the benchmark computed padded frames;
- peak RSS of the whole process (resource.getrusage), and the part the
  libraries take before any data or model (Keras, the backend, and
  TensorFlow, which Keras' saving imports when it is installed);
- compiled training graphs: traces of the train step under jax.jit or
  tf.function (each trace is one graph); torch runs eagerly (0);
- padding overhead: frames computed / real frames of the epoch's
  batches.

    python benchmarks/bench_epoch.py                 # all three backends
    python benchmarks/bench_epoch.py --backends jax --epochs 2
    python benchmarks/bench_epoch.py --src /tmp/old/src   # another tree
    python benchmarks/bench_epoch.py --input-precision bfloat16

`--src` runs the same benchmark against another checkout of ttrnn (e.g. a
`git worktree` of an older commit), for before/after tables. Threads per
process: TTRNN_BENCH_THREADS, default 1 as in the other benchmarks (on
this shared 2-core machine JAX ran 1,147 frames/s on 1 thread, 1,040 on
2).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "_out", "epoch")
UCF11_EPOCH_CLIPS = 1280


def make_lengths(clips, seed, long_clips=4):
    """The clip lengths of the generated set (see the module docstring)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.normal(np.log(180), 0.6, clips))
    lengths = np.clip(np.round(lengths), 30, 1492).astype(np.int64)
    lengths[rng.choice(clips, long_clips, replace=False)] = 1492
    return lengths


def write_placeholder(data_dir, index):
    """Writes clip `index`'s file in the UCF11 layout (it stands for the
    video file; the frames go into the cache); returns its path."""
    from ttrnn.data.layouts import UCF11_CLASSES

    label = UCF11_CLASSES[index % len(UCF11_CLASSES)]
    group = (index // len(UCF11_CLASSES)) % 25 + 1
    folder = os.path.join(data_dir, label, f"v_{label}_{group:02d}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"v_{label}_{group:02d}_{index:04d}.mpg")
    with open(path, "wb") as file:
        file.write(b"generated; frames are in the cache\n")
    return path


def write_dataset(root, cache_dir, clips, seed, long_clips=4):
    """Writes placeholder clips in the UCF11 layout and their frames into
    the frame cache; returns the data directory. Reused when present."""
    import numpy as np

    from ttrnn.data import FrameCache

    name = f"ucf11-{clips}-{seed}"
    if long_clips != 4:
        name += f"-long{long_clips}"
    data_dir = os.path.join(root, name)
    marker = os.path.join(data_dir, "done.json")
    if os.path.isfile(marker):
        return data_dir
    cache = FrameCache(cache_dir, frame_shape=(120, 160))
    lengths = make_lengths(clips, seed, long_clips)
    rng = np.random.default_rng(seed + 1)
    started = time.perf_counter()
    for index, length in enumerate(lengths):
        path = write_placeholder(data_dir, index)
        # A textured background with a bright square moving across it.
        base = rng.integers(0, 200, (120, 160, 3), dtype=np.uint8)
        frames = np.repeat(base[None], int(length), axis=0)
        step = 1 + index % 4
        for t in range(int(length)):
            x = (t * step) % 140
            frames[t, 40:60, x : x + 20] = 255
        cache.store(path, frames)
    with open(marker, "w", encoding="utf-8") as file:
        json.dump({"lengths": lengths.tolist()}, file)
    print(
        f"wrote {clips} clips ({int(lengths.sum()):,} frames) into the "
        f"cache in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return data_dir


def ucf11_padding(buckets, seed=0, batch_size=16, max_batch_frames=None):
    """Padded / real frames of the length buckets of a 1,280-clip set of
    the same length distribution (a UCF11-sized epoch): more clips fill
    the buckets better than the benchmark's few (the longest bucket's
    batch is mostly other clips, padded, when only 4 clips reach it).

    Args:
        buckets: the most buckets (the run's count: 24 or 32 with the
            library's defaults), or `None` for random batches padded to
            their longest clip.
    """
    import numpy as np

    from ttrnn.data import bucket_lengths
    from ttrnn.data import plan_batches

    lengths = make_lengths(UCF11_EPOCH_CLIPS, seed, long_clips=26)
    if buckets is None:  # random batches padded to their longest clip
        order = np.random.default_rng(seed).permutation(len(lengths))
        batches = [
            order[s : s + batch_size] for s in range(0, len(order), batch_size)
        ]
        padded = sum(lengths[b].max() * len(b) for b in batches)
        return padded / lengths.sum()
    chosen = bucket_lengths(
        lengths, buckets, batch_size, max_batch_frames=max_batch_frames
    )
    plan = plan_batches(
        lengths,
        chosen,
        batch_size,
        np.random.default_rng(seed),
        max_batch_frames=max_batch_frames,
    )
    return sum(steps * len(rows) for steps, rows in plan) / lengths.sum()


def _count_train_traces(keras):
    """Counts Python calls of `Model.train_step`: under jax.jit and
    tf.function each is one trace (one compiled graph), eagerly (torch)
    one a step."""
    counter = {"traces": 0}
    original = keras.Model.train_step

    def train_step(self, *args, **kwargs):
        counter["traces"] += 1
        return original(self, *args, **kwargs)

    keras.Model.train_step = train_step
    return counter


def child(args):
    """Runs the experiment in this process and prints one JSON line."""
    if args.src:
        sys.path.insert(0, args.src)
    import inspect

    import keras
    import numpy as np

    import ttrnn
    from ttrnn.experiments import datasets
    from ttrnn.experiments import registry
    from ttrnn.experiments import run

    backend = keras.backend.backend()
    if backend != "tensorflow":  # Keras' saving imports it when installed
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            pass
    # The libraries' own memory, before any data or model.
    import_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    counter = _count_train_traces(keras)
    if backend == "torch":  # as XLA and TensorFlow do by default
        import torch

        torch.set_flush_denormal(True)
    out = os.path.join(OUT, f"run-{backend}")
    kwargs = dict(
        data_dir=args.data_dir,
        out=out,
        epochs=args.epochs,
        protocol="paper",
        folds=[0],
        cache_dir=args.cache_dir,
        overwrite=True,
        seed=0,
        verbose=0,
        plot=False,
    )
    try:  # the settings run_experiment takes
        from ttrnn.experiments.run_config import SETTINGS as parameters
    except ImportError:  # an earlier ttrnn: its keyword arguments
        parameters = inspect.signature(run.run_experiment).parameters
    if "buckets" in parameters and args.buckets is not None:
        kwargs["buckets"] = args.buckets
    if "max_batch_frames" in parameters and args.max_batch_frames is not None:
        kwargs["max_batch_frames"] = args.max_batch_frames or None
    if args.input_precision:
        if "input_precision" not in parameters:
            raise SystemExit("this ttrnn has no input_precision setting")
        kwargs["input_precision"] = args.input_precision
    if args.devices:
        from ttrnn import distribution

        distribution.initialize(devices=args.devices)
    started = time.perf_counter()
    result = run.run_experiment("ucf11", args.model, **kwargs)
    wall = time.perf_counter() - started
    with open(os.path.join(out, "state.json"), encoding="utf-8") as file:
        state = json.load(file)
    # Real training frames of fold 0.
    experiment = registry.get("ucf11")
    dataset = datasets.load_video(experiment, args.data_dir)
    lengths_of = json.load(
        open(os.path.join(args.data_dir, "done.json"), encoding="utf-8")
    )["lengths"]
    train_idx, _ = dataset.folds(5, seed=0)[0]
    frames = int(
        sum(
            lengths_of[int(os.path.basename(dataset.clips[i])[-8:-4])]
            for i in train_idx
        )
    )
    compiles = 0 if backend == "torch" else counter["traces"]
    padding = result["config"].get("padding_overhead", {}).get("fold-0", {})
    if not padding:
        padding = {"train": _random_batch_padding(dataset, train_idx, args)}
    seconds = state["train_seconds"]
    record = {
        "backend": backend,
        "ttrnn": os.path.dirname(os.path.dirname(ttrnn.__file__)),
        "model": args.model,
        "train_clips": len(train_idx),
        "train_frames": frames,
        "epoch_train_seconds": seconds,
        "frames_per_second": frames / seconds[-1],
        "computed_frames_per_second": frames
        * (padding.get("train") or 1.0)
        / seconds[-1],
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        / 2**20,
        "import_rss_gb": import_rss,
        "train_compiles": compiles,
        "padding_overhead": padding.get("train"),
        "buckets": padding.get("train_buckets"),
        "bucket_count": result["config"].get("buckets"),
        "max_batch_frames": result["config"].get("max_batch_frames"),
        "accuracy": result["metrics"].get("accuracy"),
        "wall_seconds": wall,
        "threads": os.environ.get("TTRNN_BENCH_THREADS"),
        "devices": args.devices,
    }
    print("RESULT " + json.dumps(record), flush=True)
    del np


def _random_batch_padding(dataset, train_idx, args):
    """Padding of random batches padded to their own longest clip (the
    behaviour before length buckets)."""
    import numpy as np

    lengths_of = json.load(
        open(os.path.join(args.data_dir, "done.json"), encoding="utf-8")
    )["lengths"]
    lengths = np.array(
        [
            lengths_of[int(os.path.basename(dataset.clips[i])[-8:-4])]
            for i in train_idx
        ]
    )
    order = np.random.default_rng(0).permutation(len(lengths))
    padded = sum(
        lengths[order[s : s + 16]].max() * len(order[s : s + 16])
        for s in range(0, len(order), 16)
    )
    return float(padded / lengths.sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--model", default="tt-gru")
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--buckets",
        type=int,
        default=None,
        help="most length buckets (default: the library's, per backend)",
    )
    parser.add_argument(
        "--max-batch-frames",
        type=int,
        default=None,
        help="most padded frames a batch (default: the library's; 0: none)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--long-clips",
        type=int,
        default=4,
        help="clips set to the longest 1,492 frames",
    )
    parser.add_argument(
        "--devices",
        type=int,
        default=None,
        help="JAX: train data-parallel over N virtual CPU devices "
        "(XLA_FLAGS=--xla_force_host_platform_device_count=N, "
        "ttrnn experiment --devices N)",
    )
    parser.add_argument(
        "--input-precision",
        choices=("float32", "bfloat16"),
        default=None,
        help="the TT-GRU's input_precision (default: the library's)",
    )
    parser.add_argument("--src", default=None, help="another ttrnn src/")
    parser.add_argument("--label", default=None, help="name of this run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TTRNN_BENCH_THREADS", "1")
    sys.path.insert(0, HERE)
    import common  # noqa: F401 - sets thread counts before backends load

    if args.child:
        child(args)
        return 0
    os.makedirs(OUT, exist_ok=True)
    cache_dir = os.path.join(OUT, "cache")
    data_dir = write_dataset(
        OUT, cache_dir, args.clips, args.seed, args.long_clips
    )
    records = []
    for backend in args.backends.split(","):
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            f"--model={args.model}",
            f"--epochs={args.epochs}",
            *([] if args.buckets is None else [f"--buckets={args.buckets}"]),
            *(
                []
                if args.max_batch_frames is None
                else [f"--max-batch-frames={args.max_batch_frames}"]
            ),
            f"--data-dir={data_dir}",
            f"--cache-dir={cache_dir}",
        ]
        if args.src:
            command.append(f"--src={os.path.abspath(args.src)}")
        if args.input_precision:
            command.append(f"--input-precision={args.input_precision}")
        env = dict(os.environ, KERAS_BACKEND=backend)
        if args.devices:
            command.append(f"--devices={args.devices}")
            # First: XLA stops reading its flags at a malformed one.
            env["XLA_FLAGS"] = (
                f"--xla_force_host_platform_device_count={args.devices} "
                + env.get("XLA_FLAGS", "")
            ).strip()
        started = time.perf_counter()
        proc = subprocess.run(command, env=env, capture_output=True, text=True)
        lines = [
            line[len("RESULT ") :]
            for line in proc.stdout.splitlines()
            if line.startswith("RESULT ")
        ]
        if proc.returncode != 0 or not lines:
            print(
                f"{backend}: failed (exit {proc.returncode}) after "
                f"{time.perf_counter() - started:.0f} s\n"
                + proc.stderr[-3000:],
                flush=True,
            )
            records.append({"backend": backend, "failed": proc.returncode})
            continue
        record = json.loads(lines[-1])
        record["label"] = args.label
        # A 1,280-clip epoch (mean 190 frames) at the rate padded frames
        # are computed, with the padding that many clips get.
        count = record.get("bucket_count") or args.buckets or 8
        record["ucf11_padding"] = ucf11_padding(
            count if record.get("buckets") else None,
            max_batch_frames=record.get("max_batch_frames"),
        )
        record["ucf11_epoch_seconds"] = (
            UCF11_EPOCH_CLIPS
            * 190
            * record["ucf11_padding"]
            / record["computed_frames_per_second"]
        )
        records.append(record)
        print(format_row(record), flush=True)
    print()
    print(format_table(records))
    with open(os.path.join(OUT, "results.jsonl"), "a", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    return 0


def format_row(r):
    return (
        f"{r['backend']}: {r['frames_per_second']:,.0f} frames/s, "
        f"epochs {[round(s, 1) for s in r['epoch_train_seconds']]} s, "
        f"peak {r['peak_rss_gb']:.2f} GB (libraries "
        f"{r.get('import_rss_gb', float('nan')):.2f}), "
        f"compiles {r['train_compiles']}, "
        f"padding {r['padding_overhead']:.2f} in "
        f"{len(r.get('buckets') or [])} buckets, "
        f"max batch frames {r.get('max_batch_frames')}"
    )


def format_table(records):
    lines = [
        "| backend | frames/s | UCF11 epoch s | epochs (train s) | peak RSS GB "
        "| of which libraries | train graphs | padded / real |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if "failed" in r:
            lines.append(f"| {r['backend']} | failed ({r['failed']}) ||||||")
            continue
        lines.append(
            f"| {r['backend']} | {r['frames_per_second']:,.0f} "
            f"| {r['ucf11_epoch_seconds']:,.0f} "
            f"| {', '.join(f'{s:.1f}' for s in r['epoch_train_seconds'])} "
            f"| {r['peak_rss_gb']:.2f} "
            f"| {r.get('import_rss_gb', float('nan')):.2f} "
            f"| {r['train_compiles']} "
            f"| {r['padding_overhead']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

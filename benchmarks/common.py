"""Shared pieces of the benchmarks: cases, timing, machine description."""

import math
import os
import platform
import time

# Threads per process, set before any backend is imported. Default 1: on
# a shared, loaded machine two-thread BLAS/OpenMP regions stall on
# descheduled threads (torch's bmm ran 40x slower at load 8 on 2 cores).
THREADS = int(os.environ.get("TTRNN_BENCH_THREADS", "1"))
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
os.environ.setdefault("MKL_NUM_THREADS", str(THREADS))
os.environ.setdefault(
    "XLA_FLAGS",
    "--xla_cpu_multi_thread_eigen=false" if THREADS == 1 else "",
)
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(THREADS))
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def keep_freed_memory():
    """Makes glibc keep freed memory instead of returning it to the OS.

    Opt-in (TTRNN_BENCH_MALLOC=keep): every allocation comes from the heap
    (no mmap) and the heap is never trimmed, so the buffers a compiled
    training step allocates afresh on every call do not page-fault again
    (on this machine ~0.5 ns per byte, as much as the GEMMs of a TT-GRU
    step). It applies to every model of the process alike; the same
    effect as MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ set before
    start-up, or a caching allocator (jemalloc, tcmalloc).

    Returns:
        True when the settings were applied.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    big = 2**30  # glibc caps the mmap threshold at 32 MiB..1 GiB
    return bool(
        libc.mallopt(m_mmap_threshold, big)
        and libc.mallopt(m_trim_threshold, 2**31 - 1)
    )


MALLOC = os.environ.get("TTRNN_BENCH_MALLOC", "default")
if MALLOC == "keep":
    MALLOC = "keep" if keep_freed_memory() else "default (mallopt failed)"


def set_backend_threads():
    """Applies THREADS to torch and TensorFlow if they are loaded."""
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(THREADS)
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        try:
            tf.config.threading.set_intra_op_parallelism_threads(THREADS)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # already initialised


# REFERENCE.md section 5: (tt_input_shape, tt_output_shape, rank, batch).
CASES = {
    "A": ((4, 8, 8, 4), (4, 8, 8, 4), 8, 256),
    "B": ((8, 20, 20, 18), (4, 4, 4, 12), 4, 96),
    "C": ((2, 7, 8, 8, 7, 4), (4, 4, 4, 4, 4, 4), 4, 64),
    "D": ((8, 8, 8, 8), (8, 8, 8, 8), 16, 512),
}


def ranks_of(ins, rank):
    return (1,) + (rank,) * (len(ins) - 1) + (1,)


def dense_macs(ins, outs, batch):
    return batch * math.prod(ins) * math.prod(outs)


def interleaved(
    fns, repeats, warmup=1, seed=0, inner=None, clock=time.perf_counter
):
    """Median seconds of each callable, runs interleaved (by `clock`:
    wall clock, or e.g. `time.process_time` on a loaded machine).

    Every round runs the callables in a new (seeded) random order: in a
    fixed order the callable after the dense layer always met the caches
    and the heap that its 100-400 MB of weights and gradients had just
    churned (case C: the TT layer measured 10 % slower in that seat than
    the same layer one seat later). `inner` ({key: n}) runs a callable n
    times in a row in each of its seats, every run a sample: more samples
    of the fast callables without more rounds of a slow one.
    """
    inner = inner or {}
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    keys = list(fns)
    rng = np.random.default_rng(seed)
    for _ in range(repeats):
        for i in rng.permutation(len(keys)):
            k = keys[i]
            for _ in range(inner.get(k, 1)):
                start = clock()
                fns[k]()
                times[k].append(clock() - start)
    return {k: float(np.median(v)) for k, v in times.items()}


def matmul_ceiling(threads=None, size=2048, repeats=5):
    """GFLOP/s of a size^3 float32 matmul (NumPy, the machine's BLAS)."""
    a = np.random.default_rng(0).standard_normal((size, size), "float32")
    a @ a
    best = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ a
        best.append(time.perf_counter() - start)
    return 2 * size**3 / float(np.median(best)) / 1e9


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} cores, {THREADS} thread(s) per run, Python "
        f"{platform.python_version()}, load average {load:.1f}, "
        f"malloc {MALLOC}"
    )


def paper_tt_gru(seed=0, input_precision="float32"):
    """The UCF11 paper protocol's TT-GRU model (uint8 frames of 57,600
    values, masking, 11 classes), seeded: `(model, loss)` uncompiled;
    two calls give the same weights."""
    import keras

    from ttrnn.experiments import models
    from ttrnn.experiments import registry
    from ttrnn.experiments import settings

    experiment = registry.get("ucf11").with_protocol("paper")
    keras.utils.set_random_seed(seed)
    return models.build_recurrent(
        experiment,
        "tt-gru",
        160 * 120 * 3,
        11,
        masking=True,
        pixels=(128.0, settings.pixel_scale("paper")),
        input_precision=input_precision,
    )

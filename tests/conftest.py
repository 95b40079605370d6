"""Test configuration: the suite runs once per Keras backend.

Select the backend with KERAS_BACKEND=jax|tensorflow|torch (default jax).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The commands' JAX compile cache stays out of the user's home in tests
# (tests/test_compile_cache.py turns it on in child processes).
os.environ["TTRNN_COMPILE_CACHE"] = "off"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


def _accelerator():
    """The backend's accelerator kind ("gpu", "tpu"), or None."""
    from ttrnn.tt.contraction.runtime import device_kind

    kind = device_kind()
    return None if kind == "cpu" else kind


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.gpu` tests are skipped where no accelerator is."""
    marked = [item for item in items if "gpu" in item.keywords]
    if not marked or _accelerator():
        return
    skip = pytest.mark.skip(reason="no GPU or TPU for this backend")
    for item in marked:
        item.add_marker(skip)


def pytest_sessionstart(session):
    """On GPUs, float32 matmuls in full float32 (no TF32): the numerical
    tests compare against float64 NumPy at float32 tolerances."""
    if _accelerator() != "gpu":
        return
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
    elif backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Every test starts from float32, a fixed seed and a clean session
    (fresh layer names). Without the forced garbage collection that
    `clear_session` runs by default: 0.17 s a test, several minutes of
    the suite; Python collects as usual."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session(free_memory=False)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def backend():
    return keras.backend.backend()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Lists every skipped test with its reason, so no skip is silent.

    A skip hides coverage (data not found, an optional package missing,
    a backend-only path); the one-line "N skipped" count does not say
    which, so the end of every run names them.
    """
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    terminalreporter.section(
        f"SKIPPED (coverage not run here): {len(skipped)} test(s)",
        sep="=",
        yellow=True,
    )
    for report in skipped:
        reason = _skip_reason(report)
        terminalreporter.line(f"{report.nodeid}: {reason}")


def _skip_reason(report):
    """The reason of a skip report ("Skipped: " prefix removed)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason.removeprefix("Skipped: ")


@pytest.fixture(autouse=True)
def _no_data_downloads(monkeypatch, tmp_path_factory):
    """Tests never download data: ttrnn's data cache is an empty
    temporary folder, offline, with no mirror (the fetching tests turn
    these on against a local server)."""
    monkeypatch.setenv("TTRNN_DATA_CACHE", str(tmp_path_factory.mktemp("c")))
    monkeypatch.setenv("TTRNN_OFFLINE", "1")
    monkeypatch.delenv("TTRNN_DATA_MIRROR", raising=False)

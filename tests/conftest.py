"""Test configuration: the suite runs once per Keras backend.

Select the backend with KERAS_BACKEND=jax|tensorflow|torch (default jax).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


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

"""Fixtures of the data tests: PyAV and the shared data folder."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def shared_data_dir():
    """The shared data folder ($TTRNN_SHARED_DATA or <repo>/../shared/data)."""
    default = REPO.parent / "shared" / "data"
    path = pathlib.Path(os.environ.get("TTRNN_SHARED_DATA", default))
    if not path.is_dir():
        pytest.skip(f"shared data directory {path} not found")
    return path


@pytest.fixture
def av():
    """PyAV, or a skip when the optional `video` extra is not installed."""
    return pytest.importorskip("av")


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Overrides the suite's per-test Keras reset: data tests build no
    models (the one that does clears the session itself), and the reset's
    garbage collection would dominate their run time."""
    yield

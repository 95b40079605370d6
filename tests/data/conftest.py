"""Fixtures of the data tests: PyAV and real data (optional)."""

import os
import pathlib

import pytest


@pytest.fixture
def shared_data_dir():
    """A folder of the real NIPS 2003 and spls files (`nips2003/<name>/`,
    `spls/<name>/`) named by $TTRNN_REAL_DATA, or a skip: the project
    ships none, and generated files in the same formats cover the code."""
    path = os.environ.get("TTRNN_REAL_DATA")
    if not path or not pathlib.Path(path).is_dir():
        pytest.skip("real NIPS 2003 / spls files: set $TTRNN_REAL_DATA")
    return pathlib.Path(path)


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

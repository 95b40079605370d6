"""Fixtures of the experiment tests: PyAV, no $TTRNN_DATA_DIR."""

import os

import pytest


@pytest.fixture
def av():
    """PyAV, or a skip when the optional `video` extra is not installed."""
    return pytest.importorskip("av")


@pytest.fixture(autouse=True)
def _no_data_dir_env(monkeypatch):
    """Experiments read $TTRNN_DATA_DIR: tests start without it."""
    monkeypatch.delenv("TTRNN_DATA_DIR", raising=False)
    os.environ.setdefault("MPLBACKEND", "Agg")

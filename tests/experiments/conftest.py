"""Fixtures of the experiment tests: the shared data folder, PyAV."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def shared_data_dir():
    """<repo>/../shared/data (NIPS 2003 and spls), or a skip."""
    path = REPO.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared data directory {path} not found")
    return path


@pytest.fixture
def av():
    """PyAV, or a skip when the optional `video` extra is not installed."""
    return pytest.importorskip("av")


@pytest.fixture(autouse=True)
def _no_data_dir_env(monkeypatch):
    """Experiments read $TTRNN_DATA_DIR: tests start without it."""
    monkeypatch.delenv("TTRNN_DATA_DIR", raising=False)
    os.environ.setdefault("MPLBACKEND", "Agg")

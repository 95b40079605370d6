"""TensorFlow's start-up lines obey TF_CPP_MIN_LOG_LEVEL (ttrnn._tf_logs).

The subprocess tests run the `ttrnn` command and a script as a user
would, with TensorFlow installed, and read their stderr.
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

from ttrnn import _tf_logs

REPO = pathlib.Path(__file__).resolve().parents[1]

NOTICE = (
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR\n"
)
ONEDNN = (
    "I0000 00:00:1796553563.373256    4959 port.cc:153] oneDNN custom "
    "operations are on. You may see slightly different numerical results.\n"
)
GUARD = (
    "I0000 00:00:1796554912.804563   18284 cpu_feature_guard.cc:227] This "
    "TensorFlow binary is optimized\n"
)
WARN = "W1206 10:39:11.123456   4959 some_file.cc:12] a warning\n"
ERROR = "E1206 10:39:11.123456   4959 some_file.cc:12] an error\n"
OTHER = "UserWarning: a Python warning, not absl's format\n"
TEXT = NOTICE + ONEDNN + GUARD + WARN + ERROR + OTHER

needs_tensorflow = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None, reason="needs tensorflow"
)


@pytest.mark.parametrize(
    "level, kept",
    [
        (0, TEXT),
        (1, NOTICE + WARN + ERROR + OTHER),
        (2, ERROR + OTHER),
        (3, OTHER),
    ],
)
def test_filter_lines_applies_the_level(level, kept):
    assert _tf_logs.filter_lines(TEXT, level) == kept


def test_min_log_level(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    assert _tf_logs.min_log_level() == 3
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "loud")
    assert _tf_logs.min_log_level() == 0
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    assert _tf_logs.min_log_level() == 0


def test_filtered_stderr_writes_back_the_rest(capfd):
    with _tf_logs.filtered_stderr(2):
        os.write(2, (NOTICE + ONEDNN + OTHER).encode())
        os.write(2, b"after\n")
    assert capfd.readouterr().err == OTHER + "after\n"


def test_install_is_idempotent_and_uninstall_removes_the_hook(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    _tf_logs.uninstall()
    try:
        _tf_logs.install()
        _tf_logs.install()
        hooks = [f for f in sys.meta_path if "TensorFlowFinder" in repr(f)]
        assert len(hooks) == 1
    finally:
        _tf_logs.uninstall()
    assert not [f for f in sys.meta_path if "TensorFlowFinder" in repr(f)]


def test_install_does_nothing_once_tensorflow_is_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    _tf_logs.install()
    assert not [f for f in sys.meta_path if "TensorFlowFinder" in repr(f)]


def _env(tmp_path, **extra):
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env.update(
        PYTHONPATH=str(REPO / "src"),
        KERAS_HOME=str(tmp_path / "keras_home"),
        **extra,
    )
    return env


def _quiet(stderr):
    return "absl::InitializeLog" not in stderr and "oneDNN" not in stderr


@needs_tensorflow
def test_jax_command_prints_no_tensorflow_lines(tmp_path):
    # Keras seeds TensorFlow too (set_random_seed): TensorFlow loads in
    # the middle of the run, on JAX.
    args = ["experiment", "fibonacci", "--epochs", "1", "--verbose", "0"]
    args += ["--no-plots", "--out", str(tmp_path / "run")]
    done = subprocess.run(
        [sys.executable, "-m", "ttrnn", *args],
        capture_output=True,
        text=True,
        env=_env(tmp_path, KERAS_BACKEND="jax"),
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "fibonacci tt-gru: accuracy" in done.stdout
    assert _quiet(done.stderr), done.stderr


@needs_tensorflow
def test_user_level_zero_shows_the_lines(tmp_path):
    code = "import ttrnn, keras, tensorflow; print(keras.backend.backend())"
    backend = os.environ.get("KERAS_BACKEND", "jax")
    quiet = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(tmp_path, KERAS_BACKEND=backend),
        timeout=300,
    )
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.split() == [backend]
    assert _quiet(quiet.stderr), quiet.stderr
    loud = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(tmp_path, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="0"),
        timeout=300,
    )
    assert loud.returncode == 0, loud.stderr
    if _quiet(loud.stderr):  # or the check above proves nothing
        pytest.skip("this TensorFlow prints no start-up lines")

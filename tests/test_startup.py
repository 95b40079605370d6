"""Start-up: the Keras backend ttrnn chooses, and what it imports.

The subprocess tests run a fresh interpreter with KERAS_BACKEND removed
and KERAS_HOME in a temporary folder, as a new user would. "Only torch
installed" is faked by a sitecustomize.py that hides packages from
Python's path finder: `importlib.util.find_spec` then returns None for
them and importing them raises ModuleNotFoundError, as when they are not
installed. The in-process tests cover the decision rules one by one.
"""

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys
import types
import warnings

import pytest

import ttrnn
from ttrnn import _select_backend

REPO = pathlib.Path(__file__).resolve().parents[1]
BACKENDS = ("keras", "jax", "jaxlib", "tensorflow", "torch")

_HIDER = """
import importlib.machinery
import os
import sys

_HIDDEN = set(filter(None, os.environ.get("TTRNN_TEST_HIDE", "").split(",")))


class _HidingPathFinder(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in _HIDDEN:
            return None
        return super().find_spec(name, path, target)


if _HIDDEN:
    sys.meta_path[:] = [
        _HidingPathFinder if f is importlib.machinery.PathFinder else f
        for f in sys.meta_path
    ]
"""


def _installed(package):
    return importlib.util.find_spec(package) is not None


def _env(tmp_path, hide=(), **extra):
    """A user's environment: no KERAS_BACKEND, an empty KERAS_HOME."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_HIDER)
    home = tmp_path / "keras_home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ)
    for name in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "PYTHONPATH"):
        env.pop(name, None)
    env.update(
        # This checkout's ttrnn, not another one installed in the venv.
        PYTHONPATH=os.pathsep.join([str(site), str(REPO / "src")]),
        KERAS_HOME=str(home),
        TTRNN_TEST_HIDE=",".join(hide),
        **extra,
    )
    return env


def _run(args, env, timeout=300):
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=timeout,
    )


_REPORT = (
    "import sys, keras; "
    "print('backend', keras.backend.backend()); "
    "print('loaded', sorted(m for m in ('jax', 'tensorflow', 'torch') "
    "if m in sys.modules))"
)


@pytest.mark.skipif(not _installed("torch"), reason="needs torch")
class TestOnlyTorchInstalled:
    HIDE = ("jax", "jaxlib", "tensorflow")

    def test_the_fake_install_makes_plain_keras_fail(self, tmp_path):
        # Keras alone defaults to TensorFlow: what ttrnn must avoid.
        done = _run(["-c", "import keras"], _env(tmp_path, self.HIDE))
        assert done.returncode != 0
        assert "No module named 'tensorflow'" in done.stderr

    def test_import_ttrnn_chooses_torch(self, tmp_path):
        env = _env(tmp_path, self.HIDE)
        for _ in range(2):  # the second run finds Keras' own keras.json
            done = _run(["-c", "import ttrnn; " + _REPORT], env)
            assert done.returncode == 0, done.stderr
            assert "backend torch" in done.stdout
            assert "loaded ['torch']" in done.stdout
        config = json.loads(
            (tmp_path / "keras_home" / "keras.json").read_text()
        )
        assert config["backend"] == "tensorflow"  # written by Keras itself

    def test_command_runs_on_torch(self, tmp_path):
        env = _env(tmp_path, self.HIDE)
        done = _run(["-m", "ttrnn", "info", "mnist", "--model", "tt"], env)
        assert done.returncode == 0, done.stderr
        assert "1,248" in done.stdout

    def test_explicit_missing_backend_is_a_clear_error(self, tmp_path):
        env = _env(tmp_path, self.HIDE, KERAS_BACKEND="tensorflow")
        done = _run(["-c", "import ttrnn"], env)
        assert done.returncode != 0
        assert "BackendError: KERAS_BACKEND='tensorflow'" in done.stderr
        assert "Installed backends: torch. Set KERAS_BACKEND=torch" in (
            done.stderr
        )
        done = _run(["-m", "ttrnn", "info", "mnist"], env)
        assert done.returncode == 1
        assert done.stderr.startswith("ttrnn info: error: KERAS_BACKEND=")
        assert "Traceback" not in done.stderr


@pytest.mark.skipif(not _installed("jax"), reason="needs jax")
class TestOnlyJaxInstalled:
    HIDE = ("tensorflow", "torch")

    def test_import_keras_first_then_ttrnn(self, tmp_path):
        # Keras' own error comes first (ttrnn is not imported yet); then
        # `import ttrnn` says why, selects JAX and `import keras` works.
        code = (
            "try:\n    import keras\n"
            "except ModuleNotFoundError as error:\n    print(error)\n"
            "import ttrnn\n" + _REPORT.replace("; ", "\n")
        )
        done = _run(["-c", code], _env(tmp_path, self.HIDE))
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            "No module named 'tensorflow'",
            "backend jax",
            "loaded ['jax']",
        ]
        assert (
            "UserWarning: An earlier `import keras` failed: with "
            "KERAS_BACKEND unset, Keras uses TensorFlow, which is not "
            "installed. ttrnn has set KERAS_BACKEND='jax', so `import "
            "keras` works now. Next time import ttrnn before Keras, or set "
            "KERAS_BACKEND=jax (e.g. `export KERAS_BACKEND=jax`)."
        ) in done.stderr

    def test_import_ttrnn_first_does_not_warn(self, tmp_path):
        done = _run(
            ["-c", "import ttrnn; " + _REPORT], _env(tmp_path, self.HIDE)
        )
        assert done.returncode == 0, done.stderr
        assert "backend jax" in done.stdout
        assert "earlier `import keras`" not in done.stderr


def test_explicit_keras_backend_is_kept(tmp_path):
    if not (_installed("torch") and _installed("jax")):
        pytest.skip("needs jax and torch")
    env = _env(tmp_path, KERAS_BACKEND="torch")
    done = _run(["-c", "import ttrnn; " + _REPORT], env)
    assert done.returncode == 0, done.stderr
    assert "backend torch" in done.stdout


def test_keras_json_is_kept(tmp_path):
    if not (_installed("torch") and _installed("jax")):
        pytest.skip("needs jax and torch")
    env = _env(tmp_path)
    config = dict(_select_backend.KERAS_DEFAULT_CONFIG, backend="torch")
    (tmp_path / "keras_home" / "keras.json").write_text(json.dumps(config))
    done = _run(["-c", "import ttrnn; " + _REPORT], env)
    assert done.returncode == 0, done.stderr
    assert "backend torch" in done.stdout


def _imported(stderr):
    """Top-level packages in a `-X importtime` report."""
    names = set()
    for line in stderr.splitlines():
        match = re.match(r"import time:.*\|\s*([\w.]+)\s*$", line)
        if match:
            names.add(match.group(1).split(".")[0])
    return names


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--help"], "usage: ttrnn"),
        (["--version"], f"ttrnn {ttrnn.__version__}"),
        (["list"], "fibonacci"),
        (["data", "list"], "arcene"),
        (["experiment", "--help"], "--epochs"),
    ],
)
def test_light_commands_import_no_backend(tmp_path, argv, expected):
    done = _run(["-X", "importtime", "-m", "ttrnn", *argv], _env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
    imported = _imported(done.stderr)
    assert "ttrnn" in imported  # the report is read right
    assert not imported & set(BACKENDS)


def test_script_imports_no_backend(tmp_path):
    script = pathlib.Path(sys.executable).with_name("ttrnn")
    if not script.is_file():
        pytest.skip("the ttrnn script is not installed beside python")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(script), "--help"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: ttrnn" in done.stdout
    assert not _imported(done.stderr) & set(BACKENDS)


def test_import_ttrnn_registers_the_layers(tmp_path):
    """`import ttrnn` alone lets Keras load a saved TT model."""
    code = (
        "import os, sys, tempfile; import keras; "
        "m = keras.Sequential([keras.Input((16,)), "
        "__import__('ttrnn').TTDense(units=16, tt_ranks=2)]); "
        "p = os.path.join(tempfile.mkdtemp(), 'm.keras'); m.save(p); "
        "print(p)"
    )
    env = _env(tmp_path, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"))
    saved = _run(["-c", code], env)
    assert saved.returncode == 0, saved.stderr
    path = saved.stdout.strip().splitlines()[-1]
    load = f"import ttrnn, keras; keras.saving.load_model({path!r})"
    done = _run(["-c", load], env)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not _installed("tensorflow"), reason="needs tensorflow")
def test_tensorflow_log_lines_kept_off_stderr(tmp_path):
    """Keras' serialisation loads TensorFlow on every backend."""
    code = (
        "import os, tempfile; import ttrnn, keras, tensorflow; "
        "m = keras.Sequential([keras.Input((16,)), "
        "ttrnn.TTDense(units=16, tt_ranks=2)]); "
        "m.save(os.path.join(tempfile.mkdtemp(), 'm.keras')); "
        "ttrnn.compress(keras.Sequential([keras.Input((64,)), "
        "keras.layers.Dense(64)]), compression=4); "
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    )
    env = _env(tmp_path, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"))
    done = _run(["-c", code], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2"]
    # TensorFlow's C++ log lines obey the level; the lines it prints
    # before it reads the level (absl's notice, the oneDNN notice) are
    # filtered by ttrnn._tf_logs (tests/test_tf_logs.py).
    assert "cpu_feature_guard" not in done.stderr
    assert "absl::InitializeLog" not in done.stderr
    assert "oneDNN custom operations" not in done.stderr
    # A user's own level is kept; at 0 the same code is noisy here (or
    # the check above proves nothing: then skip rather than pass).
    done = _run(["-c", code], dict(env, TF_CPP_MIN_LOG_LEVEL="0"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0"]
    if "cpu_feature_guard" not in done.stderr:
        pytest.skip("TensorFlow prints nothing at start-up on this machine")


class TestRules:
    """`select()`'s rules, with the installed packages faked."""

    @pytest.fixture
    def fake(self, monkeypatch, tmp_path):
        """Keras not yet imported; `installed` lists the packages."""
        state = types.SimpleNamespace(installed={"jax", "tensorflow", "torch"})
        monkeypatch.setattr(
            _select_backend,
            "is_installed",
            lambda b: b in state.installed,
        )
        monkeypatch.setattr(
            _select_backend, "_keras_backend_in_use", lambda: None
        )
        monkeypatch.setenv("KERAS_HOME", str(tmp_path))
        monkeypatch.delenv("KERAS_BACKEND", raising=False)
        state.config = tmp_path / "keras.json"
        return state

    def test_first_installed(self, fake):
        fake.installed = {"tensorflow", "torch"}
        assert _select_backend.select() == "tensorflow"
        assert os.environ["KERAS_BACKEND"] == "tensorflow"

    def test_keras_default_file_is_no_choice(self, fake):
        fake.config.write_text(json.dumps(_select_backend.KERAS_DEFAULT_CONFIG))
        assert _select_backend.select() == "jax"
        del os.environ["KERAS_BACKEND"]  # a new process
        fake.installed = {"torch"}
        assert _select_backend.select() == "torch"

    def test_keras_json_choice_is_kept(self, fake):
        fake.config.write_text(json.dumps({"backend": "tensorflow"}))
        assert _select_backend.select() == "tensorflow"
        assert "KERAS_BACKEND" not in os.environ  # Keras reads the file
        fake.installed = {"jax"}
        with pytest.raises(_select_backend.BackendError) as info:
            _select_backend.select()
        text = str(info.value)
        assert "keras.json selects the 'tensorflow' Keras backend" in text
        assert "Installed backends: jax. Set KERAS_BACKEND=jax" in text
        assert "or install tensorflow: pip install tensorflow." in text

    def test_environment_wins(self, fake, monkeypatch):
        fake.config.write_text(json.dumps({"backend": "tensorflow"}))
        monkeypatch.setenv("KERAS_BACKEND", "torch")
        assert _select_backend.select() == "torch"

    def test_nothing_installed(self, fake):
        fake.installed = set()
        # Advice that installs from PyPI (ttrnn itself is installed from a
        # clone, so `pip install 'ttrnn[jax]'` would find nothing).
        with pytest.raises(
            _select_backend.BackendError,
            match=r"pip install jax \(or tensorflow, torch\); from a clone",
        ):
            _select_backend.select()

    def test_keras_already_imported_on_a_missing_backend(self, monkeypatch):
        config = types.SimpleNamespace(backend=lambda: "tensorflow")
        monkeypatch.setitem(sys.modules, "keras.src.backend.config", config)
        monkeypatch.setattr(
            _select_backend, "is_installed", lambda b: b == "jax"
        )
        with pytest.raises(_select_backend.BackendError) as info:
            _select_backend.select()
        text = str(info.value)
        assert "Keras is already imported on the 'tensorflow' backend" in text
        assert "restart Python with the backend set, or import ttrnn" in text
        assert "Set KERAS_BACKEND=jax" in text

    def test_failed_keras_import_is_explained(self, fake, monkeypatch):
        monkeypatch.setattr(
            _select_backend, "_keras_import_failed", lambda: True
        )
        fake.installed = {"jax", "torch"}
        with pytest.warns(
            UserWarning,
            match=r"earlier `import keras` failed: .* Keras uses TensorFlow"
            r", which is not installed\. ttrnn has set KERAS_BACKEND='jax'",
        ):
            assert _select_backend.select() == "jax"
        # With TensorFlow installed the failure had another cause: no
        # advice about backends.
        del os.environ["KERAS_BACKEND"]
        fake.installed = {"jax", "tensorflow"}
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert _select_backend.select() == "jax"

    def test_keras_already_imported_is_kept(self):
        import keras

        assert _select_backend.select() == keras.backend.backend()

    def test_log_level_default_and_user_value(self, monkeypatch):
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
        _select_backend.quiet_tensorflow()
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
        _select_backend.quiet_tensorflow()
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"

    @pytest.mark.parametrize(
        "argv0, expected",
        [("-m", True), ("/venv/bin/ttrnn", True), ("-c", False), ("", False)],
    )
    def test_command_line_detection(self, monkeypatch, argv0, expected):
        monkeypatch.setattr(sys, "argv", [argv0])
        assert _select_backend.is_command_line() is expected

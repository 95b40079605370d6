"""Every script in examples/ runs, in a quick mode, on small data.

Each example runs in a subprocess on the suite's backend, as a user runs
it (`python examples/NAME.py ...`), and must exit 0 with its usual output.
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import keras
import pytest

from tests.formats import write_tiny_fashion_mnist

REPO = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.py"))


def run_example(name, *args, timeout=600):
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return subprocess.run(
        [sys.executable, str(REPO / "examples" / name), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# Quick arguments of each example ({data} is a tiny data folder).
QUICK = {
    "compress_mlp.py": [
        "--data-dir",
        "{data}",
        "--epochs",
        "1",
        "--finetune-epochs",
        "1",
        "--compression",
        "100",
    ],
    "text_classifier.py": ["--samples", "300", "--epochs", "1"],
}


def test_every_example_has_a_quick_run():
    assert sorted(QUICK) == [path.name for path in EXAMPLES]


def test_compress_mlp_runs(tmp_path):
    data = write_tiny_fashion_mnist(tmp_path / "fashion-mnist")
    args = [a.format(data=data) for a in QUICK["compress_mlp.py"]]
    result = run_example("compress_mlp.py", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for line in ("dense MLP", "compressed", "+ fine-tuned", "TT from scratch"):
        assert line in out
    assert "96 training and 48 test images" in out
    assert "fc1 (TTDense)" in out and "Total" in out  # ttrnn.summary


def test_text_classifier_runs():
    result = run_example("text_classifier.py", *QUICK["text_classifier.py"])
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "240 training and 60 test documents" in out
    rows = {
        line[:26].strip(): line.split()
        for line in out.splitlines()
        if line.startswith(("dense", "TTEmbedding", "  +"))
    }
    # The TT table holds at most 1 % of the dense table's weights.
    assert rows["dense Embedding"][2] == "25,600,000"
    tt_weights = int(rows["TTEmbedding from scratch"][3].replace(",", ""))
    assert 100_000 * 256 / tt_weights >= 100
    assert "emb (TTEmbedding)" in out  # ttrnn.summary


def _load_example(name):
    """Imports examples/NAME.py as a module (its main() not run)."""
    spec = importlib.util.spec_from_file_location(
        name.removesuffix(".py"), REPO / "examples" / name
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestCompressMlpData:
    """Command-line errors, in-process (no model is built)."""

    def _error(self, monkeypatch, capsys, *args):
        example = _load_example("compress_mlp.py")
        monkeypatch.setattr(sys, "argv", ["compress_mlp.py", *args])
        with pytest.raises(SystemExit) as exit_info:
            example.main()
        assert exit_info.value.code == 2
        return capsys.readouterr().err

    def test_missing_directory_names_data_dir_and_package(
        self, tmp_path, monkeypatch, capsys
    ):
        err = self._error(
            monkeypatch, capsys, "--data-dir", str(tmp_path / "absent")
        )
        assert "no directory" in err and "absent" in err
        assert "--data-dir DIR" in err
        assert "dataset-fashion-mnist" in err
        assert "pass `path`" not in err

    def test_missing_file_is_named(self, tmp_path, monkeypatch, capsys):
        data = write_tiny_fashion_mnist(tmp_path / "fm")
        os.remove(data / "t10k-labels-idx1-ubyte.gz")
        err = self._error(monkeypatch, capsys, "--data-dir", str(data))
        assert "t10k-labels-idx1-ubyte" in err
        assert "--data-dir DIR" in err

    @pytest.mark.parametrize(
        "args, match",
        [
            (["--limit", "0"], "--limit must be >= 1"),
            (["--epochs", "-1"], "--epochs must be >= 1"),
            (["--compression", "0"], "--compression must be > 0"),
        ],
    )
    def test_invalid_numbers(self, monkeypatch, capsys, args, match):
        assert match in self._error(monkeypatch, capsys, *args)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_import_ttrnn_before_keras(path):
    # With KERAS_BACKEND unset and only JAX or torch installed, importing
    # Keras first would pick TensorFlow and fail.
    imports = [
        line.split()[1]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith(("import ", "from "))
    ]
    assert imports[0] == "ttrnn", imports[:3]

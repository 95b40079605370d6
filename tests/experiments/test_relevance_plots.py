"""Scored explanations: the mnist-seq experiment and its relevance."""

import json
import os

import keras
import numpy as np
import pytest

from tests.formats import write_tiny_fashion_mnist
from tests.helpers import write_tiny_ucf11
from ttrnn.experiments import datasets
from ttrnn.experiments import registry
from ttrnn.experiments import relevance_plots
from ttrnn.experiments import run


def _counting_model(features):
    """h_T = sum over real steps of feature 0: only steps whose feature 0
    is set carry relevance, exactly."""
    rnn = keras.layers.SimpleRNN(1, activation="linear", use_bias=False)
    model = keras.Sequential(
        [
            keras.Input((None, features)),
            keras.layers.Masking(0.0),
            rnn,
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    kernel = np.zeros((features, 1))
    kernel[0] = 1.0
    rnn.set_weights([kernel, np.ones((1, 1))])
    model.layers[-1].set_weights([np.ones((1, 1)), np.zeros(1)])
    return model


class TestRelevanceScores:
    def test_finds_the_steps_that_decide(self, rng, tmp_path):
        x = rng.uniform(0.5, 1.0, size=(12, 7, 5))
        x[:, :, 0] = 0.0
        marks = rng.random((12, 7)) < 0.3
        x[:, :, 0][marks] = 1.0
        x[:3, :2] = 0.0  # padding: no marks there
        marks[:3, :2] = False
        model = _counting_model(5)
        scores = relevance_plots.relevance_scores(
            model, x, marks, plot_path=None
        )
        assert scores == {"relevance_auroc": 1.0, "relevance_auprc": 1.0}
        # Reversed marks: the explanation points at the other steps.
        flipped = relevance_plots.relevance_scores(
            model, x, ~marks & (x[..., 1] > 0)
        )
        assert flipped["relevance_auroc"] == 0.0

    def test_step_relevance_sums_features(self, rng):
        relevance = rng.normal(size=(2, 3, 4, 5))
        np.testing.assert_allclose(
            relevance_plots.step_relevance(relevance),
            relevance.sum(axis=(2, 3)),
        )

    def test_sequences_plot(self, rng, tmp_path):
        pytest.importorskip("matplotlib")
        x = np.zeros((2, 5, 16))
        x[:, 2:] = rng.uniform(1, 2, size=(2, 3, 16))
        marks = np.zeros((2, 5), dtype=bool)
        marks[0, 3] = True
        path = relevance_plots.sequences(
            tmp_path / "r.png", x, rng.normal(size=(2, 5)), marks
        )
        assert os.path.getsize(path) > 1000


class TestMnistSequences:
    def test_runs_and_scores_its_explanations(self, tmp_path, monkeypatch):
        monkeypatch.setattr(datasets, "MNIST_SEQUENCES", (40, 16))
        data_dir = write_tiny_fashion_mnist(tmp_path / "idx")
        result = run.run_experiment(
            "mnist-seq",
            "tt-lstm",
            data_dir=data_dir,
            out=tmp_path / "run",
            epochs=1,
            verbose=0,
            plot=False,
        )
        config = result["config"]
        assert (config["dropout"], config["recurrent_dropout"]) == (0.0, 0.5)
        assert (config["train_size"], config["validation_size"]) == (32, 8)
        assert config["test_size"] == 16
        # TT-LSTM 7*7*16 -> 4*4*4 (x 4 gates), ranks 1-4-4-1.
        assert result["weights"]["input_to_hidden"] == (
            7 * 16 * 4 + 4 * 7 * 4 * 4 + 4 * 16 * 4
        )
        for key in ("relevance_auroc", "relevance_auprc"):
            assert 0.0 <= result["metrics"][key] <= 1.0
        with open(tmp_path / "run" / "results.json") as f:
            saved = json.load(f)
        assert saved["metrics"]["relevance_auroc"] == pytest.approx(
            result["metrics"]["relevance_auroc"]
        )


class TestExplainCommand:
    def test_sequence_run_by_test_index(self, tmp_path, monkeypatch, capsys):
        from ttrnn import cli

        monkeypatch.setattr(datasets, "MNIST_SEQUENCES", (24, 8))
        data_dir = write_tiny_fashion_mnist(tmp_path / "idx")
        out = tmp_path / "run"
        argv = ["experiment", "mnist-seq", "--data-dir", str(data_dir)]
        argv += ["--out", str(out), "--epochs", "1", "--verbose", "0"]
        assert cli.main(argv + ["--no-plots", "--model", "lstm"]) == 0
        assert cli.main(["explain", str(out), "--index", "2"]) == 0
        printed = capsys.readouterr().out
        assert "test-2" in printed and "most relevant steps" in printed
        folder = out / "explain" / "test-2"
        relevance = np.load(folder / "relevance.npy")
        x_test = datasets.load_arrays(registry.get("mnist-seq"), data_dir)[
            "x_test"
        ]
        assert relevance.shape == (32, 784)
        padded = ~np.any(x_test[2] != 0, axis=-1)
        assert padded.any() and np.all(relevance[padded] == 0)
        with open(folder / "explanation.json") as f:
            summary = json.load(f)
        assert summary["target"] == 0 and summary["label"] in (0, 1)
        if _has_matplotlib():
            assert os.path.getsize(folder / "relevance.png") > 1000
        # Out of range, and no run there: usage errors (status 2).
        assert cli.main(["explain", str(out), "--index", "8"]) == 2
        assert "[0, 8)" in capsys.readouterr().err
        assert cli.main(["explain", str(tmp_path), "--index", "0"]) == 2
        assert "`run_dir` must be the output folder" in capsys.readouterr().err

    @pytest.mark.parametrize("model_name", ["tt-gru", "tt-mlp"])
    def test_video_run_by_clip_file(self, tmp_path, av, model_name):
        from ttrnn import cli
        from ttrnn import data

        data_dir = tmp_path / "ucf11"
        write_tiny_ucf11(data_dir, num_frames=5)
        out = tmp_path / "run"
        argv = ["experiment", "ucf11", "--data-dir", str(data_dir)]
        argv += ["--out", str(out), "--protocol", "paper", "--epochs", "1"]
        argv += ["--frame-shape", "16x24", "--folds", "0", "--batch-size", "4"]
        argv += ["--cache-dir", str(tmp_path / "cache"), "--verbose", "0"]
        assert cli.main(argv + ["--no-plots", "--model", model_name]) == 0
        clip = sorted(data_dir.rglob("*.mpg"))[0]
        argv = ["explain", str(out), "--input", str(clip), "--target", "1"]
        assert cli.main(argv + ["--bias-factor", "1", "--top-frames", "2"]) == 0
        folder = out / "explain" / clip.stem
        relevance = np.load(folder / "relevance.npy")
        assert relevance.shape == (5, 16 * 24 * 3)
        with open(folder / "explanation.json") as f:
            summary = json.load(f)
        assert summary["target"] == 1
        assert len(summary["most_relevant_steps"]) == 2
        # The same relevance as lrp on the clip as the run reads it.
        from ttrnn.explain import lrp

        model = keras.saving.load_model(out / "checkpoint.keras")
        frames = data.read_video(clip, frame_shape=(16, 24))
        x = frames.reshape(1, 5, -1)
        expected = lrp(
            model, [x, np.ones((1, 5), bool)], target=1, bias_factor=1.0
        )[0]
        np.testing.assert_allclose(relevance, expected, rtol=1e-5, atol=1e-8)
        if _has_matplotlib():
            assert os.path.getsize(folder / "relevance.png") > 1000


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True

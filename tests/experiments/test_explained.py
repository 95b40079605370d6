"""Scored explanations: the mnist-seq experiment and its relevance."""

import json
import os

import keras
import numpy as np
import pytest

from tests.formats import write_tiny_fashion_mnist
from ttrnn.experiments import datasets
from ttrnn.experiments import explained
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
        scores = explained.relevance_scores(model, x, marks, plot_path=None)
        assert scores == {"relevance_auroc": 1.0, "relevance_auprc": 1.0}
        # Reversed marks: the explanation points at the other steps.
        flipped = explained.relevance_scores(model, x, ~marks & (x[..., 1] > 0))
        assert flipped["relevance_auroc"] == 0.0

    def test_step_relevance_sums_features(self, rng):
        relevance = rng.normal(size=(2, 3, 4, 5))
        np.testing.assert_allclose(
            explained.step_relevance(relevance), relevance.sum(axis=(2, 3))
        )

    def test_sequences_plot(self, rng, tmp_path):
        pytest.importorskip("matplotlib")
        x = np.zeros((2, 5, 16))
        x[:, 2:] = rng.uniform(1, 2, size=(2, 3, 16))
        marks = np.zeros((2, 5), dtype=bool)
        marks[0, 3] = True
        path = explained.sequences(
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

"""Data preparation of the experiments (NIPS 2003 / spls files)."""

import numpy as np
import pytest

from tests.formats import write_nips2003_like
from tests.formats import write_spls_like
from ttrnn.data import DataOfflineError
from ttrnn.experiments import datasets
from ttrnn.experiments import registry
from ttrnn.experiments import splits
from ttrnn.experiments.registry import ExperimentError


class TestDatasets:
    def test_default_data_dir(self, monkeypatch, tmp_path):
        arcene = registry.get("arcene")
        monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))
        assert datasets.default_data_dir(arcene) == str(tmp_path)
        monkeypatch.delenv(datasets.DATA_DIR_ENV)
        # Video datasets have no default folder: they are fetched.
        assert datasets.default_data_dir(registry.get("ucf11")) is None

    def test_gisette_holdout(self, tmp_path):
        # Where gisette's training features are missing (the 2017
        # repository's copy): 2/3 train, 1/3 test of the validation set,
        # stratified, disjoint, with a warning.
        write_nips2003_like(
            tmp_path / "nips2003", "gisette", "non-sparse", 5000, {"valid": 300}
        )
        with pytest.warns(UserWarning, match="No gisette_train.data in"):
            arrays = datasets.load_arrays(registry.get("gisette"), tmp_path)
        n_train, n_test = len(arrays["x_train"]), len(arrays["x_test"])
        assert n_train + n_test == 300
        assert abs(n_test - 300 / 3) <= 2
        assert arrays["x_train"].shape[1] == 5000
        for y in (arrays["y_train"], arrays["y_test"]):
            assert 0.4 < y.mean() < 0.6
        train_rows = {r.tobytes() for r in arrays["x_train"]}
        assert not any(r.tobytes() in train_rows for r in arrays["x_test"])

    def test_gisette_train_on_train_when_present(self, tmp_path):
        # The 2017 split: train on train, test on valid.
        written = write_nips2003_like(
            tmp_path / "nips2003",
            "gisette",
            "non-sparse",
            5000,
            {"train": 30, "valid": 12},
        )
        arrays = datasets.load_arrays(registry.get("gisette"), tmp_path)
        assert arrays["split"] == "official"
        np.testing.assert_array_equal(arrays["y_train"], written["train"][1])
        np.testing.assert_array_equal(arrays["y_test"], written["valid"][1])

    @pytest.mark.parametrize("protocol", ["paper", "tuned"])
    def test_nips2003_scaling(self, tmp_path, protocol):
        """paper: each set min-max scaled with its own range (2017);
        tuned: with the training set's range."""
        written = write_nips2003_like(
            tmp_path / "nips2003",
            "arcene",
            "non-sparse",
            10000,
            {"train": 8, "valid": 6},
        )
        experiment, _ = registry.resolve("arcene", protocol)
        arrays = datasets.load_arrays(experiment, tmp_path)
        train, valid = written["train"][0], written["valid"][0]
        fitted = train if protocol == "tuned" else valid
        low, span = fitted.min(0), np.ptp(fitted, 0)
        expected = np.where(
            span > 0, (valid - low) / np.where(span, span, 1), 0
        )
        np.testing.assert_allclose(arrays["x_test"], expected, atol=1e-6)

    def test_spls_2017_preprocessing(self, tmp_path):
        """Pad to 6,300 columns, permute them by the 2017 draw
        (seed 11111986), scale each set with its own range."""
        written = write_spls_like(
            tmp_path / "spls", "prostate", {"train": 20, "valid": 8}, 6033
        )
        arrays = datasets.load_arrays(registry.get("prostate"), tmp_path)
        columns = np.random.RandomState(11111986).permutation(6300)
        for key, subset in (("x_train", "train"), ("x_test", "valid")):
            x = np.zeros((len(written[subset][0]), 6300))
            x[:, :6033] = written[subset][0]
            x = x[:, columns]
            span = np.ptp(x, 0)
            expected = np.where(
                span > 0, (x - x.min(0)) / np.where(span, span, 1), 0
            )
            np.testing.assert_allclose(arrays[key], expected, atol=1e-6)
        assert arrays["outputs"] == 1

    def test_spls_tuned_padded_and_scaled(self, tmp_path):
        # prostate has 6,033 genes; the TT modes 7 * 9 * 10 * 10 = 6,300.
        write_spls_like(
            tmp_path / "spls", "prostate", {"train": 20, "valid": 8}, 6033
        )
        experiment, _ = registry.resolve("prostate", "tuned")
        arrays = datasets.load_arrays(experiment, tmp_path)
        x = arrays["x_train"]
        assert x.shape == (20, 6300)
        np.testing.assert_array_equal(x[:, 6033:], 0.0)
        assert x[:, :6033].min() == pytest.approx(0.0)
        assert x[:, :6033].max() == pytest.approx(1.0)

    def test_folds_2017(self):
        """A permutation by the legacy generator seeded 11111986, cut into
        5 consecutive runs (np.array_split)."""
        order = np.random.RandomState(11111986).permutation(103)
        folds = splits.folds_2017(103)
        assert len(folds) == 5
        start = 0
        for i, (train, test) in enumerate(folds):
            size = 21 if i < 3 else 20
            np.testing.assert_array_equal(
                test, np.sort(order[start : start + size])
            )
            start += size
            np.testing.assert_array_equal(
                np.sort(np.concatenate([train, test])), np.arange(103)
            )

    def test_gisette_with_training_data(self, tmp_path):
        # With the training features (fetched from UCI): train on the
        # training set, test on the validation set, as the other sets.
        write_nips2003_like(
            tmp_path, "gisette", "non-sparse", 5000, {"train": 30, "valid": 20}
        )
        arrays = datasets.load_arrays(registry.get("gisette"), tmp_path)
        assert (len(arrays["x_train"]), len(arrays["x_test"])) == (30, 20)

    def test_no_default_data_is_fetched(self, monkeypatch):
        # No --data-dir, no $TTRNN_DATA_DIR: fetched into the cache
        # (offline in the tests: the error says how to get it).
        monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
        arcene = registry.get("arcene")
        assert datasets.default_data_dir(arcene) is None
        with pytest.raises(DataOfflineError, match="ttrnn data get arcene"):
            datasets.load_arrays(arcene)

    def test_missing_directory(self, tmp_path):
        with pytest.raises(datasets.DataDirError, match="Data directory not"):
            datasets.load_arrays(registry.get("yeast"), tmp_path / "none")
        with pytest.raises(DataOfflineError, match="ttrnn data get hmdb51"):
            datasets.load_video(registry.get("hmdb51"), None)

    def test_dataset_choice(self):
        mnist = registry.get("mnist")
        assert datasets.dataset_name(mnist) == "mnist"
        assert datasets.dataset_name(mnist, "fashion-mnist") == "fashion-mnist"
        assert datasets.dataset_name(registry.get("arcene")) is None
        with pytest.raises(ExperimentError, match="Received: dataset='cifar'"):
            datasets.dataset_name(mnist, "cifar")
        with pytest.raises(ExperimentError, match="for mnist and mnist-seq"):
            datasets.dataset_name(registry.get("arcene"), "mnist")


class TestReuters:
    def test_features_are_keras_bag_of_words_with_shuffled_columns(
        self, tmp_path, monkeypatch
    ):
        """Against Keras' own load_data(num_words=1000) and a binary
        matrix of its indices, columns permuted by the seed's
        `default_rng(seed).permutation(1000)`."""
        from keras.src.datasets import reuters

        from tests.formats import write_reuters_like

        path = tmp_path / "reuters.npz"
        write_reuters_like(path, count=80, seed=5)
        monkeypatch.setattr(reuters, "get_file", lambda *a, **k: str(path))
        (kx, ky), (kx_test, ky_test) = reuters.load_data(num_words=1000)
        experiment = registry.get("reuters")
        for seed in (0, 1):
            arrays = datasets.load_arrays(experiment, tmp_path, seed=seed)
            columns = np.random.default_rng(seed).permutation(1000)
            for ours, seqs in (("x_train", kx), ("x_test", kx_test)):
                binary = np.zeros((len(seqs), 1000), np.float32)
                for i, seq in enumerate(seqs):
                    binary[i, [w for w in seq if w < 1000]] = 1.0
                np.testing.assert_array_equal(arrays[ours], binary[:, columns])
            np.testing.assert_array_equal(arrays["y_train"], ky)
            np.testing.assert_array_equal(arrays["y_test"], ky_test)
            assert arrays["outputs"] == 46
            assert arrays["source"] == str(path)

    def test_where_the_file_is_looked_for(self, tmp_path, monkeypatch):
        home = tmp_path / "keras-home"
        monkeypatch.setenv("KERAS_HOME", str(home))
        # Nowhere: fetched into ttrnn's cache (offline in the tests).
        with pytest.raises(DataOfflineError, match="ttrnn data get reuters"):
            datasets.reuters_path()
        cached = home / "datasets" / "reuters.npz"
        cached.parent.mkdir(parents=True)
        cached.write_bytes(b"")
        assert datasets.reuters_path() == str(cached)
        # $TTRNN_DATA_DIR first, then --data-dir (a folder or the file).
        own = tmp_path / "data" / "reuters.npz"
        own.parent.mkdir()
        own.write_bytes(b"")
        monkeypatch.setenv(datasets.DATA_DIR_ENV, str(own.parent))
        assert datasets.reuters_path() == str(own)
        assert datasets.reuters_path(own.parent) == str(own)
        assert datasets.reuters_path(own) == str(own)
        with pytest.raises(datasets.DataDirError, match="No reuters.npz"):
            datasets.reuters_path(tmp_path / "elsewhere")

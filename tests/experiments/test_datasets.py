"""Data preparation of the experiments (shared NIPS 2003 / spls files)."""

import numpy as np
import pytest

from ttrnn.experiments import datasets
from ttrnn.experiments import registry


class TestDatasets:
    def test_default_data_dir(self, monkeypatch, tmp_path):
        arcene = registry.get("arcene")
        monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))
        assert datasets.default_data_dir(arcene) == str(tmp_path)
        monkeypatch.delenv(datasets.DATA_DIR_ENV)
        # Video datasets have no default: they need --data-dir.
        assert datasets.default_data_dir(registry.get("ucf11")) is None

    def test_gisette_holdout(self, shared_data_dir):
        # Only gisette's validation set carries features: 2/3 train,
        # 1/3 test, stratified, disjoint.
        arrays = datasets.load_arrays(registry.get("gisette"), shared_data_dir)
        n_train, n_test = len(arrays["x_train"]), len(arrays["x_test"])
        assert n_train + n_test == 1000
        assert abs(n_test - 1000 / 3) <= 2
        assert arrays["x_train"].shape[1] == 5000
        for y in (arrays["y_train"], arrays["y_test"]):
            assert 0.4 < y.mean() < 0.6
        train_rows = {r.tobytes() for r in arrays["x_train"]}
        assert not any(r.tobytes() in train_rows for r in arrays["x_test"])

    def test_spls_padded_and_scaled(self, shared_data_dir):
        arrays = datasets.load_arrays(registry.get("prostate"), shared_data_dir)
        x = arrays["x_train"]
        assert x.shape == (80, 6300)
        np.testing.assert_array_equal(x[:, 6033:], 0.0)
        assert x[:, :6033].min() == pytest.approx(0.0)
        assert x[:, :6033].max() == pytest.approx(1.0)
        assert arrays["outputs"] == 1

    def test_missing_directory(self, tmp_path):
        with pytest.raises(datasets.DataDirError, match="Data directory not"):
            datasets.load_arrays(registry.get("yeast"), tmp_path / "none")
        with pytest.raises(datasets.DataDirError, match="needs --data-dir"):
            datasets.load_video(registry.get("hmdb51"), None)

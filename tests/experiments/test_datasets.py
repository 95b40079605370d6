"""Data preparation of the experiments (NIPS 2003 / spls files)."""

import numpy as np
import pytest

from tests.formats import write_nips2003_like
from tests.formats import write_spls_like
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

    def test_gisette_holdout(self, tmp_path):
        # Only gisette's validation set carries features: 2/3 train,
        # 1/3 test, stratified, disjoint.
        write_nips2003_like(
            tmp_path / "nips2003", "gisette", "non-sparse", 5000, {"valid": 300}
        )
        arrays = datasets.load_arrays(registry.get("gisette"), tmp_path)
        n_train, n_test = len(arrays["x_train"]), len(arrays["x_test"])
        assert n_train + n_test == 300
        assert abs(n_test - 300 / 3) <= 2
        assert arrays["x_train"].shape[1] == 5000
        for y in (arrays["y_train"], arrays["y_test"]):
            assert 0.4 < y.mean() < 0.6
        train_rows = {r.tobytes() for r in arrays["x_train"]}
        assert not any(r.tobytes() in train_rows for r in arrays["x_test"])

    def test_spls_padded_and_scaled(self, tmp_path):
        # prostate has 6,033 genes; the TT modes 7 * 9 * 10 * 10 = 6,300.
        write_spls_like(
            tmp_path / "spls", "prostate", {"train": 20, "valid": 8}, 6033
        )
        arrays = datasets.load_arrays(registry.get("prostate"), tmp_path)
        x = arrays["x_train"]
        assert x.shape == (20, 6300)
        np.testing.assert_array_equal(x[:, 6033:], 0.0)
        assert x[:, :6033].min() == pytest.approx(0.0)
        assert x[:, :6033].max() == pytest.approx(1.0)
        assert arrays["outputs"] == 1

    def test_no_default_data(self, monkeypatch):
        # Nothing is downloaded and no folder outside the project is read.
        monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
        arcene = registry.get("arcene")
        assert datasets.default_data_dir(arcene) is None
        with pytest.raises(datasets.DataDirError, match="--data-dir"):
            datasets.load_arrays(arcene)

    def test_missing_directory(self, tmp_path):
        with pytest.raises(datasets.DataDirError, match="Data directory not"):
            datasets.load_arrays(registry.get("yeast"), tmp_path / "none")
        with pytest.raises(datasets.DataDirError, match="needs --data-dir"):
            datasets.load_video(registry.get("hmdb51"), None)

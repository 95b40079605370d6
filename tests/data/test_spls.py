"""Tests of the spls reader on files written here in the format."""

import gzip

import numpy as np
import pytest

from ttrnn.data.spls import load_spls


def write(folder, name, files):
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, text in files.items():
        with gzip.open(folder / f"{name}_{suffix}.gz", "wt") as file:
            file.write(text)


class TestSpls:
    def test_classification(self, tmp_path):
        write(
            tmp_path / "lymphoma",
            "lymphoma",
            {
                "train.data": "-0.5 1.25 3\n0 0 -1e-3\n",
                "train.labels": "0\n2\n",
                "valid.data": "1 2 3\n",
                "valid.labels": "1\n",
            },
        )
        (x, y), (xv, yv) = load_spls("lymphoma", tmp_path)
        np.testing.assert_allclose(x, [[-0.5, 1.25, 3], [0, 0, -1e-3]])
        assert x.dtype == np.float32 and y.dtype == np.int32
        np.testing.assert_array_equal(y, [0, 2])
        np.testing.assert_array_equal(xv, [[1, 2, 3]])
        np.testing.assert_array_equal(yv, [1])

    def test_regression(self, tmp_path):
        write(
            tmp_path,
            "mice",
            {
                "train.data": "3 2\n1 1\n",
                "train.labels": "8.83 11.19 1\n7.16 11.15 2\n",
                "valid.data": "2 2\n",
                "valid.labels": "6.82 10.56 3\n",
            },
        )
        (x, y), (_, yv) = load_spls("mice", tmp_path)
        assert y.dtype == np.float32 and y.shape == (2, 3)
        np.testing.assert_allclose(yv, [[6.82, 10.56, 3]], rtol=1e-6)

    @pytest.mark.parametrize(
        "labels, classification", [("1\n0\n", True), ("0.5\n1\n", False)]
    )
    def test_unknown_name_infers_task(self, tmp_path, labels, classification):
        write(
            tmp_path,
            "other",
            {
                "train.data": "1\n2\n",
                "train.labels": labels,
                "valid.data": "3\n",
                "valid.labels": "1\n",
            },
        )
        (_, y), _ = load_spls("other", tmp_path)
        assert (y.ndim == 1) == classification

    def test_errors(self, tmp_path):
        files = {
            "train.data": "1 2\n3\n",
            "train.labels": "1\n0\n",
            "valid.data": "1 2\n",
            "valid.labels": "1\n",
        }
        write(tmp_path, "prostate", files)
        with pytest.raises(ValueError, match="same number of values"):
            load_spls("prostate", tmp_path)
        files["train.data"] = "1 2\n3 4\n"
        files["valid.data"] = "1 2 3\n"
        write(tmp_path, "prostate", files)
        with pytest.raises(ValueError, match="different numbers of features"):
            load_spls("prostate", tmp_path)
        files["valid.data"] = "1 2\n"
        files["valid.labels"] = "1\n0\n"
        write(tmp_path, "prostate", files)
        with pytest.raises(ValueError, match="1 samples but 2 labels"):
            load_spls("prostate", tmp_path)

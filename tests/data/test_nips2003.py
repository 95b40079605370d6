"""Tests of the NIPS 2003 readers on files written here in the format."""

import gzip

import numpy as np
import pytest

from ttrnn.data.nips2003 import load_nips2003
from ttrnn.data.nips2003 import read_nips2003_params
from ttrnn.data.nips2003 import read_nips2003_subset

PARAM = """Data type: {kind}
Number of features: {count}
Number of examples and check-sums:
     \tPos_ex\tNeg_ex\tTot_ex\tCheck_sum
Train\t    1\t    1\t    2\t0.00
"""


def write(path, text, compress=True):
    if compress:
        with gzip.open(f"{path}.gz", "wt") as file:
            file.write(text)
    else:
        path.write_text(text)


def make_set(folder, name, kind, count, rows, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    if kind is not None:
        write(folder / f"{name}.param", PARAM.format(kind=kind, count=count))
    for subset, (data, labels) in rows.items():
        write(folder / f"{name}_{subset}.data", data, compress)
        if labels is not None:
            write(folder / f"{name}_{subset}.labels", labels, compress)


class TestNips2003:
    @pytest.mark.parametrize("compress", [True, False])
    def test_dense(self, tmp_path, compress):
        make_set(
            tmp_path / "arcene",
            "arcene",
            "non-sparse",
            3,
            {
                "train": ("0 71 5 \n3 0 2 \n", "1\n-1\n"),
                "valid": ("1 1 1 \n", "-1\n"),
            },
            compress,
        )
        (x, y), (xv, yv) = load_nips2003("arcene", tmp_path)
        np.testing.assert_array_equal(x, [[0, 71, 5], [3, 0, 2]])
        assert x.dtype == np.float32 and y.dtype == np.int32
        np.testing.assert_array_equal(y, [1, 0])
        np.testing.assert_array_equal(xv, [[1, 1, 1]])
        np.testing.assert_array_equal(yv, [0])

    def test_sparse_integer_one_based(self, tmp_path):
        rows = {"train": ("1:5 4:2 \n3:7\n", "-1\n1\n")}
        make_set(tmp_path, "dexter", "sparse-integer", 4, rows)
        x, y = read_nips2003_subset("dexter", "train", tmp_path)
        np.testing.assert_array_equal(x, [[5, 0, 0, 2], [0, 0, 7, 0]])
        np.testing.assert_array_equal(y, [0, 1])

    def test_sparse_binary_and_empty_row(self, tmp_path):
        rows = {"test": ("2 5 \n1\n \n", None)}
        make_set(tmp_path / "dorothea", "dorothea", "sparse-binary", 5, rows)
        x, y = read_nips2003_subset(
            "dorothea", "test", tmp_path, with_labels=False
        )
        assert y is None
        np.testing.assert_array_equal(x, [[0, 1, 0, 0, 1], [1, 0, 0, 0, 0]])

    def test_known_params_without_file(self, tmp_path):
        (tmp_path / "madelon").mkdir()
        assert read_nips2003_params("madelon", tmp_path) == ("non-sparse", 500)
        with pytest.raises(FileNotFoundError, match="other.param"):
            read_nips2003_params("other", tmp_path)

    def test_errors(self, tmp_path):
        rows = {"train": ("1 2\n", "1\n")}
        make_set(tmp_path, "arcene", "non-sparse", 3, rows)
        with pytest.raises(ValueError, match="expected 3 values"):
            read_nips2003_subset("arcene", "train", tmp_path)
        rows = {"train": ("9:1\n", "1\n")}
        make_set(tmp_path, "dexter", "sparse-integer", 4, rows)
        with pytest.raises(ValueError, match=r"in \[1, 4\]"):
            read_nips2003_subset("dexter", "train", tmp_path)
        rows = {"train": ("1:1\n", "1\n-1\n")}
        make_set(tmp_path, "dexter", "sparse-integer", 4, rows)
        with pytest.raises(ValueError, match="1 examples but 2 labels"):
            read_nips2003_subset("dexter", "train", tmp_path)
        rows = {"train": ("1:1\n", "2\n")}
        make_set(tmp_path, "dexter", "sparse-integer", 4, rows)
        with pytest.raises(ValueError, match=r"\+1 or -1"):
            read_nips2003_subset("dexter", "train", tmp_path)
        with pytest.raises(ValueError, match="subset"):
            read_nips2003_subset("dexter", "dev", tmp_path)
        rows = {"train": ("1:1\n", "1\n")}
        make_set(tmp_path, "dexter", "sparse-integer", 4, rows)
        with pytest.raises(FileNotFoundError, match="dexter_valid.data"):
            load_nips2003("dexter", tmp_path)
        with pytest.raises(FileNotFoundError, match="directory not found"):
            load_nips2003("dexter", tmp_path / "absent")

"""Reads NIPS 2003 and spls files: generated ones in the real formats, and
the real files when $TTRNN_REAL_DATA names a folder holding them.

The expectations come from the challenge's own `.param` files (example
counts, positives and check-sums, the sum of all feature values) and from
counting lines and fields of the spls files.
"""

import gzip
import os
import re

import numpy as np
import pytest

from tests.formats import write_nips2003_like
from tests.formats import write_spls_like
from ttrnn.data.nips2003 import load_nips2003
from ttrnn.data.nips2003 import read_nips2003_subset
from ttrnn.data.spls import load_spls

# Subsets small enough for a fast test (dorothea train is 800 x 100,000).
NIPS_SUBSETS = [
    ("arcene", "train"),
    ("arcene", "valid"),
    ("dexter", "train"),
    ("dexter", "valid"),
    ("dorothea", "valid"),
    ("gisette", "valid"),
]


def param_table(folder, name):
    """{subset: (positives, negatives, total, checksum)} of a .param file."""
    with gzip.open(folder / f"{name}.param.gz", "rt") as file:
        text = file.read()
    features = int(re.search(r"Number of features:\s*(\d+)", text)[1])
    rows = {}
    for subset, *numbers in re.findall(
        r"^(Train|Valid|Test)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)",
        text,
        re.MULTILINE,
    ):
        rows[subset.lower()] = tuple(float(n) for n in numbers)
    return features, rows


def check_subset_against_param(nips_dir, name, subset):
    """Shape, check-sum and class counts of one subset, as .param says."""
    features, table = param_table(nips_dir / name, name)
    positives, negatives, total, checksum = table[subset]
    x, y = read_nips2003_subset(name, subset, nips_dir)
    assert x.shape == (total, features) and x.dtype == np.float32
    assert x.sum(dtype=np.float64) == checksum
    assert y.sum() == positives and (y == 0).sum() == negatives


@pytest.mark.parametrize("name, subset", NIPS_SUBSETS)
def test_nips2003_matches_param_file(shared_data_dir, name, subset):
    check_subset_against_param(shared_data_dir / "nips2003", name, subset)


def test_madelon_without_param_file(shared_data_dir):
    (x, y), (xv, yv) = load_nips2003("madelon", shared_data_dir / "nips2003")
    assert x.shape == (2000, 500) and xv.shape == (600, 500)
    assert y.sum() == 1000 and yv.sum() == 300


def test_gisette_has_no_training_data_here(shared_data_dir):
    folder = shared_data_dir / "nips2003" / "gisette"
    if os.path.exists(folder / "gisette_train.data.gz"):
        pytest.skip("gisette training data present")
    with pytest.raises(FileNotFoundError, match="gisette_train.data"):
        load_nips2003("gisette", shared_data_dir / "nips2003")


@pytest.mark.parametrize(
    "name, train, valid, features, outputs",
    [
        ("prostate", 80, 22, 6033, None),
        ("lymphoma", 50, 12, 4026, None),
        ("mice", 50, 10, 145, 83),
        ("yeast", 400, 142, 106, 18),
    ],
)
def test_spls_shapes(shared_data_dir, name, train, valid, features, outputs):
    (x, y), (xv, yv) = load_spls(name, shared_data_dir / "spls")
    assert x.shape == (train, features) and xv.shape == (valid, features)
    assert np.isfinite(x).all() and np.isfinite(xv).all()
    if outputs is None:
        assert y.shape == (train,) and y.dtype == np.int32
    else:
        assert y.shape == (train, outputs) and yv.shape == (valid, outputs)


def test_spls_class_counts(shared_data_dir):
    counts = {}
    for name in ("prostate", "lymphoma"):
        (_, y), (_, yv) = load_spls(name, shared_data_dir / "spls")
        counts[name] = np.bincount(np.concatenate([y, yv])).tolist()
    assert counts == {"prostate": [50, 52], "lymphoma": [42, 9, 11]}


# The same checks on small files generated here in the real formats
# (`tests.formats`), so that they run in every clone.

NIPS_LIKE = {
    "arcene": ("non-sparse", 12),
    "dexter": ("sparse-integer", 20),
    "dorothea": ("sparse-binary", 30),
}


class TestGeneratedInTheRealFormats:
    @pytest.mark.parametrize("name", sorted(NIPS_LIKE))
    @pytest.mark.parametrize("subset", ["train", "valid"])
    def test_nips2003_matches_param_file(self, tmp_path, name, subset):
        kind, features = NIPS_LIKE[name]
        sizes = {"train": 6, "valid": 4, "test": 3}
        written = write_nips2003_like(tmp_path, name, kind, features, sizes)
        check_subset_against_param(tmp_path, name, subset)
        x, y = read_nips2003_subset(name, subset, tmp_path)
        np.testing.assert_array_equal(x, written[subset][0])
        np.testing.assert_array_equal(y, written[subset][1])
        x, y = read_nips2003_subset(name, "test", tmp_path, with_labels=False)
        np.testing.assert_array_equal(x, written["test"][0])

    def test_madelon_without_param_file(self, tmp_path):
        sizes = {"train": 4, "valid": 2}
        written = write_nips2003_like(
            tmp_path, "madelon", "non-sparse", 500, sizes
        )
        (x, y), (xv, yv) = load_nips2003("madelon", tmp_path)
        assert x.shape == (4, 500) and xv.shape == (2, 500)
        np.testing.assert_array_equal(xv, written["valid"][0])
        assert y.sum() == 2 and yv.sum() == 1

    def test_gisette_without_training_data(self, tmp_path):
        write_nips2003_like(tmp_path, "gisette", "non-sparse", 8, {"valid": 2})
        os.remove(tmp_path / "gisette" / "gisette_valid.labels.gz")
        with pytest.raises(FileNotFoundError, match="gisette_train.data"):
            load_nips2003("gisette", tmp_path)

    @pytest.mark.parametrize(
        "name, features, outputs",
        [("prostate", 9, None), ("lymphoma", 7, None), ("mice", 5, 4)],
    )
    def test_spls(self, tmp_path, name, features, outputs):
        sizes = {"train": 8, "valid": 3}
        written = write_spls_like(tmp_path, name, sizes, features, outputs)
        (x, y), (xv, yv) = load_spls(name, tmp_path)
        assert x.shape == (8, features) and xv.shape == (3, features)
        assert x.dtype == np.float32
        np.testing.assert_allclose(x, written["train"][0], rtol=1e-6)
        np.testing.assert_allclose(yv, written["valid"][1], rtol=1e-6)
        if outputs is None:
            assert y.shape == (8,) and y.dtype == np.int32
        else:
            assert y.shape == (8, outputs) and y.dtype == np.float32

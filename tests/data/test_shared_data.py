"""Reads the real NIPS 2003 and spls files of the shared data folder.

The expectations come from the challenge's own `.param` files (example
counts, positives and check-sums, the sum of all feature values) and from
counting lines and fields of the spls files.
"""

import gzip
import os
import re

import numpy as np
import pytest

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


@pytest.mark.parametrize("name, subset", NIPS_SUBSETS)
def test_nips2003_matches_param_file(shared_data_dir, name, subset):
    folder = shared_data_dir / "nips2003" / name
    features, table = param_table(folder, name)
    positives, negatives, total, checksum = table[subset]
    x, y = read_nips2003_subset(name, subset, shared_data_dir / "nips2003")
    assert x.shape == (total, features) and x.dtype == np.float32
    assert x.sum(dtype=np.float64) == checksum
    assert y.sum() == positives and (y == 0).sum() == negatives


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

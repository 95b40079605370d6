"""The NIPS 2003 feature-selection challenge data sets, in their own format.

Each data set `<name>` (arcene, dexter, dorothea, gisette, madelon) has
`<name>_{train,valid,test}.data[.gz]` with one example a line: dense rows of
numbers (arcene, gisette, madelon), sparse `index:value` pairs (dexter) or
sparse lists of the indices of the ones (dorothea), indices starting at 1;
`<name>_{train,valid}.labels[.gz]` with one +1/-1 a line; and
`<name>.param[.gz]` with the type and number of features.
"""

import re

import numpy as np

from ttrnn.data._textio import dataset_folder
from ttrnn.data._textio import find_file
from ttrnn.data._textio import read_text

NIPS2003_DATASETS = ("arcene", "dexter", "dorothea", "gisette", "madelon")
# Data type and number of features of each data set (madelon ships no
# .param file).
_KNOWN = {
    "arcene": ("non-sparse", 10000),
    "dexter": ("sparse-integer", 20000),
    "dorothea": ("sparse-binary", 100000),
    "gisette": ("non-sparse", 5000),
    "madelon": ("non-sparse", 500),
}
_TYPES = ("non-sparse", "sparse-integer", "sparse-binary")


def load_nips2003(name, data_dir):
    """Loads the train and validation sets of a NIPS 2003 data set.

    Args:
        name: one of `NIPS2003_DATASETS`.
        data_dir: the `nips2003` directory holding `<name>/` (or the
            `<name>/` directory itself).

    Returns:
        `(x_train, y_train), (x_valid, y_valid)`: dense float32 features
        `(n, features)` and int32 labels in {0, 1} (+1 -> 1, -1 -> 0).

    Raises:
        FileNotFoundError: if a file is missing (e.g. gisette here ships no
            training data).
    """
    return tuple(
        read_nips2003_subset(name, subset, data_dir)
        for subset in ("train", "valid")
    )


def read_nips2003_subset(name, subset, data_dir, with_labels=True):
    """Reads one subset of a NIPS 2003 data set.

    Args:
        name: one of `NIPS2003_DATASETS` (or another data set in the same
            format with a `.param` file).
        subset: `"train"`, `"valid"` or `"test"`.
        data_dir: the `nips2003` directory holding `<name>/` (or the
            `<name>/` directory itself).
        with_labels: also read the labels. Defaults to `True` (the test
            subsets have none).

    Returns:
        `(x, y)`: dense float32 features `(n, features)` and int32 labels
        in {0, 1} (`y` is `None` if `with_labels=False`).
    """
    if subset not in ("train", "valid", "test"):
        raise ValueError(
            "Argument `subset` must be 'train', 'valid' or 'test'. "
            f"Received: subset={subset!r}"
        )
    folder = dataset_folder(name, data_dir, "NIPS 2003")
    kind, num_features = read_nips2003_params(name, data_dir)
    x = _read_features(
        find_file(folder, f"{name}_{subset}.data"), kind, num_features
    )
    if not with_labels:
        return x, None
    y = read_pm1_labels(find_file(folder, f"{name}_{subset}.labels"))
    if len(y) != len(x):
        raise ValueError(
            f"{name} {subset}: {len(x)} examples but {len(y)} labels."
        )
    return x, y


def read_nips2003_params(name, data_dir):
    """Returns the data type and number of features of a data set.

    Args:
        name: the data set name.
        data_dir: as in `read_nips2003_subset`.

    Returns:
        `(kind, num_features)`, kind one of `"non-sparse"`,
        `"sparse-integer"`, `"sparse-binary"`; read from `<name>.param`
        when present, else from the known values of the challenge.
    """
    folder = dataset_folder(name, data_dir, "NIPS 2003")
    try:
        path = find_file(folder, f"{name}.param")
    except FileNotFoundError:
        if name in _KNOWN:
            return _KNOWN[name]
        raise
    text = read_text(path)
    kind = re.search(r"Data type:\s*(\S+)", text)
    count = re.search(r"Number of features:\s*(\d+)", text)
    if not kind or not count or kind[1] not in _TYPES:
        raise ValueError(
            f"{path!r}: expected 'Data type: <one of {_TYPES}>' and "
            "'Number of features: <n>' lines."
        )
    return kind[1], int(count[1])


def read_pm1_labels(path):
    """Reads a file of +1/-1 labels, one a line, as int32 {1, 0}.

    Args:
        path: path of the file (plain or .gz).

    Returns:
        An int32 array of 0s and 1s.
    """
    values = np.array(read_text(path).split(), dtype=np.float64)
    if not np.isin(values, (-1, 1)).all():
        raise ValueError(f"{path!r}: labels must be +1 or -1.")
    return (values > 0).astype(np.int32)


def _read_features(path, kind, num_features):
    lines = [line for line in read_text(path).splitlines() if line.strip()]
    x = np.zeros((len(lines), num_features), dtype=np.float32)
    for row, line in enumerate(lines):
        fields = line.split()
        if kind == "non-sparse":
            if len(fields) != num_features:
                raise ValueError(
                    f"{path}:{row + 1}: expected {num_features} values. "
                    f"Received: {len(fields)}"
                )
            x[row] = np.array(fields, dtype=np.float32)
            continue
        if kind == "sparse-binary":
            index, value = np.array(fields, dtype=np.int64), 1.0
        else:
            pairs = np.array(
                [f.split(":") for f in fields], dtype=np.float64
            ).reshape(-1, 2)
            index, value = pairs[:, 0].astype(np.int64), pairs[:, 1]
        if index.size and (index.min() < 1 or index.max() > num_features):
            raise ValueError(
                f"{path}:{row + 1}: feature indices must be in "
                f"[1, {num_features}]."
            )
        x[row, index - 1] = value
    return x

"""The spls gene-expression data sets (prostate, lymphoma, mice, yeast).

Each data set `<name>` has `<name>_{train,valid}.data[.gz]` (one sample a
line, whitespace-separated numbers) and `<name>_{train,valid}.labels[.gz]`:
one class index a line for prostate and lymphoma (classification), a row of
responses for mice (83) and yeast (18) (multi-output regression).
"""

import numpy as np

from ttrnn.data._textio import dataset_folder
from ttrnn.data._textio import find_file
from ttrnn.data._textio import read_text

SPLS_TASKS = {
    "prostate": "classification",
    "lymphoma": "classification",
    "mice": "regression",
    "yeast": "regression",
}


def load_spls(name, data_dir):
    """Loads the train and validation sets of an spls data set.

    Args:
        name: one of `SPLS_TASKS` (another name is loaded as regression
            unless its labels are one integer a line).
        data_dir: the `spls` directory holding `<name>/` (or the `<name>/`
            directory itself).

    Returns:
        `(x_train, y_train), (x_valid, y_valid)`: float32 features
        `(n, features)`; int32 class indices `(n,)` for classification, or
        float32 responses `(n, outputs)` for regression.
    """
    folder = dataset_folder(name, data_dir, "spls")
    result = []
    for subset in ("train", "valid"):
        x = _read_matrix(find_file(folder, f"{name}_{subset}.data"))
        y = _read_matrix(find_file(folder, f"{name}_{subset}.labels"))
        if len(y) != len(x):
            raise ValueError(
                f"{name} {subset}: {len(x)} samples but {len(y)} labels."
            )
        result.append((x, y))
    if result[0][0].shape[1] != result[1][0].shape[1]:
        raise ValueError(
            f"{name}: train and valid have different numbers of features "
            f"({result[0][0].shape[1]} and {result[1][0].shape[1]})."
        )
    task = SPLS_TASKS.get(name)
    if task is None:
        labels = np.concatenate([y for _, y in result])
        integral = labels.shape[1] == 1 and np.all(labels == np.round(labels))
        task = "classification" if integral else "regression"
    if task == "classification":
        return tuple((x, y[:, 0].astype(np.int32)) for x, y in result)
    return tuple(result)


def _read_matrix(path):
    rows = [line.split() for line in read_text(path).splitlines()]
    rows = [row for row in rows if row]
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise ValueError(
            f"{path!r}: every line must hold the same number of values. "
            f"Received: widths {sorted(widths)}"
        )
    return np.array(rows, dtype=np.float32)

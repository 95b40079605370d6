"""The data of each experiment, prepared as the 2017 protocols prescribe.

Feed-forward sets come back as arrays (padded to the TT input size and
scaled); video sets as a `VideoDataset` with its train/test splits, ready
for `FrameCache` and `VideoSequence`. Where the data come from: `--data-dir`
(`data_dir`), else `$TTRNN_DATA_DIR` (NIPS 2003, spls, reuters), else the
data set is fetched into the cache on first use (`ttrnn.data.fetch`:
`$TTRNN_DATA_MIRROR`, `$TTRNN_OFFLINE`). A missing or malformed directory
raises `DataDirError` saying which layout is expected.
"""

import os
import warnings

import numpy as np

from ttrnn import data
from ttrnn.experiments.experiment import SEED_2017
from ttrnn.experiments.registry import ExperimentError
from ttrnn.experiments.sequences import make_digit_sequences
from ttrnn.experiments.sequences import make_fiboclass
from ttrnn.experiments.sequences import split_fiboclass
from ttrnn.experiments.splits import stratified_split

DATA_DIR_ENV = "TTRNN_DATA_DIR"
# mnist-seq: training and test sequences (the 2018 script's counts).
MNIST_SEQUENCES = (10_000, 1_000)
# The images mnist and mnist-seq read (`--dataset`); the first is the
# default, as in 2017.
IMAGE_DATASETS = ("mnist", "fashion-mnist")

_VIDEO_LOADERS = {
    "ucf11": data.load_ucf11,
    "hollywood2": data.load_hollywood2,
    "hmdb51": data.load_hmdb51,
    "youtube-celebrities": data.load_youtube_celebrities,
}
_WHERE = {
    "nips2003": "the NIPS 2003 feature-selection challenge files "
    "(<dir>/nips2003/<name>/<name>_{train,valid}.data[.gz], .labels, "
    ".param), from https://archive.ics.uci.edu (Arcene, Dexter, Dorothea, "
    "Gisette, Madelon)",
    "spls": "the spls gene-expression files (<dir>/spls/<name>/"
    "<name>_{train,valid}.{data,labels}[.gz]): the prostate, lymphoma, "
    "mice and yeast sets of the R package spls (CRAN), one example a line",
    "reuters": "Keras' reuters.npz (x: the newswires as lists of word "
    'indices, y: their topics), which `python -c "import keras; '
    'keras.datasets.reuters.load_data()"` downloads on a machine with '
    "internet to ~/.keras/datasets/reuters.npz: copy it there (or to "
    "--data-dir)",
    "cifar10": "CIFAR-10's python batches (<dir>/cifar-10-batches-py/"
    "data_batch_1..5, test_batch), from "
    "https://www.cs.toronto.edu/~kriz/cifar.html",
}


class DataDirError(FileNotFoundError):
    """No usable data directory for an experiment."""


def default_data_dir(experiment):
    """The data directory used when `--data-dir` is not given:
    `$TTRNN_DATA_DIR` if set, else `None` (the data set is fetched)."""
    return os.environ.get(DATA_DIR_ENV) or None


def dataset_name(experiment, dataset=None):
    """The data set an experiment reads, for `--dataset`.

    Args:
        experiment: the `Experiment`.
        dataset: for mnist and mnist-seq, one of `IMAGE_DATASETS` (`None`:
            "mnist"); for the others `None`.

    Returns:
        The data set name for mnist and mnist-seq, else `None`.

    Raises:
        ExperimentError: if `dataset` is not one the experiment reads.
    """
    if experiment.name not in ("mnist", "mnist-seq"):
        if dataset is not None:
            raise ExperimentError(
                "Argument `dataset` is for mnist and mnist-seq only. "
                f"Received: dataset={dataset!r} for {experiment.name!r}"
            )
        return None
    if dataset is None:
        return IMAGE_DATASETS[0]
    if dataset not in IMAGE_DATASETS:
        raise ExperimentError(
            f"Argument `dataset` must be one of {IMAGE_DATASETS}. "
            f"Received: dataset={dataset!r}"
        )
    return dataset


def load_arrays(experiment, data_dir=None, seed=0, dataset=None):
    """Train and test arrays of a feed-forward or sequence experiment.

    Args:
        experiment: the `Experiment`.
        data_dir: the data directory, or `None` for the default.
        seed: seed of generated data and of held-out splits.
        dataset: mnist and mnist-seq: "mnist" (`None`) or "fashion-mnist".

    Returns:
        A dict with `x_train`, `y_train`, `x_test`, `y_test` (features
        padded to `experiment.input_dim`, float32), `outputs` (units of the
        head), `class_names` (or `None`) and `source` (where from).
    """
    name = experiment.name
    if name == "mnist-seq":
        return _mnist_sequences(data_dir, seed, dataset)
    if name == "fibonacci":
        return _fiboclass(seed)
    if name == "mnist":
        return _mnist(experiment, data_dir, dataset)
    if name == "cifar10":
        return _cifar10(experiment, data_dir)
    if name == "reuters":
        return _reuters(experiment, data_dir, seed)
    data_dir = data_dir or default_data_dir(experiment)
    if data_dir is None:
        folder = data.fetch(name)
    else:
        folder = _collection_dir(experiment, data_dir)
    try:
        if experiment.data_subdir == "nips2003":
            result = _nips2003(experiment, folder, seed)
        else:
            result = _spls(experiment, folder)
    except FileNotFoundError as error:
        raise DataDirError(
            f"{error} Expected {_WHERE[experiment.data_subdir]}."
        ) from error
    result["source"] = os.fspath(folder)
    return result


def load_video(experiment, data_dir):
    """The `VideoDataset` of a video experiment's directory.

    `data_dir=None` fetches the dataset into the cache on first use.

    Raises:
        DataDirError: if `data_dir` is not in the dataset's layout (the
            message says what is expected and where to get it).
        ttrnn.data.DataFetchError: if it cannot be fetched (YouTube
            Celebrities never can: the message says how to request it).
    """
    loader = _VIDEO_LOADERS[experiment.name]
    if data_dir is None:
        data_dir = data.fetch(experiment.name)
    try:
        return loader(data_dir)
    except data.DatasetNotFoundError as error:
        raise DataDirError(str(error)) from error


def _collection_dir(experiment, data_dir):
    where = _WHERE[experiment.data_subdir]
    if data_dir is None:
        raise DataDirError(
            f"No data directory for {experiment.name!r}: pass --data-dir "
            f"or set ${DATA_DIR_ENV}. Expected {where}."
        )
    if not os.path.isdir(data_dir):
        raise DataDirError(
            f"Data directory not found: {data_dir!r}. Expected {where}."
        )
    nested = os.path.join(data_dir, experiment.data_subdir)
    return nested if os.path.isdir(nested) else data_dir


def nips2003_sets(name, folder, seed):
    """The train and test sets of a NIPS 2003 experiment: train on the
    train subset, test on the valid one (2017). Without the train
    subset's features (gisette's large file may be absent) the valid
    subset is split 2/3 train, 1/3 test, stratified by `seed`.

    Returns:
        `((x_train, y_train), (x_test, y_test), split)`, `split` being
        `"official"` or `"holdout"`.
    """
    try:
        train = data.read_nips2003_subset(name, "train", folder)
    except FileNotFoundError:
        warnings.warn(
            f"No {name}_train.data in {os.fspath(folder)!r}: training on "
            "2/3 of the validation set and testing on the other 1/3 "
            f"(stratified, seeded). `ttrnn data get {name}` fetches the "
            "training data.",
            stacklevel=3,
        )
        x, y = data.read_nips2003_subset(name, "valid", folder)
        train, test = stratified_split(y, 1 / 3, seed)
        return (x[train], y[train]), (x[test], y[test]), "holdout"
    test = data.read_nips2003_subset(name, "valid", folder)
    return train, test, "official"


def _nips2003(experiment, folder, seed):
    train, test, split = nips2003_sets(experiment.name, folder, seed)
    x_train, x_test = _scaled(experiment, train[0], test[0])
    x_train, x_test = _pad(experiment, x_train, x_test)
    result = _result(x_train, train[1], x_test, test[1], 1, None)
    result["split"] = split
    return result


def _scaled(experiment, x_train, x_test):
    """The experiment's `scaling` of the train and test features."""
    if experiment.scaling == "minmax":
        return data.minmax_scale(x_train, x_test)
    if experiment.scaling == "minmax-each":  # the 2017 NIPS 2003 / spls
        return data.minmax_scale(x_train)[0], data.minmax_scale(x_test)[0]
    if experiment.scaling == "unit":
        return x_train / np.float32(255), x_test / np.float32(255)
    return x_train, x_test


def _column_shuffled(experiment, *arrays):
    """The 2017 spls script's permutation of the padded columns
    (`np.random.seed(11111986)`, its first draw), if the experiment
    shuffles them."""
    if not experiment.column_shuffle:
        return arrays
    size = experiment.input_dim
    columns = np.random.RandomState(SEED_2017).choice(size, size, False)
    return tuple(x[:, columns] for x in arrays)


def _spls(experiment, folder):
    (x_train, y_train), (x_test, y_test) = data.load_spls(
        experiment.name, folder
    )
    # 2017 order: pad, shuffle the columns, scale.
    x_train, x_test = _pad(experiment, x_train, x_test)
    x_train, x_test = _column_shuffled(experiment, x_train, x_test)
    x_train, x_test = _scaled(experiment, x_train, x_test)
    if experiment.task == "regression":
        outputs = y_train.shape[1]
    elif experiment.task == "binary":
        outputs = 1
    else:
        outputs = int(max(y_train.max(), y_test.max())) + 1
    return _result(x_train, y_train, x_test, y_test, outputs, None)


def _mnist(experiment, data_dir, dataset):
    (x_train, y_train), (x_test, y_test), names, source = _idx_images(
        data_dir, dataset
    )
    x_train, x_test = (
        data.pad_images(x, 32).reshape(len(x), -1).astype("float32")
        for x in (x_train, x_test)
    )
    x_train, x_test = _scaled(experiment, x_train, x_test)
    outputs = int(max(y_train.max(), y_test.max())) + 1
    result = _result(x_train, y_train, x_test, y_test, outputs, names)
    result["source"] = source
    return result


def _idx_images(data_dir, dataset):
    """MNIST-format images: `data_dir`'s (mnist.npz or the four IDX
    files), else the data set fetched (Fashion-MNIST: the Debian
    package's folder first, where installed)."""
    dataset = dataset or IMAGE_DATASETS[0]
    names = data.FASHION_MNIST_CLASSES if dataset == "fashion-mnist" else None
    folder, source = data_dir, os.fspath(data_dir or dataset)
    if data_dir is None:
        debian = data.idx.FASHION_MNIST_DIR  # looked up when called
        local = dataset == "fashion-mnist" and os.path.isdir(debian)
        folder = debian if local else data.fetch(dataset)
    npz = os.path.join(folder, data.MNIST_FILE)
    try:
        if os.path.isfile(npz) or os.fspath(folder).endswith(".npz"):
            train, test = data.read_mnist_npz(
                npz if os.path.isfile(npz) else folder
            )
        else:
            train, test = data.load_idx_dataset(folder)
    except FileNotFoundError as error:
        raise DataDirError(str(error)) from error
    return train, test, names, source


def _mnist_sequences(data_dir, seed, dataset):
    (x_train, y_train), (x_test, y_test), names, source = _idx_images(
        data_dir, dataset
    )
    # The 2018 script: 10,000 training sequences from the training
    # images, 1,000 test sequences from the test images, seeded.
    train_size, test_size = MNIST_SEQUENCES
    train = make_digit_sequences(x_train, y_train, train_size, seed=seed)
    test = make_digit_sequences(x_test, y_test, test_size, seed=seed + 1)
    result = _result(train[0], train[1], test[0], test[1], 1, None)
    result.update(
        source=source,
        step_labels_test=test[2],
        positive_class=names[0] if names else "0",
    )
    return result


def _fiboclass(seed):
    """FiboClass (2017): the sequences of the script's seed, split by the
    run's `seed` (the script's split depended on its Keras version)."""
    x, y = make_fiboclass()
    train, test = split_fiboclass(len(x), seed=seed)
    outputs = int(y.max()) + 1
    return _result(x[train], y[train], x[test], y[test], outputs, None)


def _cifar10(experiment, data_dir):
    if data_dir is None:
        data_dir = data.fetch("cifar10")
    try:
        (x_train, y_train), (x_test, y_test) = data.load_cifar10(data_dir)
    except FileNotFoundError as error:
        raise DataDirError(f"{error} Expected {_WHERE['cifar10']}.") from error
    x_train, x_test = _scaled(
        experiment,
        *(x.reshape(len(x), -1).astype("float32") for x in (x_train, x_test)),
    )
    return _result(x_train, y_train, x_test, y_test, 10, data.CIFAR10_CLASSES)


def reuters_path(data_dir=None):
    """Where the Reuters experiment reads `reuters.npz`: `data_dir` (the
    file, or a folder holding it) if given; else the one in
    `$TTRNN_DATA_DIR`; else Keras' download cache
    (`$KERAS_HOME/datasets/`, by default `~/.keras/datasets/`); else
    the file fetched into ttrnn's cache (`ttrnn.data.fetch`).

    Raises:
        DataDirError: if `data_dir` holds no such file (the message says
            where the file comes from).
    """
    name = data.reuters.REUTERS_FILE
    if data_dir is not None:
        candidates = [os.fspath(data_dir)]
        if os.path.isdir(data_dir):
            candidates = [os.path.join(data_dir, name)]
    else:
        keras_home = os.environ.get("KERAS_HOME") or os.path.join(
            os.path.expanduser("~"), ".keras"
        )
        candidates = [os.path.join(keras_home, "datasets", name)]
        if default_data_dir(None):
            candidates.insert(0, os.path.join(default_data_dir(None), name))
    for path in candidates:
        if os.path.isfile(path):
            return path
    if data_dir is None:
        return os.path.join(data.fetch("reuters"), name)
    raise DataDirError(
        f"No {name} for 'reuters' (looked for {candidates}). Expected "
        f"{_WHERE['reuters']}."
    )


def _reuters(experiment, data_dir, seed):
    """The 2017 script: Keras' split of the 1,000 most frequent words,
    binary bag of words, the columns shuffled (by `seed`)."""
    path = reuters_path(data_dir)
    try:
        (x_train, y_train), (x_test, y_test) = data.load_reuters(
            path, num_words=experiment.input_dim
        )
    except ValueError as error:
        raise DataDirError(f"{error} Expected {_WHERE['reuters']}.") from error
    x_train, x_test = (
        data.bag_of_words(x, experiment.input_dim) for x in (x_train, x_test)
    )
    if experiment.column_shuffle:
        size = experiment.input_dim
        columns = np.random.default_rng(seed).permutation(size)
        x_train, x_test = x_train[:, columns], x_test[:, columns]
    outputs = max(
        data.REUTERS_TOPICS, int(max(y_train.max(), y_test.max())) + 1
    )
    result = _result(x_train, y_train, x_test, y_test, outputs, None)
    result["source"] = path
    return result


def _pad(experiment, *arrays):
    return tuple(data.pad_features(x, experiment.input_dim) for x in arrays)


def _result(x_train, y_train, x_test, y_test, outputs, class_names):
    return {
        "x_train": np.asarray(x_train, dtype=np.float32),
        "y_train": np.asarray(y_train),
        "x_test": np.asarray(x_test, dtype=np.float32),
        "y_test": np.asarray(y_test),
        "outputs": int(outputs),
        "class_names": class_names,
        "source": "generated",
    }

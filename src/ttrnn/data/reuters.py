"""The Reuters newswires of `keras.datasets.reuters`, from its `reuters.npz`
(no download), as Keras' `load_data` and the 2017 script prepared them.

The file holds `x`, an object array of newswires, each a list of word
indices (1 the most frequent word, 2 the next, ...), and `y`, the topic
of each (0 to 45). `load_reuters` reproduces `load_data(num_words=...,
test_split=0.2)`: the same shuffle (`numpy.random.RandomState(113)`), a
start mark 1 before every newswire, word indices moved up by 3, every
index from `num_words` on replaced by the out-of-vocabulary mark 2. Then
`bag_of_words` is Keras 2's `Tokenizer.sequences_to_matrix(mode="binary")`:
column `w` is 1 when index `w` occurs (column 0 and column 3 are always
0, column 1, the start mark, always 1, column 2 marks rarer words, and
columns 4 to `num_words - 1` are the `num_words - 4` most frequent words).
"""

import os
import pickle
import zipfile

import numpy as np

from ttrnn.data._checks import check_int
from ttrnn.data.restricted_pickle import RestrictedUnpickler

REUTERS_TOPICS = 46
REUTERS_FILE = "reuters.npz"
# Keras' marks: 0 padding, 1 start, 2 out of vocabulary; words from 3 + 1.
START_CHAR, OOV_CHAR, INDEX_FROM = 1, 2, 3


def read_reuters_npz(path):
    """Reads `reuters.npz`: the newswires and their topics, unshuffled.

    Unpickling is restricted to numpy arrays (as Keras does), so a
    tampered file cannot run code.

    Args:
        path: path of the file.

    Returns:
        `(sequences, topics)`: a list of int64 arrays of word indices
        (from 1), and int64 topics `(n,)`.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: if it is not in the format of Keras' `reuters.npz`.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No Reuters file {path!r}.")
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            if not {"x.npy", "y.npy"} <= members:
                raise ValueError(
                    f"{path!r} is not Keras' reuters.npz: expected the "
                    f"arrays 'x' and 'y'. Received: {sorted(members)}"
                )
            x = _read_npy(archive, "x.npy")
            y = _read_npy(archive, "y.npy")
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError) as error:
        raise ValueError(
            f"{path!r} is not Keras' reuters.npz: {error}"
        ) from error
    sequences = [np.asarray(s, dtype=np.int64).reshape(-1) for s in x]
    topics = np.asarray(y).astype(np.int64).reshape(-1)
    if len(sequences) != len(topics):
        raise ValueError(
            f"{path!r}: expected one topic a newswire. Received: "
            f"{len(sequences)} newswires, {len(topics)} topics"
        )
    return sequences, topics


def load_reuters(path, num_words=1000, test_split=0.2, seed=113):
    """The train and test split of `keras.datasets.reuters.load_data`.

    Args:
        path: path of `reuters.npz`.
        num_words: indices kept (Keras' `num_words`): words of rank
            `num_words - 3` and rarer become the mark 2. Defaults to 1000.
        test_split: fraction of the newswires in the test split (the
            last ones after the shuffle). Defaults to 0.2.
        seed: seed of the shuffle (`RandomState`). Defaults to 113, Keras'.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: lists of int64 index
        arrays (each starting with the mark 1) and int64 topics.
    """
    num_words = check_int("num_words", num_words, low=INDEX_FROM + 1)
    if not 0 < test_split < 1:
        raise ValueError(
            "Argument `test_split` must be a fraction in (0, 1). "
            f"Received: test_split={test_split!r}"
        )
    sequences, topics = read_reuters_npz(path)
    order = np.arange(len(sequences))
    np.random.RandomState(seed).shuffle(order)
    xs = []
    for i in order:
        words = sequences[i] + INDEX_FROM
        words = np.where(words < num_words, words, OOV_CHAR)
        xs.append(np.concatenate([[START_CHAR], words]).astype(np.int64))
    split = int(len(xs) * (1 - test_split))
    topics = topics[order]
    return (xs[:split], topics[:split]), (xs[split:], topics[split:])


def bag_of_words(sequences, num_words=1000):
    """Binary bag of words: row i, column w is 1 if index w is in
    sequence i (indices from `num_words` on are ignored), as Keras 2's
    `Tokenizer.sequences_to_matrix(mode="binary")`.

    Args:
        sequences: lists or arrays of word indices.
        num_words: columns. Defaults to 1000.

    Returns:
        float32 `(len(sequences), num_words)`.
    """
    num_words = check_int("num_words", num_words)
    matrix = np.zeros((len(sequences), num_words), dtype=np.float32)
    for row, words in enumerate(sequences):
        words = np.asarray(words, dtype=np.int64)
        matrix[row, words[(words >= 0) & (words < num_words)]] = 1.0
    return matrix


def _read_npy(archive, name):
    """One array of the archive; object arrays through the restricted
    unpickler (NumPy would run any pickle with `allow_pickle=True`)."""
    with archive.open(name) as file:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(file)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(file)
        if dtype.hasobject:
            array = RestrictedUnpickler(file, "reuters.npz").load()
            return np.asarray(array, dtype=object)
    with archive.open(name) as file:
        return np.lib.format.read_array(file, allow_pickle=False)

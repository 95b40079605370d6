"""The generated sequence tasks: FiboClass (2017) and digit sequences.

FiboClass, the 2017 proof of concept (`Experiment_FiboClass.py`): is a
sequence of consecutive terms of the Fibonacci, the Lucas or the Padovan
sequence, or random bits? Each time step is one term written in binary,
512 bits, most significant first (right-aligned, leading zeros); a
sequence holds 3-30 consecutive terms from a random start among the
first 400, zero pre-padded to 30 steps. The terms are exact (Python
ints; the largest, Lucas' 400th, has 278 bits).
"""

import numpy as np

# The classes of FiboClass, in label order.
FIBOCLASS_CLASSES = ("fibonacci", "lucas", "padovan", "random")


def sequence_terms(name, count):
    """The first `count` terms of an integer sequence, as Python ints.

    Args:
        name: `"fibonacci"` (1, 1, 2, 3, 5, ...), `"lucas"` (2, 1, 3, 4,
            7, ...) or `"padovan"` (1, 1, 1, 2, 2, 3, 4, 5, ...:
            P(i) = P(i - 2) + P(i - 3)), as the 2017 script started them.
        count: number of terms.

    Returns:
        A list of `count` ints.

    Example:
    >>> sequence_terms("lucas", 6)
    [2, 1, 3, 4, 7, 11]
    """
    starts = {"fibonacci": [1, 1], "lucas": [2, 1], "padovan": [1, 1, 1]}
    if name not in starts:
        raise ValueError(
            f"Argument `name` must be one of {sorted(starts)}. "
            f"Received: name={name!r}"
        )
    terms = list(starts[name])
    while len(terms) < count:
        if name == "padovan":
            terms.append(terms[-2] + terms[-3])
        else:
            terms.append(terms[-1] + terms[-2])
    return terms[:count]


def bit_rows(terms, width=512):
    """Terms written in binary, one row each, most significant bit first,
    right-aligned (leading zeros).

    Args:
        terms: non-negative ints.
        width: bits a row. Defaults to 512.

    Returns:
        uint8 array `(len(terms), width)` of 0s and 1s.

    Example:
    >>> bit_rows([5, 2], width=4).tolist()
    [[0, 1, 0, 1], [0, 0, 1, 0]]
    """
    rows = np.zeros((len(terms), width), dtype=np.uint8)
    for i, term in enumerate(terms):
        bits = format(int(term), "b")
        if len(bits) > width:
            raise ValueError(
                f"Argument `width` must hold every term's {len(bits)} "
                f"bits. Received: width={width}"
            )
        rows[i, width - len(bits) :] = [int(b) for b in bits]
    return rows


def make_fiboclass(
    per_class=300, steps=30, min_length=3, rows=400, width=512, seed=11111986
):
    """The FiboClass data set of the 2017 script.

    The draws are those of the script (numpy's legacy `RandomState`, seed
    11111986): first the random class's table, `rows * width` bits; then,
    for each of the `per_class` samples and each class in turn, a length
    in `min_length..steps` and a start in `0..rows - length - 1`; the
    sample is rows `start .. start + length - 1` of the class's table.

    Args:
        per_class: sequences a class. Defaults to 300.
        steps: longest sequence and padded length. Defaults to 30.
        min_length: shortest sequence. Defaults to 3.
        rows: terms a table (the first `rows` of each sequence).
            Defaults to 400.
        width: bits a term. Defaults to 512.
        seed: seed of the legacy numpy generator. Defaults to 11111986
            (the script's).

    Returns:
        `(x, y)`: float32 `(4 * per_class, steps, width)` of 0s and 1s,
        the classes one after another (`FIBOCLASS_CLASSES` order), each
        sequence zero pre-padded; int32 labels `(4 * per_class,)`.

    Example:
    >>> x, y = make_fiboclass(per_class=2, steps=5, rows=20, width=16)
    >>> x.shape, y.tolist()
    ((8, 5, 16), [0, 0, 1, 1, 2, 2, 3, 3])
    """
    if not 1 <= min_length <= steps < rows:
        raise ValueError(
            "Arguments must satisfy 1 <= min_length <= steps < rows. "
            f"Received: min_length={min_length}, steps={steps}, rows={rows}"
        )
    rng = np.random.RandomState(seed)
    noise = rng.choice([0, 1], rows * width, True).reshape(rows, width)
    tables = [
        bit_rows(sequence_terms(n, rows), width) for n in FIBOCLASS_CLASSES[:3]
    ]
    tables.append(noise.astype(np.uint8))
    x = np.zeros((len(tables), per_class, steps, width), dtype=np.float32)
    for i in range(per_class):
        for label, table in enumerate(tables):
            length = int(rng.choice(range(min_length, steps + 1), 1)[0])
            start = int(rng.choice(range(0, rows - length), 1)[0])
            x[label, i, steps - length :] = table[start : start + length]
    y = np.repeat(np.arange(len(tables), dtype=np.int32), per_class)
    return x.reshape(-1, steps, width), y


def split_fiboclass(count, train_size=None, seed=0):
    """The train and test indices of FiboClass: a permutation of the
    `count` sequences, the first `train_size` (default `3 * count / 8`,
    the script's 450 of 1,200) train, the rest test.

    The script drew this permutation from numpy's global state after
    building its model, which Keras' initialisers had consumed: no seed
    reproduces it. Here `seed` seeds a legacy `RandomState`.

    Returns:
        `(train_indices, test_indices)`.
    """
    train_size = 3 * count // 8 if train_size is None else train_size
    order = np.random.RandomState(seed).choice(count, count, False)
    return order[:train_size], order[train_size:]


def make_digit_sequences(
    images,
    labels,
    num_sequences,
    steps=32,
    min_length=2,
    max_length=31,
    positive_class=0,
    seed=0,
):
    """Sequences of digit images, labelled by whether a class occurs.

    The MNIST-sequence task of the 2018 TT-LSTM explanation script: each
    sequence holds 2-31 images drawn at random (length uniform), as raw
    pixel rows (unscaled, as stored), zero pre-padded to `steps` steps;
    its label is 1 if one of its images is of `positive_class`. A model
    must find that image among the others, so its explanation (relevance
    a step) can be scored against where the class really is.

    Args:
        images: uint8 array (n, rows, cols) or (n, features).
        labels: int array (n,).
        num_sequences: number of sequences.
        steps: padded length. Defaults to 32.
        min_length: shortest sequence. Defaults to 2.
        max_length: longest sequence (at most `steps`). Defaults to 31.
        positive_class: the class a positive sequence holds. Defaults to 0.
        seed: seed of the draw. Defaults to 0.

    Returns:
        `(x, y, step_labels)`: float32 `(num_sequences, steps, features)`,
        int32 labels `(num_sequences,)`, and bool `(num_sequences, steps)`
        true where a step is an image of `positive_class` (false on
        padding).

    Example:
    >>> import numpy as np
    >>> images = np.arange(1, 5, dtype="uint8").repeat(4).reshape(4, 2, 2)
    >>> x, y, at = make_digit_sequences(images, [0, 1, 2, 3], 3, steps=5,
    ...                                 max_length=4, seed=1)
    >>> x.shape, bool((y == at.any(axis=1)).all())
    ((3, 5, 4), True)
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if not 1 <= min_length <= max_length <= steps:
        raise ValueError(
            "Arguments must satisfy 1 <= min_length <= max_length <= steps. "
            f"Received: min_length={min_length}, max_length={max_length}, "
            f"steps={steps}"
        )
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(
            "Arguments `images` and `labels` must be non-empty and of the "
            f"same length. Received: {len(images)} images, {len(labels)} "
            "labels"
        )
    rng = np.random.default_rng(seed)
    rows = images.reshape(len(images), -1)
    x = np.zeros((num_sequences, steps, rows.shape[1]), dtype=np.float32)
    at = np.zeros((num_sequences, steps), dtype=bool)
    lengths = rng.integers(min_length, max_length + 1, size=num_sequences)
    for n, length in enumerate(lengths):
        picks = rng.integers(0, len(rows), size=length)
        x[n, steps - length :] = rows[picks]
        at[n, steps - length :] = labels[picks] == positive_class
    return x, at.any(axis=1).astype(np.int32), at

"""Fibonacci-like sequences of bit patterns (the 2017 proof of concept).

A sequence holds `steps` binary patterns of `16 x 32 = 512` bits. Two
random seed patterns start it and every later pattern follows the
Fibonacci-like rule x_t = x_{t-1} XOR x_{t-2}. Half of the sequences are
corrupted: at one random step a random fraction of the bits is flipped,
and the rule goes on from the corrupted pattern, so exactly one step
breaks it. The label says whether the sequence obeys the rule (1) or not (0):
a model has to relate patterns two steps apart, which a single frame or
a bag of frames cannot tell.
"""

import numpy as np


def make_fibonacci_sequences(
    num_sequences=2000,
    steps=12,
    pattern_shape=(16, 32),
    density=0.2,
    flip_rate=0.15,
    seed=0,
):
    """Generates the Fibonacci-like bit-pattern classification set.

    Args:
        num_sequences: number of sequences (half obey the rule).
            Defaults to 2000.
        steps: patterns a sequence, at least 4. Defaults to 12.
        pattern_shape: shape of one pattern; it is flattened. Defaults to
            `(16, 32)` (the TT input modes of the 2017 experiment).
        density: probability of a one in the seed patterns.
            Defaults to 0.2.
        flip_rate: fraction of the bits flipped at the corrupted step.
            Defaults to 0.15.
        seed: seed of the generator. Defaults to 0.

    Returns:
        `(x, y)`: float32 `(num_sequences, steps, prod(pattern_shape))` of
        0s and 1s, and int32 labels `(num_sequences,)`.

    Example:
    >>> x, y = make_fibonacci_sequences(4, steps=5, seed=1)
    >>> x.shape, sorted(set(y.tolist()))
    ((4, 5, 512), [0, 1])
    """
    if steps < 4:
        raise ValueError(
            f"Argument `steps` must be at least 4. Received: steps={steps}"
        )
    if num_sequences < 2:
        raise ValueError(
            "Argument `num_sequences` must be at least 2. "
            f"Received: num_sequences={num_sequences}"
        )
    rng = np.random.default_rng(seed)
    size = int(np.prod(pattern_shape))
    x = np.zeros((num_sequences, steps, size), dtype=bool)
    x[:, :2] = rng.random((num_sequences, 2, size)) < density
    y = np.zeros(num_sequences, dtype=np.int32)
    y[: num_sequences // 2] = 1
    rng.shuffle(y)
    corrupt_at = rng.integers(2, steps, size=num_sequences)
    for t in range(2, steps):
        x[:, t] = x[:, t - 1] ^ x[:, t - 2]
        flip = (y == 0) & (corrupt_at == t)
        if flip.any():
            noise = rng.random((int(flip.sum()), size)) < flip_rate
            x[flip, t] ^= noise
    return x.astype(np.float32), y


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

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

"""Initialisers for TT-matrix cores that target the variance of W.

With i.i.d. cores of variances s_k^2, Var(W_ij) = (prod_{k=1}^{d-1} r_k)
prod_k s_k^2. Keras' own initialisers compute "fans" from a tensor's
shape, which means nothing for a 4-D TT core (it is read as a
convolution kernel), so a TT initialiser instead hands each core a Keras
initialiser whose scale makes the *full matrix* W match the dense target:
Glorot 2 / (M + N), He 2 / M, LeCun 1 / M.
"""

import math
import random

import keras
import numpy as np

from ttrnn.tt import shapes

_PACKAGE = "ttrnn"


def _fresh_seed():
    # Python's RNG: seeded by keras.utils.set_random_seed, so unseeded
    # layers are reproducible under a global seed yet differ per core.
    return random.randint(1, 2**31 - 1)


def _core_seeds(seed, d):
    """One distinct seed per core (a shared seed would repeat cores)."""
    if seed is None:
        return [_fresh_seed() for _ in range(d)]
    return [int(seed) * 1_000_003 % (2**31 - 1) + k for k in range(d)]


def _inner_rank_product(tt_ranks):
    return math.prod(tt_ranks[1:-1])


class TTInitializer:
    """Base class: makes one Keras initialiser per core of a TT-matrix.

    Subclasses implement `core_initializers(tt_input_shape,
    tt_output_shape, tt_ranks)` returning d `keras.initializers`
    objects, one per core of shape (r_k, m_k, n_k, r_{k+1}), and
    `get_config`. `CoreInitializer` draws one core; custom subclasses
    can return it or any Keras initialiser.
    """

    def core_initializers(self, tt_input_shape, tt_output_shape, tt_ranks):
        raise NotImplementedError

    def __call__(self, tt_input_shape, tt_output_shape, tt_ranks, dtype=None):
        """Returns a list of initial core tensors."""
        inits = self.core_initializers(
            tt_input_shape, tt_output_shape, tt_ranks
        )
        core_shapes = shapes.core_shapes(
            tt_input_shape, tt_output_shape, tt_ranks
        )
        return [init(s, dtype=dtype) for init, s in zip(inits, core_shapes)]

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TTVarianceScaling(TTInitializer):
    """Cores whose product W has the variance of Keras' VarianceScaling.

    Var(W_ij) = scale / fan, with fan = M ("fan_in"), N ("fan_out") or
    (M + N) / 2 ("fan_avg"), M = prod m_k, N = prod n_k. Each core is drawn
    i.i.d. with variance (Var(W) / prod_{k=1}^{d-1} r_k)^(1/d).

    Args:
        scale: positive float. Defaults to 1.0.
        mode: "fan_in", "fan_out" or "fan_avg". Defaults to "fan_avg".
        distribution: "uniform", "normal" or "truncated_normal" (the last
            is drawn as "normal": W is a sum of products of core entries,
            so truncating each core buys nothing). Defaults to "uniform".
        seed: None or int.

    Example:
    >>> init = TTVarianceScaling(scale=1.0, mode="fan_avg", seed=0)
    >>> cores = init((4, 8), (8, 4), (1, 3, 1))
    >>> [tuple(c.shape) for c in cores]
    [(1, 4, 8, 3), (3, 8, 4, 1)]
    """

    def __init__(
        self, scale=1.0, mode="fan_avg", distribution="uniform", seed=None
    ):
        if not scale > 0:
            raise ValueError(f"`scale` must be > 0. Received: scale={scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(
                "`mode` must be 'fan_in', 'fan_out' or 'fan_avg'. "
                f"Received: mode={mode!r}"
            )
        if distribution not in ("uniform", "normal", "truncated_normal"):
            raise ValueError(
                "`distribution` must be 'uniform', 'normal' or "
                f"'truncated_normal'. Received: distribution={distribution!r}"
            )
        self.scale = float(scale)
        self.mode = mode
        self.distribution = distribution
        self.seed = seed

    def target_variance(self, num_in, num_out):
        """Variance of W_ij aimed at for a (num_in, num_out) matrix."""
        fan = {
            "fan_in": num_in,
            "fan_out": num_out,
            "fan_avg": (num_in + num_out) / 2.0,
        }[self.mode]
        return self.scale / fan

    def core_initializers(self, tt_input_shape, tt_output_shape, tt_ranks):
        d = len(tt_input_shape)
        target = self.target_variance(
            math.prod(tt_input_shape), math.prod(tt_output_shape)
        )
        core_var = (target / _inner_rank_product(tt_ranks)) ** (1.0 / d)
        std = math.sqrt(core_var)
        kind = "uniform" if self.distribution == "uniform" else "normal"
        return [
            CoreInitializer(kind, std, seed)
            for seed in _core_seeds(self.seed, d)
        ]

    def get_config(self):
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TTRandom(TTInitializer):
    """Cores whose product W has a given standard deviation.

    The TT counterpart of `keras.initializers.RandomNormal(0, stddev)` and
    `RandomUniform(-a, a)` (std a / sqrt(3)).

    Args:
        stddev: positive float, std of W_ij.
        distribution: "uniform" or "normal". Defaults to "normal".
        seed: None or int.
    """

    def __init__(self, stddev=0.05, distribution="normal", seed=None):
        if not stddev > 0:
            raise ValueError(f"`stddev` must be > 0. Received: stddev={stddev}")
        self.stddev = float(stddev)
        self.distribution = distribution
        self.seed = seed

    def core_initializers(self, tt_input_shape, tt_output_shape, tt_ranks):
        # scale / fan_in with scale = stddev^2 * M gives Var(W) = stddev^2.
        m = math.prod(tt_input_shape)
        scaled = TTVarianceScaling(
            self.stddev**2 * m, "fan_in", self.distribution, self.seed
        )
        return scaled.core_initializers(
            tt_input_shape, tt_output_shape, tt_ranks
        )

    def get_config(self):
        return {
            "stddev": self.stddev,
            "distribution": self.distribution,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CoreInitializer(keras.initializers.Initializer):
    """Draws one core in NumPy from its own seed.

    NumPy rather than `keras.random`: the same seed gives the same cores on
    every backend, and JAX compiles no random kernel per core shape (which
    cost seconds per layer build).

    Args:
        kind: "uniform" (std `scale`), "normal" (std `scale`) or
            "orthogonal" (the (r m, n r') unfolding is `scale` times a
            random semi-orthogonal matrix).
        scale: positive float.
        seed: int.
    """

    def __init__(self, kind, scale, seed):
        if kind not in ("uniform", "normal", "orthogonal"):
            raise ValueError(
                "`kind` must be 'uniform', 'normal' or 'orthogonal'. "
                f"Received: kind={kind!r}"
            )
        self.kind = kind
        self.scale = float(scale)
        self.seed = int(seed)

    def __call__(self, shape, dtype=None):
        rng = np.random.default_rng(self.seed)
        shape = tuple(int(s) for s in shape)
        if self.kind == "uniform":
            limit = math.sqrt(3.0) * self.scale
            values = rng.uniform(-limit, limit, size=shape)
        elif self.kind == "normal":
            values = rng.normal(0.0, self.scale, size=shape)
        else:
            values = self.scale * _semi_orthogonal(rng, shape)
        dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
        # Through float32: NumPy has no bfloat16.
        tensor = keras.ops.convert_to_tensor(values.astype("float32"))
        return keras.ops.cast(tensor, dtype)

    def get_config(self):
        return {"kind": self.kind, "scale": self.scale, "seed": self.seed}


def _semi_orthogonal(rng, shape):
    """A random semi-orthogonal (r m, n r') unfolding, reshaped to `shape`."""
    r, m, n, r_next = shape
    rows, cols = r * m, n * r_next
    a = rng.normal(size=(max(rows, cols), min(rows, cols)))
    q, upper = np.linalg.qr(a)
    q *= np.sign(np.diag(upper))  # Haar-uniform, as Keras' Orthogonal
    if rows < cols:
        q = q.T
    return q.reshape(shape)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TTOrthogonal(TTInitializer):
    """Cores with semi-orthogonal unfoldings, scaled to W's target variance.

    Each core, unfolded as an (r_k m_k, n_k r_{k+1}) matrix, is a random
    semi-orthogonal matrix; all cores share one scale chosen so that
    Var(W_ij) = gain^2 / max(M, N), the variance of a semi-orthogonal
    M x N matrix. With all ranks 1 and m_k >= n_k (or all m_k <= n_k), W is
    exactly gain times a semi-orthogonal matrix (a Kronecker product of
    orthogonal factors).

    Args:
        gain: positive float. Defaults to 1.0.
        seed: None or int.
    """

    def __init__(self, gain=1.0, seed=None):
        if not gain > 0:
            raise ValueError(f"`gain` must be > 0. Received: gain={gain}")
        self.gain = float(gain)
        self.seed = seed

    def core_initializers(self, tt_input_shape, tt_output_shape, tt_ranks):
        d = len(tt_input_shape)
        num_in, num_out = math.prod(tt_input_shape), math.prod(tt_output_shape)
        target = self.gain**2 / max(num_in, num_out)
        # A semi-orthogonal (a, b) matrix has mean squared entry 1/max(a, b).
        unfold_var = math.prod(
            1.0 / max(s[0] * s[1], s[2] * s[3])
            for s in shapes.core_shapes(
                tt_input_shape, tt_output_shape, tt_ranks
            )
        )
        core_gain2 = (
            target / (_inner_rank_product(tt_ranks) * unfold_var)
        ) ** (1.0 / d)
        return [
            CoreInitializer("orthogonal", math.sqrt(core_gain2), seed)
            for seed in _core_seeds(self.seed, d)
        ]

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


def _from_keras_initializer(init, argument):
    """Maps a Keras initialiser of W onto its TT counterpart."""
    seed = getattr(init, "_init_seed", None)
    if not isinstance(seed, (int, type(None))):
        seed = None
    if isinstance(init, keras.initializers.VarianceScaling):
        return TTVarianceScaling(
            init.scale, init.mode, init.distribution, seed=seed
        )
    if isinstance(init, keras.initializers.Orthogonal):
        return TTOrthogonal(init.gain, seed=seed)
    if isinstance(
        init,
        (keras.initializers.RandomNormal, keras.initializers.TruncatedNormal),
    ):
        if init.mean != 0:
            raise ValueError(
                f"`{argument}` for a TT kernel must have mean 0 (cores are "
                f"multiplied together). Received: mean={init.mean}"
            )
        return TTRandom(init.stddev, "normal", seed=seed)
    if isinstance(init, keras.initializers.RandomUniform):
        if not np.isclose(init.minval, -init.maxval):
            raise ValueError(
                f"`{argument}` for a TT kernel must be symmetric around 0. "
                f"Received: minval={init.minval}, maxval={init.maxval}"
            )
        return TTRandom(init.maxval / math.sqrt(3.0), "uniform", seed=seed)
    raise ValueError(
        f"`{argument}` has no TT counterpart: use a variance-scaling "
        "initialiser ('glorot_uniform', 'glorot_normal', 'he_uniform', "
        "'he_normal', 'lecun_uniform', 'lecun_normal'), 'orthogonal', "
        "RandomNormal/RandomUniform with mean 0, or a "
        f"ttrnn.tt.TTInitializer. Received: {argument}={init!r}"
    )


def get(identifier, argument="kernel_initializer"):
    """Resolves a TT kernel initialiser.

    Args:
        identifier: None (Glorot uniform), a `TTInitializer`, a Keras
            initialiser name such as "glorot_uniform", "he_normal" or
            "orthogonal", a Keras initialiser object, or a serialised
            config dict.
        argument: argument name used in error messages.

    Returns:
        A `TTInitializer`.
    """
    if identifier is None:
        return TTVarianceScaling()
    if isinstance(identifier, TTInitializer):
        return identifier
    if isinstance(identifier, dict):
        obj = keras.saving.deserialize_keras_object(identifier)
        return get(obj, argument)
    if isinstance(identifier, str):
        try:
            init = keras.initializers.get(identifier)
        except ValueError as e:
            raise ValueError(
                f"Unknown `{argument}`: {identifier!r}. Use e.g. "
                "'glorot_uniform', 'he_normal' or 'orthogonal'."
            ) from e
        return _from_keras_initializer(init, argument)
    if isinstance(identifier, keras.initializers.Initializer):
        return _from_keras_initializer(identifier, argument)
    raise ValueError(
        f"Could not interpret `{argument}`. Received: {argument}={identifier!r}"
    )


def serialize(initializer):
    return keras.saving.serialize_keras_object(initializer)

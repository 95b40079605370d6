"""Unpickling that builds NumPy arrays and nothing else.

`pickle.load` calls whatever a file names (any importable callable). The
pickles read here, CIFAR-10's batches and the object arrays of Keras'
reuters.npz, need only NumPy's array reconstruction: `RestrictedUnpickler`
builds the globals of an allow-list and refuses every other one.
"""

import pickle

# NumPy arrays, dtypes and scalars (NumPy 1 and 2 module paths), and the
# bytes of a pickle written by Python 2 (CIFAR-10's batches).
ARRAY_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }
)


class RestrictedUnpickler(pickle.Unpickler):
    """A `pickle.Unpickler` that builds only the globals of `allowed`.

    Args:
        file: a binary file, as for `pickle.Unpickler`.
        what: what the file holds, for the error ("reuters.npz").
        allowed: the allowed (module, name) pairs; `ARRAY_GLOBALS` by
            default.
        **kwargs: `pickle.Unpickler`'s (`encoding`, ...).

    Raises (from `load`):
        pickle.UnpicklingError: "global M.N is not allowed in WHAT" for a
            global outside `allowed`.

    Example:
    >>> import io, pickle, fractions
    >>> data = pickle.dumps(fractions.Fraction(1, 2))
    >>> RestrictedUnpickler(io.BytesIO(data), "a.pkl").load()
    Traceback (most recent call last):
    ...
    _pickle.UnpicklingError: global fractions.Fraction is not allowed in a.pkl
    """

    def __init__(self, file, what, allowed=ARRAY_GLOBALS, **kwargs):
        super().__init__(file, **kwargs)
        self.what = what
        self.allowed = allowed

    def find_class(self, module, name):
        if (module, name) in self.allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"global {module}.{name} is not allowed in {self.what}"
        )

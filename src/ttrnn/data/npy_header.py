"""The header of a `.npy` file, read without Python's `ast` module.

NumPy parses a `.npy` header with `ast.literal_eval`. On CPython 3.11,
compiling to an AST while another thread does the same can fail with
"SystemError: AST constructor recursion depth mismatch"
(python/cpython#106905): the frame cache's files are read on the
sequences' look-ahead thread while the main thread traces a step (a
test of `VideoSequence` on TensorFlow failed so, 7 Dec 2026). The cache
writes its files itself (`np.save` of uint8 frames), so their headers
have one known form, which a regular expression reads; any other header
goes to NumPy's own reader.
"""

import re

import numpy as np

_HEADER = re.compile(
    r"\{'descr': '(?P<descr>[<>|=]?[a-zA-Z]\d*)', "
    r"'fortran_order': (?P<fortran>True|False), "
    r"'shape': \((?P<shape>[\d, ]*)\), \}\s*$"
)
# The header's length field: 2 bytes in format 1.0, 4 bytes after.
_LENGTH_BYTES = {(1, 0): 2, (2, 0): 4, (3, 0): 4}


def read(file):
    """`(shape, fortran_order, dtype)` of the `.npy` file open in binary
    mode at its start; the file is left at the array's first byte.

    Raises:
        ValueError: if the file is not a `.npy` file.
    """
    start = file.tell()
    version = np.lib.format.read_magic(file)
    size = _LENGTH_BYTES.get(version)
    if size is not None:
        length = int.from_bytes(file.read(size), "little")
        encoding = "utf8" if version == (3, 0) else "latin1"
        match = _HEADER.match(file.read(length).decode(encoding))
        if match:
            shape = tuple(
                int(s) for s in match["shape"].split(",") if s.strip()
            )
            fortran = match["fortran"] == "True"
            return shape, fortran, np.dtype(match["descr"])
    file.seek(start)
    if np.lib.format.read_magic(file) == (1, 0):
        return np.lib.format.read_array_header_1_0(file)
    return np.lib.format.read_array_header_2_0(file)


def memmap(path):
    """The array of the `.npy` file at `path`, memory-mapped read-only
    (as `np.load(path, mmap_mode="r")`)."""
    with open(path, "rb") as file:
        shape, fortran, dtype = read(file)
        offset = file.tell()
    order = "F" if fortran else "C"
    if 0 in shape:  # mmap cannot map nothing
        empty = np.zeros(shape, dtype, order=order)
        empty.flags.writeable = False
        return empty
    return np.memmap(
        path, dtype=dtype, mode="r", shape=shape, order=order, offset=offset
    )

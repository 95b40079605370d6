"""`.npy` headers read without `ast` equal NumPy's own reading."""

import ast

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ttrnn.data import npy_header

DTYPES = ["uint8", "<f4", ">i8", "bool", "<f8"]


def _write(path, array, version):
    with open(path, "wb") as file:
        np.lib.format.write_array(file, array, version=version)


def _numpy_header(path):
    with open(path, "rb") as file:
        if np.lib.format.read_magic(file) == (1, 0):
            return np.lib.format.read_array_header_1_0(file)
        return np.lib.format.read_array_header_2_0(file)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=4),
    dtype=st.sampled_from(DTYPES),
    fortran=st.booleans(),
    version=st.sampled_from([(1, 0), (2, 0), (3, 0)]),
)
def test_header_and_array_equal_numpys(
    tmp_path_factory, shape, dtype, fortran, version
):
    path = tmp_path_factory.mktemp("npy") / "a.npy"
    rng = np.random.default_rng(len(shape))
    array = rng.integers(0, 200, shape).astype(dtype)
    array = np.asfortranarray(array) if fortran else array
    _write(path, array, version)
    with open(path, "rb") as file:
        got = npy_header.read(file)
        at = file.tell()
    want = _numpy_header(path)
    assert got == want
    assert at == path.stat().st_size - array.nbytes
    loaded = npy_header.memmap(path)
    np.testing.assert_array_equal(loaded, array)
    assert loaded.dtype == array.dtype
    assert not loaded.flags.writeable


def test_saved_frames_read_without_ast(tmp_path, monkeypatch):
    frames = np.arange(5 * 4 * 6 * 3, dtype=np.uint8).reshape(5, 4, 6, 3)
    path = tmp_path / "clip.npy"
    np.save(path, frames)

    def no_ast(*args, **kwargs):
        raise AssertionError("ast.literal_eval called")

    monkeypatch.setattr(ast, "literal_eval", no_ast)
    np.testing.assert_array_equal(npy_header.memmap(path), frames)
    # the control: NumPy's own reader does call it
    with pytest.raises(AssertionError, match="literal_eval"):
        np.load(path, mmap_mode="r")


def test_other_headers_go_to_numpy(tmp_path):
    array = np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8")])
    path = tmp_path / "structured.npy"
    np.save(path, array)
    with open(path, "rb") as file:
        assert npy_header.read(file) == _numpy_header(path)


def test_not_npy_is_an_error(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(b"not an array at all")
    with open(path, "rb") as file, pytest.raises(ValueError):
        npy_header.read(file)

"""Every docstring example of the package runs, on the suite's backend."""

import doctest
import importlib
import pkgutil

import pytest

import ttrnn


def _modules_with_examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    names = []
    for info in pkgutil.walk_packages(ttrnn.__path__, "ttrnn."):
        if info.name in ("ttrnn.__main__",):
            continue  # runs the command line on import
        module = importlib.import_module(info.name)
        tests = finder.find(module, module.__name__)
        runnable = [
            example
            for test in tests
            for example in test.examples
            if not example.options.get(doctest.SKIP)
        ]
        if runnable:  # (examples that need data files are skipped)
            names.append(info.name)
    return names


MODULES = _modules_with_examples()


def test_examples_are_found():
    # The finder sees the examples of the layers and the TT math.
    assert {"ttrnn.layers.tt_dense", "ttrnn.tt.contraction.contract"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write here
    module = importlib.import_module(name)
    result = doctest.testmod(
        module,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        report=True,
        verbose=False,
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} example(s) failed in {name}"

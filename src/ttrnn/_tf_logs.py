"""Applies `TF_CPP_MIN_LOG_LEVEL` to TensorFlow's own start-up lines.

Keras loads TensorFlow on every backend when it is installed (for
`keras.utils.set_random_seed` and its saving), and TensorFlow 2.21 prints,
twice (once per shared library), while it loads:

    WARNING: All log messages before absl::InitializeLog() is called are
    written to STDERR
    I0000 00:00:... port.cc:153] oneDNN custom operations are on. ...

C++ writes these to file descriptor 2 before TensorFlow reads
`TF_CPP_MIN_LOG_LEVEL`, so the variable cannot hold them back, and no
other variable does short of `TF_ENABLE_ONEDNN_OPTS=0`, which changes
TensorFlow's kernels and numerics. So while TensorFlow's package is first
imported, `install()` sends descriptor 2 to a temporary file, then writes
back what TensorFlow's level lets through: absl-format lines
(`I0000 00:00:00.000 123 file.cc:1] ...`) of a lower severity than
`TF_CPP_MIN_LOG_LEVEL` (0 INFO, 1 WARNING, 2 ERROR, 3 FATAL) and absl's
"before absl::InitializeLog()" notice (a WARNING) are dropped; every other
line, Python's warnings included, is written back in order once the
import is done. Nothing is captured when the level is 0 or TensorFlow is
already imported.
"""

import contextlib
import importlib.abc
import os
import re
import sys
import tempfile

_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
_ABSL_LINE = re.compile(r"([IWEF])\d{4} [\d:.]+ +\d+ [^\]\s]+\] ")
_PREINIT_NOTICE = "before absl::InitializeLog() is called"


def min_log_level():
    """`TF_CPP_MIN_LOG_LEVEL` as an int (0 when unset or not a number)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def filter_lines(text, level):
    """The lines of `text` that TensorFlow's log `level` lets through.

    Args:
        text: what was written to stderr.
        level: `TF_CPP_MIN_LOG_LEVEL` (0 to 3).

    Returns:
        `text` without the absl-format lines below `level` and, from level
        2 on, without absl's "before absl::InitializeLog()" notice.
    """
    kept = []
    for line in text.splitlines(keepends=True):
        match = _ABSL_LINE.match(line)
        if match and _SEVERITY[match.group(1)] < level:
            continue
        if _PREINIT_NOTICE in line and level > _SEVERITY["W"]:
            continue
        kept.append(line)
    return "".join(kept)


@contextlib.contextmanager
def filtered_stderr(level):
    """Descriptor 2 goes to a file; on exit, `filter_lines` of it returns.

    Args:
        level: the log level `filter_lines` applies.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):
        yield  # no descriptor 2 (e.g. pythonw): nothing to keep off
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, AttributeError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            kept = filter_lines(text, level)
            if kept:
                os.write(2, kept.encode("utf-8"))


class _FilteringLoader(importlib.abc.Loader):
    """Runs TensorFlow's package module under `filtered_stderr`."""

    def __init__(self, loader, level):
        self.loader = loader
        self.level = level

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        uninstall()
        try:
            with filtered_stderr(self.level):
                self.loader.exec_module(module)
        finally:  # the module keeps its own loader
            module.__loader__ = self.loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self.loader

    def __getattr__(self, name):
        return getattr(self.loader, name)


class _TensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` with the other finders and wraps its loader.

    (`importlib.util.find_spec` asks too, without importing: the hook
    stays until the loader runs.)
    """

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        level = min_log_level()
        for finder in sys.meta_path:
            if isinstance(finder, _TensorFlowFinder):
                continue
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        if level > 0 and spec.loader is not None:
            spec.loader = _FilteringLoader(spec.loader, level)
        return spec


def install():
    """Filters TensorFlow's start-up lines when it is first imported.

    Does nothing when TensorFlow is already imported, or already hooked.
    The level is read when TensorFlow is imported.
    """
    if "tensorflow" in sys.modules:
        return
    if any(isinstance(f, _TensorFlowFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _TensorFlowFinder())


def uninstall():
    """Removes the hook of `install()` (if any)."""
    sys.meta_path[:] = [
        f for f in sys.meta_path if not isinstance(f, _TensorFlowFinder)
    ]

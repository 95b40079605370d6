"""How the `ttrnn` command shows ttrnn's own warnings: one line each.

Python shows a warning with the file, line number and the line of source
that raised it: noise to a user. During a command, `plain_warnings`
shows ttrnn's warnings as `ttrnn: warning: ...` and leaves everyone
else's as they are.
"""

import contextlib
import warnings


@contextlib.contextmanager
def plain_warnings():
    """ttrnn's own warnings as one line, `ttrnn: warning: ...`, without
    the line of our source that Python shows under a warning; others
    (Keras', a backend's) as usual. Only the formatting changes: the
    filters and recording (`pytest.warns`) are untouched."""
    original = warnings.formatwarning

    def formatwarning(message, category, filename, lineno, line=None):
        if category.__module__.partition(".")[0] != "ttrnn":
            return original(message, category, filename, lineno, line)
        return f"ttrnn: warning: {message}\n"

    warnings.formatwarning = formatwarning
    try:
        yield
    finally:
        warnings.formatwarning = original

"""A Ctrl-C that stops a run even where a library swallows it.

Python turns SIGINT into a `KeyboardInterrupt` raised in the Python code
the main thread runs next. When that code runs inside a C extension
which clears the errors of what it calls, the exception is lost and
training goes on. Seen with Keras 3.15 on JAX: a Ctrl-C during the
`np.array` of a metric (Keras' `pythonify_logs`, at the end of a
validation batch) left `ttrnn experiment` training for good, about one
Ctrl-C in six.

`handled()` installs a SIGINT handler that remembers the Ctrl-C besides
raising it, and `checkpointing.StopOnInterrupt`, a callback of every
`fit` that `ttrnn experiment` runs, raises it again at the next batch or
epoch boundary. A Ctrl-C that did get through is not raised twice: `fit`
has left by then. No Keras here: the CLI imports this module before it
chooses the backend.
"""

import contextlib
import signal
import threading

_pressed = False


def _on_sigint(signum, frame):
    global _pressed
    _pressed = True
    raise KeyboardInterrupt


def pressed():
    """Whether Ctrl-C was pressed under `handled()` (and not yet left)."""
    return _pressed


@contextlib.contextmanager
def handled():
    """Remembers a Ctrl-C for `StopOnInterrupt` while the block runs.

    Only where Python's own handler is in place, in the main thread: a
    SIGINT that is ignored (a shell's background job) or a handler of
    the user's own stays as it is.
    """
    global _pressed
    own = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if own:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        if own:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            _pressed = False


def raise_if_pressed():
    """Raises `KeyboardInterrupt` if Ctrl-C was pressed under `handled()`
    (`checkpointing.StopOnInterrupt` calls it between batches)."""
    if _pressed:
        raise KeyboardInterrupt

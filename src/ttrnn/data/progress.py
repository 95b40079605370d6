"""A download progress bar for pooch, drawn by `keras.utils.Progbar`.

pooch's `HTTPDownloader(progressbar=...)` takes any object with `total`,
`update(n)`, `reset()` and `close()`; this one draws Keras' own bar, so
ttrnn needs no tqdm. Used on a terminal only.
"""

from ttrnn import _select_backend


class KerasProgressBar:
    """pooch's progress-bar protocol on a `keras.utils.Progbar`.

    Args:
        name: the file downloaded (shown as the bar's unit).
    """

    def __init__(self, name):
        _select_backend.select()
        from keras.utils import Progbar

        self._progbar_class = Progbar
        self.name = name
        self.total = 0
        self.count = 0
        self._bar = None

    def update(self, count):
        """Adds `count` bytes."""
        self.count += count
        if self._bar is None:
            self._bar = self._progbar_class(
                self.total or None, unit_name=f"bytes of {self.name}"
            )
        current = min(self.count, self.total) if self.total else self.count
        self._bar.update(current, finalize=False)

    def reset(self):
        """Starts counting from zero (pooch then adds the total)."""
        self.count = 0

    def close(self):
        """Draws the finished bar."""
        if self._bar is not None:
            self._bar.update(self.count, finalize=True)

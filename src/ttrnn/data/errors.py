"""The errors of fetching data (`ttrnn.data.fetch`).

All are `DataFetchError`s, which the `ttrnn` command reports as usage
errors (`ttrnn CMD: error: ...`, exit status 2).
"""


class DataFetchError(OSError):
    """A data set could not be fetched or found in the cache."""


class DataChecksumError(DataFetchError):
    """A file's hash is not the expected one (nothing is kept of it).

    Attributes:
        file: the file's name.
        expected: the expected hash (`"sha256:<hex>"` or `"md5:<hex>"`).
        actual: the hash of what was downloaded or found.
    """

    def __init__(self, message, file=None, expected=None, actual=None):
        super().__init__(message)
        self.file = file
        self.expected = expected
        self.actual = actual

    def __str__(self):
        return self.args[0]


class DataOfflineError(DataFetchError):
    """Offline, and the data set is not in the cache."""


class DataNotDownloadableError(DataFetchError):
    """The data set cannot be downloaded (it is given on request)."""

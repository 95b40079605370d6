"""Finding and reading the (optionally gzip-compressed) text data files."""

import gzip
import os


def read_text(path):
    """Reads a text file, gunzipping it if it is gzip-compressed.

    Args:
        path: path of the file; gzip is detected from its first bytes.

    Returns:
        The decoded text.
    """
    with open(path, "rb") as file:
        compressed = file.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    with opener(path, "rb") as file:
        return file.read().decode("ascii", errors="replace")


def dataset_folder(name, data_dir, what):
    """Returns `<data_dir>/<name>` if it exists, else `data_dir`.

    Args:
        name: the data set name.
        data_dir: the collection directory or the data set directory.
        what: collection name for the error message, e.g. "NIPS 2003".

    Returns:
        The directory of the data set's files.

    Raises:
        FileNotFoundError: if neither directory exists.
    """
    data_dir = os.fspath(data_dir)
    nested = os.path.join(data_dir, name)
    folder = nested if os.path.isdir(nested) else data_dir
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"{what} directory not found: data_dir={data_dir!r}."
        )
    return folder


def find_file(folder, stem):
    """Returns the path of `<stem>.gz` or `<stem>` in `folder`.

    Args:
        folder: the directory.
        stem: the file name without `.gz`.

    Returns:
        The path of the file that exists.

    Raises:
        FileNotFoundError: if neither exists.
    """
    for candidate in (f"{stem}.gz", stem):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"Missing file {stem}[.gz] in {folder!r}.")

"""Directory listings shared by the dataset layout readers (`layouts`)."""

import os
import re
import warnings

from ttrnn.data.clips import DatasetNotFoundError
from ttrnn.data.clips import SkippedClipWarning

VIDEO_SUFFIXES = (".mpg", ".mpeg", ".avi", ".mp4", ".mkv")


def existing_dir(data_dir, what, help_text):
    """`data_dir` as a path; DatasetNotFoundError if it is no directory."""
    if data_dir is None or not os.path.isdir(data_dir):
        raise DatasetNotFoundError(
            f"{what} directory not found: data_dir={data_dir!r}. {help_text}"
        )
    return os.fspath(data_dir)


def subdirs(folder):
    """The visible subfolders of `folder`, sorted."""
    return sorted(
        e.name
        for e in os.scandir(folder)
        if e.is_dir() and not e.name.startswith(".")
    )


def videos_below(folder):
    """Paths of the video files below `folder` (`VIDEO_SUFFIXES`), sorted."""
    for parent, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() in VIDEO_SUFFIXES:
                yield os.path.join(parent, name)


def read_listing(path, help_text):
    """Yields `(name, value)` from a two-column listing file."""
    if not os.path.isfile(path):
        raise DatasetNotFoundError(f"Missing file {path!r}. {help_text}")
    with open(path, encoding="utf-8", errors="replace") as file:
        for number, line in enumerate(file, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not re.fullmatch(r"-?\d+", fields[1]):
                raise ValueError(
                    f"{path}:{number}: expected '<name> <integer>'. "
                    f"Received: {line.strip()!r}"
                )
            yield fields[0], fields[1]


def warn_missing(missing, folder):
    """Warns (`SkippedClipWarning`) about listed clips not on disk."""
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        warnings.warn(
            f"Skipping {len(missing)} listed clip(s) missing from "
            f"{folder!r}: {shown}",
            SkippedClipWarning,
            stacklevel=3,
        )

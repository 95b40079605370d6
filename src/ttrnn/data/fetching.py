"""Fetching data sets on first use, as `keras.datasets` does.

`fetch(name)` downloads the files of a data set (`ttrnn.data.sources`)
into the cache, `<cache>/<group>/<name>/<file>`, and returns the folder
its reader takes. pooch does each download: into a temporary file in the
target folder, moved into place only when the hash matches, so a killed
download never leaves a file that looks complete. Archives are unpacked
into a temporary folder that is renamed when complete, then deleted.

- Cache: `$TTRNN_DATA_CACHE`, else `~/.cache/ttrnn/data` (pooch's
  `os_cache`: the platform's cache folder).
- Mirror: `$TTRNN_DATA_MIRROR=URL` fetches every file from
  `URL/<group>/<name>/<file>`, the cache's own layout.
- Offline: `offline=True` or `$TTRNN_OFFLINE=1` never touches the
  network; what is not in the cache is an error naming how to get it.
- Hashes: the registry's, or for the files without one, the SHA256 the
  first download recorded in `<cache>/hashes.json` (trust on first use).
  Kept files are checked on every use.
"""

import json
import os
import re
import sys

from ttrnn.data.errors import DataChecksumError
from ttrnn.data.errors import DataFetchError
from ttrnn.data.errors import DataNotDownloadableError
from ttrnn.data.errors import DataOfflineError
from ttrnn.data.sources import DATA_SOURCES
from ttrnn.data.unpacking import unpack

CACHE_ENV = "TTRNN_DATA_CACHE"
MIRROR_ENV = "TTRNN_DATA_MIRROR"
OFFLINE_ENV = "TTRNN_OFFLINE"
HASHES_FILE = "hashes.json"
_TRUE = ("1", "true", "yes")


def data_cache_dir():
    """The root of the data cache: `$TTRNN_DATA_CACHE`, else
    `~/.cache/ttrnn/data` (the platform's user cache folder)."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return os.path.abspath(os.path.expanduser(root))
    import pooch

    return os.path.join(os.fspath(pooch.os_cache("ttrnn")), "data")


def data_path(name, cache_dir=None):
    """Where `fetch(name)` puts a data set (whether or not it is there).

    Args:
        name: a data set name (`list_datasets()`).
        cache_dir: the cache root; `None` for `data_cache_dir()`.

    Returns:
        The folder the data set's reader takes.
    """
    source = _source(name)
    return os.path.normpath(
        os.path.join(_folder(source, cache_dir), source.root)
    )


def is_cached(name, cache_dir=None):
    """Whether every file of a data set is in the cache (not hashed)."""
    source = _source(name)
    folder = _folder(source, cache_dir)
    return bool(source.files) and all(
        os.path.exists(os.path.join(folder, f.unpacked or f.name))
        for f in source.files
    )


def list_datasets(cache_dir=None):
    """Every data set with its source, size, licence and cache status.

    Returns:
        A list of dicts: `name`, `group`, `description`, `licence`,
        `size` (bytes or `None`), `cached` (bool) and `path`.
    """
    return [
        {
            "name": s.name,
            "group": s.group,
            "description": s.description,
            "licence": s.licence,
            "size": s.size,
            "cached": is_cached(s.name, cache_dir),
            "path": data_path(s.name, cache_dir),
        }
        for s in DATA_SOURCES.values()
    ]


def fetch(name, cache_dir=None, offline=None, mirror=None, progress=None):
    """Downloads a data set into the cache if it is not there yet.

    Args:
        name: a data set name (`list_datasets()`), e.g. `"arcene"`.
        cache_dir: the cache root; `None` for `data_cache_dir()`.
        offline: never touch the network; `None` reads `$TTRNN_OFFLINE`.
        mirror: base URL of a mirror in the cache's layout; `None` reads
            `$TTRNN_DATA_MIRROR` (unset: the registry's URLs).
        progress: show a progress bar; `None` for "on a terminal".

    Returns:
        The local folder the data set's reader takes.

    Raises:
        DataChecksumError: a file's hash does not match (the message names
            the file, the expected and the actual hash; nothing is kept).
        DataOfflineError: offline and a file is not in the cache.
        DataNotDownloadableError: the data set is given on request only.
        DataFetchError: a download failed.

    Example:

    >>> folder = ttrnn.data.fetch("arcene")  # doctest: +SKIP
    >>> ttrnn.data.load_nips2003("arcene", folder)  # doctest: +SKIP
    """
    source = _source(name)
    if offline is None:
        offline = os.environ.get(OFFLINE_ENV, "").lower() in _TRUE
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV) or None
    root = cache_dir or data_cache_dir()
    folder = _folder(source, root)
    if not source.files:
        path = data_path(name, root)
        if os.path.isdir(path) and os.listdir(path):
            return path  # put there by hand, as the error below says
        raise DataNotDownloadableError(
            f"Data set {name!r} cannot be downloaded: "
            + source.request.format(path=path)
            + "."
        )
    for file in source.files:
        _get(source, file, folder, root, offline, mirror, progress)
    return data_path(name, root)


def _get(source, file, folder, root, offline, mirror, progress):
    """One file into the cache: checked, downloaded, unpacked."""
    if file.unpacked and os.path.isdir(os.path.join(folder, file.unpacked)):
        return  # renamed into place only when complete
    key = f"{source.group}/{source.name}/{file.name}"
    expected = file.hash or _recorded(root).get(key)
    target = os.path.join(folder, file.name)
    if os.path.isfile(target) and not _check_cached(target, expected, offline):
        os.remove(target)  # corrupt: fetched again below
    if not os.path.isfile(target):
        if offline:
            raise DataOfflineError(
                f"{key} is not in the cache ({folder}) and ttrnn is offline "
                f"(--offline or ${OFFLINE_ENV}). Run `ttrnn data get "
                f"{source.name}` on a machine with internet access (and copy "
                f"{folder} here, or point ${CACHE_ENV} at a copy), set "
                f"${MIRROR_ENV} to a mirror of <group>/<name>/<file>, or "
                "pass --data-dir to a folder of the data."
            )
        url = f"{mirror.rstrip('/')}/{key}" if mirror else file.url
        _download(url, target, expected, progress)
    if expected is None:
        _record(root, key, target)
    if file.unpack:
        unpack(target, os.path.join(folder, file.unpacked), file.unpack)
        if os.path.exists(target):  # (another process may have been first)
            os.remove(target)


def _check_cached(path, expected, offline):
    """True if a cached file matches `expected` (or nothing is known)."""
    if expected is None:
        return True
    actual = _hash(path, expected)
    if actual == expected:
        return True
    if offline:
        raise DataChecksumError(
            f"Checksum mismatch for the cached {path!r}: expected "
            f"{expected}, got {actual}. Delete it and run `ttrnn data get` "
            "with network access.",
            os.path.basename(path),
            expected,
            actual,
        )
    return False


def _download(url, target, expected, progress):
    import pooch

    folder, name = os.path.split(target)
    print(f"Downloading {name} from {url}", file=sys.stderr)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # ttrnn says what it downloads itself
    try:
        pooch.retrieve(
            url,
            known_hash=expected,
            fname=name,
            path=folder,
            downloader=_downloader(url, name, progress),
        )
    except ValueError as error:
        if "hash" not in str(error):
            raise
        actual = re.search(r"but got (\w+)", str(error))
        algorithm = expected.partition(":")[0]
        actual = f"{algorithm}:{actual[1]}" if actual else "unknown"
        raise DataChecksumError(
            f"Checksum mismatch for {name} from {url}: expected {expected}, "
            f"got {actual}. Nothing was kept; the download is corrupt or "
            "the mirror serves another file.",
            name,
            expected,
            actual,
        ) from None
    except Exception as error:
        if not _network_error(error):
            raise
        raise DataFetchError(
            f"Could not download {name} from {url}: {error}. Run again to "
            f"retry, set ${MIRROR_ENV} to a mirror, or get the files "
            "elsewhere and pass --data-dir."
        ) from None
    finally:
        logger.setLevel(level)
        _remove_empty(folder)


def _network_error(error):
    import ftplib

    import requests

    return isinstance(
        error, (requests.RequestException, ftplib.Error, ConnectionError)
    )


def _downloader(url, name, progress):
    import pooch

    if progress is None:  # Keras' bar draws on stdout
        progress = sys.stdout.isatty()
    if url.startswith(("http://", "https://")):
        bar = _progress_bar(name) if progress else False
        return pooch.HTTPDownloader(progressbar=bar, chunk_size=1 << 16)
    if url.startswith("ftp://"):
        return pooch.FTPDownloader()  # its bars need tqdm
    raise DataFetchError(
        f"Cannot download {url!r}: expected an http://, https:// or ftp:// "
        f"URL (check ${MIRROR_ENV})."
    )


def _progress_bar(name):
    try:
        from ttrnn.data.progress import KerasProgressBar

        return KerasProgressBar(name)
    except Exception:  # no usable Keras backend: no bar
        return False


def _hash(path, like):
    import pooch

    algorithm = like.partition(":")[0] if ":" in like else "sha256"
    return f"{algorithm}:{pooch.file_hash(path, alg=algorithm)}"


def _recorded(root):
    path = os.path.join(root, HASHES_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path) as file:
        return json.load(file)


def _record(root, key, path):
    """Trust on first use: records (or checks) a file's SHA256."""
    digest = _hash(path, "sha256")
    hashes = _recorded(root)
    if key in hashes:
        return
    hashes[key] = digest
    temporary = os.path.join(root, f".{HASHES_FILE}.partial")
    with open(temporary, "w") as file:
        json.dump(hashes, file, indent=1, sort_keys=True)
    os.replace(temporary, os.path.join(root, HASHES_FILE))
    print(
        f"No published hash for {key}: recorded {digest} in "
        f"{os.path.join(root, HASHES_FILE)}; later downloads must match it.",
        file=sys.stderr,
    )


def _remove_empty(folder):
    """Removes `folder` and its parents up to the cache while empty."""
    for _ in range(2):
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = os.path.dirname(folder)


def _folder(source, cache_dir):
    return os.path.join(
        cache_dir or data_cache_dir(), source.group, source.name
    )


def _source(name):
    try:
        return DATA_SOURCES[name]
    except KeyError:
        raise DataFetchError(
            f"Argument `name` must be a data set of `ttrnn data list`: "
            f"{', '.join(DATA_SOURCES)}. Received: name={name!r}"
        ) from None

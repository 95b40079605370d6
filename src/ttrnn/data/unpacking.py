"""Unpacking downloaded archives into place, never half-way.

An archive is unpacked into `<folder>.partial-XXXX` and renamed to `<folder>`
only when every member is out, so a folder in the cache is complete.
tar and zip go through pooch's `Untar` and `Unzip`; RAR needs the
optional `rarfile` package (`pip install "ttrnn[rar]"`) and a program
it drives (unrar, unar or bsdtar): no RAR code of ttrnn's own.
"""

import os
import shutil
import tempfile

from ttrnn.data.errors import DataFetchError

RAR_HELP = (
    'install the RAR reader with `pip install "ttrnn[rar]"` (rarfile) and '
    "a program it drives: unrar, unar or bsdtar (e.g. `apt install "
    "unrar` or `apt install libarchive-tools`)"
)


class UnpackToolError(DataFetchError):
    """No installed program can unpack an archive (RAR)."""


def unpack(archive, folder, kind):
    """Unpacks `archive` into `folder`, atomically.

    Args:
        archive: path of the archive.
        folder: the folder to create; it must not exist yet.
        kind: `"tar"`, `"zip"` or `"rar"`. RAR archives found inside a
            RAR archive (HMDB51's one archive a class) are unpacked in
            place, each into a folder of its name, and removed.

    Raises:
        UnpackToolError: for RAR, when no reader is installed (the
            message says what to install, or how to unpack by hand).
    """
    if kind not in ("tar", "zip", "rar"):
        raise ValueError(
            "Argument `kind` must be 'tar', 'zip' or 'rar'. "
            f"Received: kind={kind!r}"
        )
    parent, name = os.path.split(os.path.abspath(folder))
    # Its own temporary folder: several processes may unpack at once.
    partial = tempfile.mkdtemp(prefix=f"{name}.partial-", dir=parent)
    try:
        if kind == "rar":
            _unrar(archive, partial, folder)
        else:
            import pooch

            processor = pooch.Untar if kind == "tar" else pooch.Unzip
            processor(extract_dir=os.path.abspath(partial))(
                os.path.abspath(archive), "download", None
            )
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    try:
        os.rename(partial, folder)
    except OSError:
        if not os.path.isdir(folder):
            raise
        shutil.rmtree(partial)  # another process was first


def _unrar(archive, partial, folder):
    rarfile = _rarfile(archive, folder)
    try:
        with rarfile.RarFile(archive) as rar:
            rar.extractall(partial)
        for root, _, files in os.walk(partial):
            for name in sorted(files):
                if name.lower().endswith(".rar"):
                    inner = os.path.join(root, name)
                    with rarfile.RarFile(inner) as rar:
                        rar.extractall(os.path.join(root, name[:-4]))
                    os.remove(inner)
    except rarfile.RarCannotExec as error:
        raise UnpackToolError(_rar_message(archive, folder, error)) from None


def _rarfile(archive, folder):
    try:
        import rarfile
    except ImportError:
        raise UnpackToolError(
            _rar_message(archive, folder, "rarfile is not installed")
        ) from None
    return rarfile


def _rar_message(archive, folder, reason):
    return (
        f"Cannot unpack {archive!r} ({reason}): {RAR_HELP}; then run the "
        "command again. Or unpack it by hand (RAR archives inside it "
        f"too) into {folder!r} and delete the archive."
    )

"""A run's output folder: checked before a run, cleared, cleaned up.

`check_out` refuses, before any data is read, an output folder that
cannot be written or that holds an earlier run (without `--resume` or
`--overwrite`); `clear_outputs` deletes what an earlier run wrote there
(`--overwrite`), and only that; `removed_unless_checkpointed` removes the
folders a run created when it fails before its first checkpoint.
"""

import contextlib
import os
import shutil

from ttrnn import distribution
from ttrnn.experiments import checkpointing
from ttrnn.experiments.registry import ExperimentError

# The files a run writes in its folder (and in each fold's), and those
# `ttrnn explain` writes in `explain/<input>/`: what `clear_outputs`
# removes. Anything else in the folder is not the run's and stays.
RUN_FILES = (
    checkpointing.CHECKPOINT,
    checkpointing.STATE,
    "checkpoint-tmp.keras",
    "results.json",
    "curves.png",
    "weights.png",
    "relevance.png",
)
EXPLAIN_DIR = "explain"
# The key of a run's results.json that says why its checkpoint is gone.
CHECKPOINT_DELETED = "checkpoint_deleted"
EXPLAIN_FILES = ("relevance.npy", "relevance.png", "explanation.json")


def check_out(out, resume=False, overwrite=False):
    """Checks a run's output folder before any work.

    Args:
        out: the output folder (it need not exist).
        resume: the run continues an earlier one.
        overwrite: the run replaces an earlier one.

    Raises:
        ExperimentError: if `out` is not a folder that can be created
            or written (a file, below a file, or without write access,
            e.g. on a read-only file system).
        RunExistsError: if `out` (or a fold's subfolder) holds a
            checkpoint of an earlier run and neither `resume` nor
            `overwrite` is set.
    """
    check_writable(out)
    if resume or overwrite:
        return
    for folder in run_folders(out):
        state = checkpointing.load_state(folder)
        if state is not None:
            raise checkpointing.RunExistsError(
                f"{os.fspath(folder)!r} holds a checkpoint of an earlier "
                f"run ({state['epochs_done']} epochs done). Pass --resume "
                "to continue it or --overwrite to start again."
            )


def check_writable(out):
    """Raises `ExperimentError` unless the folder `out` exists and can be
    written, or can be created (its nearest existing parent is a
    writable folder)."""
    path = os.path.abspath(os.fspath(out))
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        reason = f"{existing!r} is a file, not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        reason = f"{existing!r} cannot be written (permissions or a "
        reason += "read-only file system)"
    else:
        return
    raise ExperimentError(
        "Argument `out` must be a folder that can be written or created: "
        f"{reason}. Received: out={os.fspath(out)!r}"
    )


def run_folders(run_dir):
    """`run_dir` and its subfolders that hold a run's state or checkpoint
    (the folds of a cross-validated run); none if `run_dir` is not a
    folder."""
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        return []
    found = [run_dir]
    for entry in sorted(os.listdir(run_dir)):
        folder = os.path.join(run_dir, entry)
        if entry != EXPLAIN_DIR and os.path.isdir(folder):
            names = os.listdir(folder)
            if (
                checkpointing.STATE in names
                or checkpointing.CHECKPOINT in names
            ):
                found.append(folder)
    return found


def clear_outputs(run_dir):
    """Deletes what an earlier run wrote in `run_dir`, nothing else.

    Removes the files named in `RUN_FILES` (and their `.tmp` leftovers)
    from `run_dir` and from its fold subfolders (`run_folders`), `ttrnn
    explain`'s files (`EXPLAIN_FILES`) from `explain/<input>/`, and the
    folders this leaves empty (`run_dir` itself stays). Files of other
    names are not a run's: they and their folders are kept. In a run of
    several processes, process 0 alone deletes.
    """
    if not distribution.is_chief():
        return
    run_dir = os.fspath(run_dir)
    for folder in run_folders(run_dir):
        _remove_files(folder, RUN_FILES)
        explain = os.path.join(folder, EXPLAIN_DIR)
        if os.path.isdir(explain):
            for entry in os.listdir(explain):
                inner = os.path.join(explain, entry)
                if os.path.isdir(inner):
                    _remove_files(inner, EXPLAIN_FILES)
                    _remove_if_empty(inner)
            _remove_if_empty(explain)
        if folder != run_dir:
            _remove_if_empty(folder)


@contextlib.contextmanager
def removed_unless_checkpointed(run_dir):
    """Within the context, a run that fails (or is interrupted) before
    its first checkpoint removes the folders it created for `run_dir`;
    folders that existed before are left as they were."""
    top = os.path.abspath(os.fspath(run_dir))
    while not os.path.exists(os.path.dirname(top)):
        top = os.path.dirname(top)
    created = not os.path.exists(top)
    try:
        yield
    except BaseException:
        checkpointed = any(
            checkpointing.load_state(folder) is not None
            for folder in run_folders(run_dir)
        )
        if created and not checkpointed and distribution.is_chief():
            shutil.rmtree(top, ignore_errors=True)
        raise


def _remove_files(folder, names):
    for name in names:
        for path in (name, f"{name}.tmp"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, path))


def _remove_if_empty(folder):
    with contextlib.suppress(OSError):  # not empty: foreign files stay
        os.rmdir(folder)

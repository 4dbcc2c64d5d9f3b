"""Atomic file writes: a temporary file in the same folder, then ``os.replace``.

A reader never sees a half-written file, whatever moment a writer is killed at.
Temporary files start with ``.`` and end with ``.tmp``; ``remove_stale_temporaries``
clears those a killed writer left behind.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

TMP_SUFFIX = ".tmp"


class WriteError(OSError):
    """A file or folder could not be written (read-only, full disk, no permission); the message names it."""


def _write_error(path: Path, e: OSError) -> WriteError:
    return WriteError(e.errno, f"{path}: cannot write there ({e.strerror or e}); free disk space, fix the "
                               f"folder's permissions, or point WM_ROOT at a writable copy of the project")


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], binary: bool = True) -> Path:
    """Call ``write(file_object)`` on a temporary file, fsync it, and move it to ``path``.

    Raises:
        WriteError: the folder is not writable or the disk is full (naming ``path``); no temporary file is left.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    except OSError as e:
        raise _write_error(path, e) from e
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(path, e) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_writable(*folders: str | os.PathLike) -> None:
    """Before any work: make each folder and write (then delete) a small file in it, so a read-only or full disk
    is found at once, by name, rather than after hours of compute.

    Raises:
        WriteError: naming the folder.
    """
    for folder in map(Path, folders):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".writable.", suffix=TMP_SUFFIX)
            try:
                os.write(fd, bytes(4096))
                os.fsync(fd)
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as e:
            raise _write_error(folder, e) from e


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` to ``path``, atomically."""
    return atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Pretty JSON to ``path``, atomically."""
    return atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n"), binary=False)


def save_csv(path: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """Rows of dicts to a CSV file with a header (columns in order of first appearance), atomically."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write(path, lambda f: f.write(buffer.getvalue()), binary=False)


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete temporary files left by killed writers in ``folder``; returns how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    stale = [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(TMP_SUFFIX)]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


class RunLockedError(RuntimeError):
    """Another process holds the run folder's lock."""


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike):
    """Hold ``<folder>/.lock`` (an exclusive ``flock``, released when the process dies) while a run writes there;
    a second run on the same folder is refused at once rather than interleaving its writes."""
    folder = Path(folder)
    check_writable(folder)
    with open(folder / ".lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(f"{folder}: another run is using this folder (it holds {folder / '.lock'}); wait for "
                                 f"it to finish, or pass another --name") from None
        try:
            yield folder
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load_error(e: BaseException) -> str:
    """What went wrong reading an ``.npz`` (for messages that name the file): numpy's advice to load with
    ``allow_pickle=True`` is never passed on, since a pickle in a data file could run code."""
    if isinstance(e, ValueError) and "allow_pickle" in str(e):
        return "it holds pickled Python objects, which are never loaded (the file was not written by worldmodels)"
    return f"{type(e).__name__}: {e}"


def load_json(path: str | os.PathLike) -> Any:
    """A JSON file, or a clear error naming it when it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); restore it or delete it to start over") from e

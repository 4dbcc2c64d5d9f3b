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
import stat
import tempfile
import time
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


def _open_lock(path: Path) -> int:
    """Open (creating) the lock file ``path`` without following a link and without blocking on a FIFO: a planted
    ``.lock`` link is refused by name, so no file appears at its target."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as e:
        if path.is_symlink():
            raise WriteError(e.errno, f"{path}: a lock file that is a symbolic link, which is never followed; "
                                      f"delete the link (and check what else in {path.parent} came from "
                                      f"elsewhere)") from None
        if path.exists() and not path.is_file():  # a FIFO without a reader, a device
            raise WriteError(e.errno, f"{path}: a lock file that is not a regular file; delete it") from None
        raise _write_error(path, e) from e
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise WriteError(0, f"{path}: a lock file that is not a regular file; delete it")
    return fd


@contextlib.contextmanager
def _holding(path: Path, timeout: float, busy: str):
    """Hold the lock file ``path`` (an exclusive ``flock``, released when the process dies), waiting up to
    ``timeout`` seconds for another holder (0: not at all), else ``RunLockedError(busy)``."""
    check_writable(path.parent)
    fd = _open_lock(path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunLockedError(busy) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike):
    """Hold ``<folder>/.lock`` while a run writes there; a second run on the same folder is refused at once rather
    than interleaving its writes."""
    folder = Path(folder)
    with _holding(folder / ".lock", 0, f"{folder}: another run is using this folder (it holds {folder / '.lock'}); "
                                       f"wait for it to finish, or pass another --name"):
        yield folder


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, timeout: float = 60.0):
    """Hold the lock file ``path`` for a short critical section, such as writing a release; waits up to ``timeout``
    seconds for another holder, then raises ``RunLockedError`` naming it."""
    path = Path(path)
    with _holding(path, timeout, f"{path}: another process held this lock for over {timeout:.0f} s; wait for it to "
                                 f"finish and run the command again"):
        yield path


MAX_JSON_BYTES = 64 << 20  # a manifest of a million episodes is about 100 MB less than this; cards are KB


def open_regular(path: str | os.PathLike, what: str = "file", limit: int | None = None):
    """``path`` opened for binary reading, if it is a regular file of at most ``limit`` bytes: a device
    (``/dev/zero``), a FIFO, a socket or a folder is refused by name at once, never read or waited on.

    Raises:
        FileNotFoundError: no such file. ValueError: not a regular file, or over ``limit`` (the message names it).
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what}") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read this {what} ({e.strerror or e})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, FIFO or socket"
        raise ValueError(f"{path}: {kind}, not a regular file; a {what} is only read from a regular file")
    if limit is not None and info.st_size > limit:
        os.close(fd)
        raise ValueError(f"{path}: {info.st_size:,} bytes, more than any {what} holds ({limit:,}); pass the right "
                         f"file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


@contextlib.contextmanager
def load_npz(path: str | os.PathLike, what: str = "data file"):
    """``np.load(path, allow_pickle=False)`` of a regular file only (``open_regular``: a FIFO or a device named like
    an episode is refused, never waited on), closed on leaving."""
    with open_regular(path, what) as f, np.load(f, allow_pickle=False) as npz:
        yield npz


@contextlib.contextmanager
def open_zip(path: str | os.PathLike, what: str = "data file"):
    """``zipfile.ZipFile`` of a regular file only (``open_regular``), closed on leaving."""
    import zipfile

    with open_regular(path, what) as f, zipfile.ZipFile(f) as z:
        yield z


def load_error(e: BaseException) -> str:
    """What went wrong reading an ``.npz`` (for messages that name the file): numpy's advice to load with
    ``allow_pickle=True`` is never passed on, since a pickle in a data file could run code."""
    if isinstance(e, ValueError) and "allow_pickle" in str(e):
        return "it holds pickled Python objects, which are never loaded (the file was not written by worldmodels)"
    return f"{type(e).__name__}: {e}"


def load_json(path: str | os.PathLike) -> Any:
    """A JSON file (a regular file of at most ``MAX_JSON_BYTES``), or a clear error naming it when it is not
    valid JSON."""
    path = Path(path)
    try:
        with open_regular(path, "JSON file", MAX_JSON_BYTES) as f:
            return json.loads(f.read().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        fix = "restore it (git checkout, or the release it came with)" if under_checkpoints(path) else \
            "restore it or delete it to start over"
        raise ValueError(f"{path}: not valid JSON ({e}); {fix}") from e


def under_checkpoints(path: Path) -> bool:
    """Whether ``path`` lies under the releases' folder, where nothing is ever to be deleted to start over."""
    from . import paths

    try:
        return path.resolve().is_relative_to(paths.checkpoint_dir().resolve())
    except OSError:
        return False


def load_card(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON card (beside a release, or a rollout folder's ``card.json``): a JSON object, or a clear error naming
    it."""
    card = load_json(path)
    if not isinstance(card, dict):
        raise ValueError(f"{path}: a card is a JSON object, this one is a {type(card).__name__}; restore it (git "  # noqa: TRY004 - a bad file, which the command line reports as such
                         f"checkout, or the release it came with)")
    for key in ("evaluation", "data", "metrics", "config"):
        if key in card and card[key] is not None and not isinstance(card[key], dict):
            raise ValueError(f"{path}: its {key!r} is not a JSON object; restore the card (git checkout, or the "
                             f"release it came with)")
    return card


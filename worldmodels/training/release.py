"""The one release path: a model file and its JSON card, written together, never over another release.

A release is ``checkpoints/<stage>/<name>.pt`` (the model, with its card inside) and ``<name>.json`` (the
same card, for people and tools). ``write`` is the only function that makes one:

- an existing release is refused unless ``force`` (agents pin V and M by SHA-256: replacing one orphans them);
- the model file is written first, then the card; a kill between the two leaves a model file whose card is
  missing, and the same command completes it from the card inside the model file;
- the card records the command it was given (``None`` from Python), never ``sys.argv``;
- the check and both writes happen under the release's lock (``.<name>.lock`` beside it), so two releases of one
  name at once cannot interleave: the second waits, then finds the first's release and is refused.

Every card has the same top-level keys: ``kind``, ``release``, ``config`` (the run's own settings), ``data``
(what it was trained on, read from the data's own records), ``training`` (epochs or generations, seconds,
the device it trained on), ``metrics``, ``parameters``, ``command`` and ``versions``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..core import checkpoint
from ..core.provenance import versions
from ..core.storage import check_writable, file_lock, save_json

log = logging.getLogger(__name__)

class ReleaseExistsError(FileExistsError):
    """A release would replace another; the message says how to keep both or replace it."""


def card(kind: str, release: str, config: dict[str, Any], data: dict[str, Any], training: dict[str, Any],
         metrics: dict[str, Any], parameters: int, command: str | None, **extra: Any) -> dict[str, Any]:
    """A release card (see the module docstring); ``extra`` adds stage-specific keys."""
    return {"kind": kind, "release": release, "config": config, "data": data, "training": training,
            "metrics": metrics, "parameters": parameters, "command": command, "versions": versions(), **extra}


def exists(path: str | Path) -> bool:
    """Whether ``path`` holds a complete release (model file and card)."""
    path = Path(path)
    return path.exists() and path.with_suffix(".json").exists()


def check_free(path: str | Path, force: bool = False) -> None:
    """Refuse early (before any work) to replace a complete release without ``force``, or to write where the
    release cannot be written (``storage.check_writable``)."""
    path = Path(path)
    check_writable(path.parent)
    if exists(path) and not force:
        raise ReleaseExistsError(
            f"{path} is already released (with {path.with_suffix('.json').name}); agents pin models by SHA-256, so "
            f"replacing it would orphan them. Release under another name, or pass --force to replace it")


def complete(path: str | Path) -> Path | None:
    """Finish a release whose card was never written (killed between the two files): the card is written from
    the one inside the model file. Returns the card's path, or None when there was nothing to finish."""
    path = Path(path)
    if not path.exists() or path.with_suffix(".json").exists():
        return None
    inside = checkpoint.load(path).get("card")
    if inside is None:
        return None
    return save_json(path.with_suffix(".json"), inside)


def write(path: str | Path, payload: dict[str, Any], release_card: dict[str, Any], force: bool = False) -> Path:
    """Write a release: ``payload`` (a checkpoint dict) with ``release_card`` inside, then the card beside it.

    Raises:
        ReleaseExistsError: ``path`` is a complete release and ``force`` is off.
    """
    path = Path(path)
    with file_lock(lock_path(path)):
        check_free(path, force)
        if not force and complete(path) is not None:
            log.warning("%s: finished an interrupted release (its card was missing); pass --force to replace it",
                        path)
            return path
        checkpoint.save(path, {**payload, "card": release_card})
        save_json(path.with_suffix(".json"), json.loads(json.dumps(release_card)))
    return path


def lock_path(path: str | Path) -> Path:
    """The lock of the release ``path``: ``.<name>.lock`` beside it (git-ignored)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.lock")

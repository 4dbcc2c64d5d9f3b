"""Provenance: file hashes, portable paths and package versions, for manifests and cards."""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path
from typing import Any

from . import paths
from .storage import load_card, open_regular, save_json

DISTRIBUTIONS = ("worldmodels", "gymnasium", "numpy", "box2d", "pygame-ce", "opencv-python-headless", "torch")


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (agents pin their V and M by it)."""
    h = hashlib.sha256()
    with open_regular(path, "file to hash") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def digest(path: str | Path) -> str:
    """The SHA-256 of a file, or of a folder's files (names and bytes, in name order): what a run pins of an input
    it read, so that a release can refuse one that changed under it."""
    path = Path(path)
    if not path.is_dir():
        return sha256(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if not p.name.startswith(".")):
        h.update(f"{f.name}\0{sha256(f)}\0".encode())
    return h.hexdigest()


def changed_inputs(recorded: dict[str, str] | None) -> list[str]:
    """Of the inputs a run pinned (portable path -> ``digest``), those whose bytes are not the same now (or that
    are gone); ``[]`` when the run pinned none (it was begun before runs pinned their inputs)."""
    out = []
    for name, expected in (recorded or {}).items():
        path = resolve(name)
        if not path.exists() or digest(path) != expected:
            out.append(name)
    return out


def portable(path: str | Path) -> str:
    """A path relative to the project root when it lies inside it (so files move with the repo)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(paths.root()))
    except ValueError:
        return str(path)


def resolve(path: str | Path) -> Path:
    """The inverse of ``portable``: a relative path is taken from the project root."""
    return Path(path) if Path(path).is_absolute() else paths.root() / path


def update_card(model_path: str | Path, key: str, value: Any) -> Path:
    """Set ``key`` in the JSON card beside a released model file (``<name>.json``); returns the card's path.

    Raises:
        FileNotFoundError: the model has no card (only releases have one).
    """
    card_path = Path(model_path).with_suffix(".json")
    if not card_path.exists():
        raise FileNotFoundError(f"{card_path}: no card beside {Path(model_path).name}; only releases "
                                f"(checkpoints/<stage>/<name>.pt) have cards")
    card = load_card(card_path)
    card[key] = value
    return save_json(card_path, card)


def versions() -> dict[str, str]:
    """Installed versions of the packages that decide what the pipeline computes."""
    out = {}
    for dist in DISTRIBUTIONS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out

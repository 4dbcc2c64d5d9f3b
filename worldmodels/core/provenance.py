"""Provenance: file hashes, portable paths and package versions, for manifests and cards."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any

from . import paths
from .storage import save_json

DISTRIBUTIONS = ("worldmodels", "gymnasium", "numpy", "box2d", "pygame-ce", "opencv-python-headless", "torch")


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (agents pin their V and M by it)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    card = json.loads(card_path.read_text())
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

"""Checkpoints: ``save`` writes atomically, ``load`` reads with ``weights_only=True``.

A checkpoint is a dict of plain types and tensors::

    {"kind": "vae" | "gumbel" | ..., "model": state_dict, "config": Config as a dict,
     "history": [per-epoch dicts], "versions": {...}, ...anything else plain}

so a model rebuilds from its file alone, and loading never runs pickled code.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from .storage import atomic_write


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or of the wrong kind; the message names the file."""


def save(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """``torch.save`` payload to ``path`` atomically (a killed save leaves the old file intact)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write(path, lambda f: f.write(buffer.getvalue()))


def load(path: str | os.PathLike, kind: str | None = None, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by ``save``, checking its ``kind``.

    Raises:
        CheckpointError: the file is missing, truncated or corrupt, or holds another kind of model.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint; train it first or pass the path of a shipped one "
                              f"(checkpoints/<kind>/<name>.pt)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises RuntimeError, EOFError, UnpicklingError, zipfile errors...
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e}); "
                              f"delete it and train again, or restore it from git") from e
    if not isinstance(payload, dict) or "model" not in payload:
        raise CheckpointError(f"{path}: not a worldmodels checkpoint (no 'model' entry)")
    if kind is not None and payload.get("kind") != kind:
        raise CheckpointError(f"{path}: holds a {payload.get('kind')!r} model, expected {kind!r}")
    if not isinstance(payload.get("config"), dict):
        raise CheckpointError(f"{path}: a checkpoint without its config; a model is rebuilt from the config saved "
                              f"with it, so this file cannot be used: restore it (git checkout, or a release), or "
                              f"train it again")
    return payload

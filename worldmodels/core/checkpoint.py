"""Checkpoints: ``save`` writes atomically, ``load`` reads with ``weights_only=True``.

A checkpoint is a dict of plain types and tensors::

    {"kind": "vae" | "gumbel" | ..., "model": state_dict, "config": Config as a dict,
     "history": [per-epoch dicts], "versions": {...}, ...anything else plain}

so a model rebuilds from its file alone, and loading never runs pickled code.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from . import paths
from .storage import atomic_write, open_regular, under_checkpoints


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or of the wrong kind; the message names the file."""


def save(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """``torch.save`` payload to ``path`` atomically (a killed save leaves the old file intact)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write(path, lambda f: f.write(buffer.getvalue()))


MAX_BYTES = 2 << 30  # the largest model file worldmodels writes is a few MB; anything near this is not one


def remedy(path: Path) -> str:
    """What to do about a bad checkpoint: a release (under ``checkpoints/``) is restored, never deleted; a run's
    own file may be deleted and trained again."""
    if under_checkpoints(path):
        return (f"restore the release (git checkout -- {path.resolve().relative_to(paths.root().resolve())}, or "
                f"copy it again from where it came)")
    return "restore it from where it came, or delete it and train again"


def _why(e: BaseException) -> str:
    """torch's reason a file did not load, without its advice to load with ``weights_only=False`` (which would run
    any code a planted pickle holds)."""
    text = str(e)
    if "weights_only" in text or isinstance(e, pickle.UnpicklingError):
        return "it holds Python objects other than tensors and plain types, which are never loaded (it was not " \
               "written by worldmodels, or was changed since)"
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"


def load(path: str | os.PathLike, kind: str | None = None, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by ``save``, checking its ``kind`` and structure.

    Raises:
        CheckpointError: the file is missing, not a regular file, truncated or corrupt, not a dict with a
            ``model`` state dict and a ``config`` dict, or holds another kind of model.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint; train it first or pass the path of a shipped one "
                              f"(checkpoints/<kind>/<name>.pt)")
    try:
        with open_regular(path, "checkpoint", MAX_BYTES) as f:
            if f.read(4) != b"PK\x03\x04":  # torch.save writes a zip archive
                raise CheckpointError(f"{path}: not a PyTorch checkpoint (not a zip archive: truncated, or "
                                      f"another kind of file); {remedy(path)}")
            f.seek(0)
            payload = torch.load(f, map_location=map_location, weights_only=True)
    except CheckpointError:
        raise
    except ValueError as e:
        if str(e).startswith(str(path)):  # open_regular's own message
            raise CheckpointError(str(e)) from None
        raise CheckpointError(f"{path}: unreadable checkpoint: {_why(e)}; {remedy(path)}") from None
    except Exception as e:  # torch raises RuntimeError, EOFError, UnpicklingError, zipfile errors...
        raise CheckpointError(f"{path}: unreadable checkpoint: {_why(e)}; {remedy(path)}") from e
    if not isinstance(payload, dict) or "model" not in payload:
        raise CheckpointError(f"{path}: not a worldmodels checkpoint (no 'model' entry); {remedy(path)}")
    model = payload["model"]
    if not isinstance(model, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in model.items()):
        raise CheckpointError(f"{path}: its 'model' is not a state dict (names to tensors); {remedy(path)}")
    bad = [k for k, v in model.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{path}: its weights hold NaN or infinite values ({', '.join(bad[:3])}"
                              f"{', ...' if len(bad) > 3 else ''}): the run that wrote it diverged; {remedy(path)}")
    if kind is not None and payload.get("kind") != kind:
        raise CheckpointError(f"{path}: holds a {payload.get('kind')!r} model, expected {kind!r}")
    if not isinstance(payload.get("config"), dict):
        raise CheckpointError(f"{path}: a checkpoint without its config; a model is rebuilt from the config saved "
                              f"with it, so this file cannot be used: {remedy(path)}")
    return payload


def model_section(payload: dict[str, Any], where: str | os.PathLike, name: str) -> dict[str, Any]:
    """The model's own config section of a checkpoint's ``config``: ``config["model"]`` in a run's format, or
    ``config[name]`` in the first releases' (the whole ``Config``); a ``CheckpointError`` naming ``where`` when
    neither is a dict."""
    config = payload["config"]
    section = config.get("model") if "model" in config and "training" in config else config.get(name)
    if not isinstance(section, dict):
        raise CheckpointError(f"{where}: its config holds no {name!r} model section (a dict of the model's "
                              f"settings), so the model cannot be rebuilt; {remedy(Path(where))}")
    return section


def rebuild(where: str | os.PathLike, build):
    """``build()`` (a model from a checkpoint's config), with a malformed config reported as a ``CheckpointError``
    that names ``where``."""
    try:
        return build()
    except (TypeError, KeyError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{where}: its config does not describe a model this version builds ({e}); "
                              f"{remedy(Path(where))}") from None

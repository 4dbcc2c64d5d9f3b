"""Where data and checkpoints live: repo-root-relative, overridable with ``WM_ROOT``.

Nothing in the package reads paths relative to the current directory, so the
notebooks, the command line and the tests agree on where files are.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def root() -> Path:
    """The project root: ``$WM_ROOT`` if set, else the folder holding the package."""
    env = os.environ.get("WM_ROOT")
    return Path(env).expanduser().resolve() if env else PACKAGE_ROOT


def data_dir() -> Path:
    return root() / "data"


def rollout_dir(name: str) -> Path:
    """``data/rollouts/<name>/``: one npz per episode plus ``manifest.json``."""
    return data_dir() / "rollouts" / name


def checkpoint_dir() -> Path:
    return root() / "checkpoints"


def figure_dir(scale: str = "book") -> Path:
    """``figures/``, or ``figures/smoke/`` for smoke runs (git-ignored) so tests never overwrite the real ones."""
    return root() / "figures" / "smoke" if scale == "smoke" else root() / "figures"

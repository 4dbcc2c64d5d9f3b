"""Where every file lives: repo-root-relative, overridable with ``WM_ROOT``.

Nothing in the package reads paths relative to the current directory, so the notebooks, the command line
and the tests agree on where files are. Every path the pipeline reads or writes is built here::

    data/rollouts/<rollouts>/<seed>.npz, manifest.json        collect
    data/latents/<rollouts>_<latent>.npz                      encode (latent: vae | gumbel)
    data/latents/<rollouts>_<latent>/                         encode of a collection encoded as collected (memory-mapped)
    data/runs/<latent>_<rollouts>/                            V training runs
    data/runs/mdnrnn_<latent>_<rollouts>/                     M training runs
    data/runs/controller_<latent>_<name>/                     evolution runs
    data/runs/iterate_<latent>_<name>/                        iterative loops (rounds k: <name>_r<k> above)
    data/evaluations/<agent>.json                             evaluate
    data/dream_check/<M>.json, real_<key>.json                dream-check results, cached real returns
    checkpoints/<latent>/<name>.pt + .json                    V releases and cards
    checkpoints/mdnrnn/<latent>_<name>.pt + .json             M releases
    checkpoints/controller/<latent>_<name>.pt + .json         agents
"""

from __future__ import annotations

import os
from pathlib import Path

from .validation import check_name

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent


def root() -> Path:
    """The project root: ``$WM_ROOT`` if set, else the folder holding the package."""
    env = os.environ.get("WM_ROOT")
    return Path(env).expanduser().resolve() if env else PACKAGE_ROOT


def data_dir() -> Path:
    return root() / "data"


def checkpoint_dir() -> Path:
    return root() / "checkpoints"


def rollout_dir(name: str) -> Path:
    """``data/rollouts/<name>/``: one npz per episode plus ``manifest.json``."""
    check_name(name, "rollout folder")
    return data_dir() / "rollouts" / name


def latents_path(latent: str, rollouts: str) -> Path:
    """The rollouts encoded by a V of kind ``latent``: the folder ``latents_store`` where it exists (a collection
    encoded as collected), else the file ``data/latents/<rollouts>_<latent>.npz``."""
    store = latents_store(latent, rollouts)
    return store if store.is_dir() else data_dir() / "latents" / f"{rollouts}_{latent}.npz"


def latents_store(latent: str, rollouts: str) -> Path:
    """``data/latents/<rollouts>_<latent>/``: memory-mapped latents of a collection encoded as collected."""
    check_name(latent, "latent kind")
    check_name(rollouts, "rollout folder or run")
    return data_dir() / "latents" / f"{rollouts}_{latent}"


def vision_run(latent: str, rollouts: str) -> Path:
    check_name(latent, "latent kind")
    check_name(rollouts, "rollout folder or run")
    return data_dir() / "runs" / f"{latent}_{rollouts}"


def mdnrnn_run(latent: str, rollouts: str) -> Path:
    check_name(latent, "latent kind")
    check_name(rollouts, "rollout folder or run")
    return data_dir() / "runs" / f"mdnrnn_{latent}_{rollouts}"


def controller_run(latent: str, name: str) -> Path:
    check_name(latent, "latent kind")
    check_name(name, "run or release name")
    return data_dir() / "runs" / f"controller_{latent}_{name}"


def iterate_run(latent: str, name: str) -> Path:
    check_name(latent, "latent kind")
    check_name(name, "run or release name")
    return data_dir() / "runs" / f"iterate_{latent}_{name}"


def vision_release(latent: str, name: str) -> Path:
    check_name(latent, "latent kind")
    check_name(name, "run or release name")
    return checkpoint_dir() / latent / f"{name}.pt"


def mdnrnn_release(latent: str, name: str) -> Path:
    check_name(latent, "latent kind")
    check_name(name, "run or release name")
    return checkpoint_dir() / "mdnrnn" / f"{latent}_{name}.pt"


def controller_release(latent: str, name: str) -> Path:
    check_name(latent, "latent kind")
    check_name(name, "run or release name")
    return checkpoint_dir() / "controller" / f"{latent}_{name}.pt"


def evaluation_path(agent: str | os.PathLike) -> Path:
    """``data/evaluations/<stem>.json`` for a release ``checkpoints/controller/<stem>.pt``, and
    ``data/evaluations/<folder>_<stem>.json`` for any other agent file (``controller_vae_x_mean.json`` for
    ``data/runs/controller_vae_x/mean.pt``), so the ``mean.pt`` of two runs do not share one."""
    agent = Path(agent).resolve()
    if agent.parent == (checkpoint_dir() / "controller").resolve():
        return data_dir() / "evaluations" / f"{agent.stem}.json"
    return data_dir() / "evaluations" / f"{agent.parent.name}_{agent.stem}.json"


def dream_check_dir() -> Path:
    """``data/dream_check/``: dream-check results and the cached real returns of its panels."""
    return data_dir() / "dream_check"


def dream_score_dir() -> Path:
    """``data/dream_scores/``: ``dream-score`` results."""
    return data_dir() / "dream_scores"


def figure_dir(folder: str = "figures") -> Path:
    """Where notebooks write figures: ``figures/`` (``figures/smoke/``, git-ignored, for the smoke preset)."""
    return root() / folder

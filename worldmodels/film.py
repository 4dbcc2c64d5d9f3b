"""Film an agent for the notebooks: one episode on a held-out track, its filmstrip and its mp4, in one call.

    episode, video = film(paths.controller_release("vae", "book"), seed=900_000, name="05_agent", figures="figures")

The episode is cached (``record_episode(..., cache=True)``), so a second notebook that films the same agent on the
same track reads it back instead of driving it again.

**The same film on any machine.** An agent's episode is chaotic: V and M run through torch's CPU kernels, whose
sums are ordered differently on processors with other vector units (AVX-512 or AMX against AVX2 only), so z moves in
its last bits, an action moves by 1e-7, and a few hundred steps later the car is elsewhere (a fresh clone on a
2-core AMD EPYC redrew every agent film, mean difference 4.2/255). A shipped agent therefore ships its filmed
episode as its actions: ``<agent>.film.npz`` beside the agent file (``ship_film``, or ``evaluate --ship-film``),
about 12 kB. ``film`` replays those actions in the env, whose Box2D physics and drawing do not depend on torch, and
checks that every reward comes back as recorded; where one does not (another Box2D build), it says so and drives the
agent live instead. The return printed and the frames drawn are then those of the machine that made the release.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from . import viz
from .agent.episodes import record_episode
from .agent.files import Agent
from .core import paths
from .core.provenance import portable, sha256, versions
from .core.storage import load_npz, save_npz
from .core.video import write_video

log = logging.getLogger(__name__)

FILM = ".film.npz"  # suffix of an agent's shipped episode: checkpoints/controller/<name>.film.npz
RENDERER = "stock"  # what films are drawn with (gymnasium's own 600x400 view)


def film_path(agent_path: str | Path) -> Path:
    """Where the shipped episode of the agent file ``agent_path`` lies."""
    agent_path = Path(agent_path)
    return agent_path.with_name(agent_path.stem + FILM)


def ship_film(agent_path: str | Path, seed: int, max_steps: int = 1000, episode: dict[str, Any] | None = None,
              command: str | None = None) -> Path:
    """Drive the agent once on track ``seed`` (or take ``episode``, ``record_episode``'s, driven so) and write its
    actions and rewards beside the agent file, with the agent's SHA-256 and the versions it ran on."""
    agent_path = Path(agent_path)
    if episode is None:
        episode = record_episode(Agent.load(agent_path), seed, max_steps=max_steps, renderer=RENDERER, cache=True)
    meta = {"agent": portable(agent_path), "agent_sha256": sha256(agent_path), "seed": seed, "max_steps": max_steps,
            "renderer": RENDERER, "return": round(float(episode["return"]), 2), "command": command or "",
            **{f"version_{k}": v for k, v in versions().items()}}
    return save_npz(film_path(agent_path), actions=np.asarray(episode["actions"], np.float32),
                    rewards=np.asarray(episode["rewards"], np.float64),
                    **{k: np.asarray(v) for k, v in meta.items()})


def shipped_actions(agent_path: str | Path, seed: int, max_steps: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(actions (T, 3), rewards (T,)) of the agent's shipped episode on track ``seed``, or None where there is none
    for this agent file (its bytes), this track and this step limit."""
    path = film_path(agent_path)
    if not path.is_file():
        return None
    try:
        with load_npz(path, "shipped film") as f:
            matches = (str(f["agent_sha256"]) == sha256(agent_path) and int(f["seed"]) == seed
                       and int(f["max_steps"]) == max_steps and str(f["renderer"]) == RENDERER)
            actions, rewards = np.asarray(f["actions"]), np.asarray(f["rewards"])
    except (OSError, ValueError, KeyError) as e:
        log.warning("%s: unreadable (%s); the agent is driven live", path, e)
        return None
    if not matches:
        return None
    if actions.ndim != 2 or actions.shape[1] != 3 or rewards.shape != (len(actions),) or not np.isfinite(actions).all():
        log.warning("%s: actions %s and rewards %s do not make an episode; the agent is driven live", path,
                    actions.shape, rewards.shape)
        return None
    return actions, rewards


def film(agent: str | Path | Agent, seed: int, name: str, figures: str = "figures", max_steps: int = 1000,
         video: bool = True) -> tuple[dict[str, Any], Path | None]:
    """Drive ``agent`` (a file or a loaded ``Agent``) once on track ``seed``, or replay its shipped episode (see the
    module's docstring); save ``<name>_filmstrip.png`` (8 frames) and, with ``video``, ``<name>_driving.mp4``
    (50 fps) under ``figures``.

    Returns:
        the episode (``record_episode``'s: ``frames`` uint8 (T, 400, 600, 3), ``actions``, ``rewards``,
        ``return``; ``replayed`` True where the shipped actions were replayed) and the mp4's path (None without
        ``video``).
    """
    shipped = None if isinstance(agent, Agent) else shipped_actions(agent, seed, max_steps)
    loaded = agent if isinstance(agent, Agent) else Agent.load(agent)
    episode = None
    if shipped is not None:
        actions, rewards = shipped
        episode = record_episode(loaded, seed, max_steps=max_steps, renderer=RENDERER, progress=True, cache=True,
                                 actions=actions)
        if np.array_equal(episode["rewards"], rewards):
            episode = {**episode, "replayed": True}
        else:
            log.warning("%s: replayed in this env, the shipped actions earn other rewards than they did (another "
                        "Box2D build?); the agent is driven live instead", film_path(agent))
            episode = None
    if episode is None:
        episode = {**record_episode(loaded, seed, max_steps=max_steps, renderer=RENDERER, progress=True, cache=True),
                   "replayed": False}
    frames = episode["frames"]
    fig = viz.filmstrip(frames, every=max(1, len(frames) // 8), max_frames=8, size=2.4)
    viz.save_figure(fig, f"{name}_filmstrip", figures)
    path = None
    if video:
        path = write_video(frames, paths.figure_dir(figures) / f"{name}_driving.mp4", fps=50, scale=1, progress=True)
    return episode, path

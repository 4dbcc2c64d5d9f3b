"""Film an agent for the notebooks: one episode on a held-out track, its filmstrip and its mp4, in one call.

    episode, video = film(paths.controller_release("vae", "book"), seed=900_000, name="05_agent", figures="figures")

The episode is cached (``record_episode(..., cache=True)``), so a second notebook that films the same agent on the
same track reads it back instead of driving it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import viz
from .agent.episodes import record_episode
from .agent.files import Agent
from .core import paths
from .core.video import write_video


def film(agent: str | Path | Agent, seed: int, name: str, figures: str = "figures", max_steps: int = 1000,
         video: bool = True) -> tuple[dict[str, Any], Path | None]:
    """Drive ``agent`` (a file or a loaded ``Agent``) once on track ``seed``; save ``<name>_filmstrip.png`` (8
    frames) and, with ``video``, ``<name>_driving.mp4`` (50 fps) under ``figures``.

    Returns:
        the episode (``record_episode``'s: ``frames`` uint8 (T, 400, 600, 3), ``actions``, ``rewards``,
        ``return``) and the mp4's path (None without ``video``).
    """
    agent = agent if isinstance(agent, Agent) else Agent.load(agent)
    episode = record_episode(agent, seed, max_steps=max_steps, progress=True, cache=True)
    frames = episode["frames"]
    fig = viz.filmstrip(frames, every=max(1, len(frames) // 8), max_frames=8, size=2.4)
    viz.save_figure(fig, f"{name}_filmstrip", figures)
    path = None
    if video:
        path = write_video(frames, paths.figure_dir(figures) / f"{name}_driving.mp4", fps=50, scale=1, progress=True)
    return episode, path

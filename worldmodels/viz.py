"""Plotting functions for the notebooks: pure (data in, Figure out) plus ``save_figure``.

Frames are uint8 (H, W, 3) arrays as stored in the rollouts.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation

from . import paths
from .storage import atomic_write

ACTION_NAMES = ("steer", "gas", "brake")


def frame_grid(frames: np.ndarray, ncols: int = 8, titles: Sequence[str] | None = None, size: float = 1.4):
    """A grid of frames (N, H, W, 3) with optional titles."""
    n = len(frames)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.1), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(frames[i], interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    return fig


def filmstrip(frames: np.ndarray, every: int = 10, max_frames: int = 16, size: float = 1.2):
    """Every ``every``-th frame of one episode (T + 1, H, W, 3) in a row, labelled by step."""
    steps = np.arange(0, len(frames), every)[:max_frames]
    fig, axes = plt.subplots(1, len(steps), figsize=(len(steps) * size, size * 1.3), squeeze=False)
    for ax, t in zip(axes[0], steps):
        ax.imshow(frames[t], interpolation="nearest")
        ax.set_title(f"t={t}", fontsize=7)
        ax.axis("off")
    fig.tight_layout()
    return fig


def action_reward_traces(action: np.ndarray, reward: np.ndarray, title: str = ""):
    """Actions (T, 3) and rewards (T,) of one episode against time, with the running return."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 4.2), sharex=True)
    for i, name in enumerate(ACTION_NAMES):
        axes[0].plot(action[:, i], label=name, lw=1.2)
    axes[0].set_ylabel("action")
    axes[0].set_ylim(-1.1, 1.1)
    axes[0].legend(loc="upper right", fontsize=8, ncol=3)
    axes[1].plot(reward, lw=1.0, color="tab:gray", label="reward")
    twin = axes[1].twinx()
    twin.plot(np.cumsum(reward), color="tab:red", lw=1.4, label="return so far")
    twin.set_ylabel("return so far", color="tab:red")
    axes[1].set_ylabel("reward")
    axes[1].set_xlabel("step")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    return fig


def renderer_comparison(frames: dict[str, np.ndarray]):
    """Frames of the same state from several renderers, and |difference| to the first."""
    names = list(frames)
    base = frames[names[0]].astype(np.int16)
    fig, axes = plt.subplots(2, len(names), figsize=(2.4 * len(names), 5))
    for j, name in enumerate(names):
        axes[0, j].imshow(frames[name], interpolation="nearest")
        axes[0, j].set_title(name)
        diff = np.abs(frames[name].astype(np.int16) - base).max(-1)
        axes[1, j].imshow(diff, cmap="magma", vmin=0, vmax=64, interpolation="nearest")
        axes[1, j].set_title(f"|{name} - {names[0]}|, mean {np.abs(frames[name] - base).mean():.2f}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def animate(frames: np.ndarray, fps: int = 25, scale: float = 3.0):
    """A matplotlib animation of frames (T, H, W, 3); show with ``HTML(anim.to_jshtml())``."""
    h, w = frames.shape[1:3]
    fig = plt.figure(figsize=(w * scale / 100, h * scale / 100), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.axis("off")
    image = ax.imshow(frames[0], interpolation="nearest")
    anim = FuncAnimation(fig, lambda i: [image.set_data(frames[i])], frames=len(frames), interval=1000 / fps)
    plt.close(fig)
    return anim


def save_figure(fig, name: str, scale: str) -> Path:
    """Write ``fig`` as ``<figures>/<name>.png`` atomically (smoke runs go to ``figures/smoke``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return atomic_write(paths.figure_dir(scale) / f"{name}.png", lambda f: f.write(buffer.getvalue()))

"""Fakes for plumbing tests: a CarRacing-shaped env without Box2D, and tiny untrained V and M files.

Tests about batching, task pools, seeds and files use these, so they need neither the physics nor the shipped
checkpoints; the tests that compare against the real env stay, as the fidelity guarantee.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import gymnasium as gym
import numpy as np
import torch

from worldmodels.core import checkpoint
from worldmodels.core.config import MDNRNNConfig, VAEConfig, to_dict
from worldmodels.models.mdnrnn import MDNRNN
from worldmodels.models.vae import ConvVAE

TILES = 50


class FakeCarRacing(gym.Env):
    """CarRacing's interface: uint8 (96, 96, 3) states, actions (steer, gas, brake), -0.1 a step plus 1000 / 50
    for each new tile, 1000 steps at most. A car on a 1-D track of 50 tiles whose speed follows gas - brake; the
    track's colours depend on the seed, so every seed is its own track."""

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 50}
    observation_space = gym.spaces.Box(0, 255, (96, 96, 3), np.uint8)
    action_space = gym.spaces.Box(np.array([-1, 0, 0], np.float32), np.array([1, 1, 1], np.float32))

    def __init__(self, render_mode: str | None = None):
        self.render_mode = render_mode

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        self.colours = self.np_random.integers(0, 256, (TILES + 1, 3), dtype=np.uint8)
        self.position, self.speed, self.t, self.visited = 0.0, 0.0, 0, 0
        return self._state(), {}

    def step(self, action):
        steer, gas, brake = np.clip(np.asarray(action, np.float64), self.action_space.low, self.action_space.high)
        self.speed = max(0.0, 0.9 * self.speed + 0.1 * (gas - brake) - 0.02 * abs(steer))
        self.position = min(float(TILES), self.position + self.speed)
        self.t += 1
        reward = -0.1
        if int(self.position) > self.visited:
            reward += 1000.0 / TILES * (int(self.position) - self.visited)
            self.visited = int(self.position)
        terminated = self.visited >= TILES
        return self._state(), reward, terminated, self.t >= 1000, {}

    def _state(self) -> np.ndarray:
        state = np.empty((96, 96, 3), np.uint8)
        state[:] = self.colours[int(self.position)]
        state[84:] = min(255, int(255 * self.speed))  # an "indicator bar" that shows the speed
        return state

    def render(self):
        """A 600x400 video frame (the track's colour under the car)."""
        return np.broadcast_to(self._state()[0, 0], (400, 600, 3)).copy()


def tiny_world_model(root: Path, hidden_size: int = 16, seed: int = 0) -> tuple[Path, Path]:
    """An untrained V (the paper's ConvVAE) and a small untrained M (H = ``hidden_size``) saved under
    ``root/checkpoints`` as training runs save them: (vision, mdnrnn) paths."""
    torch.manual_seed(seed)
    vision, mdnrnn = ConvVAE(VAEConfig()), MDNRNN(MDNRNNConfig(hidden_size=hidden_size))
    paths = root / "checkpoints" / "vae" / "tiny.pt", root / "checkpoints" / "mdnrnn" / "vae_tiny.pt"
    checkpoint.save(paths[0], {"kind": "vae", "model": vision.state_dict(),
                               "config": {"model": to_dict(VAEConfig()), "training": {}},
                               "input_spec": {"frame_size": 64, "crop": True}})
    checkpoint.save(paths[1], {"kind": "mdnrnn", "model": mdnrnn.state_dict(),
                               "config": {"model": to_dict(mdnrnn.cfg), "training": {}}})
    return paths

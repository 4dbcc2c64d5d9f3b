"""The ``agent`` collection policy: a trained agent plus Gaussian action noise (the paper's iterative data).

Rollouts from a controller that drives reach the parts of the track a random policy never sees (fast
corners, long straights, the far side of the track): the paper's iterative procedure collects new data
this way and retrains V and M on it. ``make_policy`` is what ``collect`` takes to know this policy too.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..core.config import CollectConfig
from ..core.provenance import resolve
from ..world.policies import ACTION_HIGH, ACTION_LOW, Policy
from ..world.policies import make_policy as builtin_policy
from .acting import WorldModelAgent
from .files import load_agent_file


class AgentPolicy:
    """A trained agent (V + M + C) with Gaussian noise on its actions, clipped to the action space."""

    _agents: ClassVar[dict[str, tuple]] = {}  # one loaded agent per file, kept for the life of a worker

    def __init__(self, agent_file: str | None, noise: float):
        if not agent_file:
            raise ValueError("policy 'agent' needs an agent file: --agent checkpoints/controller/<latent>_<name>.pt")
        if agent_file not in self._agents:
            spec, params, _ = load_agent_file(resolve(agent_file))
            self._agents[agent_file] = (WorldModelAgent(spec), params)
        self.agent, self.params = self._agents[agent_file]
        self.noise = noise
        self.rng = np.random.default_rng(0)

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.agent.reset(1)

    def act(self, obs: np.ndarray, t: int) -> np.ndarray:
        action = self.agent.act(obs[None], self.params[None])[0]
        action = action + self.rng.normal(0.0, self.noise, 3).astype(np.float32)
        return np.clip(action, ACTION_LOW, ACTION_HIGH)


def make_policy(cfg: CollectConfig) -> Policy:
    """Every collection policy: ``agent`` here, the others from ``worldmodels.world.policies``."""
    if cfg.policy == "agent":
        return AgentPolicy(cfg.agent, cfg.action_noise)
    return builtin_policy(cfg)

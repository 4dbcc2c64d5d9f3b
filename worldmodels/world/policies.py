"""Data-collection policies: ``reset`` per episode, then ``act`` per step.

``random`` is the book's (a uniform action held for ``action_refresh`` steps), ``brownian`` a random walk.
The ``agent`` policy (a trained controller plus noise, the paper's iterative data) needs the agent, a layer
above this one: ``worldmodels.agent.policy.make_policy`` knows it as well as these two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..core.config import CollectConfig

AGENT_POLICIES = ("agent", "mixed")  # policies that act through an agent file (``worldmodels.agent.policy``)
ACTION_LOW = np.array([-1.0, 0.0, 0.0], dtype=np.float32)
ACTION_HIGH = np.array([1.0, 1.0, 1.0], dtype=np.float32)


class Policy(Protocol):
    """A data-collection policy: ``reset`` per episode, then ``act`` per step."""

    def reset(self, rng: np.random.Generator) -> None: ...

    def act(self, obs: np.ndarray, t: int) -> np.ndarray:
        """obs: uint8 (96, 96, 3) env frame; returns float32 (3,) inside the action space."""
        ...


class RandomRefreshPolicy:
    """The book's policy: a uniformly random action, redrawn every ``refresh`` steps."""

    def __init__(self, refresh: int = 20):
        self.refresh = refresh
        self.rng = np.random.default_rng(0)
        self.action = np.zeros(3, dtype=np.float32)

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def act(self, obs: np.ndarray, t: int) -> np.ndarray:
        if t % self.refresh == 0:
            self.action = self.rng.uniform(ACTION_LOW, ACTION_HIGH).astype(np.float32)
        return self.action


class BrownianPolicy:
    """Smooth random actions: a random walk clipped to the action space.

    Starts at (0, 0.5, 0) and adds N(0, sigma) each step; steering wanders left and
    right while gas and brake change slowly, which gives more varied driving than
    a held uniform action.
    """

    def __init__(self, sigma: tuple[float, float, float] = (0.3, 0.15, 0.1)):
        self.sigma = np.asarray(sigma, dtype=np.float32)
        self.rng = np.random.default_rng(0)
        self.action = np.zeros(3, dtype=np.float32)

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.action = np.array([0.0, 0.5, 0.0], dtype=np.float32)

    def act(self, obs: np.ndarray, t: int) -> np.ndarray:
        step = self.rng.normal(0.0, self.sigma).astype(np.float32)
        self.action = np.clip(self.action + step, ACTION_LOW, ACTION_HIGH)
        return self.action


PolicyFactory = Callable[[CollectConfig], Policy]
POLICIES: dict[str, PolicyFactory] = {
    "random": lambda cfg: RandomRefreshPolicy(cfg.action_refresh),
    "brownian": lambda cfg: BrownianPolicy(cfg.brownian_sigma),
}


def make_policy(cfg: CollectConfig) -> Policy:
    """The built-in policy ``cfg.policy`` (``random`` or ``brownian``)."""
    if cfg.policy in AGENT_POLICIES:
        raise ValueError(f"policy {cfg.policy!r} drives with a trained agent: collect with "
                         "make_policy=worldmodels.agent.policy.make_policy (the command line does)")
    if cfg.policy not in POLICIES:
        raise ValueError(f"policy={cfg.policy!r}: expected one of {sorted(POLICIES)} or 'agent'")
    return POLICIES[cfg.policy](cfg)

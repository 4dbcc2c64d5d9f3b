"""Collection policies that act through a world model: ``agent`` and ``mixed``.

``agent``: a trained agent plus Gaussian action noise (the paper's iterative data). Rollouts from a controller
that drives reach the parts of the track a random policy never sees (fast corners, long straights, the far side
of the track): the paper's iterative procedure collects new data this way and retrains V and M on it.

``mixed``: data that also hold what controllers do wrong, so that M learns how failures look and pay (a dream
that has never seen a car leave the road rewards it for doing so). Each episode, drawn from its own seed:
half the time the agent with its parameters perturbed (noise 0.05, 0.1 or 0.2) and action noise, a quarter a
random controller through the same V and M (parameters N(0, s^2), s log-uniform in [0.1, 1]), a quarter one of
``CONSTANT_ACTIONS`` held all episode.

``make_policy`` is what ``collect`` takes to know these as well as the world layer's own policies.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..core.config import CollectConfig
from ..core.provenance import resolve
from ..world.policies import ACTION_HIGH, ACTION_LOW, Policy
from ..world.policies import make_policy as builtin_policy
from .acting import WorldModelAgent
from .files import load_agent_file

# (steer, gas, brake) held for a whole episode: idle, gentle and full gas, hard turns with gas, full brake
CONSTANT_ACTIONS = {"idle": (0.0, 0.0, 0.0), "gas_0.3": (0.0, 0.3, 0.0), "full_gas": (0.0, 1.0, 0.0),
                    "left_gas": (-1.0, 0.5, 0.0), "right_gas": (1.0, 0.5, 0.0), "brake": (0.0, 0.0, 1.0)}


def constant_params(num_params: int, action: tuple[float, float, float]) -> np.ndarray:
    """Parameters of a controller that always outputs ``action``: zero weights, output biases that the squash
    turns into it (actions at the bounds are reached within 0.5%)."""
    steer, gas, brake = action
    params = np.zeros(num_params)
    params[-3:] = np.arctanh(np.clip([steer, 2 * gas - 1, brake], -0.99, 0.99))
    return params


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

    def reset(self, rng: np.random.Generator, env: Any = None) -> dict[str, Any]:
        self.rng = rng
        self.agent.reset(1)
        return {"policy": "agent", "action_noise": self.noise}

    def act(self, obs: np.ndarray, t: int) -> np.ndarray:
        action = self.agent.act(obs[None], self.params[None])[0]
        action = action + self.rng.normal(0.0, self.noise, 3).astype(np.float32)
        return np.clip(action, ACTION_LOW, ACTION_HIGH)


class MixedPolicy(AgentPolicy):
    """The ``mixed`` policy (see the module docstring): a new controller for every episode, through the agent's V and M."""

    PARAM_NOISE = (0.05, 0.1, 0.2)

    def __init__(self, agent_file: str | None, noise: float):
        super().__init__(agent_file, noise)
        self.trained = self.params

    def reset(self, rng: np.random.Generator, env: Any = None) -> dict[str, Any]:
        super().reset(rng)
        n, draw = len(self.trained), rng.random()
        record: dict[str, Any] = {"policy": "mixed", "action_noise": self.noise}
        if draw < 0.5:
            scale = float(rng.choice(self.PARAM_NOISE))
            self.params = self.trained + rng.normal(0, scale, n)
            record.update(controller="perturbed", parameter_noise=scale)
        elif draw < 0.75:
            scale = float(np.exp(rng.uniform(np.log(0.1), 0.0)))
            self.params = rng.normal(0, scale, n)
            record.update(controller="random", parameter_scale=round(scale, 4))
        else:
            name = list(CONSTANT_ACTIONS)[rng.integers(len(CONSTANT_ACTIONS))]
            self.params = constant_params(n, CONSTANT_ACTIONS[name])
            record.update(controller="constant", action=name)
        return record


def make_policy(cfg: CollectConfig) -> Policy:
    """Every collection policy: ``agent`` and ``mixed`` here, the others from ``worldmodels.world.policies``."""
    if cfg.policy in AGENT_POLICY_CLASSES:
        return AGENT_POLICY_CLASSES[cfg.policy](cfg.agent, cfg.action_noise)
    return builtin_policy(cfg)


AGENT_POLICY_CLASSES = {"agent": AgentPolicy, "mixed": MixedPolicy}  # the names of world.policies.AGENT_POLICIES

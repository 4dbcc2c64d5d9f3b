"""Data-collection policies: ``reset`` per episode (which returns what the episode drew), then ``act`` per step.

``random`` is the book's (a uniform action held for ``action_refresh`` steps), ``brownian`` a random walk,
``pilot`` a scripted driver that follows the track from the env's own state (waypoints, the car's pose and speed:
data collection, not an agent), with its target speed, steering gain, caution and noise drawn per episode, so that
it drives slow and careful, fast and sloppy, into corners too fast, onto the grass and back. ``blend`` draws one of
these three per episode. The ``agent`` policy (a trained controller plus noise, the paper's iterative data) needs
the agent, a layer above this one: ``worldmodels.agent.policy.make_policy`` knows it as well as these.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from ..core.config import CollectConfig

AGENT_POLICIES = ("agent", "mixed")  # policies that act through an agent file (``worldmodels.agent.policy``)
ACTION_LOW = np.array([-1.0, 0.0, 0.0], dtype=np.float32)
ACTION_HIGH = np.array([1.0, 1.0, 1.0], dtype=np.float32)


class Policy(Protocol):
    """A data-collection policy: ``reset`` per episode, then ``act`` per step."""

    def reset(self, rng: np.random.Generator, env: Any) -> dict[str, Any]:
        """Begin an episode: draw what it varies by from ``rng``; ``env`` is the unwrapped CarRacing, already reset
        (the pilot reads the track and the car from it). Returns the episode's record: ``{"policy": name, ...}``,
        JSON types only, kept in the episode file and the manifest."""
        ...

    def act(self, obs: np.ndarray, t: int) -> np.ndarray:
        """obs: uint8 (96, 96, 3) env frame; returns float32 (3,) inside the action space."""
        ...


class RandomRefreshPolicy:
    """The book's policy: a uniformly random action, redrawn every ``refresh`` steps."""

    def __init__(self, refresh: int = 20):
        self.refresh = refresh
        self.rng = np.random.default_rng(0)
        self.action = np.zeros(3, dtype=np.float32)

    def reset(self, rng: np.random.Generator, env: Any = None) -> dict[str, Any]:
        self.rng = rng
        return {"policy": "random", "action_refresh": self.refresh}

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

    def reset(self, rng: np.random.Generator, env: Any = None) -> dict[str, Any]:
        self.rng = rng
        self.action = np.array([0.0, 0.5, 0.0], dtype=np.float32)
        return {"policy": "brownian", "sigma": [float(x) for x in self.sigma]}

    def act(self, obs: np.ndarray, t: int) -> np.ndarray:
        step = self.rng.normal(0.0, self.sigma).astype(np.float32)
        self.action = np.clip(self.action + step, ACTION_LOW, ACTION_HIGH)
        return self.action


class PilotPolicy:
    """A scripted driver (pure pursuit) that reads the track's waypoints and the car's pose and speed from the env.

    Each episode draws, from its ``rng``: a target speed (uniform in ``speed``), a steering gain (log-uniform in
    ``gain``), a noise level (uniform in ``noise``) and a caution (uniform in ``caution``, within [0, 1]). Every
    step it steers towards the
    waypoint ``LOOKAHEAD`` ahead of the nearest one (further at speed): steer = -gain * heading error + N(0, noise).
    It holds its target speed, less up to 60% times its caution in a corner ahead, with gas and gentle braking. With
    probability 0.02 * noise a step, it leaves the line for 20 to 60 steps of one random action, then finds the
    track again: careful, fast, sloppy, too fast into corners, onto the grass and back.

    ``throttle`` (a range of shares, drawn uniformly per episode; off by default) hands gas and brake to chance for
    about that share of the steps, in held segments of 20 to 60 steps of a uniform gas (and, in one segment of three,
    a uniform brake) while the pilot still steers. Without it the pilot's gas is a function of the state, so a world model fitted to its episodes
    cannot tell what gas does from where the car is.
    """

    WAYPOINT_SPACING = 3.5  # metres between CarRacing's track points (TRACK_DETAIL_STEP)
    LOOKAHEAD = (6.0, 0.2)  # metres ahead: 6 plus 0.2 per unit of speed
    CORNER = 12  # waypoints ahead where the pilot looks for a corner to slow for

    def __init__(self, speed: tuple[float, float], gain: tuple[float, float], noise: tuple[float, float],
                 caution: tuple[float, float] = (0.0, 1.0), throttle: tuple[float, float] = (0.0, 0.0)):
        self.speed_range, self.gain_range, self.noise_range, self.caution_range = speed, gain, noise, caution
        self.throttle_range = throttle
        self.rng = np.random.default_rng(0)
        self.env = None

    def reset(self, rng: np.random.Generator, env: Any) -> dict[str, Any]:
        self.rng, self.env = rng, env
        self.speed = float(rng.uniform(*self.speed_range))
        self.gain = float(np.exp(rng.uniform(np.log(self.gain_range[0]), np.log(self.gain_range[1]))))
        self.noise = float(rng.uniform(*self.noise_range))
        self.caution = float(rng.uniform(*self.caution_range))
        self.detour, self.detour_action = 0, np.zeros(3, np.float32)
        self.throttle_held, self.throttle_action = 0, np.zeros(2, np.float32)
        record = {}
        if self.throttle_range != (0.0, 0.0):  # drawn only when set, so episodes from before the flag stay the same
            self.throttle = float(rng.uniform(*self.throttle_range))
            record["throttle"] = round(self.throttle, 4)
        else:
            self.throttle = 0.0
        self.track = None if env is None else np.asarray([(p[2], p[3]) for p in env.track])  # (W, 2) x, y
        self.heading = None if env is None else np.asarray([p[1] for p in env.track])  # (W,) the road's direction
        return {"policy": "pilot", "target_speed": round(self.speed, 3), "gain": round(self.gain, 4),
                "noise": round(self.noise, 4), "caution": round(self.caution, 4), **record}

    def act(self, obs: np.ndarray, t: int) -> np.ndarray:
        if self.detour > 0:
            self.detour -= 1
            return self.detour_action
        if self.rng.random() < 0.02 * self.noise:
            self.detour = int(self.rng.integers(20, 61)) - 1
            self.detour_action = self.rng.uniform(ACTION_LOW, ACTION_HIGH).astype(np.float32)
            return self.detour_action
        hull = self.env.car.hull
        x, y = hull.position
        speed = math.hypot(*hull.linearVelocity)
        nearest = int(np.argmin(((self.track - (x, y)) ** 2).sum(axis=1)))
        ahead = max(2, round((self.LOOKAHEAD[0] + self.LOOKAHEAD[1] * speed) / self.WAYPOINT_SPACING))
        tx, ty = self.track[(nearest + ahead) % len(self.track)]
        forward = (-math.sin(hull.angle), math.cos(hull.angle))  # the car's local +y
        dx, dy = tx - x, ty - y
        error = math.atan2(forward[0] * dy - forward[1] * dx, forward[0] * dx + forward[1] * dy)  # > 0: target left
        steer = -self.gain * error + self.rng.normal(0.0, self.noise)  # steer -1 turns left
        turn = self.heading[(nearest + self.CORNER) % len(self.heading)] - self.heading[nearest]
        turn = abs((turn + math.pi) % (2 * math.pi) - math.pi)
        target = self.speed * (1.0 - 0.6 * self.caution * min(1.0, turn / (math.pi / 2)))
        gas = min(max(0.1 * (target - speed), 0.0), 1.0)
        brake = min(max(0.04 * (speed - target - 3.0), 0.0), 0.5)
        if self.throttle_held > 0:
            self.throttle_held -= 1
            gas, brake = self.throttle_action
        elif self.throttle > 0 and self.rng.random() < self.throttle / (40.0 * (1.0 - self.throttle)):
            # segments of mean length 40 started at this rate cover about `throttle` of the steps
            self.throttle_held = int(self.rng.integers(20, 61)) - 1
            gas, brake = self.rng.uniform(0.0, 1.0, size=2)
            self.throttle_action = np.array([gas, brake if self.rng.random() < 1 / 3 else 0.0], np.float32)
            gas, brake = self.throttle_action
        return np.array([min(max(steer, -1.0), 1.0), gas, brake], dtype=np.float32)


class BlendPolicy:
    """Each episode one of ``random``, ``brownian`` and ``pilot``, drawn by ``weights`` from the episode's rng."""

    def __init__(self, cfg: CollectConfig):
        self.members = [POLICIES[name](cfg) for name in BLEND_MEMBERS]
        weights = np.asarray(cfg.blend, dtype=np.float64)
        self.weights = weights / weights.sum()
        self.current: Policy = self.members[0]

    def reset(self, rng: np.random.Generator, env: Any) -> dict[str, Any]:
        self.current = self.members[int(rng.choice(len(self.members), p=self.weights))]
        return self.current.reset(rng, env)

    def act(self, obs: np.ndarray, t: int) -> np.ndarray:
        return self.current.act(obs, t)


PolicyFactory = Callable[[CollectConfig], Policy]
POLICIES: dict[str, PolicyFactory] = {
    "random": lambda cfg: RandomRefreshPolicy(cfg.action_refresh),
    "brownian": lambda cfg: BrownianPolicy(cfg.brownian_sigma),
    "pilot": lambda cfg: PilotPolicy(cfg.pilot_speed, cfg.pilot_gain, cfg.pilot_noise, cfg.pilot_caution,
                                     cfg.pilot_throttle),
    "blend": BlendPolicy,
}
BLEND_MEMBERS = ("random", "brownian", "pilot")  # in the order of ``CollectConfig.blend``


def make_policy(cfg: CollectConfig) -> Policy:
    """The built-in policy ``cfg.policy`` (``random``, ``brownian``, ``pilot`` or ``blend``)."""
    if cfg.policy in AGENT_POLICIES:
        raise ValueError(f"policy {cfg.policy!r} drives with a trained agent: collect with "
                         "make_policy=worldmodels.agent.policy.make_policy (the command line does)")
    if cfg.policy not in POLICIES:
        raise ValueError(f"policy={cfg.policy!r}: expected one of {sorted(POLICIES)} or 'agent'")
    return POLICIES[cfg.policy](cfg)

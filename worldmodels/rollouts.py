"""Rollout collection: data-collection policies and ``collect(cfg)``.

Each episode ``i`` of a collection is reset with seed ``cfg.seed + i`` and written
to ``data/rollouts/<name>/<seed>.npz`` (atomically) holding::

    obs        uint8   (T + 1, S, S, 3)  preprocessed frames; obs[t] is seen before action[t]
    action     float32 (T, 3)            steer in [-1, 1], gas and brake in [0, 1]
    reward     float32 (T,)              reward after action[t]
    terminated bool    (T,)
    truncated  bool    (T,)
    seed       int64   ()

T is ``cfg.steps`` unless the env ended the episode first. ``manifest.json`` records
the env, versions, policy and preprocessing. Re-running ``collect`` with the same
settings keeps finished episodes and collects only the missing ones.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np

from . import paths
from .config import CollectConfig, to_dict
from .env import ENV_ID, make_env, preprocess
from .parallel import run_unordered
from .storage import remove_stale_temporaries, save_json, save_npz

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
ACTION_LOW = np.array([-1.0, 0.0, 0.0], dtype=np.float32)
ACTION_HIGH = np.array([1.0, 1.0, 1.0], dtype=np.float32)
# settings that change what an episode file holds: a resumed run must match them
_DATA_KEYS = ("steps", "policy", "action_refresh", "brownian_sigma", "renderer", "frame_size", "crop")


# -- policies -------------------------------------------------------------------
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


class AgentPolicy:
    """A trained agent (V + M + C) with Gaussian noise on its actions, clipped to the action space.

    Rollouts from a controller that drives reach the parts of the track a random policy never sees
    (fast corners, long straights, the far side of the track): the paper's iterative procedure
    collects new data this way and retrains V and M on it.
    """

    _agents: ClassVar[dict[str, tuple]] = {}  # one loaded agent per file, kept for the life of a worker

    def __init__(self, agent_file: str | None, noise: float):
        from .agent import WorldModelAgent, load_agent_file, resolve

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


PolicyFactory = Callable[[CollectConfig], Policy]
POLICIES: dict[str, PolicyFactory] = {
    "random": lambda cfg: RandomRefreshPolicy(cfg.action_refresh),
    "brownian": lambda cfg: BrownianPolicy(cfg.brownian_sigma),
    "agent": lambda cfg: AgentPolicy(cfg.agent, cfg.action_noise),
}


def register_policy(name: str, factory: PolicyFactory) -> None:
    """Add a collection policy (e.g. a trained agent with exploration noise)."""
    POLICIES[name] = factory


def make_policy(cfg: CollectConfig) -> Policy:
    if cfg.policy not in POLICIES:
        raise ValueError(f"policy={cfg.policy!r}: expected one of {sorted(POLICIES)}")
    return POLICIES[cfg.policy](cfg)


# -- one episode ----------------------------------------------------------------
@dataclass(frozen=True)
class EpisodeSummary:
    seed: int
    path: str
    steps: int
    total_reward: float


def episode_path(folder: Path, seed: int) -> Path:
    return Path(folder) / f"{seed:06d}.npz"


def run_episode(env, policy: Policy, seed: int, cfg: CollectConfig) -> dict[str, np.ndarray]:
    """Play one episode; returns the arrays of an episode file (see the module docstring)."""
    policy.reset(np.random.default_rng([seed, 0x5EED]))
    obs, _ = env.reset(seed=seed)
    frames = [preprocess(obs, cfg.frame_size, cfg.crop)]
    actions, rewards, terminated, truncated = [], [], [], []
    for t in range(cfg.steps):
        action = np.asarray(policy.act(obs, t), dtype=np.float32)
        if action.shape != (3,) or not np.all(np.isfinite(action)):
            raise ValueError(f"policy {cfg.policy!r} returned {action!r} at step {t} of seed {seed}: expected 3 finite floats")
        obs, reward, term, trunc, _ = env.step(action)
        frames.append(preprocess(obs, cfg.frame_size, cfg.crop))
        actions.append(action)
        rewards.append(reward)
        terminated.append(term)
        truncated.append(trunc)
        if term or trunc:
            break
    return {
        "obs": np.stack(frames),  # (T + 1, S, S, 3)
        "action": np.asarray(actions, dtype=np.float32).reshape(-1, 3),
        "reward": np.asarray(rewards, dtype=np.float32),
        "terminated": np.asarray(terminated, dtype=bool),
        "truncated": np.asarray(truncated, dtype=bool),
        "seed": np.int64(seed),
    }


_WORKER_ENVS: dict[str, object] = {}  # one env per renderer, kept for the life of a worker


def _collect_task(task: tuple[dict, int, str]) -> EpisodeSummary:
    cfg_dict, seed, path = task
    cfg = CollectConfig(**{**cfg_dict, "brownian_sigma": tuple(cfg_dict["brownian_sigma"])})
    env = _WORKER_ENVS.get(cfg.renderer)
    if env is None:
        env = _WORKER_ENVS[cfg.renderer] = make_env(renderer=cfg.renderer)
    episode = run_episode(env, make_policy(cfg), seed, cfg)
    save_npz(path, **episode)
    return EpisodeSummary(seed, path, len(episode["action"]), float(episode["reward"].sum()))


# -- the collection -------------------------------------------------------------
def versions() -> dict[str, str]:
    out = {}
    for dist in ("worldmodels", "gymnasium", "numpy", "box2d", "pygame-ce", "opencv-python-headless", "torch"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def manifest_for(cfg: CollectConfig) -> dict:
    data = {k: v for k, v in to_dict(cfg).items() if k in _DATA_KEYS}
    if cfg.policy == "agent":  # which controller drove, down to its bytes
        from .agent import resolve, sha256

        path = resolve(cfg.agent) if cfg.agent else None
        if path is None or not path.exists():
            raise FileNotFoundError(f"policy 'agent': agent file {cfg.agent!r} not found; pass --agent with an "
                                    f"agent file (checkpoints/controller/<latent>_<name>.pt)")
        data.update(agent=cfg.agent, agent_sha256=sha256(path), action_noise=cfg.action_noise)
    return {
        "env_id": ENV_ID,
        "episodes": cfg.episodes,
        "seeds": [cfg.seed, cfg.seed + cfg.episodes - 1],
        "file_pattern": "<seed:06d>.npz",
        "preprocessing": {"frame_size": cfg.frame_size, "crop_rows": 84 if cfg.crop else None, "resize": "cv2.INTER_AREA"},
        "data": data,
        "versions": versions(),
    }


def collection(name: str) -> dict:
    """How the rollouts ``data/rollouts/<name>`` were really collected, read from their manifest, for cards:
    ``policy``, ``steps``, ``episodes``, ``seeds`` (and ``agent``, ``agent_sha256``, ``action_noise`` for
    the agent policy). ``{}`` when the folder has no readable manifest."""
    try:
        manifest = json.loads((paths.rollout_dir(name) / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    data = manifest.get("data", {})
    keys = ("policy", "steps", "agent", "agent_sha256", "action_noise")
    return {"rollouts": f"data/rollouts/{name}", **{k: data[k] for k in keys if k in data},
            "episodes": manifest.get("episodes"), "seeds": manifest.get("seeds")}


def _check_manifest(folder: Path, cfg: CollectConfig) -> None:
    """Refuse to mix episodes made with different settings in one folder."""
    path = folder / MANIFEST
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text())["data"]
    except (json.JSONDecodeError, KeyError) as e:
        raise ValueError(f"{path}: unreadable manifest ({e}); delete the folder or collect into another --name") from e
    new = manifest_for(cfg)["data"]
    diff = {k: (old.get(k), new[k]) for k in new if _jsonable(old.get(k)) != _jsonable(new[k])}
    if diff:
        parts = ", ".join(f"{k}: folder has {a!r}, asked {b!r}" for k, (a, b) in diff.items())
        raise ValueError(f"{folder} holds episodes collected with other settings ({parts}); "
                         f"use another --name or delete {folder}")


def _jsonable(x):
    return json.loads(json.dumps(x))


def is_complete(path: Path) -> bool:
    """Cheap check that an episode file is a whole zip archive (reads its directory only)."""
    try:
        with zipfile.ZipFile(path) as z:
            return {"obs.npy", "action.npy", "reward.npy"} <= set(z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def pending_seeds(folder: Path, cfg: CollectConfig) -> list[int]:
    """Seeds of the requested episodes that have no complete file yet.

    A file that is not a complete archive (damaged outside ``collect``, which writes
    atomically) is renamed ``*.corrupt`` and its episode collected again.
    """
    todo = []
    for seed in range(cfg.seed, cfg.seed + cfg.episodes):
        path = episode_path(folder, seed)
        if path.exists() and not is_complete(path):
            log.warning("%s is damaged; moved to %s.corrupt and collecting it again", path, path.name)
            path.replace(path.with_suffix(".npz.corrupt"))
        if not path.exists():
            todo.append(seed)
    return todo


def collect(cfg: CollectConfig, folder: str | Path | None = None, progress: bool = True) -> list[Path]:
    """Collect ``cfg.episodes`` episodes in parallel; resume if some exist.

    Args:
        cfg: collection settings (``get_config(scale).collect``).
        folder: where to write; default ``data/rollouts/<cfg.name>``.
        progress: show a tqdm progress bar.

    Returns:
        the paths of all requested episodes, in seed order.
    """
    folder = Path(folder) if folder is not None else paths.rollout_dir(cfg.name)
    folder.mkdir(parents=True, exist_ok=True)
    _check_manifest(folder, cfg)
    remove_stale_temporaries(folder)
    save_json(folder / MANIFEST, manifest_for(cfg))
    todo = pending_seeds(folder, cfg)
    if todo:
        cfg_dict = to_dict(cfg)
        tasks = [(cfg_dict, seed, str(episode_path(folder, seed))) for seed in todo]
        results = run_unordered(_collect_task, tasks, cfg.backend, cfg.workers, cfg.ray_address)
        if progress:
            from tqdm.auto import tqdm

            results = tqdm(results, total=cfg.episodes, initial=cfg.episodes - len(todo),
                           desc=f"collect {folder.name}", unit="episode")
        for _ in results:
            pass
    return [episode_path(folder, s) for s in range(cfg.seed, cfg.seed + cfg.episodes)]

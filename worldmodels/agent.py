"""The agent: V + M + C acting in the real CarRacing, batched over several envs.

At every step each env's frame is preprocessed, V encodes all frames in one batch (z = mu for
the VAE, the hard one-hot code for the Gumbel VAE), C maps [z, h] to an action (each env may run
its own controller parameters: a worker evaluates several candidates at once), and M advances
all hidden states in one LSTM step on (z, action). h starts at zero. Shapes (B envs)::

    frames uint8 (B, 96, 96, 3) -> preprocess -> (B, 64, 64, 3) -> V -> z (B, Z) | code (B, N, K)
    params (B, num_params), z, h (B, H) -> C -> actions (B, 3) -> M -> next h (B, H)

Seeds: episodes for evolution are drawn from ``TRAIN_SEEDS``, evaluation uses consecutive seeds
from ``EVALUATION_SEED``, and rollout collection uses 0 upwards (the presets stop at 10,000), so
an evaluated track is never one the controller was trained on.

Agent files (``kind: "controller"``) hold the controller's config and parameters and the V and M
files they were trained with, by path and SHA-256: loading refuses a V or M that has changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint, paths
from .config import ControllerConfig, from_dict, to_dict
from .controller import LinearController
from .data import frames_to_tensor
from .env import make_env, preprocess
from .gumbel_vae import hard_code
from .vae import ConvVAE

TRAIN_SEEDS = (1_000_000, 2**31 - 1)  # evolution draws its episode seeds from this range
EVALUATION_SEED = 900_000  # evaluate uses EVALUATION_SEED, EVALUATION_SEED + 1, ...
STEP_PENALTY = 0.1  # CarRacing's reward per step without a new tile is -0.1
SOLVED = 900.0  # CarRacing counts as solved at a mean of 900 over 100 episodes


# -- files -----------------------------------------------------------------------------
def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def portable(path: str | Path) -> str:
    """A path relative to the project root when it lies inside it (so files move with the repo)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(paths.root()))
    except ValueError:
        return str(path)


def resolve(path: str) -> Path:
    return Path(path) if Path(path).is_absolute() else paths.root() / path


@dataclasses.dataclass(frozen=True)
class AgentSpec:
    """Which V and M an agent sees through, checked by hash; everything a worker needs to rebuild it."""

    latent: str
    """``vae`` (z = mu of the continuous VAE) or ``gumbel`` (hard one-hot codes of the discrete VAE)"""
    vision: str
    """V checkpoint (relative to the project root when inside it)"""
    vision_sha256: str
    mdnrnn: str | None
    """M checkpoint, or None for a z-only controller"""
    mdnrnn_sha256: str | None
    controller: ControllerConfig
    """with ``latent_size`` and ``hidden_state_size`` read from V and M"""

    @staticmethod
    def build(vision: str | Path, mdnrnn: str | Path | None, controller: ControllerConfig) -> AgentSpec:
        """Hash the files and size the controller from the models they hold."""
        vision_model, mdnrnn_model = _load_models(str(vision), str(mdnrnn) if mdnrnn else None)
        size = vision_model.cfg.z_size if isinstance(vision_model, ConvVAE) else \
            vision_model.cfg.num_vars * vision_model.cfg.num_classes
        hidden = mdnrnn_model.cfg.hidden_size if mdnrnn_model is not None else controller.hidden_state_size
        if controller.inputs == "z_h" and mdnrnn is None:
            raise ValueError("a [z, h] controller needs an MDN-RNN: pass mdnrnn, or use ControllerConfig(inputs='z')")
        if controller.code_input == "soft" and isinstance(vision_model, ConvVAE):
            raise ValueError(f"{vision}: code_input='soft' needs a Gumbel V (the VAE's z has no class probabilities); "
                             "use code_input='hard' (the default) with the VAE")
        cfg = dataclasses.replace(controller, latent_size=size, hidden_state_size=hidden)
        latent = "vae" if isinstance(vision_model, ConvVAE) else "gumbel"
        return AgentSpec(latent, portable(vision), sha256(vision), portable(mdnrnn) if mdnrnn else None,
                         sha256(mdnrnn) if mdnrnn else None, cfg)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "controller": to_dict(self.controller)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> AgentSpec:
        return AgentSpec(**{**d, "controller": from_dict({"controller": d["controller"]}).controller})

    def check_files(self, where: str) -> None:
        """Refuse to run if V or M has changed since the controller was trained on them."""
        for path, expected in ((self.vision, self.vision_sha256), (self.mdnrnn, self.mdnrnn_sha256)):
            if path is None:
                continue
            file = resolve(path)
            if not file.exists():
                raise checkpoint.CheckpointError(f"{where}: needs {file}, which is missing; restore it (git checkout "
                                                 f"{path}) or retrain the controller on the V and M you have")
            if sha256(file) != expected:
                raise checkpoint.CheckpointError(f"{where}: {file} is not the file this controller was trained with "
                                                 f"(SHA-256 differs); restore it or retrain the controller")


def _load_models(vision: str, mdnrnn: str | None, device: torch.device | str = "cpu"):
    from . import memory
    from . import vision as vision_lib

    return vision_lib.load(resolve(vision), device=device), (memory.load(resolve(mdnrnn), device=device)
                                                             if mdnrnn else None)


def save_agent(path: str | Path, spec: AgentSpec, params: np.ndarray, extra: dict[str, Any] | None = None) -> Path:
    """An agent file: the controller's flat parameters, its spec (V, M, hashes, config) and ``extra`` (plain types)."""
    LinearController(spec.controller, params)  # refuses a wrong length or non-finite values
    return checkpoint.save(path, {"kind": "controller", "model": {"params": torch.from_numpy(np.asarray(params))},
                                  "spec": spec.to_dict(), "config": {"controller": to_dict(spec.controller)},
                                  **(extra or {})})


def load_agent_file(path: str | Path) -> tuple[AgentSpec, np.ndarray, dict[str, Any]]:
    """(spec, params (num_params,), the whole payload) of an agent file, with V and M checked by hash."""
    payload = checkpoint.load(path, kind="controller")
    spec = AgentSpec.from_dict(payload["spec"])
    params = payload["model"]["params"].numpy().astype(np.float64)
    try:
        LinearController(spec.controller, params)
    except ValueError as e:
        raise checkpoint.CheckpointError(f"{path}: {e}") from e
    spec.check_files(str(path))
    return spec, params, payload


# -- acting ----------------------------------------------------------------------------
class WorldModelAgent:
    """V + M + C for B envs at once; each env's row may have its own controller parameters."""

    def __init__(self, spec: AgentSpec, device: torch.device | str = "cpu"):
        self.spec = spec
        self.vision, self.mdnrnn = _load_models(spec.vision, spec.mdnrnn if spec.controller.inputs == "z_h" else None,
                                                device)
        self.device = torch.device(device)
        self.controller = LinearController(spec.controller)
        self.frame_size = self.vision.cfg.frame_size
        self.crop = _trained_on_cropped_frames(resolve(spec.vision))
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset(self, batch_size: int) -> None:
        """Zero the hidden state of ``batch_size`` envs."""
        if self.mdnrnn is not None:
            zeros = torch.zeros(1, batch_size, self.mdnrnn.cfg.hidden_size, device=self.device)
            self.state = (zeros, zeros.clone())  # (h, c), each (1, B, H)

    @torch.no_grad()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """Env frames uint8 (B, 96, 96, 3) -> z = mu (B, Z), or hard one-hot codes (B, N, K): what M reads."""
        return self.encode_both(frames)[0]

    @torch.no_grad()
    def encode_both(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(M's input, C's latent input) of env frames uint8 (B, 96, 96, 3).

        The same tensor twice, except for a Gumbel V with ``code_input="soft"``: M reads the hard code
        (B, N, K), C the posterior's probabilities (B, N, K).
        """
        small = np.stack([preprocess(f, self.frame_size, self.crop) for f in frames])  # (B, 64, 64, 3)
        x = frames_to_tensor(small).to(self.device)
        if isinstance(self.vision, ConvVAE):
            z = self.vision.encode(x)[0]
            return z, z
        logits = self.vision.encode(x)
        code = hard_code(logits)
        return code, (torch.softmax(logits, dim=-1) if self.spec.controller.code_input == "soft" else code)

    @torch.no_grad()
    def act(self, frames: np.ndarray, params: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Actions for some of the B envs, and one M step for them.

        Args:
            frames: uint8 (b, 96, 96, 3), the current frames of the envs in ``rows``.
            params: (b, num_params), each env's controller parameters.
            rows: indices (b,) of these envs in the batch given to ``reset`` (default: all).

        Returns:
            actions float32 (b, 3), finite and inside the action space.
        """
        z, seen = self.encode_both(frames)  # M reads z, C reads seen
        rows = np.arange(len(frames)) if rows is None else np.asarray(rows)
        if self.mdnrnn is None:
            return self.controller.act_batch(params, seen.cpu().numpy())
        index = torch.as_tensor(rows, device=self.device)
        h, c = self.state
        state = (h[:, index], c[:, index])
        actions = self.controller.act_batch(params, seen.cpu().numpy(), state[0][0].cpu().numpy())
        a = torch.from_numpy(actions).to(self.device)
        _, (h_new, c_new) = self.mdnrnn(z[:, None], a[:, None], state)  # one step, L = 1
        h[:, index], c[:, index] = h_new, c_new
        return actions


def _trained_on_cropped_frames(vision_path: Path) -> bool:
    """Whether V's rollouts dropped the indicator bar (the collect config in its checkpoint; default True)."""
    config = checkpoint.load(vision_path)["config"]
    return bool(config.get("collect", {}).get("crop", True))


def run_episodes(agent: WorldModelAgent, envs: list, params: np.ndarray, seeds: np.ndarray,
                 max_steps: int = 1000, tile_cutoff: int = 0) -> dict[str, np.ndarray]:
    """Play E episodes at once, episode i on ``envs[i]`` with seed ``seeds[i]`` and parameters ``params[i]``.

    Args:
        params: (E, num_params).
        seeds: (E,) env seeds.
        max_steps: steps per episode at most (the env itself truncates at 1000).
        tile_cutoff: end an episode after this many steps without a new tile (a step reward > 0), adding
            -0.1 for every step left, the return of a car that finds no more tiles (0: off).

    Returns:
        ``returns`` (E,) float64, ``steps`` (E,) int64 (env steps taken), ``cut`` (E,) bool.
    """
    E = len(seeds)
    if len(envs) < E or len(params) != E:
        raise ValueError(f"run_episodes: {E} seeds need {E} envs and {E} parameter rows, got {len(envs)} and {len(params)}")
    obs = [envs[i].reset(seed=int(seeds[i]))[0] for i in range(E)]
    agent.reset(E)
    returns, steps = np.zeros(E), np.zeros(E, np.int64)
    since_tile, cut = np.zeros(E, np.int64), np.zeros(E, bool)
    active = np.ones(E, bool)
    while active.any():
        rows = np.flatnonzero(active)
        actions = agent.act(np.stack([obs[i] for i in rows]), params[rows], rows)
        for a, i in zip(actions, rows, strict=True):
            obs[i], reward, terminated, truncated, _ = envs[i].step(a)
            returns[i] += reward
            steps[i] += 1
            since_tile[i] = 0 if reward > 0 else since_tile[i] + 1
            if terminated or truncated or steps[i] >= max_steps:
                active[i] = False
            elif tile_cutoff and since_tile[i] >= tile_cutoff:
                returns[i] -= STEP_PENALTY * (max_steps - steps[i])
                cut[i], active[i] = True, False
    return {"returns": returns, "steps": steps, "cut": cut}


# -- worker tasks (any backend) ----------------------------------------------------------
_WORKER: dict[str, Any] = {"agents": {}, "envs": {}}


@contextlib.contextmanager
def _one_thread():
    """Tasks run with one torch thread on every backend, so results do not depend on where they ran."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def episode_task(task: tuple[dict, np.ndarray, np.ndarray, str, int, int]) -> dict[str, np.ndarray]:
    """Run one batch of episodes in a worker: (spec dict, params (E, n), seeds (E,), renderer, max_steps, cutoff).

    The worker keeps its agents (by spec) and envs (by renderer) between tasks.
    """
    spec_dict, params, seeds, renderer, max_steps, tile_cutoff = task
    key = repr(sorted(spec_dict.items()))
    agent = _WORKER["agents"].get(key)
    if agent is None:
        spec = AgentSpec.from_dict(spec_dict)
        spec.check_files("evaluation")
        agent = _WORKER["agents"][key] = WorldModelAgent(spec)
    envs = _WORKER["envs"].setdefault(renderer, [])
    while len(envs) < len(seeds):
        envs.append(make_env(renderer=renderer))
    with _one_thread():
        return run_episodes(agent, envs, params, seeds, max_steps, tile_cutoff)


def run_many(pool, spec: AgentSpec, params: np.ndarray, seeds: np.ndarray, renderer: str, max_steps: int,
             tile_cutoff: int = 0, envs_per_task: int = 8) -> dict[str, np.ndarray]:
    """Episodes (params[i], seeds[i]) for i < E, split into tasks of ``envs_per_task`` on a ``TaskPool``.

    The split depends only on E and ``envs_per_task``, never on the backend or the number of workers,
    so every backend computes exactly the same batches and returns the same numbers.

    Returns:
        ``returns`` (E,), ``steps`` (E,), ``cut`` (E,) in the order of ``seeds``.
    """
    E = len(seeds)
    starts = list(range(0, E, envs_per_task))
    spec_dict = spec.to_dict()
    tasks = [(i, (spec_dict, params[i : i + envs_per_task], seeds[i : i + envs_per_task], renderer, max_steps,
                  tile_cutoff)) for i in starts]
    out = {"returns": np.zeros(E), "steps": np.zeros(E, np.int64), "cut": np.zeros(E, bool)}
    for start, result in pool.imap_unordered(_indexed_task, tasks):
        for k, v in result.items():
            out[k][start : start + len(v)] = v
    return out


def _indexed_task(task: tuple[int, tuple]) -> tuple[int, dict[str, np.ndarray]]:
    start, inner = task
    return start, episode_task(inner)


# -- the evaluation protocol ------------------------------------------------------------
def evaluate(agent_path: str | Path, episodes: int = 100, seed: int = EVALUATION_SEED, renderer: str = "stock",
             backend: str = "process", workers: int = 0, ray_address: str | None = None,
             envs_per_task: int = 4, max_steps: int = 1000) -> dict[str, Any]:
    """The protocol: an agent file on ``episodes`` episodes with seeds ``seed, seed + 1, ...`` (disjoint from
    training), full 1000-step episodes (``max_steps`` shortens them for quick checks only), the stock renderer.

    Returns:
        ``returns`` (list), ``mean``, ``std``, ``min``, ``max``, ``solved`` (mean >= 900), ``env_steps``, settings.
    """
    from .parallel import TaskPool

    spec, params, _ = load_agent_file(agent_path)
    seeds = np.arange(seed, seed + episodes)
    with TaskPool(backend, workers, ray_address) as pool:
        result = run_many(pool, spec, np.repeat(params[None], episodes, 0), seeds, renderer, max_steps,
                          envs_per_task=envs_per_task)
    returns = result["returns"]
    return {"agent": portable(agent_path), "episodes": episodes, "seeds": [int(seeds[0]), int(seeds[-1])],
            "renderer": renderer, "max_steps": max_steps, "returns": [round(float(r), 2) for r in returns],
            "mean": round(float(returns.mean()), 2), "std": round(float(returns.std()), 2),
            "min": round(float(returns.min()), 2), "max": round(float(returns.max()), 2),
            "solved": bool(returns.mean() >= SOLVED), "env_steps": int(result["steps"].sum())}


def write_evaluation(agent_path: str | Path, result: dict[str, Any]) -> Path:
    """Put ``evaluate``'s result (without the per-episode returns) into the agent's JSON card; returns the card."""
    import json

    from .storage import save_json

    card_path = Path(agent_path).with_suffix(".json")
    if not card_path.exists():
        raise FileNotFoundError(f"{card_path}: no card beside the agent; scores go into the cards of releases "
                                f"(checkpoints/controller/<latent>_<name>.pt)")
    card = json.loads(card_path.read_text())
    card["evaluation"] = {k: v for k, v in result.items() if k != "returns"}
    return save_json(card_path, card)


def record_episode(agent_path: str | Path, seed: int = EVALUATION_SEED, max_steps: int = 1000,
                   renderer: str = "stock") -> dict[str, Any]:
    """One episode of an agent with video frames (gymnasium's 600x400 ``rgb_array`` view).

    Returns:
        ``frames`` uint8 (T, 400, 600, 3), ``actions`` (T, 3), ``rewards`` (T,), ``return``.
    """
    spec, params, _ = load_agent_file(agent_path)
    agent = WorldModelAgent(spec)
    env = make_env(renderer=renderer, render_mode="rgb_array")
    obs, _ = env.reset(seed=seed)
    agent.reset(1)
    frames, actions, rewards = [env.render()], [], []
    for _ in range(max_steps):
        action = agent.act(obs[None], params[None])[0]
        obs, reward, terminated, truncated, _ = env.step(action)
        frames.append(env.render())
        actions.append(action)
        rewards.append(reward)
        if terminated or truncated:
            break
    env.close()
    return {"frames": np.stack(frames), "actions": np.stack(actions), "rewards": np.asarray(rewards),
            "return": float(np.sum(rewards))}

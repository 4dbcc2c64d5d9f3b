"""Many episodes on a task pool: workers that keep their agents and envs, and one filmed episode.

``run_many`` splits E episodes (each with its own controller parameters and seed) into tasks of
``envs_per_task``; a worker runs a task as one batch (``acting.run_episodes``). The split depends only on E
and ``envs_per_task``, never on the backend or the number of workers, so every backend returns the same numbers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ..core import paths
from ..core.storage import load_npz, save_npz
from ..world.env import make_env
from .acting import WorldModelAgent, run_episodes
from .files import Agent, AgentSpec

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


EnvSource = str | Callable[[], gym.Env]
"""a renderer name for ``make_env`` (``stock``, ``exact``, ``fast``, ``direct``), or a module-level function or class that makes
an env (tests pass a CarRacing-shaped fake); workers receive it pickled"""


def episode_task(task: tuple[dict, np.ndarray, np.ndarray, EnvSource, int, int, str]) -> dict[str, np.ndarray]:
    """Run one batch of episodes in a worker: (spec dict, params (E, n), seeds (E,), env source, max_steps, cutoff,
    V's precision).

    The worker keeps its agents (by spec and precision) and envs (by source) between tasks.
    """
    spec_dict, params, seeds, renderer, max_steps, tile_cutoff, precision = task
    key = repr((sorted(spec_dict.items()), precision))
    agent = _WORKER["agents"].get(key)
    if agent is None:
        spec = AgentSpec.from_dict(spec_dict)
        spec.check_files("evaluation")
        agent = _WORKER["agents"][key] = WorldModelAgent(spec, precision=precision)
    envs = _WORKER["envs"].setdefault((renderer, agent.vision.input_spec), [])
    while len(envs) < len(seeds):
        envs.append(make_agent_env(renderer, agent))
    with _one_thread():
        return run_episodes(agent, envs, params, seeds, max_steps, tile_cutoff)


def make_agent_env(renderer: EnvSource, agent: WorldModelAgent) -> gym.Env:
    """An env for ``agent``: ``direct`` draws the agent's V input (its ``InputSpec``), the others the 96x96 state."""
    if not isinstance(renderer, str):
        return renderer()
    if renderer == "direct":
        spec = agent.vision.input_spec
        return make_env(renderer=renderer, frame_size=spec.frame_size, crop=spec.crop)
    return make_env(renderer=renderer)


def run_many(pool, spec: AgentSpec, params: np.ndarray, seeds: np.ndarray, renderer: EnvSource, max_steps: int,
             tile_cutoff: int = 0, envs_per_task: int = 8, precision: str = "float32",
             progress: str | None = None) -> dict[str, np.ndarray]:
    """Episodes (params[i], seeds[i]) for i < E, split into tasks of ``envs_per_task`` on a ``TaskPool``;
    ``precision``: V's (``WorldModelAgent``); ``progress``: a bar with this label, over the episodes done.

    The split depends only on E and ``envs_per_task``, never on the backend or the number of workers,
    so every backend computes exactly the same batches and returns the same numbers.

    Returns:
        ``returns`` (E,), ``steps`` (E,), ``cut`` (E,) in the order of ``seeds``.
    """
    E = len(seeds)
    starts = list(range(0, E, envs_per_task))
    spec_dict = spec.to_dict()
    tasks = [(i, (spec_dict, params[i : i + envs_per_task], seeds[i : i + envs_per_task], renderer, max_steps,
                  tile_cutoff, precision)) for i in starts]
    out = {"returns": np.zeros(E), "steps": np.zeros(E, np.int64), "cut": np.zeros(E, bool)}
    from tqdm.auto import tqdm

    with tqdm(total=E, desc=progress, unit="episode", disable=progress is None) as bar:
        for start, result in pool.imap_unordered(_indexed_task, tasks):
            for k, v in result.items():
                out[k][start : start + len(v)] = v
            bar.update(len(result["returns"]))
    return out


def _indexed_task(task: tuple[int, tuple]) -> tuple[int, dict[str, np.ndarray]]:
    start, inner = task
    return start, episode_task(inner)


def record_episode(agent: Agent, seed: int, max_steps: int = 1000, renderer: EnvSource = "stock",
                   progress: bool = False, cache: bool = False, actions: np.ndarray | None = None) -> dict[str, Any]:
    """One episode of an agent with video frames (gymnasium's 600x400 ``rgb_array`` view); ``progress`` shows a
    bar (a 1000-step episode takes about 20 s on a quiet laptop core, minutes on a busy one).

    ``actions`` (T, 3): replay these instead of running the agent (an episode the agent drove before, e.g. on
    another machine): the env alone is stepped, so the frames depend on Box2D's arithmetic only, not on V's and
    M's floating point. The episode ends where the env ends it, or after the last action.

    ``cache``: keep the episode in ``data/cache/episodes/<key>.npz`` (compressed, about 14 MB for 1000 steps), the
    key a SHA-256 of the agent (its spec, which holds V's and M's hashes, and its parameters), the seed, the step
    limit, the renderer and the gymnasium and torch versions; asked again (notebook 06 after 05), it is read back in
    about 2 s (1000 steps) instead of driven again. A cache file that cannot be read is driven again and replaced.

    Returns:
        ``frames`` uint8 (T, 400, 600, 3), ``actions`` (T, 3), ``rewards`` (T,), ``return``.
    """
    path = _episode_cache(agent, seed, max_steps, renderer, actions) if cache else None
    if path is not None and path.exists():
        try:
            with load_npz(path) as saved:
                return {"frames": saved["frames"], "actions": saved["actions"], "rewards": saved["rewards"],
                        "return": float(saved["return"])}
        except (OSError, ValueError, KeyError, zlib.error, zipfile.BadZipFile, EOFError):
            pass  # unreadable: drive it again
    if actions is None:
        acting, params = WorldModelAgent(agent.spec), agent.params
        acting.reset(1)
        episode = _drive(lambda obs, t: acting.act(obs[None], params[None])[0], seed, max_steps, renderer, progress)
    else:
        episode = _drive(lambda obs, t: actions[t], seed, min(max_steps, len(actions)), renderer, progress)
    if path is not None:
        save_npz(path, **{**episode, "return": np.float64(episode["return"])})
    return episode


def _episode_cache(agent: Agent, seed: int, max_steps: int, renderer: EnvSource,
                   actions: np.ndarray | None = None) -> Path | None:
    """Where ``record_episode`` keeps this episode; None for a renderer given as a function (no stable key)."""
    if not isinstance(renderer, str):
        return None
    digest = hashlib.sha256(json.dumps(agent.spec.to_dict(), sort_keys=True).encode())
    digest.update(np.ascontiguousarray(agent.params, dtype=np.float64).tobytes())
    if actions is not None:
        digest.update(b"replay:" + np.ascontiguousarray(actions).tobytes())
    digest.update(f"{seed}:{max_steps}:{renderer}:{gym.__version__}:{torch.__version__}".encode())
    return paths.data_dir() / "cache" / "episodes" / f"{digest.hexdigest()[:32]}.npz"


def _drive(act: Callable[[np.ndarray, int], np.ndarray], seed: int, max_steps: int, renderer: EnvSource,
           progress: bool) -> dict[str, Any]:
    """Step one env from ``reset(seed)``, each action ``act(obs, t)``, filming every frame."""
    env = (make_env(renderer=renderer, render_mode="rgb_array") if isinstance(renderer, str)
           else renderer(render_mode="rgb_array"))
    obs, _ = env.reset(seed=seed)
    frames, actions, rewards = [env.render()], [], []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_steps, desc=f"filming seed {seed}", unit="step")
    for t in range(max_steps):
        if bar is not None:
            bar.update()
        action = act(obs, t)
        obs, reward, terminated, truncated, _ = env.step(action)
        frames.append(env.render())
        actions.append(action)
        rewards.append(reward)
        if terminated or truncated:
            break
    env.close()
    if bar is not None:
        bar.close()
    return {"frames": np.stack(frames), "actions": np.stack(actions), "rewards": np.asarray(rewards),
            "return": float(np.sum(rewards))}

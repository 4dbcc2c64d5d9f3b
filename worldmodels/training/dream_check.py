"""Dream-check: does M's dream rank controllers the way the real env does?

A world model is judged by this, not by its prediction loss: CMA-ES in the dream follows the dream's ranking,
so an M whose dream ranks controllers at random trains agents that fail in reality. ``dream_check`` plays a
fixed panel of controllers, through the same V and M, on ``tracks`` real tracks and in as many dreams, and
reports the Spearman rank correlation between their mean real and mean dream returns (1: the same order).

The panel (``panel``): constant actions (idle, gentle gas, full gas, hard left and right with gas, full brake),
every given agent whose controller fits this V and M, a perturbed copy of each, and random controllers of
growing size. Real returns are cached per controller under ``data/dream_check/`` (they depend only on the
controller, V, M, tracks and renderer), so checking a new M on the same V replays only the dreams. Real
tracks start at ``DreamCheckConfig.seed`` (800,000): no collection, evolution or evaluation uses them.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..agent.dream import DreamEnv, play
from ..agent.episodes import run_many
from ..agent.files import AgentSpec, load_agent_file
from ..agent.policy import CONSTANT_ACTIONS, constant_params
from ..core import checkpoint, paths
from ..core.config import ControllerConfig, DreamCheckConfig
from ..core.parallel import TaskPool
from ..core.provenance import portable, resolve
from ..core.storage import save_json
from ..models.controller import LinearController
from ..models.mdnrnn import load as load_mdnrnn
from ..models.registry import codes_at, load_vision
from ..world.datasets import LatentSequences
from .loop import default_device
from .vision import latents_for


@dataclass(frozen=True)
class Member:
    """One controller of the panel: a name and its flat parameters (num_params,)."""

    name: str
    params: np.ndarray


def panel(spec: AgentSpec, cfg: DreamCheckConfig, agents: list[str | Path]) -> list[Member]:
    """The controllers dream-check ranks (see the module docstring), for ``spec``'s V and M."""
    n = LinearController(spec.controller).num_params
    rng = np.random.default_rng([cfg.seed, 0xD5EA])
    members = [Member(name, constant_params(n, action)) for name, action in CONSTANT_ACTIONS.items()]
    for path in agents:
        agent_spec, params, _ = load_agent_file(path)
        if agent_spec.controller.inputs != spec.controller.inputs or len(params) != n:
            continue  # a controller for another kind of V or M
        members.append(Member(Path(path).stem, params))
        if cfg.perturbation:
            members.append(Member(f"{Path(path).stem}+noise", params + rng.normal(0, cfg.perturbation, n)))
    for s in np.geomspace(0.1, 1.0, cfg.random) if cfg.random else []:
        members.append(Member(f"random_{s:.2g}", rng.normal(0, s, n)))
    return members


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two samples (ties take their mean rank)."""
    def ranks(x: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for value in np.unique(x):  # average the ranks of ties
            r[x == value] = r[x == value].mean()
        return r

    ra, rb = ranks(np.asarray(a, float)), ranks(np.asarray(b, float))
    return float(np.corrcoef(ra, rb)[0, 1]) if ra.std() and rb.std() else float("nan")


def _cache_path(spec: AgentSpec, cfg: DreamCheckConfig) -> Path:
    key = json.dumps([spec.vision_sha256, spec.mdnrnn_sha256, cfg.seed, cfg.tracks, cfg.max_steps, cfg.renderer])
    return paths.dream_check_dir() / f"real_{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def real_returns(spec: AgentSpec, members: list[Member], cfg: DreamCheckConfig) -> tuple[np.ndarray, int]:
    """Each member's returns on the ``cfg.tracks`` real tracks (P, R), from the cache where it has them, and the
    real env steps spent now."""
    cache_file = _cache_path(spec, cfg)
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    keys = [hashlib.sha256(m.params.astype(np.float64).tobytes()).hexdigest() for m in members]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    steps = 0
    if todo:
        R = cfg.tracks
        seeds = np.arange(cfg.seed, cfg.seed + R)
        params = np.repeat(np.stack([members[i].params for i in todo]), R, axis=0)  # (P' * R, n)
        with TaskPool(cfg.backend, cfg.workers) as pool:
            out = run_many(pool, spec, params, np.tile(seeds, len(todo)), cfg.renderer, cfg.max_steps,
                           envs_per_task=cfg.envs_per_task)
        for j, i in enumerate(todo):
            cache[keys[i]] = out["returns"][j * R : (j + 1) * R].tolist()
        steps = int(out["steps"].sum())
        save_json(cache_file, cache)
    return np.array([cache[k] for k in keys]), steps


def dream_returns(spec: AgentSpec, members: list[Member], starts: torch.Tensor, cfg: DreamCheckConfig) -> np.ndarray:
    """Each member's returns in ``cfg.tracks`` dreams of M (P, R), all dreams in one batch."""
    mdnrnn = load_mdnrnn(resolve(spec.mdnrnn), device=default_device())
    params = np.repeat(np.stack([m.params for m in members]), cfg.tracks, axis=0)  # (P * R, n)
    env = DreamEnv(mdnrnn, starts, tau=cfg.tau, seed=cfg.seed, max_steps=cfg.max_steps)
    returns, _ = play(env, LinearController(spec.controller), params)
    return returns.reshape(len(members), cfg.tracks)


def vision_of(mdnrnn_path: str | Path) -> str:
    """The V whose codes an M was trained on, as its card or run records it."""
    payload = checkpoint.load(mdnrnn_path, kind="mdnrnn")
    source = payload.get("card", {}).get("data", {}).get("encoded_by") or payload["config"].get("encoded_by")
    if not source or source == "unknown":
        raise ValueError(f"{mdnrnn_path}: does not record the V that encoded its data; pass --vision")
    return source


def dream_check(mdnrnn_path: str | Path, cfg: DreamCheckConfig, rollouts: str, vision_path: str | Path | None = None,
                agents: list[str | Path] = ()) -> dict[str, Any]:
    """Rank the panel in the real env and in M's dream; the result holds ``spearman`` and every member's mean
    real and dream returns.

    Args:
        rollouts: rollouts whose first frames, encoded by V, start the dreams.
        agents: agent files to add to the panel (those whose controller fits this V and M).
    """
    start = time.perf_counter()
    vision_path = vision_path or vision_of(mdnrnn_path)
    spec = AgentSpec.build(resolve(vision_path), resolve(mdnrnn_path), ControllerConfig())
    members = panel(spec, cfg, list(agents))
    real, steps = real_returns(spec, members, cfg)
    latents = latents_for(load_vision(resolve(vision_path)), rollouts, spec.vision, progress=False)
    dream = dream_returns(spec, members, codes_at(LatentSequences.load(latents)), cfg)
    real_mean, dream_mean = real.mean(axis=1), dream.mean(axis=1)
    return {"mdnrnn": portable(resolve(mdnrnn_path)), "vision": spec.vision,
            "spearman": round(spearman(real_mean, dream_mean), 4),
            "panel": [{"name": m.name, "real": round(float(r), 1), "dream": round(float(d), 1)}
                      for m, r, d in zip(members, real_mean, dream_mean, strict=True)],
            "tracks": cfg.tracks, "seeds": [cfg.seed, cfg.seed + cfg.tracks - 1], "max_steps": cfg.max_steps,
            "tau": cfg.tau, "renderer": cfg.renderer, "dream_starts": f"data/rollouts/{rollouts}",
            "real_env_steps": steps, "seconds": round(time.perf_counter() - start, 1)}

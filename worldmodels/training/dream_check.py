"""Dream-check: does M's dream rank controllers the way the real env does?

A world model is judged by this, not by its prediction loss: CMA-ES in the dream follows the dream's ranking,
so an M whose dream ranks controllers at random trains agents that fail in reality. ``dream_check`` plays a
fixed panel of controllers, through the same V and M, on ``tracks`` real tracks and in as many dreams, and
reports the Spearman rank correlation between their mean real and mean dream returns (1: the same order).

The panel (``panel``): constant actions (idle, gentle gas, full gas, hard left and right with gas, full brake),
every given agent whose controller fits this V and M, a perturbed copy of each, and random controllers of
growing size. A [z, h] agent drives only through the M it was evolved with, so its real return depends on the
M being checked. The panel therefore also holds members that read z alone (h's weights zero): the constant
actions, every given z-only agent of this V (the paper's "V only" agent), copies of it perturbed on z, and
random z-only controllers. Their real returns are the same whatever the M, so ``spearman_h_free``, the
correlation over them alone, compares different Ms on one footing.

Real returns are cached under ``data/dream_check/``: per V, M, tracks and renderer, and for the h-free
members per V only, so checking a new M on the same V replays only the dreams and the M-dependent members.
Real tracks start at ``DreamCheckConfig.seed`` (800,000): no collection, evolution or evaluation uses them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zlib
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
from ..core.config import LOCAL, ControllerConfig, DreamCheckConfig, ParallelConfig
from ..core.parallel import TaskPool
from ..core.provenance import portable, resolve
from ..core.storage import load_json, save_json
from ..models.controller import LinearController
from ..models.mdnrnn import load as load_mdnrnn
from ..models.registry import codes_at, load_vision
from ..world.datasets import LatentSequences
from .loop import default_device
from .vision import latents_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Member:
    """One controller of the panel: a name, its flat parameters (num_params,), and whether it ignores h."""

    name: str
    params: np.ndarray
    h_free: bool = False


def z_only_mask(controller: LinearController) -> np.ndarray:
    """(num_params,) True for the parameters of a linear controller that do not read h: W's z columns and b."""
    if controller.cfg.hidden_layer:
        raise ValueError("z_only_mask: only a linear controller (hidden_layer=0) splits into z and h weights")
    weight = np.zeros((3, controller.input_size), dtype=bool)
    weight[:, : controller.latent_size] = True
    return np.concatenate([weight.ravel(), np.ones(3, dtype=bool)])


def embed_z_only(params: np.ndarray, controller: LinearController) -> np.ndarray:
    """A z-only linear controller's parameters (3 * Z + 3,) as the parameters of ``controller``, a [z, h] one, whose h
    weights are zero: it acts exactly as the z-only one, through any M."""
    mask = z_only_mask(controller)
    if len(params) != mask.sum():
        raise ValueError(f"embed_z_only: a z-only controller for Z={controller.latent_size} has {mask.sum()} "
                         f"parameters, got {len(params)}")
    out = np.zeros(len(mask))
    out[mask] = params
    return out


def panel(spec: AgentSpec, cfg: DreamCheckConfig, agents: list[str | Path]) -> list[Member]:
    """The controllers dream-check ranks (see the module docstring), for ``spec``'s V and M."""
    c, controller = spec.controller, spec.make_controller()
    n = controller.num_params

    def noise(name: str, scale: float) -> np.ndarray:  # each member its own stream: adding an agent changes no other
        return np.random.default_rng([cfg.seed, 0xD5EA, zlib.crc32(name.encode())]).normal(0, scale, n)

    linear_z_h = c.inputs == "z_h" and not c.hidden_layer  # a panel that can hold z-only members
    z_mask = z_only_mask(controller) if linear_z_h else np.ones(n, dtype=bool)
    members = [Member(name, constant_params(n, action), h_free=True) for name, action in CONSTANT_ACTIONS.items()]
    h_free = []
    for path in agents:
        agent_spec, params, _ = load_agent_file(path)
        name = Path(path).stem
        same_v = agent_spec.vision_sha256 == spec.vision_sha256
        if linear_z_h and agent_spec.controller.inputs == "z" and same_v and len(params) == z_mask.sum():
            h_free.append(Member(name, embed_z_only(params, controller), h_free=True))
            continue
        if agent_spec.controller.inputs != c.inputs or len(params) != n:
            continue  # a controller for another kind of V or M
        members.append(Member(name, params, h_free=c.inputs == "z"))
        if cfg.perturbation:
            members.append(Member(f"{name}+noise", params + noise(f"{name}+noise", cfg.perturbation),
                                  h_free=c.inputs == "z"))
    for member in h_free:  # z-only agents and copies perturbed on z, at growing noise, to spread the real returns
        members.append(member)
        for scale in (1, 3) if cfg.perturbation else ():
            name = f"{member.name}+noise{scale}"
            members.append(Member(name, member.params + z_mask * noise(name, scale * cfg.perturbation), h_free=True))
    for s in np.geomspace(0.1, 1.0, cfg.random) if cfg.random else []:
        members.append(Member(f"random_{s:.2g}", noise(f"random_{s:.2g}", s), h_free=c.inputs == "z"))
    if linear_z_h:
        for s in np.geomspace(0.1, 1.0, cfg.random) if cfg.random else []:
            members.append(Member(f"random_z_{s:.2g}", z_mask * noise(f"random_z_{s:.2g}", s), h_free=True))
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


def _cache_key(spec: AgentSpec, cfg: DreamCheckConfig, h_free: bool) -> dict[str, Any]:
    """What a real-return cache summarises: the V (and M, for members that read h) by hash, and the tracks."""
    return {"vision_sha256": spec.vision_sha256, "mdnrnn_sha256": "h_free" if h_free else spec.mdnrnn_sha256,
            "seed": cfg.seed, "tracks": cfg.tracks, "max_steps": cfg.max_steps, "renderer": cfg.renderer}


def _cache_path(spec: AgentSpec, cfg: DreamCheckConfig, h_free: bool) -> Path:
    """The real-return cache of the panel members that read h (per V and M) or of those that do not (per V)."""
    key = _cache_key(spec, cfg, h_free)
    old_key = json.dumps([key["vision_sha256"], key["mdnrnn_sha256"], cfg.seed, cfg.tracks, cfg.max_steps,
                          cfg.renderer])  # the file name caches have always had
    return paths.dream_check_dir() / f"real_{hashlib.sha256(old_key.encode()).hexdigest()[:16]}.json"


def _entry_check(key: dict[str, Any], member: str, returns: list[float], steps: int) -> str:
    """The digest an entry carries: of what it summarises (the cache's key and the member's parameters) and of
    what it says, so an entry edited by hand, or copied from another cache, is found and played again."""
    return hashlib.sha256(json.dumps([key, member, returns, steps], sort_keys=True).encode()).hexdigest()


def _valid_entry(key: dict[str, Any], member: str, entry: Any, cfg: DreamCheckConfig) -> bool:
    """Whether a cached entry is what this code wrote for this key and member: ``cfg.tracks`` finite returns, a
    step count a real run could have taken, and a matching digest."""
    if not isinstance(entry, dict) or set(entry) != {"returns", "steps", "check"}:
        return False
    returns, steps = entry["returns"], entry["steps"]
    if not (isinstance(returns, list) and len(returns) == cfg.tracks
            and all(isinstance(r, (int, float)) and np.isfinite(r) for r in returns)):
        return False
    if type(steps) is not int or not cfg.tracks <= steps <= cfg.tracks * cfg.max_steps:
        return False
    return entry["check"] == _entry_check(key, member, returns, steps)


def _read_cache(path: Path, key: dict[str, Any], cfg: DreamCheckConfig) -> dict[str, Any]:
    """The valid entries of a real-return cache (``_valid_entry``); a file for another key, of another format, or
    entries that fail their check are dropped with a warning, and those members play again."""
    if not path.exists():
        return {}
    try:
        cache = load_json(path)
    except ValueError as e:
        log.warning("%s; its real returns are played again", e)
        return {}
    if not isinstance(cache, dict) or cache.get("key") != key or not isinstance(cache.get("entries"), dict):
        log.warning("%s: not a real-return cache of this V, M and tracks (or of an older format); its members "
                    "are played again", path)
        return {}
    entries = {m: e for m, e in cache["entries"].items() if _valid_entry(key, m, e, cfg)}
    if len(entries) < len(cache["entries"]):
        log.warning("%s: %d cached entries fail their check (edited?); those members are played again", path,
                    len(cache["entries"]) - len(entries))
    return entries


def real_returns(spec: AgentSpec, members: list[Member], cfg: DreamCheckConfig,
                 parallel: ParallelConfig = LOCAL) -> tuple[np.ndarray, int, dict[str, int]]:
    """Each member's returns on the ``cfg.tracks`` real tracks (P, R), from the cache where it has them; the real
    env steps spent now; and the real env steps behind each member's returns, cached or not (``<cache>:<member>``
    -> steps). A cache is keyed by, and checked against, the hashes of what it summarises (``_read_cache``)."""
    files = {flag: _cache_path(spec, cfg, flag) for flag in (False, True)}
    cache_keys = {flag: _cache_key(spec, cfg, flag) for flag in (False, True)}
    caches = {flag: _read_cache(f, cache_keys[flag], cfg) for flag, f in files.items()}
    keys = [hashlib.sha256(m.params.astype(np.float64).tobytes()).hexdigest() for m in members]
    todo = [i for i, (m, k) in enumerate(zip(members, keys, strict=True)) if k not in caches[m.h_free]]
    R, steps = cfg.tracks, 0
    if todo:
        seeds = np.arange(cfg.seed, cfg.seed + R)
        params = np.repeat(np.stack([members[i].params for i in todo]), R, axis=0)  # (P' * R, n)
        with TaskPool.of(parallel) as pool:
            out = run_many(pool, spec, params, np.tile(seeds, len(todo)), cfg.renderer, cfg.max_steps,
                           envs_per_task=cfg.envs_per_task)
        for j, i in enumerate(todo):
            flag = members[i].h_free
            returns = [float(r) for r in out["returns"][j * R : (j + 1) * R]]
            n = int(out["steps"][j * R : (j + 1) * R].sum())
            caches[flag][keys[i]] = {"returns": returns, "steps": n,
                                     "check": _entry_check(cache_keys[flag], keys[i], returns, n)}
        steps = int(out["steps"].sum())
        for flag in {members[i].h_free for i in todo}:
            save_json(files[flag], {"key": cache_keys[flag], "entries": caches[flag]})
    entries = [caches[m.h_free][k] for m, k in zip(members, keys, strict=True)]
    behind = {f"{files[m.h_free].stem}:{k}": e["steps"] for m, k, e in zip(members, keys, entries, strict=True)}
    return np.array([e["returns"] for e in entries]), steps, behind


def dream_returns(spec: AgentSpec, members: list[Member], starts: torch.Tensor, cfg: DreamCheckConfig,
                  world: list[str | Path] = ()) -> np.ndarray:
    """Each member's returns in ``cfg.tracks`` dreams of M (P, R), all dreams in one batch; with ``world`` (M files),
    each dream runs in one of those Ms, drawn per dream, while M gives the controllers their h."""
    mdnrnn = load_mdnrnn(resolve(spec.mdnrnn), device=default_device())
    worlds = [load_mdnrnn(resolve(p), device=default_device()) for p in world]
    params = np.repeat(np.stack([m.params for m in members]), cfg.tracks, axis=0)  # (P * R, n)
    env = DreamEnv(worlds or mdnrnn, starts, tau=cfg.tau, seed=cfg.seed, max_steps=cfg.max_steps,
                   dropout=cfg.dropout, memory=mdnrnn if worlds else None, penalty=cfg.penalty if len(worlds) > 1 else 0.0)
    returns, _ = play(env, spec.make_controller(), params)
    return returns.reshape(len(members), cfg.tracks)


def _correlations(members: list[Member], real_mean: np.ndarray, dream_mean: np.ndarray) -> dict[str, float | None]:
    free = np.array([m.h_free for m in members])
    return {"spearman": round(spearman(real_mean, dream_mean), 4),
            "spearman_h_free": round(spearman(real_mean[free], dream_mean[free]), 4) if free.sum() > 2 else None}


def vision_of(mdnrnn_path: str | Path) -> str:
    """The V whose codes an M was trained on, as its card or run records it."""
    payload = checkpoint.load(mdnrnn_path, kind="mdnrnn")
    source = payload.get("card", {}).get("data", {}).get("encoded_by") or payload["config"].get("encoded_by")
    if not source or source == "unknown":
        raise ValueError(f"{mdnrnn_path}: does not record the V that encoded its data; pass --vision")
    return source


def dream_check(mdnrnn_path: str | Path, cfg: DreamCheckConfig, rollouts: str, vision_path: str | Path | None = None,
                agents: list[str | Path] = (), ensemble: list[str | Path] = (),
                parallel: ParallelConfig = LOCAL) -> dict[str, Any]:
    """Rank the panel in the real env and in M's dream; the result holds ``spearman`` and every member's mean
    real and dream returns.

    Args:
        rollouts: rollouts whose first frames, encoded by V, start the dreams.
        agents: agent files to add to the panel (those whose controller fits this V and M).
        ensemble: M files dreamt in as ``EvolutionConfig.ensemble`` does (M gives the controllers their h): the
            result then also holds ``ensemble`` (the correlations with each dream in a member drawn per dream, the
            panel's dream returns there) and ``members`` (each M alone as the world).
        parallel: where the real episodes run (the returns are the same on any).
    """
    start = time.perf_counter()
    vision_path = vision_path or vision_of(mdnrnn_path)
    spec = AgentSpec.build(resolve(vision_path), resolve(mdnrnn_path), ControllerConfig())
    members = panel(spec, cfg, list(agents))
    real, steps, behind = real_returns(spec, members, cfg, parallel)
    latents = latents_for(load_vision(resolve(vision_path)), rollouts, spec.vision, progress=False)
    starts = codes_at(LatentSequences.load(latents))
    dream = dream_returns(spec, members, starts, cfg)
    real_mean, dream_mean = real.mean(axis=1), dream.mean(axis=1)
    result = {"mdnrnn": portable(resolve(mdnrnn_path)), "vision": spec.vision,
              **_correlations(members, real_mean, dream_mean),
              "panel": [{"name": m.name, "real": round(float(r), 1), "dream": round(float(d), 1), "h_free": m.h_free}
                        for m, r, d in zip(members, real_mean, dream_mean, strict=True)]}
    if ensemble:
        together = dream_returns(spec, members, starts, cfg, list(ensemble)).mean(axis=1)
        result["ensemble"] = {"mdnrnn": [portable(resolve(p)) for p in ensemble],
                              **_correlations(members, real_mean, together),
                              "dream": [round(float(d), 1) for d in together]}
        result["members"] = [{"mdnrnn": portable(resolve(p)), **_correlations(
            members, real_mean, dream_returns(spec, members, starts, cfg, [p]).mean(axis=1))} for p in ensemble]
    return {**result,
            "tracks": cfg.tracks, "seeds": [cfg.seed, cfg.seed + cfg.tracks - 1], "max_steps": cfg.max_steps,
            "tau": cfg.tau, "dropout": cfg.dropout, **({"penalty": cfg.penalty} if cfg.penalty else {}), "renderer": cfg.renderer, "dream_starts": f"data/rollouts/{rollouts}",
            "real_env_steps": steps, "real_env_steps_behind": behind, "seconds": round(time.perf_counter() - start, 1)}

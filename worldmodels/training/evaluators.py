"""How CMA-ES scores its candidates: each evaluator maps candidates (P, n) and seeds (R,) to returns (P, R).

``RealEvaluator`` plays the P x R episodes in CarRacing on a task pool, split into tasks of ``envs_per_task``;
``DreamEvaluator`` steps all of them as one batch inside M, or each inside a member of ``EvolutionConfig.ensemble``
(``agent.dream.DreamEnv``), from real starts (``dream_latents``: episodes' first frames, or with
``EvolutionConfig.dream_branches`` mid-episode states with each M's state there), on CUDA when present. Neither knows anything of the ES.
"""

from __future__ import annotations

import numpy as np
import torch

from ..agent.dream import DreamEnv, Starts, branch_starts, play
from ..agent.episodes import run_many
from ..agent.files import AgentSpec
from ..core.config import Config, EvolutionConfig
from ..core.parallel import TaskPool
from ..core.provenance import resolve
from ..models.mdnrnn import load as load_mdnrnn
from ..models.registry import codes_at, load_vision
from ..world.datasets import LatentSequences
from .loop import default_device
from .vision import latents_for


class RealEvaluator:
    """Candidates drive in CarRacing; P x R episodes split into tasks of ``envs_per_task``."""

    def __init__(self, cfg: EvolutionConfig, spec: AgentSpec, pool: TaskPool):
        self.cfg, self.spec, self.pool = cfg, spec, pool

    def __call__(self, candidates: np.ndarray, seeds: np.ndarray, generation: int) -> tuple[np.ndarray, dict]:
        P, R = len(candidates), len(seeds)
        params = np.repeat(candidates, R, axis=0)  # (P * R, n), candidate-major
        out = run_many(self.pool, self.spec, params, np.tile(seeds, P), self.cfg.renderer, self.cfg.max_steps,
                       self.cfg.tile_cutoff, self.cfg.envs_per_task, self.cfg.vision_precision)
        return out["returns"].reshape(P, R), {"env_steps": int(out["steps"].sum()), "cut": int(out["cut"].sum())}


class DreamEvaluator:
    """All P x R episodes at once inside M, from real starts, at temperature ``cfg.dream_tau``.

    ``latents`` (``dream_latents``): the real episodes the dreams start from, at their first frames, or with
    ``cfg.dream_branches`` > 0 at that many mid-episode states drawn once (seed ``cfg.seed``) and kept for the run.
    """

    def __init__(self, cfg: EvolutionConfig, spec: AgentSpec, latents: dict[str, np.ndarray]):
        self.cfg, self.spec = cfg, spec
        self.mdnrnn = load_mdnrnn(resolve(spec.mdnrnn), device=default_device())  # CUDA when present
        # an ensemble is the world; the agent's own M then only gives C its h
        self.world = [load_mdnrnn(resolve(p), device=default_device()) for p in cfg.ensemble] or self.mdnrnn
        self.controller = spec.make_controller()
        if cfg.dream_branches:
            world = self.world if cfg.ensemble else [self.mdnrnn]
            self.starts = branch_starts(world, self.mdnrnn if cfg.ensemble else None, latents, cfg.dream_branches,
                                        seed=cfg.seed)
        else:
            self.starts = Starts(codes_at(latents))

    @torch.no_grad()
    def __call__(self, candidates: np.ndarray, seeds: np.ndarray, generation: int) -> tuple[np.ndarray, dict]:
        P, R = len(candidates), len(seeds)
        params = np.repeat(candidates, R, axis=0)  # (P * R, n)
        env = DreamEnv(self.world, self.starts, tau=self.cfg.dream_tau, seed=int(seeds[0]),
                       max_steps=self.cfg.max_steps, termination_reward=self.cfg.dream_termination_reward,
                       dropout=self.cfg.dream_dropout, memory=self.mdnrnn if self.cfg.ensemble else None,
                       penalty=self.cfg.dream_penalty)
        returns, steps = play(env, self.controller, params, shared=R if self.cfg.dream_shared_starts else 0)
        return returns.reshape(P, R), {"dream_steps": steps}


def dream_latents(cfg: Config, spec: AgentSpec) -> dict[str, np.ndarray]:
    """The real episodes dreams start from: the rollouts of ``cfg.collect``, encoded by the agent's V
    (``LatentSequences.load``: a memory-mapped store is not read whole)."""
    path = latents_for(load_vision(resolve(spec.vision)), cfg.collect.name, spec.vision, progress=False)
    return LatentSequences.load(path)

"""How CMA-ES scores its candidates: each evaluator maps candidates (P, n) and seeds (R,) to returns (P, R).

``RealEvaluator`` plays the P x R episodes in CarRacing on a task pool, split into tasks of ``envs_per_task``;
``DreamEvaluator`` steps all of them as one batch inside M, or each inside a member of ``EvolutionConfig.ensemble``
(``agent.dream.DreamEnv``), from real start latents (``dream_starts``), on CUDA when present. Neither knows anything of the ES.
"""

from __future__ import annotations

import numpy as np
import torch

from ..agent.dream import DreamEnv, play
from ..agent.episodes import run_many
from ..agent.files import AgentSpec
from ..core.config import Config, EvolutionConfig
from ..core.parallel import TaskPool
from ..core.provenance import resolve
from ..models.controller import LinearController
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
    """All P x R episodes at once inside M, from real start latents, at temperature ``cfg.dream_tau``."""

    def __init__(self, cfg: EvolutionConfig, spec: AgentSpec, starts: torch.Tensor):
        self.cfg, self.spec, self.starts = cfg, spec, starts
        self.mdnrnn = load_mdnrnn(resolve(spec.mdnrnn), device=default_device())  # CUDA when present
        # an ensemble is the world; the agent's own M then only gives C its h
        self.world = [load_mdnrnn(resolve(p), device=default_device()) for p in cfg.ensemble] or self.mdnrnn
        self.controller = LinearController(spec.controller)

    @torch.no_grad()
    def __call__(self, candidates: np.ndarray, seeds: np.ndarray, generation: int) -> tuple[np.ndarray, dict]:
        P, R = len(candidates), len(seeds)
        params = np.repeat(candidates, R, axis=0)  # (P * R, n)
        env = DreamEnv(self.world, self.starts, tau=self.cfg.dream_tau, seed=int(seeds[0]),
                       max_steps=self.cfg.max_steps, termination_reward=self.cfg.dream_termination_reward,
                       dropout=self.cfg.dream_dropout, memory=self.mdnrnn if self.cfg.ensemble else None,
                       penalty=self.cfg.dream_penalty)
        returns, steps = play(env, self.controller, params)
        return returns.reshape(P, R), {"dream_steps": steps}


def dream_starts(cfg: Config, spec: AgentSpec) -> torch.Tensor:
    """Real start latents for dreams: step 0 of every rollout of ``cfg.collect``, encoded by the agent's V."""
    path = latents_for(load_vision(resolve(spec.vision)), cfg.collect.name, spec.vision, progress=False)
    return codes_at(LatentSequences.load(path))

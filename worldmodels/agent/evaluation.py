"""The evaluation protocol: an agent on held-out tracks, as SB3's ``evaluate_policy`` takes a policy.

Seeds keep training and evaluation apart: evolution draws its episode seeds from ``TRAIN_SEEDS``, the
protocol uses consecutive seeds from ``EVALUATION_SEED`` (900,000), and rollout collection uses 0 upwards
(the presets stop at 10,000), so an evaluated track is never one the controller was trained or selected on.

    evaluate(agent, seeds, pool, renderer, max_steps)   objects in, scores out
    evaluate_file(path, cfg.evaluation)                 the protocol for an agent file (100 x 1000 steps, stock)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core.config import LOCAL, EvaluationConfig, ParallelConfig
from ..core.parallel import TaskPool
from ..core.provenance import portable, update_card
from ..models.encoder import precision_for
from .episodes import EnvSource, run_many
from .files import Agent

TRAIN_SEEDS = (1_000_000, 2**31 - 1)  # evolution draws its episode seeds from this range
EVALUATION_SEED = 900_000  # the protocol uses EVALUATION_SEED, EVALUATION_SEED + 1, ...
SOLVED = 900.0  # CarRacing counts as solved at a mean of 900 over 100 episodes


def evaluate(agent: Agent, seeds: np.ndarray, pool: TaskPool, renderer: EnvSource = "stock", max_steps: int = 1000,
             envs_per_task: int = 4, precision: str = "float32", progress: bool = False) -> dict[str, Any]:
    """One episode of ``agent`` per seed (E,), run on ``pool``, in envs of ``renderer`` (a renderer name, or a
    function that makes an env); ``progress`` shows a bar over the episodes done.

    Returns:
        ``returns`` (list of E), ``mean``, ``std``, ``min``, ``max``, ``solved`` (mean >= 900), ``env_steps``,
        and the settings (``episodes``, ``seeds`` [first, last], ``renderer``, ``max_steps``).
    """
    seeds = np.asarray(seeds)
    precision = precision_for(agent.spec.latent, precision)  # what V will run in: a discrete V stays float32
    renderer_name = renderer if isinstance(renderer, str) else getattr(renderer, "__name__", repr(renderer))
    result = run_many(pool, agent.spec, np.repeat(agent.params[None], len(seeds), 0), seeds, renderer, max_steps,
                      envs_per_task=envs_per_task, precision=precision,
                      progress=f"evaluating on {len(seeds)} tracks" if progress else None)
    returns = result["returns"]
    return {"episodes": len(seeds), "seeds": [int(seeds[0]), int(seeds[-1])], "renderer": renderer_name,
            **({"vision_precision": precision} if precision != "float32" else {}),
            "max_steps": max_steps, "returns": [round(float(r), 2) for r in returns],
            "mean": round(float(returns.mean()), 2), "std": round(float(returns.std()), 2),
            "min": round(float(returns.min()), 2), "max": round(float(returns.max()), 2),
            "solved": bool(returns.mean() >= SOLVED), "env_steps": int(result["steps"].sum())}


def evaluate_file(agent_path: str | Path, cfg: EvaluationConfig | None = None, progress: bool = False,
                  parallel: ParallelConfig = LOCAL) -> dict[str, Any]:
    """The protocol for an agent file: ``cfg.episodes`` episodes with seeds ``cfg.seed, cfg.seed + 1, ...``,
    full 1000-step episodes (a shorter ``cfg.max_steps`` is for quick checks only), the stock renderer;
    ``progress`` shows a bar; ``parallel`` says where the episodes run (the scores are the same on any)."""
    cfg = cfg or EvaluationConfig()
    agent = Agent.load(agent_path)
    with TaskPool.of(parallel) as pool:
        result = evaluate(agent, np.arange(cfg.seed, cfg.seed + cfg.episodes), pool, cfg.renderer, cfg.max_steps,
                          cfg.envs_per_task, cfg.vision_precision, progress)
    return {"agent": portable(agent_path), **result}


def write_evaluation(agent_path: str | Path, result: dict[str, Any]) -> Path:
    """Put an evaluation (without the per-episode returns) into the agent's JSON card; returns the card."""
    return update_card(agent_path, "evaluation", {k: v for k, v in result.items() if k != "returns"})

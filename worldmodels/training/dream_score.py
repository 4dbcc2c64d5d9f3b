"""Score agents by their mean return in held-out dreams: a choice among candidates that needs no real return.

Evolution in the dream fits the states and the dreams it was scored on. Scoring each candidate again in dreams it
never trained on (another draw of real branch states, ``EvolutionConfig.seed``, and fresh dreams) gives each
the same test: every agent meets the same starts in the same members (one generator, seeded alike), so the
differences between agents are paired. ``dream-score`` prints them and names the highest.

It measures; it is not a rule to trust yet. On the eleven dream agents scored so far, the highest held-out dream
return never went with the best real driver (research log, stop 41): these Ms pay for what fools them in short
dreams too.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..agent.files import Agent
from ..core.config import Config
from ..core.provenance import portable
from .evaluators import DreamEvaluator, dream_latents


def dream_scores(cfg: Config, agents: list[str | Path], dreams: int) -> dict[str, Any]:
    """Each agent's returns in ``dreams`` dreams of ``cfg.evolution``'s kind (its ``ensemble``, ``dream_branches``
    drawn with ``seed``, ``max_steps``, ``dream_tau``), started from ``cfg.collect.name``'s rollouts.

    Every agent must see through the same V and M (one set of starts serves them all).

    Returns:
        ``agents``: one row per agent, in the order given (``agent``, ``mean``, ``std``, ``se``, and ``paired``:
        mean and standard error of its returns minus the best agent's, dream by dream); ``best``: the agent with the
        highest mean; and the settings (``dreams``, ``dream_steps``, ``seconds``).
    """
    if not agents:
        raise ValueError("dream-score: name one or more agent files")
    if dreams < 2:
        raise ValueError(f"dream-score: --dreams {dreams}; score in 2 or more dreams (a standard error needs two)")
    loaded = [Agent.load(a) for a in agents]
    spec = loaded[0].spec
    for path, agent in zip(agents[1:], loaded[1:], strict=True):
        if (agent.spec.vision_sha256, agent.spec.mdnrnn_sha256) != (spec.vision_sha256, spec.mdnrnn_sha256):
            raise ValueError(f"{path} sees through {agent.spec.vision} and {agent.spec.mdnrnn}, {agents[0]} through "
                             f"{spec.vision} and {spec.mdnrnn}: score agents of one V and M together")
    started = time.perf_counter()
    evaluator = DreamEvaluator(cfg.evolution, spec, dream_latents(cfg, spec))
    seeds = np.arange(dreams) + cfg.evolution.seed  # seeds[0] seeds the dreams' generator: the same for every agent
    returns, steps = [], 0
    for agent in loaded:
        r, info = evaluator(agent.params[None], seeds, 0)
        returns.append(r[0])
        steps += info["dream_steps"]
    means = [float(r.mean()) for r in returns]
    best = int(np.argmax(means))
    rows = []
    for path, r in zip(agents, returns, strict=True):
        diff = r - returns[best]
        rows.append({"agent": portable(path), "mean": round(float(r.mean()), 2), "std": round(float(r.std()), 2),
                     "se": round(float(r.std(ddof=1) / np.sqrt(dreams)), 2),
                     "paired": {"mean": round(float(diff.mean()), 2),
                                "se": round(float(diff.std(ddof=1) / np.sqrt(dreams)), 2)}})
    e = cfg.evolution
    return {"agents": rows, "best": portable(agents[best]), "dreams": dreams, "rollouts": cfg.collect.name,
            "ensemble": [portable(p) for p in e.ensemble], "dream_branches": e.dream_branches, "seed": e.seed,
            "max_steps": e.max_steps, "dream_tau": e.dream_tau, "dream_steps": steps,
            "seconds": round(time.perf_counter() - started, 1)}

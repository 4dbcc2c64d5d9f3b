"""The controller stage's costs: agent steps/s, one generation per backend, dream vs real.

    python benchmarks/controller.py [--rounds 3] [--steps 200] [--agent-only]

1. Agent steps/s on one core (one process, one torch thread): the shipped book V and M and a
   random controller, several envs stepped together (V and M batched). The earlier path (fast renderer, 8 envs,
   V in float32: evolution's defaults until the issue "A faster agent step") against today's (the direct
   renderer, 32 envs, a bfloat16 copy of V, channels-last), with the steps between. Rounds interleave them;
   medians and ratios to the earlier path are printed.
2. Wall time of one generation (population 8 x 2 trials x ``--steps`` steps on the evolution preset's path:
   direct renderer, V in bfloat16; 8 envs a task, so that the 16 episodes make two tasks) with each backend on a
   warm pool (serial, process, ray); the first generation, which includes starting the pool and loading V and M
   in every worker, is printed separately.
3. Dream vs real for the same population (16 x 4 trials x ``--steps`` steps): ``RealEvaluator``
   on a process pool against ``DreamEvaluator`` (all 64 episodes in one batch inside M).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import worldmodels as wm
from worldmodels.agent.acting import WorldModelAgent, run_episodes
from worldmodels.agent.episodes import make_agent_env
from worldmodels.agent.files import AgentSpec
from worldmodels.core.config import ControllerConfig
from worldmodels.core.parallel import TaskPool
from worldmodels.training.evaluators import DreamEvaluator, RealEvaluator, dream_latents
from worldmodels.training.evolve import generation_seeds

ROOT = Path(__file__).resolve().parent.parent


def agent_rate(spec: AgentSpec, renderer: str, batch: int, steps: int, precision: str = "float32") -> float:
    agent = WorldModelAgent(spec, precision=precision)
    envs = [make_agent_env(renderer, agent) for _ in range(batch)]
    params = np.random.default_rng(0).normal(0, 0.1, (batch, 867))
    start = time.perf_counter()
    out = run_episodes(agent, envs, params, np.arange(batch) + 100, max_steps=steps)
    return out["steps"].sum() / (time.perf_counter() - start)


def generation_seconds(evaluator, candidates: np.ndarray, trials: int) -> float:
    start = time.perf_counter()
    evaluator(candidates, generation_seeds(0, 0, trials), 0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--agent-only", action="store_true", help="section 1 only")
    args = parser.parse_args()
    spec = AgentSpec.build(ROOT / "checkpoints/vae/book.pt", ROOT / "checkpoints/mdnrnn/vae_book.pt", ControllerConfig())
    rng = np.random.default_rng(0)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    earlier, new = ("fast", 8, "float32"), ("direct", 32, "bfloat16")
    cases = [("stock", 1, "float32"), earlier, ("direct", 8, "float32"), ("direct", 32, "float32"), new]
    rates = {c: [] for c in cases}
    for _ in range(args.rounds):
        for case in cases:
            rates[case].append(agent_rate(spec, case[0], case[1], args.steps, case[2]))
    base = statistics.median(rates[earlier])
    print(f"\n1. agent steps/s on one core (1 torch thread), median of {args.rounds} rounds of {args.steps} steps")
    print("| renderer | envs stepped together | V | agent steps/s | x the earlier path (fast, 8, float32) |")
    print("|---|---|---|---|---|")
    for case in cases:
        r = statistics.median(rates[case])
        print(f"| {case[0]} | {case[1]} | {case[2]} | {r:,.0f} | {r / base:.2f} |")
    ratios = [n / t for n, t in zip(rates[new], rates[earlier], strict=True)]
    print(f"today's path / the earlier path, per round: {', '.join(f'{x:.2f}' for x in ratios)} (median "
          f"{statistics.median(ratios):.2f})")
    torch.set_num_threads(threads)
    if args.agent_only:
        return

    cfg = wm.get_config("book", evolution={"max_steps": args.steps, "envs_per_task": 8})
    candidates = rng.normal(0, 0.1, (8, 867))
    print(f"\n2. one generation: population 8 x 2 trials x {args.steps} steps, direct renderer, bf16 V, 8 envs a task, "
          f"warm pool (median of {args.rounds})")
    print("| backend | workers | start + first generation, s | generation, s | x serial |")
    print("|---|---|---|---|---|")
    times = {}
    for backend in ("serial", "process", "ray"):
        start = time.perf_counter()
        with TaskPool(backend, 2 if backend != "serial" else 1) as pool:
            evaluator = RealEvaluator(cfg.evolution, spec, pool)
            generation_seconds(evaluator, candidates, 2)  # warm-up: workers start, load V and M, make envs
            started = time.perf_counter() - start
            times[backend] = statistics.median(generation_seconds(evaluator, candidates, 2) for _ in range(args.rounds))
        print(f"| {backend} | {1 if backend == 'serial' else 2} | {started:.1f} | {times[backend]:.2f} | "
              f"{times['serial'] / times[backend]:.2f} |")
        if backend == "ray":
            import ray

            ray.shutdown()

    population = rng.normal(0, 0.1, (16, 867))
    dream_cfg = wm.get_config("book", evolution={"max_steps": args.steps, "mode": "dream"})
    dreamer = DreamEvaluator(dream_cfg.evolution, spec, dream_latents(dream_cfg, spec))
    with TaskPool("process", 2) as pool:
        real = RealEvaluator(cfg.evolution, spec, pool)
        generation_seconds(real, population[:2], 1)  # warm-up
        real_s = statistics.median(generation_seconds(real, population, 4) for _ in range(args.rounds))
    dream_s = statistics.median(generation_seconds(dreamer, population, 4) for _ in range(args.rounds))
    print(f"\n3. the same population, 16 x 4 trials x {args.steps} steps (median of {args.rounds})")
    print("| evaluation | seconds | x dream |")
    print("|---|---|---|")
    print(f"| real env, direct renderer, bf16 V, process pool of 2 | {real_s:.2f} | {real_s / dream_s:.0f} |")
    print(f"| dream, one batch of 64 in M | {dream_s:.2f} | 1 |")


if __name__ == "__main__":
    main()

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

Writes ``benchmarks/results/controller.json`` (``--record``).
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
from worldmodels.benchmark import Record
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
    parser.add_argument("--record", default=None, help="where the record goes (default benchmarks/results/)")
    args = parser.parse_args()
    record = Record.start("controller")
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
    record.table(f"1. Agent steps/s on one core (1 torch thread), median of {args.rounds} rounds of {args.steps} steps",
                 ["renderer", "envs stepped together", "V", "agent steps/s", "x the earlier path (fast, 8, float32)"],
                 [[*case, f"{statistics.median(rates[case]):,.0f}", f"{statistics.median(rates[case]) / base:.2f}"]
                  for case in cases])
    ratios = [n / t for n, t in zip(rates[new], rates[earlier], strict=True)]
    record.note(f"Today's path (direct, 32 envs, bfloat16 V) over the earlier one, per round: "
                f"{', '.join(f'{x:.2f}' for x in ratios)} (median {statistics.median(ratios):.2f}).")
    record.headline("agent steps/s on one core, evolution's path (direct renderer, 32 envs, bf16 V)",
                    f"{statistics.median(rates[new]):,.0f}")
    torch.set_num_threads(threads)
    if not args.agent_only:
        backends_and_dreams(record, spec, rng, args)
    record.save(args.record)


def backends_and_dreams(record: Record, spec: AgentSpec, rng: np.random.Generator, args) -> None:
    """Sections 2 and 3: a generation on each backend, and the same population in the real env and the dream."""
    cfg = wm.get_config("book", evolution={"max_steps": args.steps, "envs_per_task": 8})
    candidates = rng.normal(0, 0.1, (8, 867))
    rows, times = [], {}
    for backend in ("serial", "process", "ray"):
        start = time.perf_counter()
        with TaskPool(backend, 2 if backend != "serial" else 1) as pool:
            evaluator = RealEvaluator(cfg.evolution, spec, pool)
            generation_seconds(evaluator, candidates, 2)  # warm-up: workers start, load V and M, make envs
            started = time.perf_counter() - start
            times[backend] = statistics.median(generation_seconds(evaluator, candidates, 2) for _ in range(args.rounds))
        rows.append([backend, 1 if backend == "serial" else 2, f"{started:.1f}", f"{times[backend]:.2f}",
                     f"{times['serial'] / times[backend]:.2f}"])
        if backend == "ray":
            import ray

            ray.shutdown()
    record.table(f"2. One generation: population 8 x 2 trials x {args.steps} steps, direct renderer, bf16 V, 8 envs a "
                 f"task, warm pool (median of {args.rounds})",
                 ["backend", "workers", "start + first generation, s", "generation, s", "x serial"], rows)

    population = rng.normal(0, 0.1, (16, 867))
    dream_cfg = wm.get_config("book", evolution={"max_steps": args.steps, "mode": "dream"})
    dreamer = DreamEvaluator(dream_cfg.evolution, spec, dream_latents(dream_cfg, spec))
    with TaskPool("process", 2) as pool:
        real = RealEvaluator(cfg.evolution, spec, pool)
        generation_seconds(real, population[:2], 1)  # warm-up
        real_s = statistics.median(generation_seconds(real, population, 4) for _ in range(args.rounds))
    dream_s = statistics.median(generation_seconds(dreamer, population, 4) for _ in range(args.rounds))
    record.table(f"3. The same population in the real env and in the dream, 16 x 4 trials x {args.steps} steps "
                 f"(median of {args.rounds})", ["evaluation", "seconds", "x dream"],
                 [["real env, direct renderer, bf16 V, process pool of 2", f"{real_s:.2f}", f"{real_s / dream_s:.0f}"],
                  ["dream, one batch of 64 in M", f"{dream_s:.2f}", "1"]])

if __name__ == "__main__":
    main()

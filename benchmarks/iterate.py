"""What dream-check and a round of the iterative loop cost on this machine.

    python benchmarks/iterate.py [--rounds 3] [--tracks 2] [--max-steps 300] [--loop data/runs/iterate_vae_NAME]

Dream-check, split into its two halves on the shipped book V and M and the same panel (16 controllers):
the real half (every controller on ``--tracks`` real tracks, fast renderer, a process pool on every core; the
cache is bypassed) against the dream half (the same controllers in as many dreams of M, one batch). Rounds
interleave the two; medians and their ratio are printed, and the cost of a whole dream-check at the default
6 tracks x 1000 steps is scaled from them.

With ``--loop``, the wall time of each step of each finished round of that loop, as its ``state.json``
recorded it (the loop's own run, not repeated here). Needs the book's rollouts (``python -m worldmodels
collect``, or ``make run``). Writes ``benchmarks/results/iterate.json`` (``--record``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from worldmodels.agent.episodes import run_many
from worldmodels.agent.files import AgentSpec
from worldmodels.benchmark import Record
from worldmodels.core import paths
from worldmodels.core.config import ControllerConfig, DreamCheckConfig
from worldmodels.core.parallel import TaskPool
from worldmodels.models.registry import codes_at, load_vision
from worldmodels.training.dream_check import dream_returns, panel
from worldmodels.training.iterate import STEPS
from worldmodels.training.vision import latents_for
from worldmodels.world.datasets import LatentSequences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tracks", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--loop", type=Path, default=None)
    parser.add_argument("--record", default=None, help="where the record goes (default benchmarks/results/)")
    args = parser.parse_args()
    record = Record.start("iterate")

    vision, mdnrnn = paths.vision_release("vae", "book"), paths.mdnrnn_release("vae", "book")
    cfg = DreamCheckConfig(tracks=args.tracks, max_steps=args.max_steps)
    spec = AgentSpec.build(vision, mdnrnn, ControllerConfig())
    members = panel(spec, cfg, sorted((paths.checkpoint_dir() / "controller").glob("vae_*book.pt")))
    starts = codes_at(LatentSequences.load(latents_for(load_vision(vision), "book", spec.vision, progress=False)))
    params = np.repeat(np.stack([m.params for m in members]), cfg.tracks, axis=0)
    seeds = np.tile(np.arange(cfg.seed, cfg.seed + cfg.tracks), len(members))
    real, dream, steps = [], [], 0
    with TaskPool("process", 0) as pool:
        for _ in range(args.rounds):
            start = time.perf_counter()
            out = run_many(pool, spec, params, seeds, cfg.renderer, cfg.max_steps, envs_per_task=cfg.envs_per_task)
            real.append(time.perf_counter() - start)
            steps = int(out["steps"].sum())
            start = time.perf_counter()
            dream_returns(spec, members, starts, cfg)
            dream.append(time.perf_counter() - start)
    r, d = statistics.median(real), statistics.median(dream)
    scale = 6 * 1000 / (cfg.tracks * cfg.max_steps)
    record.table(f"Dream-check's halves, {len(members)} controllers x {cfg.tracks} tracks x {cfg.max_steps} steps, "
                 f"median of {args.rounds} interleaved rounds", ["half", "seconds", "steps/s", "x dream"],
                 [["real (fast renderer, every core)", f"{r:.2f}", f"{steps / r:,.0f}", f"{r / d:.1f}"],
                  [f"dream (one batch of {len(params)})", f"{d:.2f}", f"{len(params) * cfg.max_steps / d:,.0f}", "1.0"]])
    record.note(f"A whole dream-check (6 tracks x 1000 steps), scaled: real half about {r * scale:.0f} s, dream half "
                f"about {d * scale:.0f} s. Real returns are cached per V and M: a new M, as every round of the loop "
                f"makes, replays both halves; the same M checked again, only the dreams.")
    record.headline("a whole dream-check (6 tracks x 1000 steps, the book's panel), scaled",
                    f"about {r * scale + d * scale:.0f} s ({r * scale:.0f} s of it real episodes)")
    if args.loop:
        state = json.loads((args.loop / "state.json").read_text())
        rows = []
        for row in state["rounds"]:
            times = [row.get(s, {}).get("seconds") for s in STEPS]
            total = sum(t for t in times if t is not None)
            rows.append([row["round"], *("-" if t is None else f"{t:.0f}" for t in times), f"{total:.0f}"])
        record.table(f"{args.loop}: seconds per step of each round, as the loop recorded them",
                     ["round", *STEPS, "total"], rows)
    record.save(args.record)

if __name__ == "__main__":
    main()

"""Collection throughput (env steps/s, preprocessing and file writing included) on 1 vs 2 workers.

    python benchmarks/collection.py [--rounds 3] [--episodes 8] [--steps 200] [--renderer fast]

Each round collects the same episodes into fresh temporary folders with 1 and
then 2 worker processes (alternating which goes first) and reports the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from worldmodels import get_config
from worldmodels.world.rollouts import collect


def timed(workers: int, episodes: int, steps: int, renderer: str, folder: Path) -> float:
    cfg = get_config("smoke", collect={"episodes": episodes, "steps": steps, "workers": workers,
                                       "renderer": renderer, "backend": "process"}).collect
    start = time.perf_counter()
    collect(cfg, folder=folder, progress=False)
    return episodes * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--renderer", default="fast")
    args = parser.parse_args()
    rates = {1: [], 2: []}
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.rounds):
            this = {}
            for workers in ((1, 2) if k % 2 == 0 else (2, 1)):
                this[workers] = timed(workers, args.episodes, args.steps, args.renderer, Path(tmp) / f"{k}-{workers}")
                rates[workers].append(this[workers])
            ratios.append(this[2] / this[1])
    print(f"\ncollection, {args.episodes} x {args.steps} steps, renderer {args.renderer}, "
          f"median of {args.rounds} rounds (pool start-up included)")
    print("| workers | env steps/s | x 1 worker |")
    print("|---|---|---|")
    print(f"| 1 | {statistics.median(rates[1]):.0f} | 1.00 |")
    print(f"| 2 | {statistics.median(rates[2]):.0f} | {statistics.median(ratios):.2f} |")


if __name__ == "__main__":
    main()

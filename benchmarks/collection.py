"""Collection throughput to M's data: env steps/s and bytes on disk a step, today's path against the paper's.

    python benchmarks/collection.py [--rounds 3] [--episodes 8] [--steps 1000] [--workers 2]

``today``: the book's path: the ``fast`` renderer's 96x96 state, preprocessed, every frame stored, then a separate
``encode`` pass (float32, one process) for M's latents. ``paper``: the ``paper`` preset's path: the ``direct``
renderer draws V's 64x64 input, the ``blend`` policy (random, brownian and the scripted pilot), and each worker
encodes its episodes as it collects them (bfloat16), keeping the frames of every ``frames_every``-th episode only
(``paper_all_frames`` keeps them all). Every variant collects the same seeds into fresh folders with the same
workers, in an order that rotates each round; steps/s counts the steps the episodes really took (a finished lap
ends one early), start-up, writing and encoding included. The last lines project the preset's 10,000 x 1,000 steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

from worldmodels import get_config
from worldmodels.core import paths
from worldmodels.models.encoder import collection_encoder
from worldmodels.models.registry import load_vision
from worldmodels.training.vision import encode
from worldmodels.world.rollouts import collect

VISION = "checkpoints/vae/book.pt"


def folder_bytes(*folders: Path) -> int:
    return sum(f.stat().st_size for folder in folders for f in Path(folder).rglob("*") if f.is_file())


def run(variant: str, args, root: Path) -> tuple[float, float]:
    """(env steps/s, bytes a step) of one variant, collected under ``root`` (a fresh WM_ROOT)."""
    os.environ["WM_ROOT"] = str(root)
    (root / "checkpoints").mkdir(parents=True, exist_ok=True)
    vision = root / VISION
    vision.parent.mkdir(parents=True, exist_ok=True)
    vision.write_bytes((Path(__file__).resolve().parents[1] / VISION).read_bytes())
    paper = get_config("paper").collect
    base = get_config("smoke").collect
    common = {"episodes": args.episodes, "steps": args.steps, "seed": 0, "workers": args.workers,
              "backend": "process", "name": variant}
    if variant == "today":
        cfg = dataclasses.replace(base, **common, policy="random", renderer="fast")
    else:
        frames_every = 1 if variant == "paper_all_frames" else paper.frames_every
        cfg = dataclasses.replace(paper, **common, encoder=VISION, frames_every=frames_every)
    start = time.perf_counter()
    files = collect(cfg, progress=False, make_encoder=collection_encoder if cfg.encoder else None)
    if variant == "today":
        encode(load_vision(vision), variant, progress=False, source=VISION)
    seconds = time.perf_counter() - start
    from worldmodels.world.datacard import describe

    steps = describe(files)["all"]["steps"]
    latents = paths.data_dir() / "latents"
    return steps / seconds, folder_bytes(paths.rollout_dir(variant), *([latents] if latents.exists() else [])) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    variants = ["today", "paper", "paper_all_frames"]
    rates: dict[str, list[float]] = {v: [] for v in variants}
    sizes: dict[str, list[float]] = {v: [] for v in variants}
    ratios: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.rounds):
            order = variants[k % 3:] + variants[:k % 3]
            this = {}
            for v in order:
                this[v], size = run(v, args, Path(tmp) / f"{k}-{v}")
                rates[v].append(this[v])
                sizes[v].append(size)
            for v in variants:
                ratios[v].append(this[v] / this["today"])
    paper = get_config("paper").collect
    total = paper.episodes * paper.steps
    print(f"\ncollection to M's data, {args.episodes} x {args.steps} steps, {args.workers} workers, median of "
          f"{args.rounds} rounds (start-up, writing and encoding included)")
    print("| path | env steps/s | x today | bytes a step | 10,000 x 1,000 steps would take |")
    print("|---|---|---|---|---|")
    for v in variants:
        rate, size = statistics.median(rates[v]), statistics.median(sizes[v])
        print(f"| {v} | {rate:.0f} | {statistics.median(ratios[v]):.2f} | {size:,.0f} | "
              f"{total / rate / 60:.0f} min, {total * size / 1e9:.1f} GB |")


if __name__ == "__main__":
    main()

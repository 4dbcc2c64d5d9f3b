"""Collection throughput to M's data: env steps/s and bytes on disk a step, today's path against the paper's.

    python benchmarks/collection.py [--rounds 3] [--episodes 8] [--steps 1000] [--workers 2]

``today``: the book's path: the ``fast`` renderer's 96x96 state, preprocessed, every frame stored, then a separate
``encode`` pass (float32, one process) for M's latents. ``paper``: the ``paper`` preset's path: the ``direct``
renderer draws V's 64x64 input, the ``blend`` policy (random, brownian and the scripted pilot), and each worker
encodes its episodes as it collects them (bfloat16), keeping the frames of every ``frames_every``-th episode only
(``paper_all_frames`` keeps them all). Every variant collects the same seeds into fresh folders with the same
workers, in an order that rotates each round; steps/s counts the steps the episodes really took (a finished lap
ends one early), writing and encoding included. Start-up (spawning the workers, importing torch, loading V) is
timed apart, as a collection of one 1-step episode per worker, and ``after start-up`` leaves it out: a collection
of 10,000 episodes pays it once. The last column projects the preset's 10,000 x 1,000 steps from that rate.
Writes ``benchmarks/results/collection.json`` (``--record``).
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
from worldmodels.benchmark import Record, results_dir
from worldmodels.core import paths
from worldmodels.core.config import ParallelConfig
from worldmodels.models.encoder import collection_encoder
from worldmodels.models.registry import load_vision
from worldmodels.training.vision import encode
from worldmodels.world.datacard import describe
from worldmodels.world.rollouts import collect

VISION = "checkpoints/vae/book.pt"


def folder_bytes(*folders: Path) -> int:
    return sum(f.stat().st_size for folder in folders for f in Path(folder).rglob("*") if f.is_file())


def run(variant: str, args, root: Path) -> tuple[float, float, float]:
    """(env steps/s, env steps/s after start-up, bytes a step) of one variant, collected under ``root`` (a fresh
    WM_ROOT)."""
    os.environ["WM_ROOT"] = str(root)
    (root / "checkpoints").mkdir(parents=True, exist_ok=True)
    vision = root / VISION
    vision.parent.mkdir(parents=True, exist_ok=True)
    vision.write_bytes((Path(__file__).resolve().parents[1] / VISION).read_bytes())
    paper = get_config("paper").collect
    base = get_config("smoke").collect
    common = {"episodes": args.episodes, "steps": args.steps, "seed": 0, "name": variant}
    parallel = ParallelConfig("process", args.workers)
    if variant == "today":
        cfg = dataclasses.replace(base, **common, policy="random", renderer="fast")
    else:
        frames_every = 1 if variant == "paper_all_frames" else paper.frames_every
        cfg = dataclasses.replace(paper, **common, encoder=VISION, frames_every=frames_every)
    encoder = collection_encoder if cfg.encoder else None
    start = time.perf_counter()
    collect(dataclasses.replace(cfg, name=f"{variant}_start", episodes=args.workers, steps=1, seed=700_000),
            progress=False, make_encoder=encoder, parallel=parallel)
    startup = time.perf_counter() - start
    start = time.perf_counter()
    files = collect(cfg, progress=False, make_encoder=encoder, parallel=parallel)
    if variant == "today":
        encode(load_vision(vision), variant, progress=False, source=VISION)
    seconds = time.perf_counter() - start
    steps = describe(files)["all"]["steps"]
    latents = paths.data_dir() / "latents"
    size = folder_bytes(paths.rollout_dir(variant), *([latents] if latents.exists() else [])) / steps
    return steps / seconds, steps / max(seconds - startup, 1e-9), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--record", default=None, help="where the record goes (default benchmarks/results/)")
    args = parser.parse_args()
    record = Record.start("collection")
    out = args.record or results_dir() / "collection.json"  # before run() points WM_ROOT at its scratch folders
    variants = ["today", "paper", "paper_all_frames"]
    keys = ("rate", "steady", "size", "ratio", "steady_ratio")
    found: dict[str, dict[str, list[float]]] = {v: {k: [] for k in keys} for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.rounds):
            order = variants[k % 3:] + variants[:k % 3]
            this = {}
            for v in order:
                this[v] = dict(zip(("rate", "steady", "size"), run(v, args, Path(tmp) / f"{k}-{v}"), strict=True))
            for v in variants:
                for key in ("rate", "steady", "size"):
                    found[v][key].append(this[v][key])
                found[v]["ratio"].append(this[v]["rate"] / this["today"]["rate"])
                found[v]["steady_ratio"].append(this[v]["steady"] / this["today"]["steady"])
    paper = get_config("paper").collect
    total = paper.episodes * paper.steps
    median = {v: {k: statistics.median(found[v][k]) for k in keys} for v in variants}
    rows = []
    for v in variants:
        m = median[v]
        rows.append([v, f"{m['rate']:,.0f}", f"{m['ratio']:.2f}", f"{m['steady']:,.0f}", f"{m['steady_ratio']:.2f}",
                     f"{m['size']:,.0f}", f"{total / m['steady'] / 60:.0f} min, {total * m['size'] / 1e9:.1f} GB"])
    record.table(f"Collection to M's data, {args.episodes} x {args.steps} steps, {args.workers} workers, median of "
                 f"{args.rounds} rounds (writing and encoding included)",
                 ["path", "env steps/s", "x today", "after start-up", "x today", "bytes a step",
                  f"{paper.episodes:,} x {paper.steps:,} steps"], rows)
    m = median["paper"]
    record.headline(f"collection to M's data, the paper preset's path, {args.workers} workers",
                    f"{m['steady']:,.0f} env steps/s after start-up ({m['steady_ratio']:.2f} x the book's path): "
                    f"{paper.episodes:,} x {paper.steps:,} steps in {total / m['steady'] / 60:.0f} min")
    record.save(out)

if __name__ == "__main__":
    main()

"""Steps/s of the stock, exact, fast and direct renderers on one core, and fast's and direct's pixel agreement.

    python benchmarks/renderers.py [--rounds 7] [--steps 300] [--episodes 2]

Speed: each round times every renderer on the same seed and actions, in rotating
order, pinned to one core; ratios are taken within a round, then the median is
reported. Fidelity: whole 1000-step episodes with driving-like and random actions,
fast against stock frame by frame, and direct (V's 64x64 input) against ``preprocess(stock state)``
(0-255 scale: the mean absolute difference, the worst frame's mean, the worst 4x4 patch); ``exact`` must equal
stock on every frame. Writes ``benchmarks/results/renderers.json`` (``--record``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np

from worldmodels.benchmark import Record
from worldmodels.world.env import RENDERERS, make_env
from worldmodels.world.frames import preprocess


def actions_for(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "random":  # the book's policy: uniform actions held 20 steps
        held = rng.uniform([-1, 0, 0], [1, 1, 1], size=(n // 20 + 1, 3))
        return np.repeat(held, 20, axis=0)[:n].astype(np.float32)
    steer = np.clip(np.cumsum(rng.normal(0, 0.08, n)), -1, 1)
    return np.stack([steer, np.full(n, 0.3), (rng.random(n) < 0.03) * 0.5], axis=1).astype(np.float32)


def play(renderer: str, seed: int, actions: np.ndarray) -> tuple[np.ndarray, float]:
    """Frames (T + 1, 96, 96, 3), or (T + 1, 64, 64, 3) for direct, and seconds spent in step() (reset excluded)."""
    env = make_env(renderer=renderer)
    obs, _ = env.reset(seed=seed)
    frames = [obs]
    start = time.perf_counter()
    for a in actions:
        obs, _, terminated, truncated, _ = env.step(a)
        frames.append(obs)
        if terminated or truncated:
            break
    elapsed = time.perf_counter() - start
    env.close()
    return np.stack(frames), elapsed


def speed(record: Record, rounds: int, steps: int) -> None:
    rates = {r: [] for r in RENDERERS}
    ratios = {r: [] for r in RENDERERS}
    for k in range(rounds):
        actions = actions_for("driving", steps, k)
        order = RENDERERS[k % len(RENDERERS):] + RENDERERS[:k % len(RENDERERS)]
        this = {}
        for renderer in order:
            frames, seconds = play(renderer, seed=k, actions=actions)
            this[renderer] = (len(frames) - 1) / seconds
        for r in RENDERERS:
            rates[r].append(this[r])
            ratios[r].append(this[r] / this["stock"])
    median = {r: (statistics.median(rates[r]), statistics.median(ratios[r])) for r in RENDERERS}
    record.table(f"Env steps/s on one core, median of {rounds} interleaved rounds of {steps} steps",
                 ["renderer", "steps/s", "x stock (median of per-round ratios)"],
                 [[r, f"{rate:,.0f}", f"{ratio:.2f}"] for r, (rate, ratio) in median.items()])
    for r in ("stock", "direct"):
        record.headline(f"env steps/s on one core, {r} renderer",
                        f"{median[r][0]:,.0f}" + ("" if r == "stock" else f" ({median[r][1]:.1f} x stock)"))


def fidelity(record: Record, episodes: int) -> None:
    rows = []
    for kind in ("driving", "random"):
        for seed in range(100, 100 + episodes):
            actions = actions_for(kind, 1000, seed)
            stock, _ = play("stock", seed, actions)
            fast, _ = play("fast", seed, actions)
            exact, _ = play("exact", seed, actions)
            direct, _ = play("direct", seed, actions)
            d = np.abs(stock.astype(np.float32) - fast.astype(np.float32)).mean(-1)  # (T + 1, 96, 96)
            patches = d.reshape(len(d), 24, 4, 24, 4).mean((2, 4))
            reference = np.stack([preprocess(f, 64, crop=True) for f in stock]).astype(np.float32)
            e = np.abs(reference - direct.astype(np.float32)).mean(-1)  # (T + 1, 64, 64)
            e_patches = e.reshape(len(e), 16, 4, 16, 4).mean((2, 4))
            rows.append([kind, seed, len(d) - 1, f"{d.mean():.3f}", f"{d.mean((1, 2)).max():.3f}",
                         f"{patches.max():.1f}", f"{e.mean():.3f}", f"{e.mean((1, 2)).max():.3f}",
                         f"{e_patches.max():.1f}", np.array_equal(stock, exact)])
    record.table(f"Pixel agreement over {episodes} whole episodes a policy (0-255): fast against stock, direct "
                 "against preprocess(stock)",
                 ["actions", "seed", "steps", "fast: mean abs diff", "worst frame", "worst 4x4 patch",
                  "direct: mean abs diff", "worst frame", "worst 4x4 patch", "exact == stock"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--episodes", type=int, default=2, help="fidelity episodes per policy (0 skips)")
    parser.add_argument("--record", default=None, help="where the record goes (default benchmarks/results/)")
    args = parser.parse_args()
    record = Record.start("renderers")
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    cv2.setNumThreads(1)
    speed(record, args.rounds, args.steps)
    if args.episodes:
        fidelity(record, args.episodes)
    record.save(args.record)


if __name__ == "__main__":
    main()

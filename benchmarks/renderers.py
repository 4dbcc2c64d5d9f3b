"""Steps/s of the stock, exact, fast and direct renderers on one core, and fast's and direct's pixel agreement.

    python benchmarks/renderers.py [--rounds 7] [--steps 300] [--episodes 3]

Speed: each round times every renderer on the same seed and actions, in rotating
order, pinned to one core; ratios are taken within a round, then the median is
reported. Fidelity: whole 1000-step episodes with driving-like and random actions,
fast against stock frame by frame, and direct (V's 64x64 input) against ``preprocess(stock state)``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np

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


def speed(rounds: int, steps: int) -> None:
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
    print(f"\nsteps/s on one core, median of {rounds} interleaved rounds of {steps} steps")
    print("| renderer | steps/s (median) | x stock (median of per-round ratios) |")
    print("|---|---|---|")
    for r in RENDERERS:
        print(f"| {r} | {statistics.median(rates[r]):.0f} | {statistics.median(ratios[r]):.2f} |")


def fidelity(episodes: int) -> None:
    print(f"\nfast vs stock, and direct vs preprocess(stock), over {episodes} whole episodes per policy (0-255)")
    print("| actions | seed | steps | mean abs diff | worst frame mean | worst 4x4 patch | direct: mean | worst frame "
          "| worst 4x4 patch | exact == stock |")
    print("|---|---|---|---|---|---|---|---|---|---|")
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
            print(f"| {kind} | {seed} | {len(d) - 1} | {d.mean():.3f} | {d.mean((1, 2)).max():.3f} | "
                  f"{patches.max():.1f} | {e.mean():.3f} | {e.mean((1, 2)).max():.3f} | {e_patches.max():.1f} | "
                  f"{np.array_equal(stock, exact)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--episodes", type=int, default=2, help="fidelity episodes per policy (0 skips)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    cv2.setNumThreads(1)
    speed(args.rounds, args.steps)
    if args.episodes:
        fidelity(args.episodes)


if __name__ == "__main__":
    main()

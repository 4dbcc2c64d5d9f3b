"""VAE training and encoding throughput: fp32 eager (baseline) vs bf16 autocast vs channels_last.

    python benchmarks/vae.py [--rounds 5] [--train-steps 8] [--quality-steps 600] [--quality-variants fp32,bf16]

Training: each round runs every variant for ``--train-steps`` steps of batch 100 on real
frames, in rotating order; frames/s medians and per-round ratios to fp32 are printed.
Quality: every variant trains ``--quality-steps`` steps from the same initial weights on
the same batches and is scored on the same held-out frames (per-pixel MSE, fp32 eval),
so a speed-up is kept only if reconstruction holds. Encoding: frames/s at batch 1 and 1000. Needs the book's
rollouts (``python -m worldmodels collect``, or ``make run``). Writes ``benchmarks/results/vae.json``
(``--record``).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch

from worldmodels.benchmark import Record
from worldmodels.core import paths
from worldmodels.core.config import VAEConfig
from worldmodels.models.vae import ConvVAE
from worldmodels.world.datasets import FrameDataset, episode_files
from worldmodels.world.frames import frames_to_tensor

VARIANTS = ("fp32", "bf16", "channels_last")


def prepare(model: ConvVAE, variant: str) -> ConvVAE:
    if variant == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    return model


def batch_for(x: torch.Tensor, variant: str) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if variant == "channels_last" else x


def train_steps(model, optimizer, batches, variant: str) -> float:
    """Seconds for one optimiser step per batch."""
    start = time.perf_counter()
    for x in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant == "bf16"):
            loss, _ = model.loss_step(batch_for(x, variant), 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


@torch.no_grad()
def held_out_mse(model: ConvVAE, frames: torch.Tensor) -> float:
    model = copy.deepcopy(model).float().to(memory_format=torch.contiguous_format).eval()
    mu, _ = model.encode(frames)
    return float((model.decode(mu) - frames).pow(2).mean())


@torch.no_grad()
def encode_rate(model: ConvVAE, frames: torch.Tensor, batch: int, variant: str, repeats: int) -> float:
    model = prepare(copy.deepcopy(model).eval(), variant)
    n = 0
    start = time.perf_counter()
    for _ in range(repeats):
        for i in range(0, len(frames), batch):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant == "bf16"):
                model.encode(batch_for(frames[i : i + batch], variant))
            n += min(batch, len(frames) - i)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=8)
    parser.add_argument("--quality-steps", type=int, default=600)
    parser.add_argument("--rollouts", default="book")
    parser.add_argument("--quality-variants", default=",".join(VARIANTS), help="comma-separated subset to train")
    parser.add_argument("--skip-speed", action="store_true", help="only the quality comparison")
    parser.add_argument("--record", default=None, help="where the record goes (default benchmarks/results/)")
    args = parser.parse_args()
    record = Record.start("vae")
    files = episode_files(paths.rollout_dir(args.rollouts))
    train_frames = FrameDataset(files[:-10], seed=0, episodes_in_memory=40)
    batches = [b for b, _ in zip(train_frames.batches(100), range(max(args.train_steps, args.quality_steps)))]
    held_out = frames_to_tensor(np.concatenate([np.load(f)["obs"] for f in files[-10:]])[::3])
    torch.manual_seed(0)
    base = ConvVAE(VAEConfig())

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if not args.skip_speed:
        speed(record, base, batches, held_out, args)
    quality(record, base, batches, held_out, args)
    record.save(args.record)


def speed(record: Record, base: ConvVAE, batches: list, held_out: torch.Tensor, args: argparse.Namespace) -> None:
    rates = {v: [] for v in VARIANTS}
    ratios = {v: [] for v in VARIANTS}
    for k in range(args.rounds):
        this = {}
        for variant in VARIANTS[k % 3:] + VARIANTS[:k % 3]:
            model = prepare(copy.deepcopy(base), variant)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
            train_steps(model, optimizer, batches[:1], variant)  # warm-up
            seconds = train_steps(model, optimizer, batches[: args.train_steps], variant)
            this[variant] = 100 * args.train_steps / seconds
        for v in VARIANTS:
            rates[v].append(this[v])
            ratios[v].append(this[v] / this["fp32"])
    threads = torch.get_num_threads()
    record.table(f"V training, batch 100, {threads} threads, median of {args.rounds} rounds of {args.train_steps} steps",
                 ["variant", "training frames/s", "x fp32 (median of per-round ratios)"],
                 [[v, f"{statistics.median(rates[v]):,.0f}", f"{statistics.median(ratios[v]):.2f}"] for v in VARIANTS])
    small, large = held_out[:200], held_out[:1000]
    enc = {}
    for variant in VARIANTS:
        enc[variant] = (encode_rate(base, small, 1, variant, 1), encode_rate(base, large, 1000, variant, 3))
    record.table(f"Encoding (mu, logvar), frames/s, {threads} threads",
                 ["variant", "batch 1", "batch 1000", "batch 1000, x fp32"],
                 [[v, f"{enc[v][0]:,.0f}", f"{enc[v][1]:,.0f}", f"{enc[v][1] / enc['fp32'][1]:.2f}"] for v in VARIANTS])
    record.headline("V training, batch 100, bf16 autocast (the default)",
                    f"{statistics.median(rates['bf16']):,.0f} frames/s ({statistics.median(ratios['bf16']):.2f} x fp32)")


def quality(record: Record, base: ConvVAE, batches: list, held_out: torch.Tensor, args: argparse.Namespace) -> None:
    variants = [v for v in args.quality_variants.split(",") if v]
    quality = {}
    for variant in variants:
        model = prepare(copy.deepcopy(base), variant)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        torch.manual_seed(1)
        train_steps(model, optimizer, batches[: args.quality_steps], variant)
        quality[variant] = held_out_mse(model, held_out)
    record.table(f"Reconstruction after {args.quality_steps} steps from the same weights on the same batches "
                 f"({len(held_out)} held-out frames, per-pixel MSE, scored in fp32)",
                 ["variant", "held-out MSE", f"/ {variants[0]}"],
                 [[v, f"{quality[v]:.5f}", f"{quality[v] / quality[variants[0]]:.3f}"] for v in variants])

if __name__ == "__main__":
    main()

"""Dream steps/s (B dreams stepping together in the MDN-RNN) against real-env agent steps/s.

    python benchmarks/dream.py [--rounds 3] [--steps 100]

A real agent step is: env.step (stock or fast renderer), preprocess, V encodes the frame
(batch 1), M advances one step. A dream step is one step of ``DreamEnv`` for each of B
dreams (LSTM step, mixture sampling at tau 1.15, reward and done heads); "dropout 0.1" is the same with a
dropout mask per dream (``DreamEnv``'s ``dropout``: the masked step loop instead of ``nn.LSTM``). Both use the
paper's network sizes (weights do not change the speed). Rounds interleave everything;
medians are printed with the ratio to the stock-env agent. Writes ``benchmarks/results/dream.json``
(``--record``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from worldmodels.agent.dream import DreamEnv
from worldmodels.benchmark import Record
from worldmodels.core.config import MDNRNNConfig, VAEConfig
from worldmodels.models.mdnrnn import MDNRNN
from worldmodels.models.vae import ConvVAE
from worldmodels.world.env import make_env
from worldmodels.world.frames import frames_to_tensor, preprocess

BATCHES = (64, 256, 1024)


@torch.no_grad()
def agent_rate(renderer: str, vae: ConvVAE, mdnrnn: MDNRNN, steps: int) -> float:
    env = make_env(renderer=renderer)
    env.reset(seed=0)
    state = None
    action = np.array([0.0, 0.3, 0.0], dtype=np.float32)
    start = time.perf_counter()
    for _ in range(steps):
        obs, *_ = env.step(action)
        mu, _ = vae.encode(frames_to_tensor(preprocess(obs, 64, crop=True)[None]))
        _, state = mdnrnn(mu[:, None], torch.from_numpy(action)[None, None], state)
    return steps / (time.perf_counter() - start)


@torch.no_grad()
def dream_rate(mdnrnn: MDNRNN, batch: int, steps: int, dropout: float = 0.0) -> float:
    env = DreamEnv(mdnrnn, torch.randn(512, 32), tau=1.15, seed=0, max_steps=10**9, dropout=dropout)
    env.reset(batch)
    actions = torch.rand(steps, batch, 3)
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--record", default=None, help="where the record goes (default benchmarks/results/)")
    args = parser.parse_args()
    record = Record.start("dream")
    torch.manual_seed(0)
    vae, mdnrnn = ConvVAE(VAEConfig()).eval(), MDNRNN(MDNRNNConfig()).eval()
    names = ["agent, stock env", "agent, fast env"] + [f"dream, B = {b}" for b in BATCHES]
    names.append(f"dream, B = {BATCHES[-1]}, dropout 0.1")
    rates = {n: [] for n in names}
    for _ in range(args.rounds):
        rates["agent, stock env"].append(agent_rate("stock", vae, mdnrnn, args.steps))
        rates["agent, fast env"].append(agent_rate("fast", vae, mdnrnn, args.steps))
        for b in BATCHES:
            rates[f"dream, B = {b}"].append(dream_rate(mdnrnn, b, args.steps))
        rates[names[-1]].append(dream_rate(mdnrnn, BATCHES[-1], args.steps, dropout=0.1))
    base = statistics.median(rates["agent, stock env"])
    median = {n: statistics.median(rates[n]) for n in names}
    record.table(f"Agent steps (env, V at batch 1, one M step) against dream steps, {torch.get_num_threads()} torch "
                 f"threads, median of {args.rounds} rounds of {args.steps} steps",
                 ["what", "steps/s", "x stock-env agent"], [[n, f"{r:,.0f}", f"{r / base:,.1f}"] for n, r in median.items()])
    b = f"dream, B = {BATCHES[-1]}"
    record.headline(f"dream steps/s, {BATCHES[-1]} dreams stepping together in M",
                    f"{median[b]:,.0f} ({median[b] / base:,.0f} x an agent step in the stock env)")
    record.save(args.record)

if __name__ == "__main__":
    main()

"""V, discrete: a VAE whose latent is N categorical variables of K classes (Gumbel-softmax).

It shares the conv stack with the paper's VAE (``vae.ConvEncoder``, ``vae.ConvDecoder``)
and replaces the Gaussian latent with categorical logits (seed 004 of the user's notes)::

    frames  float (B, 3, 64, 64) in [0, 1]
    encoder -> (B, 1024) -> logits (B, N, K)
    relaxed sample  softmax((logits + Gumbel noise) / tau)      (B, N, K), rows sum to 1
    hard sample     one_hot(argmax)  (straight-through when cfg.hard)
    decoder: code (B, N, K) -> (B, N * K) -> reconstruction (B, 3, 64, 64)

At acting time the code is the hard one-hot of the logits' argmax (``hard_code``).
The temperature tau anneals from ``tau_start`` to ``tau_min``; the KL to the uniform
prior is weighted by a linear warm-up.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import GumbelConfig
from .vae import FEATURES, ConvDecoder, ConvEncoder, reconstruction_loss


def temperature(step: int, cfg: GumbelConfig) -> float:
    """tau at optimiser step ``step``: exponential decay from tau_start, floored at tau_min."""
    return max(cfg.tau_min, cfg.tau_start * math.exp(-cfg.tau_decay * step))


def kl_weight(step: int, cfg: GumbelConfig) -> float:
    """KL weight at ``step``: rises linearly from 0 to cfg.kl_weight over kl_warmup_steps."""
    if cfg.kl_warmup_steps <= 0:
        return cfg.kl_weight
    return cfg.kl_weight * min(1.0, step / cfg.kl_warmup_steps)


def gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """A relaxed (or straight-through hard) categorical sample over the last axis of logits (..., K)."""
    uniform = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    gumbel = -torch.log((-torch.log(uniform.clamp(1e-10, 1.0))).clamp_min(1e-10))  # Gumbel(0, 1) noise
    soft = F.softmax((logits + gumbel) / tau, dim=-1)
    if not hard:
        return soft
    one_hot = F.one_hot(soft.argmax(dim=-1), logits.shape[-1]).to(soft.dtype)
    return (one_hot - soft).detach() + soft  # forward: one-hot; backward: relaxed gradient


def hard_code(logits: torch.Tensor) -> torch.Tensor:
    """The acting-time code: one-hot of the most likely class, (B, N, K) -> (B, N, K)."""
    return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)


def categorical_kl_to_uniform(logits: torch.Tensor) -> torch.Tensor:
    """KL(q || uniform) summed over the N variables: logits (B, N, K) -> (B,) in nats."""
    log_q = F.log_softmax(logits.float(), dim=-1)
    return (log_q.exp() * (log_q + math.log(logits.shape[-1]))).sum(dim=(1, 2))


class GumbelVAE(nn.Module):
    """VAE with N x K categorical latents. ``forward`` returns (reconstruction, logits, code)."""

    def __init__(self, cfg: GumbelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = ConvEncoder(cfg.frame_size)
        self.fc_logits = nn.Linear(FEATURES, cfg.num_vars * cfg.num_classes)
        self.decoder = ConvDecoder(cfg.num_vars * cfg.num_classes)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, 3, 64, 64) -> logits (B, N, K)."""
        B = frames.shape[0]
        return self.fc_logits(self.encoder(frames)).reshape(B, self.cfg.num_vars, self.cfg.num_classes)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """code (B, N, K), one-hot or relaxed -> reconstruction (B, 3, 64, 64)."""
        B, N, K = code.shape
        assert (N, K) == (self.cfg.num_vars, self.cfg.num_classes), f"expected code (B, {self.cfg.num_vars}, " \
            f"{self.cfg.num_classes}), got {tuple(code.shape)}"
        return self.decoder(code.reshape(B, N * K))

    def forward(self, frames: torch.Tensor, tau: float, hard: bool | None = None,
                generator: torch.Generator | None = None):
        logits = self.encode(frames)
        code = gumbel_softmax(logits, tau, self.cfg.hard if hard is None else hard, generator)
        return self.decode(code), logits, code


def gumbel_loss(reconstruction, frames, logits, weight: float,
                kl_tolerance: float = 0.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Reconstruction (summed squared error) + weight * max(KL(q || uniform), kl_tolerance * N), batch-averaged.

    Args:
        reconstruction, frames: (B, 3, 64, 64) in [0, 1].
        logits: (B, N, K).
        weight: the KL weight of the warm-up schedule.
        kl_tolerance: free nats per categorical variable (as the Gaussian VAE's).
    """
    rec = reconstruction_loss(reconstruction, frames)
    kl = categorical_kl_to_uniform(logits)  # (B,)
    loss = rec + weight * torch.clamp(kl, min=kl_tolerance * logits.shape[1]).mean()
    return loss, {"reconstruction": rec.detach(), "kl": kl.mean().detach()}


def gumbel_step(model: GumbelVAE, frames: torch.Tensor, step: int, generator: torch.Generator | None = None):
    """One loss evaluation for the training loop: frames (B, 3, 64, 64) -> (loss, parts)."""
    tau = temperature(step, model.cfg)
    weight = kl_weight(step, model.cfg)
    reconstruction, logits, _ = model(frames, tau, generator=generator)
    loss, parts = gumbel_loss(reconstruction, frames, logits, weight, model.cfg.kl_tolerance)
    parts.update(tau=torch.tensor(tau), kl_weight=torch.tensor(weight))
    return loss, parts

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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import GumbelConfig
from ..world.frames import frames_to_tensor, tensor_to_frames
from .vae import FEATURES, ConvDecoder, ConvEncoder, reconstruction_loss
from .vision import Vision


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


class GumbelVAE(Vision):
    """VAE with N x K categorical latents. ``forward`` returns (reconstruction, logits, code)."""

    kind = "gumbel"
    description = "discrete (Gumbel)"
    posterior_keys = ("logits",)
    soft_codes = True
    bfloat16_codes = False

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

    # -- the V interface ------------------------------------------------------------------
    @property
    def code_shape(self) -> tuple[int, ...]:
        return (self.cfg.num_vars, self.cfg.num_classes)

    def posterior(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """frames (B, 3, 64, 64) -> {"logits"} (B, N, K)."""
        return {"logits": self.encode(frames)}

    @staticmethod
    def code(posterior: dict[str, torch.Tensor]) -> torch.Tensor:
        """The acting code: the one-hot of each variable's most likely class (B, N, K)."""
        return hard_code(posterior["logits"])

    def controller_input(self, posterior: dict[str, torch.Tensor], soft: bool = False) -> torch.Tensor:
        """The hard code, or with ``soft`` the posterior's class probabilities softmax(logits) (B, N, K)."""
        return torch.softmax(posterior["logits"], dim=-1) if soft else hard_code(posterior["logits"])

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Uniformly random classes, one-hot (n, N, K)."""
        N, K = self.cfg.num_vars, self.cfg.num_classes
        return F.one_hot(torch.randint(K, (n, N), generator=generator), K).float()

    @staticmethod
    def kl(posterior: dict[str, torch.Tensor]) -> torch.Tensor:
        return categorical_kl_to_uniform(posterior["logits"])

    def loss_step(self, frames: torch.Tensor, step: int, generator: torch.Generator | None = None):
        """One loss evaluation for the training loop: frames (B, 3, 64, 64) -> (loss, parts), tau and the KL
        weight following their schedules."""
        tau = temperature(step, self.cfg)
        weight = kl_weight(step, self.cfg)
        reconstruction, logits, _ = self(frames, tau, generator=generator)
        loss, parts = gumbel_loss(reconstruction, frames, logits, weight, self.cfg.kl_tolerance)
        parts.update(tau=torch.tensor(tau), kl_weight=torch.tensor(weight))
        return loss, parts

    @staticmethod
    def training_codes(arrays: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The hard codes (the acting-time code) as inputs (T + 1, N, K) and class indices (T + 1, N) as targets."""
        classes = arrays["logits"].argmax(-1)  # (T + 1, N)
        K = arrays["logits"].shape[-1]
        return np.eye(K, dtype=np.float32)[classes], classes.astype(np.int64)

    @torch.no_grad()
    def category_sweep(self, frame: np.ndarray, variables: list[int], classes: list[int]) -> np.ndarray:
        """Set variable v to class k, keeping the frame's other hard classes: uint8 (len(variables), len(classes),
        64, 64, 3). The discrete counterpart of ``ConvVAE.traverse``: what each class of a variable draws."""
        code = hard_code(self.encode(frames_to_tensor(frame[None]).to(self.device)))  # (1, N, K)
        K = code.shape[-1]
        codes = code.repeat(len(variables) * len(classes), 1, 1).reshape(len(variables), len(classes), -1, K)
        for r, v in enumerate(variables):
            codes[r, :, v] = F.one_hot(torch.tensor(classes), K).to(codes.dtype)
        decoded = self.decode(codes.reshape(len(variables) * len(classes), -1, K))  # (R * C, 3, 64, 64)
        return tensor_to_frames(decoded).reshape(len(variables), len(classes), *decoded.shape[2:], 3)

    @torch.no_grad()
    def details(self, frame: np.ndarray, tau: float, seed: int = 0) -> dict[str, np.ndarray]:
        """Everything seed 004 plots for one frame: logits, softmax, Gumbel sample, hard sample (N, K) and the
        reconstruction from the hard code, uint8 (64, 64, 3)."""
        logits = self.encode(frames_to_tensor(frame[None]).to(self.device))  # (1, N, K)
        sample = gumbel_softmax(logits, tau, generator=torch.Generator(device=self.device).manual_seed(seed))
        hard = hard_code(logits)
        return {"logits": logits[0].cpu().numpy(), "softmax": logits[0].softmax(-1).cpu().numpy(),
                "sample": sample[0].cpu().numpy(), "hard": hard[0].cpu().numpy(),
                "reconstruction": tensor_to_frames(self.decode(hard))[0]}


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

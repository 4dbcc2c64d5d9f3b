"""V, discrete: a VAE whose latent is N categorical variables of K classes (Gumbel-softmax).

It shares the conv stack with the paper's VAE (``vae.ConvEncoder``, ``vae.ConvDecoder``)
and replaces the Gaussian latent with categorical logits (seed 004 of the user's notes)::

    frames  float (B, 3, 64, 64) in [0, 1]
    encoder -> (B, 1024) -> logits (B, N, K)
    training sample, by cfg.estimator:
      gumbel            softmax((logits + Gumbel noise) / tau)  (B, N, K), rows sum to 1
                        (with cfg.hard: its one-hot forward, the relaxed gradient backward)
      straight_through  p = (1 - unimix) softmax(logits / tau) + unimix / K; one_hot(a sample of p) forward,
                        p's gradient backward (DreamerV3's estimator)
    decoder: code (B, N, K) -> (B, N * K) -> reconstruction (B, 3, 64, 64)

At acting time the code is the hard one-hot of the logits' argmax (``hard_code``). A relaxed
sample trains the decoder on blends of classes it never sees when acting; the straight-through
sample trains it on one-hot codes only. The temperature tau anneals from ``tau_start`` to
``tau_min`` (a sharp end makes the training sample the argmax); the KL to the uniform prior,
on the unimix probabilities, is weighted by a linear warm-up and floored by free nats.
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


def gumbel_noise(like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gumbel(0, 1) noise -log(-log u), u ~ U(0, 1), of ``like``'s shape, device and dtype."""
    uniform = torch.rand(like.shape, generator=generator, device=like.device, dtype=like.dtype)
    return -torch.log((-torch.log(uniform.clamp(1e-10, 1.0))).clamp_min(1e-10))


def gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """A relaxed (or straight-through hard) categorical sample over the last axis of logits (..., K)."""
    soft = F.softmax((logits + gumbel_noise(logits, generator)) / tau, dim=-1)
    if not hard:
        return soft
    one_hot = F.one_hot(soft.argmax(dim=-1), logits.shape[-1]).to(soft.dtype)
    return (one_hot - soft).detach() + soft  # forward: one-hot; backward: relaxed gradient


def mixed_probabilities(logits: torch.Tensor, unimix: float = 0.0, tau: float = 1.0) -> torch.Tensor:
    """(1 - unimix) * softmax(logits / tau) + unimix / K over the last axis: (..., K), every class at least unimix / K."""
    probs = F.softmax(logits / tau, dim=-1)
    return probs if unimix == 0 else (1 - unimix) * probs + unimix / logits.shape[-1]


def straight_through(logits: torch.Tensor, tau: float, unimix: float = 0.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """A one-hot sample of ``mixed_probabilities(logits, unimix, tau)`` forward, the probabilities' gradient
    backward (DreamerV3): logits (..., K) -> (..., K)."""
    probs = mixed_probabilities(logits, unimix, tau)
    index = (probs.detach().clamp_min(1e-30).log() + gumbel_noise(probs, generator)).argmax(dim=-1)  # Gumbel-max
    one_hot = F.one_hot(index, logits.shape[-1]).to(probs.dtype)
    return one_hot + (probs - probs.detach())  # exactly one_hot forward


def hard_code(logits: torch.Tensor) -> torch.Tensor:
    """The acting-time code: one-hot of the most likely class, (B, N, K) -> (B, N, K)."""
    return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)


def categorical_kl_to_uniform(logits: torch.Tensor, unimix: float = 0.0) -> torch.Tensor:
    """KL(q || uniform) summed over the N variables, q = ``mixed_probabilities(logits, unimix)``:
    logits (B, N, K) -> (B,) in nats."""
    if unimix == 0:
        log_q = F.log_softmax(logits.float(), dim=-1)
    else:
        log_q = mixed_probabilities(logits.float(), unimix).log()
    return (log_q.exp() * (log_q + math.log(logits.shape[-1]))).sum(dim=(1, 2))


class GumbelVAE(Vision):
    """VAE with N x K categorical latents. ``forward`` returns (reconstruction, logits, code)."""

    latent = "gumbel"
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

    def sample(self, logits: torch.Tensor, tau: float, hard: bool | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """The training sample of cfg.estimator: logits (B, N, K) -> code (B, N, K)."""
        if self.cfg.estimator == "straight_through":
            return straight_through(logits, tau, self.cfg.unimix, generator)
        return gumbel_softmax(logits, tau, self.cfg.hard if hard is None else hard, generator)

    def forward(self, frames: torch.Tensor, tau: float, hard: bool | None = None,
                generator: torch.Generator | None = None):
        logits = self.encode(frames)
        code = self.sample(logits, tau, hard, generator)
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
        """The hard code, or with ``soft`` the posterior's class probabilities (with its unimix) (B, N, K)."""
        return mixed_probabilities(posterior["logits"], self.cfg.unimix) if soft else hard_code(posterior["logits"])

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Uniformly random classes, one-hot (n, N, K)."""
        N, K = self.cfg.num_vars, self.cfg.num_classes
        return F.one_hot(torch.randint(K, (n, N), generator=generator), K).float()

    def kl(self, posterior: dict[str, torch.Tensor]) -> torch.Tensor:
        return categorical_kl_to_uniform(posterior["logits"], self.cfg.unimix)

    def loss_step(self, frames: torch.Tensor, step: int, generator: torch.Generator | None = None):
        """One loss evaluation for the training loop: frames (B, 3, 64, 64) -> (loss, parts), tau and the KL
        weight following their schedules."""
        tau = temperature(step, self.cfg)
        weight = kl_weight(step, self.cfg)
        reconstruction, logits, _ = self(frames, tau, generator=generator)
        loss, parts = gumbel_loss(reconstruction, frames, logits, weight, self.cfg.kl_tolerance, self.cfg.unimix)
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
    def influence(self, frame: np.ndarray) -> np.ndarray:
        """How much each variable draws on ``frame``: the mean absolute change of the decoded frame, in 0..255
        units, when that variable alone takes each other class (the rest keep the frame's classes): (N,)."""
        N, K = self.cfg.num_vars, self.cfg.num_classes
        base = self.reconstruct(frame[None])[0].astype(np.float32)  # (64, 64, 3)
        change = np.zeros(N, np.float32)
        for start in range(0, N, 8):  # 8 variables x K classes a batch
            variables = list(range(start, min(start + 8, N)))
            sweep = self.category_sweep(frame, variables, list(range(K))).astype(np.float32)  # (v, K, 64, 64, 3)
            change[start : start + len(variables)] = np.abs(sweep - base).mean(axis=(1, 2, 3, 4)) * K / (K - 1)
        return change

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


def gumbel_loss(reconstruction, frames, logits, weight: float, kl_tolerance: float = 0.0,
                unimix: float = 0.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Reconstruction (summed squared error) + weight * max(KL(q || uniform), kl_tolerance * N), batch-averaged.

    Args:
        reconstruction, frames: (B, 3, 64, 64) in [0, 1].
        logits: (B, N, K).
        weight: the KL weight of the warm-up schedule.
        kl_tolerance: free nats per categorical variable (as the Gaussian VAE's).
        unimix: q is softmax(logits) mixed with this share of uniform.
    """
    rec = reconstruction_loss(reconstruction, frames)
    kl = categorical_kl_to_uniform(logits, unimix)  # (B,)
    loss = rec + weight * torch.clamp(kl, min=kl_tolerance * logits.shape[1]).mean()
    return loss, {"reconstruction": rec.detach(), "kl": kl.mean().detach()}

"""V's interface: what every vision model offers the rest of the package, whatever its latent.

A V turns frames into a posterior over codes and codes back into frames. The pipeline reads only these
methods, so it never asks which kind of V it holds; a new kind is one new module implementing them (and
one line in ``worldmodels.models.registry``). Shapes (B batch; the code is (Z,) for the Gaussian VAE and
(N, K) for the discrete one)::

    posterior(frames (B, 3, 64, 64)) -> {name: (B, ...)}   what ``encode`` stores ("mu", "logvar" | "logits")
    code(posterior)                  -> (B, *code_shape)   the deterministic code M steps on when acting
    controller_input(posterior, soft)-> (B, *code_shape)   what C reads (soft: class probabilities, discrete V)
    decode(code)                     -> (B, 3, 64, 64) in [0, 1]
    prior_codes(n, generator)        -> (n, *code_shape)   samples of the prior
    kl(posterior)                    -> (B,) nats          KL(q(code | frame) || prior)
    loss_step(frames, step, generator) -> (loss, parts)    one training loss evaluation
    training_codes(arrays, rng)      -> (inputs, targets)  M's inputs and targets from stored posteriors

``input_spec`` says how the frames V was trained on were preprocessed (from its rollouts' manifest).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..world.frames import InputSpec, frames_to_tensor, tensor_to_frames


class Vision(nn.Module):
    """The V interface (see the module docstring); ``ConvVAE`` and ``GumbelVAE`` implement it."""

    latent: ClassVar[str]
    """the kind of V (``vae``, ``gumbel``), by the one name used everywhere: the config section, the checkpoint
    folder and the latents-file suffix"""
    description: ClassVar[str]
    """how the results table names this kind of latent"""
    posterior_keys: ClassVar[tuple[str, ...]]
    """the posterior's arrays, as stored in latents files"""
    soft_codes: ClassVar[bool] = False
    """whether ``controller_input(..., soft=True)`` exists (class probabilities of a discrete code)"""
    bfloat16_codes: ClassVar[bool] = True
    """whether acting may encode frames in bfloat16: a continuous code moves by about 1%, but a discrete
    code is an argmax, and bf16 flips classes near ties (``gumbel_book`` lost 2.6 standard errors)"""
    cfg: Any
    input_spec: InputSpec = InputSpec()

    # -- what each kind implements -------------------------------------------------------------
    @property
    def code_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def posterior(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @staticmethod
    def code(posterior: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def controller_input(self, posterior: dict[str, torch.Tensor], soft: bool = False) -> torch.Tensor:
        if soft:
            raise ValueError(f"a {self.latent} V has no soft codes (class probabilities): use code_input='hard'")
        return self.code(posterior)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def kl(self, posterior: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def loss_step(self, frames: torch.Tensor, step: int, generator: torch.Generator | None = None):
        raise NotImplementedError

    @staticmethod
    def training_codes(arrays: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    # -- shared on top of them ----------------------------------------------------------------
    @property
    def code_size(self) -> int:
        """Features of the flattened code (Z, or N * K)."""
        return int(np.prod(self.code_shape))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def summary(self) -> str:
        """'vae, code (32,)' and the like."""
        return f"{self.latent}, code {self.code_shape}"

    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray, batch_size: int = 500) -> dict[str, np.ndarray]:
        """uint8 frames (T, 64, 64, 3) -> the posterior's arrays (T, ...) as float32 numpy."""
        outputs: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(frames), batch_size):
            posterior = self.posterior(frames_to_tensor(frames[start : start + batch_size]).to(self.device))
            for k, v in posterior.items():
                outputs.setdefault(k, []).append(v.float().cpu().numpy())
        return {k: np.concatenate(v) for k, v in outputs.items()}

    @torch.no_grad()
    def reconstruct(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (B, 64, 64, 3) -> deterministic reconstructions (decoded acting codes), uint8 (B, 64, 64, 3)."""
        posterior = self.posterior(frames_to_tensor(frames).to(self.device))
        return tensor_to_frames(self.decode(self.code(posterior)))

    @torch.no_grad()
    def sample_prior(self, n: int, seed: int = 0) -> np.ndarray:
        """Decode n codes drawn from the prior: uint8 (n, 64, 64, 3)."""
        codes = self.prior_codes(n, torch.Generator().manual_seed(seed))
        return tensor_to_frames(self.decode(codes.to(self.device)))

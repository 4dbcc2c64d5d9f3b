"""V, continuous: the paper's convolutional VAE, and the conv stack both VAEs share.

Shapes (B batch, Z latent size)::

    frames  float (B, 3, 64, 64) in [0, 1]
    encoder -> features (B, 1024) -> mu, logvar (B, Z)
    z = mu + exp(logvar / 2) * eps                     (B, Z)
    decoder: z -> (B, 1024) -> (B, 1024, 1, 1) -> reconstruction (B, 3, 64, 64) in [0, 1]

With Z = 32 the network has 4,348,547 parameters, as in Ha & Schmidhuber (2018).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..core.config import VAEConfig
from ..world.frames import frames_to_tensor, tensor_to_frames
from .vision import Vision

FEATURES = 1024  # 2 x 2 x 256 after the encoder's four stride-2 convolutions of a 64x64 frame


class ConvEncoder(nn.Module):
    """Four 4x4 stride-2 convolutions (32, 64, 128, 256 channels): (B, 3, 64, 64) -> (B, 1024)."""

    def __init__(self, frame_size: int = 64):
        super().__init__()
        if frame_size != 64:
            raise ValueError(f"the paper's conv stack takes 64x64 frames, got frame_size={frame_size}")
        self.convs = nn.Sequential(
            nn.Conv2d(3, 32, 4, stride=2), nn.ReLU(),     # (B, 32, 31, 31)
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),    # (B, 64, 14, 14)
            nn.Conv2d(64, 128, 4, stride=2), nn.ReLU(),   # (B, 128, 6, 6)
            nn.Conv2d(128, 256, 4, stride=2), nn.ReLU(),  # (B, 256, 2, 2)
        )

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        B = frames.shape[0]
        assert frames.shape[1:] == (3, 64, 64), f"expected frames (B, 3, 64, 64), got {tuple(frames.shape)}"
        return self.convs(frames).reshape(B, FEATURES)  # (B, 256 * 2 * 2)


class ConvDecoder(nn.Module):
    """Dense to 1024, then transposed convolutions 128/64/32/3 (kernels 5/5/6/6): (B, D) -> (B, 3, 64, 64)."""

    def __init__(self, input_size: int):
        super().__init__()
        self.fc = nn.Linear(input_size, FEATURES)
        self.deconvs = nn.Sequential(
            nn.ConvTranspose2d(FEATURES, 128, 5, stride=2), nn.ReLU(),  # (B, 128, 5, 5)
            nn.ConvTranspose2d(128, 64, 5, stride=2), nn.ReLU(),        # (B, 64, 13, 13)
            nn.ConvTranspose2d(64, 32, 6, stride=2), nn.ReLU(),         # (B, 32, 30, 30)
            nn.ConvTranspose2d(32, 3, 6, stride=2), nn.Sigmoid(),       # (B, 3, 64, 64)
        )

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        B = code.shape[0]
        h = self.fc(code).reshape(B, FEATURES, 1, 1)  # (B, 1024, 1, 1)
        return self.deconvs(h)


class ConvVAE(Vision):
    """The paper's Gaussian VAE. ``forward`` returns (reconstruction, mu, logvar)."""

    latent = "vae"
    description = "continuous"
    posterior_keys = ("mu", "logvar")

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = ConvEncoder(cfg.frame_size)
        self.fc_mu = nn.Linear(FEATURES, cfg.z_size)
        self.fc_logvar = nn.Linear(FEATURES, cfg.z_size)
        self.decoder = ConvDecoder(cfg.z_size)

    def encode(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames (B, 3, 64, 64) -> mu, logvar (B, Z) each."""
        h = self.encoder(frames)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, Z) -> reconstruction (B, 3, 64, 64) in [0, 1]."""
        assert z.shape[1:] == (self.cfg.z_size,), f"expected z (B, {self.cfg.z_size}), got {tuple(z.shape)}"
        return self.decoder(z)

    @staticmethod
    def sample(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterised z = mu + sigma * eps, (B, Z)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(self, frames: torch.Tensor, generator: torch.Generator | None = None):
        mu, logvar = self.encode(frames)
        z = self.sample(mu, logvar, generator)
        return self.decode(z), mu, logvar

    # -- the V interface ------------------------------------------------------------------
    @property
    def code_shape(self) -> tuple[int, ...]:
        return (self.cfg.z_size,)

    def posterior(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """frames (B, 3, 64, 64) -> {"mu", "logvar"} (B, Z) each."""
        mu, logvar = self.encode(frames)
        return {"mu": mu, "logvar": logvar}

    @staticmethod
    def code(posterior: dict[str, torch.Tensor]) -> torch.Tensor:
        """The acting code: z = mu (B, Z)."""
        return posterior["mu"]

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), (n, Z)."""
        return torch.randn(n, self.cfg.z_size, generator=generator)

    @staticmethod
    def kl(posterior: dict[str, torch.Tensor]) -> torch.Tensor:
        return gaussian_kl(posterior["mu"], posterior["logvar"])

    def loss_step(self, frames: torch.Tensor, step: int, generator: torch.Generator | None = None):
        """One loss evaluation for the training loop: frames (B, 3, 64, 64) -> (loss, parts)."""
        reconstruction, mu, logvar = self(frames, generator)
        return vae_loss(reconstruction, frames, mu, logvar, self.cfg.kl_tolerance)

    @staticmethod
    def training_codes(arrays: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """z sampled from N(mu, exp(logvar)) once per epoch, as in the paper: inputs and targets (T + 1, Z)."""
        mu, logvar = arrays["mu"], arrays["logvar"]  # (T + 1, Z)
        z = (mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape, dtype=np.float32)).astype(np.float32)
        return z, z

    @torch.no_grad()
    def traverse(self, frame: np.ndarray, dims: list[int], values: list[float]) -> np.ndarray:
        """Set z[d] to each value, keeping the frame's other mu entries: uint8 (len(dims), len(values), 64, 64, 3)."""
        mu, _ = self.encode(frames_to_tensor(frame[None]).to(self.device))
        z = mu.repeat(len(dims) * len(values), 1).reshape(len(dims), len(values), -1)  # (R, C, Z)
        for r, d in enumerate(dims):
            z[r, :, d] = torch.tensor(values, dtype=z.dtype)
        decoded = self.decode(z.reshape(len(dims) * len(values), -1))
        return tensor_to_frames(decoded).reshape(len(dims), len(values), *decoded.shape[2:], 3)

    @torch.no_grad()
    def influence(self, frames: np.ndarray, step: float = 1.0) -> np.ndarray:
        """How much each z dimension draws: the mean absolute change of the decoded frames, in 0..255 units, when
        that dimension alone moves by ``step`` (one prior standard deviation) from each frame's mu.
        frames uint8 (F, 64, 64, 3) -> (Z,)."""
        mu, _ = self.encode(frames_to_tensor(frames).to(self.device))  # (F, Z)
        base = self.decode(mu)
        change = np.zeros(mu.shape[1], np.float32)
        for d in range(mu.shape[1]):
            moved = mu.clone()
            moved[:, d] += step
            change[d] = float((self.decode(moved) - base).abs().mean()) * 255
        return change


def reconstruction_loss(reconstruction: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Squared error summed over pixels and channels, averaged over the batch (the paper's)."""
    return (reconstruction.float() - frames.float()).pow(2).sum(dim=(1, 2, 3)).mean()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma) || N(0, 1)) summed over Z: (B, Z) -> (B,) in nats."""
    mu, logvar = mu.float(), logvar.float()
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


def vae_loss(reconstruction, frames, mu, logvar, kl_tolerance: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The paper's VAE loss: reconstruction + max(KL, kl_tolerance * Z), batch-averaged.

    Args:
        reconstruction, frames: (B, 3, 64, 64) in [0, 1].
        mu, logvar: (B, Z).
        kl_tolerance: free nats per latent dimension.

    Returns:
        the scalar loss and its named parts (reconstruction, kl before the clamp).
    """
    z_size = mu.shape[1]
    rec = reconstruction_loss(reconstruction, frames)
    kl = gaussian_kl(mu, logvar)  # (B,)
    loss = rec + torch.clamp(kl, min=kl_tolerance * z_size).mean()
    return loss, {"reconstruction": rec.detach(), "kl": kl.mean().detach()}

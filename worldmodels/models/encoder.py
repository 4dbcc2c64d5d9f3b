"""V's encoder at a chosen precision: frames in, posterior out, for acting and for collection.

``FrameEncoder(vision, precision)`` runs V's ``posterior`` in ``float32``, or in ``bfloat16`` on a bf16 copy of V
(channels-last), several times faster on a CPU or GPU with bf16 units. A continuous code moves by under 1% of its
posterior's sigma; a discrete code is an argmax, and bf16 flips classes near ties, so a V without
``bfloat16_codes`` always encodes in ``float32`` (``precision_for``). Shapes::

    frames uint8 (B, S, S, 3), V's input (or 96x96 states, preprocessed by V's input_spec)
        -> posterior {name: float32 (B, ...)}: mu, logvar (B, Z) | logits (B, N, K)

``collection_encoder(cfg)`` is what ``worldmodels.world.rollouts.collect`` calls in each worker for
``CollectConfig.encoder``: the V file loaded once per worker, its posterior stored as float16.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np
import torch

from ..core.config import CollectConfig
from ..core.hardware import resolve_precision
from ..core.provenance import resolve
from ..world.frames import frames_to_tensor
from .registry import load_vision, vision_class
from .vision import Vision


def precision_for(latent: str, requested: str) -> str:
    """The precision V of ``latent`` encodes in when ``requested``: ``bfloat16`` only for a V whose codes bear it
    (``Vision.bfloat16_codes``: the continuous VAE); a discrete V encodes in ``float32``; ``auto`` is bf16 only
    where this machine computes it natively (``worldmodels.core.hardware.resolve_precision``)."""
    precision = resolve_precision(requested)
    return precision if vision_class(latent).bfloat16_codes else "float32"


class FrameEncoder:
    """V's ``posterior`` on uint8 frames at ``precision`` (see the module docstring); ``self.precision`` says
    which runs."""

    def __init__(self, vision: Vision, precision: str = "float32"):
        self.vision, self.precision = vision, precision_for(vision.latent, precision)
        self.model = vision  # what runs: V itself, or its bf16 copy
        if self.precision == "bfloat16":
            self.model = copy.deepcopy(vision).to(dtype=torch.bfloat16, memory_format=torch.channels_last)

    @torch.no_grad()
    def __call__(self, frames: np.ndarray) -> dict[str, torch.Tensor]:
        """uint8 (B, S, S, 3) frames (or (B, 96, 96, 3) states) -> V's posterior, float32 tensors (B, ...)."""
        x = frames_to_tensor(self.vision.input_spec(frames)).to(self.vision.device)  # (B, 3, S, S)
        if self.precision == "float32":
            return self.vision.posterior(x)
        x = x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        return {k: v.float() for k, v in self.model.posterior(x).items()}

    def encode(self, frames: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
        """A whole episode's frames (T + 1, S, S, 3) in batches -> its posterior as float16 arrays (T + 1, ...)."""
        parts = [self(frames[i : i + batch_size]) for i in range(0, len(frames), batch_size)]
        return {k: torch.cat([p[k] for p in parts]).to(torch.float16).cpu().numpy() for k in parts[0]}


class _CollectionEncoders:
    cache: ClassVar[dict[tuple[str, str], FrameEncoder]] = {}  # one per V file and precision, for a worker's life


def collection_encoder(cfg: CollectConfig):
    """The encoder of ``cfg.encoder`` at ``cfg.encoder_precision``: frames (T + 1, S, S, 3) -> float16 posterior."""
    key = (str(cfg.encoder), cfg.encoder_precision)
    if key not in _CollectionEncoders.cache:
        vision = load_vision(resolve(cfg.encoder))
        spec = vision.input_spec
        if (spec.frame_size, spec.crop) != (cfg.frame_size, cfg.crop):
            raise ValueError(f"--encoder {cfg.encoder}: this V reads {spec.frame_size}x{spec.frame_size} frames "
                             f"(crop {spec.crop}), but the collection stores {cfg.frame_size}x{cfg.frame_size} (crop "
                             f"{cfg.crop}); collect with --frame-size {spec.frame_size} and the V's crop")
        _CollectionEncoders.cache[key] = FrameEncoder(vision, cfg.encoder_precision)
    return _CollectionEncoders.cache[key].encode

"""The kinds of V, by name, and the one place that builds or loads one.

``VISIONS`` maps each kind of V, its ``latent`` (``vae``, ``gumbel``), to its class; the name is also its config
section (``Config.vae``, ``Config.gumbel``), its checkpoint folder and its latents files' suffix. Adding a kind of V
means one new module implementing ``worldmodels.models.vision.Vision`` and one entry here (and an M head in
``worldmodels.models.mdnrnn.HEADS`` if its codes need a new one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core import checkpoint
from ..core.config import Config, from_dict
from ..world.frames import InputSpec
from .gumbel_vae import GumbelVAE
from .vae import ConvVAE
from .vision import Vision

VISIONS: dict[str, type[Vision]] = {"vae": ConvVAE, "gumbel": GumbelVAE}
LATENTS = tuple(VISIONS)


def vision_class(latent: str) -> type[Vision]:
    if latent not in VISIONS:
        raise ValueError(f"unknown kind of V {latent!r}: expected one of {LATENTS}")
    return VISIONS[latent]


def build_vision(latent: str, cfg: Config, input_spec: InputSpec | None = None) -> Vision:
    """A freshly initialised V of ``latent`` from its config section (seeded by ``cfg.vae_training.seed``)."""
    cls = vision_class(latent)
    torch.manual_seed(cfg.vae_training.seed)
    model = cls(getattr(cfg, latent))
    model.input_spec = input_spec or InputSpec()
    return model


def load_vision(path: str | Path, latent: str | None = None, device: torch.device | str = "cpu") -> Vision:
    """A V from a run (``last.pt``) or a release (``checkpoints/<latent>/<name>.pt``), float32, eval mode.

    Its ``input_spec`` is the one stored with it; files written before V carried one hold the ``collect``
    config they were trained with, which is read instead.
    """
    return vision_from_payload(checkpoint.load(path, kind=latent), path).to(device).eval()


def vision_from_payload(payload: dict[str, Any], where: str | Path) -> Vision:
    """The V a checkpoint payload holds (``where`` names it in errors), float32, on the CPU."""
    cls = checkpoint.rebuild(where, lambda: vision_class(payload.get("kind")))
    section = checkpoint.model_section(payload, where, cls.latent)
    model = checkpoint.rebuild(where, lambda: cls(getattr(from_dict({cls.latent: section}), cls.latent)))
    try:
        model.load_state_dict({k: v.float() for k, v in payload["model"].items()})
    except RuntimeError as e:
        raise checkpoint.CheckpointError(
            f"{where}: weights do not fit a {cls.latent} built from its config: {e}") from e
    model.input_spec = _input_spec(payload, model, where)
    return model.eval()


def _input_spec(payload: dict[str, Any], model: Vision, where: str | Path) -> InputSpec:
    if payload.get("input_spec"):
        return checkpoint.rebuild(where, lambda: InputSpec(**payload["input_spec"]))
    collect = payload["config"].get("collect", {})
    collect = collect if isinstance(collect, dict) else {}  # the older format: the collect section it was trained with
    return InputSpec(frame_size=model.cfg.frame_size, crop=bool(collect.get("crop", True)))


def latents_class(latents: dict[str, np.ndarray], where: str | Path = "latents") -> type[Vision]:
    """The kind of V whose posteriors a latents file holds (its arrays name it)."""
    for cls in VISIONS.values():
        if all(k in latents for k in cls.posterior_keys):
            return cls
    raise ValueError(f"{where}: holds none of the posteriors of {LATENTS} "
                     f"({ {c.latent: c.posterior_keys for c in VISIONS.values()} }); re-run encode")


def codes_at(latents: dict[str, np.ndarray], episodes: Sequence[int] | None = None,
             step: int | np.ndarray = 0) -> torch.Tensor:
    """V's acting codes at ``step`` of some episodes of a latents file (all by default), or at each episode's own
    step (``step`` an array as long as ``episodes``): z = mu (E, Z), or one-hot codes (E, N, K). Dreams start
    from these."""
    episodes = list(range(len(latents["length"]))) if episodes is None else episodes
    cls = latents_class(latents)
    posterior = {k: torch.from_numpy(latents[k][episodes, step].astype(np.float32)) for k in cls.posterior_keys}
    return cls.code(posterior).float()

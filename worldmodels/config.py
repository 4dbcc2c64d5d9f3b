"""Configuration: one frozen dataclass per stage, and the scale presets.

``get_config("book", collect={"episodes": 50})`` gives the ``book`` preset with
overrides. Presets follow the seeds and the paper:

- ``smoke``: seconds; what CI and the notebook tests run, on the same code path.
- ``book``: the book notebook's numbers (200 episodes x 300 steps, action refresh 20).
- ``paper``: Ha & Schmidhuber's (10,000 episodes x 1,000 steps).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SCALES = ("smoke", "book", "paper")


@dataclass(frozen=True)
class CollectConfig:
    """Rollout collection (``worldmodels.rollouts.collect``)."""

    name: str = "book"
    """folder under data/rollouts/ that holds the episodes"""
    episodes: int = 200
    """number of episodes N; episode i is reset with seed ``seed + i``"""
    steps: int = 300
    """steps T per episode (fewer if the env terminates; CarRacing-v3 truncates at 1000)"""
    seed: int = 0
    """seed of the first episode"""
    policy: str = "random"
    """``random`` (the book's: a random action held for ``action_refresh`` steps) or ``brownian``"""
    action_refresh: int = 20
    """steps an action of the ``random`` policy is held"""
    brownian_sigma: tuple[float, float, float] = (0.3, 0.15, 0.1)
    """per-step standard deviation of the ``brownian`` policy for (steer, gas, brake)"""
    renderer: str = "fast"
    """state renderer: ``stock``, ``exact`` or ``fast`` (see worldmodels.env)"""
    frame_size: int = 64
    """side of the stored square frames"""
    crop: bool = True
    """drop the indicator bar (keep the top 84 rows) before resizing, as the paper does"""
    workers: int = 0
    """worker processes; 0 means one per CPU core"""
    backend: str = "process"
    """``serial``, ``process`` or ``ray``"""
    ray_address: str | None = None
    """Ray cluster address for ``backend="ray"`` (None starts a local Ray)"""


@dataclass(frozen=True)
class Config:
    """Everything a pipeline run needs; one field per stage."""

    scale: str = "book"
    """the preset this was built from"""
    collect: CollectConfig = field(default_factory=CollectConfig)


_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {"collect": {"name": "smoke", "episodes": 4, "steps": 40, "workers": 2}},
    "book": {"collect": {"name": "book", "episodes": 200, "steps": 300}},
    "paper": {"collect": {"name": "paper", "episodes": 10_000, "steps": 1_000}},
}


def get_config(scale: str = "book", **overrides: dict[str, Any]) -> Config:
    """The preset ``scale`` with per-stage overrides, e.g. ``collect={"episodes": 8}``."""
    if scale not in _PRESETS:
        raise ValueError(f"unknown scale {scale!r}: expected one of {SCALES}")
    stages = {}
    for f in dataclasses.fields(Config):
        if f.name == "scale":
            continue
        values = {**_PRESETS[scale].get(f.name, {}), **(overrides.pop(f.name, None) or {})}
        stages[f.name] = _build(f.type if isinstance(f.type, type) else _STAGE_TYPES[f.name], values)
    if overrides:
        raise ValueError(f"unknown config sections {sorted(overrides)}; expected {sorted(_STAGE_TYPES)}")
    return Config(scale=scale, **stages)


def _build(cls, values: dict[str, Any]):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {sorted(unknown)}; known: {sorted(known)}")
    return cls(**values)


def to_dict(cfg) -> dict[str, Any]:
    """A config as plain types (for manifests, checkpoints and cards)."""
    return dataclasses.asdict(cfg)


_STAGE_TYPES = {"collect": CollectConfig}

"""The scale presets and ``get_config``: one code path, three sizes.

``get_config("book", collect={"episodes": 50})`` gives the ``book`` preset with overrides. Presets follow
the seeds and the paper:

- ``smoke``: seconds; what CI and the notebook tests run, on the same code path.
- ``book``: the book notebook's numbers (200 episodes x 300 steps, action refresh 20).
- ``paper``: Ha & Schmidhuber's (10,000 episodes x 1,000 steps).

Every number that differs by scale is a preset value here, never a ``scale == ...`` test elsewhere.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any

from .config import SCALARS, STAGE_TYPES, Config, Scale, build_section, to_dict

SCALES: tuple[str, ...] = typing.get_args(Scale)

_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        "parallel": {"workers": 2},
        "collect": {"name": "smoke", "episodes": 4, "steps": 40},
        "gumbel": {"kl_warmup_steps": 2},
        "vae_training": {"epochs": 2, "batch_size": 16, "validation_fraction": 0.25, "max_steps_per_epoch": 4},
        "mdnrnn": {"hidden_size": 32},
        "mdnrnn_training": {"epochs": 2, "batch_size": 4, "validation_fraction": 0.25},
        "evolution": {"name": "smoke", "population": 4, "trials": 2, "generations": 2, "max_steps": 30,
                      "envs_per_task": 4, "eval_episodes": 2},
        "evaluation": {"episodes": 2, "max_steps": 30},
        "dream_check": {"tracks": 2, "max_steps": 30, "random": 2, "envs_per_task": 4},
        "iterate": {"rounds": 2, "episodes": 2, "steps": 30, "epochs": 1, "monitor_tracks": 2, "select_dreams": 4},
        "scalars": {"sequence_length": 16, "figures": "figures/smoke"},
    },
    "book": {
        "collect": {"name": "book", "episodes": 200, "steps": 300},
        # 200 episodes give about 23 optimiser steps an epoch: more epochs for enough steps
        "mdnrnn_training": {"epochs": 100},
    },
    # the paper's 10,000 x 1,000 steps, fed as the dream agents that transferred were: much of it driven along the
    # road (the pilot), drawn straight at V's input and encoded as collected, 1 in 4 episodes keeping its frames
    "paper": {"collect": {"name": "paper", "episodes": 10_000, "steps": 1_000, "policy": "blend", "renderer": "direct",
                          "encoder": "checkpoints/vae/book.pt", "frames_every": 4},
              "evolution": {"name": "paper", "population": 64, "trials": 16, "generations": 2000, "eval_every": 25,
                            "eval_episodes": 1024}},
}


# the straight-through discrete V (DreamerV3's estimator, notebook 03, ``checkpoints/gumbel/book_st``): its
# ``gumbel`` section beyond the preset; 1 / 32 free nats a variable is DreamerV3's 1 nat on the summed KL
STRAIGHT_THROUGH = {"estimator": "straight_through", "unimix": 0.01, "kl_tolerance": 1 / 32, "tau_min": 0.1,
                    "tau_decay": 5e-4}


def get_config(scale: str = "book", **overrides: Any) -> Config:
    """The preset ``scale`` with per-stage overrides, e.g. ``collect={"episodes": 8}``, and scalar ones
    (``sequence_length=50``)."""
    if scale not in _PRESETS:
        raise ValueError(f"unknown scale {scale!r}: expected one of {SCALES}")
    default = Config()
    stages = {}
    for f in dataclasses.fields(Config):
        if f.name not in STAGE_TYPES:
            continue
        values = {**_PRESETS[scale].get(f.name, {}), **(overrides.pop(f.name, None) or {})}
        stages[f.name] = build_section(STAGE_TYPES[f.name], {**to_dict(getattr(default, f.name)), **values})
    scalars = {k: overrides.pop(k) for k in list(overrides) if k in SCALARS}
    if overrides:
        raise ValueError(f"unknown config sections {sorted(overrides)}; expected {sorted(STAGE_TYPES)}")
    return Config(scale=scale, **stages, **{**_PRESETS[scale].get("scalars", {}), **scalars})


SWITCHES = {"0": False, "1": True}  # what a yes/no environment variable accepts


def env_scale(name: str = "WM_SCALE", default: str = "book") -> str:
    """The scale an environment variable names (the notebooks' ``WM_SCALE``), refusing one that is not a scale."""
    value = os.environ.get(name, default)
    if value not in SCALES:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(SCALES)}")
    return value


def env_switch(name: str, default: bool = False) -> bool:
    """A yes/no environment variable (the notebooks' ``WM_TRAIN``): ``0`` or ``1``, unset for ``default``;
    anything else (``true``, ``maybe``) is refused, never read as one or the other."""
    value = os.environ.get(name)
    if value is None:
        return default
    if value not in SWITCHES:
        raise ValueError(f"{name}={value!r}: expected 0 (no) or 1 (yes); for the notebooks' WM_TRAIN, 0 loads the "
                         f"shipped checkpoints and 1 trains")
    return SWITCHES[value]

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
    """``random`` (the book's: a random action held for ``action_refresh`` steps), ``brownian``, or ``agent``
    (a trained controller plus noise: the paper's iterative procedure)"""
    action_refresh: int = 20
    """steps an action of the ``random`` policy is held"""
    brownian_sigma: tuple[float, float, float] = (0.3, 0.15, 0.1)
    """per-step standard deviation of the ``brownian`` policy for (steer, gas, brake)"""
    agent: str | None = None
    """agent file driving the ``agent`` policy (e.g. checkpoints/controller/vae_book.pt)"""
    action_noise: float = 0.1
    """standard deviation of the Gaussian noise added to each action of the ``agent`` policy (then clipped)"""
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
class VAEConfig:
    """The paper's Gaussian ConvVAE (``worldmodels.vae``)."""

    z_size: int = 32
    """latent dimensions Z"""
    frame_size: int = 64
    """side of the square input frames (the conv stack is built for 64)"""
    kl_tolerance: float = 0.5
    """free nats per latent dimension: the KL term is max(KL, kl_tolerance * Z), as in the paper's code"""


@dataclass(frozen=True)
class GumbelConfig:
    """The discrete Gumbel-softmax VAE (``worldmodels.gumbel_vae``)."""

    num_vars: int = 32
    """N categorical variables"""
    num_classes: int = 32
    """K classes per variable"""
    frame_size: int = 64
    """side of the square input frames"""
    tau_start: float = 1.0
    """Gumbel-softmax temperature at the first step"""
    tau_min: float = 0.5
    """lowest temperature of the annealing schedule"""
    tau_decay: float = 3e-4
    """tau = max(tau_min, tau_start * exp(-tau_decay * step)); reaches tau_min after ~2,300 steps"""
    hard: bool = False
    """straight-through: one-hot samples forward, relaxed gradients backward"""
    kl_weight: float = 1.0
    """weight of KL(q || uniform) once warmed up"""
    kl_tolerance: float = 0.5
    """free nats per variable: the KL term is max(KL, kl_tolerance * N), as for the Gaussian VAE"""
    kl_warmup_steps: int = 2000
    """steps over which the KL weight rises linearly from 0"""


@dataclass(frozen=True)
class MDNRNNConfig:
    """M: the LSTM with a mixture-density head (``worldmodels.mdnrnn``)."""

    latent: str = "vae"
    """``vae``: Gaussian mixtures over a continuous z; ``gumbel``: a categorical head over N x K codes"""
    z_size: int = 32
    """Z, the continuous latent size (for ``latent="vae"``)"""
    num_vars: int = 32
    """N categorical variables (for ``latent="gumbel"``)"""
    num_classes: int = 32
    """K classes per variable (for ``latent="gumbel"``)"""
    action_size: int = 3
    """steer, gas, brake"""
    hidden_size: int = 256
    """LSTM units H"""
    num_mixtures: int = 5
    """Gaussian components M per latent dimension"""
    reward_head: bool = True
    """predict the reward of each step"""
    done_head: bool = True
    """predict the end of the episode (a logit)"""
    log_sigma_min: float = -7.0
    """log sigma is clamped to [log_sigma_min, log_sigma_max] so the loss stays finite"""
    log_sigma_max: float = 3.0
    """upper clamp of log sigma"""


@dataclass(frozen=True)
class ControllerConfig:
    """C: the controller (``worldmodels.controller``)."""

    inputs: str = "z_h"
    """``z_h``: [z, h] as in the paper; ``z``: z only (the paper's "V only" agent)"""
    latent_size: int = 32
    """size of the latent input: Z for the VAE, N * K for the Gumbel VAE's hard one-hot codes"""
    hidden_state_size: int = 256
    """H, the MDN-RNN's hidden units (used with ``inputs="z_h"``)"""
    hidden_layer: int = 0
    """units of an optional tanh hidden layer (0: the paper's linear controller)"""
    code_input: str = "hard"
    """Gumbel world models only: C reads the ``hard`` one-hot code (what M reads) or the ``soft`` code, the
    posterior's class probabilities softmax(logits) (B, N, K), its expected value; M reads the hard code either way"""


@dataclass(frozen=True)
class EvolutionConfig:
    """CMA-ES over the controller's parameters (``worldmodels.evolve``)."""

    name: str = "book"
    """run folder ``data/runs/controller_<latent>_<name>/`` and the release name"""
    latent: str = "vae"
    """which world model: ``vae`` (continuous z) or ``gumbel`` (the discrete VAE's hard codes)"""
    release: str = "book"
    """V and M are the releases ``checkpoints/<latent>/<release>.pt`` and ``checkpoints/mdnrnn/<latent>_<release>.pt``"""
    mode: str = "real"
    """``real``: candidates drive in CarRacing; ``dream``: the whole population drives inside M at once"""
    population: int = 16
    """candidates P per generation (paper: 64)"""
    trials: int = 4
    """episodes R per candidate; its fitness is their mean return (paper: 16)"""
    generations: int = 100
    """generations to run; a finished run resumes when asked for more"""
    sigma0: float = 0.1
    """initial CMA-ES step size"""
    covariance: str = "full"
    """``full`` (the paper's CMA-ES) or ``diagonal`` (sep-CMA: memory and time linear in the parameters)"""
    seed: int = 0
    """seeds CMA-ES and the episode seeds of every generation"""
    max_steps: int = 1000
    """steps per episode (CarRacing truncates at 1000); in the dream, the dream's length"""
    renderer: str = "fast"
    """state renderer for training episodes (``evaluate`` uses ``stock``)"""
    envs_per_task: int = 8
    """episodes one worker steps together, V and M batched across them"""
    tile_cutoff: int = 0
    """end an episode after this many steps without a new tile, charging -0.1 for each step left (0: off)"""
    early_trials: int = 0
    """trials per candidate in the first ``early_generations`` generations (0: always ``trials``)"""
    early_generations: int = 0
    """how many generations use ``early_trials``"""
    eval_every: int = 0
    """every this many generations, score the ES mean on ``eval_episodes`` fresh episodes (0: never)"""
    eval_episodes: int = 16
    """episodes of each evaluation of the mean"""
    dream_tau: float = 1.15
    """temperature of the dream (paper: 1.15)"""
    init: str | None = None
    """start from this agent's parameters (a controller file, e.g. a dream-trained one) instead of zeros"""
    backend: str = "process"
    """``serial``, ``process`` or ``ray``"""
    workers: int = 0
    """worker processes; 0 means one per CPU core"""
    ray_address: str | None = None
    """Ray cluster address for ``backend="ray"`` (None starts a local Ray)"""


@dataclass(frozen=True)
class TrainConfig:
    """The shared training loop (``worldmodels.train``)."""

    epochs: int = 10
    """passes over the training episodes"""
    batch_size: int = 100
    """frames (or sequences) per step"""
    learning_rate: float = 1e-4
    """Adam step size"""
    grad_clip: float = 1.0
    """maximum gradient norm (0 disables clipping)"""
    validation_fraction: float = 0.1
    """share of episodes held out (split by episode, never by frame)"""
    episodes_in_memory: int = 16
    """episodes decoded into memory at once by the streaming dataset"""
    max_steps_per_epoch: int = 0
    """cap on optimiser steps per epoch (0: the whole training set)"""
    bf16: bool = False
    """bfloat16 autocast (the loss is still summed in float32)"""
    seed: int = 0
    """seed of initialisation, split and shuffling"""


@dataclass(frozen=True)
class Config:
    """Everything a pipeline run needs; one field per stage."""

    scale: str = "book"
    """the preset this was built from"""
    collect: CollectConfig = field(default_factory=CollectConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    gumbel: GumbelConfig = field(default_factory=GumbelConfig)
    vae_training: TrainConfig = field(default_factory=lambda: TrainConfig(bf16=True))
    """training of both V models (bf16 autocast: x1.45 on the CPU, same held-out error; benchmarks/vae.py)"""
    mdnrnn: MDNRNNConfig = field(default_factory=MDNRNNConfig)
    mdnrnn_training: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=20, batch_size=32, learning_rate=1e-3, validation_fraction=0.1))
    """training of M (batch = sequences of ``sequence_length`` steps; 20 epochs as in the paper)"""
    sequence_length: int = 100
    """steps per training sequence of M"""
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)


_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        "collect": {"name": "smoke", "episodes": 4, "steps": 40, "workers": 2},
        "gumbel": {"kl_warmup_steps": 2},
        "vae_training": {"epochs": 2, "batch_size": 16, "validation_fraction": 0.25, "max_steps_per_epoch": 4},
        "mdnrnn": {"hidden_size": 32},
        "mdnrnn_training": {"epochs": 2, "batch_size": 4, "validation_fraction": 0.25},
        "evolution": {"name": "smoke", "population": 4, "trials": 2, "generations": 2, "max_steps": 30,
                      "envs_per_task": 4, "workers": 2, "eval_episodes": 2},
        "scalars": {"sequence_length": 16},
    },
    "book": {
        "collect": {"name": "book", "episodes": 200, "steps": 300},
        # 200 episodes give about 23 optimiser steps an epoch: more epochs for enough steps
        "mdnrnn_training": {"epochs": 100},
    },
    "paper": {"collect": {"name": "paper", "episodes": 10_000, "steps": 1_000},
              "evolution": {"name": "paper", "population": 64, "trials": 16, "generations": 2000, "eval_every": 25,
                            "eval_episodes": 1024, "envs_per_task": 16}},
}


def get_config(scale: str = "book", **overrides: dict[str, Any]) -> Config:
    """The preset ``scale`` with per-stage overrides, e.g. ``collect={"episodes": 8}``."""
    if scale not in _PRESETS:
        raise ValueError(f"unknown scale {scale!r}: expected one of {SCALES}")
    stages = {}
    for f in dataclasses.fields(Config):
        if f.name not in _STAGE_TYPES:
            continue
        values = {**_PRESETS[scale].get(f.name, {}), **(overrides.pop(f.name, None) or {})}
        stages[f.name] = _build(_STAGE_TYPES[f.name], {**to_dict(getattr(_DEFAULT, f.name)), **values})
    scalars = {k: overrides.pop(k) for k in list(overrides) if k in _SCALARS}
    if overrides:
        raise ValueError(f"unknown config sections {sorted(overrides)}; expected {sorted(_STAGE_TYPES)}")
    return Config(scale=scale, **stages, **{**_PRESETS[scale].get("scalars", {}), **scalars})


def _build(cls, values: dict[str, Any]):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {sorted(unknown)}; known: {sorted(known)}")
    return cls(**values)


def to_dict(cfg) -> dict[str, Any]:
    """A config as plain types (for manifests, checkpoints and cards)."""
    return dataclasses.asdict(cfg)


_STAGE_TYPES = {"collect": CollectConfig, "vae": VAEConfig, "gumbel": GumbelConfig, "vae_training": TrainConfig,
                "mdnrnn": MDNRNNConfig, "mdnrnn_training": TrainConfig, "controller": ControllerConfig,
                "evolution": EvolutionConfig}


_SCALARS = ("sequence_length",)
_DEFAULT = Config()


def from_dict(d: dict[str, Any]) -> Config:
    """Rebuild a Config from ``to_dict`` output (e.g. read back from a checkpoint)."""
    stages = {}
    for name, cls in _STAGE_TYPES.items():
        values = dict(d.get(name, {}))
        for f in dataclasses.fields(cls):  # JSON turns tuples into lists
            if isinstance(values.get(f.name), list):
                values[f.name] = tuple(values[f.name])
        stages[name] = _build(cls, values)
    scalars = {k: d[k] for k in _SCALARS if k in d}
    return Config(scale=d.get("scale", "book"), **stages, **scalars)

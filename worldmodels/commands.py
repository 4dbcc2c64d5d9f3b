"""The commands' arguments: one dataclass per command, made of the package's own config sections.

tyro turns every field into a flag of the same name (``--population``, ``--tile-cutoff``) with the field's
docstring as its help; ``worldmodels.cli`` fills the defaults from the preset of ``--scale`` and runs them.
Sizes read from V, M or the data (M's code shape, C's input sizes) are not config, so they have no flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import tyro

from .core.config import (
    CollectConfig,
    ControllerConfig,
    DreamCheckConfig,
    EvaluationConfig,
    EvolutionConfig,
    GumbelConfig,
    IterateConfig,
    Latent,
    MDNRNNConfig,
    ParallelConfig,
    Scale,
    TrainConfig,
    VAEConfig,
)
from .core.validation import Between, Name


@dataclass(frozen=True, kw_only=True)
class Collect:
    """Collect rollouts in parallel (resumes if interrupted)."""

    collect: CollectConfig
    parallel: ParallelConfig
    scale: Scale = "book"
    """preset the defaults come from"""
    out: Path | None = None
    """write here instead of data/rollouts/<name>"""
    quiet: bool = False
    """no progress bar"""


@dataclass(frozen=True, kw_only=True)
class Verify:
    """Read every episode of a rollout folder and list the bad ones."""

    folder: tyro.conf.Positional[Path | None] = None
    """rollout folder (None: the scale's)"""
    scale: Scale = "book"
    """preset the defaults come from"""


@dataclass(frozen=True, kw_only=True)
class Subset:
    """A rollout folder of the episodes of another that kept their frames (hard links): a collection encoded as
    collected then trains a V of its encoder's kind, whose latents, and so whose M, it could not hold."""

    rollouts: Name
    """the source folder under data/rollouts"""
    name: Name
    """the new folder data/rollouts/NAME"""


@dataclass(frozen=True, kw_only=True)
class _Training:
    """What every training command takes besides its config sections."""

    scale: Scale = "book"
    """preset the defaults come from"""
    rollouts: Name | None = None
    """folder under data/rollouts the model learns from (None: the scale's)"""
    release: Name | None = None
    """then ship it under this name, model file and JSON card together"""
    force: bool = False
    """replace an existing release of that name"""
    quiet: bool = False
    """no progress bar"""


@dataclass(frozen=True, kw_only=True)
class TrainVAE(_Training):
    """Train the paper's Gaussian VAE on the rollouts (resumes a killed run); --release ships checkpoints/vae/NAME.pt."""

    latent: ClassVar[str] = "vae"
    model: VAEConfig
    training: TrainConfig
    run: Name | None = None
    """run folder data/runs/<latent>_RUN (None: the rollouts' name), e.g. to train other settings on the same
    rollouts beside the first run"""


@dataclass(frozen=True, kw_only=True)
class TrainGumbel(TrainVAE):
    """Train the Gumbel-softmax VAE on the rollouts (resumes a killed run); --release ships checkpoints/gumbel/NAME.pt."""

    latent: ClassVar[str] = "gumbel"
    model: GumbelConfig = field(default_factory=GumbelConfig)


@dataclass(frozen=True, kw_only=True)
class Encode:
    """Encode rollouts into latents for the MDN-RNN."""

    latent: Annotated[Latent, tyro.conf.arg(aliases=("--model",))] = "vae"
    """which kind of V (``--model`` is the older name of this flag)"""
    scale: Scale = "book"
    """preset the defaults come from"""
    rollouts: Name | None = None
    """folder under data/rollouts (None: the scale's)"""
    checkpoint: Path | None = None
    """a V file, e.g. a release checkpoints/<latent>/<name>.pt (default: the training run's last.pt)"""
    run: Name | None = None
    """without --checkpoint, the training run data/runs/<latent>_RUN whose last.pt encodes (None: the rollouts')"""
    quiet: bool = False
    """no progress bar"""


@dataclass(frozen=True, kw_only=True)
class TrainMDNRNN(_Training):
    """Train M on encoded rollouts (resumes a killed run); --release ships checkpoints/mdnrnn/<latent>_NAME.pt."""

    mdnrnn: MDNRNNConfig
    training: TrainConfig
    sequence_length: Annotated[int, Between(1, 10_000)] = 100
    """steps per training sequence"""
    mix: tuple[str, ...] = ()
    """further rollout folders M learns from, each NAME or NAME:K (its episodes count K times an epoch); every
    folder encoded by the same V (encode --rollouts NAME)"""
    init: Path | None = None
    """start from this M's weights (fine-tune) instead of a fresh initialisation"""
    run: Name | None = None
    """run folder data/runs/mdnrnn_<latent>_RUN (None: the rollout folders joined by +), e.g. to fine-tune the
    same data with other settings"""


@dataclass(frozen=True, kw_only=True)
class _Evolving:
    """What every command that evolves a controller takes: its sections, the world model, the dreams' starts."""

    evolution: EvolutionConfig
    controller: ControllerConfig
    parallel: ParallelConfig
    scale: Scale = "book"
    """preset the defaults come from"""
    vision: Path | None = None
    """a V file other than the --world-model release's"""
    mdnrnn: Path | None = None
    """an M file other than the --world-model release's (e.g. one trained on other rollouts with the same V)"""
    rollouts: Name | None = None
    """rollouts whose first frames (or, with --dream-branches, mid-episode states) start the dreams (None: the
    scale's)"""
    force: bool = False
    """replace an existing release of that name"""
    quiet: bool = False
    """no progress bar"""


@dataclass(frozen=True, kw_only=True)
class Evolve(_Evolving):
    """Evolve the controller with CMA-ES, in the real env or the dream (resumes a killed run)."""

    release: Name | None = None
    """then ship it as checkpoints/controller/<latent>_RELEASE.pt with a card"""
    which: Literal["auto", "best_mean", "mean", "best"] = "auto"
    """parameters to ship (auto: best_mean if evaluated, else mean)"""
    soup_with: tuple[Name, ...] = ()
    """with --release: other finished runs of this recipe (the same flags but --name and --seed), by --name; the
    release is the average of their ES means and this run's (a model soup), and its card counts every run"""


@dataclass(frozen=True, kw_only=True)
class Evaluate:
    """Score an agent file on held-out episodes (the protocol), and film the first."""

    agent: tyro.conf.Positional[Path]
    """an agent file: checkpoints/controller/<latent>_<name>.pt or a run's mean.pt"""
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    out: Path | None = None
    """results JSON (default data/evaluations/<agent>.json)"""
    video: Path | None = None
    """mp4 of the first episode (default beside the results)"""
    video_episodes: Literal[0, 1] = 1
    """0: no video"""
    update_card: bool = False
    """write the scores into the agent's JSON card"""
    ship_film: bool = False
    """also write the filmed episode's actions beside the agent (<agent>.film.npz), so the notebooks' films replay
    it and come out the same on any CPU (``worldmodels.film``)"""


@dataclass(frozen=True, kw_only=True)
class DreamCheck:
    """Rank a panel of controllers in the real env and in M's dream: the Spearman correlation M is judged by."""

    mdnrnn: tyro.conf.Positional[Path]
    """an M file: checkpoints/mdnrnn/<latent>_<name>.pt or a training run's last.pt"""
    dream_check: DreamCheckConfig
    parallel: ParallelConfig
    scale: Scale = "book"
    """preset the defaults come from"""
    vision: Path | None = None
    """the V whose codes M models (None: the one M's card or run records)"""
    agents: tuple[Path, ...] | None = None
    """agent files in the panel (None: every shipped agent in checkpoints/controller that fits this V and M)"""
    rollouts: Name | None = None
    """rollouts whose first frames start the dreams (None: the scale's)"""
    out: Path | None = None
    """results JSON (default data/dream_check/<M's name>.json)"""
    update_card: bool = False
    """write the result into M's JSON card"""
    ensemble: tuple[Path, ...] = ()
    """M files to dream in as evolve --ensemble does (M gives the controllers their h): also reports the ensemble
    and each member alone"""


@dataclass(frozen=True, kw_only=True)
class DreamScore:
    """Score agents of one V and M by their mean return in held-out dreams (no real env) and name the highest (on
    the agents measured so far, the highest was never the best real driver). Of the evolution flags, only the
    dreams' are read: --ensemble, --dream-branches (drawn with --seed: pick one no ES run drew its states with),
    --max-steps, --dream-tau."""

    agents: tyro.conf.Positional[tuple[Path, ...]]
    """agent files (a run's mean.pt, or checkpoints/controller/<latent>_<name>.pt), all seeing through one V and M"""
    evolution: EvolutionConfig
    scale: Scale = "book"
    """preset the defaults come from"""
    rollouts: Name | None = None
    """rollouts whose first frames (or, with --dream-branches, mid-episode states) start the dreams (None: the
    scale's)"""
    dreams: Annotated[int, Between(2, 1_000_000)] = 4096
    """dreams per agent, the same for every agent (the same starts in the same members)"""
    out: Path | None = None
    """results JSON (default data/dream_scores/<first agent>.json)"""


@dataclass(frozen=True)
class CompareScores:
    """Compare evaluations of the same tracks (``evaluate``'s results JSON): each one's score, and its difference
    from the first, track by track (paired, so the tracks' own spread cancels)."""

    evaluations: tyro.conf.Positional[tuple[Path, ...]]
    """two or more results files of ``evaluate`` with the same --seed and --episodes, the first the baseline"""
    loss: Annotated[float, Between(0, 10_000)] = 100.0
    """count the tracks where an evaluation lost (or won) more than this many points against the first"""


@dataclass(frozen=True, kw_only=True)
class Iterate(_Evolving):
    """The paper's iterative loop (resumes a killed run): rounds of evolving C in M's dream, real episodes of C with
    noise added to M's data, M fine-tuned, dream-check; --release ships the dream-trained agent and its M. --mdnrnn
    is M_0, the M the first round dreams in."""

    iterate: IterateConfig
    mix: tuple[str, ...] = ()
    """M's data before the first round, folders NAME or NAME:K (() : the folders and weights M_0 learnt from);
    every round adds its own episodes"""
    agents: tuple[Path, ...] | None = None
    """agent files in dream-check's panel (None: every shipped agent in checkpoints/controller that fits, when the
    loop starts; the panel stays fixed for the loop's rounds)"""
    release: Name | None = None
    """then ship the candidate as checkpoints/controller/<latent>_RELEASE.pt and its M as
    checkpoints/mdnrnn/<latent>_RELEASE.pt, with cards"""


@dataclass(frozen=True, kw_only=True)
class Reproduce:
    """The whole pipeline for one release name: builds only what is missing (resumes)."""

    scale: Scale = "book"
    """preset the defaults come from"""
    name: Name | None = None
    """release name (default: the scale's); existing releases are kept"""
    agents: tuple[str, ...] | None = None
    """agent recipes to build, keys of ``worldmodels.recipes.AGENTS`` (vae, vae_vonly, gumbel, gumbel_soft,
    gumbel_st, vae_dream, vae_agent, gumbel_agent_st, vae_loop_dream, vae_checked_dream, vae_frames_dream,
    vae_frames, gumbel_st_dream, vae_branch_dream, vae_branch10k_dream, vae_soup10k_dream,
    vae_soup_lean_dream; None: all of the scale's: the last seven at paper scale, the others at book scale, every
    one at smoke); an agent another one needs is built with it"""
    generations: Annotated[int | None, Between(1, 1_000_000)] = None
    """CMA-ES generations per agent (default: the scale's)"""
    episodes: Annotated[int | None, Between(1, 100_000)] = None
    """evaluation episodes (default: the scale's evaluation preset)"""
    eval_max_steps: Annotated[int | None, Between(1, 1000)] = None
    """evaluation episode length (default: the scale's evaluation preset)"""
    backend: Literal["serial", "process", "ray"] | None = None
    """task backend (default: the scale's)"""
    workers: Annotated[int | None, Between(0, 1024)] = None
    """worker processes; 0 = one per core"""
    quiet: bool = False
    """no progress bar"""

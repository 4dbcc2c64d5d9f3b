"""Configuration: one frozen dataclass per stage, every field documented and range-checked.

``Config`` holds one section per stage; the presets (``worldmodels.core.presets``) fill them in for a
scale, and the command line (``worldmodels.cli``) is generated from these classes. ``to_dict`` and
``from_dict`` turn a config into plain types and back (checkpoints, cards, run states).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from .validation import Between, ConfigError, Name, check, flag

Scale = Literal["smoke", "book", "paper"]
Backend = Literal["serial", "process", "ray"]
Renderer = Literal["stock", "exact", "fast", "direct"]
Precision = Literal["auto", "float32", "bfloat16"]  # of V's encoder (auto: bf16 where native, core/hardware.py)
Latent = Literal["vae", "gumbel"]
SEED = Between(0, 2**31 - 1)  # what every seeded generator here takes
STEPS = Between(1, 1000)  # CarRacing-v3 truncates an episode at 1,000 steps; a dream is no longer than the real episode
WORKERS = Between(0, 1024)  # 0: one per core
ENVS_PER_TASK = Between(1, 256)
MODEL_SIZE = Between(1, 65_536)  # any width of a layer, a code or a mixture
STATE_SIDE = 96  # side of CarRacing's state
HELD_OUT_SEEDS = (800_000, 1_000_000)  # dream-check's tracks, then the protocol's: never collected on


@dataclass(frozen=True)
class ParallelConfig:
    """Where the episodes run (``worldmodels.core.parallel.TaskPool``): one section that collection, evolution,
    evaluation, dream-check and the iterative loop all read. No result depends on it: the work is split by the
    episodes alone, so every backend and pool size returns the same numbers."""

    def __post_init__(self) -> None:
        check(self)
        if self.ray_address and self.backend != "ray":
            raise ConfigError(f"ParallelConfig.ray_address={self.ray_address!r} (--ray-address) with "
                              f"backend={self.backend!r}: a Ray address is for --backend ray")

    backend: Backend = "process"
    """``serial`` (in this process), ``process`` (a pool of worker processes) or ``ray`` (a Ray cluster)"""
    workers: Annotated[int, WORKERS] = 0
    """worker processes; 0 means one per CPU core (with ``ray``: as many tasks at once as the cluster takes)"""
    ray_address: str | None = None
    """Ray cluster address for ``backend="ray"`` (None starts a local Ray)"""


PARALLEL_FIELDS = tuple(f.name for f in dataclasses.fields(ParallelConfig))
LOCAL = ParallelConfig()
"""a process per core on this machine: what a function run without a ``parallel`` section uses"""


@dataclass(frozen=True)
class CollectConfig:
    """Rollout collection (``worldmodels.world.rollouts.collect``)."""

    def __post_init__(self) -> None:
        check(self)
        if self.renderer == "direct" and self.frame_size == STATE_SIDE:
            raise ConfigError(f"CollectConfig.renderer='direct' with frame_size={STATE_SIDE} (--renderer, "
                              f"--frame-size): the direct renderer draws V's smaller input; for {STATE_SIDE}x"
                              f"{STATE_SIDE} frames use --renderer fast")
        for name in ("pilot_speed", "pilot_gain", "pilot_noise", "pilot_caution", "pilot_throttle"):
            low, high = getattr(self, name)
            if low > high:
                raise ConfigError(f"CollectConfig.{name}={(low, high)!r} ({flag(name)}): the range's low end is "
                                  f"above its high end; give LOW HIGH")
        if self.policy == "blend" and sum(self.blend) <= 0:
            raise ConfigError(f"CollectConfig.blend={self.blend!r} (--blend): the weights of random, brownian "
                              f"and pilot must not all be 0")
        if self.frames_every != 1 and not self.encoder:
            raise ConfigError(f"CollectConfig.frames_every={self.frames_every} (--frames-every) without --encoder: "
                              f"episodes that keep no frames keep their latents, which need a V; pass --encoder "
                              f"checkpoints/vae/<name>.pt, or --frames-every 1")
        first, last = self.seed, self.seed + self.episodes - 1
        if first < HELD_OUT_SEEDS[1] and last >= HELD_OUT_SEEDS[0]:
            raise ConfigError(f"CollectConfig seeds {first} to {last} (--seed, --episodes): seeds "
                              f"{HELD_OUT_SEEDS[0]:,} to {HELD_OUT_SEEDS[1] - 1:,} are held out for dream-check "
                              f"(from 800,000) and the evaluation protocol (from 900,000); collect below "
                              f"{HELD_OUT_SEEDS[0]:,}")

    name: Name = "book"
    """folder under data/rollouts/ that holds the episodes"""
    episodes: Annotated[int, Between(1, 1_000_000)] = 200
    """number of episodes N; episode i is reset with seed ``seed + i``"""
    steps: Annotated[int, STEPS] = 300
    """steps T per episode (fewer if the env terminates; CarRacing-v3 truncates at 1000)"""
    seed: Annotated[int, SEED] = 0
    """seed of the first episode"""
    policy: Literal["random", "brownian", "pilot", "blend", "agent", "mixed"] = "random"
    """``random`` (the book's: a random action held for ``action_refresh`` steps), ``brownian``, ``pilot`` (a
    scripted driver that follows the track from the env's own state, its speed, gain and noise drawn per episode),
    ``blend`` (each episode one of random, brownian and pilot, by the weights ``blend``), ``agent`` (a trained
    controller plus noise: the paper's iterative procedure) or ``mixed`` (each episode the agent perturbed, a random
    controller or a constant action, through the agent's V and M: data that hold failures)"""
    action_refresh: Annotated[int, Between(1, 1000)] = 20
    """steps an action of the ``random`` policy is held"""
    brownian_sigma: Annotated[tuple[float, float, float], Between(0, 10)] = (0.3, 0.15, 0.1)
    """per-step standard deviation of the ``brownian`` policy for (steer, gas, brake)"""
    blend: Annotated[tuple[float, float, float], Between(0, 1)] = (0.2, 0.1, 0.7)
    """weights of ``random``, ``brownian`` and ``pilot`` in the ``blend`` policy (each episode draws one)"""
    pilot_speed: Annotated[tuple[float, float], Between(1, 200)] = (25.0, 100.0)
    """range of the ``pilot``'s target speed (the car's speed in the env's units; a careful lap is about 40, the
    shipped agents drive about 55), drawn uniformly per episode"""
    pilot_gain: Annotated[tuple[float, float], Between(0.01, 20)] = (0.6, 3.0)
    """range of the ``pilot``'s steering gain (steer per radian of heading error), drawn log-uniformly per episode"""
    pilot_noise: Annotated[tuple[float, float], Between(0, 2)] = (0.0, 0.3)
    """range of the ``pilot``'s noise, drawn uniformly per episode: the standard deviation of the noise on its
    steering, and, times 0.02, its chance each step of leaving the line for 20 to 60 steps of a random action"""
    pilot_caution: Annotated[tuple[float, float], Between(0, 1)] = (0.0, 1.0)
    """range of the ``pilot``'s caution, drawn uniformly per episode: how much it slows for a corner ahead (1: its
    target speed less 60% in a right-angle bend; 0: it takes corners at its target speed)"""
    pilot_throttle: Annotated[tuple[float, float], Between(0, 0.9)] = (0.0, 0.0)
    """range of the share of the ``pilot``'s steps, drawn uniformly per episode, on which chance holds gas and brake
    (segments of 20 to 60 steps of a uniform gas, with a uniform brake in one of three) while the pilot steers; at
    most 0.9, 0 0 (the default) is off. It breaks the link between the pilot's gas and the state, so M can learn
    what gas does"""
    agent: str | None = None
    """agent file driving the ``agent`` and ``mixed`` policies (e.g. checkpoints/controller/vae_book.pt)"""
    action_noise: Annotated[float, Between(0, 10)] = 0.1
    """standard deviation of the Gaussian noise added to each action of the ``agent`` policy (then clipped)"""
    renderer: Renderer = "fast"
    """state renderer: ``stock``, ``exact`` or ``fast`` draw the 96x96 state, which is then preprocessed; ``direct``
    draws V's input frame itself, the fastest (its speed: docs/benchmarks.md)"""
    frame_size: Annotated[int, Between(8, 512)] = 64
    """side of the stored square frames"""
    crop: bool = True
    """drop the indicator bar (keep the top 84 rows) before resizing, as the paper does"""
    encoder: str | None = None
    """a V file (e.g. checkpoints/vae/book.pt): each worker encodes its episodes as it collects them and stores the
    posterior (float16) in the episode file, so M's data need no separate encoding pass"""
    encoder_precision: Precision = "auto"
    """V's encoder while collecting: ``bfloat16`` (a continuous V only; a discrete V encodes in ``float32``) moves
    mu by under 3% of the posterior's sigma on average (tests/test_collection_at_scale.py holds it there); ``auto``
    is bf16 where the processor computes it natively and ``float32`` elsewhere, where bf16 is several times slower
    (``worldmodels.core.hardware``); the manifest records which ran"""
    frames_every: Annotated[int, Between(0, 1_000_000)] = 1
    """with ``encoder``: every this many episodes (by seed) keep their frames, the others only their latents
    (0: none keeps frames); without an encoder every episode keeps them (1)"""


@dataclass(frozen=True)
class VAEConfig:
    """The paper's Gaussian ConvVAE (``worldmodels.models.vae``)."""

    def __post_init__(self) -> None:
        check(self)

    z_size: Annotated[int, MODEL_SIZE] = 32
    """latent dimensions Z"""
    frame_size: Annotated[int, Between(8, 512)] = 64
    """side of the square input frames (the conv stack is built for 64)"""
    kl_tolerance: Annotated[float, Between(0, 1000)] = 0.5
    """free nats per latent dimension: the KL term is max(KL, kl_tolerance * Z), as in the paper's code"""


@dataclass(frozen=True)
class GumbelConfig:
    """The discrete Gumbel-softmax VAE (``worldmodels.models.gumbel_vae``)."""

    def __post_init__(self) -> None:
        check(self)

    num_vars: Annotated[int, MODEL_SIZE] = 32
    """N categorical variables"""
    num_classes: Annotated[int, Between(2, 65_536)] = 32
    """K classes per variable"""
    frame_size: Annotated[int, Between(8, 512)] = 64
    """side of the square input frames"""
    tau_start: Annotated[float, Between(1e-6, 100)] = 1.0
    """Gumbel-softmax temperature at the first step"""
    tau_min: Annotated[float, Between(1e-6, 100)] = 0.5
    """lowest temperature of the annealing schedule"""
    tau_decay: Annotated[float, Between(0, 1)] = 3e-4
    """tau = max(tau_min, tau_start * exp(-tau_decay * step)); reaches tau_min after ~2,300 steps"""
    hard: bool = False
    """with the ``gumbel`` estimator: one-hot samples forward, relaxed gradients backward"""
    estimator: Literal["gumbel", "straight_through"] = "gumbel"
    """how a code is sampled in training. ``gumbel`` (seed 004): softmax((logits + Gumbel noise) / tau), relaxed
    unless ``hard``. ``straight_through`` (DreamerV3): a one-hot sample of softmax(logits / tau) mixed with
    ``unimix`` uniform, its probabilities' gradient backward; the decoder always sees one-hot codes, as when acting"""
    unimix: Annotated[float, Between(0, 0.5)] = 0.0
    """share of uniform mixed into the posterior's probabilities (DreamerV3: 0.01); the KL uses the mixture too"""
    kl_weight: Annotated[float, Between(0, 1000)] = 1.0
    """weight of KL(q || uniform) once warmed up"""
    kl_tolerance: Annotated[float, Between(0, 1000)] = 0.5
    """free nats per variable: the KL term is max(KL, kl_tolerance * N), as for the Gaussian VAE (DreamerV3's free
    bits, 1 nat on the summed KL, is 1 / N)"""
    kl_warmup_steps: Annotated[int, Between(0, 10**9)] = 2000
    """steps over which the KL weight rises linearly from 0"""


@dataclass(frozen=True)
class MDNRNNConfig:
    """M: the LSTM with a mixture-density head (``worldmodels.models.mdnrnn``)."""

    def __post_init__(self) -> None:
        check(self)

    latent: Latent = "vae"
    """``vae``: Gaussian mixtures over a continuous z; ``gumbel``: a categorical head over N x K codes (the codes'
    shape is read from V's latents, not set here)"""
    action_size: Annotated[int, Between(1, 16)] = 3
    """steer, gas, brake"""
    hidden_size: Annotated[int, MODEL_SIZE] = 256
    """LSTM units H"""
    num_mixtures: Annotated[int, Between(1, 1000)] = 5
    """Gaussian components M per latent dimension"""
    reward_head: bool = True
    """predict the reward of each step"""
    reward_input: Literal["h", "transition"] = "h"
    """what the reward head reads: ``h`` (the paper's: h_t, which has seen a_t), or ``transition``, a small MLP on
    (latent_t, latent_{t+1}) only, so a dream pays only for what the dreamed frames show happening"""
    done_head: bool = True
    """predict the end of the episode (a logit)"""
    log_sigma_min: Annotated[float, Between(-20, 0)] = -7.0
    """log sigma is clamped to [log_sigma_min, log_sigma_max] so the loss stays finite"""
    log_sigma_max: Annotated[float, Between(0, 20)] = 3.0
    """upper clamp of log sigma"""
    dropout: Annotated[float, Between(0, 0.9)] = 0.0
    """training only: variational dropout on the latent input and on h, one mask per sequence (Dropout's Dream
    Land trains M at 0.05 and dreams at 0.1); 0: none"""
    reward_overestimate: Annotated[float, Between(1, 100)] = 1.0
    """training only: weight of the squared reward error on steps where the head predicts more than the env paid
    (an asymmetric loss makes dream rewards M is unsure of cautious; Sha01in's world-models-jax uses 5); 1: plain MSE"""


@dataclass(frozen=True)
class ControllerConfig:
    """C: the controller (``worldmodels.models.controller``)."""

    def __post_init__(self) -> None:
        check(self)

    inputs: Literal["z_h", "z"] = "z_h"
    """``z_h``: [z, h] as in the paper; ``z``: z only (the paper's "V only" agent)"""
    hidden_layer: Annotated[int, Between(0, 65_536)] = 0
    """units of an optional tanh hidden layer (0: the paper's linear controller)"""
    code_input: Literal["hard", "soft"] = "hard"
    """Gumbel world models only: C reads the ``hard`` one-hot code (what M reads) or the ``soft`` code, the
    posterior's class probabilities softmax(logits) (B, N, K), its expected value; M reads the hard code either way"""


@dataclass(frozen=True)
class EvolutionConfig:
    """CMA-ES over the controller's parameters (``worldmodels.training.evolve``)."""

    def __post_init__(self) -> None:
        check(self)

    name: Name = "book"
    """run folder ``data/runs/controller_<latent>_<name>/`` and the release name"""
    latent: Latent = "vae"
    """which world model: ``vae`` (continuous z) or ``gumbel`` (the discrete VAE's hard codes)"""
    world_model: Name = "book"
    """V and M are the releases ``checkpoints/<latent>/<world_model>.pt`` and
    ``checkpoints/mdnrnn/<latent>_<world_model>.pt``"""
    mode: Literal["real", "dream"] = "real"
    """``real``: candidates drive in CarRacing; ``dream``: the whole population drives inside M at once"""
    population: Annotated[int, Between(2, 100_000)] = 16
    """candidates P per generation (paper: 64)"""
    trials: Annotated[int, Between(1, 10_000)] = 4
    """episodes R per candidate; its fitness is their mean return (paper: 16)"""
    generations: Annotated[int, Between(1, 1_000_000)] = 100
    """generations to run; a finished run resumes when asked for more"""
    sigma0: Annotated[float, Between(1e-12, 100)] = 0.1
    """initial CMA-ES step size"""
    covariance: Literal["full", "diagonal"] = "full"
    """``full`` (the paper's CMA-ES) or ``diagonal`` (sep-CMA: memory and time linear in the parameters)"""
    seed: Annotated[int, SEED] = 0
    """seeds CMA-ES and the episode seeds of every generation"""
    max_steps: Annotated[int, STEPS] = 1000
    """steps per episode (CarRacing truncates at 1000); in the dream, the dream's length"""
    renderer: Renderer = "direct"
    """renderer of the training episodes: ``direct`` draws V's 64x64 input itself (``evaluate`` uses ``stock``)"""
    envs_per_task: Annotated[int, ENVS_PER_TASK] = 32
    """episodes one worker steps together, V and M batched across them"""
    vision_precision: Precision = "auto"
    """V's encoder when the candidates act: ``bfloat16`` (a bf16 copy, channels-last; a discrete V stays
    ``float32``) is faster on a CPU with bf16 units and moves z by about 1%, but slower where bf16 is emulated (an
    AVX2-only CPU; both measured in docs/controller.md); ``auto`` takes bfloat16 where the processor computes it
    natively, resolved when a run begins (the run records what it ran, and a resume keeps it)"""
    tile_cutoff: Annotated[int, Between(0, 1000)] = 0
    """end an episode after this many steps without a new tile, charging -0.1 for each step left (0: off)"""
    early_trials: Annotated[int, Between(0, 10_000)] = 0
    """trials per candidate in the first ``early_generations`` generations (0: always ``trials``)"""
    early_generations: Annotated[int, Between(0, 1_000_000)] = 0
    """how many generations use ``early_trials``"""
    eval_every: Annotated[int, Between(0, 1_000_000)] = 0
    """every this many generations, score the ES mean on ``eval_episodes`` fresh episodes (0: never)"""
    eval_episodes: Annotated[int, Between(1, 100_000)] = 16
    """episodes of each evaluation of the mean"""
    step_budget: Annotated[int, Between(0, 10**12)] = 0
    """stop before a generation that could take the agent's lineage (the real env steps behind its V, M and
    ``init``, plus this run's) past this many, counting each of its episodes at its full length (0: no budget)"""
    dream_tau: Annotated[float, Between(0.01, 10)] = 1.15
    """temperature of the dream (paper: 1.15)"""
    dream_termination_reward: Annotated[float, Between(-1000, 0)] = -100.0
    """reward of a dream step whose done head ends the dream (CarRacing pays -100 for leaving the playfield)"""
    dream_dropout: Annotated[float, Between(0, 0.9)] = 0.0
    """each dream draws its own dropout masks on M's latent input and h at this rate, so a controller must do well
    across many slightly different Ms (Dropout's Dream Land: 0.1 with M trained at 0.05); 0: off"""
    ensemble: tuple[str, ...] = ()
    """dream mode: M files whose worlds the dreams run in, one drawn per dream (the agent's own M still gives C its
    h, as in the real env); empty: the agent's M alone"""
    dream_penalty: Annotated[float, Between(0, 1000)] = 0.0
    """with an ``ensemble``: each dream step's reward is lowered by this times the members' disagreement on the
    reward and the next latent (MOPO's pessimism, ``agent.dream.DreamEnv``); every member then steps every dream,
    K times the compute; 0: off"""
    dream_branches: Annotated[int, Between(0, 1_000_000)] = 0
    """dream mode: dreams branch from this many real mid-episode states of the rollouts, drawn once per run (seed
    ``seed``), each with every M's state after the real steps before it, and last ``max_steps`` (a horizon H, as
    Dreamer's and MBPO's short rollouts); 0: every dream starts at an episode's first frame with h = 0 (the chapter's)"""
    dream_shared_starts: bool = False
    """dream mode: every candidate of a generation dreams from the same ``trials`` starts (and ensemble members), as
    candidates in the real env drive the same tracks, so they are ranked on their driving rather than their draw of
    starts (common random numbers); off: each dream draws its own, which did better (docs/research-log.md, stop 40)"""
    init: str | None = None
    """start from this agent's parameters (a controller file, e.g. a dream-trained one) instead of zeros"""


@dataclass(frozen=True)
class EvaluationConfig:
    """The evaluation protocol (``worldmodels.agent.evaluation``): held-out tracks, full episodes, stock renderer."""

    def __post_init__(self) -> None:
        check(self)

    episodes: Annotated[int, Between(1, 100_000)] = 100
    """episodes, one per track (the protocol: 100)"""
    seed: Annotated[int, SEED] = 900_000
    """seed of the first track; training never uses seeds below 1,000,000 for evolution nor from 900,000 to collect"""
    renderer: Renderer = "stock"
    """state renderer (the protocol: gymnasium's own)"""
    max_steps: Annotated[int, STEPS] = 1000
    """steps per episode (the protocol: 1000, the env's limit; fewer only for quick checks, which cards say)"""
    envs_per_task: Annotated[int, ENVS_PER_TASK] = 4
    """episodes one worker steps together"""
    vision_precision: Precision = "float32"
    """V's encoder (the protocol: ``float32``; ``bfloat16`` to check an agent on the fast acting path)"""


@dataclass(frozen=True)
class DreamCheckConfig:
    """Dream-check (``worldmodels.training.dream_check``): does M's dream rank controllers as the real env does?"""

    def __post_init__(self) -> None:
        check(self)

    tracks: Annotated[int, Between(2, 10_000)] = 6
    """real episodes, and dreams, per controller of the panel"""
    seed: Annotated[int, SEED] = 800_000
    """seed of the first real track; 800,000 up is used by nothing else (evaluation starts at 900,000)"""
    max_steps: Annotated[int, STEPS] = 1000
    """steps of each real episode and each dream"""
    random: Annotated[int, Between(0, 1000)] = 4
    """random controllers in the panel (parameters N(0, s^2) for s from 0.1 to 1)"""
    perturbation: Annotated[float, Between(0, 10)] = 0.1
    """standard deviation of the noise of each shipped agent's perturbed copy (0: no copies)"""
    tau: Annotated[float, Between(0.01, 10)] = 1.15
    """temperature of the dream (the one evolution dreams at)"""
    dropout: Annotated[float, Between(0, 0.9)] = 0.0
    """dropout masks per dream, as ``EvolutionConfig.dream_dropout`` (the rate evolution dreams at)"""
    penalty: Annotated[float, Between(0, 1000)] = 0.0
    """the ensemble's dreams (``--ensemble``) pay this times the members' disagreement, as
    ``EvolutionConfig.dream_penalty`` (the weight evolution dreams at)"""
    renderer: Renderer = "fast"
    """state renderer of the real episodes"""
    envs_per_task: Annotated[int, ENVS_PER_TASK] = 8
    """real episodes one worker steps together"""


@dataclass(frozen=True)
class IterateConfig:
    """The paper's iterative loop (``worldmodels.training.iterate``): rounds of dream evolution, real episodes of
    the result, M fine-tuned on them, dream-check. The loop is named, seeded and evolved by ``EvolutionConfig``
    (``name``, ``seed``, ``generations`` per round, ``population``...)."""

    def __post_init__(self) -> None:
        check(self)

    rounds: Annotated[int, Between(1, 1000)] = 3
    """rounds of evolve -> collect -> fine-tune M -> dream-check (each round evolves from the last one's mean)"""
    first_generations: Annotated[int, Between(0, 1_000_000)] = 0
    """generations of the first round (0: ``generations``, as every later round)"""
    episodes: Annotated[int, Between(1, 100_000)] = 32
    """real episodes of each round's controller (with noise) added to M's data"""
    steps: Annotated[int, STEPS] = 1000
    """steps of those episodes and of the monitor episodes (fewer if the car leaves the playfield)"""
    policy: Literal["agent", "mixed"] = "agent"
    """collection policy: ``agent`` (the controller with noise, the paper's) or ``mixed`` (also perturbed copies,
    random controllers and constant actions: data that hold failures)"""
    action_noise: Annotated[float, Between(0, 10)] = 0.1
    """standard deviation of the noise on the controller's actions while collecting"""
    epochs: Annotated[int, Between(1, 10_000)] = 5
    """epochs of each fine-tune of M (on every folder so far)"""
    steps_per_epoch: Annotated[int, Between(0, 10**12)] = 0
    """batches in each of those epochs (0: every window of every folder, as many times as its weight)"""
    weight: Annotated[int, Between(1, 1000)] = 2
    """how many times each round's episodes count in an epoch of M"""
    monitor_tracks: Annotated[int, Between(0, 10_000)] = 8
    """real tracks the round's controller is scored on, to watch progress only (never to choose); 0: none"""
    collect_seed: Annotated[int, Between(0, 799_000)] = 20_000
    """seed of the first collected episode; round k's start at ``collect_seed + k * episodes``"""
    select_dreams: Annotated[int, Between(1, 100_000)] = 64
    """dreams of the last M each round's controller plays; the highest mean return is the loop's candidate"""


@dataclass(frozen=True)
class TrainConfig:
    """The shared training loop (``worldmodels.training.loop``)."""

    def __post_init__(self) -> None:
        check(self)

    epochs: Annotated[int, Between(1, 100_000)] = 10
    """passes over the training episodes"""
    batch_size: Annotated[int, Between(1, 65_536)] = 100
    """frames (or sequences) per step"""
    learning_rate: Annotated[float, Between(1e-12, 10)] = 1e-4
    """Adam step size"""
    grad_clip: Annotated[float, Between(0, 1e6)] = 1.0
    """maximum gradient norm (0 disables clipping)"""
    validation_fraction: Annotated[float, Between(0, 0.9)] = 0.1
    """share of episodes held out (split by episode, never by frame)"""
    episodes_in_memory: Annotated[int, Between(1, 10_000_000)] = 16
    """episodes read into memory at once: V's frames, or M's windows, which are shuffled within each group"""
    max_steps_per_epoch: Annotated[int, Between(0, 10**12)] = 0
    """cap on optimiser steps per epoch (0: the whole training set)"""
    bf16: bool = False
    """bfloat16 autocast (the loss is still summed in float32)"""
    seed: Annotated[int, SEED] = 0
    """seed of initialisation, split and shuffling"""


@dataclass(frozen=True)
class Config:
    """Everything a pipeline run needs; one field per stage."""

    scale: Scale = "book"
    """the preset this was built from"""
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    """where every stage's episodes run"""
    collect: CollectConfig = field(default_factory=CollectConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    gumbel: GumbelConfig = field(default_factory=GumbelConfig)
    vae_training: TrainConfig = field(default_factory=lambda: TrainConfig(bf16=True))
    """training of both V models (bf16 autocast: faster on the CPU at the same held-out error, benchmarks/vae.py)"""
    mdnrnn: MDNRNNConfig = field(default_factory=MDNRNNConfig)
    mdnrnn_training: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=20, batch_size=32, learning_rate=1e-3, validation_fraction=0.1, episodes_in_memory=1000))
    """training of M (batch = sequences of ``sequence_length`` steps; 20 epochs as in the paper; the windows of
    1,000 episodes built and shuffled together, so the book's 200 are one group)"""
    sequence_length: Annotated[int, Between(1, 10_000)] = 100
    """steps per training sequence of M"""
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    dream_check: DreamCheckConfig = field(default_factory=DreamCheckConfig)
    iterate: IterateConfig = field(default_factory=IterateConfig)
    figures: str = "figures"
    """folder (under the project root) the notebooks write their figures to"""

    def __post_init__(self) -> None:
        check(self)


def build_section(cls, values: dict[str, Any]):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {sorted(unknown)}; known: {sorted(known)}")
    return cls(**values)


def to_dict(cfg) -> dict[str, Any]:
    """A config as plain types (for manifests, checkpoints and cards)."""
    return dataclasses.asdict(cfg)


STAGE_TYPES = {"parallel": ParallelConfig, "collect": CollectConfig, "vae": VAEConfig, "gumbel": GumbelConfig, "vae_training": TrainConfig,
                "mdnrnn": MDNRNNConfig, "mdnrnn_training": TrainConfig, "controller": ControllerConfig,
                "evolution": EvolutionConfig, "evaluation": EvaluationConfig,
                "dream_check": DreamCheckConfig, "iterate": IterateConfig}


SCALARS = ("sequence_length", "figures")  # the fields of Config that are not sections


RENAMED = {"evolution": {"release": "world_model"}}  # fields renamed since files were written: old -> new
DEFAULTS_BEFORE = {"evolution": {"vision_precision": "float32"}}
DERIVED_BEFORE = {"mdnrnn": ("z_size", "num_vars", "num_classes"), "controller": ("latent_size", "hidden_state_size")}
"""sizes that files written before they were read from V and M hold in their config (``from_dict`` drops them;
``models.mdnrnn.code_shape_of`` and ``agent.files.AgentSpec.from_dict`` read them)"""
"""fields added with one default and given another later: what a recorded section without the field ran with"""
MOVED_TO_PARALLEL = ("evolution", "collect", "evaluation", "dream_check")
"""sections that held their own backend, workers and ray_address before ``parallel`` (the first one found gives an
old file's ``parallel``)"""


def from_dict(d: dict[str, Any]) -> Config:
    """Rebuild a Config from ``to_dict`` output (e.g. read back from a checkpoint or a run state, old ones too)."""
    d = _parallel_section(d)
    stages = {}
    for name, cls in STAGE_TYPES.items():
        values = {**DEFAULTS_BEFORE.get(name, {}), **d[name]} if name in d else {}
        values = {k: v for k, v in values.items() if k not in DERIVED_BEFORE.get(name, ())}
        for old, new in RENAMED.get(name, {}).items():
            if old in values:
                values[new] = values.pop(old)
        for f in dataclasses.fields(cls):  # JSON turns tuples into lists
            if isinstance(values.get(f.name), list):
                values[f.name] = tuple(values[f.name])
        stages[name] = build_section(cls, values)
    scalars = {k: d[k] for k in SCALARS if k in d}
    return Config(scale=d.get("scale", "book"), **stages, **scalars)


def _parallel_section(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` with a ``parallel`` section, and none of the fields it took from the older sections."""
    old = next((s for s in map(d.get, MOVED_TO_PARALLEL) if s and "backend" in s), {})
    d = {k: ({f: x for f, x in v.items() if f not in PARALLEL_FIELDS} if k in MOVED_TO_PARALLEL else v)
         for k, v in d.items()}
    return d if "parallel" in d else {**d, "parallel": {f: old[f] for f in PARALLEL_FIELDS if f in old}}

"""The shipped agents' recipes: each world model (a V and its M) and each agent as the settings that differ from
a scale's preset, and the configs they give under a release name. ``reproduce`` builds them; ``test_reproduce``
checks them against the shipped cards.

A world model is released as ``<latent>/NAME<suffix>`` and ``mdnrnn/<latent>_NAME<suffix>``, an agent as
``controller/<latent>_<prefix>NAME<suffix>``; releases shipped before a recipe named them carry ``aliases`` under
the shipped name (``book``, ``paper10k``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core import paths
from .core.config import Config
from .core.presets import STRAIGHT_THROUGH, get_config
from .core.provenance import portable, resolve

# the rollouts each scale's recipes learn from, beyond the scale's preset: at paper scale, paper10k's draw (seeds
# 30,000 to 39,999; 85% of the episodes the pilot's, faster and steadier than the preset's blend)
COLLECTIONS: dict[str, dict[str, Any]] = {
    "paper": {"name": "paper10k", "seed": 30_000, "blend": (0.1, 0.05, 0.85), "pilot_speed": (40.0, 90.0),
              "pilot_gain": (0.8, 1.5), "pilot_noise": (0.0, 0.1), "pilot_caution": (0.4, 1.0),
              "pilot_throttle": (0.1, 0.6)},
}
# other collections some paper-scale Ms learn from, each encoded as collected by the scale's encoder (the preset's
# ``collect.encoder``, the book line's V): the paper preset's own draw (seeds 0 to 9,999, its blend) and the first
# 3,000 episodes of paper10k's draw; at the smoke scale each is a tiny collection named after it
DRAWS: dict[str, dict[str, Any]] = {
    "paper": {},
    "paper3k": {**COLLECTIONS["paper"], "name": "paper3k", "episodes": 3_000},
    "paper10k": COLLECTIONS["paper"],
}
_REAL = {"mode": "real", "tile_cutoff": 100, "eval_every": 10, "eval_episodes": 16}
_DIAGONAL = {**_REAL, "covariance": "diagonal", "sigma0": 0.02}
# the paper scale's dream agents: dreams branch from 4,096 real mid-episode states, and the shipped runs' sizes
_BRANCHED_DREAM = {"mode": "dream", "eval_every": 0, "dream_branches": 4096}
_DREAM_SIZES = {"population": 32, "trials": 16, "max_steps": 400, "generations": 30}
_PAPER = ("smoke", "paper")  # the scales of the paper-scale line (smoke runs every recipe)
# the iterative loop's dream agents, on the real episodes' renderer and V precision of their day (before the
# direct renderer and a bf16 V became the training path's defaults)
_BOOK_DREAM = {"mode": "dream", "eval_every": 0, "renderer": "fast", "vision_precision": "float32"}
# the rollouts of the iterative step: the agent plus Gaussian action noise, on seeds of their own
_DRIVEN = {"policy": "agent", "action_noise": 0.1, "seed": 200}


@dataclass(frozen=True)
class WorldModel:
    """A V and the M on its codes, released as ``<latent>/NAME<suffix>`` and ``mdnrnn/<latent>_NAME<suffix>``; or,
    with ``driver``, an M alone on the rollouts an agent drove (``mdnrnn/<latent>_<prefix>NAME<suffix>``)."""

    latent: str
    suffix: str = ""
    """after the release name; also names the V's and M's runs (``data/runs/<latent>_<suffix>``), beside the plain
    V's on the same rollouts"""
    vision: dict[str, Any] = field(default_factory=dict)
    """the V's config section (``vae`` or ``gumbel``) beyond the scale's preset"""
    prefix: str = ""
    """before the release name (``agent_``, as the shipped ``vae_agent_book``)"""
    driver: str = ""
    """the paper's iterative step: the key of ``AGENTS`` whose agent, plus ``action_noise``, drives this M's rollouts
    (as many episodes as the scale's rollouts, each as long as the iterative loop's episodes: ``iterate.steps``);
    empty: M learns from the scale's rollouts"""
    vision_of: str = ""
    """the key of the world model whose V reads the driven rollouts (a driven world model trains no V)"""
    memory_training: dict[str, Any] = field(default_factory=dict)
    """M's training section (``mdnrnn_training``) beyond the scale's preset"""
    collection: dict[str, Any] = field(default_factory=dict)
    """the driven rollouts' ``collect`` settings beyond the agent policy and the sizes above"""
    frames: bool = False
    """V and M learn from ``<rollouts>_frames``, the episodes of the scale's rollouts that kept their frames
    (``subset``): a collection encoded as collected lends its frames to a V of its own"""
    vision_training: dict[str, Any] = field(default_factory=dict)
    """V's training section (``vae_training``) beyond the scale's preset"""
    scales: tuple[str, ...] = ("smoke", "book")
    """the scales it belongs to (smoke: every recipe, at toy sizes)"""
    sizes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """per scale, the sections (``vae_training``, ``mdnrnn_training``, a driven ``collect``) of the shipped run's
    sizes beyond that scale's preset (never smoke's, whose preset keeps each run tiny)"""
    draw: str = ""
    """an M alone on a collection of ``DRAWS``, read by the scale's encoder (``encoder_files``); no V of its own"""
    init: str = ""
    """the key of the world model whose M this M starts from (fine-tuning); ``encoder``: the M beside the scale's
    encoder; empty: a fresh M"""
    aliases: dict[str, str] = field(default_factory=dict)
    """release names under a given NAME where they are not ``<prefix>NAME<suffix>``: shipped releases named before
    this recipe was (``mdnrnn/vae_paper`` is this line's base M under the name paper10k)"""
    beside: int = 0
    """with a ``driver``: M learns from the scale's rollouts (weight 1) and the driven episodes, which count this
    many times an epoch; 0: from the driven episodes alone"""
    loop: str = ""
    """the key of the ``AGENTS`` loop whose M this is: of its M_0 to M_rounds, the one the loop's own dream-checks
    rank first (``vae_checked_dream``'s rule); no V of its own, and M is trained by the loop"""

    def release(self, name: str) -> str:
        return self.aliases.get(name, f"{self.prefix}{name}{self.suffix}")

    @property
    def trains_vision(self) -> bool:
        """Whether it trains a V of its own (else it reads ``vision_of``'s or the scale encoder's)."""
        return not (self.vision_of or self.draw)

    def run(self, name: str) -> str | None:
        """The V's and M's run name; None (the rollouts' name) for a driven M, whose rollouts differ by NAME; an M
        on a draw is named after its release (many learn from one draw)."""
        if self.draw:
            return self.release(name)
        return None if self.driver else self.suffix.lstrip("_") or None

    def rollouts(self, name: str, cfg: Config) -> str:
        """The rollout folder M learns from (and V, unless the world model reads another's)."""
        if self.driver:
            return f"{self.latent}_{self.release(name)}"
        if self.draw:
            return scale_config(cfg.scale, draw=self.draw).collect.name
        return f"{cfg.collect.name}_frames" if self.frames else cfg.collect.name


def _on_draw(suffix: str, draw: str, init: str, sizes: dict[str, Any], **fields: Any) -> WorldModel:
    """A paper-scale M on ``draw`` (continuous codes), from ``init``'s M; ``sizes``: its ``mdnrnn_training`` sizes."""
    return WorldModel("vae", suffix, draw=draw, init=init, scales=_PAPER, sizes={"paper": {"mdnrnn_training": sizes}},
                      **fields)


def _five(key: str, suffix: str, draw: str, init: str, sizes: dict[str, Any], shipped: str = "") -> dict[str, WorldModel]:
    """Five Ms on ``draw`` fine-tuned from ``init``'s with seeds 0 to 4 (``<key><i>``, released ``NAME<suffix><i>``;
    ``shipped``: the shipped releases' ``<shipped><i>`` under paper10k)."""
    return {f"{key}{i}": _on_draw(f"{suffix}{i}", draw, init, sizes, memory_training={"seed": i},
                                  aliases={"paper10k": f"{shipped}{i}"} if shipped else {}) for i in range(5)}


WORLD_MODELS: dict[str, WorldModel] = {
    "vae": WorldModel("vae"),
    "gumbel": WorldModel("gumbel"),
    # DreamerV3's straight-through estimator with 1% unimix (notebook 03): the discrete V the best discrete agent
    # has; at paper scale (``gumbel/paper10k_st``, ``mdnrnn/gumbel_paper10k_st``) V reads the collection's frames,
    # 8 x 1,500 steps, and its M learns from every episode for 12 epochs
    "gumbel_st": WorldModel("gumbel", "_st", STRAIGHT_THROUGH, scales=("smoke", "book", "paper"),
                            sizes={"paper": {"vae_training": {"epochs": 8, "max_steps_per_epoch": 1500,
                                                              "episodes_in_memory": 64},
                                             "mdnrnn_training": {"epochs": 12}}}),
    # the iterative step once (``vae_agent_book``'s M): vae's agent with action noise 0.1 drives 200 x 1000
    # steps at book scale, the book V reads them, a new M learns from them alone for 40 epochs
    "vae_agent": WorldModel("vae", prefix="agent_", driver="vae", vision_of="vae", memory_training={"epochs": 40},
                            collection=_DRIVEN),
    # the same step for the straight-through model (the best discrete agent's M)
    "gumbel_agent_st": WorldModel("gumbel", "_st", prefix="agent_", driver="gumbel_st", vision_of="gumbel_st",
                                  memory_training={"epochs": 40}, collection=_DRIVEN),
    # data that hold failures (``data/rollouts/mixed_agent`` at book scale): vae_agent's agent drives 100 episodes
    # of 1,000 steps from seed 10,000 with the ``mixed`` policy (perturbed copies of it, random controllers,
    # constant actions), and its M learns 10 epochs more on them (twice an epoch) beside the scale's rollouts: M_0
    # of the iterative loop below
    "vae_mixed": WorldModel("vae", prefix="mixed_", driver="vae_agent", vision_of="vae", init="vae_agent", beside=2,
                            memory_training={"epochs": 10},
                            collection={"policy": "mixed", "action_noise": 0.1, "seed": 10_000},
                            sizes={"book": {"collect": {"episodes": 100}}}),
    # the loop's M that its dream-checks rank first (``mdnrnn/vae_checked_dream``: M_2 of ``vae_loop_dream``'s loop)
    "vae_checked": WorldModel("vae", "_checked", vision_of="vae", loop="vae_loop_dream",
                              aliases={"book": "checked_dream"}),
    # the paper scale (``vae/paper10k_frames``, ``mdnrnn/vae_paper10k_frames``): a V of its own on the 2,500
    # episodes of the paper-scale collection that kept their frames, 8 x 1,500 steps, and its M for 16 epochs
    "vae_frames": WorldModel("vae", "_frames", frames=True, scales=_PAPER,
                             sizes={"paper": {"vae_training": {"epochs": 8, "max_steps_per_epoch": 1500,
                                                               "episodes_in_memory": 64},
                                              "mdnrnn_training": {"epochs": 16}}}),
    # the ensemble line (the dream agents ``vae_branch_dream``, ``vae_branch10k_dream``, ``vae_soup10k_dream`` and
    # ``vae_soup_lean_dream``): Ms on the scale encoder's codes of other draws, five of each fine-tuned for one
    # epoch from one base with seeds 0 to 4. The base ``mdnrnn/vae_paper``: 5 epochs in bf16 on the preset's draw
    "vae_base": _on_draw("_base", "paper", "", {"epochs": 5}, memory_training={"bf16": True},
                         aliases={"paper10k": "paper"}),
    # ``mdnrnn/vae_paper3k_{0..4}``: from the base, 1,400 steps on paper10k's first 3,000 episodes
    **_five("vae_ens3k_", "_ens3k_", "paper3k", "vae_base", {"epochs": 1, "max_steps_per_epoch": 1400},
            shipped="paper3k_"),
    # ``mdnrnn/vae_paper10k_{0..4}``: from the base, an epoch of paper10k
    **_five("vae_ens_", "_", "paper10k", "vae_base", {"epochs": 1}),
    # ``mdnrnn/vae_paper10k_lean``: the encoder's own M (the book line's) fine-tuned for 4 epochs of paper10k, and
    # ``mdnrnn/vae_paper10k_lean_{0..4}``: an epoch more from it each
    "vae_lean": _on_draw("_lean", "paper10k", "encoder", {"epochs": 4}),
    **_five("vae_lean_", "_lean_", "paper10k", "vae_lean", {"epochs": 1}),
}


@dataclass(frozen=True)
class Recipe:
    """How one shipped agent was evolved: the settings that differ from the scale's preset."""

    latent: str
    suffix: str
    """release and run name: ``<latent>_<NAME><suffix>``"""
    evolution: dict[str, Any] = field(default_factory=dict)
    controller: dict[str, Any] = field(default_factory=dict)
    world: str = ""
    """the key of its V and M in ``WORLD_MODELS`` (default: ``latent``)"""
    prefix: str = ""
    """before the release name, as its world model's (``agent_``)"""
    init: str = ""
    """the key of the recipe whose agent it starts from (``--init``; default: zeros)"""
    sizes: dict[str, Any] = field(default_factory=dict)
    """evolution settings of the shipped run's size (population, trials, generations, ...): beyond the scale's
    preset at every scale but smoke, whose preset keeps each run tiny"""
    only: tuple[str, ...] = ()
    """the scales it belongs to, where fewer than its world model's (default: all of those)"""
    ensemble: tuple[str, ...] = ()
    """keys of ``WORLD_MODELS`` whose Ms its dreams run in (``--ensemble``), one drawn per dream"""
    soup: tuple[int, ...] = ()
    """seeds of runs of this recipe (``<release>_s<seed>``) whose ES means are averaged into the release (a model
    soup, ``--soup-with``); empty: one run, seed 0"""
    aliases: dict[str, str] = field(default_factory=dict)
    """release names under a given NAME where they are not ``<prefix>NAME<suffix>`` (as ``WorldModel.aliases``)"""
    loop: dict[str, Any] | None = None
    """the paper's iterative loop (``iterate``) from its world model's M instead of one evolution, released with
    the M its candidate acts through (``mdnrnn/<latent>_<release>``): the loop's sizes (``iterate`` section) beyond
    the scale's preset, which smoke keeps; None: not a loop"""

    def release(self, name: str) -> str:
        """The agent's release (and run) name on the world model released as ``name``."""
        return self.aliases.get(name, f"{self.prefix}{name}{self.suffix}")

    def world_model(self, name: str) -> str:
        """The release name of its M (and of its V, unless the world model reads another's)."""
        return WORLD_MODELS[self.world or self.latent].release(name)

    @property
    def scales(self) -> tuple[str, ...]:
        """The scales it belongs to: ``only``, or its world model's."""
        return self.only or WORLD_MODELS[self.world or self.latent].scales


def _ensemble_dream(suffix: str, members: str, shipped: str, soup: tuple[int, ...] = ()) -> Recipe:
    """A branched dream agent on the book line's V, each dream in one of the five Ms ``<members>{0..4}`` (C reads
    the first one's h); ``shipped``: its release under paper10k."""
    ensemble = tuple(f"{members}{i}" for i in range(5))
    return Recipe("vae", suffix, _BRANCHED_DREAM, world=ensemble[0], ensemble=ensemble, sizes=_DREAM_SIZES, soup=soup,
                  aliases={"paper10k": shipped})


AGENTS: dict[str, Recipe] = {
    # the paper's agent, in the real env; a car that finds no new tile for 100 steps is stopped (compute saver)
    "vae": Recipe("vae", "", dict(_REAL)),
    # V only: the controller sees z and no h, so M is not run at all
    "vae_vonly": Recipe("vae", "_vonly", dict(_REAL), {"inputs": "z"}),
    # one-hot codes (32 x 32) and h: 3,843 parameters, so a diagonal covariance (a full one would be 118 MB a
    # save) and a smaller sigma0: the hard codes jump (a third of the code vector's norm changes per step, against
    # 5% for the VAE's z) and M's h is larger on them (|h|^2 about 148 against 32), so random candidates jitter
    # their steering 3.7 times as much as the VAE's at sigma0 0.1 even at 0.05
    "gumbel": Recipe("gumbel", "", dict(_DIAGONAL)),
    # as "gumbel", but C reads the posterior's class probabilities (the code's expected value, which moves
    # smoothly) while M still steps on the hard code
    "gumbel_soft": Recipe("gumbel", "_soft", dict(_DIAGONAL), {"code_input": "soft"}),
    # as "gumbel", on the straight-through V and its M (``gumbel_book_st``)
    "gumbel_st": Recipe("gumbel", "_st", dict(_DIAGONAL), world="gumbel_st", only=("smoke", "book")),
    # only inside M: every candidate's dreams in one batch, no env steps
    "vae_dream": Recipe("vae", "_dream", {"mode": "dream", "population": 32, "trials": 8, "max_steps": 500}),
    # "vae" again, from zeros, on the M of the iterative step (``vae_agent_book``)
    "vae_agent": Recipe("vae", "", dict(_REAL), world="vae_agent", prefix="agent_"),
    # "gumbel_st" on the M of its iterative step, starting from the "gumbel_st" agent (``gumbel_agent_book_st``)
    "gumbel_agent_st": Recipe("gumbel", "_st", dict(_DIAGONAL), world="gumbel_agent_st", prefix="agent_",
                              init="gumbel_st"),
    # the paper's iterative loop (``vae_loop_dream``): from the M on vae_agent's mixed data, 4 rounds of 30
    # generations in the dream (20 in the first; 32 candidates, 8 dreams of 500 steps each), 32 real episodes of
    # each round's mean with action noise, M fine-tuned 5 epochs on everything so far; the candidate is chosen in
    # dreams of the last M and released with the M it acts through
    "vae_loop_dream": Recipe("vae", "_loop_dream", _BOOK_DREAM, world="vae_mixed",
                             sizes={"population": 32, "trials": 8, "max_steps": 500, "generations": 30},
                             loop={"rounds": 4, "first_generations": 20}, aliases={"book": "loop_dream"}),
    # C from zeros in the loop's M that dream-check ranks first, 40 generations (``vae_checked_dream``)
    "vae_checked_dream": Recipe("vae", "_checked_dream", _BOOK_DREAM, world="vae_checked",
                                sizes={"population": 32, "trials": 8, "max_steps": 500, "generations": 40},
                                aliases={"book": "checked_dream"}),
    # the paper scale's dream agent (``vae_paper10k_frames_dream``): 30 generations in M, each dream branching
    # from one of 4,096 real mid-episode states of the frames' episodes and lasting 400 steps; no env steps
    "vae_frames_dream": Recipe("vae", "_frames_dream", _BRANCHED_DREAM, world="vae_frames", sizes=_DREAM_SIZES),
    # real CMA-ES from it, 4 trials a candidate for 30 generations then 16, ranked on 32 fresh tracks every 5,
    # until the agent's lineage could pass 20 M real env steps (issue 30's budget; --step-budget)
    "vae_frames": Recipe("vae", "_frames", {**_REAL, "sigma0": 0.05, "early_trials": 4, "early_generations": 30,
                                            "eval_every": 5, "eval_episodes": 32, "step_budget": 20_000_000},
                         world="vae_frames", init="vae_frames_dream",
                         sizes={"population": 16, "trials": 16, "generations": 1000}),
    # the paper scale's discrete dream agent (``gumbel_paper10k_st_dream``): as "vae_frames_dream", on the
    # straight-through V and M of the whole collection, with a full covariance as that run had
    "gumbel_st_dream": Recipe("gumbel", "_st_dream", _BRANCHED_DREAM, world="gumbel_st", only=_PAPER,
                              sizes=_DREAM_SIZES),
    # the ensemble line's dream agents: as "vae_frames_dream" on the book line's V, each dream in one of five Ms
    # drawn at random. ``vae_branch_dream``: the Ms of paper10k's first 3,000 episodes, dreams from those
    "vae_branch_dream": _ensemble_dream("_branch3k_dream", "vae_ens3k_", "branch_dream"),
    # ``vae_branch10k_dream``: the Ms of all of paper10k
    "vae_branch10k_dream": _ensemble_dream("_branch_dream", "vae_ens_", "branch10k_dream"),
    # ``vae_soup10k_dream``: that run with seeds 0, 1 and 2, their ES means averaged
    "vae_soup10k_dream": _ensemble_dream("_soup_dream", "vae_ens_", "soup10k_dream", soup=(0, 1, 2)),
    # ``vae_soup_lean_dream``: the same soup in the lean Ms, fine-tuned from the book line's M
    "vae_soup_lean_dream": _ensemble_dream("_soup_lean_dream", "vae_lean_", "soup_lean_dream", soup=(0, 1, 2)),
}


def scale_config(scale: str, collect: dict[str, Any] | None = None, draw: str = "", **sections: Any) -> Config:
    """The preset ``scale`` with the rollouts of ``COLLECTIONS`` (or of ``DRAWS[draw]``; at the smoke scale a tiny
    collection named after the draw) and the overrides ``sections``."""
    rollouts = COLLECTIONS.get(scale, {})
    if draw:
        rollouts = {"name": f"{get_config(scale).collect.name}_{draw}"} if scale == "smoke" else DRAWS[draw]
    return get_config(scale, collect={**rollouts, **(collect or {})}, **sections)


def encoder_files(scale: str, name: str) -> tuple[Path, Path]:
    """The V that encodes the draws, and the M beside it: the preset's ``collect.encoder`` (at paper scale the book
    line's ``vae/book``, and ``mdnrnn/vae_book``); at a scale without one (smoke), world model ``vae``'s."""
    encoder = get_config(scale).collect.encoder
    if not encoder:
        return world_files(scale, name, "vae")
    return resolve(encoder), paths.mdnrnn_release("vae", Path(encoder).stem)


def agent_config(scale: str, name: str, recipe: Recipe, overrides: dict[str, Any] | None = None,
                 parallel: dict[str, Any] | None = None, seed: int | None = None) -> Config:
    """The config that evolves ``recipe`` on the world model released as ``name`` (``parallel``: where its
    episodes run, as a ``ParallelConfig``'s fields; ``seed``: which run of a ``soup``, default its first)."""
    evolution = {**recipe.evolution, **(recipe.sizes if scale != "smoke" else {}), "name": recipe.release(name),
                 "latent": recipe.latent, "world_model": recipe.world_model(name), **(overrides or {})}
    if recipe.init:
        start = AGENTS[recipe.init]
        evolution["init"] = portable(paths.controller_release(start.latent, start.release(name)))
    if recipe.ensemble:
        evolution["ensemble"] = tuple(portable(world_files(scale, name, key)[1]) for key in recipe.ensemble)
    if recipe.soup:
        seed = recipe.soup[0] if seed is None else seed
        evolution.update(name=f"{recipe.release(name)}_s{seed}", seed=seed)
    world = WORLD_MODELS[recipe.world or recipe.latent]
    # the episodes V and M learnt from (the frames' or a draw's) are where its dreams start (and what its run records)
    collect_cfg = {"name": world.rollouts(name, scale_config(scale))} if world.frames or world.draw else {}
    loop = recipe.loop if recipe.loop and scale != "smoke" else {}
    return scale_config(scale, evolution=evolution, controller=dict(recipe.controller), parallel=parallel or {},
                        collect=collect_cfg, iterate=loop)


def world_config(scale: str, name: str, key: str, parallel: dict[str, Any] | None = None,
                 evaluation: dict[str, Any] | None = None) -> Config:
    """The config that trains world model ``key``'s V and M under release name ``name`` (``parallel``,
    ``evaluation``: those sections' fields)."""
    world = WORLD_MODELS[key]
    cfg = scale_config(scale)
    collect_cfg = {"name": world.rollouts(name, cfg)} if world.frames else {}
    if world.driver:
        driver = AGENTS[world.driver]
        collect_cfg = {**world.collection, "name": world.rollouts(name, cfg), "episodes": cfg.collect.episodes,
                       "steps": cfg.iterate.steps,
                       "agent": portable(paths.controller_release(driver.latent, driver.release(name)))}
    sizes = world.sizes.get(scale, {}) if scale != "smoke" else {}
    collect_cfg.update(sizes.get("collect", {}))
    return scale_config(scale, parallel=parallel or {}, evaluation=evaluation or {}, collect=collect_cfg, draw=world.draw,
                        vae_training={**world.vision_training, **sizes.get("vae_training", {})},
                        mdnrnn_training={**world.memory_training, **sizes.get("mdnrnn_training", {})},
                        **{world.latent: world.vision})


def world_files(scale: str, name: str, key: str) -> tuple[Path, Path]:
    """The V and M releases of world model ``key`` at ``scale`` under release name ``name``."""
    world = WORLD_MODELS[key]
    if world.draw:
        return encoder_files(scale, name)[0], paths.mdnrnn_release(world.latent, world.release(name))
    seeing = WORLD_MODELS[world.vision_of] if world.vision_of else world
    return (paths.vision_release(seeing.latent, seeing.release(name)),
            paths.mdnrnn_release(world.latent, world.release(name)))

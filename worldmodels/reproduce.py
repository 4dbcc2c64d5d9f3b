"""``python -m worldmodels reproduce``: the whole pipeline in one command, every stage resumable.

For a release name NAME (default: the scale's name) it makes sure these exist, building only what is missing,
in this order:

    data/rollouts/<rollouts>                                     collect (resumes), when something is built from them
    checkpoints/<latent>/NAME<suffix>.pt                         train each V of ``WORLD_MODELS`` (resumes), release
    checkpoints/mdnrnn/<latent>_NAME<suffix>.pt                  encode with that V, train its M (resumes), release
    checkpoints/controller/<latent>_NAME<suffix>.pt              evolve each recipe of ``AGENTS`` (resumes), release
    an ``evaluation`` in each agent's card                       evaluate: the protocol (100 episodes, stock renderer)

then prints the results table. Each world model and recipe belongs to scales (``book``: the chapter's eight
agents; ``paper``: the paper-scale line, a V of its own on the frame-bearing episodes of ``COLLECTIONS["paper"]``
made a ``subset``, its M, a dream agent and real CMA-ES from it, and the straight-through V, its M and a dream
agent on the same collection; ``smoke``: all of them, at its tiny sizes). The
paper's iterative step is a world model too (``WorldModel.driver``): an agent
of this name, plus action noise, drives new rollouts, another world model's V reads them and a new M learns from
them (``mdnrnn/<latent>_agent_NAME<suffix>``); its recipes (``vae_agent``, ``gumbel_agent_st``) build the agent
they need first. An existing release is never overwritten (agents pin their V and M by SHA-256): delete it, or
pass a new ``--name``, to build it again. Killed at any point, the same command carries on where it stopped. Runs
live in ``data/runs/`` as with the single-stage commands, so a finished run of the same settings is reused rather
than trained again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import results
from .agent import evaluation as evaluation_lib
from .agent.policy import make_policy
from .core import paths
from .core.config import Config
from .core.presets import STRAIGHT_THROUGH, get_config
from .core.provenance import portable
from .core.storage import load_card
from .models.registry import load_vision
from .training import evolve, memory, vision
from .training import release as releases
from .world.rollouts import collect
from .world.subset import subset

# the rollouts each scale's recipes learn from, beyond the scale's preset: at paper scale, paper10k's draw (seeds
# 30,000 to 39,999; 85% of the episodes the pilot's, faster and steadier than the preset's blend)
COLLECTIONS: dict[str, dict[str, Any]] = {
    "paper": {"name": "paper10k", "seed": 30_000, "blend": (0.1, 0.05, 0.85), "pilot_speed": (40.0, 90.0),
              "pilot_gain": (0.8, 1.5), "pilot_noise": (0.0, 0.1), "pilot_caution": (0.4, 1.0),
              "pilot_throttle": (0.1, 0.6)},
}
_REAL = {"mode": "real", "tile_cutoff": 100, "eval_every": 10, "eval_episodes": 16}
_DIAGONAL = {**_REAL, "covariance": "diagonal", "sigma0": 0.02}
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
    """per scale, the sections (``vae_training``, ``mdnrnn_training``) of the shipped run's sizes beyond that
    scale's preset (never smoke's, whose preset keeps each run tiny)"""

    def release(self, name: str) -> str:
        return f"{self.prefix}{name}{self.suffix}"

    def run(self) -> str | None:
        """The V's and M's run name; None (the rollouts' name) for a driven M, whose rollouts differ by NAME."""
        return None if self.driver else self.suffix.lstrip("_") or None

    def rollouts(self, name: str, cfg: Config) -> str:
        """The rollout folder M learns from (and V, unless the world model reads another's)."""
        if self.driver:
            return f"{self.latent}_{self.release(name)}"
        return f"{cfg.collect.name}_frames" if self.frames else cfg.collect.name


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
    # the paper scale (``vae/paper10k_frames``, ``mdnrnn/vae_paper10k_frames``): a V of its own on the 2,500
    # episodes of the paper-scale collection that kept their frames, 8 x 1,500 steps, and its M for 16 epochs
    "vae_frames": WorldModel("vae", "_frames", frames=True, scales=("smoke", "paper"),
                             sizes={"paper": {"vae_training": {"epochs": 8, "max_steps_per_epoch": 1500,
                                                               "episodes_in_memory": 64},
                                              "mdnrnn_training": {"epochs": 16}}}),
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

    def release(self, name: str) -> str:
        """The agent's release (and run) name on the world model released as ``name``."""
        return f"{self.prefix}{name}{self.suffix}"

    def world_model(self, name: str) -> str:
        """The release name of its M (and of its V, unless the world model reads another's)."""
        return WORLD_MODELS[self.world or self.latent].release(name)

    @property
    def scales(self) -> tuple[str, ...]:
        """The scales it belongs to: ``only``, or its world model's."""
        return self.only or WORLD_MODELS[self.world or self.latent].scales


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
    # the paper scale's dream agent (``vae_paper10k_frames_dream``): 30 generations in M, each dream branching
    # from one of 4,096 real mid-episode states of the frames' episodes and lasting 400 steps; no env steps
    "vae_frames_dream": Recipe("vae", "_frames_dream", {"mode": "dream", "eval_every": 0, "dream_branches": 4096},
                               world="vae_frames",
                               sizes={"population": 32, "trials": 16, "max_steps": 400, "generations": 30}),
    # real CMA-ES from it, 4 trials a candidate for 30 generations then 16, ranked on 32 fresh tracks every 5,
    # until the agent's lineage could pass 20 M real env steps (issue 30's budget; --step-budget)
    "vae_frames": Recipe("vae", "_frames", {**_REAL, "sigma0": 0.05, "early_trials": 4, "early_generations": 30,
                                            "eval_every": 5, "eval_episodes": 32, "step_budget": 20_000_000},
                         world="vae_frames", init="vae_frames_dream",
                         sizes={"population": 16, "trials": 16, "generations": 1000}),
    # the paper scale's discrete dream agent (``gumbel_paper10k_st_dream``): as "vae_frames_dream", on the
    # straight-through V and M of the whole collection, with a full covariance as that run had
    "gumbel_st_dream": Recipe("gumbel", "_st_dream", {"mode": "dream", "eval_every": 0, "dream_branches": 4096},
                              world="gumbel_st", only=("smoke", "paper"),
                              sizes={"population": 32, "trials": 16, "max_steps": 400, "generations": 30}),
}


def scale_config(scale: str, collect: dict[str, Any] | None = None, **sections: Any) -> Config:
    """The preset ``scale`` with the rollouts of ``COLLECTIONS`` and the overrides ``sections``."""
    return get_config(scale, collect={**COLLECTIONS.get(scale, {}), **(collect or {})}, **sections)


def agent_config(scale: str, name: str, recipe: Recipe, overrides: dict[str, Any] | None = None,
                 parallel: dict[str, Any] | None = None) -> Config:
    """The config that evolves ``recipe`` on the world model released as ``name`` (``parallel``: where its
    episodes run, as a ``ParallelConfig``'s fields)."""
    evolution = {**recipe.evolution, **(recipe.sizes if scale != "smoke" else {}), "name": recipe.release(name),
                 "latent": recipe.latent, "world_model": recipe.world_model(name), **(overrides or {})}
    if recipe.init:
        start = AGENTS[recipe.init]
        evolution["init"] = portable(paths.controller_release(start.latent, start.release(name)))
    world = WORLD_MODELS[recipe.world or recipe.latent]
    # the frames' episodes, which V and M learnt from, are where its dreams start (and what its run records)
    collect_cfg = {"name": world.rollouts(name, scale_config(scale))} if world.frames else {}
    return scale_config(scale, evolution=evolution, controller=dict(recipe.controller), parallel=parallel or {},
                      collect=collect_cfg)


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
    return scale_config(scale, parallel=parallel or {}, evaluation=evaluation or {}, collect=collect_cfg,
                        vae_training={**world.vision_training, **sizes.get("vae_training", {})},
                        mdnrnn_training={**world.memory_training, **sizes.get("mdnrnn_training", {})},
                        **{world.latent: world.vision})


def world_files(name: str, key: str) -> tuple[Path, Path]:
    """The V and M releases of world model ``key`` under release name ``name``."""
    world = WORLD_MODELS[key]
    seeing = WORLD_MODELS[world.vision_of] if world.vision_of else world
    return (paths.vision_release(seeing.latent, seeing.release(name)),
            paths.mdnrnn_release(world.latent, world.release(name)))


def reproduce(scale: str = "book", name: str | None = None, agents: list[str] | None = None,
              generations: int | None = None, episodes: int | None = None, eval_max_steps: int | None = None,
              backend: str | None = None, workers: int | None = None, progress: bool = True,
              command: str | None = None, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Build every missing piece of release ``name`` (see the module docstring); returns the results rows.

    Args:
        agents: keys of ``AGENTS`` (default all); an agent's world model, and the agents that world model or its
            ``init`` needs, are built with it.
        generations: CMA-ES generations per agent (default: the scale's preset).
        episodes, eval_max_steps: the evaluation (default: the scale's ``evaluation`` preset, the protocol's
            100 x 1000 steps except at the smoke scale, which the card records).
    """
    name = name or scale
    agents = [k for k, r in AGENTS.items() if scale in r.scales] if agents is None else agents
    unknown = [a for a in agents if a not in AGENTS]
    if unknown:
        raise ValueError(f"unknown agents {unknown}: expected some of {sorted(AGENTS)}")
    foreign = [a for a in agents if scale not in AGENTS[a].scales]
    if foreign:
        raise ValueError(f"agents {foreign} are not recipes of --scale {scale}: "
                         + "; ".join(f"{a}: {', '.join(AGENTS[a].scales)}" for a in foreign))
    parallel = {k: v for k, v in {"backend": backend, "workers": workers}.items() if v is not None}
    evaluation = {k: v for k, v in {"episodes": episodes, "max_steps": eval_max_steps}.items() if v is not None}
    cfg = scale_config(scale, parallel=parallel, evaluation=evaluation)
    # every setting is checked here, before the first release is built
    overrides = {"generations": generations} if generations is not None else {}
    get_config(scale, evolution=overrides)
    for key in WORLD_MODELS:
        world_files(name, key)  # a name that is one safe path component

    def missing(what: str, path: Path) -> bool:
        """Whether the release at ``path`` must be built (or completed: a model file without its card); says which."""
        done = releases.exists(path)
        log(f"[reproduce] {what}: {path} exists, kept" if done else f"[reproduce] {what} ...")
        return not done

    @functools.cache
    def rollouts(key: str | None = None) -> None:
        """The scale's rollouts, collected (or completed) the first time something is built from them; with
        ``key``, those world model ``key`` learns from (the frames' episodes: a ``subset`` of them)."""
        if key is None or not WORLD_MODELS[key].frames:
            files = collect(cfg.collect, progress=progress, parallel=cfg.parallel)
            log(f"[reproduce] rollouts: {len(files)} episodes in {files[0].parent}")
            return
        rollouts()
        folder = subset(cfg.collect.name, WORLD_MODELS[key].rollouts(name, cfg))
        log(f"[reproduce] rollouts for {key}: the episodes of {cfg.collect.name} that kept their frames, in {folder}")

    def build_vision(key: str) -> None:
        world = WORLD_MODELS[key]
        if missing(f"V ({key})", paths.vision_release(world.latent, world.release(name))):
            rollouts(key)
            wcfg = world_config(scale, name, key, parallel, evaluation)
            vision.train(world.latent, wcfg, progress=progress, run=world.run())
            vision.release(world.latent, wcfg, world.release(name), command=command, run=world.run())

    @functools.cache  # each world model (its M) and each agent is seen to once, however many need it
    def build_memory(key: str) -> None:
        world = WORLD_MODELS[key]
        vision_path, mdnrnn_path = world_files(name, key)
        if world.vision_of:
            build_vision(world.vision_of)
        if not missing(f"M ({key})", mdnrnn_path):
            return
        wcfg = world_config(scale, name, key, parallel, evaluation)
        if not world.driver:
            rollouts(key)
        else:
            build_agent(world.driver)
            files = collect(wcfg.collect, progress=progress, make_policy=make_policy, parallel=wcfg.parallel)
            log(f"[reproduce] rollouts for M ({key}): {len(files)} episodes in {files[0].parent}, driven by "
                f"{wcfg.collect.agent}")
        vision.latents_for(load_vision(vision_path, latent=world.latent), wcfg.collect.name, portable(vision_path),
                           progress=progress)
        memory.train(world.latent, wcfg, progress=progress, run=world.run())
        memory.release(world.latent, wcfg, world.release(name), command=command, run=world.run())

    @functools.cache
    def build_agent(key: str) -> None:
        recipe = AGENTS[key]
        build_memory(recipe.world or recipe.latent)
        if recipe.init:
            build_agent(recipe.init)
        path = paths.controller_release(recipe.latent, recipe.release(name))
        if missing(f"agent {key}", path):
            if recipe.evolution.get("mode") == "dream":  # dreams start from M's rollouts
                rollouts(recipe.world or recipe.latent)
            acfg = agent_config(scale, name, recipe, overrides, parallel)
            vision_path, mdnrnn_path = world_files(name, recipe.world or recipe.latent)
            evolve.evolve(acfg, progress=progress, command=command, vision_path=vision_path, mdnrnn_path=mdnrnn_path)
            evolve.release(acfg, recipe.release(name), command=command)
        result = load_card(path.with_suffix(".json")).get("evaluation")
        if result is None:
            e = cfg.evaluation
            log(f"[reproduce] evaluate {path.name}: {e.episodes} episodes of {e.max_steps} steps, {e.renderer} renderer")
            result = evaluation_lib.evaluate_file(path, e, parallel=cfg.parallel)
            evaluation_lib.write_evaluation(path, result)
        log(f"[reproduce] {path.name}: {result['mean']:.1f} +/- {result['std']:.1f}")

    plain = [key for key, world in WORLD_MODELS.items() if not world.driver and scale in world.scales]
    for key in plain:
        build_vision(key)
    for key in plain:
        build_memory(key)
    for key in agents:
        build_agent(key)
    rows = [r for r in results.agent_rows() if r["agent"] in
            {f"{AGENTS[k].latent}_{AGENTS[k].release(name)}" for k in agents}]
    log(results.markdown(rows))
    return rows

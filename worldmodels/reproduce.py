"""``python -m worldmodels reproduce``: the whole pipeline in one command, every stage resumable.

For a release name NAME (default: the scale's name) it makes sure these exist, building only what is missing,
in this order:

    data/rollouts/<rollouts>                                     collect (resumes)
    checkpoints/<latent>/NAME<suffix>.pt                         train each V of ``WORLD_MODELS`` (resumes), release
    checkpoints/mdnrnn/<latent>_NAME<suffix>.pt                  encode with that V, train its M (resumes), release
    checkpoints/controller/<latent>_NAME<suffix>.pt              evolve each recipe of ``AGENTS`` (resumes), release
    an ``evaluation`` in each agent's card                       evaluate: the protocol (100 episodes, stock renderer)

then prints the results table. The paper's iterative step is a world model too (``WorldModel.driver``): an agent
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

    def release(self, name: str) -> str:
        return f"{self.prefix}{name}{self.suffix}"

    def run(self) -> str | None:
        """The V's and M's run name; None (the rollouts' name) for a driven M, whose rollouts differ by NAME."""
        return None if self.driver else self.suffix.lstrip("_") or None

    def rollouts(self, name: str, cfg: Config) -> str:
        """The rollout folder M learns from."""
        return f"{self.latent}_{self.release(name)}" if self.driver else cfg.collect.name


WORLD_MODELS: dict[str, WorldModel] = {
    "vae": WorldModel("vae"),
    "gumbel": WorldModel("gumbel"),
    # DreamerV3's straight-through estimator with 1% unimix (notebook 03): the discrete V the best discrete agent has
    "gumbel_st": WorldModel("gumbel", "_st", STRAIGHT_THROUGH),
    # the iterative step once (the best shipped agent's M): vae's agent with action noise 0.1 drives 200 x 1000
    # steps at book scale, the book V reads them, a new M learns from them alone for 40 epochs
    "vae_agent": WorldModel("vae", prefix="agent_", driver="vae", vision_of="vae", memory_training={"epochs": 40},
                            collection=_DRIVEN),
    # the same step for the straight-through model (the best discrete agent's M)
    "gumbel_agent_st": WorldModel("gumbel", "_st", prefix="agent_", driver="gumbel_st", vision_of="gumbel_st",
                                  memory_training={"epochs": 40}, collection=_DRIVEN),
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

    def release(self, name: str) -> str:
        """The agent's release (and run) name on the world model released as ``name``."""
        return f"{self.prefix}{name}{self.suffix}"

    def world_model(self, name: str) -> str:
        """The release name of its M (and of its V, unless the world model reads another's)."""
        return WORLD_MODELS[self.world or self.latent].release(name)


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
    "gumbel_st": Recipe("gumbel", "_st", dict(_DIAGONAL), world="gumbel_st"),
    # only inside M: every candidate's dreams in one batch, no env steps
    "vae_dream": Recipe("vae", "_dream", {"mode": "dream", "population": 32, "trials": 8, "max_steps": 500}),
    # "vae" again, from zeros, on the M of the iterative step (``vae_agent_book``)
    "vae_agent": Recipe("vae", "", dict(_REAL), world="vae_agent", prefix="agent_"),
    # "gumbel_st" on the M of its iterative step, starting from the "gumbel_st" agent (``gumbel_agent_book_st``)
    "gumbel_agent_st": Recipe("gumbel", "_st", dict(_DIAGONAL), world="gumbel_agent_st", prefix="agent_",
                              init="gumbel_st"),
}


def agent_config(scale: str, name: str, recipe: Recipe, overrides: dict[str, Any] | None = None,
                 parallel: dict[str, Any] | None = None) -> Config:
    """The config that evolves ``recipe`` on the world model released as ``name`` (``parallel``: where its
    episodes run, as a ``ParallelConfig``'s fields)."""
    evolution = {**recipe.evolution, "name": recipe.release(name), "latent": recipe.latent,
                 "world_model": recipe.world_model(name), **(overrides or {})}
    if recipe.init:
        start = AGENTS[recipe.init]
        evolution["init"] = portable(paths.controller_release(start.latent, start.release(name)))
    return get_config(scale, evolution=evolution, controller=dict(recipe.controller), parallel=parallel or {})


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
    agents = list(AGENTS) if agents is None else agents
    unknown = [a for a in agents if a not in AGENTS]
    if unknown:
        raise ValueError(f"unknown agents {unknown}: expected some of {sorted(AGENTS)}")
    parallel = {k: v for k, v in {"backend": backend, "workers": workers}.items() if v is not None}
    evaluation = {k: v for k, v in {"episodes": episodes, "max_steps": eval_max_steps}.items() if v is not None}
    cfg = get_config(scale, parallel=parallel, evaluation=evaluation)
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

    def world_config(world: WorldModel) -> Config:
        collect_cfg = {}
        if world.driver:
            driver = AGENTS[world.driver]
            collect_cfg = {**world.collection, "name": world.rollouts(name, cfg), "episodes": cfg.collect.episodes,
                           "steps": cfg.iterate.steps,
                           "agent": portable(paths.controller_release(driver.latent, driver.release(name)))}
        return get_config(scale, parallel=parallel, evaluation=evaluation, collect=collect_cfg,
                          mdnrnn_training=dict(world.memory_training), **{world.latent: world.vision})

    def build_vision(key: str) -> None:
        world = WORLD_MODELS[key]
        if missing(f"V ({key})", paths.vision_release(world.latent, world.release(name))):
            wcfg = world_config(world)
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
        wcfg = world_config(world)
        if world.driver:
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

    files = collect(cfg.collect, progress=progress, parallel=cfg.parallel)
    log(f"[reproduce] rollouts: {len(files)} episodes in {files[0].parent}")
    plain = [key for key, world in WORLD_MODELS.items() if not world.driver]
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

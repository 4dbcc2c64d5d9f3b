"""``python -m worldmodels reproduce``: the whole pipeline in one command, every stage resumable.

For a release name NAME (default: the scale's name) it makes sure these exist, building only what is missing,
in this order:

    data/rollouts/<rollouts>                                     collect (resumes), when something is built from them
    checkpoints/<latent>/NAME<suffix>.pt                         train each V of ``recipes.WORLD_MODELS`` (resumes), release
    checkpoints/mdnrnn/<latent>_NAME<suffix>.pt                  encode with that V, train its M (resumes), release
    checkpoints/controller/<latent>_NAME<suffix>.pt              evolve each recipe of ``recipes.AGENTS`` (resumes)
    an ``evaluation`` in each agent's card                       evaluate: the protocol (100 episodes, stock renderer)

then prints the results table. The recipes are in ``worldmodels.recipes``. Each world model and recipe belongs to
scales (``book``: the chapter's eight agents and the paper's iterative loop, with an agent evolved in the loop's
best-checked M; ``paper``: the paper-scale line, a V of its own on the frame-bearing episodes of
``COLLECTIONS["paper"]`` made a ``subset``, its M, a dream agent and real CMA-ES from it, the straight-through V, its
M and a dream agent on the same collection, and the ensemble line: Ms on other draws (``DRAWS``) read by the book
line's V, five fine-tuned from one base, and dream agents in five at once, two of them soups of three seeds;
``smoke``: all of them, at its tiny sizes). The paper's iterative step is a world model too
(``WorldModel.driver``): an agent of this name, plus action noise, drives new rollouts, another world model's V
reads them and a new M learns from them (``mdnrnn/<latent>_agent_NAME<suffix>``); its recipes (``vae_agent``,
``gumbel_agent_st``) build the agent they need first. A recipe with a ``loop`` runs the whole iterative loop
(``iterate``) instead of one evolution. An agent already released needs nothing built for it. An existing release
is never overwritten (agents pin their V and M by SHA-256): delete it, or pass a new ``--name``, to build it again.
Killed at any point, the same command carries on where it stopped. Runs live in ``data/runs/`` as with the
single-stage commands, so a finished run of the same settings is reused rather than trained again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import results
from .agent import evaluation as evaluation_lib
from .agent.policy import make_policy
from .core import paths
from .core.presets import get_config
from .core.provenance import portable, resolve
from .core.storage import load_card
from .models.registry import load_vision
from .recipes import AGENTS, WORLD_MODELS, agent_config, encoder_files, scale_config, world_config, world_files
from .training import evolve, iterate, memory, vision
from .training import release as releases
from .world.rollouts import collect
from .world.subset import subset


def _require(files: tuple[Path, ...], why: str) -> None:
    """Refuse to start when another line's releases that ``why`` needs are missing, naming the command that builds them."""
    absent = [portable(f) for f in files if not releases.exists(f)]
    if absent:
        raise FileNotFoundError(f"{why}, and {' and '.join(absent)} is missing: `python -m worldmodels reproduce "
                                f"--scale book --name book` builds the book line's V and M")


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
        world_files(scale, name, key)  # a name that is one safe path component
    if cfg.collect.encoder:  # every collection of the scale is encoded as collected, by another line's V
        _require(encoder_files(scale, name)[:1], f"the {scale} scale encodes its collections as they are collected")

    def missing(what: str, path: Path) -> bool:
        """Whether the release at ``path`` must be built (or completed: a model file without its card); says which."""
        done = releases.exists(path)
        log(f"[reproduce] {what}: {path} exists, kept" if done else f"[reproduce] {what} ...")
        return not done

    @functools.cache
    def rollouts(key: str | None = None) -> None:
        """The scale's rollouts, collected (or completed) the first time something is built from them; with
        ``key``, those world model ``key`` learns from (the frames' episodes: a ``subset`` of them; or its draw)."""
        if key is not None and WORLD_MODELS[key].draw:
            return drawn(WORLD_MODELS[key].draw)
        if key is None or not WORLD_MODELS[key].frames:
            files = collect(cfg.collect, progress=progress, parallel=cfg.parallel)
            log(f"[reproduce] rollouts: {len(files)} episodes in {files[0].parent}")
            return
        rollouts()
        folder = subset(cfg.collect.name, WORLD_MODELS[key].rollouts(name, cfg))
        log(f"[reproduce] rollouts for {key}: the episodes of {cfg.collect.name} that kept their frames, in {folder}")

    @functools.cache
    def drawn(draw: str) -> None:
        """The collection ``DRAWS[draw]``, collected (or completed) the first time an M is built from it."""
        files = collect(scale_config(scale, draw=draw, parallel=parallel).collect, progress=progress,
                        parallel=cfg.parallel)
        log(f"[reproduce] rollouts of the draw {draw}: {len(files)} episodes in {files[0].parent}")

    def build_vision(key: str) -> None:
        world = WORLD_MODELS[key]
        if missing(f"V ({key})", paths.vision_release(world.latent, world.release(name))):
            rollouts(key)
            wcfg = world_config(scale, name, key, parallel, evaluation)
            vision.train(world.latent, wcfg, progress=progress, run=world.run(name))
            vision.release(world.latent, wcfg, world.release(name), command=command, run=world.run(name))

    @functools.cache  # each world model (its M) and each agent is seen to once, however many need it
    def build_memory(key: str) -> None:
        world = WORLD_MODELS[key]
        vision_path, mdnrnn_path = world_files(scale, name, key)
        if world.vision_of:
            build_vision(world.vision_of)
        if not missing(f"M ({key})", mdnrnn_path):
            return
        if world.loop:
            return release_loop_memory(key)
        if world.draw:
            encoder()
        init = start(key) if world.init else None
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
        mix = ((cfg.collect.name, 1), (wcfg.collect.name, world.beside)) if world.beside else None
        memory.train(world.latent, wcfg, progress=progress, run=world.run(name), init=init, mix=mix)
        memory.release(world.latent, wcfg, world.release(name), command=command, run=world.run(name), mix=mix)

    def release_loop_memory(key: str) -> None:
        """World model ``key``'s M: of the loop's M_0 to M_rounds, the one its own dream-checks rank first."""
        world = WORLD_MODELS[key]
        loop = run_loop(world.loop)
        checks = [loop.state["start_check"], *(r["dream_check"] for r in loop.state["rounds"])]
        k = max(range(len(checks)), key=lambda i: checks[i]["spearman"])
        log(f"[reproduce] M ({key}): M_{k} of {portable(loop.folder)}, dream-checks "
            f"{[round(c['spearman'], 3) for c in checks]}")
        memory.release(world.latent, loop.cfg, world.release(name), command=command,
                       mix=memory.mix_of_run(resolve(loop.mdnrnn_at(k))),
                       extra={"dream_check": dict(checks[k]),
                              "chosen": {"loop": portable(loop.folder), "m": k,
                                         "rule": "the loop's M that its dream-checks rank first"}})

    @functools.cache
    def run_loop(key: str) -> iterate.Loop:
        """The iterative loop of recipe ``key``, run to its end (it resumes; a finished one is read back)."""
        recipe = AGENTS[key]
        build_memory(recipe.world)
        vision_path, mdnrnn_path = world_files(scale, name, recipe.world)
        loop = iterate.Loop(agent_config(scale, name, recipe, overrides, parallel), vision_path, mdnrnn_path,
                            progress=progress, command=command)
        loop.run()
        return loop

    def start(key: str) -> Path:
        """The M that world model ``key``'s M is fine-tuned from (``WorldModel.init``), built if it is missing."""
        first = WORLD_MODELS[key].init
        if first == "encoder":
            return encoder()[1]
        build_memory(first)
        return world_files(scale, name, first)[1]

    @functools.cache
    def encoder() -> tuple[Path, Path]:
        """The scale's encoder and the M beside it (``encoder_files``): built where world model ``vae`` belongs to
        the scale, else they must exist (the book line's, at paper scale)."""
        if scale in WORLD_MODELS["vae"].scales:
            build_memory("vae")
        _require(encoder_files(scale, name), f"the {scale} scale's Ms on other draws read the codes of its encoder "
                                              f"and may start from the M beside it")
        return encoder_files(scale, name)

    @functools.cache
    def build_agent(key: str) -> None:
        recipe = AGENTS[key]
        path = paths.controller_release(recipe.latent, recipe.release(name))
        if missing(f"agent {key}", path):  # an agent in place needs nothing built
            build_memory(recipe.world or recipe.latent)
            for member in recipe.ensemble:
                build_memory(member)
            if recipe.init:
                build_agent(recipe.init)
            if recipe.evolution.get("mode") == "dream":  # dreams start from M's rollouts
                rollouts(recipe.world or recipe.latent)
            if recipe.loop is not None:
                iterate.release(run_loop(key), recipe.release(name), command=command)
                return evaluate(path)
            runs = [agent_config(scale, name, recipe, overrides, parallel, seed) for seed in recipe.soup or (None,)]
            vision_path, mdnrnn_path = world_files(scale, name, recipe.world or recipe.latent)
            for acfg in runs:
                evolve.evolve(acfg, progress=progress, command=command, vision_path=vision_path,
                              mdnrnn_path=mdnrnn_path)
            evolve.release(runs[0], recipe.release(name), command=command,
                           soup=tuple(c.evolution.name for c in runs[1:]))
        evaluate(path)

    def evaluate(path: Path) -> None:
        """The protocol's score in the agent's card, unless it holds one."""
        result = load_card(path.with_suffix(".json")).get("evaluation")
        if result is None:
            e = cfg.evaluation
            log(f"[reproduce] evaluate {path.name}: {e.episodes} episodes of {e.max_steps} steps, {e.renderer} renderer")
            result = evaluation_lib.evaluate_file(path, e, parallel=cfg.parallel)
            evaluation_lib.write_evaluation(path, result)
        log(f"[reproduce] {path.name}: {result['mean']:.1f} +/- {result['std']:.1f}")

    # each V and its M; the Ms of a driven collection, a draw or a loop are built for the agents that need them
    plain = [key for key, world in WORLD_MODELS.items() if world.trains_vision and scale in world.scales]
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

"""Command line: ``python -m worldmodels <command> --scale smoke|book|paper [flags]``, generated from the config.

Commands:
    collect        collect rollouts in parallel (resumes if interrupted)
    verify         read every episode of a rollout folder and list the bad ones
    train-vae      train the paper's Gaussian VAE on the rollouts (resumes)
    train-gumbel   train the Gumbel-softmax VAE on the rollouts (resumes)
    encode         encode all rollouts with a trained V, for the MDN-RNN
    train-mdnrnn   train the MDN-RNN on encoded rollouts (resumes)
    evolve         evolve the controller with CMA-ES, in the real env or the dream (resumes)
    evaluate       score an agent on 100 held-out episodes with the stock renderer, and film one
    dream-check    rank a panel of controllers in the real env and in M's dream (Spearman correlation)
    dream-score    score agents by their mean return in held-out dreams, and name the highest
    compare-scores compare evaluations of the same tracks, each against the first, track by track
    iterate        the paper's iterative loop: evolve in the dream, collect real episodes, fine-tune M (resumes)
    reproduce      all of the above for one release name, building only what is missing (resumes)

Each command is a dataclass in ``worldmodels.commands`` whose config sections are the package's own config classes
(``worldmodels.core.config``): tyro turns every field into a flag of the same name (``--population``,
``--tile-cutoff``) with the field's docstring as help and the preset of ``--scale`` as default, and the
classes' range checks refuse bad values with the flag named. ``--scale`` is read first, since it decides
every other default. A relative path given to a flag is taken from the project root (``WM_ROOT``), wherever the
command is run from, as every path the package builds is.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

import tyro

from .commands import (
    Collect,
    CompareScores,
    DreamCheck,
    DreamScore,
    Encode,
    Evaluate,
    Evolve,
    Iterate,
    Reproduce,
    Subset,
    TrainGumbel,
    TrainMDNRNN,
    TrainVAE,
    Verify,
)
from .core import paths
from .core.config import Config
from .core.parallel import WorkerLostError
from .core.presets import SCALES, get_config
from .core.provenance import portable, resolve
from .core.storage import RunLockedError, WriteError, load_json
from .core.validation import check


# -- running them ------------------------------------------------------------------------------------------
def _collect(args: Collect, command: str) -> int:
    from .agent.policy import make_policy
    from .models.encoder import collection_encoder
    from .world import datacard
    from .world.rollouts import collect

    files = collect(args.collect, folder=args.out, progress=not args.quiet, make_policy=make_policy,
                    make_encoder=collection_encoder if args.collect.encoder else None, parallel=args.parallel)
    folder = files[0].parent
    card = load_json(folder / datacard.CARD)
    print(f"{len(files)} episodes in {folder}, {card['all']['steps']:,} steps, {card['bytes_per_step']:,} bytes a "
          f"step; collected in {card['wall_seconds']:,} s (all runs)\n{datacard.markdown(card)}")
    return 0


def _verify(args: Verify, command: str) -> int:
    from .world.datasets import episode_files, verify

    folder = args.folder or paths.rollout_dir(get_config(args.scale).collect.name)
    bad = verify(folder)
    files = episode_files(folder)
    unreadable = {path for path, _ in bad} & set(files)
    for _, error in bad:
        print(f"BAD {error}")
    print(f"{len(files) - len(unreadable)} of {len(files)} episode files in {folder} are readable"
          + (f"; {len(bad) - len(unreadable)} other problems (above)" if len(bad) > len(unreadable) else ""))
    return 1 if bad else 0


def _subset(args: Subset, command: str) -> int:
    from .world.datasets import episode_files
    from .world.subset import subset

    folder = subset(args.rollouts, args.name)
    print(f"{folder}: {len(episode_files(folder)):,} episodes of data/rollouts/{args.rollouts} that kept their frames")
    return 0


def _config(scale: str, rollouts: str | None, **sections) -> Config:
    """The scale's config with the command's sections (and ``--rollouts``) in place."""
    cfg = get_config(scale)
    return dataclasses.replace(cfg, collect=dataclasses.replace(cfg.collect, name=rollouts or cfg.collect.name),
                               **sections)


def _train(args: TrainVAE | TrainMDNRNN, cfg: Config, latent: str, stage, release_path, label: str,
           command: str, **extra) -> int:
    """Train V or M (``stage``: ``training.vision`` or ``training.memory``), then release it if asked; a release
    that exists is refused before any training."""
    from .training import release

    if args.release:
        release.check_free(release_path(latent, args.release), args.force)
    _, history = stage.train(latent, cfg, progress=not args.quiet, **extra)
    print(f"{label}: {len(history)} epochs, last: {history[-1]}")
    if args.release:
        path = stage.release(latent, cfg, args.release, command=command, force=args.force,
                             **{k: v for k, v in extra.items() if k != "init"})
        print(f"released {path} and {path.with_suffix('.json')}")
    return 0


def _train_vision(args: TrainVAE, command: str) -> int:
    from .training import vision

    cfg = _config(args.scale, args.rollouts, **{args.latent: args.model, "vae_training": args.training})
    return _train(args, cfg, args.latent, vision, paths.vision_release, args.latent, command, run=args.run)


def _encode(args: Encode, command: str) -> int:
    from .core.storage import check_writable
    from .models.registry import load_vision
    from .training import vision

    cfg = _config(args.scale, args.rollouts)
    source = args.checkpoint or paths.vision_run(args.latent, args.run or cfg.collect.name) / "last.pt"
    check_writable(paths.latents_store(args.latent, cfg.collect.name).parent)  # before any frame is encoded
    vision.encode(load_vision(source, latent=args.latent), cfg.collect.name, progress=not args.quiet,
                  source=portable(source))
    return 0


def _train_mdnrnn(args: TrainMDNRNN, command: str) -> int:
    from .training import memory

    cfg = _config(args.scale, args.rollouts, mdnrnn=args.mdnrnn, mdnrnn_training=args.training,
                  sequence_length=args.sequence_length)
    latent = args.mdnrnn.latent
    mix = memory.mix_of(cfg.collect.name, args.mix)
    return _train(args, cfg, latent, memory, paths.mdnrnn_release, f"mdnrnn ({latent})", command, mix=mix,
                  init=args.init, run=args.run)


def _evolve(args: Evolve, command: str) -> int:
    from .training import evolve, release

    cfg = _config(args.scale, args.rollouts, evolution=args.evolution, controller=args.controller,
                  parallel=args.parallel)
    if args.soup_with and not args.release:
        raise ValueError("--soup-with averages finished runs into a release: pass --release NAME too")
    if args.release:
        release.check_free(paths.controller_release(cfg.evolution.latent, args.release), args.force)
    savings = [f"{k}={getattr(cfg.evolution, k)}" for k in ("tile_cutoff", "early_trials") if getattr(cfg.evolution, k)]
    if savings:
        print(f"compute savers on: {', '.join(savings)} (history.csv counts cut episodes and trials per generation)")
    state = evolve.evolve(cfg, progress=not args.quiet, vision_path=args.vision, mdnrnn_path=args.mdnrnn,
                          command=command)
    if state.get("stopped"):
        print(f"{evolve.run_dir(cfg.evolution)}: {state['stopped']}")
    if not state["history"]:
        raise ValueError(f"--step-budget {cfg.evolution.step_budget:,}: not one generation fits it; nothing to "
                         f"release (raise the budget)")
    last = state["history"][-1]
    print(f"{evolve.run_dir(cfg.evolution)}: {last['generation']} generations, mean {last['mean']:.1f}, "
          f"best {last['best']:.1f}, real env steps {state['env_steps']:,}, dream steps {state['dream_steps']:,}")
    if args.release:
        path = evolve.release(cfg, args.release, which=args.which, command=command, force=args.force,
                              soup=args.soup_with)
        print(f"released {path} and {path.with_suffix('.json')}")
    return 0


def _evaluate(args: Evaluate, command: str) -> int:
    from .agent import evaluation
    from .agent.episodes import record_episode
    from .agent.files import Agent
    from .core.provenance import portable
    from .core.storage import check_writable, save_json
    from .core.video import write_video
    from .film import RENDERER, ship_film

    card_path = args.agent.with_suffix(".json")
    if args.ship_film and args.evaluation.renderer != RENDERER:
        raise ValueError(f"--ship-film with --renderer {args.evaluation.renderer}: films are drawn with the "
                         f"{RENDERER} renderer; drop --renderer")
    if args.update_card and not card_path.exists():
        raise FileNotFoundError(f"{card_path}: no card beside the agent; --update-card is for releases "
                                f"(checkpoints/controller/<latent>_<name>.pt)")
    out = args.out or paths.evaluation_path(args.agent)
    _check_not_another_agents(out, args.agent)
    check_writable(out.parent, *([args.video.parent] if args.video else []),
                   *([args.agent.parent] if args.ship_film else []))
    cfg = args.evaluation
    result = evaluation.evaluate_file(args.agent, cfg, progress=True, parallel=args.parallel)
    verdict = "solved" if result["solved"] else f"not solved (needs a mean of {evaluation.SOLVED:.0f})"
    print(f"{args.agent}: {result['mean']:.1f} +/- {result['std']:.1f} over {result['episodes']} episodes "
          f"(seeds {result['seeds'][0]}-{result['seeds'][1]}, {result['renderer']} renderer; min {result['min']:.1f}, "
          f"max {result['max']:.1f}): {verdict}")
    if args.video_episodes or args.ship_film:
        episode = record_episode(Agent.load(args.agent), seed=cfg.seed, renderer=cfg.renderer, max_steps=cfg.max_steps)
    if args.video_episodes:
        video = args.video or out.with_suffix(".mp4")
        write_video(episode["frames"], video, fps=50, scale=1)
        result["video"] = {"path": portable(video), "seed": cfg.seed, "return": round(episode["return"], 2)}
        print(f"video of seed {cfg.seed} (return {episode['return']:.1f}): {video}")
    if args.ship_film:
        print(f"the filmed episode's actions: {ship_film(args.agent, cfg.seed, cfg.max_steps, episode, command)}")
    save_json(out, result)
    print(f"results: {out}")
    if args.update_card:
        print(f"card updated: {evaluation.write_evaluation(args.agent, result)}")
    return 0


def _check_not_another_agents(out, agent) -> None:
    """Refuse (before any work) to write over the results of another agent file."""
    from .core.provenance import portable

    if out.exists():
        earlier = load_json(out).get("agent")
        if earlier is not None and earlier != portable(agent):
            raise FileExistsError(f"{out} holds the evaluation of {earlier}, not of {portable(agent)}; pass --out "
                                  f"to write elsewhere, or delete {out}")


def _dream_check(args: DreamCheck, command: str) -> int:
    from .core.provenance import update_card
    from .core.storage import check_writable, save_json
    from .training.dream_check import dream_check

    cfg = _config(args.scale, args.rollouts)
    agents = args.agents if args.agents is not None else sorted((paths.checkpoint_dir() / "controller").glob("*.pt"))
    name = args.mdnrnn.parent.name if args.mdnrnn.stem == "last" else args.mdnrnn.stem  # a run's last.pt: the run
    out = args.out or paths.dream_check_dir() / f"{name}.json"
    check_writable(out.parent, paths.dream_check_dir())  # before the real episodes
    result = dream_check(args.mdnrnn, args.dream_check, cfg.collect.name, args.vision, list(agents),
                         list(args.ensemble), parallel=args.parallel)
    print("| controller | reads h | real return | dream return |\n|---|---|---|---|")
    for row in sorted(result["panel"], key=lambda r: -r["real"]):
        print(f"| {row['name']} | {'no' if row['h_free'] else 'yes'} | {row['real']:.1f} | {row['dream']:.1f} |")
    free = sum(row["h_free"] for row in result["panel"])
    print(f"{args.mdnrnn}: Spearman rank correlation of dream and real returns {result['spearman']:.3f} over "
          f"{len(result['panel'])} controllers x {result['tracks']} tracks; {result['spearman_h_free']} over the "
          f"{free} that ignore h (the same real returns for every M) ({result['real_env_steps']:,} new real env "
          f"steps, {result['seconds']:.0f} s)")
    if "ensemble" in result:
        print(f"ensemble of {len(result['members'])}: {result['ensemble']['spearman']:.3f} (h-free "
              f"{result['ensemble']['spearman_h_free']}); each member alone: "
              + ", ".join(f"{m['mdnrnn']} {m['spearman']:.3f}" for m in result["members"]))
    save_json(out, {**result, "command": command})
    print(f"results: {out}")
    if args.update_card:
        print(f"card updated: {update_card(args.mdnrnn, 'dream_check', {**result, 'command': command})}")
    return 0


def _dream_score(args: DreamScore, command: str) -> int:
    from .core.storage import check_writable, save_json
    from .training.dream_score import dream_scores

    if not args.agents:
        raise ValueError("dream-score: name one or more agent files")
    cfg = _config(args.scale, args.rollouts, evolution=args.evolution)
    out = args.out or paths.dream_score_dir() / f"{paths.evaluation_path(args.agents[0]).stem}.json"
    check_writable(out.parent, paths.dream_score_dir())
    result = dream_scores(cfg, list(args.agents), args.dreams)
    print("| agent | dream return | std | paired vs the highest |\n|---|---|---|---|")
    for row in result["agents"]:
        p = row["paired"]
        print(f"| {row['agent']} | {row['mean']:.1f} +/- {row['se']:.1f} | {row['std']:.1f} | "
              f"{p['mean']:+.1f} +/- {p['se']:.1f} |")
    print(f"highest: {result['best']} ({result['dreams']} dreams each of at most {result['max_steps']} steps; "
          f"{result['dream_steps']:,} dream steps, {result['seconds']:.0f} s)")
    save_json(out, {**result, "command": command})
    print(f"results: {out}")
    return 0


def _compare_scores(args: CompareScores, command: str) -> int:
    from .core.storage import load_json
    from .results import paired_table

    if len(args.evaluations) < 2:
        raise ValueError("compare-scores: name two or more evaluate results files, the baseline first")
    evaluations = {portable(path): load_json(path) for path in args.evaluations}
    print(paired_table(evaluations, args.loss))
    return 0


def _iterate(args: Iterate, command: str) -> int:
    from .training import iterate, memory, release

    cfg = _config(args.scale, args.rollouts, iterate=args.iterate, evolution=args.evolution, controller=args.controller,
                  parallel=args.parallel)
    e = cfg.evolution
    if args.release:
        release.check_free(paths.controller_release(e.latent, args.release), args.force)
    mix = memory.mix_of(None, args.mix) or None
    loop = iterate.Loop(cfg, args.vision or paths.vision_release(e.latent, e.world_model),
                        args.mdnrnn or paths.mdnrnn_release(e.latent, e.world_model),
                        list(args.agents) if args.agents is not None else None, mix=mix,
                        progress=not args.quiet, command=command)
    state = loop.run()
    print("| round | generations | dream fitness | real (monitor) | dream-check | real env steps |\n|---|---|---|---|---|---|")
    for row in map(iterate.summary, state["rounds"]):
        print("| " + " | ".join(str(row[k]) for k in ("round", "generations", "dream_fitness", "real_monitor",
                                                       "dream_check", "real_env_steps")) + " |")
    c = state["candidate"]
    print(f"{loop.folder}: start dream-check {state['start_check']['spearman']}; candidate: round {c['round']} "
          f"(dream returns in the last M by round: {c['dream_returns']}); real env steps of the loop: "
          f"{sum(iterate.spent(state).values()):,}")
    if args.release:
        path = iterate.release(loop, args.release, command=command, force=args.force)
        print(f"released {path} and {path.with_suffix('.json')}")
    return 0


def _reproduce(args: Reproduce, command: str) -> int:
    from .reproduce import reproduce

    reproduce(args.scale, args.name, list(args.agents) if args.agents else None, generations=args.generations,
              episodes=args.episodes, eval_max_steps=args.eval_max_steps, backend=args.backend, workers=args.workers,
              progress=not args.quiet, command=command)
    return 0


COMMANDS = {
    "collect": (Collect, _collect), "verify": (Verify, _verify), "subset": (Subset, _subset),
    "train-vae": (TrainVAE, _train_vision),
    "train-gumbel": (TrainGumbel, _train_vision), "encode": (Encode, _encode),
    "train-mdnrnn": (TrainMDNRNN, _train_mdnrnn), "evolve": (Evolve, _evolve), "evaluate": (Evaluate, _evaluate),
    "dream-check": (DreamCheck, _dream_check), "dream-score": (DreamScore, _dream_score),
    "compare-scores": (CompareScores, _compare_scores),
    "iterate": (Iterate, _iterate), "reproduce": (Reproduce, _reproduce),
}


def rooted(args):
    """``args`` with every relative path flag taken from the project root (``WM_ROOT``), once, here: every later
    step (loading, hashing, acting, recording) then sees the same file, wherever the command was run from."""
    changes = {}
    for f in dataclasses.fields(args):
        value = getattr(args, f.name)
        if isinstance(value, Path):
            changes[f.name] = resolve(value)
        elif isinstance(value, tuple) and value and all(isinstance(v, Path) for v in value):
            changes[f.name] = tuple(resolve(v) for v in value)
    return dataclasses.replace(args, **changes) if changes else args


def defaults(name: str, scale: str):
    """The command's arguments as the preset ``scale`` fills them: what its flags default to (None for
    ``evaluate``, whose defaults are the protocol's, whatever the scale)."""
    cfg = get_config(scale)
    made = {
        "collect": lambda: Collect(collect=cfg.collect, parallel=cfg.parallel, scale=scale),
        "verify": lambda: Verify(scale=scale),
        "train-vae": lambda: TrainVAE(model=cfg.vae, training=cfg.vae_training, scale=scale),
        "train-gumbel": lambda: TrainGumbel(model=cfg.gumbel, training=cfg.vae_training, scale=scale),
        "encode": lambda: Encode(scale=scale),
        "train-mdnrnn": lambda: TrainMDNRNN(mdnrnn=cfg.mdnrnn, training=cfg.mdnrnn_training,
                                            sequence_length=cfg.sequence_length, scale=scale),
        "evolve": lambda: Evolve(evolution=cfg.evolution, controller=cfg.controller, parallel=cfg.parallel,
                                 scale=scale),
        "evaluate": lambda: None,
        "dream-check": lambda: DreamCheck(mdnrnn=tyro.MISSING, dream_check=cfg.dream_check, parallel=cfg.parallel,
                                          scale=scale),
        "dream-score": lambda: DreamScore(agents=tyro.MISSING, scale=scale,
                                          evolution=dataclasses.replace(cfg.evolution, mode="dream")),
        "iterate": lambda: Iterate(iterate=cfg.iterate, evolution=dataclasses.replace(cfg.evolution, mode="dream"),
                                   controller=cfg.controller, parallel=cfg.parallel, scale=scale),
        "reproduce": lambda: Reproduce(scale=scale),
        "compare-scores": lambda: None,
        "subset": lambda: None,
    }
    return made[name]()


def parse(argv: list[str]):
    """(command name, its arguments) from the command line; exits 2 with tyro's message on a bad flag."""
    pre = argparse.ArgumentParser(prog="python -m worldmodels", description=__doc__, add_help=False,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    pre.add_argument("command", nargs="?", choices=sorted(COMMANDS))
    pre.add_argument("--scale", choices=SCALES, default="book")
    known, _ = pre.parse_known_args(argv)
    if known.command is None:
        pre.print_help()
        raise SystemExit(0 if {"-h", "--help"} & set(argv) else 2)
    rest = list(argv)
    rest.remove(known.command)
    cls, default = COMMANDS[known.command][0], defaults(known.command, known.scale)
    options = {"default": default} if default is not None else {}
    return known.command, tyro.cli(cls, args=rest, prog=f"python -m worldmodels {known.command}",
                                   config=(tyro.conf.OmitArgPrefixes,), **options)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        name, args = parse(argv)
    except SystemExit as e:  # tyro's own message is printed; -h exits 0, a bad flag 2
        return int(e.code or 0)
    command = " ".join(["python -m worldmodels", *argv])  # what cards record
    try:
        check(args)  # the command's own fields (names, choices); its config sections checked themselves
        return COMMANDS[name][1](rooted(args), command)
    except (ValueError, FileNotFoundError, FileExistsError, FloatingPointError, WriteError, RunLockedError,
            WorkerLostError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

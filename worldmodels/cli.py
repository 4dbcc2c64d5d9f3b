"""Command line: ``python -m worldmodels <command> --scale smoke|book|paper``.

Commands:
    collect        collect rollouts in parallel (resumes if interrupted)
    verify         read every episode of a rollout folder and list the bad ones
    train-vae      train the paper's Gaussian VAE on the rollouts (resumes)
    train-gumbel   train the Gumbel-softmax VAE on the rollouts (resumes)
    encode         encode all rollouts with a trained V, for the MDN-RNN
    train-mdnrnn   train the MDN-RNN on encoded rollouts (resumes)
    evolve         evolve the controller with CMA-ES, in the real env or the dream (resumes)
    evaluate       score an agent on 100 held-out episodes with the stock renderer, and film one
    reproduce      all of the above for one release name, building only what is missing (resumes)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import paths
from .config import SCALES, get_config


def _collect(args: argparse.Namespace) -> int:
    from .rollouts import collect

    overrides = {k: v for k, v in {
        "name": args.name, "episodes": args.episodes, "steps": args.steps, "seed": args.seed,
        "policy": args.policy, "agent": args.agent, "action_noise": args.action_noise,
        "renderer": args.renderer, "workers": args.workers,
        "backend": args.backend, "ray_address": args.ray_address,
        "frame_size": args.frame_size, "crop": args.crop,
    }.items() if v is not None}
    cfg = get_config(args.scale, collect=overrides).collect
    files = collect(cfg, folder=args.out, progress=not args.quiet)
    print(f"{len(files)} episodes in {files[0].parent if files else args.out}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from .data import episode_files, verify

    folder = Path(args.folder) if args.folder else paths.rollout_dir(get_config(args.scale).collect.name)
    bad = verify(folder)
    total = len(episode_files(folder))
    for path, error in bad:
        print(f"BAD {error}")
    print(f"{total - len(bad)} of {total} episodes in {folder} are readable")
    return 1 if bad else 0


def _training_config(args: argparse.Namespace, section: str):
    """The scale's config with the training flags given on the command line applied to ``section``."""
    training = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size,
                                  "learning_rate": args.learning_rate,
                                  "bf16": getattr(args, "bf16", None)}.items() if v is not None}
    return get_config(args.scale, **{section: training}, collect={"name": args.rollouts} if args.rollouts else {})


def _train(args: argparse.Namespace) -> int:
    """train-vae, train-gumbel and train-mdnrnn: train (resuming), then optionally release."""
    from . import memory, vision

    if args.command == "train-mdnrnn":
        cfg, name = _training_config(args, "mdnrnn_training"), f"mdnrnn ({args.latent})"
        train, release, what = memory.train, memory.release, args.latent
    else:
        cfg, name = _training_config(args, "vae_training"), args.kind
        train, release, what = vision.train, vision.release, args.kind
    _, history = train(what, cfg, progress=not args.quiet)
    print(f"{name}: {len(history)} epochs, last: {history[-1]}")
    if args.release:
        path = release(what, cfg, args.release, command=args.command_line)
        print(f"released {path} and {path.with_suffix('.json')}")
    return 0


def _encode(args: argparse.Namespace) -> int:
    from . import vision

    cfg = get_config(args.scale, collect={"name": args.rollouts} if args.rollouts else {})
    source = args.checkpoint or vision.run_dir(args.model, cfg) / "last.pt"
    model = vision.load(source, kind=args.model)
    vision.encode(model, args.model, cfg.collect.name, progress=not args.quiet, source=str(source))
    return 0


def _evolve(args: argparse.Namespace) -> int:
    from . import evolve

    overrides = {k: v for k, v in {
        "name": args.name, "latent": args.latent, "release": args.release_of_world_model, "mode": args.mode,
        "population": args.population, "trials": args.trials, "generations": args.generations,
        "sigma0": args.sigma0, "covariance": args.covariance, "seed": args.seed, "max_steps": args.max_steps,
        "renderer": args.renderer, "envs_per_task": args.envs_per_task, "tile_cutoff": args.tile_cutoff,
        "early_trials": args.early_trials, "early_generations": args.early_generations,
        "eval_every": args.eval_every, "eval_episodes": args.eval_episodes, "dream_tau": args.dream_tau,
        "init": args.init, "backend": args.backend, "workers": args.workers, "ray_address": args.ray_address,
    }.items() if v is not None}
    controller = {k: v for k, v in {"inputs": args.inputs, "hidden_layer": args.hidden_layer,
                                    "code_input": args.code_input}.items() if v is not None}
    cfg = get_config(args.scale, evolution=overrides, controller=controller,
                     collect={"name": args.rollouts} if args.rollouts else {})
    savings = [f"{k}={getattr(cfg.evolution, k)}" for k in ("tile_cutoff", "early_trials") if getattr(cfg.evolution, k)]
    if savings:
        print(f"compute savers on: {', '.join(savings)} (history.csv counts cut episodes and trials per generation)")
    state = evolve.evolve(cfg, progress=not args.quiet, vision_path=args.vision, mdnrnn_path=args.mdnrnn,
                          command=args.command_line)
    last = state["history"][-1]
    print(f"{evolve.run_dir(cfg.evolution)}: {last['generation']} generations, mean {last['mean']:.1f}, "
          f"best {last['best']:.1f}, real env steps {state['env_steps']:,}, dream steps {state['dream_steps']:,}")
    if args.release:
        path = evolve.release(cfg, args.release, which=args.which, command=args.command_line)
        print(f"released {path} and {path.with_suffix('.json')}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from . import agent, dream
    from .storage import save_json

    seed = agent.EVALUATION_SEED if args.seed is None else args.seed
    card_path = Path(args.agent).with_suffix(".json")
    if args.update_card and not card_path.exists():
        raise FileNotFoundError(f"{card_path}: no card beside the agent; --update-card is for releases "
                                f"(checkpoints/controller/<latent>_<name>.pt)")
    result = agent.evaluate(args.agent, episodes=args.episodes, seed=seed, renderer=args.renderer,
                            backend=args.backend, workers=args.workers, ray_address=args.ray_address,
                            max_steps=args.max_steps)
    verdict = "solved" if result["solved"] else f"not solved (needs a mean of {agent.SOLVED:.0f})"
    print(f"{args.agent}: {result['mean']:.1f} +/- {result['std']:.1f} over {result['episodes']} episodes "
          f"(seeds {result['seeds'][0]}-{result['seeds'][1]}, {result['renderer']} renderer; min {result['min']:.1f}, "
          f"max {result['max']:.1f}): {verdict}")
    stem = Path(args.agent).stem
    out = Path(args.out) if args.out else paths.data_dir() / "evaluations" / f"{stem}.json"
    if args.video_episodes:
        episode = agent.record_episode(args.agent, seed=seed, renderer=args.renderer, max_steps=args.max_steps)
        video = Path(args.video) if args.video else out.with_suffix(".mp4")
        dream.write_video(episode["frames"], video, fps=50, scale=1)
        result["video"] = {"path": agent.portable(video), "seed": seed, "return": round(episode["return"], 2)}
        print(f"video of seed {seed} (return {episode['return']:.1f}): {video}")
    save_json(out, result)
    print(f"results: {out}")
    if args.update_card:
        print(f"card updated: {agent.write_evaluation(args.agent, result)}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from .reproduce import reproduce

    reproduce(args.scale, args.name, args.agents, generations=args.generations, episodes=args.episodes,
              eval_max_steps=args.eval_max_steps, backend=args.backend, workers=args.workers,
              progress=not args.quiet, command=args.command_line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m worldmodels", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("collect", help="collect rollouts (resumable)")
    p.add_argument("--scale", choices=SCALES, default="book")
    p.add_argument("--name", help="folder under data/rollouts (default: the scale's)")
    p.add_argument("--out", type=Path, help="write here instead of data/rollouts/<name>")
    p.add_argument("--episodes", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--seed", type=int, help="seed of the first episode")
    p.add_argument("--policy", choices=["random", "brownian", "agent"])
    p.add_argument("--agent", help="agent file for --policy agent (a trained controller drives, plus noise)")
    p.add_argument("--action-noise", type=float, help="noise std on the agent's actions (default 0.1)")
    p.add_argument("--renderer", choices=["stock", "exact", "fast"])
    p.add_argument("--workers", type=int, help="0 = one per core")
    p.add_argument("--backend", choices=["serial", "process", "ray"])
    p.add_argument("--ray-address", help="Ray cluster address for --backend ray")
    p.add_argument("--frame-size", type=int)
    p.add_argument("--crop", action=argparse.BooleanOptionalAction, default=None,
                   help="drop the indicator bar before resizing (default: on, as the paper)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_collect)

    for command, kind in (("train-vae", "vae"), ("train-gumbel", "gumbel")):
        p = sub.add_parser(command, help=f"train the {kind} (resumes a killed run)")
        p.add_argument("--scale", choices=SCALES, default="book")
        p.add_argument("--rollouts", help="folder under data/rollouts (default: the scale's)")
        p.add_argument("--epochs", type=int)
        p.add_argument("--batch-size", type=int)
        p.add_argument("--learning-rate", type=float)
        p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast")
        p.add_argument("--release", metavar="NAME", help="then ship it as checkpoints/<kind>/NAME.pt with a card")
        p.add_argument("--quiet", action="store_true")
        p.set_defaults(run=_train, kind=kind)

    p = sub.add_parser("encode", help="encode rollouts into latents for the MDN-RNN")
    p.add_argument("--model", choices=["vae", "gumbel"], required=True)
    p.add_argument("--scale", choices=SCALES, default="book")
    p.add_argument("--rollouts", help="folder under data/rollouts (default: the scale's)")
    p.add_argument("--checkpoint", type=Path, help="a release (checkpoints/<kind>/<name>.pt); default: the run's last.pt")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=_encode)

    p = sub.add_parser("train-mdnrnn", help="train M on encoded rollouts (resumes a killed run)")
    p.add_argument("--latent", choices=["vae", "gumbel"], default="vae", help="which V's latents")
    p.add_argument("--scale", choices=SCALES, default="book")
    p.add_argument("--rollouts", help="rollout name of the latents (default: the scale's)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--release", metavar="NAME", help="then ship it as checkpoints/mdnrnn/<latent>_NAME.pt")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=_train)

    p = sub.add_parser("evolve", help="evolve the controller with CMA-ES (resumes a killed run)")
    p.add_argument("--scale", choices=SCALES, default="book")
    p.add_argument("--name", help="run folder data/runs/controller_<latent>_<name> (default: the scale's)")
    p.add_argument("--latent", choices=["vae", "gumbel"], help="which world model (default vae)")
    p.add_argument("--world-model", dest="release_of_world_model", metavar="RELEASE",
                   help="V and M releases to use: checkpoints/<latent>/RELEASE.pt, checkpoints/mdnrnn/<latent>_RELEASE.pt")
    p.add_argument("--vision", metavar="PATH", help="a V checkpoint other than the --world-model release's")
    p.add_argument("--mdnrnn", metavar="PATH", help="an M checkpoint other than the --world-model release's "
                   "(e.g. one trained on other rollouts with the same V)")
    p.add_argument("--rollouts", help="rollouts whose first frames start the dreams (default: the scale's)")
    p.add_argument("--mode", choices=["real", "dream"])
    p.add_argument("--inputs", choices=["z_h", "z"], help="controller input: [z, h] (paper) or z only (V only)")
    p.add_argument("--code-input", choices=["hard", "soft"],
                   help="--latent gumbel: C reads the hard one-hot code (default) or the posterior's probabilities")
    p.add_argument("--hidden-layer", type=int, help="units of a tanh hidden layer (0: linear)")
    p.add_argument("--population", type=int)
    p.add_argument("--trials", type=int)
    p.add_argument("--generations", type=int)
    p.add_argument("--sigma0", type=float)
    p.add_argument("--covariance", choices=["full", "diagonal"])
    p.add_argument("--seed", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--renderer", choices=["stock", "exact", "fast"])
    p.add_argument("--envs-per-task", type=int, help="episodes a worker steps together")
    p.add_argument("--tile-cutoff", type=int, help="end episodes after this many steps without a new tile")
    p.add_argument("--early-trials", type=int, help="fewer trials per candidate in the first generations")
    p.add_argument("--early-generations", type=int)
    p.add_argument("--eval-every", type=int, help="score the ES mean on fresh episodes every N generations")
    p.add_argument("--eval-episodes", type=int)
    p.add_argument("--dream-tau", type=float)
    p.add_argument("--init", help="start from this agent file's parameters (e.g. a dream-trained controller)")
    p.add_argument("--backend", choices=["serial", "process", "ray"])
    p.add_argument("--workers", type=int, help="0 = one per core")
    p.add_argument("--ray-address", help="Ray cluster address for --backend ray")
    p.add_argument("--release", metavar="NAME", help="then ship it as checkpoints/controller/<latent>_NAME.pt")
    p.add_argument("--which", choices=["auto", "best_mean", "mean", "best"], default="auto",
                   help="parameters to ship (auto: best_mean if evaluated, else mean)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=_evolve)

    p = sub.add_parser("evaluate", help="score an agent file on held-out episodes (the protocol)")
    p.add_argument("agent", help="an agent file: checkpoints/controller/<latent>_<name>.pt or a run's mean.pt")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--seed", type=int, help="first episode seed (default 900,000; training never uses these)")
    p.add_argument("--renderer", choices=["stock", "exact", "fast"], default="stock")
    p.add_argument("--max-steps", type=int, default=1000, help="the protocol uses 1000; fewer for quick checks only")
    p.add_argument("--backend", choices=["serial", "process", "ray"], default="process")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--ray-address")
    p.add_argument("--out", help="results JSON (default data/evaluations/<agent>.json)")
    p.add_argument("--video", help="mp4 of the first episode (default beside the results)")
    p.add_argument("--video-episodes", type=int, choices=[0, 1], default=1, help="0: no video")
    p.add_argument("--update-card", action="store_true", help="write the scores into the agent's JSON card")
    p.set_defaults(run=_evaluate)

    from .reproduce import AGENTS

    p = sub.add_parser("reproduce", help="the whole pipeline for one release name: builds only what is missing")
    p.add_argument("--scale", choices=SCALES, default="book")
    p.add_argument("--name", help="release name (default: the scale's); existing releases are kept")
    p.add_argument("--agents", nargs="+", choices=sorted(AGENTS), help="agent recipes to build (default all)")
    p.add_argument("--generations", type=int, help="CMA-ES generations per agent (default: the scale's)")
    p.add_argument("--episodes", type=int, help="evaluation episodes (default 100; smoke 2)")
    p.add_argument("--eval-max-steps", type=int, help="evaluation episode length (default 1000; smoke: its max_steps)")
    p.add_argument("--backend", choices=["serial", "process", "ray"])
    p.add_argument("--workers", type=int, help="0 = one per core")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=_reproduce)

    p = sub.add_parser("verify", help="list unreadable episode files")
    p.add_argument("folder", nargs="?", help="rollout folder (default: the scale's)")
    p.add_argument("--scale", choices=SCALES, default="book")
    p.set_defaults(run=_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = " ".join(["python -m worldmodels", *argv])  # what cards record
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

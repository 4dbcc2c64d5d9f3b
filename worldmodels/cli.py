"""Command line: ``python -m worldmodels <command> --scale smoke|book|paper``.

Commands:
    collect        collect rollouts in parallel (resumes if interrupted)
    verify         read every episode of a rollout folder and list the bad ones
    train-vae      train the paper's Gaussian VAE on the rollouts (resumes)
    train-gumbel   train the Gumbel-softmax VAE on the rollouts (resumes)
    encode         encode all rollouts with a trained V, for the MDN-RNN
    train-mdnrnn   train the MDN-RNN on encoded rollouts (resumes)
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
        "policy": args.policy, "renderer": args.renderer, "workers": args.workers,
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
        path = release(what, cfg, args.release)
        print(f"released {path} and {path.with_suffix('.json')}")
    return 0


def _encode(args: argparse.Namespace) -> int:
    from . import vision

    cfg = get_config(args.scale, collect={"name": args.rollouts} if args.rollouts else {})
    source = args.checkpoint or vision.run_dir(args.model, cfg) / "last.pt"
    model = vision.load(source, kind=args.model)
    vision.encode(model, args.model, cfg.collect.name, progress=not args.quiet, source=str(source))
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
    p.add_argument("--policy", choices=["random", "brownian"])
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

    p = sub.add_parser("verify", help="list unreadable episode files")
    p.add_argument("folder", nargs="?", help="rollout folder (default: the scale's)")
    p.add_argument("--scale", choices=SCALES, default="book")
    p.set_defaults(run=_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

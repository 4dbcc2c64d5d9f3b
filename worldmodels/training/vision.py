"""V end to end: train (through ``loop.fit``), release, load and encode, for every kind of V.

Files (``worldmodels.core.paths``)::

    data/runs/<latent>_<rollouts>/last.pt, history.csv     training runs (resumable)
    checkpoints/<latent>/<release>.pt + .json              shipped releases (fp16 weights) and cards
    data/latents/<rollouts>_<latent>.npz                   encoded rollouts for the MDN-RNN
    data/latents/<rollouts>_<latent>/                      the same, memory-mapped (``latent_store``): collections
                                                           encoded as collected, and posteriors over ``STORE_ABOVE``
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core import checkpoint, paths
from ..core.config import Config, to_dict
from ..core.provenance import portable, resolve, sha256
from ..core.storage import load_json, load_npz, save_npz
from ..models.registry import build_vision, vision_from_payload
from ..models.vision import Vision
from ..world import latent_store
from ..world.datasets import STORE, FrameDataset, episode_files, frame_files, load_episode, split_by_episode
from ..world.rollouts import collection, collection_data, input_spec
from . import release as releases
from .loop import check_split, fit


def vision_step(model: Vision, frames: torch.Tensor, step: int, generator: torch.Generator):
    """The training loop's loss step for any V: frames (B, 3, 64, 64) -> (loss, parts)."""
    return model.loss_step(frames, step, generator)


def _rollout_files(cfg: Config, latent: str) -> list[Path]:
    folder = paths.rollout_dir(cfg.collect.name)
    files = frame_files(folder)  # an encoder's collection may keep the frames of some episodes only
    if not files:
        raise FileNotFoundError(f"{folder}: no episodes with frames; run `python -m worldmodels collect --scale "
                                f"{cfg.scale}`")
    size, expected = input_spec(cfg.collect.name).frame_size, getattr(cfg, latent).frame_size
    if size != expected:
        raise ValueError(f"{folder} holds {size}x{size} frames but the {latent} expects {expected}; "
                         f"collect again with --frame-size {expected}")
    return files


def split(cfg: Config, latent: str) -> tuple[list[Path], list[Path]]:
    """Train and held-out episodes (split by episode, reproducible from the training seed)."""
    return split_by_episode(_rollout_files(cfg, latent), cfg.vae_training.validation_fraction, cfg.vae_training.seed)


def _meta(latent: str, cfg: Config, train_files: list[Path], val_files: list[Path]) -> dict[str, Any]:
    training = {k: v for k, v in to_dict(cfg.vae_training).items() if k != "epochs"}  # more epochs may resume
    spec = input_spec(cfg.collect.name)
    return {"kind": latent, "input_spec": to_dict(spec), "split": split_record(train_files, val_files),
            "config": {"model": to_dict(getattr(cfg, latent)), "training": training, "rollouts": cfg.collect.name}}


def split_record(train_files: list[Path], val_files: list[Path]) -> dict[str, Any]:
    """What a run records of its split (``loop.check_split``): the episode count and the held-out files' names."""
    return {"episodes": len(train_files) + len(val_files), "held_out": [Path(f).name for f in val_files]}


def run_dir(latent: str, cfg: Config, run: str | None = None) -> Path:
    """The training run's folder: data/runs/<latent>_<run>, by default data/runs/<latent>_<rollouts>."""
    return paths.vision_run(latent, run or cfg.collect.name)


def train(latent: str, cfg: Config, *, progress: bool = True, device: torch.device | None = None,
          run: str | None = None):
    """Train V of ``latent`` on ``data/rollouts/<cfg.collect.name>``, resuming a killed run in ``run_dir(latent, cfg,
    run)`` (another ``run`` name trains other settings on the same rollouts beside it).

    Returns:
        (model in eval mode, history: one dict per epoch).
    """
    train_files, val_files = split(cfg, latent)
    t = cfg.vae_training
    data = FrameDataset(train_files, shuffle=True, seed=t.seed, episodes_in_memory=t.episodes_in_memory)
    held_out = FrameDataset(val_files or train_files[:1], shuffle=False, episodes_in_memory=t.episodes_in_memory)

    def train_batches(epoch: int):
        data.set_epoch(epoch)
        return data.batches(t.batch_size)

    model = build_vision(latent, cfg, input_spec(cfg.collect.name))
    estimate = -(-len(train_files) * (cfg.collect.steps + 1) // t.batch_size)  # for the progress bar only
    if t.max_steps_per_epoch:
        estimate = min(estimate, t.max_steps_per_epoch)
    history = fit(model, vision_step, train_batches, lambda: held_out.batches(t.batch_size), t,
                  run_dir(latent, cfg, run), _meta(latent, cfg, train_files, val_files), device=device,
                  progress=progress, steps_per_epoch=estimate)
    return model.eval(), history


def train_or_load(latent: str, cfg: Config, *, train_now: bool, release_name: str = "book", progress: bool = True,
                  run: str | None = None):
    """What the notebooks do: train V (resuming, in ``run_dir(latent, cfg, run)``) when ``train_now``, else load the
    shipped release.

    Returns:
        (model in eval mode, its training history).
    """
    if train_now:
        return train(latent, cfg, progress=progress, run=run)
    path = paths.vision_release(latent, release_name)
    payload = checkpoint.load(path, kind=latent)
    return vision_from_payload(payload, path), payload["history"]


def release(latent: str, cfg: Config, name: str, *, command: str | None = None, force: bool = False,
            run: str | None = None) -> Path:
    """Ship the finished run of ``latent`` as ``checkpoints/<latent>/<name>.pt`` (fp16) with a JSON card.

    The card records the data, epochs, final losses and the reconstruction error on held-out episodes,
    measured with the fp16 weights that ship (and with the fp32 ones, to show the rounding costs nothing).
    """
    path = paths.vision_release(latent, name)
    releases.check_free(path, force)
    last = run_dir(latent, cfg, run) / "last.pt"
    run = checkpoint.load(last, kind=latent)
    model = vision_from_payload(run, last)
    train_files, val_files = split(cfg, latent)
    check_split(run.get("split"), split_record(train_files, val_files), last)
    fp32 = held_out_metrics(model, val_files)
    half = {k: v.half() if v.is_floating_point() else v for k, v in run["model"].items()}
    model.load_state_dict({k: v.float() for k, v in half.items()})
    fp16 = held_out_metrics(model, val_files)
    history = run["history"]
    card = releases.card(
        latent, name, config=run["config"],
        # how the rollouts were collected comes from their manifest, not from the preset this command ran with
        data={"rollouts": f"data/rollouts/{cfg.collect.name}", "held_out_episodes": len(val_files),
              "collection": collection(cfg.collect.name), "input_spec": run.get("input_spec")},
        training=training_summary(run),
        metrics={"held_out": fp16, "held_out_fp32_weights": fp32},
        parameters=sum(p.numel() for p in model.parameters()), command=command, weights="float16")
    payload = {"kind": latent, "model": half, "config": run["config"], "input_spec": run.get("input_spec"),
               "history": history}
    return releases.write(path, payload, card, force)


def training_summary(run: dict[str, Any]) -> dict[str, Any]:
    """What a card says of a training run: epochs, steps, seconds, the device it trained on, the last epoch."""
    history = run["history"]
    return {"epochs": run["epoch"], "steps": run["step"], "seconds": round(sum(r["seconds"] for r in history), 1),
            "device": history[-1].get("device", "unknown"), "final": history[-1]}


# -- measuring and encoding ---------------------------------------------------------
@torch.no_grad()
def held_out_metrics(model: Vision, files: list[Path], batch_size: int = 200) -> dict[str, float]:
    """Per-pixel mean squared error (frames in [0, 1]) of deterministic reconstructions, and the KL in nats."""
    sq, kl, n = 0.0, 0.0, 0
    for batch in FrameDataset(files, shuffle=False).batches(batch_size):
        x = batch.to(model.device)
        posterior = model.posterior(x)
        out = model.decode(model.code(posterior))
        sq += float((out - x).pow(2).mean(dim=(1, 2, 3)).sum())
        kl += float(model.kl(posterior).sum())
        n += len(x)
    return {"frames": n, "mse_per_pixel": round(sq / max(n, 1), 6), "kl_nats": round(kl / max(n, 1), 3)}


STORE_ABOVE = 2 * 2**30
"""bytes of float32 posteriors above which ``encode`` writes the memory-mapped store (float16, one episode in memory
at a time) rather than one npz built in memory: 2,500 episodes of 1,000 steps of 32 x 64 logits are 20 GB"""


def encode(model: Vision, rollouts: str, progress: bool = True, source: str = "") -> Path:
    """Encode every episode of ``data/rollouts/<rollouts>`` into ``data/latents/<rollouts>_<latent>.npz``.

    A collection encoded as collected (``collect --encoder``) goes into the memory-mapped store
    ``data/latents/<rollouts>_<latent>/`` instead (``latent_store``): its stored posteriors when ``source`` is the V
    that encoded it; else this V's posteriors of the episodes that kept their frames (``--frames-every``), saying
    how many of the collection's they are (M's card records the count it learnt from). So does any collection whose
    posteriors would pass ``STORE_ABOVE`` bytes as float32, or that has such a store already (it is replaced, so no
    other V's latents are left where ``paths.latents_path`` looks first).

    Episodes are padded to the longest; ``length`` (E,) gives each one's number of steps T::

        the posterior's arrays float32 (E, T + 1, ...): mu, logvar (E, T + 1, Z) | logits (E, T + 1, N, K)
        action float32 (E, T, 3), reward float32 (E, T), length int64 (E,), seed int64 (E,)
        terminated bool (E, T)   the env ended the episode (left the playfield, or the lap done); a time-limit
                                 truncation is not an end M could predict, so it is not marked
        source str ()   the V checkpoint that encoded them (``""`` if not given)
    """
    files = episode_files(paths.rollout_dir(rollouts))
    if not files:
        raise FileNotFoundError(f"{paths.rollout_dir(rollouts)}: no episodes to encode; run collect first")
    record = encoded_as_collected(rollouts)

    def this_v(f: Path, frames: np.ndarray) -> dict[str, np.ndarray]:
        return _encoded(model, f, frames, source)

    if record:
        if _digest(source) == record["encoder_sha256"]:
            return _pack(model, rollouts, files, source, progress)
        return _pack(model, rollouts, _frames_for_another_v(model, rollouts, record, files, source, progress), source,
                     progress, encode=this_v)
    if paths.latents_store(model.latent, rollouts).is_dir() or _posterior_bytes(model, files) > STORE_ABOVE:
        return _pack(model, rollouts, files, source, progress, encode=this_v)
    episodes = []
    iterator = files
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(files, desc=f"encode {model.latent}", unit="episode")
    start = time.perf_counter()
    for f in iterator:
        ep = load_episode(f)
        episodes.append((ep, _encoded(model, f, ep.pop("obs"), source)))
    longest = max(len(ep["action"]) for ep, _ in episodes)
    E = len(episodes)
    out: dict[str, np.ndarray] = {}
    for key, value in episodes[0][1].items():
        out[key] = np.zeros((E, longest + 1, *value.shape[1:]), np.float32)
    out["action"] = np.zeros((E, longest, 3), np.float32)
    out["reward"] = np.zeros((E, longest), np.float32)
    out["terminated"] = np.zeros((E, longest), bool)
    out["length"] = np.zeros(E, np.int64)
    out["seed"] = np.zeros(E, np.int64)
    out["source"] = np.array(str(source))
    for i, (ep, latent) in enumerate(episodes):
        T = len(ep["action"])
        for key, value in latent.items():
            out[key][i, : T + 1] = value
        out["action"][i, :T] = ep["action"]
        out["reward"][i, :T] = ep["reward"]
        out["terminated"][i, :T] = ep["terminated"]
        out["length"][i] = T
        out["seed"][i] = ep["seed"]
    path = save_npz(paths.latents_path(model.latent, rollouts), **out)
    if progress:
        print(f"encoded {E} episodes in {time.perf_counter() - start:.1f} s -> {path}")
    return path


def encoded_as_collected(rollouts: str) -> dict[str, Any] | None:
    """The encoder record of ``data/rollouts/<rollouts>`` (``encoder``, ``encoder_sha256``...) if it was collected
    with ``--encoder``, else None."""
    data = collection_data(rollouts)
    return data if data.get("encoder") else None


def _posterior_bytes(model: Vision, files: list[Path]) -> int:
    """The bytes ``model``'s float32 posteriors of every step (and first frame) of ``files`` would take."""
    first = load_episode(files[0])["obs"][:1]
    per_frame = sum(4 * v[0].size for v in model.encode_frames(first).values())
    frames = 0
    for f in files:
        with load_npz(f) as npz:
            frames += len(npz["reward"]) + 1
    return per_frame * frames


def _digest(source: str) -> str:
    """The SHA-256 of the V file ``source``, or "" when it names no file."""
    return sha256(resolve(source)) if source and resolve(source).is_file() else ""


def _encoded(model: Vision, f: Path, frames: np.ndarray, source: str) -> dict[str, np.ndarray]:
    """V's posterior of one episode's frames (T + 1, 64, 64, 3), refused when it is not finite."""
    latent = model.encode_frames(frames)
    broken = [k for k, v in latent.items() if not np.all(np.isfinite(v))]
    if broken:
        raise FloatingPointError(f"{source or 'V'}: encoding {f} gave non-finite {broken}; nothing was written. "
                                 f"The V is broken (NaN weights?): retrain it or take a release")
    return latent


def _frames_for_another_v(model: Vision, rollouts: str, record: dict[str, Any], files: list[Path], source: str,
                          progress: bool) -> list[Path]:
    """The episodes of a collection encoded as collected that a V other than its encoder can encode: those that kept
    their frames. Refused where the store it would write is the encoder's (a V of the same kind)."""
    store = paths.latents_store(model.latent, rollouts)
    if (store / STORE).is_file() and load_json(store / STORE).get("source_sha256") == record["encoder_sha256"]:
        raise ValueError(f"data/rollouts/{rollouts} was encoded as collected by {record['encoder']} (SHA-256 "
                         f"{record['encoder_sha256'][:12]}...), whose latents are the {model.latent} latents of these "
                         f"rollouts ({store}); {source or 'an unnamed V'} of the same kind cannot replace them: encode "
                         f"with --checkpoint {record['encoder']}, or collect again with --encoder "
                         f"{source or '<V file>'} (the same seeds drive the same episodes)")
    kept = frame_files(paths.rollout_dir(rollouts))
    if not kept:
        raise FileNotFoundError(f"data/rollouts/{rollouts}: no episode kept its frames (collected with --frames-every "
                                f"0), so only {record['encoder']}, which encoded it, has its latents")
    if progress:
        print(f"data/rollouts/{rollouts} was encoded as collected by {record['encoder']}: {source or 'this V'} encodes "
              f"the {len(kept):,} of its {len(files):,} episodes that kept their frames")
    return kept


def _pack(model: Vision, rollouts: str, files: list[Path], source: str, progress: bool,
          encode: Callable[[Path, np.ndarray], dict[str, np.ndarray]] | None = None) -> Path:
    """Into ``paths.latents_store`` (memory-mapped): the latents a collection stored as it went (only the V that
    encoded them may claim them; ``encode`` checks), or, with ``encode``, another V's of the episodes ``files``."""
    start = time.perf_counter()
    path = latent_store.pack(files, paths.latents_store(model.latent, rollouts), source=portable(resolve(source)),
                             source_sha256=_digest(source), encode=encode)
    if progress:
        print(f"{'encoded' if encode else 'packed'} the latents of {len(files)} episodes in "
              f"{time.perf_counter() - start:.1f} s -> {path}")
    return path


def latents_for(model: Vision, rollouts: str, source: str, progress: bool = True) -> Path:
    """The latents file of ``rollouts`` encoded by the V at ``source``: reused if it exists and was
    made by that checkpoint (in the current format), (re-)encoded otherwise."""
    record = encoded_as_collected(rollouts)
    store = paths.latents_store(model.latent, rollouts)
    if record or store.is_dir():  # a store: the encoder's latents of every episode, another V's of those that kept
        # their frames, or posteriors over ``STORE_ABOVE``
        digest = _digest(str(source))
        stored = load_json(store / STORE) if (store / STORE).is_file() else {}
        folder = paths.rollout_dir(rollouts)
        kept_frames_only = record and digest != record["encoder_sha256"]
        episodes = len(frame_files(folder) if kept_frames_only else episode_files(folder))
        if digest and stored.get("source_sha256") == digest and stored.get("episodes") == episodes:
            return store
        return encode(model, rollouts, progress=progress, source=str(source))
    path = paths.latents_path(model.latent, rollouts)
    if path.exists():
        try:
            with load_npz(path) as npz:
                if {"source", "terminated"} <= set(npz.files) and str(npz["source"]) == str(source):
                    return path
        except (OSError, ValueError):
            pass  # unreadable: encode again
    return encode(model, rollouts, progress=progress, source=str(source))

"""V end to end: build, train (through ``train.fit``), release, load and encode, for both kinds.

kinds
    ``vae``     the paper's Gaussian ConvVAE (``worldmodels.vae``)
    ``gumbel``  the Gumbel-softmax VAE (``worldmodels.gumbel_vae``)

Files::

    data/runs/<kind>_<rollouts>/last.pt, history.csv     training runs (resumable)
    checkpoints/<kind>/<release>.pt + .json              shipped releases (fp16 weights) and cards
    data/latents/<rollouts>_<kind>.npz                   encoded rollouts for the MDN-RNN
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint, paths
from .config import Config, from_dict, to_dict
from .data import FrameDataset, episode_files, frames_to_tensor, load_episode, split_by_episode, tensor_to_frames
from .gumbel_vae import GumbelVAE, gumbel_step, hard_code
from .rollouts import MANIFEST, collection, versions
from .storage import save_json, save_npz
from .train import default_device, fit
from .vae import ConvVAE, vae_step

KINDS = ("vae", "gumbel")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: expected one of {KINDS}")


def model_config(cfg: Config, kind: str):
    _check_kind(kind)
    return cfg.vae if kind == "vae" else cfg.gumbel


def build(kind: str, cfg: Config) -> torch.nn.Module:
    """A freshly initialised V of ``kind`` (seeded by ``cfg.vae_training.seed``)."""
    torch.manual_seed(cfg.vae_training.seed)
    return ConvVAE(cfg.vae) if kind == "vae" else GumbelVAE(model_config(cfg, kind))


def loss_step(kind: str):
    """The ``(model, frames, step) -> (loss, parts)`` function of ``kind``."""
    _check_kind(kind)
    return vae_step if kind == "vae" else gumbel_step


def run_dir(kind: str, cfg: Config) -> Path:
    return paths.data_dir() / "runs" / f"{kind}_{cfg.collect.name}"


def _rollout_files(cfg: Config, kind: str) -> list[Path]:
    folder = paths.rollout_dir(cfg.collect.name)
    files = episode_files(folder)
    if not files:
        raise FileNotFoundError(f"{folder}: no episodes; run `python -m worldmodels collect --scale {cfg.scale}`")
    manifest = folder / MANIFEST
    if manifest.exists():
        size = json.loads(manifest.read_text())["data"]["frame_size"]
        if size != model_config(cfg, kind).frame_size:
            raise ValueError(f"{folder} holds {size}x{size} frames but the {kind} expects "
                             f"{model_config(cfg, kind).frame_size}; collect again with --frame-size 64")
    return files


def split(cfg: Config, kind: str) -> tuple[list[Path], list[Path]]:
    """Train and held-out episodes (split by episode, reproducible from the training seed)."""
    return split_by_episode(_rollout_files(cfg, kind), cfg.vae_training.validation_fraction, cfg.vae_training.seed)


def _meta(kind: str, cfg: Config) -> dict[str, Any]:
    training = {k: v for k, v in to_dict(cfg.vae_training).items() if k != "epochs"}  # more epochs may resume
    return {"kind": kind, "config": {"model": to_dict(model_config(cfg, kind)), "training": training,
                                     "rollouts": cfg.collect.name}}


def train(kind: str, cfg: Config, progress: bool = True, device: torch.device | None = None):
    """Train V of ``kind`` on ``data/rollouts/<cfg.collect.name>``, resuming a killed run.

    Returns:
        (model in eval mode, history: one dict per epoch).
    """
    train_files, val_files = split(cfg, kind)
    t = cfg.vae_training
    data = FrameDataset(train_files, shuffle=True, seed=t.seed, episodes_in_memory=t.episodes_in_memory)
    held_out = FrameDataset(val_files or train_files[:1], shuffle=False, episodes_in_memory=t.episodes_in_memory)

    def train_batches(epoch: int):
        data.set_epoch(epoch)
        return data.batches(t.batch_size)

    model = build(kind, cfg)
    estimate = -(-len(train_files) * (cfg.collect.steps + 1) // t.batch_size)  # for the progress bar only
    if t.max_steps_per_epoch:
        estimate = min(estimate, t.max_steps_per_epoch)
    history = fit(model, loss_step(kind), train_batches, lambda: held_out.batches(t.batch_size), t,
                  run_dir(kind, cfg), _meta(kind, cfg), device=device, progress=progress, steps_per_epoch=estimate)
    return model.eval(), history


def train_or_load(kind: str, cfg: Config, train_now: bool, release_name: str = "book", progress: bool = True):
    """What the notebooks do: train V (resuming) when ``train_now``, else load the shipped release.

    Returns:
        (model in eval mode, its training history).
    """
    if train_now:
        return train(kind, cfg, progress=progress)
    path = release_path(kind, release_name)
    return load(path, kind=kind), checkpoint.load(path, kind=kind)["history"]


# -- releases -----------------------------------------------------------------------
def release_path(kind: str, name: str) -> Path:
    return paths.checkpoint_dir() / kind / f"{name}.pt"


def release(kind: str, cfg: Config, name: str, command: str | None = None) -> Path:
    """Ship the finished run of ``kind`` as ``checkpoints/<kind>/<name>.pt`` (fp16) with a JSON card.

    The card records the data, epochs, final losses and the reconstruction error on held-out
    episodes, measured with the fp16 weights that ship (and with the fp32 ones, to show the
    rounding costs nothing).
    """
    run = checkpoint.load(run_dir(kind, cfg) / "last.pt", kind=kind)
    model = build(kind, cfg)
    model.load_state_dict(run["model"])
    _, val_files = split(cfg, kind)
    fp32 = held_out_metrics(model.eval(), val_files)
    half = {k: v.half() if v.is_floating_point() else v for k, v in run["model"].items()}
    model.load_state_dict({k: v.float() for k, v in half.items()})
    fp16 = held_out_metrics(model, val_files)
    path = release_path(kind, name)
    history = run["history"]
    card = {
        "kind": kind,
        "release": name,
        "config": to_dict(cfg),
        # how the rollouts were collected comes from their manifest, not from the preset this command ran with
        "data": {"rollouts": f"data/rollouts/{cfg.collect.name}", "held_out_episodes": len(val_files),
                 "collection": collection(cfg.collect.name)},
        "training": {"epochs": run["epoch"], "steps": run["step"],
                     "seconds": round(sum(r["seconds"] for r in history), 1),
                     "device": str(default_device()), "final": history[-1]},
        "metrics": {"held_out": fp16, "held_out_fp32_weights": fp32},
        "parameters": sum(p.numel() for p in model.parameters()),
        "command": command or " ".join(["python -m worldmodels"] + sys.argv[1:]),
        "versions": versions(),
        "weights": "float16",
    }
    checkpoint.save(path, {"kind": kind, "model": half, "config": to_dict(cfg), "history": history, "card": card})
    save_json(path.with_suffix(".json"), card)
    return path


def load(path: str | Path, kind: str | None = None, device: torch.device | str = "cpu") -> torch.nn.Module:
    """A V model from a run (``last.pt``) or a release (``checkpoints/<kind>/<name>.pt``), float32, eval mode."""
    payload = checkpoint.load(path, kind=kind)
    kind = payload["kind"]
    _check_kind(kind)
    config = payload["config"]
    if "model" in config and "training" in config:  # a training run stores only its sections
        section = config["model"]
        cfg = from_dict({kind if kind == "vae" else "gumbel": section})
    else:
        cfg = from_dict(config)
    model = ConvVAE(cfg.vae) if kind == "vae" else GumbelVAE(cfg.gumbel)
    try:
        model.load_state_dict({k: v.float() for k, v in payload["model"].items()})
    except RuntimeError as e:
        raise checkpoint.CheckpointError(f"{path}: weights do not fit a {kind} built from its config: {e}") from e
    return model.to(device).eval()


# -- measuring and encoding ---------------------------------------------------------
@torch.no_grad()
def reconstruct(model: torch.nn.Module, frames: np.ndarray) -> np.ndarray:
    """uint8 (B, 64, 64, 3) -> deterministic reconstructions uint8 (B, 64, 64, 3).

    The VAE decodes its mean mu; the Gumbel VAE decodes its hard (argmax) code, as when acting.
    """
    device = next(model.parameters()).device
    x = frames_to_tensor(frames).to(device)
    if isinstance(model, ConvVAE):
        out = model.decode(model.encode(x)[0])
    else:
        out = model.decode(hard_code(model.encode(x)))
    return tensor_to_frames(out)


@torch.no_grad()
def held_out_metrics(model: torch.nn.Module, files: list[Path], batch_size: int = 200) -> dict[str, float]:
    """Per-pixel mean squared error (frames in [0, 1]) of deterministic reconstructions, and the KL in nats."""
    from .gumbel_vae import categorical_kl_to_uniform
    from .vae import gaussian_kl

    device = next(model.parameters()).device
    sq, kl, n = 0.0, 0.0, 0
    for batch in FrameDataset(files, shuffle=False).batches(batch_size):
        x = batch.to(device)
        if isinstance(model, ConvVAE):
            mu, logvar = model.encode(x)
            out, kl_b = model.decode(mu), gaussian_kl(mu, logvar)
        else:
            logits = model.encode(x)
            out, kl_b = model.decode(hard_code(logits)), categorical_kl_to_uniform(logits)
        sq += float((out - x).pow(2).mean(dim=(1, 2, 3)).sum())
        kl += float(kl_b.sum())
        n += len(x)
    return {"frames": n, "mse_per_pixel": round(sq / max(n, 1), 6), "kl_nats": round(kl / max(n, 1), 3)}


@torch.no_grad()
def encode_frames(model: torch.nn.Module, frames: np.ndarray, batch_size: int = 500) -> dict[str, np.ndarray]:
    """uint8 (T, 64, 64, 3) -> {"mu", "logvar"} (T, Z) for the VAE, {"logits"} (T, N, K) for the Gumbel VAE."""
    device = next(model.parameters()).device
    outputs: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(frames), batch_size):
        x = frames_to_tensor(frames[start : start + batch_size]).to(device)
        if isinstance(model, ConvVAE):
            mu, logvar = model.encode(x)
            parts = {"mu": mu, "logvar": logvar}
        else:
            parts = {"logits": model.encode(x)}
        for k, v in parts.items():
            outputs.setdefault(k, []).append(v.float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in outputs.items()}


@torch.no_grad()
def sample_prior(model: torch.nn.Module, n: int, seed: int = 0) -> np.ndarray:
    """Decode n codes drawn from the prior (N(0, I), or uniform classes): uint8 (n, 64, 64, 3)."""
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    if isinstance(model, ConvVAE):
        code = torch.randn(n, model.cfg.z_size, generator=g)
    else:
        N, K = model.cfg.num_vars, model.cfg.num_classes
        code = torch.nn.functional.one_hot(torch.randint(K, (n, N), generator=g), K).float()
    return tensor_to_frames(model.decode(code.to(device)))


@torch.no_grad()
def traverse(model: ConvVAE, frame: np.ndarray, dims: list[int], values: list[float]) -> np.ndarray:
    """Set z[d] to each value, keeping the frame's other mu entries: uint8 (len(dims), len(values), 64, 64, 3)."""
    device = next(model.parameters()).device
    mu, _ = model.encode(frames_to_tensor(frame[None]).to(device))
    z = mu.repeat(len(dims) * len(values), 1).reshape(len(dims), len(values), -1)  # (R, C, Z)
    for r, d in enumerate(dims):
        z[r, :, d] = torch.tensor(values, dtype=z.dtype)
    decoded = model.decode(z.reshape(len(dims) * len(values), -1))
    return tensor_to_frames(decoded).reshape(len(dims), len(values), *decoded.shape[2:], 3)


@torch.no_grad()
def category_sweep(model: GumbelVAE, frame: np.ndarray, variables: list[int], classes: list[int]) -> np.ndarray:
    """Set variable v to class k, keeping the frame's other hard classes: uint8 (len(variables), len(classes), 64, 64, 3).

    The discrete counterpart of ``traverse``: what each class of a variable draws.
    """
    device = next(model.parameters()).device
    code = hard_code(model.encode(frames_to_tensor(frame[None]).to(device)))  # (1, N, K)
    K = code.shape[-1]
    codes = code.repeat(len(variables) * len(classes), 1, 1).reshape(len(variables), len(classes), -1, K)
    for r, v in enumerate(variables):
        codes[r, :, v] = torch.nn.functional.one_hot(torch.tensor(classes), K).to(codes.dtype)
    decoded = model.decode(codes.reshape(len(variables) * len(classes), -1, K))  # (R * C, 3, 64, 64)
    return tensor_to_frames(decoded).reshape(len(variables), len(classes), *decoded.shape[2:], 3)


@torch.no_grad()
def gumbel_details(model: GumbelVAE, frame: np.ndarray, tau: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Everything seed 004 plots for one frame: logits, softmax, Gumbel sample, hard sample (N, K) and
    the reconstruction from the hard code, uint8 (64, 64, 3)."""
    from .gumbel_vae import gumbel_softmax

    device = next(model.parameters()).device
    logits = model.encode(frames_to_tensor(frame[None]).to(device))  # (1, N, K)
    sample = gumbel_softmax(logits, tau, generator=torch.Generator(device=device).manual_seed(seed))
    hard = hard_code(logits)
    return {"logits": logits[0].cpu().numpy(), "softmax": logits[0].softmax(-1).cpu().numpy(),
            "sample": sample[0].cpu().numpy(), "hard": hard[0].cpu().numpy(),
            "reconstruction": tensor_to_frames(model.decode(hard))[0]}


def latents_path(kind: str, rollouts: str) -> Path:
    return paths.data_dir() / "latents" / f"{rollouts}_{kind}.npz"


def encode(model: torch.nn.Module, kind: str, rollouts: str, progress: bool = True, source: str = "") -> Path:
    """Encode every episode of ``data/rollouts/<rollouts>`` into ``data/latents/<rollouts>_<kind>.npz``.

    Episodes are padded to the longest; ``length`` (E,) gives each one's number of steps T::

        mu, logvar float32 (E, T + 1, Z)  |  logits float32 (E, T + 1, N, K)
        action float32 (E, T, 3), reward float32 (E, T), done bool (E, T), length int64 (E,), seed int64 (E,)
        source str ()   the V checkpoint that encoded them (``""`` if not given)
    """
    files = episode_files(paths.rollout_dir(rollouts))
    if not files:
        raise FileNotFoundError(f"{paths.rollout_dir(rollouts)}: no episodes to encode; run collect first")
    episodes = []
    iterator = files
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(files, desc=f"encode {kind}", unit="episode")
    start = time.perf_counter()
    for f in iterator:
        ep = load_episode(f)
        episodes.append((ep, encode_frames(model, ep["obs"])))
    longest = max(len(ep["action"]) for ep, _ in episodes)
    E = len(episodes)
    out: dict[str, np.ndarray] = {}
    for key, value in episodes[0][1].items():
        out[key] = np.zeros((E, longest + 1, *value.shape[1:]), np.float32)
    out["action"] = np.zeros((E, longest, 3), np.float32)
    out["reward"] = np.zeros((E, longest), np.float32)
    out["done"] = np.zeros((E, longest), bool)
    out["length"] = np.zeros(E, np.int64)
    out["seed"] = np.zeros(E, np.int64)
    out["source"] = np.array(str(source))
    for i, (ep, latent) in enumerate(episodes):
        T = len(ep["action"])
        for key, value in latent.items():
            out[key][i, : T + 1] = value
        out["action"][i, :T] = ep["action"]
        out["reward"][i, :T] = ep["reward"]
        out["done"][i, :T] = ep["terminated"] | ep["truncated"]
        out["length"][i] = T
        out["seed"][i] = ep["seed"]
    path = save_npz(latents_path(kind, rollouts), **out)
    if progress:
        print(f"encoded {E} episodes in {time.perf_counter() - start:.1f} s -> {path}")
    return path


def latents_for(model: torch.nn.Module, kind: str, rollouts: str, source: str, progress: bool = True) -> Path:
    """The latents file of ``rollouts`` encoded by the V at ``source``: reused if it exists and was
    made by that checkpoint, (re-)encoded otherwise."""
    path = latents_path(kind, rollouts)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as npz:
                if "source" in npz.files and str(npz["source"]) == str(source):
                    return path
        except (OSError, ValueError):
            pass  # unreadable: encode again
    return encode(model, kind, rollouts, progress=progress, source=str(source))


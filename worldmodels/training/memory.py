"""M end to end: train the MDN-RNN on encoded rollouts (through ``loop.fit``), release it, measure it.

Files (``worldmodels.core.paths``)::

    data/latents/<rollouts>_<latent>.npz                      from ``training.vision.encode`` (latent: vae | gumbel)
    data/runs/mdnrnn_<latent>_<rollouts>/last.pt, history.csv  training runs (resumable)
    checkpoints/mdnrnn/<latent>_<release>.pt + .json          shipped releases and cards
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core import checkpoint, paths
from ..core.config import Config, MDNRNNConfig, from_dict, to_dict
from ..core.provenance import changed_inputs, digest, portable, resolve, sha256
from ..core.validation import check_name
from ..models.mdnrnn import (
    MDNRNN,
    TRAINING_ONLY,
    check_code_shape,
    code_shape_of,
    load,
    mdnrnn_from_payload,
    mdnrnn_loss,
)
from ..models.registry import codes_at, latents_class
from ..world.datasets import LatentSequences, merge_latents, split_by_episode
from ..world.rollouts import collection
from . import release as releases
from .loop import check_split, evaluate, fit
from .vision import training_summary


def model_config(cfg: Config, latent: str, latents: dict[str, np.ndarray]) -> tuple[MDNRNNConfig, tuple[int, ...]]:
    """The M config for ``latent``, and the shape of one code, (Z,) or (N, K), read from the latents file."""
    return (dataclasses.replace(cfg.mdnrnn, latent=latent),
            check_code_shape(latent, tuple(codes_at(latents, [0]).shape[1:])))


def mdnrnn_step(model: MDNRNN, batch: dict[str, torch.Tensor], step: int, generator: torch.Generator | None = None):
    """One loss evaluation for the training loop: a batch of ``LatentSequences`` windows -> (loss, parts).
    In training mode an M with ``dropout`` draws one mask pair per sequence (from torch's seeded global RNG)."""
    masks = model.dropout_masks(len(batch["action"]), model.cfg.dropout) if model.training else None
    out, _ = model(batch["latent"], batch["action"], masks=masks)
    out = with_transition_reward(model, out, batch)
    return mdnrnn_loss(model, out, batch["target"], batch["reward"], batch["done"], batch["mask"],
                       reward_overestimate=model.cfg.reward_overestimate if model.training else 1.0)


def with_transition_reward(model: MDNRNN, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict:
    """``out`` with ``reward`` (B, L) from a transition head, which reads the real step latent -> next latent."""
    if model.reward is None or model.cfg.reward_input != "transition":
        return out
    return {**out, "reward": model.transition_reward(batch["latent"], model.targets_as_inputs(batch["target"]))}


def split(cfg: Config, latents: dict[str, np.ndarray]) -> tuple[list[int], list[int]]:
    """Train and held-out episode indices of a latents file (by episode, reproducible)."""
    t = cfg.mdnrnn_training
    return split_by_episode(list(range(len(latents["length"]))), t.validation_fraction, t.seed)


Mix = tuple[tuple[str, int], ...]
"""the rollout folders M learns from and the weight of each (its episodes count that many times an epoch)"""


def mix_of(rollouts: str | None, extra: Sequence[str] = ()) -> Mix:
    """``rollouts`` (weight 1; None: none) and further folders, each ``NAME`` or ``NAME:K`` (K a whole number, at
    least 1)."""
    parts = [(rollouts, 1)] if rollouts else []
    for item in extra:
        name, _, weight = item.partition(":")
        if not name or (weight and (not weight.isdigit() or int(weight) < 1)):
            raise ValueError(f"--mix {item!r}: expected NAME or NAME:K with K a whole number of at least 1")
        check_name(name, f"--mix {item!r}: the folder name")
        parts.append((name, int(weight or 1)))
    if len({name for name, _ in parts}) < len(parts):
        raise ValueError(f"--mix names a rollout folder twice: {[name for name, _ in parts]}")
    return tuple(parts)


def data(latent: str, cfg: Config, mix: Mix) -> tuple[dict[str, np.ndarray], list[int], list[int], list[str]]:
    """M's data: the latents of every folder of ``mix`` as one, training episodes (repeated by weight),
    held-out episodes (split by episode within each folder, reproducibly), and the latents files read."""
    files = [paths.latents_path(latent, name) for name, _ in mix]
    parts = [LatentSequences.load(f) for f in files]
    latents = merge_latents(parts)
    train_eps, val_eps, offset = [], [], 0
    for part, (_, weight) in zip(parts, mix, strict=True):
        train, val = split(cfg, part)
        train_eps += [offset + e for e in train] * weight
        val_eps += [offset + e for e in val]
        offset += len(part["length"])
    return latents, train_eps, val_eps, [str(f.relative_to(paths.root())) for f in files]


def split_record(latents: dict[str, np.ndarray], val_eps: list[int]) -> dict[str, Any]:
    """What a run records of its split (``loop.check_split``): the episode count and the held-out episodes."""
    return {"episodes": len(latents["length"]), "held_out": [int(e) for e in val_eps]}


def mix_of_run(path: str | Path) -> Mix:
    """The mix a training run (its ``last.pt``) learnt from, as its config records it."""
    config = checkpoint.load(path, kind="mdnrnn")["config"]
    if isinstance(config, dict) and "latents" not in config and isinstance(config.get("collect"), dict) \
            and isinstance(config["collect"].get("name"), str):
        # the first releases recorded the whole Config: M learnt from its collection alone
        return ((check_name(config["collect"]["name"], f"{path}: the rollout folder"), 1),)
    files = config.get("latents") if isinstance(config, dict) else None
    files = [files] if isinstance(files, str) else files
    weights = config.get("weights") or [1] * len(files or ()) if isinstance(config, dict) else None
    if not files or not isinstance(files, list) or not isinstance(weights, list) or len(weights) != len(files) \
            or not all(isinstance(f, str) for f in files) or not all(isinstance(w, int) and w >= 1 for w in weights):
        raise ValueError(f"{path}: an M file whose config does not record the latents it learnt from (a "
                         f"'latents' list and their 'weights'); pass the data with --mix NAME[:K]")
    return tuple((check_name(Path(f).stem.rsplit("_", 1)[0], f"{path}: the rollout folder"), w)
                 for f, w in zip(files, weights, strict=True))


def run_dir(latent: str, cfg: Config, run: str | None = None, *, mix: Mix | None = None) -> Path:
    """``data/runs/mdnrnn_<latent>_<rollouts>[+<more rollouts>...]`` of ``mix`` (default: ``cfg.collect.name``
    alone), or ``mdnrnn_<latent>_<run>`` when named."""
    return paths.mdnrnn_run(latent, run or "+".join(name for name, _ in mix or mix_of(cfg.collect.name)))


def _encoded_by(latents: dict[str, np.ndarray]) -> str:
    return str(latents["source"]) if "source" in latents else ""


def train(latent: str, cfg: Config, *, progress: bool = True, device: torch.device | None = None,
          run: str | None = None, mix: Mix | None = None, init: str | Path | None = None):
    """Train M on the latents of ``mix`` (default: ``cfg.collect.name`` alone), resuming a killed run.

    Args:
        mix: rollout folders and their weights (``mix_of``); each must be encoded by the same V.
        init: start from this M's weights (fine-tuning) instead of a fresh initialisation.
        run: the run folder's name (default: the folders of ``mix`` joined by ``+``).

    Returns:
        (model in eval mode, history).
    """
    mix = mix or mix_of(cfg.collect.name)
    latents, train_eps, val_eps, files = data(latent, cfg, mix)
    made_by = latents_class(latents, files[0])
    mcfg, code_shape = model_config(cfg, latent, latents)
    t = cfg.mdnrnn_training
    train_set = LatentSequences(latents, made_by, train_eps, cfg.sequence_length, seed=t.seed,
                                episodes_in_memory=t.episodes_in_memory)
    held_out = LatentSequences(latents, made_by, val_eps or train_eps[:1], cfg.sequence_length, seed=t.seed,
                               episodes_in_memory=t.episodes_in_memory)
    torch.manual_seed(t.seed)
    model = MDNRNN(mcfg, code_shape)
    if init:
        start = load(resolve(init))
        if dataclasses.replace(start.cfg, **{k: getattr(mcfg, k) for k in (*TRAINING_ONLY, "reward_input")}) != mcfg \
                or start.code_shape != code_shape:
            raise ValueError(f"--init {init}: an M of {start.cfg} on codes of shape {start.code_shape}, but these "
                             f"latents need {mcfg} on codes of shape {code_shape}")
        weights = start.state_dict()
        if start.cfg.reward_input != mcfg.reward_input:  # another kind of reward head: the new one starts fresh
            weights = {k: v for k, v in weights.items() if not k.startswith("reward.")}
            weights.update({k: v for k, v in model.state_dict().items() if k.startswith("reward.")})
        model.load_state_dict(weights)
    meta = {"kind": "mdnrnn", "config": {"model": to_dict(mcfg), "code_shape": list(code_shape),
                                         "sequence_length": cfg.sequence_length,
                                         "training": {k: v for k, v in to_dict(t).items() if k != "epochs"},
                                         "latents": files, "weights": [w for _, w in mix],
                                         "init": {"path": portable(resolve(init)), "sha256": sha256(resolve(init))}
                                         if init else None,
                                         # latents re-encoded by another V must not resume this run
                                         "encoded_by": _encoded_by(latents),
                                         # nor a run whose done head learnt other ends (time limits, finished laps)
                                         "done_labels": "left_playfield"}}
    meta["split"] = split_record(latents, val_eps)
    meta["inputs"] = {f: digest(resolve(f)) for f in files}  # pinned: a release refuses latents that changed since
    last = run_dir(latent, cfg, run, mix=mix) / "last.pt"
    if last.exists():  # a run begun before an MDNRNNConfig field was added recorded it implicitly, as its default
        recorded = checkpoint.load(last, kind="mdnrnn")["config"]
        # ... and one begun before the code shape was recorded beside the model's config, in it
        as_now = {**recorded, "model": to_dict(from_dict({"mdnrnn": recorded["model"]}).mdnrnn),
                  "code_shape": list(code_shape_of(recorded, recorded["model"]))}
        if as_now == meta["config"]:
            meta["config"] = recorded
    history = fit(model, mdnrnn_step, lambda epoch: train_set.batches(t.batch_size, epoch),
                  lambda: held_out.batches(t.batch_size, 0, shuffle=False), t, run_dir(latent, cfg, run, mix=mix), meta,
                  device=device, progress=progress)
    return model.eval(), history


def train_or_load(latent: str, cfg: Config, *, train_now: bool, release_name: str = "book", progress: bool = True,
                  run: str | None = None):
    """What the notebooks do: train M (resuming, in ``run_dir(latent, cfg, run)``) when ``train_now``, else load the
    shipped release.

    Returns:
        (model in eval mode, its training history).
    """
    if train_now:
        return train(latent, cfg, progress=progress, run=run)
    path = paths.mdnrnn_release(latent, release_name)
    payload = checkpoint.load(path, kind="mdnrnn")
    return mdnrnn_from_payload(payload, path), payload["history"]


@torch.no_grad()
def predict_next(model: MDNRNN, latents: dict[str, np.ndarray], episode: int) -> torch.Tensor:
    """M's most likely next latent at every step of a real episode (teacher forcing on the real codes).

    Returns:
        (T, Z): the mean of each dimension's most likely component, or (T, N, K) one-hot argmax codes;
        entry t predicts the latent of step t + 1.
    """
    T = int(latents["length"][episode])
    real = torch.stack([codes_at(latents, [episode], t)[0] for t in range(T)])  # (T, ...)
    action = torch.from_numpy(latents["action"][episode, :T].astype(np.float32))
    device = next(model.parameters()).device
    out, _ = model(real[None].to(device), action[None].to(device))
    return model.head.mode(out)[0].float().cpu()


TILE_REWARD = 1.0  # a step that visits a new tile earns about 1000/N - 0.1 (3 or so); others -0.1 or less


@torch.no_grad()
def held_out_metrics(model: MDNRNN, latents: dict[str, np.ndarray], episodes: list[int], seq_len: int) -> dict:
    """Loss parts on held-out episodes (z sampled once, seed 0), and how well reward and done are predicted.

    - ``reward_r2``: 1 - MSE / variance of the true rewards (0: no better than predicting the mean).
    - ``tile_accuracy``, ``tile_recall``: a step counts as a new-tile step when its reward exceeds 1.0;
      accuracy of the predicted reward on that, and the share of true tile steps found.
    - ``done_accuracy``: sigmoid(done_logit) > 0.5 against the truth; ``done_recall``: share of true
      episode ends predicted (None when the held-out episodes never end, as with 300-step rollouts).
    """
    device = next(model.parameters()).device
    data = LatentSequences(latents, latents_class(latents), episodes, seq_len, seed=0)
    parts = evaluate(model, mdnrnn_step, data.batches(64, 0, shuffle=False), 0, device)
    predicted_rewards, true_rewards, true_done, predicted_done = [], [], [], []
    for batch in data.batches(64, 0, shuffle=False):
        batch = {k: v.to(device) for k, v in batch.items()}
        out, _ = model(batch["latent"], batch["action"])
        out = with_transition_reward(model, out, batch)
        mask = batch["mask"].bool()
        true_rewards.append(batch["reward"][mask])
        true_done.append(batch["done"][mask] > 0.5)
        if "reward" in out:
            predicted_rewards.append(out["reward"][mask])
        if "done_logit" in out:
            predicted_done.append(out["done_logit"][mask].sigmoid() > 0.5)
    truth = torch.cat(true_rewards)
    metrics = {k: round(v, 5) for k, v in parts.items()}
    metrics["steps"] = len(truth)
    if predicted_rewards:
        guess = torch.cat(predicted_rewards)
        tiles, guessed_tiles = truth > TILE_REWARD, guess > TILE_REWARD
        metrics.update(
            reward_r2=round(1 - float((guess - truth).pow(2).mean() / truth.var().clamp_min(1e-12)), 5),
            tile_accuracy=round(float((tiles == guessed_tiles).float().mean()), 5),
            tile_recall=round(float((tiles & guessed_tiles).sum() / tiles.sum()), 5) if tiles.any() else None,
        )
    if predicted_done:
        done, guessed = torch.cat(true_done), torch.cat(predicted_done)
        metrics.update(done_accuracy=round(float((done == guessed).float().mean()), 5),
                       done_recall=round(float((done & guessed).sum() / done.sum()), 5) if done.any() else None)
    return metrics


def release(latent: str, cfg: Config, name: str, *, command: str | None = None, force: bool = False,
            run: str | None = None, mix: Mix | None = None, extra: dict | None = None) -> Path:
    """Ship the finished run of ``mix`` as ``checkpoints/mdnrnn/<latent>_<name>.pt`` (fp32: it is small) with a
    card; the held-out metrics are measured on the held-out episodes of every folder. ``extra``: more card keys
    (e.g. ``dream_check``)."""
    path = paths.mdnrnn_release(latent, name)
    releases.check_free(path, force)
    mix = mix or mix_of(cfg.collect.name)
    last = run_dir(latent, cfg, run, mix=mix) / "last.pt"
    run = checkpoint.load(last, kind="mdnrnn")
    changed = changed_inputs(run.get("inputs"))
    if changed:
        raise ValueError(f"{last}: {', '.join(changed)} changed since this run read them (encoded again, perhaps by "
                         f"another V), so a card would describe data M never saw; train again on them (another "
                         f"--run), or restore them")
    latents, _, val_eps, files = data(latent, cfg, mix)
    check_split(run.get("split"), split_record(latents, val_eps), last)
    model = mdnrnn_from_payload(run, last)
    metrics = held_out_metrics(model, latents, val_eps, cfg.sequence_length)
    card = releases.card(
        "mdnrnn", name, config=run["config"],
        data={"latents": files, "encoded_by": _encoded_by(latents) or "unknown",
              "episodes": len(latents["length"]), "held_out_episodes": len(val_eps),
              "sequence_length": cfg.sequence_length, "collection": collection(mix[0][0]),
              "mix": [{"rollouts": n, "weight": w, "collection": collection(n)} for n, w in mix[1:]],
              "init": run["config"].get("init")},
        training=training_summary(run), metrics={"held_out": metrics},
        parameters=sum(p.numel() for p in model.parameters()), command=command, latent=latent, weights="float32",
        **(extra or {}))
    payload = {"kind": "mdnrnn", "model": run["model"], "config": run["config"], "history": run["history"]}
    return releases.write(path, payload, card, force)

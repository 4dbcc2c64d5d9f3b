"""One training loop for every model (VAE, Gumbel VAE, MDN-RNN); it knows nothing of the model.

``fit`` takes a model, a ``loss_step(model, batch, step, generator) -> (loss, parts)`` function and
batch sources, and provides the rest: Adam, gradient clipping, optional bf16 autocast,
a progress bar, validation, a CSV history, and a checkpoint after every epoch (written
atomically) from which a killed run resumes exactly where its last epoch ended. Every random draw of a
loss goes through the ``generator`` it is given, seeded from the epoch, so a resumed run repeats the
uninterrupted one on CUDA as on the CPU.

Run folder (``data/runs/<name>/``)::

    last.pt       model, optimiser, epoch, step, history, RNG state, config, the train/held-out split
    history.csv   one row per epoch: train and validation parts, seconds, samples/s (rewritten from
                  ``last.pt`` when a run starts, so a kill between the two leaves nothing stale)

One run at a time holds the folder (``run_lock``). The split (``meta["split"]``: how many episodes, and which are
held out) is recorded when a run begins; a run whose data have changed since (a rollout folder that grew, say)
is refused, since its held-out episodes would include training ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from ..core import checkpoint
from ..core.config import TrainConfig
from ..core.storage import remove_stale_temporaries, run_lock, save_csv

LossStep = Callable[[torch.nn.Module, Any, int, torch.Generator],
                    tuple[torch.Tensor, dict[str, torch.Tensor]]]


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _to(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(v, device) for v in batch)
    return batch


def _batch_size(batch) -> int:
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    if isinstance(batch, dict):
        return _batch_size(next(iter(batch.values())))
    return _batch_size(batch[0])


def evaluate(model: torch.nn.Module, loss_step: LossStep, batches: Iterable, step: int,
             device: torch.device, bf16: bool = False, seed: int = 0) -> dict[str, float]:
    """Sample-weighted mean of the loss and its parts over ``batches``, without gradients (noise seeded by ``seed``)."""
    model.eval()
    totals: dict[str, float] = {}
    count = 0
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad(), _autocast(device, bf16):
        for batch in batches:
            batch = _to(batch, device)
            n = _batch_size(batch)
            loss, parts = loss_step(model, batch, step, generator)
            for key, value in {"loss": loss, **parts}.items():
                totals[key] = totals.get(key, 0.0) + float(value) * n
            count += n
    model.train()
    return {k: v / max(count, 1) for k, v in totals.items()}


def fit(
    model: torch.nn.Module,
    loss_step: LossStep,
    train_batches: Callable[[int], Iterable],
    val_batches: Callable[[], Iterable],
    cfg: TrainConfig,
    run_dir: str | Path,
    meta: dict[str, Any],
    device: torch.device | None = None,
    progress: bool = True,
    steps_per_epoch: int | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` for ``cfg.epochs`` epochs, resuming from ``run_dir/last.pt`` if present.

    Args:
        model: any module; moved to ``device``.
        loss_step: ``(model, batch, step, generator) -> (scalar loss, {name: scalar tensor})``; its random
            draws use ``generator``.
        train_batches: ``epoch -> iterable of batches`` (reshuffled per epoch by the caller).
        val_batches: ``() -> iterable of batches`` for validation after each epoch.
        cfg: optimiser and loop settings.
        run_dir: folder for ``last.pt`` and ``history.csv``.
        meta: plain-typed facts stored in the checkpoint (``kind``, ``config``, ``split``, data...);
            a resumed run must have the same ``kind``, ``config`` and ``split``.
        steps_per_epoch: for the progress bar, if known.

    Returns:
        the history: one dict per epoch.

    Raises:
        FloatingPointError: a non-finite loss, naming the epoch, step and run folder.
        checkpoint.CheckpointError: ``last.pt`` belongs to a run with another config or split.
        storage.RunLockedError: another run holds ``run_dir``.
    """
    with run_lock(run_dir):
        remove_stale_temporaries(run_dir)
        return _fit(model, loss_step, train_batches, val_batches, cfg, Path(run_dir), meta, device, progress,
                    steps_per_epoch)


def check_split(recorded: dict[str, Any] | None, now: dict[str, Any] | None, where: Path) -> None:
    """Refuse a run whose train/held-out split (``{"episodes": N, "held_out": [...]}``) has changed since it was
    recorded (a run recorded before splits were kept has None and is not checked)."""
    if recorded is None or now is None or recorded == now:
        return
    moved = len(set(map(str, recorded["held_out"])) - set(map(str, now["held_out"])))
    raise checkpoint.CheckpointError(
        f"{where}: its data changed since the run began ({recorded['episodes']} episodes then, {now['episodes']} "
        f"now; {moved} of its {len(recorded['held_out'])} held-out episodes are no longer held out), so its "
        f"held-out scores would count training episodes. Train on the data as they were, or under another --run "
        f"(or delete {where.parent} to start over)")


def _fit(model, loss_step, train_batches, val_batches, cfg: TrainConfig, run_dir: Path, meta: dict[str, Any],
         device, progress: bool, steps_per_epoch: int | None) -> list[dict[str, Any]]:
    device = device or default_device()
    last = run_dir / "last.pt"
    torch.manual_seed(cfg.seed)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    history: list[dict[str, Any]] = []
    epoch, step = 0, 0
    if last.exists():
        state = checkpoint.load(last, kind=meta.get("kind"), map_location=device)
        if state.get("config") != meta.get("config"):
            raise checkpoint.CheckpointError(
                f"{last}: was trained with another config; delete {run_dir} to start over, or resume with the "
                f"same settings")
        check_split(state.get("split"), meta.get("split"), last)
        if state.get("inputs") and meta.get("inputs") and state["inputs"] != meta["inputs"]:
            changed = sorted(k for k in meta["inputs"] if state["inputs"].get(k) != meta["inputs"][k])
            raise checkpoint.CheckpointError(
                f"{last}: its inputs changed since the run began ({', '.join(changed) or 'other files'}); a resumed "
                f"run would mix two datasets: delete {run_dir} to start over on them, or restore them")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epoch, step, history = state["epoch"], state["step"], list(state["history"])
        torch.set_rng_state(state["rng"])
        if history:
            save_csv(run_dir / "history.csv", history)  # a kill between last.pt and history.csv left it behind
    generator = torch.Generator(device=device)
    model.train()
    while epoch < cfg.epochs:
        generator.manual_seed(cfg.seed * 1_000_003 + epoch)
        start, samples, sums = time.perf_counter(), 0, {}
        batches = train_batches(epoch)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, total=steps_per_epoch, desc=f"{meta.get('kind', 'train')} epoch "
                           f"{epoch + 1}/{cfg.epochs}", unit="batch", leave=False)
        for i, batch in enumerate(batches):
            if cfg.max_steps_per_epoch and i >= cfg.max_steps_per_epoch:
                break
            batch = _to(batch, device)
            with _autocast(device, cfg.bf16):
                loss, parts = loss_step(model, batch, step, generator)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"{run_dir}: loss became {float(loss.detach())} at epoch {epoch + 1}, step {step} "
                    f"(parts {({k: float(v) for k, v in parts.items()})}); lower learning_rate, turn bf16 off, "
                    f"or check the data with `python -m worldmodels verify`. The last good epoch is in {last}.")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            n = _batch_size(batch)
            samples += n
            step += 1
            for key, value in {"loss": loss.detach(), **parts}.items():
                sums[key] = sums.get(key, 0.0) + float(value) * n
            if progress:
                batches.set_postfix(loss=f"{float(loss):.1f}")
        seconds = time.perf_counter() - start
        val = evaluate(model, loss_step, val_batches(), step, device, cfg.bf16, seed=cfg.seed)
        row = {"epoch": epoch + 1, "step": step, "seconds": round(seconds, 2),
               "samples_per_s": round(samples / max(seconds, 1e-9), 1), "device": str(device)}
        row.update({f"train_{k}": round(v / max(samples, 1), 5) for k, v in sums.items()})
        row.update({f"val_{k}": round(v, 5) for k, v in val.items()})
        if not all(math.isfinite(v) for v in val.values()):
            raise FloatingPointError(f"{run_dir}: validation loss is not finite after epoch {epoch + 1}: {val}")
        history.append(row)
        epoch += 1
        checkpoint.save(last, {**meta, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "epoch": epoch, "step": step, "history": history, "rng": torch.get_rng_state()})
        save_csv(run_dir / "history.csv", history)
        if progress:
            print(f"epoch {epoch}/{cfg.epochs}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "epoch"))
    return history

"""Reading rollouts: validated episode loading, a streaming frame dataset, ``verify``.

Frames are uint8 (H, W, 3) on disk and float (3, H, W) in [0, 1] inside models;
``frames_to_tensor`` is the one place that converts.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

EPISODE_KEYS = ("obs", "action", "reward", "terminated", "truncated", "seed")


class RolloutError(ValueError):
    """An episode file that cannot be used; the message names the file and the fix."""


def load_episode(path: str | Path, frame_size: int | None = None) -> dict[str, np.ndarray]:
    """Load and check one episode file written by ``collect``.

    Args:
        path: ``data/rollouts/<name>/<seed>.npz``.
        frame_size: expected frame side, if known.

    Returns:
        the arrays of the module docstring of ``worldmodels.rollouts``.

    Raises:
        RolloutError: unreadable, truncated, missing arrays, or wrong shapes/dtypes.
    """
    path = Path(path)
    fix = f"delete it and re-run collect (it re-collects missing episodes), or run `python -m worldmodels verify {path.parent}`"
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in EPISODE_KEYS if k not in npz.files]
            if missing:
                raise RolloutError(f"{path}: missing arrays {missing} (has {npz.files}); {fix}")
            ep = {k: npz[k] for k in EPISODE_KEYS}
    except RolloutError:
        raise
    except FileNotFoundError as e:
        raise RolloutError(f"{path}: no such episode file; run collect first") from e
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as e:
        raise RolloutError(f"{path}: corrupt or truncated episode file ({type(e).__name__}: {e}); {fix}") from e
    obs, action = ep["obs"], ep["action"]
    steps = len(action)
    size = frame_size or (obs.shape[1] if obs.ndim == 4 else None)
    expected = {
        "obs": ((steps + 1, size, size, 3), np.uint8),
        "action": ((steps, 3), np.float32),
        "reward": ((steps,), np.float32),
        "terminated": ((steps,), np.bool_),
        "truncated": ((steps,), np.bool_),
    }
    for key, (shape, dtype) in expected.items():
        if ep[key].shape != shape or ep[key].dtype != dtype:
            raise RolloutError(
                f"{path}: {key} has shape {ep[key].shape} {ep[key].dtype}, expected {shape} {np.dtype(dtype)}; "
                f"re-collect it with the current settings (T={steps}, frame size {size})"
            )
    if not np.all(np.isfinite(action)) or not np.all(np.isfinite(ep["reward"])):
        raise RolloutError(f"{path}: non-finite actions or rewards; {fix}")
    return ep


def episode_files(folder: str | Path) -> list[Path]:
    """Episode files of a rollout folder, in seed order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no rollout folder; run `python -m worldmodels collect` first")
    return sorted(folder.glob("[0-9]*.npz"))


def verify(folder: str | Path) -> list[tuple[Path, str]]:
    """Fully read every episode of ``folder``; returns (file, error) for the bad ones."""
    bad = []
    for path in episode_files(folder):
        try:
            load_episode(path)
        except RolloutError as e:
            bad.append((path, str(e)))
    return bad


def split_by_episode(files: Sequence[Path], validation_fraction: float, seed: int = 0) -> tuple[list[Path], list[Path]]:
    """Split episode files (not frames) into train and validation sets, reproducibly."""
    files = list(files)
    order = np.random.default_rng(seed).permutation(len(files))
    n_val = round(validation_fraction * len(files))
    if 0 < validation_fraction and n_val == 0 and len(files) > 1:
        n_val = 1
    val = sorted(files[i] for i in order[:n_val])
    train = sorted(files[i] for i in order[n_val:])
    return train, val


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float32 (..., 3, H, W) in [0, 1]."""
    if frames.dtype != np.uint8 or frames.shape[-1] != 3:
        raise ValueError(f"frames_to_tensor: expected uint8 (..., H, W, 3), got {frames.dtype} {frames.shape}")
    t = torch.from_numpy(np.ascontiguousarray(frames))
    return t.movedim(-1, -3).float().div_(255.0)


class FrameDataset(torch.utils.data.IterableDataset):
    """Streams single frames from episode files with bounded memory.

    Episodes are read in a shuffled order, ``episodes_in_memory`` at a time, and the
    frames of those episodes are shuffled together. At most that many episodes are
    held at once, whatever the size of the collection. With a DataLoader of several
    workers, each worker reads a disjoint share of the episodes.

    Yields:
        uint8 (H, W, 3) numpy frames; batch them with ``frames_to_tensor``, or use
        ``batches(batch_size)`` for float (B, 3, H, W) tensors directly.
    """

    def __init__(self, files: Sequence[str | Path], shuffle: bool = True, seed: int = 0, episodes_in_memory: int = 8):
        if not files:
            raise ValueError("FrameDataset: no episode files given; run `python -m worldmodels collect` first")
        self.files = [Path(f) for f in files]
        self.shuffle = shuffle
        self.seed = seed
        self.episodes_in_memory = max(1, episodes_in_memory)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """A different shuffle each epoch, reproducible from ``seed``."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch])
        files = list(self.files)
        if self.shuffle:
            files = [files[i] for i in rng.permutation(len(files))]
        info = torch.utils.data.get_worker_info()
        if info is not None:
            files = files[info.id :: info.num_workers]
            rng = np.random.default_rng([self.seed, self.epoch, info.id])
        for start in range(0, len(files), self.episodes_in_memory):
            group = [load_episode(f)["obs"] for f in files[start : start + self.episodes_in_memory]]
            frames = np.concatenate(group)  # (sum of T + 1, H, W, 3)
            order = rng.permutation(len(frames)) if self.shuffle else range(len(frames))
            for i in order:
                yield frames[i]

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """Float (B, 3, H, W) batches in [0, 1]; the last one may be smaller."""
        buffer = []
        for frame in self:
            buffer.append(frame)
            if len(buffer) == batch_size:
                yield frames_to_tensor(np.stack(buffer))
                buffer = []
        if buffer:
            yield frames_to_tensor(np.stack(buffer))

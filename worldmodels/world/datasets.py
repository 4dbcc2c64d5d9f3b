"""Reading rollouts: validated episode loading, ``verify``, a streaming frame dataset, latent sequences.

Frames are uint8 (H, W, 3) on disk and float (3, H, W) in [0, 1] inside models; ``worldmodels.world.frames``
is the one place that converts each way.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..core.storage import load_error, load_json, load_npz, open_zip
from .frames import frames_to_tensor

RECORD_KEYS = ("action", "reward", "terminated", "truncated", "seed")  # every episode file's step records
EPISODE_KEYS = ("obs", *RECORD_KEYS)
POSTERIOR_KEYS = ("mu", "logvar", "logits")  # what a V's posterior stores (``encoder`` collections keep it)
STORE = "store.json"  # what a folder of memory-mapped latents (``worldmodels.world.latent_store``) says of itself
STORE_RECORDS = {"action": np.float32, "reward": np.float32, "terminated": np.bool_}  # its step records
PLAYFIELD_EXIT = -50.0
"""a terminal step paying less than this left the playfield (CarRacing pays -100 more for it); one that pays more
finished the lap"""
LATENT_RECORD_KEYS = ("action", "reward", "terminated", "length", "seed", "source")  # a latents file's non-posterior arrays


class CodeSource(Protocol):
    """What ``LatentSequences`` needs of a kind of V (``worldmodels.models.vision.Vision`` classes have it)."""

    posterior_keys: tuple[str, ...]

    def training_codes(self, arrays: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One episode's posterior arrays (T + 1, ...) -> M's inputs (T + 1, ...) and targets (T + 1, ...)."""
        ...


class RolloutError(ValueError):
    """An episode file that cannot be used; the message names the file and the fix."""


def load_episode(path: str | Path, frame_size: int | None = None, frames: bool = True) -> dict[str, np.ndarray]:
    """Load and check one episode file written by ``collect``.

    Args:
        path: ``data/rollouts/<name>/<seed>.npz``.
        frame_size: expected frame side, if known.
        frames: require and load the frames (``obs``); with False, an episode collected with an encoder that kept
            only its latents loads too (its posterior arrays, float16, are checked instead).

    Returns:
        the arrays of the module docstring of ``worldmodels.world.rollouts`` that the file holds.

    Raises:
        RolloutError: unreadable, truncated, missing arrays, or wrong shapes/dtypes.
    """
    path = Path(path)
    fix = f"delete it and re-run collect (it re-collects missing episodes), or run `python -m worldmodels verify {path.parent}`"
    try:
        with load_npz(path) as npz:
            missing = [k for k in RECORD_KEYS if k not in npz.files]
            if frames and "obs" not in npz.files and any(k in npz.files for k in POSTERIOR_KEYS):
                raise RolloutError(f"{path}: keeps only its latents, no frames (collected with --encoder and "
                                   f"--frames-every); read frames from the episodes that keep them (frame_files)")
            if frames and "obs" not in npz.files:
                missing.insert(0, "obs")
            if missing:
                raise RolloutError(f"{path}: missing arrays {missing} (has {npz.files}); {fix}")
            wanted = [*RECORD_KEYS, *(k for k in POSTERIOR_KEYS if k in npz.files)]
            wanted += ["obs"] if frames else []
            ep = {k: npz[k] for k in wanted}
    except RolloutError:
        raise
    except FileNotFoundError as e:
        raise RolloutError(f"{path}: no such episode file; run collect first") from e
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as e:
        raise RolloutError(f"{path}: corrupt or truncated episode file ({load_error(e)}); {fix}") from e
    action = ep["action"]
    steps = len(action)
    expected = {
        "action": ((steps, 3), np.float32),
        "reward": ((steps,), np.float32),
        "terminated": ((steps,), np.bool_),
        "truncated": ((steps,), np.bool_),
    }
    size = None
    if frames:
        obs = ep["obs"]
        size = frame_size or (obs.shape[1] if obs.ndim == 4 else None)
        expected["obs"] = ((steps + 1, size, size, 3), np.uint8)
    for key in POSTERIOR_KEYS:
        if key in ep:
            expected[key] = ((steps + 1, *ep[key].shape[1:]), np.float16)
    for key, (shape, dtype) in expected.items():
        if ep[key].shape != shape or ep[key].dtype != dtype:
            raise RolloutError(
                f"{path}: {key} has shape {ep[key].shape} {ep[key].dtype}, expected {shape} {np.dtype(dtype)}; "
                f"re-collect it with the current settings (T={steps}, frame size {size})"
            )
    if not all(np.all(np.isfinite(ep[k])) for k in ("action", "reward", *(k for k in POSTERIOR_KEYS if k in ep))):
        raise RolloutError(f"{path}: non-finite actions, rewards or latents; {fix}")
    return ep


MANIFEST = "manifest.json"


def read_manifest(folder: str | Path) -> dict | None:
    """The manifest of a rollout folder, its structure checked (a JSON object whose ``data`` is an object and whose
    ``seeds`` are [first, last] whole numbers), or None when the folder has none.

    Raises:
        RolloutError: a manifest of another shape, naming it and the fix.
    """
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    manifest = load_json(path)
    fix = "restore it, or collect into another --name"
    if not isinstance(manifest, dict):
        raise RolloutError(f"{path}: a manifest is a JSON object, this one is a {type(manifest).__name__}; {fix}")
    data, seeds = manifest.get("data"), manifest.get("seeds")
    if not isinstance(data, dict):
        raise RolloutError(f"{path}: its 'data' (how the episodes were collected) is not an object; {fix}")
    if not (isinstance(seeds, list) and len(seeds) == 2 and all(type(s) is int for s in seeds)
            and 0 <= seeds[0] <= seeds[1]):
        raise RolloutError(f"{path}: its 'seeds' {seeds!r} are not [first, last] whole numbers; {fix}")
    members = manifest.get("members")
    if members is not None and not (isinstance(members, list) and all(type(m) is int for m in members)
                                    and members == sorted(set(members)) and members
                                    and seeds[0] <= members[0] and members[-1] <= seeds[1]):
        raise RolloutError(f"{path}: its 'members' (the seeds of a subset) are not increasing whole numbers within "
                           f"its seeds {seeds}; {fix}")
    steps = data.get("steps")
    if steps is not None and not (type(steps) is int and steps >= 1):
        raise RolloutError(f"{path}: its data.steps {steps!r} is not a whole number of at least 1; {fix}")
    for key, kind in (("episode_policies", dict), ("runs", list)):
        if key in manifest and not isinstance(manifest[key], kind):
            raise RolloutError(f"{path}: its {key!r} is not a JSON {'object' if kind is dict else 'list'}; {fix}")
    return manifest


def episode_files(folder: str | Path) -> list[Path]:
    """Episode files of a rollout folder, in seed order: those of its manifest's seeds (or, for a subset, its
    ``members``) where it has one (a file outside them is not part of the collection; ``verify`` names it), else
    every ``<seed>.npz``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no rollout folder; run `python -m worldmodels collect` first")
    files = sorted(folder.glob("[0-9]*.npz"))
    manifest = read_manifest(folder)
    if manifest is None:
        return files
    seeds = _seeds(manifest)
    return [f for f in files if f.stem.isdigit() and int(f.stem) in seeds]


def _seeds(manifest: dict) -> range | frozenset[int]:
    """The seeds of a collection's episodes: its ``members`` (a subset) or every seed from its first to its last."""
    if manifest.get("members") is not None:
        return frozenset(manifest["members"])
    first, last = manifest["seeds"]
    return range(first, last + 1)


def has_frames(path: str | Path) -> bool:
    """Whether an episode file keeps its frames (read from the archive's directory, not its arrays)."""
    try:
        with open_zip(path) as z:
            return "obs.npy" in z.namelist()
    except ValueError as e:  # not a regular file (open_regular's message names it)
        raise RolloutError(str(e)) from None
    except (zipfile.BadZipFile, OSError) as e:
        raise RolloutError(f"{path}: corrupt or truncated episode file ({load_error(e)}); run `python -m worldmodels "
                           f"verify {Path(path).parent}`") from e


def frame_files(folder: str | Path) -> list[Path]:
    """The episode files of a rollout folder that keep their frames (all, unless it was collected with
    ``--encoder`` and ``--frames-every``), in seed order: what V trains on."""
    files = episode_files(folder)
    manifest = read_manifest(folder)
    if manifest is not None and not manifest["data"].get("encoder"):
        return files  # no encoder: every episode keeps its frames
    return [f for f in files if has_frames(f)]


def verify(folder: str | Path) -> list[tuple[Path, str]]:
    """Fully read every episode of ``folder`` and hold the folder to its manifest; returns (file, error) for
    every bad, missing or foreign episode (an empty folder, or one without a manifest, is an error too).

    Held to the manifest: every seed from its first to its last (a subset's ``members``) has a file; no other ``<seed>.npz`` lies there
    (training reads only the manifest's seeds); each file's stored seed is its name's; no episode is longer than
    ``data.steps``, and one that is shorter ended on a termination (the car left the playfield or finished the lap).
    """
    folder = Path(folder)
    files = sorted(folder.glob("[0-9]*.npz")) if folder.is_dir() else []
    bad: list[tuple[Path, str]] = []
    try:
        manifest = read_manifest(folder)
    except (RolloutError, ValueError) as e:
        bad.append((folder / MANIFEST, str(e)))
        manifest = False
    if manifest is None:
        bad.append((folder / MANIFEST, f"{folder / MANIFEST}: missing; how these episodes were collected is unknown"))
    seeds = _seeds(manifest) if manifest else None
    listed = (f"{seeds.start} to {seeds.stop - 1}" if isinstance(seeds, range)
              else f"the {len(seeds)} members of a subset") if manifest else ""
    steps = manifest["data"].get("steps") if manifest else None
    for path in files:
        if seeds is not None and not (path.stem.isdigit() and int(path.stem) in seeds):
            bad.append((path, (f"{path}: not one of the manifest's seeds ({listed}), so not part of this "
                              f"collection; move it out of {folder}")))
            continue
        try:
            episode = load_episode(path, frames=has_frames(path))
        except RolloutError as e:
            bad.append((path, str(e)))
            continue
        length = len(episode["action"])
        if path.stem.isdigit() and int(episode["seed"]) != int(path.stem):
            bad.append((path, (f"{path}: holds the episode of seed {int(episode['seed'])}, not {int(path.stem)}; "
                              f"delete it and re-run collect")))
        elif steps is not None and length > steps:
            bad.append((path, (f"{path}: {length} steps, more than the manifest's data.steps ({steps}); the manifest "
                              f"or the file is not what collect wrote: collect into another --name")))
        elif steps is not None and length < steps and not bool(episode["terminated"][-1]) \
                and not bool(episode["truncated"][-1]):
            bad.append((path, (f"{path}: {length} steps where the manifest says {steps}, and the episode did not end "
                              f"(no termination); the manifest or the file is not what collect wrote: collect into "
                              f"another --name")))
    if seeds is not None:
        present = {p.name for p in files}
        for seed in sorted(seeds):
            path = folder / f"{seed:06d}.npz"
            if path.name not in present:
                bad.append((path, f"{path}: missing (the manifest lists seeds {listed}); run collect again"
                                  + (" (for a subset: subset again)" if manifest.get("members") else "")))
    if not files:
        bad.append((folder, f"{folder}: no episode files; run collect"))
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


def merge_latents(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Several latents files (``LatentSequences.load``) as one: episodes stacked in order, padded to the longest.

    Raises:
        ValueError: the files hold different arrays or were encoded by different Vs (``source``).
    """
    if len(parts) == 1:
        return parts[0]
    keys = set(parts[0])
    sources = {str(p.get("source", "")) for p in parts}
    if any(set(p) != keys for p in parts) or len(sources) > 1:
        raise ValueError(f"latents files to train one M on must hold the same arrays and come from one V; "
                         f"got encoders {sorted(sources)}: encode every rollout folder with the same V")
    T = max(p["action"].shape[1] for p in parts)
    merged = {}
    for key in keys - {"source"}:
        if parts[0][key].ndim < 2:  # (E,): length, seed
            merged[key] = np.concatenate([p[key] for p in parts])
            continue
        extra = parts[0][key].shape[1] - parts[0]["action"].shape[1]  # T + 1 for posteriors, T for records
        padded = [np.pad(p[key], [(0, 0), (0, T + extra - p[key].shape[1])] + [(0, 0)] * (p[key].ndim - 2))
                  for p in parts]
        merged[key] = np.concatenate(padded)
    merged["source"] = parts[0].get("source", np.array(""))
    return merged


def _load_store(path: Path, fix: str) -> dict[str, np.ndarray]:
    """A folder of memory-mapped latents (``worldmodels.world.latent_store.pack``), read-only, plus ``source``."""
    try:
        meta = load_json(path / STORE)
    except (OSError, ValueError) as e:
        raise RolloutError(f"{path}: no readable {STORE} ({type(e).__name__}: {e}); {fix}") from e
    posterior = meta.get("posterior") if isinstance(meta, dict) else None
    if not isinstance(posterior, list) or not set(posterior) <= set(POSTERIOR_KEYS):
        raise RolloutError(f"{path / STORE}: names no posterior arrays; {fix}")
    latents = {}
    for key in [*posterior, *STORE_RECORDS, "length", "seed"]:
        try:
            latents[key] = np.load(path / f"{key}.npy", mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise RolloutError(f"{path / (key + '.npy')}: missing or unreadable ({load_error(e)}); {fix}") from e
    latents["source"] = np.array(str(meta.get("source", "")))
    return latents


class LatentSequences:
    """Fixed-length windows of encoded episodes (``training.vision.encode`` output) for training M.

    Each epoch the windows start at a new random offset, and each episode's inputs and targets come from
    its stored posterior through ``source.training_codes`` (the V class that made them: for the continuous
    VAE, z re-sampled from N(mu, exp(logvar)) as in the paper; for the Gumbel VAE, the hard one-hot code).
    Step t's input is (latent_t, action_t); its targets are latent_{t+1}, reward_t and done_t: the car left the
    playfield at t (a dream charges that end -100, as the env does). Time-limit truncations are not ends, and
    neither is a finished lap, which the env also reports as ``terminated`` but pays for rather than punishes.

    Batches are dicts of tensors::

        latent (B, L, Z) | (B, L, N, K) float     action (B, L, 3)
        target (B, L, Z) float | (B, L, N) long    reward (B, L), done (B, L), mask (B, L) (0 on padding)
    """

    def __init__(self, latents: dict[str, np.ndarray], source: CodeSource, episodes: Sequence[int], seq_len: int,
                 seed: int = 0, episodes_in_memory: int | None = None):
        """``episodes_in_memory``: build and shuffle the windows of at most this many episodes at once (their order
        shuffled each epoch), so an epoch of a memory-mapped store never sits in memory whole; None: all at once."""
        self.source = source
        self.latents = latents
        self.episodes = list(episodes)
        self.seq_len = seq_len
        self.seed = seed
        self.episodes_in_memory = episodes_in_memory
        if not self.episodes:
            raise ValueError("LatentSequences: no episodes given")

    @staticmethod
    def load(path: str | Path) -> dict[str, np.ndarray]:
        """Read and check a latents file; errors name the file and the command that makes it."""
        path = Path(path)
        fix = "run `python -m worldmodels encode` to (re)make it"
        if path.is_dir():
            latents = _load_store(path, fix)
        else:
            try:
                with load_npz(path) as npz:
                    latents = {k: npz[k] for k in npz.files}
            except FileNotFoundError as e:
                raise FileNotFoundError(f"{path}: no latents file; {fix}") from e
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
                raise RolloutError(f"{path}: corrupt or truncated latents file ({load_error(e)}); {fix}") from e
        missing = {"action", "reward", "terminated", "length"} - set(latents)
        posterior = [k for k in latents if k not in LATENT_RECORD_KEYS]
        if missing or not posterior:
            raise RolloutError(f"{path}: missing arrays {sorted(missing) or 'of the posterior'}; {fix}")
        action, length = latents["action"], latents["length"]
        if action.ndim != 3 or action.shape[2] != 3:
            raise RolloutError(f"{path}: action has shape {action.shape}, expected (episodes, steps, 3); {fix}")
        E, T = action.shape[:2]
        for key in ("reward", "terminated"):
            if latents[key].shape != (E, T):
                raise RolloutError(f"{path}: {key} has shape {latents[key].shape}, expected ({E}, {T}); {fix}")
        if length.shape != (E,) or not np.issubdtype(length.dtype, np.integer) \
                or (E and (length.min() < 0 or length.max() > T)):
            raise RolloutError(f"{path}: length must be {E} whole numbers from 0 to {T}, one per episode; {fix}")
        if E == 0 or int(length.sum()) == 0:
            raise RolloutError(f"{path}: holds no steps ({E} episodes, every one of length 0), so nothing to learn "
                               f"from; {fix} from a folder with episodes")
        for key in ("action", "reward"):
            if not np.all(np.isfinite(latents[key])):
                raise RolloutError(f"{path}: {key} holds non-finite values; {fix}")
        for key in posterior:
            if latents[key].shape[:2] != (E, T + 1):
                raise RolloutError(f"{path}: {key} has shape {latents[key].shape}, expected ({E}, {T + 1}, ...); {fix}")
            if not np.all(np.isfinite(latents[key])):
                raise RolloutError(f"{path}: {key} holds non-finite values (encoded by a broken V?); {fix} with a "
                                   f"working V")
        return latents

    def _codes(self, e: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(inputs (T + 1, ...) float32, targets (T + 1, ...)) of episode e for one epoch."""
        return self.source.training_codes({k: self.latents[k][e] for k in self.source.posterior_keys}, rng)

    def windows(self, epoch: int, shuffle: bool = True, episodes: Sequence[int] | None = None,
                rng: np.random.Generator | None = None) -> list[dict[str, np.ndarray]]:
        """All windows of one epoch (numpy, unbatched), or of some of its ``episodes`` drawn with ``rng``."""
        rng = rng or np.random.default_rng([self.seed, epoch])
        L = self.seq_len
        out = []
        for e in self.episodes if episodes is None else episodes:
            T = int(self.latents["length"][e])
            inputs, targets = self._codes(e, rng)
            offset = int(rng.integers(L)) if shuffle and T > L else 0
            for start in range(offset - L if offset else 0, T, L):
                s, stop = max(start, 0), min(start + L, T)
                n = stop - s
                if n <= 0:
                    continue
                window = {
                    "latent": np.zeros((L, *inputs.shape[1:]), np.float32),
                    "target": np.zeros((L, *targets.shape[1:]), targets.dtype),
                    "action": np.zeros((L, 3), np.float32),
                    "reward": np.zeros(L, np.float32),
                    "done": np.zeros(L, np.float32),
                    "mask": np.zeros(L, np.float32),
                }
                window["latent"][:n] = inputs[s:stop]
                window["target"][:n] = targets[s + 1 : stop + 1]
                window["action"][:n] = self.latents["action"][e, s:stop]
                window["reward"][:n] = self.latents["reward"][e, s:stop]
                window["done"][:n] = self.latents["terminated"][e, s:stop] & (window["reward"][:n] < PLAYFIELD_EXIT)
                window["mask"][:n] = 1.0
                out.append(window)
        if shuffle:
            out = [out[i] for i in rng.permutation(len(out))]
        return out

    def batches(self, batch_size: int, epoch: int = 0, shuffle: bool = True) -> Iterator[dict[str, torch.Tensor]]:
        """Batches of windows as dicts of tensors (see the class docstring), ``episodes_in_memory`` episodes' worth
        of windows at a time (a last batch of a group may be smaller). A group's windows are let go before the next
        group's are built, so only one group is ever held (1,000 episodes of 64-class codes: about 17 GB)."""
        groups = self._window_groups(epoch, shuffle)
        while (windows := next(groups, None)) is not None:
            for i in range(0, len(windows), batch_size):
                yield {k: torch.from_numpy(np.stack([w[k] for w in windows[i : i + batch_size]])) for k in windows[i]}
            del windows

    def _window_groups(self, epoch: int, shuffle: bool) -> Iterator[list[dict[str, np.ndarray]]]:
        group = self.episodes_in_memory
        if group is None or len(self.episodes) <= group:
            yield self.windows(epoch, shuffle)  # one group: the windows of every episode, shuffled together
            return
        rng = np.random.default_rng([self.seed, epoch])
        order = [self.episodes[i] for i in rng.permutation(len(self.episodes))] if shuffle else self.episodes
        for start in range(0, len(order), group):
            yield self.windows(epoch, shuffle, order[start : start + group], rng)

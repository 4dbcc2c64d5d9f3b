"""Latents too large to load: one ``.npy`` file per array, memory-mapped, for collections encoded as collected.

A collection made with ``--encoder`` keeps each episode's posterior in its episode file. ``pack`` gathers them into
the folder ``data/latents/<rollouts>_<kind>/`` that M trains from (or, given another V's ``encode``, computes that
V's posteriors of the episodes that kept their frames), holding the arrays of a latents file
(``worldmodels.training.vision.encode``) with the posterior in float16::

    mu, logvar float16 (E, T + 1, Z) | logits float16 (E, T + 1, N, K)
    action float32 (E, T, 3), reward float32 (E, T), terminated bool (E, T), length int64 (E,), seed int64 (E,)
    store.json   the V that encoded them (path and SHA-256), the rollouts, and the episode count

``worldmodels.world.datasets.LatentSequences.load`` maps them read-only (``np.load(mmap_mode="r")``): an
episode's rows are read from disk when a window needs them, so 10,000 episodes (1.3 GB of posteriors) never have to
fit in memory at once. The folder is written beside its final place and renamed into it, so a reader never sees
half of one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..core.storage import load_npz, remove_stale_temporaries, save_json
from .datasets import POSTERIOR_KEYS, STORE, STORE_RECORDS, RolloutError, load_episode


def pack(files: Sequence[str | Path], out: str | Path, source: str, source_sha256: str,
         encode: Callable[[Path, np.ndarray], dict[str, np.ndarray]] | None = None) -> Path:
    """Gather the posteriors and step records of episode files (collected with an encoder) into the folder ``out``.

    Args:
        encode: (file, frames (T + 1, 64, 64, 3) uint8) -> posterior arrays (T + 1, ...): compute each episode's
            posterior from its frames with this V instead of reading the one stored in it (the episodes must keep
            their frames). One episode's frames are in memory at a time.

    Raises:
        RolloutError: an episode without a posterior (or, with ``encode``, without frames), or with another one than
            the first (names the file).
    """
    out = Path(out)
    if not files:
        raise RolloutError(f"{out}: no episode files to pack; run collect first")

    def posterior(f: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(the episode's step records, its posterior)."""
        ep = load_episode(f, frames=encode is not None)
        if encode is not None:
            return ep, encode(Path(f), ep.pop("obs"))
        return ep, {k: ep[k] for k in POSTERIOR_KEYS if k in ep}

    first = posterior(files[0])[1]
    keys = list(first)
    if not keys:
        raise RolloutError(f"{files[0]}: holds no latents (collected without --encoder); run `python -m worldmodels "
                           f"encode` on its folder instead")
    lengths = []
    for f in files:  # the lengths first, to size the arrays
        with load_npz(f) as npz:
            lengths.append(len(npz["reward"]))
    E, T = len(files), max(lengths)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out.parent)
    tmp = out.parent / f".{out.name}.packing.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    arrays = {k: np.lib.format.open_memmap(tmp / f"{k}.npy", "w+", np.float16, (E, T + 1, *first[k].shape[1:]))
              for k in keys}
    arrays.update({k: np.lib.format.open_memmap(tmp / f"{k}.npy", "w+", dtype, (E, T, 3) if k == "action" else (E, T))
                   for k, dtype in STORE_RECORDS.items()})
    seeds = np.zeros(E, np.int64)
    for e, f in enumerate(files):
        ep, post = posterior(f)
        missing = [k for k in keys if k not in post]
        if missing:
            raise RolloutError(f"{f}: no {missing} (the folder's other episodes have them); re-run collect, which "
                               f"collects it again")
        n = len(ep["action"])
        for k in keys:  # the rows past an episode's end stay 0, as open_memmap made them
            arrays[k][e, : n + 1] = post[k]
        for k in STORE_RECORDS:
            arrays[k][e, :n] = ep[k]
        seeds[e] = ep["seed"]
    for a in arrays.values():
        a.flush()
    del arrays
    np.save(tmp / "length.npy", np.asarray(lengths, np.int64))
    np.save(tmp / "seed.npy", seeds)
    save_json(tmp / STORE, {"source": source, "source_sha256": source_sha256, "episodes": E,
                            "rollouts": str(Path(files[0]).parent.name), "posterior": keys})
    for f in tmp.iterdir():
        with open(f, "rb") as handle:
            os.fsync(handle.fileno())
    if out.exists():  # a store of another V: moved aside first, removed once the new one is in place
        old = out.parent / f".{out.name}.replaced.tmp"
        shutil.rmtree(old, ignore_errors=True)
        out.replace(old)
        tmp.replace(out)
        shutil.rmtree(old)
    else:
        tmp.replace(out)
    return out

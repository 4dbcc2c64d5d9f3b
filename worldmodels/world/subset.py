"""A rollout folder made of some episodes of another: the episodes that kept their frames.

A collection encoded as collected (``collect --encoder ... --frames-every K``) keeps the frames of one episode in K;
only those can train a new V, and a V of the collector's own kind cannot claim the collection's latents (its store is
the collector's). ``subset`` makes those episodes a collection of their own, hard-linked (no copy where the file
system allows), so another V trains on it, ``encode`` writes its latents and M learns from them like any collection's;
its lineage counts the steps of its own episodes only, which are all its models saw::

    data/rollouts/<name>/manifest.json   the source's, less its encoder, plus
        members     [seed, ...]   the episodes it holds (a subset of [first, last] of ``seeds``)
        subset_of   {"rollouts": source name, "select": "frames", "manifest_sha256": the source manifest's}

``collect`` refuses such a folder (it would fill the gaps between the members).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..core import paths
from ..core.provenance import sha256
from ..core.storage import TMP_SUFFIX, atomic_write, remove_stale_temporaries, run_lock, save_json
from . import datacard
from .datasets import MANIFEST, frame_files, has_frames, read_manifest

ENCODER_KEYS = ("encoder", "encoder_sha256", "encoder_precision", "frames_every")


def _link(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (a copy across file systems), written whole or not at all."""
    tmp = target.with_name(f".{target.name}.link{TMP_SUFFIX}")  # remove_stale_temporaries clears a killed run's
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # another file system: an atomic copy
        with open(source, "rb") as f:
            atomic_write(target, lambda out: shutil.copyfileobj(f, out))
        return
    os.replace(tmp, target)


def subset(source: str, name: str) -> Path:
    """``data/rollouts/<name>``: the episodes of ``data/rollouts/<source>`` that kept their frames, with a manifest
    and a data card of their own. Re-running it completes a folder a killed run left half made.

    Raises:
        FileNotFoundError: no such source folder, or none of its episodes kept its frames.
        ValueError: ``name`` is the source, or a folder of other episodes.
    """
    src, out = paths.rollout_dir(source), paths.rollout_dir(name)
    if src.resolve() == out.resolve():
        raise ValueError(f"subset --name {name}: the source folder itself; name a new folder")
    manifest = read_manifest(src)
    if manifest is None:
        raise FileNotFoundError(f"{src}: no rollout folder with a manifest; run collect first")
    files = frame_files(src)
    if not files:
        raise FileNotFoundError(f"{src}: no episode kept its frames (collected with --frames-every 0); there is "
                                f"nothing to make a subset of")
    members = [int(f.stem) for f in files]
    new = {k: v for k, v in manifest.items() if k not in ("episode_policies", "runs")}
    new.update(episodes=len(members), members=members,
               data={k: v for k, v in manifest["data"].items() if k not in ENCODER_KEYS},
               subset_of={"rollouts": source, "select": "frames", "manifest_sha256": sha256(src / MANIFEST)})
    out.mkdir(parents=True, exist_ok=True)
    with run_lock(out):
        old = read_manifest(out)
        if old is not None and (old.get("subset_of") != new["subset_of"] or old.get("members") != members):
            raise ValueError(f"{out} holds another collection ({out / MANIFEST}); name a new folder, or delete it")
        wanted = set(members)
        strays = [f for f in out.glob("[0-9]*.npz") if not f.stem.isdigit() or int(f.stem) not in wanted]
        if strays:
            raise ValueError(f"{out} holds {len(strays)} episode files that are not frame-bearing episodes of "
                             f"{src} (e.g. {strays[0].name}); name a new folder, or delete it")
        remove_stale_temporaries(out)
        save_json(out / MANIFEST, new)  # first: a killed run leaves a folder this command recognises
        for f in files:
            target = out / f.name
            if not (target.exists() and target.stat().st_size == f.stat().st_size and has_frames(target)):
                _link(f, target)
        card = datacard.describe([out / f.name for f in files])
        new["episode_policies"] = card.pop("episode_policies")
        save_json(out / MANIFEST, new)
        card.update(collection=manifest["data"], subset_of=new["subset_of"])  # as collect's card: how it was collected
        save_json(out / datacard.CARD, card)
    return out

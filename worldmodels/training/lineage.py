"""Lineage: the real env steps behind a model, counted through everything it was made from.

An agent's honest cost is more than its own training episodes: its V and M learnt from rollouts, those
rollouts may have been driven by another agent, which was evolved in the real env on its own V and M, and
so on. ``lineage`` walks the records (agent files, cards, run configs, rollout manifests) and counts each
ancestor once::

    controller  the real env steps of its evolution (its history) + its V + its M + the controller it started
                from (``--init``) (a card that already holds a ``lineage`` is taken as it stands)
    V           its rollouts
    M           the rollouts of every latents file it learnt from + the M it was fine-tuned from
    rollouts    the steps of their episodes, read from the files (where the folder is gone, the count its V's or
                M's card records: the collection's own count, or at most episodes x steps where the card has none)
                + the agent that drove them

    parts = lineage(("checkpoints/controller/vae_agent_book.pt", "controller"))   # {"what path": steps}
    total = sum(parts.values())
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core import checkpoint, paths
from ..core.provenance import portable, resolve
from ..core.storage import load_card, load_npz
from ..world.datasets import episode_files, read_manifest

Parts = dict[str, int]


def lineage(*roots: tuple[str | Path, str]) -> Parts:
    """``{"<what> <path>": real env steps}`` behind every ``(path, kind)`` root, each ancestor once; a kind is
    ``controller``, ``vision`` or ``mdnrnn`` (a file), or ``rollouts`` (a folder's name)."""
    walk = _Walk()
    for path, kind in roots:
        getattr(walk, kind)(str(path))
    return walk.parts


def _payload(path: str, kind: str | None = None) -> dict[str, Any]:
    """The checkpoint, with the JSON card beside it (a release's, kept up to date) in place of the one inside."""
    file = resolve(path)
    if not file.exists():
        raise FileNotFoundError(f"{file}: needed to count the real env steps of a lineage, and missing")
    payload = checkpoint.load(file, kind=kind)
    card = file.with_suffix(".json")
    return {**payload, "card": load_card(card)} if card.exists() else payload


def card_entry(parts: Parts, note: str) -> dict[str, Any]:
    """The ``lineage`` of a card: the total, each part, and what was counted."""
    return {"real_env_steps": sum(parts.values()), "parts": parts, "note": note}


class _Walk:
    """Visits each ancestor once (``seen``) and adds its own real env steps to ``parts``."""

    def __init__(self):
        self.parts: Parts = {}
        self.seen: set[str] = set()

    def _first(self, key: str) -> bool:
        new = key not in self.seen
        self.seen.add(key)
        return new

    def _add(self, what: str, steps: int) -> None:
        """A part another card counted. A collection is counted once: its exact count replaces an upper bound
        (``(at most)``) and an upper bound never joins an exact count."""
        exact = what.removesuffix(" (at most)")
        if exact.startswith("rollouts "):
            self.seen.add(exact)  # the walk will not visit it again
            if exact in self.parts:
                return
            if f"{exact} (at most)" in self.parts:
                if what == exact:
                    del self.parts[f"{exact} (at most)"]
                    self.parts[exact] = steps
                return
        self.parts[what] = steps

    def controller(self, path: str) -> None:
        where = portable(resolve(path))
        if not self._first(f"controller {where}"):
            return
        payload = _payload(path, "controller")
        counted = payload.get("card", {}).get("lineage")
        if counted:
            for what, steps in counted["parts"].items():
                self._add(what, int(steps))
            return
        history = payload.get("history") or []
        steps = history[-1]["env_steps"] if history else payload["card"]["training"]["real_env_steps"]
        self.parts[f"evolution {where}"] = int(steps)
        spec = payload["spec"]
        self.vision(spec["vision"])
        if spec.get("mdnrnn"):
            self.mdnrnn(spec["mdnrnn"])
        evolution = (payload.get("card", {}).get("config") or {}).get("evolution") or {}
        if evolution.get("init"):  # the controller it started from
            self.controller(evolution["init"])

    def vision(self, path: str) -> None:
        if not self._first(f"vision {portable(resolve(path))}"):
            return
        payload = _payload(path)
        card = payload.get("card", {}).get("data", {})
        name = Path(card["rollouts"]).name if "rollouts" in card else payload["config"]["collect"]["name"]
        recorded = card if {"episodes", "steps"} <= set(card) else card.get("collection")  # old cards: at the top
        self.rollouts(name, recorded if recorded and {"episodes", "steps"} <= set(recorded) else None)

    def mdnrnn(self, path: str) -> None:
        if not self._first(f"mdnrnn {portable(resolve(path))}"):
            return
        payload = _payload(path, "mdnrnn")
        card = payload.get("card", {}).get("data", {})
        files = payload["config"].get("latents") or card.get("latents")
        files = [files] if isinstance(files, str) else list(files)
        collections = [card.get("collection") or {}, *[m.get("collection") or {} for m in card.get("mix", [])]]
        recorded = {Path(c["rollouts"]).name: c for c in collections if c.get("rollouts")}
        for f in files:
            name = Path(f).stem.rsplit("_", 1)[0]  # data/latents/<rollouts>_<latent>.npz
            self.rollouts(name, recorded.get(name))
        init = payload["config"].get("init") or card.get("init")
        if init:
            self.mdnrnn(init["path"])

    def rollouts(self, name: str, recorded: dict[str, Any] | None = None) -> None:
        key = f"rollouts data/rollouts/{name}"
        if not self._first(key):
            return
        folder = paths.rollout_dir(name)
        files = episode_files(folder) if folder.exists() else []
        if files:
            steps = 0
            for f in files:
                with load_npz(f) as npz:
                    steps += len(npz["action"])
            self.parts[key] = steps
            agent = (read_manifest(folder) or {"data": {}})["data"].get("agent")
        elif recorded:
            counted = ((recorded.get("mix") or {}).get("all") or {}).get("steps")  # the manifest's own count
            if counted is not None:
                self.parts[key] = int(counted)
            else:
                self.parts[f"{key} (at most)"] = int(recorded["episodes"]) * int(recorded["steps"])
            agent = recorded.get("agent")
        else:
            raise FileNotFoundError(f"{folder}: no episodes, and no card records how many steps they held; restore "
                                    f"the rollouts to count the real env steps of this lineage")
        if agent:
            self.controller(agent)

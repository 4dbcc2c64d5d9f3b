"""A rollout folder's data card: what its episodes hold, by policy (``card.json`` beside the episodes).

``describe(files)`` reads each episode file's small arrays (never the frames) and sums them up, per policy and in
all: episodes and steps, returns, a histogram of the car's speed, the share of steps with no wheel on the road,
how episodes ended (the lap finished, the car left the playfield, the time limit), and the bytes on disk. A world
model learns only what its data show, so the card is what says whether M ever saw fast driving, grass or a crash.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.storage import load_error, load_npz
from .datasets import PLAYFIELD_EXIT

CARD = "card.json"
SPEED_BINS = (0, 10, 20, 30, 40, 50, 60, 70, 80, 100, 120, float("inf"))
"""edges of the speed histogram (the car's speed in the env's units; a careful lap is about 40)"""
_SMALL = ("reward", "terminated", "truncated", "speed", "on_grass", "policy")


class DataCardError(ValueError):
    """An episode file the card cannot read; the message names it."""


def episode_stats(path: str | Path) -> dict[str, Any]:
    """One episode's summary from its small arrays: policy record, steps, return, ending, speed histogram, grass.

    Raises:
        DataCardError: the file is unreadable or lacks the step records.
    """
    path = Path(path)
    try:
        with load_npz(path) as npz:
            arrays = {k: npz[k] for k in _SMALL if k in npz.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        raise DataCardError(f"{path}: unreadable episode file ({load_error(e)}); run `python -m worldmodels verify "
                            f"{path.parent}`") from e
    if not {"reward", "terminated", "truncated"} <= set(arrays):
        raise DataCardError(f"{path}: no reward, terminated and truncated arrays; re-collect it")
    reward, terminated = arrays["reward"], arrays["terminated"]
    ended = "running"
    if len(reward) and terminated[-1]:
        ended = "left_playfield" if reward[-1] < PLAYFIELD_EXIT else "lap_complete"
    elif len(reward) and arrays["truncated"][-1]:
        ended = "time_limit"
    try:
        record = json.loads(str(arrays["policy"])) if "policy" in arrays else {"policy": "unrecorded"}
    except ValueError as e:
        raise DataCardError(f"{path}: its policy record is not JSON ({e}); re-collect it") from e
    if not isinstance(record, dict) or "policy" not in record:
        raise DataCardError(f"{path}: its policy record {record!r} names no policy; re-collect it")
    speed = arrays.get("speed")
    return {
        "record": record, "steps": len(reward), "return": float(reward.sum()), "ended": ended,
        "speed_counts": None if speed is None else np.histogram(speed, SPEED_BINS)[0].tolist(),
        "grass_steps": None if "on_grass" not in arrays else int(arrays["on_grass"].sum()),
        "bytes": path.stat().st_size,
    }


def summarise(stats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The card's numbers for a group of episodes (``episode_stats`` of each)."""
    returns = np.asarray([s["return"] for s in stats])
    steps = int(sum(s["steps"] for s in stats))
    measured = [s for s in stats if s["speed_counts"] is not None]
    counts = np.sum([s["speed_counts"] for s in measured], axis=0) if measured else None
    grass = [s for s in stats if s["grass_steps"] is not None]
    ends = {k: sum(s["ended"] == k for s in stats) for k in ("lap_complete", "left_playfield", "time_limit", "running")}
    return {
        "episodes": len(stats), "steps": steps,
        "return": {"mean": round(float(returns.mean()), 2), "std": round(float(returns.std()), 2),
                   **{f"p{q}": round(float(np.percentile(returns, q)), 2) for q in (5, 50, 95)}},
        "speed_histogram": None if counts is None else {
            "edges": [e if np.isfinite(e) else "inf" for e in SPEED_BINS],
            "share": [round(float(c) / max(counts.sum(), 1), 4) for c in counts]},
        "grass_share": round(sum(s["grass_steps"] for s in grass) / max(sum(s["steps"] for s in grass), 1), 4)
        if grass else None,
        "ended": ends,
        "bytes": int(sum(s["bytes"] for s in stats)),
    }


def describe(files: Sequence[str | Path]) -> dict[str, Any]:
    """The data card of episode files: ``all`` and ``by_policy`` summaries, bytes a step, and ``episode_policies``
    ({seed: policy record}) for the manifest."""
    stats = {Path(f).stem: episode_stats(f) for f in files}
    groups: dict[str, list[dict[str, Any]]] = {}
    for s in stats.values():
        groups.setdefault(s["record"]["policy"], []).append(s)
    everything = summarise(list(stats.values()))
    return {
        "all": everything,
        "by_policy": {name: summarise(group) for name, group in sorted(groups.items())},
        "bytes_per_step": round(everything["bytes"] / max(everything["steps"], 1), 1),
        "episode_policies": {seed: s["record"] for seed, s in stats.items()},
    }


def markdown(card: dict[str, Any]) -> str:
    """The card as a short markdown table: one row per policy, then all."""
    rows = ["| policy | episodes | steps | return mean (p5 to p95) | speed >= 50 | on grass | lap done | left field |",
            "|---|---|---|---|---|---|---|---|"]
    for name, s in [*card["by_policy"].items(), ("all", card["all"])]:
        hist = s["speed_histogram"]
        fast = "-" if hist is None else f"{sum(sh for e, sh in zip(hist['edges'], hist['share']) if e >= 50):.0%}"
        grass = "-" if s["grass_share"] is None else f"{s['grass_share']:.0%}"
        r = s["return"]
        rows.append(f"| {name} | {s['episodes']:,} | {s['steps']:,} | {r['mean']:.0f} ({r['p5']:.0f} to {r['p95']:.0f}) "
                    f"| {fast} | {grass} | {s['ended']['lap_complete']} | {s['ended']['left_playfield']} |")
    return "\n".join(rows)

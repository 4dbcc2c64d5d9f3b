"""The results table: every shipped agent's card beside the published numbers.

Each ``checkpoints/controller/<latent>_<name>.json`` card holds how the agent was trained (mode, inputs,
generations, dream steps, wall time), the real env steps of its whole lineage (``lineage``: its own training, its V's
and M's data and the agents that drove them) and, once ``python -m worldmodels evaluate
--update-card`` has run, its protocol score (100 held-out episodes, stock renderer).
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from .core import paths
from .core.storage import load_card, load_json
from .models.registry import vision_class
from .world import datacard

# (agent, reference result, episodes, source), as the chapter and the seeds report them
REFERENCES = [
    ("continuous V + M + C", "906 +/- 21", "100", "Ha & Schmidhuber 2018 (paper); public reproductions 860 to 888"),
    ("continuous V only + C", "632 +/- 251", "100", "Ha & Schmidhuber 2018 (paper)"),
    ("discrete (Gumbel) V only + C", "about 98 (best generation mean)", "-", "seed 004"),
    ("C trained only in the dream", "788.6 +/- 179.5", "100", "Dropout's Dream Land, ECML 2021"),
]

# (who, protocol mean, std, real env steps) where the source gives the steps: issue 30's anchors for the plot of
# score against real env steps (``viz.score_by_lineage``)
ANCHORS = [
    ("World Models, the paper (at most)", 906.0, 21.0, 1.8e9),
    ("PPO, Beta policy (stops 30 steps unrewarded)", 909.0, 10.0, 2.6e6),
    ("rl-zoo PPO-LSTM", 862.5, 97.3, 4e6),
]


def card(checkpoint: str | Path) -> dict[str, Any]:
    """The JSON card beside a checkpoint (``x.pt`` -> ``x.json``), or {} when it has none; a card that is not
    JSON is an error naming it."""
    path = Path(checkpoint).with_suffix(".json")
    return load_card(path) if path.exists() else {}


def score(evaluation: dict[str, Any]) -> str:
    """'259.1 +/- 135.0 over 100 (stock)' from an evaluation (``evaluate``'s result or a card's ``evaluation``)."""
    return f"{evaluation['mean']:.1f} +/- {evaluation['std']:.1f} over {_episodes(evaluation)}"


def score_table(evaluations: dict[str, dict[str, Any] | None]) -> str:
    """A markdown table of labelled evaluations (label -> ``evaluate``'s result or a card's ``evaluation``; None
    rows are left out): episodes, mean, std, min and max."""
    lines = ["| what | episodes | mean | std | min | max |", "|---|---|---|---|---|---|"]
    for label, e in evaluations.items():
        if e is not None:
            lines.append(f"| {label} | {_episodes(e)} | {e['mean']:.1f} | {e['std']:.1f} | {e['min']:.1f} | "
                         f"{e['max']:.1f} |")
    return "\n".join(lines)


def describe(card: dict[str, Any]) -> str:
    """'continuous V + M + C, trained in the real env' and the like, from a controller card."""
    evolution, controller = card["config"]["evolution"], card["config"]["controller"]
    latent = vision_class(evolution["latent"]).description
    if _vision_config(card).get("estimator") == "straight_through":
        latent = latent.replace("Gumbel", "straight-through")
    parts = "V + M + C" if controller["inputs"] == "z_h" else "V only + C"
    hidden = f", hidden layer {controller['hidden_layer']}" if controller.get("hidden_layer") else ""
    if controller.get("code_input") == "soft":
        hidden += ", C reads the posterior probabilities"
    where = "in the dream" if evolution["mode"] == "dream" else "in the real env"
    return f"{latent} {parts}{hidden}, trained {where}"


def summary(card: dict[str, Any]) -> str:
    """A shipped model's card in a few markdown lines: an agent's kind, world model, training, lineage (each part)
    and every score it holds (protocol, other unseen tracks, replicates) as a table; an M's data, fit and
    dream-check. The notebooks show cards through this, never by reading their fields."""
    if card.get("kind") == "mdnrnn":
        return _memory_summary(card)
    training, world = card["training"], card.get("world_model", {})
    evolution = card["config"]["evolution"]
    lines = [f"`{evolution['latent']}_{card['release']}`: {describe(card)}"]
    if world.get("ensemble"):
        lines.append(f"- dreams in an ensemble of {len(world['ensemble'])} Ms ({world['mdnrnn']} gives C its h)")
    if evolution["mode"] == "dream" and evolution.get("dream_branches"):
        lines.append(f"- {evolution['dream_branches']:,} real branch states, dreams of H = {evolution['max_steps']} "
                     f"steps, {evolution['trials']} a candidate")
    soup = f" each, {training['runs']} runs averaged (a soup)" if training.get("runs") else ""
    lines.append(f"- {training['generations']} generations{soup}" + (
        f"; last generation's mean fitness {training['last']['mean']:.1f}" if "last" in training else ""))
    if card.get("candidate"):
        candidate = card["candidate"]
        lines.append(f"- released round {candidate['round']} of {candidate['rounds']}; its dream returns in the last "
                     f"M by round: {candidate['dream_returns']}")
    if "lineage" in card:
        lines.append(f"- real env steps of its whole lineage: {card['lineage']['real_env_steps']:,}")
        lines += [f"    - {what}: {steps:,}" for what, steps in card["lineage"]["parts"].items()]
    scores = {"protocol": card.get("evaluation"), "100 other unseen tracks": card.get("evaluation_other_tracks")}
    scores |= {f"the recipe again, replicate {i + 1}": r for i, r in enumerate(card.get("replicates", []))}
    if any(scores.values()):
        lines += ["", score_table(scores)]
    return "\n".join(lines)


def _memory_summary(card: dict[str, Any]) -> str:
    """An M card: its data (how it was collected and its mix per policy, where the card says), held-out fit and
    dream-check."""
    data, held_out = card["data"], card["metrics"]["held_out"]
    mix = (data.get("collection") or {}).get("mix") or {}
    collected = (f", collected in {mix['wall_seconds'] / 60:.0f} min at {mix['bytes_per_step']:.0f} bytes a step"
                 if "wall_seconds" in mix else "")
    lines = [f"`{card['latent']}_{card['release']}`: {data['episodes']:,} episodes{collected}",
             (f"- held out: latent NLL {held_out['latent_nll']:.3f} nats per dimension, reward R2 "
              f"{held_out['reward_r2']:.2f}")]
    if "dream_check" in card:
        check = card["dream_check"]
        ensemble = (f"; the ensemble of {len(check['members'])}: {check['ensemble']['spearman']:.3f}"
                    if "ensemble" in check else "")
        lines.append(f"- dream-check: Spearman {check['spearman']:.3f} (h-free {check['spearman_h_free']:.3f})"
                     f"{ensemble}")
    if "by_policy" in mix:
        lines += ["", "The data, measured per policy:", "", datacard.markdown(mix)]
    return "\n".join(lines)


def paired(base: dict[str, Any], other: dict[str, Any], where: tuple[str, str] = ("base", "other"),
           loss: float = 100.0) -> dict[str, Any]:
    """``other`` against ``base``, two evaluations (``evaluate``'s results) on the same tracks: the difference of
    their returns track by track (mean, and its standard error), and on how many tracks ``other`` lost (``lost``) or
    won (``won``) more than ``loss`` points. Paired, so the tracks' own spread (a standard deviation of 100 to 300) cancels. ``where`` names
    the two in errors."""
    for name, e in zip(where, (base, other)):
        if not {"returns", "seeds"} <= set(e):
            raise ValueError(f"{name}: an evaluation without its per-track returns and seeds; run evaluate again")
        first, last = e["seeds"]  # one track a seed, first to last
        if len(e["returns"]) != last - first + 1 or not all(math.isfinite(r) for r in e["returns"]):
            raise ValueError(f"{name}: {len(e['returns'])} returns for seeds {first} to {last}, or returns that are "
                             f"not finite numbers")
    if list(base["seeds"]) != list(other["seeds"]):
        raise ValueError(f"{where[1]} drove other tracks than {where[0]} (seeds {other['seeds'][0]} to "
                         f"{other['seeds'][1]} against {base['seeds'][0]} to {base['seeds'][1]}): pair evaluations "
                         f"of the same --seed and --episodes")
    if len(base["returns"]) < 2:
        raise ValueError(f"{where[0]}: a paired difference needs two tracks or more")
    diff = [o - b for b, o in zip(base["returns"], other["returns"])]
    return {"tracks": len(diff), "mean": statistics.fmean(diff), "se": statistics.stdev(diff) / math.sqrt(len(diff)),
            "lost": sum(d < -loss for d in diff), "won": sum(d > loss for d in diff)}


def paired_table(evaluations: dict[str, dict[str, Any]], loss: float = 100.0) -> str:
    """A markdown table of labelled evaluations of the same tracks: each one's score and median, and its paired
    difference against the first (``paired``)."""
    first, base = next(iter(evaluations.items()))
    lines = [f"| what | tracks | mean +/- std | median | paired vs {first} | lost > {loss:g} | won > {loss:g} |",
             "|---|---|---|---|---|---|---|"]
    for label, e in evaluations.items():
        p = paired(base, e, (first, label), loss) if label != first else None
        diff = f"{p['mean']:+.1f} +/- {p['se']:.1f} | {p['lost']} | {p['won']}" if p else "- | - | -"
        lines.append(f"| {label} | {len(e['returns'])} | {e['mean']:.1f} +/- {e['std']:.1f} | "
                     f"{statistics.median(e['returns']):.1f} | {diff} |")
    return "\n".join(lines)


def agent_rows(folder: str | Path | None = None, by_score: bool = False) -> list[dict[str, Any]]:
    """One row per shipped agent card, in name order, or best protocol score first (``by_score``; agents not
    evaluated last)."""
    folder = Path(folder) if folder else paths.checkpoint_dir() / "controller"
    if by_score:
        rows = agent_rows(folder)
        return sorted(rows, key=lambda r: -r["mean"] if r["mean"] is not None else float("inf"))
    rows = []
    for path in sorted(folder.glob("*.json")):
        card = load_json(path)
        training, evaluation = card["training"], card.get("evaluation")
        rows.append({
            "agent": path.stem, "what": describe(card), "mean": evaluation["mean"] if evaluation else None,
            "std": evaluation["std"] if evaluation else None,
            "score": f"{evaluation['mean']:.0f} +/- {evaluation['std']:.0f}" if evaluation else "not evaluated",
            "episodes": _episodes(evaluation) if evaluation else "-",
            "generations": training["generations"],
            "real_env_steps": card["lineage"]["real_env_steps"] if "lineage" in card else training["real_env_steps"],
            "dream_steps": training["dream_steps"], "hours": training["seconds"] / 3600,
        })
    return rows


def _vision_config(card: dict[str, Any]) -> dict[str, Any]:
    """The model config of the V an agent card names, from that V's own card ({} if it has none)."""
    vision = card.get("world_model", {}).get("vision")
    v_card = paths.root() / Path(vision).with_suffix(".json") if vision else None
    if v_card is None or not v_card.exists():
        return {}
    return load_json(v_card).get("config", {}).get("model", {})


def _episodes(evaluation: dict[str, Any]) -> str:
    """'100 (stock)'; shortened episodes (not the protocol) say so: '2 x 30 steps (stock)'."""
    steps = evaluation.get("max_steps", 1000)
    return f"{evaluation['episodes']}{'' if steps == 1000 else f' x {steps} steps'} ({evaluation['renderer']})"


def markdown(rows: list[dict[str, Any]], references: bool = True) -> str:
    """Our agents, then (unless not ``references``) the published ones, as one markdown table."""
    lines = [("| agent | what | score (mean +/- std) | episodes | generations | real env steps | dream steps | "
             "wall time, h |"), "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['agent']}` | {r['what']} | {r['score']} | {r['episodes']} | {r['generations']} | "
                     f"{r['real_env_steps']:,} | {r['dream_steps']:,} | {r['hours']:.2f} |")
    for what, score, episodes, source in REFERENCES if references else []:
        lines.append(f"| reference | {what} ({source}) | {score} | {episodes} | - | - | - | - |")
    return "\n".join(lines)

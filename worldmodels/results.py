"""The results table: every shipped agent's card beside the published numbers.

Each ``checkpoints/controller/<latent>_<name>.json`` card holds how the agent was trained (mode, inputs,
generations, dream steps, wall time), the real env steps of its whole lineage (``lineage``: its own training, its V's
and M's data and the agents that drove them) and, once ``python -m worldmodels evaluate
--update-card`` has run, its protocol score (100 held-out episodes, stock renderer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .core import paths
from .core.storage import load_card, load_json
from .models.registry import vision_class

# (agent, reference result, episodes, source), as the chapter and the seeds report them
REFERENCES = [
    ("continuous V + M + C", "906 +/- 21", "100", "Ha & Schmidhuber 2018 (paper); public reproductions 860 to 888"),
    ("continuous V only + C", "632 +/- 251", "100", "Ha & Schmidhuber 2018 (paper)"),
    ("discrete (Gumbel) V only + C", "about 98 (best generation mean)", "-", "seed 004"),
    ("C trained only in the dream", "788.6 +/- 179.5", "100", "Dropout's Dream Land, ECML 2021"),
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


def markdown(rows: list[dict[str, Any]]) -> str:
    """Our agents, then the references, as one markdown table."""
    lines = [("| agent | what | score (mean +/- std) | episodes | generations | real env steps | dream steps | "
             "wall time, h |"), "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['agent']}` | {r['what']} | {r['score']} | {r['episodes']} | {r['generations']} | "
                     f"{r['real_env_steps']:,} | {r['dream_steps']:,} | {r['hours']:.2f} |")
    for what, score, episodes, source in REFERENCES:
        lines.append(f"| reference | {what} ({source}) | {score} | {episodes} | - | - | - | - |")
    return "\n".join(lines)

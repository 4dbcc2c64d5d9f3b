"""C's training: CMA-ES (pycma) over the controller's parameters, in the real env or in the dream.

Each generation: ``ask`` P candidates, score each by its mean return over R episodes (the same
R fresh seeds for every candidate of a generation, drawn from ``agent.evaluation.TRAIN_SEEDS``), ``tell``
the ES the negated scores (it minimises), save. ``mode="real"`` plays the episodes in CarRacing
on a ``TaskPool`` (``serial``, ``process`` or ``ray``); ``mode="dream"`` steps all P x R episodes
as one batch inside the MDN-RNN (``dream.DreamEnv``), and ``evaluate`` then tells how the result
transfers to the real env. The evaluators live in ``training.evaluators``.

Run folder ``data/runs/controller_<latent>_<name>/``::

    state.npz     the ES's start and every score it was told (no pickle: ``es_state``), history, best and
                  mean so far: written atomically after every generation; a killed run resumes from it exactly
    history.csv   one row per generation: mean, min, max, best so far, sigma, seconds, env steps so far
    best.pt       agent file with the best candidate so far (its score is one generation's noisy mean)
    mean.pt       agent file with the ES's current mean
    best_mean.pt  with ``eval_every``: the mean that scored best on fresh episodes (the paper's choice)
    means/        with ``eval_every``: every mean so scored, ``g<generation>.pt`` (an agent file) and
                  ``g<generation>.json`` (its card: the tracks' seeds, its returns, the run's env steps so far)

The files from ``history.csv`` to ``best_mean.pt`` are derived from ``state.npz``, and rewritten from it whenever
a run starts or resumes, so a kill between the two leaves nothing stale; ``means/`` is written just before the
state, and a generation a kill cut short writes its file again. One run at a time holds the folder (``run_lock``).
"""

from __future__ import annotations

import csv
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..agent.episodes import run_many
from ..agent.evaluation import TRAIN_SEEDS
from ..agent.files import AgentSpec, agent_payload, load_agent_file, save_agent
from ..core import checkpoint, paths
from ..core.config import Config, EvolutionConfig, from_dict, to_dict
from ..core.hardware import resolve_precision
from ..core.parallel import TaskPool
from ..core.provenance import portable, resolve, sha256
from ..core.storage import remove_stale_temporaries, run_lock, save_csv, save_json
from . import release as releases
from .es_state import LEGACY_STATE, STATE, load_state, new_state, read_meta, save_state, tell
from .evaluators import DreamEvaluator, RealEvaluator, dream_latents
from .lineage import card_entry, lineage

# settings that may change when a run resumes (with ``cfg.parallel``, never compared): they do not change its results
_RESUMABLE = ("generations", "step_budget")
MEANS = "means"  # every evaluated ES mean, as an agent file and a card


def generation_seeds(seed: int, generation: int, n: int, stream: int = 0) -> np.ndarray:
    """n env seeds for one generation (stream 0: fitness, 1: evaluations of the mean), reproducible."""
    return np.random.default_rng([seed, generation, stream]).integers(*TRAIN_SEEDS, size=n)


def trials_at(cfg: EvolutionConfig, generation: int) -> int:
    return cfg.early_trials if cfg.early_trials and generation < cfg.early_generations else cfg.trials


def worst_case_steps(cfg: EvolutionConfig, generation: int) -> int:
    """The most real env steps generation ``generation`` (0-based) can take: every training episode run to
    ``max_steps`` (none in the dream) and, where it is due, the evaluation of the mean (episodes of 1000 steps)."""
    training = cfg.population * trials_at(cfg, generation) * cfg.max_steps if cfg.mode == "real" else 0
    evaluation = cfg.eval_episodes * 1000 if cfg.eval_every and (generation + 1) % cfg.eval_every == 0 else 0
    return training + evaluation


def world_model_files(cfg: EvolutionConfig) -> tuple[Path, Path]:
    """The V and M releases a controller of ``cfg.latent`` is trained on."""
    return paths.vision_release(cfg.latent, cfg.world_model), paths.mdnrnn_release(cfg.latent, cfg.world_model)


def run_dir(cfg: EvolutionConfig) -> Path:
    return paths.controller_run(cfg.latent, cfg.name)


# -- the run ---------------------------------------------------------------------------
def _config_dict(cfg: Config) -> dict[str, Any]:
    return {"evolution": to_dict(cfg.evolution), "controller": to_dict(cfg.controller), "rollouts": cfg.collect.name,
            "ensemble": _ensemble(cfg.evolution)}


def _ensemble(e: EvolutionConfig) -> list[dict[str, str]]:
    """The ensemble's M files, pinned by SHA-256 (a run resumes only on the same bytes)."""
    members = []
    for p in e.ensemble:
        path = resolve(p)
        if not path.is_file():
            raise FileNotFoundError(f"--ensemble {p}: no such M file; pass M releases (checkpoints/mdnrnn/<name>.pt)")
        members.append({"path": portable(path), "sha256": sha256(path)})
    return members


def _check_resumable(state: dict, cfg: Config, spec: AgentSpec, path: Path) -> None:
    old, new = state["config"], _config_dict(cfg)
    # compared as configs, so a field added (or renamed) since the run began reads as it would be now
    before = to_dict(from_dict({"evolution": old["evolution"]}).evolution)
    diff = [f"evolution.{k}: run has {before[k]!r}, asked {v!r}" for k, v in new["evolution"].items()
            if k not in _RESUMABLE and before[k] != v]
    if from_dict({"controller": old.get("controller", {})}).controller != cfg.controller:
        diff.append(f"controller: run has {old.get('controller')!r}, asked {new['controller']!r}")
    if old.get("rollouts") != new["rollouts"]:
        diff.append(f"rollouts: run has {old.get('rollouts')!r}, asked {new['rollouts']!r}")
    if old.get("ensemble", []) != new["ensemble"]:
        diff.append("the ensemble's M files differ from those the run started with (paths or SHA-256)")
    if AgentSpec.from_dict(state["spec"]) != spec:
        diff.append("V or M differ from the files the run started with (paths or SHA-256)")
    if diff:
        raise ValueError(f"{path} is a run with other settings ({'; '.join(diff)}); "
                         f"pass another --name or delete {path.parent}")


def _with_precision(cfg: Config, source: EvolutionConfig) -> Config:
    """``cfg`` with ``source``'s V precision, ``auto`` resolved for this machine (what a run records and runs)."""
    precision = resolve_precision(source.vision_precision)
    return dataclasses.replace(cfg, evolution=dataclasses.replace(cfg.evolution, vision_precision=precision))


def evolve(cfg: Config, progress: bool = True, vision_path: str | Path | None = None,
           mdnrnn_path: str | Path | None = None, command: str | None = None) -> dict[str, Any]:
    """Run (or resume) CMA-ES until ``cfg.evolution.generations`` generations are done.

    Args:
        cfg: ``cfg.evolution`` and ``cfg.controller`` (latent and hidden sizes are read from V and M);
            ``cfg.collect.name`` names the rollouts whose first frames (or mid-episode states, with
            ``dream_branches``) start the dreams.
        vision_path, mdnrnn_path: V and M files (default: the releases of ``cfg.evolution.world_model``).
        command: the command line that started or resumed this run, kept in the state for the card.

    Returns:
        the run's state: ``history`` (one dict per generation), ``best``, ``mean``, ``best_mean``, ``es``.
    """
    e = cfg.evolution
    if e.mode == "dream" and cfg.controller.code_input == "soft":
        raise ValueError("code_input='soft' cannot be dream-trained: M dreams hard codes, not class probabilities; "
                         "use --mode real, or code_input='hard'")
    if e.dream_penalty and (e.mode != "dream" or len(e.ensemble) < 2):
        raise ValueError(f"--dream-penalty {e.dream_penalty}: the penalty is the disagreement of an ensemble's "
                         "Ms in the dream; pass --mode dream and two or more M files to --ensemble, or drop it")
    if e.dream_branches and e.mode != "dream":
        raise ValueError(f"--dream-branches {e.dream_branches}: dreams branch from real states only in the dream; "
                         "pass --mode dream, or drop it")
    default_v, default_m = world_model_files(e)
    mdnrnn = mdnrnn_path or default_m
    spec = AgentSpec.build(vision_path or default_v, mdnrnn if (cfg.controller.inputs == "z_h" or e.mode == "dream")
                           else None, cfg.controller)
    folder = run_dir(e)
    with run_lock(folder):
        remove_stale_temporaries(folder)
        remove_stale_temporaries(folder / MEANS)
        state_path = folder / STATE
        if state_path.exists() or (folder / LEGACY_STATE).exists():
            state = load_state(state_path)
            if e.vision_precision == "auto":  # a resume keeps the precision the run began with, on any CPU
                cfg = _with_precision(cfg, from_dict({"evolution": state["config"]["evolution"]}).evolution)
            _check_resumable(state, cfg, spec, state_path)
            if state["history"]:
                save_derived(state, folder)  # a kill between the state and its derived files left them behind
        else:
            cfg = _with_precision(cfg, e)
            n = spec.make_controller().num_params
            x0 = np.zeros(n)
            if e.init:
                init_spec, x0, _ = load_agent_file(resolve(e.init))
                if (init_spec.controller, init_spec.latent_size, init_spec.hidden_size) != \
                        (spec.controller, spec.latent_size, spec.hidden_size):
                    raise ValueError(f"{e.init}: its controller {init_spec.controller} on inputs of {init_spec.latent_size} "
                                     f"+ {init_spec.hidden_size} does not match {spec.controller} on "
                                     f"{spec.latent_size} + {spec.hidden_size}")
            state = new_state(x0, e, _config_dict(cfg), spec.to_dict())
        if len(state["history"]) >= e.generations:
            return state
        if command:
            state["commands"].append(command)
        _run(state, cfg, spec, folder, progress)
    return state


def _run(state: dict, cfg: Config, spec: AgentSpec, folder: Path, progress: bool) -> None:
    e = cfg.evolution
    pool = TaskPool.of(cfg.parallel) if e.mode == "real" or e.eval_every else None
    try:
        evaluator = RealEvaluator(e, spec, pool) if e.mode == "real" else DreamEvaluator(e, spec, dream_latents(cfg, spec))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=e.generations, initial=len(state["history"]), desc=f"evolve {folder.name}", unit="gen")
        ancestry = sum(lineage(*_ancestors(state, spec)).values()) if e.step_budget else 0
        while len(state["history"]) < e.generations:
            worst = ancestry + state["env_steps"] + worst_case_steps(e, len(state["history"]))
            if e.step_budget and worst > e.step_budget:
                state["stopped"] = (f"stopped before generation {len(state['history']) + 1}: it could take the "
                                    f"lineage to {worst:,} real env steps, past --step-budget {e.step_budget:,} "
                                    f"({ancestry:,} behind V, M and --init, {state['env_steps']:,} in this run)")
                break
            row = _generation(state, evaluator, e, spec, pool, folder)
            if bar is not None:
                bar.update()
                bar.set_postfix(mean=f"{row['mean']:.1f}", best=f"{row['best']:.1f}")
        if bar is not None:
            bar.close()
    finally:
        if pool is not None:
            pool.close()


def _generation(state: dict, evaluator, e: EvolutionConfig, spec: AgentSpec, pool: TaskPool | None,
                folder: Path) -> dict[str, Any]:
    """One ask / evaluate / tell, then everything saved."""
    es, g = state["es"], len(state["history"])
    start = time.perf_counter()
    trials = trials_at(e, g)
    candidates = np.asarray(es.ask())  # (P, n)
    returns, info = evaluator(candidates, generation_seeds(e.seed, g, trials), g)  # (P, R)
    if not np.all(np.isfinite(returns)):
        raise FloatingPointError(f"{folder}: generation {g + 1} produced non-finite returns; the run is saved up to "
                                 f"generation {g}; check V and M ({spec.vision}, {spec.mdnrnn})")
    fitness = returns.mean(axis=1)  # (P,)
    tell(state, candidates, fitness)
    top = int(fitness.argmax())
    if state["best"] is None or fitness[top] > state["best"][0]:
        state["best"] = (float(fitness[top]), candidates[top].copy())
    state["env_steps"] += info.get("env_steps", 0)
    state["dream_steps"] += info.get("dream_steps", 0)
    row = {"generation": g + 1, "mean": float(fitness.mean()), "min": float(fitness.min()),
           "max": float(fitness.max()), "best": state["best"][0], "sigma": float(es.sigma), "trials": trials,
           "cut": info.get("cut", 0), "env_steps": state["env_steps"], "dream_steps": state["dream_steps"]}
    if e.eval_every and (g + 1) % e.eval_every == 0:
        seeds = generation_seeds(e.seed, g, e.eval_episodes, stream=1)
        out = run_many(pool, spec, np.repeat(es.mean[None], len(seeds), 0), seeds, e.renderer, 1000,
                       envs_per_task=e.envs_per_task, precision=e.vision_precision)
        state["env_steps"] += int(out["steps"].sum())
        row["env_steps"] = state["env_steps"]
        row["mean_score"] = float(out["returns"].mean())
        save_evaluated_mean(folder, spec, es.mean, g + 1, seeds, out["returns"], state["env_steps"])
        if state["best_mean"] is None or row["mean_score"] > state["best_mean"][0]:
            state["best_mean"] = (row["mean_score"], es.mean.copy())
    row["seconds"] = round(time.perf_counter() - start, 3)
    state["history"].append(row)
    save(state, folder)
    return row


def evaluated_mean_path(folder: Path, generation: int) -> Path:
    """Where the ES mean scored after generation ``generation`` lies: ``means/g<generation>.pt``, a card beside."""
    return folder / MEANS / f"g{generation:05d}.pt"


def save_evaluated_mean(folder: Path, spec: AgentSpec, mean: np.ndarray, generation: int, seeds: np.ndarray,
                        returns: np.ndarray, env_steps: int) -> Path:
    """Keep an evaluated ES mean as an agent file with a card: its returns on the fresh tracks that ranked it (seeds
    no candidate trained on), so ``best_mean`` is a choice among files anyone can score again. Written before the
    state: a run killed in between evaluates it again, to the same file."""
    path = evaluated_mean_path(folder, generation)
    path.parent.mkdir(exist_ok=True)
    record = {"run": portable(folder), "generation": generation, "score": float(np.mean(returns)),
              "seeds": [int(x) for x in seeds], "returns": [round(float(r), 2) for r in returns],
              "real_env_steps": env_steps}
    save_agent(path, spec, mean, {"which": "evaluated_mean", **record})
    save_json(path.with_suffix(".json"), {**record, "agent": portable(path), "agent_sha256": sha256(path)})
    return path


def save(state: dict, folder: Path) -> None:
    """The state first (the truth a resumed run reads), then the files derived from it."""
    save_state(state, folder / STATE)
    save_derived(state, folder)


def save_derived(state: dict, folder: Path) -> None:
    """``history.csv`` and the agent files, from the state."""
    save_csv(folder / "history.csv", state["history"])
    spec = AgentSpec.from_dict(state["spec"])
    extra = {"history": state["history"], "run": portable(folder)}
    save_agent(folder / "mean.pt", spec, state["es"].mean, {**extra, "which": "mean"})
    save_agent(folder / "best.pt", spec, state["best"][1], {**extra, "which": "best", "score": state["best"][0]})
    if state["best_mean"] is not None:
        save_agent(folder / "best_mean.pt", spec, state["best_mean"][1],
                   {**extra, "which": "best_mean", "score": state["best_mean"][0]})


def read_history(folder_or_agent: str | Path) -> list[dict[str, Any]]:
    """The per-generation history of a run folder or an agent file (a folder saved by an earlier version, with a
    pickled state, is read from its ``history.csv``, never from the pickle)."""
    path = Path(folder_or_agent)
    if path.is_dir():
        if not (path / STATE).exists() and (path / "history.csv").exists():
            return read_history_csv(path / "history.csv")
        return read_meta(path / STATE)["history"]  # no replay needed
    return checkpoint.load(path, kind="controller")["history"]


def read_history_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``history.csv``: integers where the column holds integers, floats otherwise, empty cells left out."""
    def number(text: str) -> int | float:
        return int(text) if text.lstrip("-").isdigit() else float(text)

    with open(path, newline="") as f:
        return [{k: number(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def train_or_load(cfg: Config, train_now: bool, release_name: str = "book", progress: bool = True):
    """What the notebooks do: evolve (resuming) when ``train_now``, else take the shipped release.

    Returns:
        (agent file, history): the run's ``best_mean.pt`` (or ``mean.pt``) or ``checkpoints/controller/...``.
    """
    if train_now:
        state = evolve(cfg, progress=progress)
        folder = run_dir(cfg.evolution)
        return folder / ("best_mean.pt" if state["best_mean"] is not None else "mean.pt"), state["history"]
    path = paths.controller_release(cfg.evolution.latent, release_name)
    return path, read_history(path)


# -- releases --------------------------------------------------------------------------
def _ancestors(state: dict[str, Any], spec: AgentSpec) -> list[tuple[str, str]]:
    """What a run's agent is made from, as ``lineage`` roots: V, M, the controller it started from (``--init``:
    its parameters carry that agent's whole lineage) and, in dream mode, the rollouts its dreams start from."""
    evolution = state["config"]["evolution"]
    return [(spec.vision, "vision"), *([(spec.mdnrnn, "mdnrnn")] if spec.mdnrnn else []),
            *((m["path"], "mdnrnn") for m in state["config"].get("ensemble", []) if m["path"] != spec.mdnrnn),
            *([(evolution["init"], "controller")] if evolution.get("init") else []),
            *([(state["config"]["rollouts"], "rollouts")] if evolution["mode"] == "dream" else [])]


def _card_data(state: dict[str, Any]) -> dict[str, Any]:
    """A controller card's ``data``: the mode, and the rollouts its dreams started from."""
    mode = state["config"]["evolution"]["mode"]
    return {"mode": mode, "dream_starts": f"data/rollouts/{state['config']['rollouts']}" if mode == "dream" else None}


def _world_model(state: dict[str, Any], spec: AgentSpec) -> dict[str, Any]:
    """A controller card's ``world_model``: V and M by path and hash, and the ensemble it dreamt in."""
    return {"vision": spec.vision, "vision_sha256": spec.vision_sha256, "mdnrnn": spec.mdnrnn,
            "mdnrnn_sha256": spec.mdnrnn_sha256,
            **({"ensemble": state["config"]["ensemble"]} if state["config"].get("ensemble") else {})}


def _soup_states(cfg: Config, state: dict[str, Any], soup: tuple[str, ...]) -> list[dict[str, Any]]:
    """The finished states of the runs ``soup`` names, each checked to be ``state``'s run but for --name and --seed."""
    def same(st: dict[str, Any]) -> dict[str, Any]:
        return {**st["config"], "evolution": {k: v for k, v in st["config"]["evolution"].items()
                                              if k not in ("name", "seed", "generations")}}  # generations: below
    states = []
    for other in soup:
        folder = run_dir(dataclasses.replace(cfg.evolution, name=other))
        st = load_state(folder / STATE)
        mine, theirs = same(state), same(st)
        if theirs != mine or st["spec"] != state["spec"]:
            diff = sorted({*[k for k in mine["evolution"] if mine["evolution"][k] != theirs["evolution"].get(k)],
                           *[k for k in mine if k != "evolution" and mine[k] != theirs.get(k)]}) or ["spec"]
            raise ValueError(f"--soup-with {other}: {folder} differs from {cfg.evolution.name}'s run in {', '.join(diff)}; "
                             f"a soup averages runs of one recipe, which differ only in --name and --seed")
        if len(st["history"]) != len(state["history"]):  # a run still going, or one run longer
            raise ValueError(f"--soup-with {other}: {folder} has {len(st['history'])} generations, "
                             f"{cfg.evolution.name}'s run {len(state['history'])}; finish both (evolve resumes)")
        states.append(st)
    return states


def release(cfg: Config, name: str, which: str = "auto", command: str | None = None, force: bool = False,
            soup: tuple[str, ...] = ()) -> Path:
    """Ship a finished run as ``checkpoints/controller/<latent>_<name>.pt`` with a JSON card.

    Args:
        which: ``best_mean`` (the mean that scored best on fresh episodes), ``mean`` (the ES's last mean),
            ``best`` (the best single candidate) or ``auto`` (``best_mean`` when the run has one, else ``mean``). A
            dream-mode run is released as ``mean`` or ``best``: its real evaluations (``eval_every``) choose nothing.
        force: replace an existing release of that name.
        soup: names of other finished runs of the same recipe (they differ only in --name and --seed): the release
            is then the average of all their ES means and this run's (a model soup: the same zero start and the same
            inputs make the parameters comparable), ``which`` is ``soup``, and the card counts every run.
    """
    folder = run_dir(cfg.evolution)
    state = load_state(folder / STATE)
    spec = AgentSpec.from_dict(state["spec"])
    path = paths.controller_release(spec.latent, name)
    releases.check_free(path, force)
    if soup:
        if which not in ("auto", "mean"):
            raise ValueError(f"--soup-with averages the runs' ES means; --which {which} cannot be souped")
        return _release_soup(cfg, name, state, spec, path, _soup_states(cfg, state, soup), soup, command, force)
    dreamt = state["config"]["evolution"]["mode"] == "dream"
    if which == "auto":  # a dream-trained agent is chosen from its dreams alone: its real evaluations only monitor
        which = "best_mean" if state["best_mean"] is not None and not dreamt else "mean"
    if which == "best_mean" and dreamt:
        raise ValueError(f"{folder}: a dream-trained agent is never chosen by real returns, and best_mean is the mean "
                         f"that scored best on real episodes; release --which mean (or best, by dream fitness)")
    params = {"mean": state["es"].mean, "best": state["best"][1],
              "best_mean": state["best_mean"][1] if state["best_mean"] else None}[which]
    if params is None:
        raise ValueError(f"{folder}: the run has no {which!r} parameters (it needs eval_every > 0)")
    history = state["history"]
    card = releases.card(
        "controller", name, config=state["config"], data=_card_data(state),
        training={"generations": len(history), "real_env_steps": state["env_steps"],
                  "dream_steps": state["dream_steps"], "seconds": round(sum(r["seconds"] for r in history), 1),
                  "last": history[-1]},
        metrics={}, parameters=len(params), command=command, which=which, world_model=_world_model(state, spec),
        commands=state.get("commands", []),
        lineage=card_entry({f"evolution {portable(path)}": state["env_steps"], **lineage(*_ancestors(state, spec))},
                           "every real env step behind this agent: its own evolution, its V's and M's data with "
                           "the agents that drove them, the agent it started from (--init) and its dream starts"))
    return releases.write(path, agent_payload(spec, params, {"history": history, "which": which}), card, force)


def _release_soup(cfg: Config, name: str, state: dict[str, Any], spec: AgentSpec, path: Path,
                  others: list[dict[str, Any]], soup: tuple[str, ...], command: str | None, force: bool) -> Path:
    """``release`` of the average of ``state``'s and ``others``' ES means (``soup``: the others' run names)."""
    states = [state, *others]
    params = np.mean(np.stack([st["es"].mean for st in states]), axis=0)
    runs = [cfg.evolution.name, *soup]
    ingredients = [{"run": portable(run_dir(dataclasses.replace(cfg.evolution, name=n))),
                    "seed": st["config"]["evolution"]["seed"], "last": st["history"][-1],
                    "commands": st.get("commands", [])} for n, st in zip(runs, states, strict=True)]
    env_steps = sum(st["env_steps"] for st in states)
    card = releases.card(
        "controller", name, config=state["config"], data=_card_data(state),
        training={"generations": len(state["history"]), "real_env_steps": env_steps,
                  "dream_steps": sum(st["dream_steps"] for st in states),
                  "seconds": round(sum(r["seconds"] for st in states for r in st["history"]), 1),
                  "last": state["history"][-1], "runs": len(states)},
        metrics={}, parameters=len(params), command=command, which="soup", soup_of=ingredients,
        world_model=_world_model(state, spec),
        commands=list(dict.fromkeys(c for st in states for c in st.get("commands", []))),
        lineage=card_entry({f"evolution of the {len(states)} runs averaged into {portable(path)}": env_steps,
                            **lineage(*_ancestors(state, spec))},
                           "every real env step behind this agent: the evolution of every run averaged into it, "
                           "its V's and M's data with the agents that drove them, the agent it started from "
                           "(--init) and its dream starts"))
    return releases.write(path, agent_payload(spec, params, {"history": state["history"], "which": "soup",
                                                             "soup_of": [i["run"] for i in ingredients]}), card, force)


"""The paper's iterative loop as one resumable run: M learns from what the dream-trained controller really does.

Each round k (from M_0, the given M):

1. ``evolve``: CMA-ES in M_k's dream only (from round k-1's ES mean), ``evolution.generations`` generations;
2. ``monitor``: the round's ES mean on ``monitor_tracks`` real tracks (seeds from ``MONITOR_SEED``); logged to
   watch progress, never used to choose anything;
3. ``collect``: ``episodes`` real episodes of that mean with action noise (``policy``: ``agent`` or ``mixed``);
4. ``fine-tune``: M_{k+1} = M_k trained ``epochs`` more epochs on every folder so far (each round's ``weight``
   times), through ``training.memory``; with an ``evolution.ensemble``, every member is fine-tuned the same way
   (member j with seed ``mdnrnn_training.seed + 1 + j``, so each keeps its own data order), and round k + 1
   dreams in the fine-tuned members (a member that is M_k itself becomes M_{k+1});
5. ``dream-check``: the rank correlation of M_{k+1}'s dream with reality (``training.dream_check``), and of the
   ensemble's dreams and each member's where there is one.

After the last round, ``select`` plays every round's mean in ``select_dreams`` dreams of the last M, the one
that has seen every round's real episodes, and names the highest the loop's candidate. Controllers are chosen
by dream returns only: real returns reach them only as M's training data.

Files::

    data/runs/iterate_<latent>_<name>/state.json, rounds.csv     the loop (written after every step)
    data/runs/controller_<latent>_<name>_r<k>/                    round k's evolution
    data/rollouts/<name>_r<k>/                                    round k's real episodes
    data/runs/mdnrnn_<latent>_<rollouts>+...+<name>_r<k>/last.pt  M_{k+1}
    data/runs/mdnrnn_<latent>_<name>_r<k>_e<j>/last.pt            ensemble member j after round k

A killed loop resumes at the step it was in: finished steps are in ``state.json``, and the step itself resumes
its own files (evolution state, episodes, M's training run). Real env steps are counted per step.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..agent.episodes import run_many
from ..agent.files import AgentSpec, agent_payload, load_agent_file
from ..agent.policy import make_policy
from ..core import checkpoint, paths
from ..core.config import Config, from_dict, to_dict
from ..core.parallel import TaskPool
from ..core.provenance import portable, resolve, sha256
from ..core.storage import load_json, run_lock, save_csv, save_json
from ..models.encoder import collection_encoder
from ..models.mdnrnn import load as load_mdnrnn
from ..models.registry import load_vision
from ..world.datasets import LatentSequences
from ..world.rollouts import collect
from . import evolve as evolution
from . import memory
from . import release as releases
from .dream_check import dream_check
from .evaluators import DreamEvaluator, dream_latents
from .lineage import card_entry, lineage
from .vision import latents_for

STATE = "state.json"
MONITOR_SEED = 810_000  # monitor tracks: disjoint from training (< 800,000), dream-check and the protocol (900,000)
STEPS = ("evolve", "monitor", "collect", "fine_tune", "dream_check")


def rollouts_of(name: str, k: int) -> str:
    return f"{name}_r{k}"


def _settings(cfg: Config, vision: str, mdnrnn: str, mix: memory.Mix) -> dict[str, Any]:
    """What decides the loop's results: a resumed loop must be asked the same."""
    return {"iterate": {k: v for k, v in to_dict(cfg.iterate).items() if k != "rounds"},
            "evolution": to_dict(cfg.evolution),
            "controller": to_dict(cfg.controller), "mdnrnn_training": to_dict(cfg.mdnrnn_training),
            "sequence_length": cfg.sequence_length, "dream_check": to_dict(cfg.dream_check),
            "vision": {"path": vision, "sha256": sha256(resolve(vision))},
            "mdnrnn": {"path": mdnrnn, "sha256": sha256(resolve(mdnrnn))}, "mix": [list(m) for m in mix]}


_SECTIONS = {"iterate": ("rounds",), "evolution": (), "controller": (), "mdnrnn_training": (),
             "dream_check": ()}  # config sections in the settings, less what may change (and cfg.parallel)


def _as_now(settings: dict[str, Any]) -> dict[str, Any]:
    """Recorded settings read as today's configs, so a field added since the loop began reads as its default."""
    out = dict(settings)
    for section, drop in _SECTIONS.items():
        if section in out:
            full = to_dict(getattr(from_dict({section: out[section]}), section))
            out[section] = {k: v for k, v in full.items() if k not in drop}
    return out


def _check(cfg: Config, latent: str) -> None:
    it, e = cfg.iterate, cfg.evolution
    last = it.collect_seed + it.rounds * it.episodes
    if last > cfg.dream_check.seed:
        raise ValueError(f"--collect-seed {it.collect_seed}: rounds x episodes reach seed {last}, into the "
                         f"dream-check tracks ({cfg.dream_check.seed} up); use a smaller --collect-seed")
    if e.mode != "dream":
        raise ValueError("--mode real: iterate evolves in the dream only (--mode dream); for the real env use evolve")
    if e.eval_every:
        raise ValueError(f"--eval-every {e.eval_every}: iterate never scores its controllers in the real env "
                         f"(its monitor episodes are only logged); use --eval-every 0")
    if e.latent != latent:
        raise ValueError(f"--latent {e.latent}: the V given is a {latent!r} V; pass --latent {latent}")


class Loop:
    """One loop's state and steps; ``run`` does whatever is left."""

    def __init__(self, cfg: Config, vision: str | Path, mdnrnn: str | Path, agents: list[str | Path] | None = None,
                 mix: memory.Mix | None = None, progress: bool = True, command: str | None = None):
        """
        Args:
            cfg: ``iterate``, ``evolution`` (``name`` names the loop), ``controller``, ``dream_check``,
                ``mdnrnn_training`` (its epochs are ``iterate.epochs``), ``collect.name`` (the dreams' starts).
            vision, mdnrnn: V and M_0.
            agents: agent files in dream-check's panel (None: every shipped agent when the loop starts). The panel
                is fixed then, so that every round's dream-check ranks the same controllers: releasing an agent
                meanwhile does not change it, and a resumed loop asked for another panel is refused.
            mix: M's data before the first round (default: the folders and weights M_0 learnt from).
        """
        # dream-check dreams as the evolution does
        cfg = dataclasses.replace(cfg, dream_check=dataclasses.replace(
            cfg.dream_check, tau=cfg.evolution.dream_tau, dropout=cfg.evolution.dream_dropout,
            penalty=cfg.evolution.dream_penalty))
        self.cfg, self.it, self.progress = cfg, cfg.iterate, progress
        self.vision = portable(resolve(vision))
        self.mix = mix or memory.mix_of_run(resolve(mdnrnn))
        start_m = portable(resolve(mdnrnn))
        self.latent = load_vision(resolve(self.vision)).latent
        _check(cfg, self.latent)
        for name, _ in self.mix:  # every round fine-tunes on these: ones that cannot be had are refused up front
            if not paths.latents_path(self.latent, name).exists() and not paths.rollout_dir(name).is_dir():
                raise FileNotFoundError(
                    f"{paths.latents_path(self.latent, name)}: no latents of {name!r}, which M_0 "
                    f"({portable(resolve(mdnrnn))}) learnt from and every round fine-tunes on, and no "
                    f"{paths.rollout_dir(name)} to encode them from; collect and encode them (`python -m worldmodels "
                    f"encode --rollouts {name} --checkpoint {self.vision}`), or pass --mix with encoded folders")
        self.name = cfg.evolution.name
        self.folder = paths.iterate_run(self.latent, self.name)
        path = self.folder / STATE
        state = load_json(path) if path.exists() else None
        if agents is None:
            agents = state["settings"]["panel"] if state else sorted((paths.checkpoint_dir() / "controller").glob("*.pt"))
        self.agents = [portable(resolve(a)) for a in agents]
        settings = {**_settings(cfg, self.vision, start_m, self.mix), "panel": self.agents}
        if state:
            self.state = state
            recorded = _as_now(self.state["settings"])
            if recorded != settings:
                changed = sorted(k for k in settings if recorded.get(k) != settings[k])
                raise ValueError(f"{path}: a loop with other settings ({', '.join(changed)} differ); pass another "
                                 f"--name or delete {self.folder}")
        else:
            self.state = {"settings": settings, "start_mdnrnn": start_m, "start_check": None, "rounds": [],
                          "commands": [], "candidate": None}
        if command:
            self.state["commands"].append(command)
        # M's architecture is M_0's, whatever the scale's preset says
        m0 = load_mdnrnn(resolve(start_m))
        self.cfg = dataclasses.replace(cfg, mdnrnn=from_dict({"mdnrnn": to_dict(m0.cfg)}).mdnrnn,
                                       mdnrnn_training=dataclasses.replace(
                                           cfg.mdnrnn_training, epochs=self.it.epochs,
                                           max_steps_per_epoch=self.it.steps_per_epoch))

    # -- bookkeeping ---------------------------------------------------------------------------------------------
    def save(self) -> None:
        save_json(self.folder / STATE, self.state)
        save_csv(self.folder / "rounds.csv", [summary(r) for r in self.state["rounds"]])

    def mdnrnn_at(self, k: int) -> str:
        """M_k: the start M for k = 0, else the M fine-tuned at the end of round k - 1."""
        return self.state["start_mdnrnn"] if k == 0 else self.state["rounds"][k - 1]["fine_tune"]["mdnrnn"]

    def ensemble_at(self, k: int) -> list[str]:
        """The Ms round k dreams in: the given ensemble for k = 0, else its members fine-tuned in round k - 1
        (empty: the dreams run in M_k alone)."""
        if k == 0:
            return [portable(resolve(p)) for p in self.cfg.evolution.ensemble]
        return list(self.state["rounds"][k - 1]["fine_tune"].get("ensemble", []))

    def mix_after(self, k: int) -> memory.Mix:
        return (*self.mix, *((rollouts_of(self.name, j), self.it.weight) for j in range(k + 1)))

    def evolution_cfg(self, k: int) -> Config:
        it, e = self.it, self.cfg.evolution
        init = self.state["rounds"][k - 1]["evolve"]["agent"] if k else e.init
        generations = it.first_generations if k == 0 and it.first_generations else e.generations
        return dataclasses.replace(self.cfg, evolution=dataclasses.replace(
            e, name=rollouts_of(self.name, k), generations=generations, init=init, seed=e.seed + k,
            ensemble=tuple(self.ensemble_at(k))))

    # -- the steps -----------------------------------------------------------------------------------------------
    def step_evolve(self, k: int) -> dict[str, Any]:
        cfg = self.evolution_cfg(k)
        state = evolution.evolve(cfg, progress=self.progress, vision_path=resolve(self.vision),
                                 mdnrnn_path=resolve(self.mdnrnn_at(k)))
        last = state["history"][-1]
        return {"agent": portable(evolution.run_dir(cfg.evolution) / "mean.pt"), "generations": len(state["history"]),
                "dream_fitness": round(last["mean"], 2), "dream_best": round(last["max"], 2),
                "dream_steps": state["dream_steps"], "real_env_steps": state["env_steps"]}

    def step_monitor(self, k: int, agent: str) -> dict[str, Any]:
        n = self.it.monitor_tracks
        if not n:
            return {"real_mean": None, "real_env_steps": 0}
        spec, params, _ = load_agent_file(resolve(agent))
        seeds = np.arange(MONITOR_SEED, MONITOR_SEED + n)
        e = self.cfg.evolution
        with TaskPool.of(self.cfg.parallel) as pool:
            out = run_many(pool, spec, np.repeat(params[None], n, 0), seeds, e.renderer, self.it.steps,
                           envs_per_task=e.envs_per_task, precision=e.vision_precision)
        return {"real_mean": round(float(out["returns"].mean()), 2), "real_std": round(float(out["returns"].std()), 2),
                "seeds": [int(seeds[0]), int(seeds[-1])], "real_env_steps": int(out["steps"].sum())}

    def step_collect(self, k: int, agent: str) -> dict[str, Any]:
        it = self.it
        name = rollouts_of(self.name, k)
        ccfg = dataclasses.replace(self.cfg.collect, name=name, episodes=it.episodes, steps=it.steps,
                                   seed=it.collect_seed + k * it.episodes, policy=it.policy, agent=agent,
                                   action_noise=it.action_noise)
        files = collect(ccfg, progress=self.progress, make_policy=make_policy,
                        make_encoder=collection_encoder if ccfg.encoder else None,  # the paper preset's
                        parallel=self.cfg.parallel)
        latents = latents_for(load_vision(resolve(self.vision)), name, self.vision, progress=self.progress)
        lengths = LatentSequences.load(latents)["length"]
        return {"rollouts": f"data/rollouts/{name}", "episodes": len(files), "real_env_steps": int(lengths.sum())}

    def step_fine_tune(self, k: int) -> dict[str, Any]:
        mix, start = self.mix_after(k), self.mdnrnn_at(k)
        _, history = memory.train(self.latent, self.cfg, progress=self.progress, mix=mix, init=resolve(start))
        new = portable(memory.run_dir(self.latent, self.cfg, mix=mix) / "last.pt")
        members, t = [], self.cfg.mdnrnn_training
        for j, member in enumerate(self.ensemble_at(k)):
            if resolve(member) == resolve(start):  # M_k itself: its fine-tune is M_{k+1}
                members.append(new)
                continue
            cfg = dataclasses.replace(self.cfg, mdnrnn_training=dataclasses.replace(t, seed=t.seed + 1 + j))
            run = f"{rollouts_of(self.name, k)}_e{j}"
            memory.train(self.latent, cfg, progress=self.progress, run=run, mix=mix, init=resolve(member))
            members.append(portable(memory.run_dir(self.latent, cfg, run) / "last.pt"))
        return {"mdnrnn": new, "mix": [list(m) for m in mix], "ensemble": members,
                "val_loss": history[-1].get("val_loss"), "real_env_steps": 0}

    def step_dream_check(self, k: int, mdnrnn: str) -> dict[str, Any]:
        members = [resolve(p) for p in self.ensemble_at(k + 1)]  # the Ms round k + 1 dreams in
        result = dream_check(resolve(mdnrnn), self.cfg.dream_check, self.cfg.collect.name, resolve(self.vision),
                             [resolve(a) for a in self.agents], ensemble=members, parallel=self.cfg.parallel)
        save_json(paths.dream_check_dir() / f"{self.folder.name}_{'start' if k < 0 else f'r{k}'}.json", result)
        # each real return counted once by the loop, wherever it was computed (an earlier check, a run killed
        # after its check): the steps behind returns no recorded check of this loop counted yet
        counted = self.state.setdefault("real_counted", [])
        seen = set(counted)
        fresh = {key: n for key, n in result["real_env_steps_behind"].items() if key not in seen}
        counted.extend(sorted(fresh))
        ensemble = {k: result[k] for k in ("ensemble", "members") if k in result}
        return {"spearman": result["spearman"], "spearman_h_free": result["spearman_h_free"], "panel": result["panel"],
                **ensemble, "real_env_steps": sum(fresh.values())}

    def run_round(self, k: int) -> None:
        rounds = self.state["rounds"]
        if len(rounds) == k:
            rounds.append({"round": k})
        done = rounds[k]
        for step in STEPS:
            if step in done:
                continue
            start = time.perf_counter()
            if step == "evolve":
                result = self.step_evolve(k)
            elif step in ("monitor", "collect"):
                result = getattr(self, f"step_{step}")(k, done["evolve"]["agent"])
            elif step == "fine_tune":
                result = self.step_fine_tune(k)
            else:
                result = self.step_dream_check(k, done["fine_tune"]["mdnrnn"])
            done[step] = {**result, "seconds": round(time.perf_counter() - start, 1)}  # this session's share
            self.save()

    def select(self) -> dict[str, Any]:
        """Every round's mean in the same ``select_dreams`` dreams of the last M (of the last ensemble, one member
        drawn per dream, where the loop has one); the highest is the candidate."""
        last = len(self.state["rounds"])
        last_m = self.mdnrnn_at(last)
        spec = AgentSpec.build(resolve(self.vision), resolve(last_m), self.cfg.controller)
        params = np.stack([load_agent_file(resolve(r["evolve"]["agent"]))[1] for r in self.state["rounds"]])
        n = self.it.select_dreams
        e = dataclasses.replace(self.cfg.evolution, ensemble=tuple(self.ensemble_at(last)))
        returns, _ = DreamEvaluator(e, spec, dream_latents(self.cfg, spec))(params, np.arange(e.seed, e.seed + n), 0)
        scores = returns.mean(axis=1)  # (rounds,)
        best = int(scores.argmax())
        return {"round": best, "agent": self.state["rounds"][best]["evolve"]["agent"],
                "mdnrnn": self.mdnrnn_at(best), "judge": last_m, "judges": list(e.ensemble), "dreams": n,
                "dream_returns": [round(float(s), 2) for s in scores]}

    def run(self) -> dict[str, Any]:
        """Dream-check M_0, do every round not yet done, then choose the candidate; returns the state."""
        with run_lock(self.folder):
            self.save()
            for name, _ in self.mix:  # M_0's data, encoded by this V first where they are not yet
                latents_for(load_vision(resolve(self.vision)), name, self.vision, progress=self.progress)
            if self.state["start_check"] is None:
                self.state["start_check"] = self.step_dream_check(-1, self.state["start_mdnrnn"])
                self.save()
            for k in range(self.it.rounds):
                self.run_round(k)
            if (self.state["candidate"] or {}).get("rounds") != len(self.state["rounds"]):
                self.state["candidate"] = {**self.select(), "rounds": len(self.state["rounds"])}
                self.save()
        return self.state


def summary(r: dict[str, Any]) -> dict[str, Any]:
    """One round as a flat row (rounds.csv; steps not yet done are blank)."""
    get = lambda step, key: r.get(step, {}).get(key)
    return {"round": r["round"], "generations": get("evolve", "generations"),
            "dream_fitness": get("evolve", "dream_fitness"), "real_monitor": get("monitor", "real_mean"),
            "dream_check": get("dream_check", "spearman"), "dream_check_h_free": get("dream_check", "spearman_h_free"),
            "real_env_steps": sum(r.get(s, {}).get("real_env_steps", 0) for s in STEPS),
            "seconds": round(sum(r.get(s, {}).get("seconds", 0) for s in STEPS), 1)}


def spent(state: dict[str, Any]) -> dict[str, int]:
    """The real env steps the loop itself spent, by kind (its evolution spends none: it dreams)."""
    rounds = state["rounds"]
    out = {kind: sum(r.get(step, {}).get("real_env_steps", 0) for r in rounds)
           for kind, step in (("collection", "collect"), ("monitoring", "monitor"), ("dream-check", "dream_check"),
                              ("evolution", "evolve"))}
    out["dream-check"] += (state.get("start_check") or {}).get("real_env_steps", 0)
    return out


def release(loop: Loop, name: str, command: str | None = None, force: bool = False) -> Path:
    """Ship the loop's candidate as ``checkpoints/controller/<latent>_<name>.pt``, with the M it acts through as
    ``checkpoints/mdnrnn/<latent>_<name>.pt`` (the candidate's h comes from it), each with a card; the agent's card
    counts the real env steps of its whole lineage."""
    state, latent = loop.state, loop.latent
    candidate = state.get("candidate")
    if not candidate or candidate.get("rounds") != loop.it.rounds:
        raise ValueError(f"{loop.folder}: the loop has not finished its {loop.it.rounds} rounds; run it first")
    agent_path, m_path = paths.controller_release(latent, name), paths.mdnrnn_release(latent, name)
    releases.check_free(agent_path, force)
    k = candidate["round"]
    check = state["rounds"][k - 1]["dream_check"] if k else state["start_check"]
    run = resolve(candidate["mdnrnn"])
    if not releases.exists(m_path) or force:
        memory.release(latent, loop.cfg, name, command=command, force=force, mix=memory.mix_of_run(run),
                       extra={"dream_check": dict(check)})
    elif checkpoint.load(m_path, kind="mdnrnn")["config"] != checkpoint.load(run, kind="mdnrnn")["config"]:
        raise releases.ReleaseExistsError(f"{m_path} is another M than the candidate's ({run}); release under "
                                          f"another name, or pass --force to replace both")
    spec = AgentSpec.build(resolve(loop.vision), m_path, loop.cfg.controller)
    params = load_agent_file(resolve(candidate["agent"]))[1]
    parts = lineage((loop.vision, "vision"), (state["rounds"][-1]["fine_tune"]["mdnrnn"], "mdnrnn"))
    # the loop's episodes are counted above, as M's data (rollouts <name>_r<k>); add what M never learnt from
    parts.update({f"iterate {kind} {portable(loop.folder)}": n for kind, n in spent(state).items()
                  if n and kind != "collection"})
    rounds = [summary(r) for r in state["rounds"]]
    history = ancestry(state["rounds"][: k + 1])
    dreamt_in = loop.ensemble_at(k)
    card = releases.card(
        "controller", name, config=state["settings"],
        data={"mode": "dream", "rounds": [r["collect"]["rollouts"] for r in state["rounds"]],
              "dream_starts": f"data/rollouts/{loop.cfg.collect.name}"},
        training={"rounds": rounds, "generations": len(history),
                  "dream_steps": sum(r["evolve"]["dream_steps"] for r in state["rounds"]), "real_env_steps": 0,
                  "start_dream_check": state["start_check"]["spearman"],
                  "seconds": round(sum(r["seconds"] for r in rounds), 1)},
        metrics={}, parameters=len(params), command=command, which="candidate", candidate=candidate,
        commands=state["commands"],
        lineage=card_entry(parts, "every real env step behind this agent: its V's and M's data, the agents that "
                                  "drove them and their evolution, and the loop's collection, monitoring and "
                                  "dream-checks; its controller's fitness came only from dreams"),
        world_model={"vision": spec.vision, "vision_sha256": spec.vision_sha256, "mdnrnn": spec.mdnrnn,
                     "mdnrnn_sha256": spec.mdnrnn_sha256,
                     # the Ms its last round dreamt in (it acts through the M above alone)
                     **({"dream_ensemble": dreamt_in} if dreamt_in else {})})
    return releases.write(agent_path, agent_payload(spec, params, {"history": history, "which": "candidate"}), card,
                          force)


def ancestry(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The evolution histories of ``rounds`` (a controller and the rounds it grew from) as one, generations and
    dream steps counted on from round to round; each row says its ``round``."""
    history, generations, dream_steps = [], 0, 0
    for r in rounds:
        rows = evolution.read_history(resolve(r["evolve"]["agent"]))
        history += [{**row, "round": r["round"], "generation": generations + row["generation"],
                     "dream_steps": dream_steps + row["dream_steps"]} for row in rows]
        generations, dream_steps = generations + len(rows), dream_steps + rows[-1]["dream_steps"]
    return history

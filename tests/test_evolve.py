"""CMA-ES evolution: exact resume after a kill, the same results on every backend, dream mode, releases."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import worldmodels as wm
from worldmodels.agent import evaluation as evaluation_lib
from worldmodels.agent import files as agent_files
from worldmodels.core.checkpoint import CheckpointError
from worldmodels.core.config import EvaluationConfig
from worldmodels.core.provenance import sha256
from worldmodels.training import es_state, evolve
from worldmodels.world.rollouts import collect


def smoke(backend="serial", **evolution):
    return wm.get_config("smoke", parallel={"backend": backend}, evolution=evolution)


def results(state):
    """What must not depend on where or how often the run was stopped: everything but the timings."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in state["history"]]


def test_resume_after_a_kill_continues_as_if_never_stopped(world_model, wm_root):
    straight = evolve.evolve(smoke(name="straight", generations=8), progress=False)
    folder = evolve.run_dir(smoke(name="killed").evolution)
    command = [sys.executable, "-m", "worldmodels", "evolve", "--scale", "smoke", "--backend", "serial",
               "--name", "killed", "--generations", "8", "--quiet"]
    proc = subprocess.Popen(command, env={**os.environ, "WM_ROOT": str(wm_root)}, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if (folder / "history.csv").exists() and len((folder / "history.csv").read_text().splitlines()) >= 3:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    done = len(evolve.load_state(folder / evolve.STATE)["history"])
    assert 2 <= done < 8
    resumed = evolve.evolve(smoke(name="killed", generations=8), progress=False)
    assert results(resumed) == results(straight)
    assert np.array_equal(resumed["es"].mean, straight["es"].mean)
    assert np.array_equal(resumed["best"][1], straight["best"][1])
    rows = (folder / "history.csv").read_text().splitlines()
    assert len(rows) == 9 and rows[0].startswith("generation,mean,min,max,best,sigma")
    _, params, payload = agent_files.load_agent_file(folder / "mean.pt")
    assert np.array_equal(params, resumed["es"].mean) and len(payload["history"]) == 8


def test_more_generations_extend_a_finished_run(world_model):
    four = evolve.evolve(smoke(name="a", generations=4), progress=False)
    evolve.evolve(smoke(name="b", generations=2), progress=False)
    extended = evolve.evolve(smoke(name="b", generations=4), progress=False)
    assert results(extended) == results(four)


def test_a_step_budget_stops_before_a_generation_that_could_pass_it_and_resumes_when_raised(world_model):
    from worldmodels.training.lineage import lineage

    straight = evolve.evolve(smoke(name="straight", generations=5, eval_every=2, eval_episodes=1), progress=False)
    cfg = smoke(name="budget", generations=5, eval_every=2, eval_episodes=1)
    vision, mdnrnn = evolve.world_model_files(cfg.evolution)
    ancestry = sum(lineage((vision, "vision"), (mdnrnn, "mdnrnn")).values())
    assert ancestry > 0
    per_generation = [evolve.worst_case_steps(cfg.evolution, g) for g in range(5)]
    assert per_generation[:2] == [4 * 2 * 30, 4 * 2 * 30 + 1000]  # population x trials x steps, + the evaluation
    budget = ancestry + sum(per_generation[:3]) + per_generation[3] - 1  # three fit, the fourth could pass it
    stopped = evolve.evolve(smoke(name="budget", generations=5, eval_every=2, eval_episodes=1, step_budget=budget),
                            progress=False)
    assert len(stopped["history"]) == 3 and "before generation 4" in stopped["stopped"]
    assert results(stopped) == results(straight)[:3]
    card = json.loads(evolve.release(smoke(name="budget", generations=5, eval_every=2, eval_episodes=1,
                                           step_budget=budget), "budget").with_suffix(".json").read_text())
    assert card["lineage"]["real_env_steps"] == ancestry + stopped["env_steps"] <= budget
    # a finished (stopped) run stays stopped under the same budget, and carries on exactly when it is raised
    again = evolve.evolve(smoke(name="budget", generations=5, eval_every=2, eval_episodes=1, step_budget=budget),
                          progress=False)
    assert len(again["history"]) == 3
    raised = evolve.evolve(smoke(name="budget", generations=5, eval_every=2, eval_episodes=1, step_budget=budget * 2),
                           progress=False)
    assert results(raised) == results(straight)
    with pytest.raises(ValueError, match="step_budget"):
        smoke(step_budget=-1)


def test_process_pool_and_ray_give_the_same_results(world_model):
    ray = pytest.importorskip("ray")
    by_process = evolve.evolve(smoke(name="process", backend="process"), progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        by_ray = evolve.evolve(smoke(name="ray", backend="ray"), progress=False)
    finally:
        ray.shutdown()
    serial = evolve.evolve(smoke(name="serial"), progress=False)
    assert results(by_process) == results(by_ray) == results(serial)
    assert by_process["env_steps"] == 2 * 4 * 2 * 30  # generations x population x trials x steps


def test_compute_savers_are_recorded(world_model):
    state = evolve.evolve(smoke(name="savers", generations=3, early_trials=1, early_generations=2, tile_cutoff=5,
                                eval_every=3), progress=False)
    rows = state["history"]
    assert [r["trials"] for r in rows] == [1, 1, 2]
    assert all(r["cut"] > 0 for r in rows)  # 5 steps without a new tile is short: some episodes are cut
    assert rows[0]["env_steps"] < 4 * 1 * 30
    assert "mean_score" in rows[2] and state["best_mean"] is not None
    # the evaluated mean is kept with its card: the tracks that scored it, none a candidate trained on
    folder = evolve.run_dir(smoke(name="savers").evolution)
    kept = evolve.evaluated_mean_path(folder, 3)
    assert sorted(p.name for p in (folder / evolve.MEANS).iterdir()) == ["g00003.json", "g00003.pt"]
    record = json.loads(kept.with_suffix(".json").read_text())
    assert record["generation"] == 3 and record["score"] == rows[2]["mean_score"] == state["best_mean"][0]
    assert len(record["returns"]) == len(record["seeds"]) == 2 and record["real_env_steps"] == state["env_steps"]
    training = {int(s) for g in range(3) for s in evolve.generation_seeds(0, g, 2)}
    assert not training & set(record["seeds"])
    _, params, payload = agent_files.load_agent_file(kept)
    np.testing.assert_array_equal(params, state["best_mean"][1])
    assert payload["which"] == "evaluated_mean" and record["agent_sha256"] == sha256(kept)
    path = evolve.release(smoke(name="savers"), "savers")
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["which"] == "best_mean" and card["training"]["real_env_steps"] == state["env_steps"]


def test_dream_mode_trains_in_m_and_the_release_drives_in_the_real_env(world_model, wm_root):
    cfg = smoke(name="dream", mode="dream", generations=3)
    collect(cfg.collect, progress=False)  # dreams start from the first frames of these rollouts
    state = evolve.evolve(cfg, progress=False)
    assert state["env_steps"] == 0 and state["dream_steps"] == 3 * 4 * 2 * 30
    path = evolve.release(cfg, "dream_smoke")
    assert path == wm_root / "checkpoints" / "controller" / "vae_dream_smoke.pt"
    result = evaluation_lib.evaluate_file(path, EvaluationConfig(episodes=2, renderer="fast", max_steps=20),
                                          parallel=cfg.parallel)
    assert len(result["returns"]) == 2 and np.all(np.isfinite(result["returns"]))
    dream_card = json.loads(path.with_suffix(".json").read_text())
    assert dream_card["lineage"]["parts"]["rollouts data/rollouts/smoke"] == 4 * 40  # the frames its dreams start from
    # a real-env run started from it (--init) counts the dream agent's lineage too
    real = smoke(name="from_dream", generations=1, init="checkpoints/controller/vae_dream_smoke.pt")
    state = evolve.evolve(real, progress=False)
    card = json.loads(evolve.release(real, "from_dream").with_suffix(".json").read_text())
    parts = card["lineage"]["parts"]
    assert parts["evolution checkpoints/controller/vae_from_dream.pt"] == state["env_steps"] > 0
    assert parts["evolution checkpoints/controller/vae_dream_smoke.pt"] == 0  # it never drove a real car
    assert parts["rollouts data/rollouts/smoke"] == 4 * 40 and card["lineage"]["real_env_steps"] == sum(parts.values())


def test_a_run_with_other_settings_or_a_corrupt_state_is_refused(world_model):
    evolve.evolve(smoke(name="x", generations=1), progress=False)
    with pytest.raises(ValueError, match="population: run has 4, asked 6"):
        evolve.evolve(smoke(name="x", generations=2, population=6), progress=False)
    state = evolve.run_dir(smoke(name="x").evolution) / evolve.STATE
    state.write_bytes(state.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="state.npz: unreadable evolution state"):
        evolve.evolve(smoke(name="x", generations=2), progress=False)


def edit_meta(path, change):
    """Rewrite the JSON part of a ``state.npz`` (as an earlier version would have written it)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    change(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_a_run_saved_before_a_controller_setting_existed_still_resumes(world_model):
    """Settings added later (code_input) read as their defaults in an older run's state, not as a change."""
    evolve.evolve(smoke(name="old", generations=1), progress=False)

    def drop(meta):
        del meta["config"]["controller"]["code_input"], meta["spec"]["controller"]["code_input"]

    edit_meta(evolve.run_dir(smoke(name="old").evolution) / evolve.STATE, drop)
    assert len(evolve.evolve(smoke(name="old", generations=2), progress=False)["history"]) == 2
    with pytest.raises(ValueError, match="controller: run has"):
        evolve.evolve(wm.get_config("smoke", parallel={"backend": "serial"}, evolution={"name": "old", "generations": 3},
                                    controller={"hidden_layer": 4}), progress=False)


def test_a_run_saved_before_the_fast_acting_path_resumes_only_as_it_ran(world_model):
    """A state without ``vision_precision`` ran V in float32: bfloat16 is refused, float32 and auto resume."""
    old = {"name": "fp32", "renderer": "fast", "vision_precision": "float32"}
    evolve.evolve(smoke(generations=1, **old), progress=False)
    edit_meta(evolve.run_dir(smoke(**old).evolution) / evolve.STATE,
              lambda meta: meta["config"]["evolution"].pop("vision_precision"))
    with pytest.raises(ValueError, match="vision_precision: run has 'float32', asked 'bfloat16'"):
        evolve.evolve(smoke(name="fp32", renderer="fast", generations=2, vision_precision="bfloat16"), progress=False)
    assert len(evolve.evolve(smoke(generations=2, **old), progress=False)["history"]) == 2
    auto = evolve.evolve(smoke(name="fp32", renderer="fast", generations=3), progress=False)  # today's default
    assert len(auto["history"]) == 3  # auto took the run's float32 (bfloat16 was refused above)


def test_auto_precision_is_resolved_when_a_run_begins_and_kept_when_it_resumes(world_model, monkeypatch):
    """``auto`` is this CPU's choice at the start, recorded in the state; a resume on a CPU that would choose
    otherwise keeps what the run began with."""
    monkeypatch.setattr(evolve, "resolve_precision", lambda p: "bfloat16" if p == "auto" else p)
    begun = evolve.evolve(smoke(name="auto", generations=1), progress=False)
    assert begun["config"]["evolution"]["vision_precision"] == "bfloat16"
    monkeypatch.setattr(evolve, "resolve_precision", lambda p: "float32" if p == "auto" else p)
    resumed = evolve.evolve(smoke(name="auto", generations=2), progress=False)
    assert len(resumed["history"]) == 2 and resumed["config"]["evolution"]["vision_precision"] == "bfloat16"
    with pytest.raises(ValueError, match="vision_precision: run has 'bfloat16', asked 'float32'"):
        evolve.evolve(smoke(name="auto", generations=3, vision_precision="float32"), progress=False)


def test_a_run_state_with_old_field_names_resumes(world_model):
    """A state whose config still says ``evolution.release`` (renamed ``world_model``) resumes as if renamed."""
    cfg = smoke(name="old", generations=1)
    evolve.evolve(cfg, progress=False)
    edit_meta(evolve.run_dir(cfg.evolution) / evolve.STATE,
              lambda meta: meta["config"]["evolution"].__setitem__("release",
                                                                   meta["config"]["evolution"].pop("world_model")))
    assert len(evolve.evolve(smoke(name="old", generations=2), progress=False)["history"]) == 2


class _Payload:
    """What a hostile run folder could hold: a pickle that makes a folder when it is loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_a_pickle_in_a_run_folder_never_runs(world_model, wm_root, tmp_path):
    """``state.pkl`` (the format of earlier versions) is refused by evolve, --release and read_history, unread;
    the state that replaced it holds no pickle at all."""
    import pickle

    marker = tmp_path / "payload_ran"
    cfg = smoke(name="hostile", generations=1)
    folder = evolve.run_dir(cfg.evolution)
    folder.mkdir(parents=True)
    (folder / "state.pkl").write_bytes(pickle.dumps({"history": [], "es": _Payload(marker)}))
    with pytest.raises(CheckpointError, match="state.pkl: a run state pickled by an earlier version"):
        evolve.evolve(cfg, progress=False)
    with pytest.raises(CheckpointError, match="state.pkl: a run state pickled by an earlier version"):
        evolve.release(cfg, "hostile")
    with pytest.raises(CheckpointError, match="state.npz: unreadable evolution state"):
        evolve.read_history(folder)
    env = {**os.environ, "WM_ROOT": str(wm_root)}
    for args in (["--generations", "1"], ["--generations", "1", "--release", "hostile"]):
        out = subprocess.run([sys.executable, "-m", "worldmodels", "evolve", "--scale", "smoke", "--backend", "serial",
                              "--name", "hostile", "--quiet", *args], check=False, env=env, capture_output=True,
                             text=True)
        assert out.returncode != 0 and "pickled by an earlier version" in out.stderr
    assert not marker.exists()
    # a state written now is numbers and JSON: numpy reads it with pickles refused
    evolve.evolve(smoke(name="clean", generations=1), progress=False)
    with np.load(evolve.run_dir(smoke(name="clean").evolution) / evolve.STATE, allow_pickle=False) as npz:
        assert {"meta", "x0", "fitness", "es_mean", "es_sigma", "best"} <= set(npz.files)
        assert all(npz[k].dtype != object for k in npz.files)


def test_a_state_that_does_not_replay_to_its_saved_es_is_refused(world_model):
    cfg = smoke(name="tampered", generations=2)
    evolve.evolve(cfg, progress=False)
    path = evolve.run_dir(cfg.evolution) / evolve.STATE
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["fitness"][1, 0] += 1.0
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(CheckpointError, match="replaying its 2 generations does not give the ES it saved"):
        evolve.evolve(smoke(name="tampered", generations=3), progress=False)


def test_files_left_behind_by_a_kill_after_the_state_are_rewritten(world_model):
    """A kill between ``state.npz`` and the files derived from it: the next run (even one with nothing left to do)
    brings history.csv and the agent files up to the state."""
    cfg = smoke(name="stale", generations=2)
    state = evolve.evolve(cfg, progress=False)
    folder = evolve.run_dir(cfg.evolution)
    (folder / "mean.pt").unlink()
    history = (folder / "history.csv").read_text().splitlines()
    (folder / "history.csv").write_text("\n".join(history[:2]) + "\n")
    (folder / ".mean.pt.x1.tmp").write_bytes(b"half")  # a temporary file a killed writer left
    evolve.evolve(cfg, progress=False)
    assert (folder / "history.csv").read_text().splitlines() == history
    _, params, _ = agent_files.load_agent_file(folder / "mean.pt")
    assert np.array_equal(params, state["es"].mean)
    assert not list(folder.glob(".*.tmp"))
    assert evolve.read_history(folder) == state["history"]


def test_a_second_run_on_the_same_folder_is_refused(world_model):
    from worldmodels.core.storage import RunLockedError, run_lock

    cfg = smoke(name="busy", generations=1)
    with run_lock(evolve.run_dir(cfg.evolution)), pytest.raises(RunLockedError, match="another run is using"):
        evolve.evolve(cfg, progress=False)


def test_read_history_of_a_folder_from_an_earlier_version_uses_its_csv(world_model):
    cfg = smoke(name="csv", generations=2)
    state = evolve.evolve(cfg, progress=False)
    folder = evolve.run_dir(cfg.evolution)
    (folder / evolve.STATE).unlink()
    (folder / evolve.LEGACY_STATE).write_bytes(b"not read")
    assert evolve.read_history(folder) == state["history"]


def test_soft_codes_cannot_be_dream_trained():
    cfg = wm.get_config("smoke", evolution={"mode": "dream", "latent": "gumbel"}, controller={"code_input": "soft"})
    with pytest.raises(ValueError, match="cannot be dream-trained"):
        evolve.evolve(cfg, progress=False)


def test_the_es_does_not_touch_global_numpy_randomness():
    cfg = smoke().evolution
    a, b = es_state.make_es(np.zeros(5), cfg), es_state.make_es(np.zeros(5), cfg)
    first = np.asarray(a.ask())
    np.random.seed(123)
    np.random.standard_normal(10)
    assert np.array_equal(first, np.asarray(b.ask()))


def test_non_finite_returns_stop_the_run_before_it_is_saved(world_model, monkeypatch):
    """Plumbing: an evaluator that returns NaN (a broken M, say) stops the run; the saved state stays good."""
    cfg = smoke(name="nan", generations=2)
    evolve.evolve(smoke(name="nan", generations=1), progress=False)

    def broken(self, candidates, seeds, generation):
        return np.full((len(candidates), len(seeds)), np.nan), {}

    monkeypatch.setattr(evolve.RealEvaluator, "__call__", broken)
    with pytest.raises(FloatingPointError, match="generation 2 produced non-finite returns; the run is saved up to generation 1"):
        evolve.evolve(cfg, progress=False)
    assert len(evolve.load_state(evolve.run_dir(cfg.evolution) / evolve.STATE)["history"]) == 1


def test_dreams_in_an_ensemble_are_pinned_on_the_run_and_the_card(world_model, wm_root):
    import shutil

    _, mdnrnn = world_model
    other = wm_root / "checkpoints" / "mdnrnn" / "vae_other.pt"
    shutil.copy(mdnrnn, other)
    ensemble = ("checkpoints/mdnrnn/vae_book.pt", "checkpoints/mdnrnn/vae_other.pt")
    cfg = smoke(name="ens", mode="dream", generations=2, ensemble=ensemble)
    collect(cfg.collect, progress=False)
    state = evolve.evolve(cfg, progress=False)
    assert [m["path"] for m in state["config"]["ensemble"]] == list(ensemble)
    card = json.loads(evolve.release(cfg, "ens").with_suffix(".json").read_text())
    assert [m["path"] for m in card["world_model"]["ensemble"]] == list(ensemble)
    assert card["training"]["real_env_steps"] == 0
    other.write_bytes(other.read_bytes() + b"\0")  # another M under the same name
    with pytest.raises(ValueError, match="ensemble's M files differ"):
        evolve.evolve(smoke(name="ens", mode="dream", generations=3, ensemble=ensemble), progress=False)
    with pytest.raises(FileNotFoundError, match="--ensemble checkpoints/mdnrnn/missing.pt"):
        evolve.evolve(smoke(name="ens2", mode="dream", ensemble=("checkpoints/mdnrnn/missing.pt",)), progress=False)
    with pytest.raises(ValueError, match="--dream-penalty 1.0: .* two or more M files to --ensemble"):
        evolve.evolve(smoke(name="pen", mode="dream", dream_penalty=1.0), progress=False)
    shutil.copy(mdnrnn, wm_root / "checkpoints" / "mdnrnn" / "vae_third.pt")
    penalised = evolve.evolve(smoke(name="pen2", mode="dream", generations=1, dream_penalty=1.0,
                                    ensemble=(ensemble[0], "checkpoints/mdnrnn/vae_third.pt")), progress=False)
    assert penalised["config"]["evolution"]["dream_penalty"] == 1.0 and len(penalised["history"]) == 1


def test_a_dream_agent_is_never_chosen_by_its_real_evaluations(world_model):
    cfg = smoke(name="dream_eval", mode="dream", generations=2, eval_every=1)
    collect(cfg.collect, progress=False)
    state = evolve.evolve(cfg, progress=False)
    assert state["best_mean"] is not None  # the mean was scored on real tracks, to watch
    with pytest.raises(ValueError, match="never chosen by real returns"):
        evolve.release(cfg, "dream_eval", which="best_mean")
    card = json.loads(evolve.release(cfg, "dream_eval").with_suffix(".json").read_text())
    assert card["which"] == "mean"


def test_dreams_branched_from_real_mid_episode_states_last_the_horizon_and_resume_exactly(world_model, wm_root):
    import shutil

    _, mdnrnn = world_model
    shutil.copy(mdnrnn, wm_root / "checkpoints" / "mdnrnn" / "vae_other.pt")
    ensemble = ("checkpoints/mdnrnn/vae_book.pt", "checkpoints/mdnrnn/vae_other.pt")
    cfg = smoke(name="branch", mode="dream", generations=3, dream_branches=50, max_steps=7, ensemble=ensemble)
    collect(cfg.collect, progress=False)
    straight = evolve.evolve(cfg, progress=False)
    e = cfg.evolution
    assert straight["dream_steps"] == 3 * e.population * e.trials * 7  # every dream lasts the horizon H = 7
    evolve.evolve(smoke(name="halted", mode="dream", generations=1, dream_branches=50, max_steps=7, ensemble=ensemble),
                  progress=False)
    resumed = evolve.evolve(smoke(name="halted", mode="dream", generations=3, dream_branches=50, max_steps=7,
                                  ensemble=ensemble), progress=False)
    assert results(resumed) == results(straight)  # the branch points are drawn again, the same
    first = evolve.evolve(smoke(name="first", mode="dream", generations=3, max_steps=7, ensemble=ensemble), progress=False)
    assert results(first) != results(straight)  # from first frames, another world
    card = json.loads(evolve.release(cfg, "branch").with_suffix(".json").read_text())
    assert card["config"]["evolution"]["dream_branches"] == 50 and card["training"]["real_env_steps"] == 0
    with pytest.raises(ValueError, match="--dream-branches 50: .* pass --mode dream"):
        evolve.evolve(smoke(name="real_branch", dream_branches=50), progress=False)


def test_a_soup_release_is_the_average_of_the_runs_means_and_its_card_counts_every_run(world_model, wm_root, capsys):
    from worldmodels.cli import main

    recipe = {"mode": "dream", "generations": 2, "dream_branches": 30, "max_steps": 5}
    collect(smoke().collect, progress=False)
    states = [evolve.evolve(smoke(name=f"s{k}", seed=k, **recipe), progress=False) for k in range(3)]
    cfg = smoke(name="s0", seed=0, **recipe)
    path = evolve.release(cfg, "soup", soup=("s1", "s2"))
    _, params, payload = agent_files.load_agent_file(path)
    assert np.allclose(params, np.mean([s["es"].mean for s in states], axis=0)) and payload["which"] == "soup"
    assert not np.allclose(params, states[0]["es"].mean)
    card = json.loads(path.with_suffix(".json").read_text())
    assert [i["seed"] for i in card["soup_of"]] == [0, 1, 2] and card["which"] == "soup"
    assert card["training"]["dream_steps"] == sum(s["dream_steps"] for s in states) and card["training"]["runs"] == 3
    assert card["lineage"]["real_env_steps"] > 0  # the dream starts' rollouts

    evolve.evolve(smoke(name="longer", seed=3, **{**recipe, "max_steps": 6}), progress=False)
    with pytest.raises(ValueError, match="--soup-with longer: .* differs .* in max_steps"):
        evolve.release(cfg, "soup2", soup=("longer",))
    evolve.evolve(smoke(name="shorter", seed=4, **{**recipe, "generations": 1}), progress=False)
    with pytest.raises(ValueError, match="--soup-with shorter: .* has 1 generations"):
        evolve.release(cfg, "soup2", soup=("shorter",))
    with pytest.raises(ValueError, match="cannot be souped"):
        evolve.release(cfg, "soup2", which="best", soup=("s1",))
    flags = ["--scale", "smoke", "--backend", "serial", "--mode", "dream", "--generations", "2", "--dream-branches",
             "30", "--max-steps", "5", "--name", "s0", "--quiet"]
    assert main(["evolve", *flags, "--soup-with", "s1"]) == 2
    assert "pass --release NAME too" in capsys.readouterr().err

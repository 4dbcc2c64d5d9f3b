"""The iterative loop at smoke scale: rounds run, a kill resumes where it stopped with the same results, a
loop with other settings is refused, and the release counts the real env steps of the agent's lineage."""

import dataclasses
import json
import shutil

import pytest
from conftest import REPO

from worldmodels.cli import main
from worldmodels.core.config import from_dict, to_dict
from worldmodels.core.presets import get_config
from worldmodels.core.storage import RunLockedError, run_lock
from worldmodels.models.mdnrnn import load as load_mdnrnn
from worldmodels.training import evolve, iterate, memory


def smoke_cfg(name: str, **iterate_overrides):
    cfg = get_config("smoke")
    return dataclasses.replace(
        cfg, parallel=dataclasses.replace(cfg.parallel, backend="serial"),
        evolution=dataclasses.replace(cfg.evolution, mode="dream", name=name),
        iterate=dataclasses.replace(cfg.iterate, **iterate_overrides))


def results(state):
    """What a loop computed, without the file names that carry its name, or timings."""
    rounds = [{step: {k: v for k, v in r[step].items() if k not in ("agent", "mdnrnn", "mix", "rollouts", "seconds")}
               for step in iterate.STEPS} for r in state["rounds"]]
    return rounds, state["candidate"]["dream_returns"], state["candidate"]["round"]


@pytest.fixture
def smoke_rollouts(world_model, wm_root):
    assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 0
    return world_model


def test_a_killed_loop_resumes_where_it_stopped_with_the_same_results(smoke_rollouts, wm_root, monkeypatch):
    vision, mdnrnn = smoke_rollouts
    mix = (("smoke", 1),)
    train, calls = memory.train, []

    def killed_in_the_second_fine_tune(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return train(*args, **kwargs)

    monkeypatch.setattr(iterate.memory, "train", killed_in_the_second_fine_tune)
    with pytest.raises(KeyboardInterrupt):
        iterate.Loop(smoke_cfg("cut"), vision, mdnrnn, [], mix=mix, progress=False).run()
    folder = wm_root / "data" / "runs" / "iterate_vae_cut"
    stopped = json.loads((folder / "state.json").read_text())
    assert [sorted(r) for r in stopped["rounds"]] == [sorted(["round", *iterate.STEPS]),
                                                      ["collect", "evolve", "monitor", "round"]]
    first = {p: p.stat().st_mtime_ns for p in (wm_root / "data" / "rollouts" / "cut_r0").iterdir()}
    monkeypatch.setattr(iterate.memory, "train", train)

    resumed = iterate.Loop(smoke_cfg("cut"), vision, mdnrnn, [], mix=mix, progress=False).run()
    assert {p: p.stat().st_mtime_ns for p in first} == first  # round 0's episodes were not collected again
    assert resumed["rounds"][0] == stopped["rounds"][0]
    whole = iterate.Loop(smoke_cfg("whole"), vision, mdnrnn, [], mix=mix, progress=False).run()
    assert results(resumed) == results(whole)
    steps = iterate.spent(resumed)
    assert steps["collection"] == sum(r["collect"]["real_env_steps"] for r in resumed["rounds"]) > 0
    assert steps["evolution"] == 0 and steps["monitoring"] == 2 * 2 * 30
    rows = (folder / "rounds.csv").read_text().splitlines()
    assert rows[0].startswith("round,generations,dream_fitness,real_monitor,dream_check") and len(rows) == 3

    (wm_root / "checkpoints" / "controller").mkdir(parents=True, exist_ok=True)
    (wm_root / "checkpoints" / "controller" / "vae_new.pt").write_bytes(b"")  # released since: not in the panel
    assert iterate.Loop(smoke_cfg("cut"), vision, mdnrnn, None, mix=mix, progress=False).agents == []
    with pytest.raises(ValueError, match="other settings"):  # the same name, other settings
        iterate.Loop(smoke_cfg("cut", episodes=3), vision, mdnrnn, [], mix=mix, progress=False)
    state = json.loads((folder / "state.json").read_text())  # as a loop begun before these fields existed
    del state["settings"]["evolution"]["dream_dropout"], state["settings"]["dream_check"]["dropout"]
    (folder / "state.json").write_text(json.dumps(state))
    assert iterate.Loop(smoke_cfg("cut"), vision, mdnrnn, [], mix=mix, progress=False).state["rounds"]
    with run_lock(folder), pytest.raises(RunLockedError, match="another run"):
        iterate.Loop(smoke_cfg("cut"), vision, mdnrnn, [], mix=mix, progress=False).run()


# where the chain of kills below stops the loop: (the Loop method, the round it is killed in; None: any)
KILLS = [("step_dream_check", -1), ("step_evolve", 0), ("step_monitor", 0), ("step_collect", 0),
         ("step_fine_tune", 1), ("step_dream_check", 1), ("select", None)]


def test_a_loop_killed_after_each_stage_resumes_to_the_same_results(smoke_rollouts, wm_root, monkeypatch):
    """A kill after each stage's work and before its result is saved (the start check, every step of a round, the
    choice of the candidate), one after another: every resume redoes at most that stage, and the loop ends as an
    uninterrupted one does."""
    vision, mdnrnn = smoke_rollouts
    mix = (("smoke", 1),)
    whole = iterate.Loop(smoke_cfg("whole"), vision, mdnrnn, [], mix=mix, progress=False).run()
    pending, killed = list(KILLS), []

    def killing(name, real):
        def step(self, k=None, *args):
            result = real(self, k, *args) if name != "select" else real(self)
            if pending and pending[0] == (name, None if name == "select" else k):
                killed.append(pending.pop(0))
                raise KeyboardInterrupt  # the work is done, its result not yet in state.json
            return result
        return step

    for name in {n for n, _ in KILLS}:
        monkeypatch.setattr(iterate.Loop, name, killing(name, getattr(iterate.Loop, name)))
    for attempt in range(len(KILLS) + 1):
        try:
            resumed = iterate.Loop(smoke_cfg("chain"), vision, mdnrnn, [], mix=mix, progress=False).run()
            break
        except KeyboardInterrupt:
            state = json.loads((wm_root / "data" / "runs" / "iterate_vae_chain" / "state.json").read_text())
            assert state["candidate"] is None  # nothing is chosen before the last stage is saved
    assert killed == KILLS and attempt == len(KILLS)
    assert results(resumed) == results(whole)  # the real steps of a check redone from the cache counted once
    assert iterate.spent(resumed) == iterate.spent(whole)


def test_iterate_command_releases_the_candidate_with_its_lineage(smoke_rollouts, wm_root, capsys):
    vision, mdnrnn = smoke_rollouts
    base = ["iterate", "--scale", "smoke", "--name", "cli", "--vision", str(vision), "--mdnrnn", str(mdnrnn),
            "--mix", "smoke", "--agents", "--backend", "serial", "--quiet"]
    assert main([*base, "--mode", "real"]) == 2
    assert "--mode real" in capsys.readouterr().err
    assert main([*base, "--eval-every", "1"]) == 2
    assert main([*base, "--rounds", "0"]) == 2
    assert main([*base, "--release", "cli"]) == 0
    out = capsys.readouterr().out
    assert "| round | generations | dream fitness |" in out and "released" in out
    card = json.loads((wm_root / "checkpoints" / "controller" / "vae_cli.json").read_text())
    m_card = json.loads((wm_root / "checkpoints" / "mdnrnn" / "vae_cli.json").read_text())
    state = json.loads((wm_root / "data" / "runs" / "iterate_vae_cli" / "state.json").read_text())
    parts = card["lineage"]["parts"]
    assert card["lineage"]["real_env_steps"] == sum(parts.values())
    assert parts["rollouts data/rollouts/smoke"] == 4 * 40 and parts["rollouts data/rollouts/book (at most)"] == 200 * 300
    assert parts["rollouts data/rollouts/cli_r0"] == state["rounds"][0]["collect"]["real_env_steps"]
    assert parts["iterate monitoring data/runs/iterate_vae_cli"] == 2 * 2 * 30
    assert not any("collection" in what for what in parts)  # the loop's episodes counted once, as rollouts
    assert card["training"]["real_env_steps"] == 0 and card["candidate"]["round"] in (0, 1)
    history = evolve.read_history(wm_root / "checkpoints" / "controller" / "vae_cli.pt")  # the candidate's rounds
    assert [row["generation"] for row in history] == list(range(1, card["training"]["generations"] + 1))
    assert {row["round"] for row in history} == set(range(card["candidate"]["round"] + 1))
    assert card["world_model"]["mdnrnn"] == "checkpoints/mdnrnn/vae_cli.pt" and "spearman" in m_card["dream_check"]
    assert main(["evaluate", str(wm_root / "checkpoints" / "controller" / "vae_cli.pt"), "--episodes", "2",
                 "--max-steps", "20", "--video-episodes", "0"]) == 0
    assert main([*base, "--release", "cli"]) == 2  # a release is never replaced without --force
    agents, ms = wm_root / "checkpoints" / "controller", wm_root / "checkpoints" / "mdnrnn"
    for suffix in (".pt", ".json"):  # an agent release lost, its M kept: the same command pairs them again
        (agents / f"vae_cli{suffix}").unlink()
        shutil.copy(mdnrnn.with_suffix(suffix) if suffix == ".pt" else ms / "vae_cli.json", ms / f"vae_other{suffix}")
    assert main([*base, "--release", "cli"]) == 0
    assert main([*base, "--release", "other"]) == 2  # an M of that name that is not the candidate's
    assert "another M than the candidate's" in capsys.readouterr().err


def test_a_discrete_world_model_goes_round_the_same_loop(wm_root):
    """M on straight-through codes fine-tuned by the loop as the continuous M is: the shipped discrete V and M."""
    paths = []
    for rel in ("checkpoints/gumbel/book_st.pt", "checkpoints/mdnrnn/gumbel_book_st.pt"):
        (wm_root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, wm_root / rel)
        paths.append(str(wm_root / rel))
    assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 0
    base = ["iterate", "--scale", "smoke", "--name", "disc", "--vision", paths[0], "--mdnrnn", paths[1],
            "--mix", "smoke", "--rounds", "1", "--backend", "serial", "--quiet"]
    assert main(base) == 2  # the V is discrete: --latent gumbel is asked for
    assert main([*base, "--latent", "gumbel"]) == 0
    state = json.loads((wm_root / "data" / "runs" / "iterate_gumbel_disc" / "state.json").read_text())
    (round_0,) = state["rounds"]
    assert round_0["collect"]["real_env_steps"] > 0 and "spearman" in round_0["dream_check"]
    fine_tuned = load_mdnrnn(wm_root / round_0["fine_tune"]["mdnrnn"])
    assert fine_tuned.cfg.latent == "gumbel"


def test_an_ensemble_loop_fine_tunes_every_member_and_dreams_in_them(smoke_rollouts, wm_root, monkeypatch):
    """With --ensemble, each round fine-tunes every member on the same data (its own seed), the next round dreams in
    the fine-tuned members, dream-check scores the ensemble and each member, and a kill in a member's fine-tune
    resumes to what an uninterrupted loop computes. Its episodes are encoded as collected, as the paper preset's."""
    vision, mdnrnn = smoke_rollouts
    mix = (("smoke", 1),)
    base = get_config("smoke")
    other = dataclasses.replace(base, mdnrnn=from_dict({"mdnrnn": to_dict(load_mdnrnn(mdnrnn).cfg)}).mdnrnn,
                                mdnrnn_training=dataclasses.replace(base.mdnrnn_training, seed=7))
    assert main(["encode", "--scale", "smoke", "--checkpoint", str(vision), "--quiet"]) == 0
    memory.train("vae", other, progress=False, run="other", mix=mix, init=mdnrnn)  # a second member
    member = memory.run_dir("vae", other, "other") / "last.pt"

    def cfg(name):
        c = smoke_cfg(name, steps_per_epoch=3)
        return dataclasses.replace(c, evolution=dataclasses.replace(c.evolution, ensemble=(str(mdnrnn), str(member))),
                                   collect=dataclasses.replace(c.collect, encoder=str(vision)))  # as at paper scale

    train, calls = memory.train, []

    def killed_in_the_first_members_fine_tune(*args, **kwargs):
        calls.append(kwargs.get("run"))
        if kwargs.get("run") == "ens_r0_e1" and calls.count("ens_r0_e1") == 1:
            raise KeyboardInterrupt
        return train(*args, **kwargs)

    monkeypatch.setattr(iterate.memory, "train", killed_in_the_first_members_fine_tune)
    with pytest.raises(KeyboardInterrupt):
        iterate.Loop(cfg("ens"), vision, mdnrnn, [], mix=mix, progress=False).run()
    loop = iterate.Loop(cfg("ens"), vision, mdnrnn, [], mix=mix, progress=False)
    state = loop.run()
    assert calls.count("ens_r0_e1") == 2 and "ens_r1_e1" in calls
    tuned = state["rounds"][0]["fine_tune"]
    assert tuned["ensemble"][0] == tuned["mdnrnn"]  # the member that was M_0 became M_1
    assert tuned["ensemble"][1].endswith("mdnrnn_vae_ens_r0_e1/last.pt")
    assert load_mdnrnn(wm_root / tuned["ensemble"][1]).state_dict()["lstm.weight_hh_l0"].ne(
        load_mdnrnn(member).state_dict()["lstm.weight_hh_l0"]).any()
    assert loop.evolution_cfg(1).evolution.ensemble == tuple(tuned["ensemble"])
    for check in (state["start_check"], *(r["dream_check"] for r in state["rounds"])):
        assert "spearman" in check["ensemble"] and len(check["members"]) == 2
    assert state["candidate"]["judges"] == state["rounds"][-1]["fine_tune"]["ensemble"]
    whole = iterate.Loop(cfg("ensw"), vision, mdnrnn, [], mix=mix, progress=False).run()
    assert state["candidate"]["dream_returns"] == whole["candidate"]["dream_returns"]
    assert [r["dream_check"]["ensemble"]["spearman"] for r in state["rounds"]] == \
        [r["dream_check"]["ensemble"]["spearman"] for r in whole["rounds"]]

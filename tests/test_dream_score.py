"""dream-score: agents scored in the same held-out dreams, paired, and the highest named; bad input refused."""

import json
import shutil

import numpy as np
import pytest

import worldmodels as wm
from worldmodels.agent import files as agent_files
from worldmodels.cli import main
from worldmodels.core.provenance import sha256
from worldmodels.training import evolve
from worldmodels.training.dream_score import dream_scores
from worldmodels.world.rollouts import collect


def smoke(**evolution):
    return wm.get_config("smoke", parallel={"backend": "serial"}, evolution=evolution)


BRANCHED = {"mode": "dream", "dream_branches": 40, "max_steps": 6, "seed": 1000}


@pytest.fixture
def two_agents(world_model, wm_root):
    """Two dream agents of the shipped book V and M (ES seeds 0 and 1), and the smoke rollouts: their paths."""
    collect(smoke().collect, progress=False)
    out = []
    for seed in (0, 1):
        cfg = smoke(name=f"s{seed}", mode="dream", generations=2, dream_branches=40, max_steps=6, seed=seed)
        evolve.evolve(cfg, progress=False)
        out.append(evolve.run_dir(cfg.evolution) / "mean.pt")
    return out


def test_every_agent_meets_the_same_dreams_so_scores_are_paired_and_the_highest_is_named(two_agents, wm_root):
    a, b = two_agents
    both = dream_scores(smoke(**BRANCHED), [a, b, a], dreams=24)
    alone = dream_scores(smoke(**BRANCHED), [b], dreams=24)
    rows = both["agents"]
    assert rows[1]["mean"] == alone["agents"][0]["mean"]  # its score does not depend on who else is scored
    assert rows[0]["mean"] == rows[2]["mean"] and rows[2]["paired"] == rows[0]["paired"]  # the same dreams
    best = int(np.argmax([r["mean"] for r in rows]))
    assert both["best"] == rows[best]["agent"] and rows[best]["paired"] == {"mean": 0.0, "se": 0.0}
    assert all(r["paired"]["mean"] <= 0 for r in rows)
    assert 0 < both["dream_steps"] <= 3 * 24 * 6  # branched dreams of at most H = 6 steps
    other_draw = dream_scores(smoke(**{**BRANCHED, "seed": 1001}), [a], dreams=24)
    assert other_draw["agents"][0]["mean"] != rows[0]["mean"]  # --seed draws other states and dreams


def test_the_command_writes_its_results_and_refuses_bad_input(two_agents, wm_root, capsys):
    a, b = two_agents
    flags = ["--scale", "smoke", "--dream-branches", "40", "--max-steps", "6", "--seed", "1000", "--dreams", "24"]
    assert main(["dream-score", *flags, str(a), str(b)]) == 0
    out = wm_root / "data" / "dream_scores" / "controller_vae_s0_mean.json"
    result = json.loads(out.read_text())
    assert [r["agent"] for r in result["agents"]] == [f"data/runs/controller_vae_s{s}/mean.pt" for s in (0, 1)]
    assert result["command"].startswith("python -m worldmodels dream-score") and result["dreams"] == 24
    assert "highest:" in capsys.readouterr().out

    assert main(["dream-score", *flags[:-1], "1", str(a)]) == 2  # --dreams 1: no standard error
    assert "--dreams" in capsys.readouterr().err
    assert main(["dream-score", *flags]) == 2
    assert "name one or more agent files" in capsys.readouterr().err

    other_m = wm_root / "checkpoints" / "mdnrnn" / "vae_other.pt"
    shutil.copy(wm_root / "checkpoints" / "mdnrnn" / "vae_book.pt", other_m)
    with open(other_m, "ab") as f:  # another file: another hash
        f.write(b"\0")
    spec, params, _ = agent_files.load_agent_file(a)
    foreign = agent_files.save_agent(wm_root / "foreign.pt", agent_files.AgentSpec(
        spec.latent, spec.vision, spec.vision_sha256, "checkpoints/mdnrnn/vae_other.pt", sha256(other_m), spec.controller,
        spec.latent_size, spec.hidden_size),
        params)
    assert main(["dream-score", *flags, str(a), str(foreign)]) == 2
    assert "foreign.pt sees through" in capsys.readouterr().err

"""The command line, end to end at smoke scale: collect -> train-vae -> encode -> train-mdnrnn."""

import json

import numpy as np
import pytest

from worldmodels.cli import main


def test_pipeline_commands(wm_root, capsys):
    assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 0
    assert main(["verify", "--scale", "smoke"]) == 0
    assert main(["train-gumbel", "--scale", "smoke", "--epochs", "1", "--quiet", "--release", "cli"]) == 0
    assert (wm_root / "checkpoints" / "gumbel" / "cli.json").exists()
    assert main(["encode", "--model", "gumbel", "--scale", "smoke", "--quiet",
                 "--checkpoint", str(wm_root / "checkpoints" / "gumbel" / "cli.pt")]) == 0
    assert main(["train-mdnrnn", "--latent", "gumbel", "--scale", "smoke", "--quiet", "--release", "cli"]) == 0
    card = json.loads((wm_root / "checkpoints" / "mdnrnn" / "gumbel_cli.json").read_text())
    assert card["data"]["encoded_by"].endswith("checkpoints/gumbel/cli.pt")
    assert card["config"]["model"]["latent"] == "gumbel" and "collect" not in card["config"]
    out = capsys.readouterr().out
    assert "gumbel: 1 epochs" in out and "mdnrnn (gumbel): 2 epochs" in out


def test_a_second_v_run_on_the_same_rollouts_trains_beside_the_first(wm_root):
    assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 0
    assert main(["train-gumbel", "--scale", "smoke", "--epochs", "1", "--quiet"]) == 0
    assert main(["train-gumbel", "--scale", "smoke", "--epochs", "1", "--quiet", "--run", "st", "--estimator",
                 "straight_through", "--unimix", "0.01", "--release", "st"]) == 0
    runs = wm_root / "data" / "runs"
    assert (runs / "gumbel_smoke" / "last.pt").exists() and (runs / "gumbel_st" / "last.pt").exists()
    card = json.loads((wm_root / "checkpoints" / "gumbel" / "st.json").read_text())
    assert card["config"]["model"]["estimator"] == "straight_through" and card["config"]["model"]["unimix"] == 0.01
    assert main(["encode", "--model", "gumbel", "--scale", "smoke", "--quiet", "--run", "st"]) == 0
    with np.load(wm_root / "data" / "latents" / "smoke_gumbel.npz") as npz:
        assert str(npz["source"]).endswith("gumbel_st/last.pt")


def test_errors_exit_2_with_a_message(wm_root, capsys):
    assert main(["train-mdnrnn", "--scale", "smoke", "--quiet"]) == 2
    assert "encode" in capsys.readouterr().err


def test_evolve_release_and_evaluate_commands(world_model, wm_root, capsys):
    assert main(["evolve", "--scale", "smoke", "--backend", "serial", "--generations", "1", "--tile-cutoff", "20",
                 "--quiet", "--release", "cli"]) == 0
    out = capsys.readouterr().out
    assert "compute savers on: tile_cutoff=20" in out and "released" in out
    agent = wm_root / "checkpoints" / "controller" / "vae_cli.pt"
    card = json.loads(agent.with_suffix(".json").read_text())
    assert card["commands"][0].endswith("--release cli") and card["training"]["generations"] == 1
    assert main(["evaluate", str(agent), "--episodes", "2", "--max-steps", "10", "--renderer", "fast",
                 "--backend", "serial", "--update-card"]) == 0
    out = capsys.readouterr().out
    assert "over 2 episodes" in out and "not solved" in out
    result = json.loads((wm_root / "data" / "evaluations" / "vae_cli.json").read_text())
    assert len(result["returns"]) == 2 and result["max_steps"] == 10
    assert (wm_root / "data" / "evaluations" / "vae_cli.mp4").stat().st_size > 0
    card = json.loads(agent.with_suffix(".json").read_text())
    assert card["evaluation"]["episodes"] == 2 and "returns" not in card["evaluation"]


def test_evolve_says_where_a_step_budget_stopped_it(world_model, wm_root, capsys):
    base = ["evolve", "--scale", "smoke", "--backend", "serial", "--generations", "3", "--quiet", "--name", "budget"]
    assert main([*base, "--step-budget", "1"]) == 2  # V and M alone cost more than one step
    assert "--step-budget 1: not one generation fits it" in capsys.readouterr().err
    assert main([*base, "--step-budget", "100000000"]) == 0
    assert "stopped" not in capsys.readouterr().out

def test_evaluate_names_a_missing_agent(wm_root, capsys):
    assert main(["evaluate", str(wm_root / "nothing.pt"), "--episodes", "1"]) == 2
    assert "nothing.pt: no such checkpoint" in capsys.readouterr().err


def test_update_card_needs_a_card(world_model, wm_root, capsys):
    assert main(["evolve", "--scale", "smoke", "--backend", "serial", "--generations", "1", "--quiet"]) == 0
    mean = wm_root / "data" / "runs" / "controller_vae_smoke" / "mean.pt"
    assert main(["evaluate", str(mean), "--episodes", "1", "--max-steps", "5", "--update-card"]) == 2
    assert "mean.json: no card beside the agent" in capsys.readouterr().err


def test_evolve_takes_v_and_m_files_outside_the_release_pairing(world_model, wm_root, capsys):
    """--mdnrnn: an M trained on other rollouts with the same V; the agent pins the file it was given."""
    import shutil

    other = wm_root / "checkpoints" / "mdnrnn" / "vae_other.pt"
    shutil.copy(world_model[1], other)
    assert main(["evolve", "--scale", "smoke", "--backend", "serial", "--generations", "1", "--quiet",
                 "--name", "other", "--mdnrnn", str(other), "--release", "other"]) == 0
    card = json.loads((wm_root / "checkpoints" / "controller" / "vae_other.json").read_text())
    assert card["world_model"]["mdnrnn"] == "checkpoints/mdnrnn/vae_other.pt"
    assert card["world_model"]["vision"] == "checkpoints/vae/book.pt"
    capsys.readouterr()
    assert main(["evolve", "--scale", "smoke", "--backend", "serial", "--generations", "2", "--quiet",
                 "--name", "other"]) == 2  # resuming without the file it started with is refused
    assert "V or M differ" in capsys.readouterr().err


def test_flags_come_from_the_config_with_the_presets_defaults(capsys):
    """The command line is generated from the config classes: same flag names, help from the fields' docstrings,
    defaults from the preset of --scale (the --action-noise help once named a wrong default)."""
    assert main(["evolve", "--scale", "smoke", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--population", "--trials", "--tile-cutoff", "--world-model", "--eval-every", "--code-input"):
        assert flag in out
    assert "--latent-size" not in out and "--hidden-state-size" not in out  # read from V and M, not set by hand
    assert main(["collect", "--help"]) == 0
    help_of_noise = " ".join(capsys.readouterr().out.split("--action-noise")[1].split("--")[0].replace("│", " ").split())
    assert "(default: 0.1)" in help_of_noise


@pytest.mark.parametrize("argv, flag", [
    (["evolve", "--trials", "0"], "--trials"), (["evolve", "--generations", "0"], "--generations"),
    (["evolve", "--sigma0", "nan"], "--sigma0"), (["collect", "--episodes", "-3"], "--episodes"),
    (["collect", "--steps", "0"], "--steps"), (["evolve", "--workers", "-1"], "--workers"),
    (["train-vae", "--batch-size", "0"], "--batch-size"), (["evaluate", "agent.pt", "--episodes", "0"], "--episodes"),
    (["train-mdnrnn", "--learning-rate", "inf"], "--learning-rate"), (["evolve", "--mode", "sleep"], "--mode"),
])
def test_out_of_range_flags_are_refused_with_the_flag_named(argv, flag, capsys):
    assert main(argv) == 2
    message = " ".join(capsys.readouterr().err.split())  # tyro wraps its message in a box
    assert flag in message or flag.lstrip("-") in message


def test_evaluations_of_two_runs_mean_pt_do_not_overwrite_each_other(world_model, wm_root, capsys):
    for name in ("a", "b"):
        assert main(["evolve", "--scale", "smoke", "--backend", "serial", "--generations", "1", "--name", name,
                     "--quiet"]) == 0
    results = wm_root / "data" / "evaluations"
    for name in ("a", "b"):
        mean = wm_root / "data" / "runs" / f"controller_vae_{name}" / "mean.pt"
        assert main(["evaluate", str(mean), "--episodes", "1", "--max-steps", "5", "--renderer", "fast",
                     "--backend", "serial", "--video-episodes", "0"]) == 0
    a, b = (json.loads((results / f"controller_vae_{n}_mean.json").read_text()) for n in ("a", "b"))
    assert a["agent"].endswith("controller_vae_a/mean.pt") and b["agent"].endswith("controller_vae_b/mean.pt")
    # a results file that holds another agent's evaluation is never written over
    (results / "elsewhere.json").write_text(json.dumps(a))
    mean_b = wm_root / "data" / "runs" / "controller_vae_b" / "mean.pt"
    assert main(["evaluate", str(mean_b), "--episodes", "1", "--out", str(results / "elsewhere.json")]) == 2
    assert "holds the evaluation of" in capsys.readouterr().err
    assert json.loads((results / "elsewhere.json").read_text()) == a

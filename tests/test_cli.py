"""The command line, end to end at smoke scale: collect -> train-vae -> encode -> train-mdnrnn."""

import json

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
    assert card["config"]["mdnrnn"]["latent"] == "gumbel"
    out = capsys.readouterr().out
    assert "gumbel: 1 epochs" in out and "mdnrnn (gumbel): 2 epochs" in out


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

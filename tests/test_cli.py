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

"""Dream-check: a panel ranked in the real env and in M's dream, real returns cached, the score in M's card."""

import json

import numpy as np
import pytest

from worldmodels.agent.files import AgentSpec
from worldmodels.agent.policy import CONSTANT_ACTIONS, constant_params
from worldmodels.cli import main
from worldmodels.core import checkpoint
from worldmodels.core.config import ControllerConfig, DreamCheckConfig
from worldmodels.models.controller import LinearController
from worldmodels.training.dream_check import embed_z_only, panel, spearman


def test_spearman_ranks_and_ties():
    assert spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3, 4]), np.array([4, 3, 2, 1])) == pytest.approx(-1.0)
    assert spearman(np.array([1, 2, 3]), np.array([1, 100, 1000])) == pytest.approx(1.0)  # ranks, not values
    assert spearman(np.array([1, 1, 2]), np.array([5, 5, 9])) == pytest.approx(1.0)  # ties share their rank
    assert np.isnan(spearman(np.array([1, 2]), np.array([3, 3])))


def test_constant_controllers_hold_their_action():
    controller = LinearController(ControllerConfig())
    for action in CONSTANT_ACTIONS.values():
        controller.set_flat(constant_params(controller.num_params, action))
        out = controller.act(np.random.default_rng(0).normal(size=(3, 32)), np.random.default_rng(1).normal(size=(3, 256)))
        assert np.allclose(out, np.array(action, np.float32), atol=0.01)


def test_a_z_only_controller_embedded_in_z_h_acts_the_same_whatever_h():
    z_h = LinearController(ControllerConfig())
    z_only = LinearController(ControllerConfig(inputs="z"), np.random.default_rng(0).normal(size=3 * 32 + 3))
    embedded = LinearController(ControllerConfig(), embed_z_only(z_only.get_flat(), z_h))
    z, h = np.random.default_rng(1).normal(size=(5, 32)), np.random.default_rng(2).normal(size=(5, 256))
    assert np.array_equal(embedded.act(z, h), z_only.act(z)) and np.array_equal(embedded.act(z, 3 * h), z_only.act(z))
    with pytest.raises(ValueError, match="99 parameters"):
        embed_z_only(np.zeros(10), z_h)


def test_dream_check_command_ranks_the_panel_and_caches_real_returns(world_model, wm_root, capsys):
    assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 0
    evolve = ["evolve", "--scale", "smoke", "--backend", "serial", "--generations", "1", "--quiet"]
    assert main(evolve + ["--release", "dc"]) == 0
    assert main(evolve + ["--inputs", "z", "--name", "dcz", "--release", "dcz"]) == 0
    agents = [str(wm_root / "checkpoints" / "controller" / f"vae_{n}.pt") for n in ("dc", "dcz")]
    mdnrnn = str(world_model[1])
    argv = ["dream-check", mdnrnn, "--scale", "smoke", "--agents", *agents, "--backend", "serial"]
    assert main(argv) == 0
    result = json.loads((wm_root / "data" / "dream_check" / "vae_book.json").read_text())
    names = [row["name"] for row in result["panel"]]
    free = [row["name"] for row in result["panel"] if row["h_free"]]
    assert names[:6] == list(CONSTANT_ACTIONS) and "vae_dc" in names and "vae_dc+noise" in names
    # the z-only agent, its copies perturbed on z, and random z-only controllers ignore h, as the constants do
    assert free == [*CONSTANT_ACTIONS, "vae_dcz", "vae_dcz+noise1", "vae_dcz+noise3", "random_z_0.1", "random_z_1"]
    assert len(names) == 6 + 2 + 3 + 2 + 2 and -1 <= result["spearman"] <= 1 and -1 <= result["spearman_h_free"] <= 1
    assert result["real_env_steps"] == len(names) * 2 * 30 and result["vision"] == "checkpoints/vae/book.pt"
    assert "Spearman rank correlation" in capsys.readouterr().out
    assert main(argv) == 0  # the same panel again: real returns come from the cache
    again = json.loads((wm_root / "data" / "dream_check" / "vae_book.json").read_text())
    assert again["real_env_steps"] == 0 and again["panel"] == result["panel"]
    # what the cached returns cost stays known: the steps behind each member's returns, cached or not
    assert again["real_env_steps_behind"] == result["real_env_steps_behind"]
    assert sum(result["real_env_steps_behind"].values()) == result["real_env_steps"]
    caches = sorted((wm_root / "data" / "dream_check").glob("real_*.json"))
    assert len(caches) == 2  # the members that read h (this V and M), those that do not (this V)
    for cache in caches:  # a return edited by hand is found by its entry's check, and that member plays again
        data = json.loads(cache.read_text())
        data["entries"][next(iter(data["entries"]))]["returns"][0] += 500.0
        cache.write_text(json.dumps(data))
    assert main(argv) == 0
    edited = json.loads((wm_root / "data" / "dream_check" / "vae_book.json").read_text())
    assert edited["panel"] == result["panel"] and edited["real_env_steps"] == 2 * 2 * 30
    for cache in caches:  # a cache of another format (or key) is not trusted at all
        cache.write_text(json.dumps({k: v["returns"] for k, v in json.loads(cache.read_text())["entries"].items()}))
    assert main(argv) == 0
    legacy = json.loads((wm_root / "data" / "dream_check" / "vae_book.json").read_text())
    assert legacy["panel"] == result["panel"] and legacy["real_env_steps"] == result["real_env_steps"]
    # another M on the same V replays only the members that read h: the h-free ones drive the same without it
    payload = checkpoint.load(mdnrnn, kind="mdnrnn")
    payload["model"]["reward.bias"] = payload["model"]["reward.bias"] + 1.0
    other = checkpoint.save(wm_root / "vae_other.pt", payload)
    assert main(["dream-check", str(other), *argv[2:], "--vision", str(world_model[0])]) == 0
    third = json.loads((wm_root / "data" / "dream_check" / "vae_other.json").read_text())
    assert third["real_env_steps"] == (len(names) - len(free)) * 2 * 30
    assert [r["real"] for r in third["panel"] if r["h_free"]] == [r["real"] for r in result["panel"] if r["h_free"]]
    # each member draws its own noise: adding an agent to the panel changes no other member
    spec = AgentSpec.build(world_model[0], mdnrnn, ControllerConfig())
    cfg = DreamCheckConfig(random=2)
    fewer = {m.name: m.params for m in panel(spec, cfg, agents[1:])}
    more = {m.name: m.params for m in panel(spec, cfg, agents)}
    assert set(more) - set(fewer) == {"vae_dc", "vae_dc+noise"}
    assert all(np.array_equal(params, more[name]) for name, params in fewer.items())
    assert main(argv + ["--update-card"]) == 2  # a copied M file has no card to write into
    assert "no card beside vae_book.pt" in capsys.readouterr().err


def test_dream_check_of_an_ensemble_reports_it_and_each_member(world_model, wm_root, capsys):
    assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 0
    mdnrnn = str(world_model[1])
    payload = checkpoint.load(mdnrnn, kind="mdnrnn")
    payload["model"]["reward.bias"] = payload["model"]["reward.bias"] + 5.0  # a world that pays more each step
    other = str(checkpoint.save(wm_root / "vae_other.pt", payload))
    argv = ["dream-check", mdnrnn, "--scale", "smoke", "--agents", "--backend", "serial", "--random", "0",
            "--ensemble", mdnrnn, other]
    assert main(argv) == 0
    result = json.loads((wm_root / "data" / "dream_check" / "vae_book.json").read_text())
    assert [m["mdnrnn"] for m in result["members"]] == [result["mdnrnn"], "vae_other.pt"]
    assert result["members"][0]["spearman"] == result["spearman"]  # the M itself as the only world: its own check
    alone = [row["dream"] for row in result["panel"]]
    together = result["ensemble"]["dream"]
    assert len(together) == len(alone) and together != alone  # some dreams ran in the world that pays more
    assert "ensemble of 2" in capsys.readouterr().out

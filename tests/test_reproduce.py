"""`reproduce`: the whole pipeline at the smoke scale, kept releases, rebuilding only what is missing."""

import json

import numpy as np
import pytest

import worldmodels as wm
from worldmodels.agent.files import load_agent_file
from worldmodels.cli import main
from worldmodels.core import paths
from worldmodels.core.checkpoint import CheckpointError
from worldmodels.core.config import from_dict, to_dict
from worldmodels.core.paths import latents_path
from worldmodels.core.provenance import portable
from worldmodels.recipes import AGENTS, WORLD_MODELS, agent_config, scale_config, world_config, world_files
from worldmodels.reproduce import reproduce
from worldmodels.training import memory, vision
from worldmodels.world.rollouts import collect

RELEASES = ["vae/t.pt", "gumbel/t.pt", "gumbel/t_st.pt", "mdnrnn/vae_t.pt", "mdnrnn/gumbel_t.pt",
            "mdnrnn/gumbel_t_st.pt", "controller/vae_t.pt", "controller/vae_t_vonly.pt", "controller/gumbel_t.pt",
            "controller/gumbel_t_soft.pt", "controller/gumbel_t_st.pt", "controller/vae_t_dream.pt",
            "mdnrnn/vae_agent_t.pt", "mdnrnn/gumbel_agent_t_st.pt", "controller/vae_agent_t.pt",
            "controller/gumbel_agent_t_st.pt", "vae/t_frames.pt", "mdnrnn/vae_t_frames.pt",
            "controller/vae_t_frames_dream.pt", "controller/vae_t_frames.pt", "controller/gumbel_t_st_dream.pt",
            "mdnrnn/vae_t_base.pt", *[f"mdnrnn/vae_t_ens3k_{i}.pt" for i in range(5)],
            *[f"mdnrnn/vae_t_{i}.pt" for i in range(5)], "mdnrnn/vae_t_lean.pt",
            *[f"mdnrnn/vae_t_lean_{i}.pt" for i in range(5)], "controller/vae_t_branch3k_dream.pt",
            "controller/vae_t_branch_dream.pt", "controller/vae_t_soup_dream.pt", "controller/vae_t_soup_lean_dream.pt",
            "mdnrnn/vae_mixed_t.pt", "controller/vae_t_loop_dream.pt", "mdnrnn/vae_t_loop_dream.pt",
            "mdnrnn/vae_t_checked.pt", "controller/vae_t_checked_dream.pt"]


def test_reproduce_builds_every_release_then_only_what_is_missing(wm_root, capsys):
    assert main(["reproduce", "--scale", "smoke", "--name", "t", "--backend", "serial", "--quiet"]) == 0
    ckpt = wm_root / "checkpoints"
    for rel in RELEASES:
        assert (ckpt / rel).exists() and (ckpt / rel).with_suffix(".json").exists(), rel
    for key, recipe in AGENTS.items():
        card = json.loads((ckpt / "controller" / f"{recipe.latent}_{recipe.release('t')}.json").read_text())
        assert card["evaluation"]["episodes"] == 2 and card["evaluation"]["renderer"] == "stock"
        assert card["evaluation"]["max_steps"] == 30  # the smoke length, recorded: not the protocol
        vision_file, mdnrnn_file = world_files("smoke", "t", recipe.world or recipe.latent)
        if recipe.loop is not None:  # a loop's agent acts through the M its candidate was evolved in
            mdnrnn_file = paths.mdnrnn_release(recipe.latent, recipe.release("t"))
        assert card["world_model"]["vision"] == portable(vision_file)
        if key != "vae_vonly":  # a z-only controller runs no M
            assert card["world_model"]["mdnrnn"] == portable(mdnrnn_file)
        assert card["config"]["controller"]["inputs"] == ("z" if key == "vae_vonly" else "z_h")
        assert card["config"]["controller"]["code_input"] == ("soft" if key == "gumbel_soft" else "hard")
        assert card["config"]["evolution"]["mode"] == ("dream" if key.endswith("dream") else "real")
        assert card["commands"] == ["python -m worldmodels reproduce --scale smoke --name t --backend serial --quiet"]
    # the iterative step: the agent drove M's rollouts, the plain V read them, C started where the recipe says
    iterated = json.loads((ckpt / "controller" / "gumbel_agent_t_st.json").read_text())
    assert iterated["world_model"]["vision"] == "checkpoints/gumbel/t_st.pt"
    assert iterated["world_model"]["mdnrnn"] == "checkpoints/mdnrnn/gumbel_agent_t_st.pt"
    assert iterated["config"]["evolution"]["init"] == "checkpoints/controller/gumbel_t_st.pt"
    assert json.loads((ckpt / "controller" / "vae_agent_t.json").read_text())["config"]["evolution"]["init"] is None
    driven = json.loads((wm_root / "data" / "rollouts" / "vae_agent_t" / "manifest.json").read_text())["data"]
    assert (driven["policy"], driven["agent"], driven["action_noise"]) == ("agent", "checkpoints/controller/vae_t.pt", 0.1)
    assert json.loads((ckpt / "mdnrnn" / "vae_agent_t.json").read_text())["training"]["epochs"] == 40
    lineage = json.loads((ckpt / "controller" / "vae_agent_t.json").read_text())["lineage"]
    own = json.loads((ckpt / "controller" / "vae_t.json").read_text())["lineage"]["real_env_steps"]
    assert lineage["real_env_steps"] > own  # the driving agent's lineage and its rollouts count
    assert json.loads((ckpt / "controller" / "gumbel_t.json").read_text())["config"]["evolution"]["covariance"] \
        == "diagonal"
    assert "| `vae_t_vonly` | continuous V only + C" in capsys.readouterr().out
    st = json.loads((ckpt / "gumbel" / "t_st.json").read_text())["config"]["model"]
    assert st["estimator"] == "straight_through" and st["unimix"] == 0.01  # the recipe's V, not the plain one
    assert json.loads((ckpt / "gumbel" / "t.json").read_text())["config"]["model"]["estimator"] == "gumbel"

    # the paper scale's line: a V of its own on the collection's frame-bearing episodes (a subset), its M, a dream
    # agent dreaming from those episodes, and real CMA-ES from it under issue 30's step budget
    frames = json.loads((wm_root / "data" / "rollouts" / "smoke_frames" / "manifest.json").read_text())
    assert frames["subset_of"]["rollouts"] == "smoke" and len(frames["members"]) == 4
    assert json.loads((ckpt / "vae" / "t_frames.json").read_text())["config"]["rollouts"] == "smoke_frames"
    dreamer = json.loads((ckpt / "controller" / "vae_t_frames_dream.json").read_text())
    assert dreamer["config"]["evolution"]["dream_branches"] == 4096 and dreamer["data"]["dream_starts"] == "data/rollouts/smoke_frames"
    real = json.loads((ckpt / "controller" / "vae_t_frames.json").read_text())["config"]["evolution"]
    assert real["init"] == "checkpoints/controller/vae_t_frames_dream.pt" and real["step_budget"] == 20_000_000
    assert (real["early_trials"], real["eval_every"], real["population"]) == (4, 5, 4)  # smoke's own sizes

    # the ensemble line: Ms on other draws, read by the scale's V (here this name's), fine-tuned from one base (or
    # from that V's own M), and dream agents in five of them at once, two of them soups of three seeds
    assert sorted(f.name for f in (ckpt / "vae").glob("*.pt")) == ["t.pt", "t_frames.pt"]  # no V of their own
    base = json.loads((ckpt / "mdnrnn" / "vae_t_base.json").read_text())
    assert base["data"]["collection"]["rollouts"] == "data/rollouts/smoke_paper" and base["config"]["training"]["bf16"]
    assert base["config"]["init"] is None and base["config"]["encoded_by"] == "checkpoints/vae/t.pt"
    for member, first, seed in [("vae_t_ens3k_3", "vae_t_base", 3), ("vae_t_4", "vae_t_base", 4),
                                ("vae_t_lean", "vae_t", 0), ("vae_t_lean_2", "vae_t_lean", 2)]:
        recorded = json.loads((ckpt / "mdnrnn" / f"{member}.json").read_text())["config"]
        assert (recorded["init"]["path"], recorded["training"]["seed"]) == (f"checkpoints/mdnrnn/{first}.pt", seed)
    branch = json.loads((ckpt / "controller" / "vae_t_branch3k_dream.json").read_text())
    assert branch["config"]["evolution"]["ensemble"] == [f"checkpoints/mdnrnn/vae_t_ens3k_{i}.pt" for i in range(5)]
    assert branch["data"]["dream_starts"] == "data/rollouts/smoke_paper3k" and branch["which"] == "mean"
    soup = json.loads((ckpt / "controller" / "vae_t_soup_lean_dream.json").read_text())
    assert soup["which"] == "soup" and [i["seed"] for i in soup["soup_of"]] == [0, 1, 2]
    assert soup["config"]["evolution"]["ensemble"][0] == "checkpoints/mdnrnn/vae_t_lean_0.pt"

    # the iterative loop: M_0 learnt from the scale's rollouts and vae_agent's mixed episodes (twice an epoch),
    # fine-tuned from vae_agent's M; the loop's candidate ships with its M; the checked M is the loop's M that its
    # dream-checks rank first, and C evolves from zeros in it
    mixed = json.loads((ckpt / "mdnrnn" / "vae_mixed_t.json").read_text())
    assert [(m["rollouts"], m["weight"]) for m in mixed["data"]["mix"]] == [("vae_mixed_t", 2)]
    assert mixed["data"]["mix"][0]["collection"]["policy"] == "mixed"
    assert mixed["config"]["init"]["path"] == "checkpoints/mdnrnn/vae_agent_t.pt" and mixed["training"]["epochs"] == 10
    loop = json.loads((ckpt / "controller" / "vae_t_loop_dream.json").read_text())
    assert loop["which"] == "candidate" and loop["config"]["mdnrnn"]["path"] == "checkpoints/mdnrnn/vae_mixed_t.pt"
    driver = json.loads((ckpt / "controller" / "vae_agent_t.json").read_text())["lineage"]["real_env_steps"]
    assert loop["lineage"]["real_env_steps"] > driver  # the agent that drove M_0's data counts, and the loop's own
    checked = json.loads((ckpt / "mdnrnn" / "vae_t_checked.json").read_text())
    state = json.loads((wm_root / "data" / "runs" / "iterate_vae_t_loop_dream" / "state.json").read_text())
    checks = [state["start_check"]["spearman"], *(r["dream_check"]["spearman"] for r in state["rounds"])]
    assert checked["chosen"]["m"] == int(np.argmax(checks)) and checked["dream_check"]["spearman"] == max(checks)
    assert json.loads((ckpt / "controller" / "vae_t_checked_dream.json").read_text())["config"]["evolution"]["init"] \
        is None

    # again: nothing is rebuilt and no release changes
    before = {rel: (ckpt / rel).read_bytes() for rel in RELEASES}
    reproduce("smoke", "t", backend="serial", progress=False)
    assert {rel: (ckpt / rel).read_bytes() for rel in RELEASES} == before

    # a deleted agent comes back from its finished run (same parameters), evaluated again
    params = load_agent_file(ckpt / "controller" / "vae_t_vonly.pt")[1]
    (ckpt / "controller" / "vae_t_vonly.pt").unlink()
    (ckpt / "controller" / "vae_t_vonly.json").unlink()
    logs = []
    reproduce("smoke", "t", agents=["vae_vonly"], backend="serial", progress=False, log=logs.append)
    assert [line for line in logs if line.endswith(" ...")] == ["[reproduce] agent vae_vonly ..."]
    np.testing.assert_array_equal(load_agent_file(ckpt / "controller" / "vae_t_vonly.pt")[1], params)
    assert "evaluation" in json.loads((ckpt / "controller" / "vae_t_vonly.json").read_text())

    # a V built again on the same rollouts: the collection is left as it was, so its subset is found as made
    subset_manifest = (wm_root / "data" / "rollouts" / "smoke_frames" / "manifest.json").read_bytes()
    (ckpt / "vae" / "t_frames.pt").unlink()
    logs = []
    reproduce("smoke", "t", agents=[], backend="serial", progress=False, log=logs.append)
    assert "[reproduce] V (vae_frames) ..." in logs and (ckpt / "vae" / "t_frames.pt").exists()
    assert (wm_root / "data" / "rollouts" / "smoke_frames" / "manifest.json").read_bytes() == subset_manifest

    # a release killed between its model file and its card: the same command completes it, the model untouched
    (ckpt / "mdnrnn" / "vae_t.json").unlink()
    reproduce("smoke", "t", agents=[], backend="serial", progress=False)
    assert (ckpt / "mdnrnn" / "vae_t.pt").read_bytes() == before["mdnrnn/vae_t.pt"]
    assert json.loads((ckpt / "mdnrnn" / "vae_t.json").read_text())["release"] == "t"


def test_reproduce_refuses_unknown_agents_and_those_of_another_scale(wm_root):
    with pytest.raises(ValueError, match="unknown agents"):
        reproduce("smoke", "t", agents=["vae", "nope"], progress=False)
    with pytest.raises(ValueError, match=r"\['vae_frames'\] are not recipes of --scale book: vae_frames: smoke, paper"):
        reproduce("book", "t", agents=["vae", "vae_frames"], progress=False)


def test_agent_config_names_runs_and_releases_after_the_world_model():
    cfg = agent_config("book", "mine", AGENTS["vae_dream"], {"generations": 7})
    assert (cfg.evolution.name, cfg.evolution.world_model, cfg.evolution.mode) == ("mine_dream", "mine", "dream")
    assert cfg.evolution.generations == 7 and cfg.evolution.population == 32


def _card(path):
    return json.loads(path.with_suffix(".json").read_text())


def _as_now(section: str, recorded: dict) -> dict:
    """A config section a card recorded, read as today's config (``from_dict``: a field added since reads as what
    the run had, sizes now read from V and M are dropped, renamed fields renamed)."""
    return to_dict(getattr(from_dict({section: recorded}), section))


def _differences(recorded: dict, rebuilt: dict, skip=()) -> dict:
    return {k: (recorded.get(k), rebuilt.get(k)) for k in set(recorded) | set(rebuilt)
            if k not in skip and recorded.get(k) != rebuilt.get(k)}


@pytest.mark.parametrize("key", [k for k, w in WORLD_MODELS.items() if "paper" in w.scales])
def test_the_paper_world_models_are_the_shipped_runs_settings(key):
    """At paper scale each world model's V and M train with the settings the shipped paper10k releases' cards
    record (model, training beyond the epochs, which runs resume from, and the epochs the cards report)."""
    world, cfg = WORLD_MODELS[key], world_config("paper", "paper10k", key)
    vision_path, mdnrnn_path = world_files("paper", "paper10k", key)
    vision_card, mdnrnn_card = _card(vision_path), _card(mdnrnn_path)
    recorded = vision_card["config"]
    if world.draw:  # an M on another draw, read by the book line's V, which encoded that draw as it was collected
        assert portable(vision_path) == cfg.collect.encoder == mdnrnn_card["config"]["encoded_by"]
        assert mdnrnn_card["data"]["collection"]["rollouts"] == f"data/rollouts/{cfg.collect.name}"
        assert mdnrnn_card["data"]["collection"]["seeds"] == [cfg.collect.seed, cfg.collect.seed + cfg.collect.episodes - 1]
        first = None if not world.init else portable(paths.mdnrnn_release("vae", "book")) if world.init == "encoder" \
            else portable(world_files("paper", "paper10k", world.init)[1])
        assert (mdnrnn_card["config"]["init"] or {}).get("path") == first
    else:
        assert _differences(recorded["model"], to_dict(getattr(cfg, world.latent))) == {}
        assert _differences(recorded["training"], to_dict(cfg.vae_training), {"epochs"}) == {}
        assert (recorded["rollouts"], vision_card["training"]["epochs"]) == (cfg.collect.name, cfg.vae_training.epochs)
    recorded = mdnrnn_card["config"]
    # read as today's config (the oldest cards, the ensemble line's, record the code's size in this section)
    assert _differences(_as_now("mdnrnn", recorded["model"]), to_dict(cfg.mdnrnn), {"latent"}) == {}
    assert _differences(recorded["training"], to_dict(cfg.mdnrnn_training), {"epochs"}) == {}
    assert (recorded["sequence_length"], mdnrnn_card["training"]["epochs"]) == \
        (cfg.sequence_length, cfg.mdnrnn_training.epochs)


@pytest.mark.parametrize("key", [k for k, r in AGENTS.items() if "paper" in r.scales])
def test_the_paper_recipes_are_the_shipped_runs_settings(key):
    """At paper scale each recipe evolves with the settings its shipped paper10k agent's card records, from the
    agent that one started from."""
    recipe = AGENTS[key]
    cfg = agent_config("paper", "paper10k", recipe)
    card = _card(paths.controller_release(recipe.latent, recipe.release("paper10k")))
    recorded, rebuilt = card["config"]["evolution"], to_dict(cfg.evolution)
    skip = {"name", "world_model",  # labels
            "vision_precision"}  # the card holds what "auto" resolved to on the machine it ran on
    if not rebuilt["eval_every"]:
        skip.add("eval_episodes")  # nothing is evaluated
    if rebuilt["step_budget"]:
        skip |= {"generations", "step_budget"}  # the budget stops it; the card holds the generations last asked for
        assert recorded.get("step_budget") is None and rebuilt["step_budget"] == 20_000_000  # issue 30's, run by hand
    else:
        skip.add("step_budget")  # runs before --step-budget record none (None), the recipe 0
    recorded = {**recorded, "ensemble": tuple(recorded["ensemble"])}
    assert _differences(recorded, rebuilt, skip) == {}
    assert _differences(_as_now("controller", card["config"]["controller"]), to_dict(cfg.controller)) == {}
    if recipe.evolution.get("mode") == "dream":
        assert card["config"]["rollouts"] == cfg.collect.name  # where its dreams start
    assert scale_config("paper").collect.blend == (0.1, 0.05, 0.85)


def test_an_mdnrnn_run_does_not_resume_on_latents_of_another_v(wm_root):
    cfg = wm.get_config("smoke", parallel={"backend": "serial"})
    collect(cfg.collect, progress=False, parallel=cfg.parallel)
    model, _ = vision.train("vae", cfg, progress=False)
    vision.encode(model, cfg.collect.name, progress=False, source="checkpoints/vae/a.pt")
    memory.train("vae", cfg, progress=False)
    vision.encode(model, cfg.collect.name, progress=False, source="checkpoints/vae/b.pt")
    with pytest.raises(CheckpointError, match="another config"):
        memory.train("vae", wm.get_config("smoke", mdnrnn_training={"epochs": 3}), progress=False)
    assert np.load(latents_path("vae", "smoke"))["source"] == "checkpoints/vae/b.pt"


def test_the_agents_flag_names_every_recipe():
    import inspect

    from worldmodels.commands import Reproduce

    listed = inspect.getsource(Reproduce).split("keys of ``worldmodels.recipes.AGENTS`` (")[1].split("; None")[0]
    assert [k.strip() for k in " ".join(listed.split()).split(",")] == list(AGENTS)


@pytest.mark.parametrize("key", ["vae_loop_dream", "vae_checked_dream"])
def test_the_loop_recipes_are_the_shipped_runs_settings(key):
    """At book scale the iterative loop's recipes evolve (and loop) with the settings their shipped cards record,
    read as today's config; the loop starts from an M on the book rollouts and the mixed data (weight 2), and the
    checked agent's M is the loop's M_2, fine-tuned on those and the first two rounds' episodes."""
    recipe = AGENTS[key]
    cfg = agent_config("book", "book", recipe)
    card = _card(paths.controller_release(recipe.latent, recipe.release("book")))
    skip = {"name", "world_model",  # labels
            "envs_per_task"}  # how many episodes one worker steps at once, not what they are
    assert _differences(_as_now("evolution", card["config"]["evolution"]), to_dict(cfg.evolution), skip) == {}
    assert _differences(_as_now("controller", card["config"]["controller"]), to_dict(cfg.controller)) == {}
    if recipe.loop is not None:
        recorded = {k: v for k, v in _as_now("iterate", card["config"]["iterate"]).items() if k != "rounds"}
        assert _differences(recorded, {k: v for k, v in to_dict(cfg.iterate).items() if k != "rounds"}) == {}
        assert card["candidate"]["rounds"] == cfg.iterate.rounds
        assert [w for _, w in card["config"]["mix"]] == [1, WORLD_MODELS[recipe.world].beside]
    else:
        m = _card(world_files("book", "book", recipe.world)[1])
        assert m["config"]["init"]["path"].endswith("+loopa_r0/last.pt")  # M_1: M_2 is its fine-tune
        assert [x["weight"] for x in m["data"]["mix"]] == [2, 2, 2] and m["training"]["epochs"] == 5


def test_every_shipped_agent_has_a_recipe():
    """Each agent in checkpoints/controller is a recipe's release under its scale's shipped name: `reproduce`
    builds every one of them (and on this clone finds them in place)."""
    shipped = {f.stem for f in (paths.checkpoint_dir() / "controller").glob("*.pt")}
    rebuilt = {f"{r.latent}_{r.release(name)}" for scale, name in (("book", "book"), ("paper", "paper10k"))
               for r in AGENTS.values() if scale in r.scales}
    assert shipped and not shipped - rebuilt, f"shipped agents without a recipe: {sorted(shipped - rebuilt)}"


def test_the_paper_scale_refuses_to_start_without_the_encoder_it_collects_with(wm_root):
    """At paper scale every collection is encoded as collected by the book line's V: without it nothing is
    collected or trained, and the error names the file and the command that builds it."""
    with pytest.raises(FileNotFoundError, match=r"checkpoints/vae/book.pt is missing: `python -m worldmodels "
                                                r"reproduce --scale book --name book`"):
        reproduce("paper", "x", agents=["vae_frames_dream"], progress=False)
    assert not (wm_root / "data" / "rollouts").exists() or not any((wm_root / "data" / "rollouts").iterdir())

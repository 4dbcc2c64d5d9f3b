"""M end to end on real smoke-scale latents: windows, training, release, dreams."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from worldmodels import get_config
from worldmodels.agent.dream import DreamEnv, decode, dream
from worldmodels.core import checkpoint as checkpoint_module
from worldmodels.core.checkpoint import CheckpointError
from worldmodels.core.paths import latents_path, vision_run
from worldmodels.core.video import write_video
from worldmodels.models.gumbel_vae import GumbelVAE
from worldmodels.models.mdnrnn import load as load_mdnrnn
from worldmodels.models.registry import LATENTS, codes_at
from worldmodels.models.vae import ConvVAE
from worldmodels.training import memory, vision
from worldmodels.world.datasets import LatentSequences, RolloutError, merge_latents
from worldmodels.world.rollouts import collect


def dream_returns(model, starts, dropout: float) -> torch.Tensor:
    """Rewards summed over 20 steps of 8 dreams under one fixed action, dreaming at ``dropout``."""
    env = DreamEnv(model, starts, tau=1.0, seed=3, max_steps=20, dropout=dropout)
    env.reset(8)
    total = torch.zeros(8)
    while not env.done.all():
        total += env.step(torch.tensor([[0.0, 0.5, 0.0]] * 8))[2]
    return total


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """Smoke rollouts, both V models trained briefly and encoded, under a private WM_ROOT."""
    root = tmp_path_factory.mktemp("root")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WM_ROOT", str(root))
        cfg = get_config("smoke", parallel={"backend": "serial"})
        collect(cfg.collect, progress=False, parallel=cfg.parallel)
        models = {}
        for latent in LATENTS:
            models[latent], _ = vision.train(latent, cfg, progress=False)
            vision.encode(models[latent], "smoke", progress=False)
    return root, cfg, models


@pytest.fixture
def env_root(smoke, monkeypatch):
    monkeypatch.setenv("WM_ROOT", str(smoke[0]))
    return smoke


def test_windows_cover_every_step_once_with_next_step_targets(env_root):
    _, cfg, _ = env_root
    latents = LatentSequences.load(latents_path("vae", "smoke"))
    data = LatentSequences(latents, ConvVAE, [0, 1], seq_len=16, seed=0)
    windows = data.windows(epoch=3)
    assert sum(w["mask"].sum() for w in windows) == 2 * cfg.collect.steps
    e0 = LatentSequences(latents, ConvVAE, [0], seq_len=cfg.collect.steps)
    (w,) = e0.windows(0, shuffle=False)
    assert np.array_equal(w["action"], latents["action"][0])
    # z is re-sampled each epoch around mu: close to mu, not equal to it
    diff = w["latent"] - latents["mu"][0, :-1]
    assert 0 < np.abs(diff).mean() < 5 * np.exp(0.5 * latents["logvar"][0, :-1]).mean()
    assert np.array_equal(w["target"][:-1], w["latent"][1:])  # target t is the input at t + 1


def test_discrete_windows_are_hard_codes(env_root):
    latents = LatentSequences.load(latents_path("gumbel", "smoke"))
    batch = next(LatentSequences(latents, GumbelVAE, [0], seq_len=8).batches(4))
    real = batch["mask"].bool()
    assert batch["latent"].shape[-2:] == (32, 32) and torch.all(batch["latent"][real].sum(-1) == 1)
    assert batch["target"].dtype == torch.int64 and batch["target"].shape[-1] == 32


def test_corrupt_latents_file_names_the_file(env_root, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(latents_path("vae", "smoke").read_bytes()[:500])
    with pytest.raises(RolloutError, match="bad.npz: corrupt or truncated latents file.*encode"):
        LatentSequences.load(bad)
    with pytest.raises(FileNotFoundError, match="encode"):
        LatentSequences.load(tmp_path / "missing.npz")


@pytest.mark.parametrize("latent", ["vae", "gumbel"])
def test_train_release_load_and_dream(env_root, latent):
    _, cfg, models = env_root
    _, history = memory.train(latent, cfg, progress=False)
    assert len(history) == cfg.mdnrnn_training.epochs and np.isfinite(history[-1]["val_loss"])
    path = memory.release(latent, cfg, "smoke-test", command="pytest")
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["metrics"]["held_out"]["steps"] > 0 and "done_accuracy" in card["metrics"]["held_out"]
    assert card["data"]["collection"]["policy"] == "random" and card["data"]["collection"]["rollouts"] == \
        "data/rollouts/smoke"
    loaded = load_mdnrnn(path)
    latents = LatentSequences.load(latents_path(latent, "smoke"))
    env = DreamEnv(loaded, codes_at(latents), tau=1.15, seed=0, max_steps=5)
    env.reset(256)
    for _ in range(5):
        _, h, reward, done = env.step(torch.rand(256, 3))
    assert h.shape == (256, cfg.mdnrnn.hidden_size) and reward.shape == done.shape == (256,)
    assert done.all()  # max_steps reached
    frames = decode(models[latent], dream(loaded, codes_at(latents)[0], torch.zeros(6, 3), tau=1.0))
    assert frames.shape == (7, 64, 64, 3) and frames.dtype == np.uint8


def test_dream_is_reproducible_and_tau_matters(env_root):
    _, cfg, _ = env_root
    model, _ = memory.train("vae", cfg, progress=False)
    start = codes_at(LatentSequences.load(latents_path("vae", "smoke")))[0]
    actions = torch.zeros(10, 3)
    a, b = dream(model, start, actions, tau=1.0, seed=3), dream(model, start, actions, tau=1.0, seed=3)
    assert torch.equal(a, b)
    cold = dream(model, start, actions, tau=0.01, seed=3)
    assert not torch.equal(a, cold)


def test_dream_rejects_bad_actions(env_root):
    _, cfg, _ = env_root
    model, _ = memory.train("vae", cfg, progress=False)
    env = DreamEnv(model, codes_at(LatentSequences.load(latents_path("vae", "smoke"))))
    env.reset(4)
    with pytest.raises(ValueError, match="finite actions"):
        env.step(torch.full((4, 3), float("nan")))
    with pytest.raises(ValueError, match=r"shape \(4, 3\)"):
        env.step(torch.zeros(3, 3))


def test_loading_a_vae_as_mdnrnn_is_refused(env_root):
    _, cfg, _ = env_root
    with pytest.raises(CheckpointError, match="expected 'mdnrnn'"):
        load_mdnrnn(vision_run("vae", cfg.collect.name) / "last.pt")


def test_video_writer(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (5, 64, 64, 3), dtype=np.uint8)
    path = write_video(frames, tmp_path / "dream.mp4")
    assert path.stat().st_size > 1000


def test_m_learns_from_several_weighted_folders_and_fine_tunes_from_another_m(env_root):
    """--mix NAME:K adds rollout folders (episodes counted K times an epoch); --init starts from an M's weights."""
    from worldmodels.cli import main
    from worldmodels.core import paths

    root, cfg, models = env_root
    collect(dataclasses.replace(cfg.collect, name="more", seed=100, episodes=3), progress=False)
    vision.encode(models["vae"], "more", progress=False)
    memory.train("vae", cfg, progress=False)
    last = paths.mdnrnn_run("vae", "smoke") / "last.pt"  # as a run begun before these config fields existed
    payload = checkpoint_module.load(last, kind="mdnrnn")
    for field in ("dropout", "reward_overestimate", "reward_input"):
        del payload["config"]["model"][field]
    checkpoint_module.save(last, payload)
    memory.train("vae", cfg, progress=False)  # resumes (finished: nothing to do) instead of refusing
    first = memory.release("vae", cfg, "mix-base", command="pytest", force=True)
    argv = ["train-mdnrnn", "--scale", "smoke", "--quiet", "--mix", "more:2", "--init", str(first),
            "--release", "mixed"]
    assert main(argv) == 0
    card = json.loads((root / "checkpoints" / "mdnrnn" / "vae_mixed.json").read_text())
    assert card["data"]["latents"] == ["data/latents/smoke_vae.npz", "data/latents/more_vae.npz"]
    assert card["data"]["mix"][0]["rollouts"] == "more" and card["data"]["mix"][0]["weight"] == 2
    assert card["data"]["episodes"] == cfg.collect.episodes + 3 and card["data"]["init"]["path"].endswith("vae_mix-base.pt")
    assert (paths.mdnrnn_run("vae", "smoke+more") / "last.pt").exists()
    # the same data fine-tuned with dropout, in a run folder of its own; dreams then draw a mask each
    assert main(["train-mdnrnn", "--scale", "smoke", "--quiet", "--init", str(first), "--dropout", "0.05",
                 "--run", "smoke-drop"]) == 0
    dropped = load_mdnrnn(paths.mdnrnn_run("vae", "smoke-drop") / "last.pt")
    assert dropped.cfg.dropout == 0.05 and not (paths.mdnrnn_run("vae", "smoke") / "last.pt").samefile(
        paths.mdnrnn_run("vae", "smoke-drop") / "last.pt")
    starts = codes_at(LatentSequences.load(latents_path("vae", "smoke")))
    returns = [dream_returns(dropped, starts, p) for p in (0.0, 0.0, 0.1, 0.1)]
    assert torch.equal(returns[0], returns[1]) and torch.equal(returns[2], returns[3])
    assert not torch.equal(returns[0], returns[2])
    # a reward head on (latent_t, latent_{t+1}) swapped in: it starts fresh, the LSTM and the other heads do not
    assert main(["train-mdnrnn", "--scale", "smoke", "--quiet", "--init", str(first), "--reward-input",
                 "transition", "--run", "smoke-transition", "--release", "transition"]) == 0
    card = json.loads((root / "checkpoints" / "mdnrnn" / "vae_transition.json").read_text())
    assert card["config"]["model"]["reward_input"] == "transition" and "reward_r2" in card["metrics"]["held_out"]
    swapped = load_mdnrnn(root / "checkpoints" / "mdnrnn" / "vae_transition.pt")
    assert torch.isfinite(dream_returns(swapped, starts, 0.0)).all()
    mix = memory.mix_of("smoke", ["more:2"])
    _, train_eps, val_eps, _ = memory.data("vae", cfg, mix)
    more = [e for e in train_eps if e >= cfg.collect.episodes]
    assert len(more) == 2 * len(set(more)) and not set(val_eps) & set(train_eps)
    with pytest.raises(ValueError, match="NAME:K"):
        memory.mix_of("smoke", ["more:0"])
    other = LatentSequences.load(latents_path("vae", "more"))  # as if another V had encoded these
    other["source"] = np.array("checkpoints/vae/other.pt")
    with pytest.raises(ValueError, match="come from one V"):
        merge_latents([LatentSequences.load(latents_path("vae", "smoke")), other])

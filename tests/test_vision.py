"""V end to end on real smoke-scale rollouts: train, resume, release, load, encode."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from worldmodels import get_config
from worldmodels.cli import main
from worldmodels.core import checkpoint, paths
from worldmodels.models.registry import LATENTS, load_vision
from worldmodels.training import vision
from worldmodels.training.release import ReleaseExistsError
from worldmodels.world.frames import frames_to_tensor
from worldmodels.world.rollouts import collect

REPO = Path(__file__).resolve().parent.parent
SHIPPED = {latent: REPO / "checkpoints" / latent / "book.pt" for latent in LATENTS}


@pytest.fixture
def smoke(wm_root):
    cfg = get_config("smoke", parallel={"backend": "serial"})
    collect(cfg.collect, progress=False, parallel=cfg.parallel)
    return cfg


@pytest.mark.parametrize("latent", LATENTS)
def test_train_release_load_encode(smoke, latent):
    _, history = vision.train(latent, smoke, progress=False)
    assert [row["epoch"] for row in history] == [1, 2] and np.isfinite(history[-1]["val_loss"])
    path = vision.release(latent, smoke, "smoke-test", command="pytest")
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["kind"] == latent and card["training"]["epochs"] == 2 and card["weights"] == "float16"
    assert card["metrics"]["held_out"]["frames"] > 0 and card["command"] == "pytest"
    assert card["data"]["collection"]["steps"] == smoke.collect.steps and card["data"]["collection"]["policy"] == "random"
    assert card["training"]["device"] == "cpu" and card["data"]["input_spec"] == {"frame_size": 64, "crop": True}
    loaded = load_vision(path, latent=latent)
    assert loaded.latent == latent and loaded.input_spec.crop and loaded.input_spec.frame_size == 64
    frames = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    assert loaded.reconstruct(frames).shape == (3, 64, 64, 3)
    latents = np.load(vision.encode(loaded, "smoke", progress=False))
    E, T = smoke.collect.episodes, smoke.collect.steps
    for key in loaded.posterior_keys:
        assert latents[key].shape == (E, T + 1, *loaded.code_shape)
    assert latents["action"].shape == (E, T, 3) and list(latents["length"]) == [T] * E


def test_a_release_is_never_replaced_silently_and_a_torn_one_is_completed(smoke):
    """`--release` over an existing release is refused without --force; a kill between the model file and its
    card leaves a release that the same command completes."""
    vision.train("vae", smoke, progress=False)
    path = vision.release("vae", smoke, "twice", command="first")
    before = path.read_bytes()
    with pytest.raises(ReleaseExistsError, match="--force"):
        vision.release("vae", smoke, "twice", command="second")
    assert path.read_bytes() == before
    assert main(["train-vae", "--scale", "smoke", "--quiet", "--release", "twice"]) == 2
    path.with_suffix(".json").unlink()  # killed between the two files
    vision.release("vae", smoke, "twice", command="again")
    assert path.read_bytes() == before and json.loads(path.with_suffix(".json").read_text())["command"] == "first"
    vision.release("vae", smoke, "twice", command="forced", force=True)
    assert json.loads(path.with_suffix(".json").read_text())["command"] == "forced"


def test_released_weights_match_the_run_within_fp16(smoke):
    model, _ = vision.train("vae", smoke, progress=False)
    released = load_vision(vision.release("vae", smoke, "smoke-test"), latent="vae")
    for a, b in zip(model.parameters(), released.parameters()):
        assert torch.allclose(a, b, atol=1e-3, rtol=1e-3)


def test_loading_a_vae_checkpoint_as_gumbel_is_refused(smoke):
    vision.train("vae", smoke, progress=False)
    with pytest.raises(checkpoint.CheckpointError, match="holds a 'vae' model, expected 'gumbel'"):
        load_vision(paths.vision_run("vae", smoke.collect.name) / "last.pt", latent="gumbel")


def test_training_without_rollouts_says_what_to_run(wm_root):
    with pytest.raises(FileNotFoundError, match="run `python -m worldmodels collect`"):
        vision.train("vae", get_config("smoke"), progress=False)
    assert main(["train-vae", "--scale", "smoke", "--quiet"]) == 2


def test_killed_training_resumes_from_its_last_epoch(smoke, wm_root):
    command = [sys.executable, "-m", "worldmodels", "train-gumbel", "--scale", "smoke", "--epochs", "30", "--quiet"]
    env = {**os.environ, "WM_ROOT": str(wm_root)}
    last = paths.vision_run("gumbel", smoke.collect.name) / "last.pt"
    proc = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not last.exists():
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    epochs_done = checkpoint.load(last)["epoch"]
    assert 1 <= epochs_done < 30
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = checkpoint.load(last)["history"]
    assert [row["epoch"] for row in history] == list(range(1, 31))


@pytest.mark.parametrize("latent", LATENTS)
def test_shipped_release_loads_and_reconstructs_real_frames(latent, smoke):
    if not SHIPPED[latent].exists():
        pytest.skip(f"{SHIPPED[latent]} is not shipped yet")
    model = load_vision(SHIPPED[latent], latent=latent)
    card = json.loads(SHIPPED[latent].with_suffix(".json").read_text())
    files = sorted(paths.rollout_dir("smoke").glob("*.npz"))
    metrics = vision.held_out_metrics(model, files)
    # smoke frames come from the same env and policy: the error is of the card's held-out order
    assert metrics["mse_per_pixel"] < 3 * card["metrics"]["held_out"]["mse_per_pixel"] + 0.002


def test_category_sweep_changes_one_variable_at_a_time():
    from worldmodels.core.config import GumbelConfig
    from worldmodels.models.gumbel_vae import GumbelVAE

    torch.manual_seed(0)
    model = GumbelVAE(GumbelConfig(num_vars=4, num_classes=5)).eval()
    frame = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    grid = model.category_sweep(frame, variables=[0, 2], classes=[0, 1, 4])
    assert grid.shape == (2, 3, 64, 64, 3) and grid.dtype == np.uint8
    own = int(model.encode(frames_to_tensor(frame[None])).argmax(-1)[0, 0])
    same = model.category_sweep(frame, variables=[0], classes=[own])[0, 0]
    assert np.array_equal(same, model.reconstruct(frame[None])[0])  # its own class: the reconstruction


def test_a_run_on_a_rollout_folder_that_grew_is_refused_on_resume_and_release(smoke):
    """180 -> 200 episodes reshuffles the split: most "held-out" episodes would have been trained on."""
    vision.train("vae", smoke, progress=False)
    more = get_config("smoke", parallel={"backend": "serial"}, collect={"episodes": smoke.collect.episodes + 2})
    collect(more.collect, progress=False, parallel=more.parallel)
    grown = get_config("smoke", collect={"episodes": smoke.collect.episodes + 2},
                       vae_training={"epochs": 3})
    with pytest.raises(checkpoint.CheckpointError, match="its data changed since the run began"):
        vision.train("vae", grown, progress=False)
    with pytest.raises(checkpoint.CheckpointError, match="its data changed since the run began"):
        vision.release("vae", grown, "grown")


def test_a_nan_v_encodes_nothing(smoke):
    """A V with NaN weights: encode names the V and the episode, and writes no latents file."""
    model = load_vision(SHIPPED["vae"], latent="vae")
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="nan_v.pt: encoding .*000000.npz gave non-finite"):
        vision.encode(model, "smoke", progress=False, source="nan_v.pt")
    assert not paths.latents_path("vae", "smoke").exists()

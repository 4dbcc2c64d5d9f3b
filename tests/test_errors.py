"""Errors that say what is wrong and how to fix it, naming the file: mismatched V and M, a checkpoint without
its config, data files holding pickles, NaN latents."""

import numpy as np
import pytest
import torch
from conftest import REPO

from worldmodels.agent.files import AgentSpec
from worldmodels.cli import main
from worldmodels.core import checkpoint
from worldmodels.core.config import ControllerConfig
from worldmodels.models.registry import load_vision
from worldmodels.world.datasets import LatentSequences, RolloutError, load_episode


def test_a_v_and_m_that_do_not_belong_together_are_refused_up_front(world_model, wm_root, capsys):
    gumbel = REPO / "checkpoints" / "gumbel" / "book.pt"
    with pytest.raises(ValueError, match=r"models vae codes of shape \(32,\), but .*gumbel/book.pt gives gumbel "
                                         r"codes of shape \(32, 32\): pass the M trained on this V's codes"):
        AgentSpec.build(gumbel, world_model[1], ControllerConfig())
    assert main(["evolve", "--scale", "smoke", "--backend", "serial", "--latent", "gumbel", "--generations", "1",
                 "--vision", str(gumbel), "--mdnrnn", str(world_model[1]), "--quiet"]) == 2
    assert "pass the M trained on this V's codes" in capsys.readouterr().err


def test_a_checkpoint_without_its_config_is_named(world_model, wm_root):
    payload = torch.load(world_model[0], weights_only=True)
    del payload["config"]
    torch.save(payload, wm_root / "noconfig.pt")
    with pytest.raises(checkpoint.CheckpointError, match="noconfig.pt: a checkpoint without its config"):
        load_vision(wm_root / "noconfig.pt")


def test_a_data_file_holding_a_pickle_never_passes_on_numpys_allow_pickle_advice(tmp_path):
    arrays = {"obs": np.zeros((3, 64, 64, 3), np.uint8), "action": np.array([{"x": 1}] * 2, dtype=object),
              "reward": np.zeros(2, np.float32), "terminated": np.zeros(2, bool), "truncated": np.zeros(2, bool),
              "seed": np.int64(1)}
    np.savez(tmp_path / "000001.npz", **arrays)
    with pytest.raises(RolloutError, match="holds pickled Python objects, which are never loaded") as e:
        load_episode(tmp_path / "000001.npz")
    assert "allow_pickle" not in str(e.value)
    np.savez(tmp_path / "smoke_vae.npz", mu=np.array([object()], dtype=object))
    with pytest.raises(RolloutError, match="holds pickled Python objects") as e:
        LatentSequences.load(tmp_path / "smoke_vae.npz")
    assert "allow_pickle" not in str(e.value)


def test_nan_latents_are_refused_by_name(tmp_path):
    E, T = 2, 4
    latents = {"mu": np.zeros((E, T + 1, 3), np.float32), "logvar": np.zeros((E, T + 1, 3), np.float32),
               "action": np.zeros((E, T, 3), np.float32), "reward": np.zeros((E, T), np.float32),
               "terminated": np.zeros((E, T), bool), "length": np.full(E, T)}
    latents["mu"][1, 2, 0] = np.nan
    np.savez(tmp_path / "x_vae.npz", **latents)
    with pytest.raises(RolloutError, match="x_vae.npz: mu holds non-finite values"):
        LatentSequences.load(tmp_path / "x_vae.npz")

"""Continuous vs discrete measures on the shipped book V models and real smoke-scale episodes."""

import math

import numpy as np
import pytest
from conftest import REPO

import worldmodels as wm
from worldmodels import compare
from worldmodels.core.storage import save_npz
from worldmodels.models.registry import load_vision
from worldmodels.world.rollouts import collect


@pytest.fixture
def models_and_files(wm_root):
    cfg = wm.get_config("smoke", parallel={"backend": "serial"}, collect={"episodes": 2})
    files = collect(cfg.collect, progress=False, parallel=cfg.parallel)
    vae = load_vision(REPO / "checkpoints/vae/book.pt", latent="vae")
    gumbel = load_vision(REPO / "checkpoints/gumbel/book.pt", latent="gumbel")
    return vae, gumbel, files


def test_the_measures_of_both_codes(models_and_files, capsys):
    vae, gumbel, files = models_and_files
    result = compare.comparison(vae, gumbel, files)
    assert compare.comparison(vae, gumbel, files, progress=True) == result  # the bar changes nothing measured
    err = capsys.readouterr().err
    assert "comparing the Vs" in err and "8/8" in err  # 2 Vs x 2 episodes x (encoding, reconstruction)
    continuous, discrete = result["continuous (VAE, z=32)"], result["discrete (Gumbel, 32x32)"]
    assert 0 < continuous["input_change"] < 1 and 0 < discrete["input_change"] < math.sqrt(2)
    assert discrete["input_change"] == pytest.approx(math.sqrt(2 * discrete["step_distance"]))
    assert discrete["flips_per_step"] == pytest.approx(32 * discrete["step_distance"])
    assert 1 / 32 <= discrete["confidence"] <= 1
    table = compare.markdown_table(result)
    assert "input_change" in table and len(table.splitlines()) == 4


def test_a_frozen_episode_has_inputs_that_do_not_move(models_and_files, wm_root):
    vae, gumbel, files = models_and_files
    with np.load(files[0]) as npz:
        ep = {k: npz[k] for k in npz.files}
    ep["obs"] = np.repeat(ep["obs"][:1], len(ep["obs"]), axis=0)
    frozen = save_npz(wm_root / "frozen" / "000000.npz", **ep)
    assert compare.vae_summary(vae, [frozen])["input_change"] == 0
    summary = compare.gumbel_summary(gumbel, [frozen])
    assert summary["input_change"] == 0 and summary["flips_per_step"] == 0


def test_bits_used_counts_the_spread_of_the_acting_classes():
    assert compare.bits_used(np.zeros((10, 3), np.int64), 4) == 0  # every variable stuck on one class
    spread = np.stack([np.arange(8) % 4, np.arange(8) % 2], axis=1)  # uniform over 4, then over 2
    assert compare.bits_used(spread, 4) == pytest.approx(3.0)


def test_several_discrete_vs_share_one_table(models_and_files):
    vae, gumbel, files = models_and_files
    result = compare.comparison(vae, [gumbel, gumbel], files[:1])
    assert list(result) == ["continuous (VAE, z=32)", "discrete (Gumbel, 32x32)", "discrete (Gumbel, 32x32) #2"]
    assert 0 < result["discrete (Gumbel, 32x32)"]["bits_used"] <= 32 * 5


def test_the_table_is_cached_by_models_and_files(models_and_files, wm_root, monkeypatch):
    vae, gumbel, files = models_and_files
    first = compare.comparison(vae, gumbel, files[:1], cache=True)
    assert len(list((wm_root / "data" / "cache" / "compare").glob("*.json"))) == 1

    def measured_again(*args):
        raise AssertionError("the cached table should have been read")

    with monkeypatch.context() as m:
        m.setattr(compare, "vae_summary", measured_again)
        assert compare.comparison(vae, gumbel, files[:1], cache=True) == first
    files[0].touch()  # another file (its time changed): measured again, under another key
    compare.comparison(vae, gumbel, files[:1], cache=True)
    assert len(list((wm_root / "data" / "cache" / "compare").glob("*.json"))) == 2

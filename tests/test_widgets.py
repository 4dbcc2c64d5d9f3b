"""Widget callbacks, driven from plain Python as a user would drive the controls."""

import numpy as np
import pytest
import torch

from worldmodels.core.config import GumbelConfig, VAEConfig
from worldmodels.models.gumbel_vae import GumbelVAE
from worldmodels.models.vae import ConvVAE
from worldmodels.widgets import CategoryExplorer, DreamViewer, LatentExplorer

FRAME = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)


def test_latent_sliders_decode_in_place_and_reset():
    torch.manual_seed(0)
    explorer = LatentExplorer(ConvVAE(VAEConfig()), FRAME, dims=[0, 1])
    start = explorer.decoded.copy()
    png_before = explorer.image.value
    explorer.sliders[1].value = 2.9  # as if dragged
    assert explorer.code[1] == np.float32(2.9) and not np.array_equal(explorer.decoded, start)
    assert explorer.image.value != png_before
    explorer.set(5, -2.0)  # a dimension without a slider gets one
    assert 5 in explorer.sliders and explorer.code[5] == np.float32(-2.0)
    explorer.reset()
    assert np.array_equal(explorer.decoded, start) and np.array_equal(explorer.code, explorer.start)


def test_picking_dimensions_rebuilds_the_sliders():
    explorer = LatentExplorer(ConvVAE(VAEConfig()), FRAME, dims=[0])
    explorer.picker.value = (3, 4, 7)
    assert sorted(explorer.sliders) == [3, 4, 7] and len(explorer.slider_box.children) == 3


def test_category_sliders_show_the_most_influential_variables_decode_in_place_and_reset():
    torch.manual_seed(0)
    model = GumbelVAE(GumbelConfig())
    explorer = CategoryExplorer(model, FRAME, shown=5)
    assert explorer.influence.shape == (32,) and (explorer.influence >= 0).all()
    assert list(explorer.pickers) == list(np.argsort(-explorer.influence, kind="stable")[:5])
    assert explorer.difference.max() == 0 and "0 of 32 variables changed" in explorer.status.value
    assert f"5th {np.sort(explorer.influence)[::-1][4]:.1f}" in explorer.influence_summary()
    start = explorer.decoded.copy()
    top = explorer.variables[0]
    new_class = (int(explorer.classes[top]) + 5) % 32
    explorer.pickers[top].value = new_class
    assert explorer.classes[top] == new_class and not np.array_equal(explorer.decoded, start)
    assert explorer.difference.max() > 0 and "1 of 32 variables changed" in explorer.status.value
    explorer.set(explorer.variables[-1] + 1 if explorer.variables[-1] < 31 else 0, 3)  # an unshown one gets a slider
    assert len(explorer.pickers) == 6
    explorer.reset()
    assert np.array_equal(explorer.classes, explorer.start) and np.array_equal(explorer.decoded, start)


def test_influence_is_the_mean_change_over_the_other_classes():
    torch.manual_seed(0)
    model = GumbelVAE(GumbelConfig(num_vars=3, num_classes=4))
    influence = model.influence(FRAME)
    sweep = model.category_sweep(FRAME, [1], [0, 1, 2, 3]).astype(np.float32)[0]  # (4, 64, 64, 3)
    base = model.reconstruct(FRAME[None])[0].astype(np.float32)
    assert influence[1] == pytest.approx(np.abs(sweep - base).mean() * 4 / 3, rel=1e-5)


def test_dream_viewer_redreams_when_tau_moves():
    from worldmodels.core.config import MDNRNNConfig
    from worldmodels.models.mdnrnn import MDNRNN

    torch.manual_seed(0)
    viewer = DreamViewer(MDNRNN(MDNRNNConfig(hidden_size=16)), ConvVAE(VAEConfig()), torch.randn(32),
                         torch.zeros(12, 3), tau=1.0, every=4)
    assert viewer.frames.shape == (13, 64, 64, 3)
    first = viewer.frames.copy()
    viewer.tau.value = 0.05
    assert not np.array_equal(viewer.frames, first)
    viewer.tau.value = 1.0
    assert np.array_equal(viewer.frames, first)  # same seed, same tau: the same dream

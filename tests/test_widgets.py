"""Widget callbacks, driven from plain Python as a user would drive the controls."""

import numpy as np
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


def test_category_pickers_decode_in_place_and_reset():
    torch.manual_seed(0)
    model = GumbelVAE(GumbelConfig())
    explorer = CategoryExplorer(model, FRAME)
    assert len(explorer.pickers) == 32
    start = explorer.decoded.copy()
    new_class = (int(explorer.classes[3]) + 5) % 32
    explorer.pickers[3].value = new_class
    assert explorer.classes[3] == new_class and not np.array_equal(explorer.decoded, start)
    explorer.reset()
    assert np.array_equal(explorer.classes, explorer.start) and np.array_equal(explorer.decoded, start)


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

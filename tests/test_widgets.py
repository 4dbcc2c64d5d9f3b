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
    assert all(slider.continuous_update for slider in explorer.sliders.values())  # the frame follows the drag
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


def _driver(wm_root, agent_gas=None, seed=0):
    from fakes import tiny_world_model

    from worldmodels.agent.files import Agent, AgentSpec, load_models
    from worldmodels.core.config import ControllerConfig
    from worldmodels.widgets import DreamDriver

    vision, mdnrnn = tiny_world_model(wm_root)
    v, m = load_models(str(vision), str(mdnrnn))
    agent = None
    if agent_gas is not None:
        spec = AgentSpec.build(vision, mdnrnn, ControllerConfig())
        params = np.zeros(32 * 3 + 16 * 3 + 3)
        params[-2] = np.arctanh(2 * agent_gas - 1)  # the gas bias: gas = (tanh(b) + 1) / 2
        agent = Agent(spec, params)
    starts = torch.randn(5, 32, generator=torch.Generator().manual_seed(1))
    return DreamDriver(m, v, starts, tau=1.0, agent=agent, seed=seed)


def test_the_dream_driver_steps_with_the_sliders_and_is_reproducible(wm_root):
    driver = _driver(wm_root)
    first = driver.frame.copy()
    driver.steer.value, driver.gas.value = -0.5, 0.8  # as if dragged
    driver.step(n=3)
    assert driver.t == 3 and driver.history[-1]["action"] == pytest.approx([-0.5, 0.8, 0.0])
    assert not np.array_equal(driver.frame, first) and "t = 3" in driver.status.value
    assert driver.total == pytest.approx(sum(row["reward"] for row in driver.history))
    again = _driver(wm_root)  # the same seed and the same actions: the same dream
    again.step([-0.5, 0.8, 0.0], n=3)
    assert np.array_equal(again.frame, driver.frame)
    driver.tau.value = 0.3
    driver.step()
    assert driver.env.tau == 0.3 and "tau 0.30" in driver.status.value
    driver.reset(seed=7)
    assert driver.t == 0 and driver.total == 0 and driver.history == []


def test_the_agent_can_drive_the_dream_and_the_sliders_show_its_action(wm_root):
    driver = _driver(wm_root, agent_gas=0.9)
    driver.step(n=2, agent=True)
    assert driver.gas.value == pytest.approx(0.9, abs=0.01) and driver.t == 2
    assert driver.history[0]["action"][1] == pytest.approx(0.9, abs=1e-3)
    with pytest.raises(ValueError, match="no agent"):
        _driver(wm_root).step(agent=True)


def test_an_ended_dream_stays_still_until_reset(wm_root):
    driver = _driver(wm_root)
    driver.step([0.0, 0.5, 0.0], n=1200)  # the dream's limit is 1000 steps
    assert driver.done and driver.t <= 1000 and "the dream ended" in driver.status.value
    frame = driver.frame.copy()
    driver.step()
    assert driver.t <= 1000 and np.array_equal(driver.frame, frame)
    driver.reset()
    assert not driver.done and driver.t == 0


def test_a_labelled_strip_keeps_frames_apart_and_writes_their_steps():
    from worldmodels.widgets import labelled_strip

    frames = np.zeros((3, 64, 64, 3), np.uint8)
    strip = labelled_strip(frames, ["t=0", "t=10", "t=20"], scale=2, gap=6)
    assert strip.shape == (128 + 20, 3 * 128 + 2 * 6, 3)
    assert (strip[:128, 128:134] == 255).all()  # a white gap between the first two frames
    assert (strip[130:, :60] < 128).any()  # dark text under the first frame


def test_show_keeps_a_plain_image_that_follows_the_view(monkeypatch):
    """Plumbing: ``show()`` displays the widget and an image; moving a slider replaces the image."""
    import IPython.display

    shown, updates = [], []

    class Handle:
        def update(self, obj):
            updates.append(obj)

    def display(obj, display_id=None):
        shown.append(obj)
        return Handle() if display_id else None

    monkeypatch.setattr(IPython.display, "display", display)
    explorer = LatentExplorer(ConvVAE(VAEConfig()), FRAME, dims=[0])
    explorer.show()
    assert shown[0] is explorer.widget and shown[-1].data == explorer.image.value
    explorer.sliders[0].value = 2.5
    assert updates and updates[-1].data == explorer.image.value

"""ipywidgets explorers for the notebooks; every control can also be set from plain Python.

``LatentExplorer``    sliders over chosen z dimensions of the Gaussian VAE, decoding in place
``CategoryExplorer``  one class picker per categorical variable of the Gumbel VAE
``DreamViewer``       a dream under fixed actions, re-dreamt when the tau or seed slider moves

Both start from a real frame's code, keep the current code in ``.code`` and the decoded
frame in ``.decoded`` (uint8 (64, 64, 3)), and show them in ``.widget``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image

from .agent.dream import decode, dream
from .models.gumbel_vae import GumbelVAE, hard_code
from .models.vae import ConvVAE
from .world.frames import frames_to_tensor, tensor_to_frames


def png(frame: np.ndarray, scale: int = 4) -> bytes:
    """uint8 (H, W, 3) -> PNG bytes, enlarged ``scale`` times with nearest neighbours."""
    image = Image.fromarray(frame).resize((frame.shape[1] * scale, frame.shape[0] * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class LatentExplorer:
    """Sliders over z dimensions of a ConvVAE, starting from the mean code of ``frame``.

    Args:
        model: a trained ConvVAE.
        frame: uint8 (64, 64, 3), the starting point.
        dims: the z dimensions that get a slider (changeable with the picker).
        value_range: slider range in units of the prior's standard deviation.
    """

    def __init__(self, model: ConvVAE, frame: np.ndarray, dims: Sequence[int] = range(8),
                 value_range: tuple[float, float] = (-3.0, 3.0)):
        self.model = model.eval()
        self.frame = frame
        self.value_range = value_range
        with torch.no_grad():
            mu, _ = model.encode(frames_to_tensor(frame[None]).to(next(model.parameters()).device))
        self.start = mu[0].cpu().numpy().astype(np.float32)  # (Z,)
        self.code = self.start.copy()
        self.original = widgets.Image(value=png(frame), format="png")
        self.image = widgets.Image(format="png")
        self.picker = widgets.SelectMultiple(options=list(range(len(self.code))), value=tuple(dims),
                                             description="z dims", rows=6)
        self.picker.observe(lambda change: self._build_sliders(), names="value")
        self.reset_button = widgets.Button(description="back to the frame")
        self.reset_button.on_click(lambda _: self.reset())
        self.slider_box = widgets.VBox()
        self.sliders: dict[int, widgets.FloatSlider] = {}
        self._build_sliders()
        self.widget = widgets.HBox([widgets.VBox([widgets.HBox([self.original, self.image]), self.reset_button]),
                                    widgets.VBox([self.picker, self.slider_box])])
        self.decode()

    def _build_sliders(self) -> None:
        lo, hi = self.value_range
        self.sliders = {}
        for d in self.picker.value:
            slider = widgets.FloatSlider(value=float(np.clip(self.code[d], lo, hi)), min=lo, max=hi, step=0.05,
                                         description=f"z[{d}]", continuous_update=False)
            slider.observe(lambda change, d=d: self._on_slide(d, change["new"]), names="value")
            self.sliders[d] = slider
        self.slider_box.children = list(self.sliders.values())

    def _on_slide(self, dim: int, value: float) -> None:
        self.code[dim] = value
        self.decode()

    def set(self, dim: int, value: float) -> None:
        """Move the slider of ``dim`` (adding it if not shown), as a user would."""
        if dim not in self.sliders:
            self.picker.value = tuple(sorted({*self.picker.value, dim}))
        self.sliders[dim].value = value

    def reset(self) -> None:
        self.code = self.start.copy()
        self._build_sliders()
        self.decode()

    @torch.no_grad()
    def decode(self) -> np.ndarray:
        z = torch.from_numpy(self.code)[None].to(next(self.model.parameters()).device)
        self.decoded = tensor_to_frames(self.model.decode(z))[0]
        self.image.value = png(self.decoded)
        return self.decoded


class CategoryExplorer:
    """One class picker per categorical variable of a GumbelVAE, starting from ``frame``'s hard code."""

    def __init__(self, model: GumbelVAE, frame: np.ndarray, columns: int = 8):
        self.model = model.eval()
        self.frame = frame
        with torch.no_grad():
            logits = model.encode(frames_to_tensor(frame[None]).to(next(model.parameters()).device))
        self.start = logits[0].argmax(-1).cpu().numpy()  # (N,) class indices
        self.classes = self.start.copy()
        N, K = model.cfg.num_vars, model.cfg.num_classes
        self.original = widgets.Image(value=png(frame), format="png")
        self.image = widgets.Image(format="png")
        self.pickers = []
        for n in range(N):
            picker = widgets.BoundedIntText(value=int(self.classes[n]), min=0, max=K - 1, description=f"{n}",
                                            layout=widgets.Layout(width="110px"),
                                            style={"description_width": "24px"})
            picker.observe(lambda change, n=n: self._on_pick(n, change["new"]), names="value")
            self.pickers.append(picker)
        self.reset_button = widgets.Button(description="back to the frame")
        self.reset_button.on_click(lambda _: self.reset())
        grid = widgets.GridBox(self.pickers, layout=widgets.Layout(grid_template_columns=f"repeat({columns}, 115px)"))
        self.widget = widgets.VBox([widgets.HBox([self.original, self.image, self.reset_button]), grid])
        self.decode()

    def _on_pick(self, var: int, cls: int) -> None:
        self.classes[var] = cls
        self.decode()

    def set(self, var: int, cls: int) -> None:
        """Pick class ``cls`` for variable ``var``, as a user would."""
        self.pickers[var].value = cls

    def reset(self) -> None:
        for n, cls in enumerate(self.start):
            self.pickers[n].value = int(cls)

    @torch.no_grad()
    def decode(self) -> np.ndarray:
        K = self.model.cfg.num_classes
        code = torch.nn.functional.one_hot(torch.from_numpy(self.classes).long(), K).float()[None]  # (1, N, K)
        self.decoded = tensor_to_frames(self.model.decode(code.to(next(self.model.parameters()).device)))[0]
        self.image.value = png(self.decoded)
        return self.decoded


class DreamViewer:
    """A dream from a real start latent under fixed actions, re-dreamt when tau or the seed changes.

    Shows every ``every``-th decoded dream frame in a row; ``.frames`` holds all of them.
    """

    def __init__(self, mdnrnn, vision_model, start: torch.Tensor, actions: torch.Tensor, tau: float = 1.0,
                 every: int = 10):
        self.mdnrnn, self.vision_model, self.start, self.actions = mdnrnn, vision_model, start, actions
        self.every = every
        self.tau = widgets.FloatSlider(value=tau, min=0.05, max=2.0, step=0.05, description="tau",
                                       continuous_update=False)
        self.seed = widgets.IntSlider(value=0, min=0, max=20, description="seed", continuous_update=False)
        self.image = widgets.Image(format="png")
        for control in (self.tau, self.seed):
            control.observe(lambda change: self.redream(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.tau, self.seed]), self.image])
        self.redream()

    def redream(self) -> np.ndarray:
        latents = dream(self.mdnrnn, self.start, self.actions, tau=self.tau.value, seed=self.seed.value)
        self.frames = decode(self.vision_model, latents)  # (T + 1, 64, 64, 3)
        self.image.value = png(np.concatenate(list(self.frames[:: self.every]), axis=1), scale=2)
        return self.frames


__all__ = ["CategoryExplorer", "DreamViewer", "LatentExplorer", "hard_code", "png"]

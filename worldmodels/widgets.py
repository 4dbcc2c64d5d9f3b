"""ipywidgets explorers for the notebooks; every control can also be set from plain Python.

``LatentExplorer``    sliders over chosen z dimensions of the Gaussian VAE, decoding in place
``CategoryExplorer``  class sliders for the Gumbel VAE's most influential variables, with a map of what changed
``DreamViewer``       a dream under fixed actions, re-dreamt when the tau or seed slider moves
``DreamDriver``       drive inside the dream yourself (steer, gas, brake), or let an agent drive

The explorers start from a real frame's code, keep the current code in ``.code`` and the decoded
frame in ``.decoded`` (uint8 (64, 64, 3)), and show them in ``.widget``. ``show()`` displays the widget and a
plain image of its view that follows it, which a saved notebook keeps.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image

from .agent.dream import DreamEnv, decode, dream
from .agent.files import Agent
from .models.gumbel_vae import GumbelVAE, hard_code
from .models.vae import ConvVAE
from .world.frames import frames_to_tensor, tensor_to_frames


def labelled_strip(frames: np.ndarray, labels: Sequence[str], scale: int = 2, gap: int = 6) -> np.ndarray:
    """Frames (N, H, W, 3) side by side, ``scale`` times larger, ``gap`` white pixels apart, each with its label
    written beneath in 14-pixel type: uint8 (H * scale + 20, N * (W * scale + gap) - gap, 3)."""
    from PIL import ImageDraw, ImageFont

    n, h, w, _ = frames.shape
    fw, fh = w * scale, h * scale
    canvas = Image.new("RGB", (n * (fw + gap) - gap, fh + 20), "white")
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default(size=14)
    for i, (frame, text) in enumerate(zip(frames, labels, strict=True)):
        x = i * (fw + gap)
        canvas.paste(Image.fromarray(frame).resize((fw, fh), Image.NEAREST), (x, 0))
        draw.text((x + 2, fh + 2), text, fill="black", font=font)
    return np.asarray(canvas)


def png(frame: np.ndarray, scale: int = 4) -> bytes:
    """uint8 (H, W, 3) -> PNG bytes, enlarged ``scale`` times with nearest neighbours."""
    image = Image.fromarray(frame).resize((frame.shape[1] * scale, frame.shape[0] * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class _Shown:
    """``show()``: the live widget, then a plain image of what its picture shows, replaced each time the picture
    changes. A saved notebook keeps that image, so reopened (or rendered on GitHub) it still shows the last view,
    where the live widget needs a running kernel."""

    css_class = ""  # set on ``.widget`` (the real-browser test finds each explorer by it)

    def show(self) -> None:
        from IPython.display import Image, Markdown, display

        if self.css_class:
            self.widget.add_class(self.css_class)
        display(self.widget)
        display(Markdown("<small>Its last view as a plain image, which a saved notebook keeps (reopened, the live "
                         "control needs its cell run again):</small>"))
        self.snapshot = display(Image(data=self.image.value, format="png"), display_id=True)
        self.image.observe(self._update_snapshot, names="value")

    def _update_snapshot(self, change) -> None:
        from IPython.display import Image

        if getattr(self, "snapshot", None) is not None:
            self.snapshot.update(Image(data=change["new"], format="png"))


class LatentExplorer(_Shown):
    """Sliders over z dimensions of a ConvVAE, starting from the mean code of ``frame``.

    Args:
        model: a trained ConvVAE.
        frame: uint8 (64, 64, 3), the starting point.
        dims: the z dimensions that get a slider (changeable with the picker).
        value_range: slider range in units of the prior's standard deviation.
    """

    css_class = "wm-latent-explorer"

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
        hint = widgets.HTML("<small>Pick the dimensions that get a slider: ctrl-click (cmd-click on a Mac) adds or "
                            "removes one; a plain click keeps only the one clicked.</small>")
        self.widget = widgets.HBox([widgets.VBox([widgets.HBox([self.original, self.image]), self.reset_button]),
                                    widgets.VBox([self.picker, hint, self.slider_box])])
        self.decode()

    def _build_sliders(self) -> None:
        lo, hi = self.value_range
        self.sliders = {}
        for d in self.picker.value:
            slider = widgets.FloatSlider(value=float(np.clip(self.code[d], lo, hi)), min=lo, max=hi, step=0.05,
                                         description=f"z[{d}]", continuous_update=True)  # decodes in ~18 ms
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


class CategoryExplorer(_Shown):
    """Class sliders for the categorical variables that draw the most on ``frame``, the decoded frame, and a
    map of what changed.

    Args:
        model: a trained GumbelVAE.
        frame: uint8 (64, 64, 3), the starting point (its hard code).
        variables: the variables that get a slider; by default the ``shown`` with the largest
            ``model.influence(frame)`` (most variables barely change the frame, so slider 0..7 would show nothing).

    ``.classes`` (N,) holds the current code, ``.decoded`` its frame, ``.difference`` (64, 64) the absolute change
    from the frame's own code in 0..255 (largest over the colour channels).
    """

    css_class = "wm-category-explorer"

    def __init__(self, model: GumbelVAE, frame: np.ndarray, variables: Sequence[int] | None = None, shown: int = 8):
        self.model = model.eval()
        self.frame = frame
        with torch.no_grad():
            logits = model.encode(frames_to_tensor(frame[None]).to(next(model.parameters()).device))
        self.start = logits[0].argmax(-1).cpu().numpy()  # (N,) class indices
        self.classes = self.start.copy()
        self.influence = model.influence(frame)  # (N,) mean change in 0..255 units
        order = [int(n) for n in np.argsort(-self.influence, kind="stable")]
        self.variables = list(variables) if variables is not None else order[:shown]
        self.original = widgets.Image(value=png(frame), format="png")
        self.image = widgets.Image(format="png")
        self.difference_image = widgets.Image(format="png")
        self.status = widgets.HTML()
        self.pickers: dict[int, widgets.IntSlider] = {}
        self.picker_box = widgets.VBox()
        for n in self.variables:
            self._add_picker(n)
        self.reset_button = widgets.Button(description="back to the frame")
        self.reset_button.on_click(lambda _: self.reset())
        captions = [widgets.HTML(f"<b>{t}</b>") for t in ("frame", "decoded code", "what changed")]
        images = widgets.GridBox(captions + [self.original, self.image, self.difference_image],
                                 layout=widgets.Layout(grid_template_columns="repeat(3, 264px)"))
        self.widget = widgets.VBox([images, self.status, widgets.HBox([self.picker_box, self.reset_button])])
        self.base = self._decode(self.start)
        self.decode()

    def influence_summary(self) -> str:
        """The influence of the top, the ``len(variables)``-th and the median variable, in words."""
        ranked = np.sort(self.influence)[::-1]
        shown = min(len(self.variables), len(ranked))
        return (f"influence (mean change of the frame, /255): top variable {ranked[0]:.1f}, "
                f"{shown}th {ranked[shown - 1]:.1f}, median {np.median(ranked):.2f}")

    def _add_picker(self, n: int) -> None:
        K = self.model.cfg.num_classes
        picker = widgets.IntSlider(value=int(self.classes[n]), min=0, max=K - 1, continuous_update=True,
                                   description=f"var {n}", style={"description_width": "60px"},
                                   layout=widgets.Layout(width="420px"))
        picker.observe(lambda change, n=n: self._on_pick(n, change["new"]), names="value")
        self.pickers[n] = picker
        self.picker_box.children = list(self.pickers.values())

    def _on_pick(self, var: int, cls: int) -> None:
        self.classes[var] = cls
        self.decode()

    def set(self, var: int, cls: int) -> None:
        """Pick class ``cls`` for variable ``var`` (adding its slider if not shown), as a user would."""
        if var not in self.pickers:
            self._add_picker(var)
        self.pickers[var].value = cls

    def reset(self) -> None:
        for n, picker in self.pickers.items():
            picker.value = int(self.start[n])
        self.classes = self.start.copy()
        self.decode()

    @torch.no_grad()
    def _decode(self, classes: np.ndarray) -> np.ndarray:
        K = self.model.cfg.num_classes
        code = torch.nn.functional.one_hot(torch.from_numpy(classes).long(), K).float()[None]  # (1, N, K)
        return tensor_to_frames(self.model.decode(code.to(next(self.model.parameters()).device)))[0]

    def decode(self) -> np.ndarray:
        self.decoded = self._decode(self.classes)
        self.difference = np.abs(self.decoded.astype(np.int16) - self.base.astype(np.int16)).max(-1).astype(np.uint8)
        self.image.value = png(self.decoded)
        self.difference_image.value = png(heat(self.difference))
        changed = int((self.classes != self.start).sum())
        self.status.value = (f"{changed} of {len(self.classes)} variables changed; the frame moved by "
                             f"{self.difference.mean():.1f}/255 on average, {int(self.difference.max())}/255 at most"
                             f" (map: white = {max(int(self.difference.max()), 16)}/255)")
        return self.decoded


def heat(difference: np.ndarray, floor: int = 16) -> np.ndarray:
    """A (H, W) change in 0..255 -> uint8 (H, W, 3) image, black for none and white for the largest change (at
    least ``floor``, so that noise does not fill the map)."""
    scaled = np.clip(difference.astype(np.float32) / max(float(difference.max()), floor), 0, 1)
    return (np.stack([scaled, scaled**2, scaled**4], axis=-1) * 255).astype(np.uint8)  # black-red-yellow-white


class DreamViewer(_Shown):
    """A dream from a real start latent under fixed actions, re-dreamt when tau or the seed changes.

    Shows every ``every``-th decoded dream frame in a row, twice their size, apart and labelled with their step;
    ``.frames`` holds all of them.
    """

    css_class = "wm-dream-viewer"

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
        steps = range(0, len(self.frames), self.every)
        self.image.value = png(labelled_strip(self.frames[:: self.every], [f"t={t}" for t in steps]), scale=1)
        return self.frames


class DreamDriver(_Shown):
    """Drive inside M's dream: each step feeds (code, your action) to M, samples the next code with temperature
    tau, and shows it decoded by V with the reward M predicts; or let an agent's controller choose the actions.

    Args:
        mdnrnn: M; vision_model: the V whose codes M models (it draws the frames).
        starts: real start codes (S, Z) or (S, N, K) (``registry.codes_at``); ``reset`` draws one.
        tau: the dream's temperature (changeable while driving).
        agent: an ``Agent`` on this V and M for "let the agent drive" (None: no such button).
        seed: the dream's random seed (``reset(seed)`` changes it).
        scale: how many times the 64x64 frame is enlarged on screen.

    State: ``t``, ``frame`` (uint8 (64, 64, 3)), ``reward`` (M's last predicted reward), ``total``, ``done``
    (M's done head ended the dream, or 1000 steps), ``history`` (one dict per step). Keyboard control would need a
    front-end extension (ipywidgets has no key events), so the controls are sliders and buttons.
    """

    css_class = "wm-dream-driver"

    def __init__(self, mdnrnn, vision_model, starts: torch.Tensor, tau: float = 1.0, agent: Agent | None = None,
                 seed: int = 0, scale: int = 6):
        self.mdnrnn, self.vision_model, self.starts, self.agent, self.scale = mdnrnn, vision_model, starts, agent, scale
        self.controller = agent.spec.make_controller() if agent is not None else None
        self.steer = widgets.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.05, description="steer")
        self.gas = widgets.FloatSlider(value=0.3, min=0.0, max=1.0, step=0.05, description="gas")
        self.brake = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="brake")
        self.tau = widgets.FloatSlider(value=tau, min=0.05, max=2.0, step=0.05, description="tau")
        self.tau.observe(lambda change: setattr(self.env, "tau", change["new"]), names="value")
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()
        buttons = []
        for label, action in (("step", lambda _: self.step()), ("10 steps", lambda _: self.step(n=10)),
                              ("new dream", lambda _: self.reset(self._seed + 1))):
            button = widgets.Button(description=label)
            button.on_click(action)
            buttons.append(button)
        if agent is not None:
            button = widgets.Button(description="agent drives 10")
            button.on_click(lambda _: self.step(n=10, agent=True))
            buttons.append(button)
        self.widget = widgets.HBox([self.image, widgets.VBox([self.steer, self.gas, self.brake, self.tau,
                                                              widgets.HBox(buttons[:2]), widgets.HBox(buttons[2:]),
                                                              self.status])])
        self.reset(seed)

    def reset(self, seed: int | None = None) -> np.ndarray:
        """A new dream from a randomly drawn real start (``seed``: which one, and the dream's noise)."""
        self._seed = self._seed if seed is None else seed
        self.env = DreamEnv(self.mdnrnn, self.starts, tau=self.tau.value, seed=self._seed)
        self.latent, self.h = self.env.reset(1)
        self.t, self.reward, self.total, self.done, self.history = 0, 0.0, 0.0, False, []
        return self._show()

    def action(self, agent: bool = False) -> np.ndarray:
        """The next action (3,): the sliders', or the agent's for the current code and h."""
        if not agent:
            return np.array([self.steer.value, self.gas.value, self.brake.value], dtype=np.float32)
        if self.agent is None:
            raise ValueError("DreamDriver: no agent was given to drive")
        act = self.controller.act_batch(self.agent.params[None], self.latent.cpu().numpy(), self.h.cpu().numpy())
        return act[0].astype(np.float32)

    def step(self, action: Sequence[float] | None = None, n: int = 1, agent: bool = False) -> np.ndarray:
        """Advance the dream ``n`` steps with ``action`` (steer, gas, brake), the sliders' (None) or the agent's;
        a dream that has ended stays still until ``reset``. Returns the frame now shown."""
        for _ in range(n):
            if self.done:
                break
            a = np.asarray(action, dtype=np.float32) if action is not None else self.action(agent)
            if agent:  # show what the agent does
                self.steer.value, self.gas.value, self.brake.value = (round(float(v), 2) for v in a)
            self.latent, self.h, reward, done = self.env.step(torch.from_numpy(a[None]))
            self.t += 1
            self.reward = float(reward[0])
            self.total += self.reward
            self.done = bool(done[0])
            self.history.append({"t": self.t, "action": a.tolist(), "reward": self.reward, "done": self.done})
        return self._show()

    def _show(self) -> np.ndarray:
        self.frame = decode(self.vision_model, self.latent)[0]  # (64, 64, 3)
        self.image.value = png(self.frame, scale=self.scale)
        end = " · <b>the dream ended</b> (M's done head, or 1000 steps): press “new dream”" if self.done else ""
        self.status.value = (f"t = {self.t} · tau {self.env.tau:.2f} · reward M predicts {self.reward:+.2f} · "
                             f"total {self.total:.1f}{end}")
        return self.frame


__all__ = ["CategoryExplorer", "DreamDriver", "DreamViewer", "LatentExplorer", "hard_code", "png"]

"""C: the controller, action = squash(W [z, h] + b), with flat parameters for CMA-ES.

Shapes (B batch, D = latent_size (+ hidden_size)): inputs (B, D) -> actions (B, 3). The squash keeps every
action inside CarRacing's action space, as in the paper's code: steer = tanh(a0) in [-1, 1],
gas = (tanh(a1) + 1) / 2 in [0, 1], brake = clip(tanh(a2), 0, 1) in [0, 1].

With Z = 32 and H = 256 the linear controller has (32 + 256) * 3 + 3 = 867 parameters. Variants
(``ControllerConfig``): z only (the paper's "V only" agent), a tanh hidden layer, and the Gumbel
VAE's one-hot codes as the latent input (``latent_size = N * K``; hard, or soft: the posterior's probabilities).
The two sizes are V's and M's, not choices: ``agent.files.AgentSpec`` reads them from the files.

The controller is plain numpy: evolution evaluates thousands of parameter vectors, each for a
few hundred small matrix products, where torch's per-call overhead would dominate.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..core.config import ControllerConfig


class LinearController:
    """squash(W x + b), optionally with one tanh hidden layer; parameters live in one flat vector."""

    def __init__(self, cfg: ControllerConfig, params: np.ndarray | None = None, *, latent_size: int = 32,
                 hidden_size: int = 256):
        """``latent_size``: V's code, Z or N * K (default: the shipped Vs' 32); ``hidden_size``: M's H, read with
        ``inputs="z_h"`` (default 256)."""
        if latent_size < 1 or hidden_size < 0:
            raise ValueError(f"controller sizes: latent_size {latent_size} (1 or more), hidden_size {hidden_size} "
                             f"(0 or more)")
        self.cfg = cfg
        self.latent_size = latent_size
        self.input_size = latent_size + (hidden_size if cfg.inputs == "z_h" else 0)
        sizes = [self.input_size] + ([cfg.hidden_layer] if cfg.hidden_layer else []) + [3]
        self.shapes = [(n_out, n_in) for n_in, n_out in itertools.pairwise(sizes)]  # weight shapes, layer by layer
        self.num_params = sum(o * i + o for o, i in self.shapes)
        self.set_flat(np.zeros(self.num_params) if params is None else params)

    def get_flat(self) -> np.ndarray:
        """All parameters as one float64 vector (num_params,): W1, b1[, W2, b2]."""
        return self.flat.copy()

    def set_flat(self, params: np.ndarray) -> None:
        """Load a flat vector (num_params,); refuses a wrong length or non-finite values."""
        params = np.asarray(params, dtype=np.float64)
        if params.shape != (self.num_params,):
            raise ValueError(f"controller expects {self.num_params} parameters, got shape {params.shape}")
        if not np.all(np.isfinite(params)):
            raise ValueError(f"controller parameters contain {np.sum(~np.isfinite(params))} non-finite values")
        self.flat = params.copy()
        self.layers = unflatten(self.shapes, self.flat)

    def inputs(self, z: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
        """The controller's input (B, D) from z (B, Z) or codes (B, N, K), and h (B, H)."""
        z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
        if self.cfg.inputs == "z":
            return z
        if h is None:
            raise ValueError("this controller reads [z, h]: pass the MDN-RNN's hidden state h")
        return np.concatenate([z, np.asarray(h, dtype=np.float64).reshape(len(h), -1)], axis=1)

    def act(self, z: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
        """Actions (B, 3) float32, always finite and inside the action space."""
        return forward(self.layers, self._checked_inputs(z, h))

    def act_batch(self, params: np.ndarray, z: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
        """One parameter vector per row: params (B, num_params), z (B, ...), h (B, H) -> actions (B, 3).

        This is how a population acts at once (in the dream, or in a worker's batch of envs).
        """
        params = np.asarray(params, dtype=np.float64)
        if params.ndim != 2 or params.shape[1] != self.num_params or len(params) != len(z):
            raise ValueError(f"act_batch: expected params of shape ({len(z)}, {self.num_params}), got {params.shape}")
        if not np.all(np.isfinite(params)):
            raise ValueError(f"act_batch: {np.sum(~np.isfinite(params))} non-finite controller parameters")
        return forward(unflatten(self.shapes, params), self._checked_inputs(z, h))

    def _checked_inputs(self, z: np.ndarray, h: np.ndarray | None) -> np.ndarray:
        x = self.inputs(z, h)
        if x.shape[1] != self.input_size:
            raise ValueError(f"controller input has {x.shape[1]} features, expected {self.input_size} "
                             f"(latent {self.latent_size} + hidden {self.input_size - self.latent_size})")
        if not np.all(np.isfinite(x)):
            raise ValueError("controller input is not finite (NaN or inf in z or h)")
        return x


def unflatten(shapes: list[tuple[int, int]], params: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Flat parameters (..., num_params) -> [(W (..., out, in), b (..., out))] layer by layer (W1, b1, W2, b2)."""
    layers, i = [], 0
    lead = params.shape[:-1]
    for n_out, n_in in shapes:
        weight = params[..., i : i + n_out * n_in].reshape(*lead, n_out, n_in)
        i += n_out * n_in
        layers.append((weight, params[..., i : i + n_out]))
        i += n_out
    return layers


def forward(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """x (B, D) through the layers (weights shared (out, in) or per row (B, out, in)) -> actions (B, 3)."""
    for k, (weight, bias) in enumerate(layers):
        x = np.einsum("...oi,...i->...o", weight, x) + bias  # (B, out)
        if k < len(layers) - 1:
            x = np.tanh(x)
    return squash(x)


def squash(raw: np.ndarray) -> np.ndarray:
    """Raw outputs (B, 3) -> actions (B, 3) float32 in the CarRacing action space."""
    t = np.tanh(raw)
    action = np.stack([t[:, 0], (t[:, 1] + 1.0) / 2.0, np.clip(t[:, 2], 0.0, 1.0)], axis=1)
    return action.astype(np.float32)

"""The agent: V + M + C acting in the real CarRacing, batched over several envs.

At every step each env's frame is preprocessed as V's training frames were, V encodes all frames in one
batch (its acting code: z = mu for the VAE, the hard one-hot code for the Gumbel VAE), C maps [z, h] to an
action (each env may run its own controller parameters: a worker evaluates several candidates at once), and
M advances all hidden states in one LSTM step on (z, action). h starts at zero. Shapes (B envs)::

    frames uint8 (B, 96, 96, 3) -> V.input_spec -> (B, 64, 64, 3) -> V -> z (B, Z) | code (B, N, K)
    params (B, num_params), z, h (B, H) -> C -> actions (B, 3) -> M -> next h (B, H)
"""

from __future__ import annotations

import numpy as np
import torch

from ..models.encoder import FrameEncoder
from .files import AgentSpec, load_models

STEP_PENALTY = 0.1  # CarRacing's reward per step without a new tile is -0.1


class WorldModelAgent:
    """V + M + C for B envs at once; each env's row may have its own controller parameters."""

    def __init__(self, spec: AgentSpec, device: torch.device | str = "cpu", precision: str = "float32"):
        """``precision``: V's encoder in ``float32``, or ``bfloat16`` (a bf16 copy of V, channels-last), which is
        several times faster where the CPU or GPU has bf16 units and moves z by about 1%; M and C stay float32.
        A discrete V stays ``float32`` (``worldmodels.models.encoder.precision_for``); ``self.precision`` says
        which ran."""
        self.spec = spec
        self.vision, self.mdnrnn = load_models(spec.vision, spec.mdnrnn if spec.controller.inputs == "z_h" else None,
                                               device)
        self.encoder = FrameEncoder(self.vision, precision)
        self.precision = self.encoder.precision
        self.device = torch.device(device)
        self.controller = spec.make_controller()
        self.soft = spec.controller.code_input == "soft"
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset(self, batch_size: int) -> None:
        """Zero the hidden state of ``batch_size`` envs."""
        if self.mdnrnn is not None:
            zeros = torch.zeros(1, batch_size, self.mdnrnn.cfg.hidden_size, device=self.device)
            self.state = (zeros, zeros.clone())  # (h, c), each (1, B, H)

    @torch.no_grad()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """Env frames uint8 (B, 96, 96, 3) -> V's acting code (z = mu (B, Z), or one-hot (B, N, K)): what M reads."""
        return self.encode_both(frames)[0]

    @torch.no_grad()
    def encode_both(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(M's input, C's latent input) of env frames uint8 (B, 96, 96, 3).

        The same code twice, except with ``code_input="soft"``: M reads the hard code (B, N, K), C the
        posterior's class probabilities (B, N, K). Frames are preprocessed as V's training frames were.
        """
        posterior = self.encoder(frames)  # {name: (B, ...)}
        code = self.vision.code(posterior)
        return code, (self.vision.controller_input(posterior, soft=True) if self.soft else code)

    @torch.no_grad()
    def act(self, frames: np.ndarray, params: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Actions for some of the B envs, and one M step for them.

        Args:
            frames: uint8 (b, 96, 96, 3), the current frames of the envs in ``rows``.
            params: (b, num_params), each env's controller parameters.
            rows: indices (b,) of these envs in the batch given to ``reset`` (default: all).

        Returns:
            actions float32 (b, 3), finite and inside the action space.
        """
        z, seen = self.encode_both(frames)  # M reads z, C reads seen
        rows = np.arange(len(frames)) if rows is None else np.asarray(rows)
        if self.mdnrnn is None:
            return self.controller.act_batch(params, seen.cpu().numpy())
        index = torch.as_tensor(rows, device=self.device)
        h, c = self.state
        state = (h[:, index], c[:, index])
        actions = self.controller.act_batch(params, seen.cpu().numpy(), state[0][0].cpu().numpy())
        a = torch.from_numpy(actions).to(self.device)
        h_new, c_new = self.mdnrnn.advance(z, a, state)
        h[:, index], c[:, index] = h_new, c_new
        return actions


def run_episodes(agent: WorldModelAgent, envs: list, params: np.ndarray, seeds: np.ndarray,
                 max_steps: int = 1000, tile_cutoff: int = 0) -> dict[str, np.ndarray]:
    """Play E episodes at once, episode i on ``envs[i]`` with seed ``seeds[i]`` and parameters ``params[i]``.

    Args:
        params: (E, num_params).
        seeds: (E,) env seeds.
        max_steps: steps per episode at most (the env itself truncates at 1000).
        tile_cutoff: end an episode after this many steps without a new tile (a step reward > 0), adding
            -0.1 for every step left, the return of a car that finds no more tiles (0: off).

    Returns:
        ``returns`` (E,) float64, ``steps`` (E,) int64 (env steps taken), ``cut`` (E,) bool.
    """
    E = len(seeds)
    if len(envs) < E or len(params) != E:
        raise ValueError(f"run_episodes: {E} seeds need {E} envs and {E} parameter rows, got {len(envs)} and {len(params)}")
    obs = [envs[i].reset(seed=int(seeds[i]))[0] for i in range(E)]
    agent.reset(E)
    returns, steps = np.zeros(E), np.zeros(E, np.int64)
    since_tile, cut = np.zeros(E, np.int64), np.zeros(E, bool)
    active = np.ones(E, bool)
    while active.any():
        rows = np.flatnonzero(active)
        actions = agent.act(np.stack([obs[i] for i in rows]), params[rows], rows)
        for a, i in zip(actions, rows, strict=True):
            obs[i], reward, terminated, truncated, _ = envs[i].step(a)
            returns[i] += reward
            steps[i] += 1
            since_tile[i] = 0 if reward > 0 else since_tile[i] + 1
            if terminated or truncated or steps[i] >= max_steps:
                active[i] = False
            elif tile_cutoff and since_tile[i] >= tile_cutoff:
                returns[i] -= STEP_PENALTY * (max_steps - steps[i])
                cut[i], active[i] = True, False
    return {"returns": returns, "steps": steps, "cut": cut}

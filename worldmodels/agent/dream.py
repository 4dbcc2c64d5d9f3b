"""Dreams: a batched environment that steps inside the MDN-RNN, for either latent type.

B dreams advance together (B from 1 to thousands): each step feeds (latent, action) to the
LSTM, samples the next latent with temperature tau, and takes the reward from the reward
head and the episode end from the done head. As in the env, a dream the done head ends is
charged ``termination_reward`` (CarRacing's -100 for leaving the playfield), a dream that
reaches ``max_steps`` is cut with its last reward counted, and an ended dream earns nothing more. Start latents
come from real episodes (``worldmodels.models.registry.codes_at``). With ``dropout`` > 0 each dream draws its
own dropout masks at reset (``MDNRNN.dropout_masks``) and dreams in a slightly different M throughout, which
Dropout's Dream Land found stops a controller from exploiting one M's mistakes.

An ensemble: ``DreamEnv([m1, ..., mK], starts, memory=agent_m)`` dreams each episode in one member, drawn at
reset, so a controller must do well in every member's world to do well on average. The members are the world
(next latent, reward, end); ``memory`` is the agent's own M, which reads the dreamed latents and actions as it reads
real ones and gives C its h, as in the real env (without ``memory``, C reads the dreaming member's h, as with one M).
With ``penalty`` > 0 (MOPO's pessimism) every member steps every dream, and each step's reward is lowered by
``penalty`` times the members' disagreement there: the standard deviation across members of their predicted reward
plus the mean over the latent's entries of the standard deviation of their expected next latent (``disagreement``).
A controller is then paid less where the Ms have not seen enough to agree, the states where one M's mistakes live;
it costs K times the dream's compute.

    env = DreamEnv(mdnrnn, start_latents, tau=1.15, seed=0)
    z, h = env.reset(batch_size=64)               # z (B, Z) or code (B, N, K); h (B, H)
    z, h, reward, done = env.step(actions)        # actions (B, 3) -> reward (B,), done (B,) bool

Dream frames: ``decode(vision, latents)`` turns dream latents into uint8 frames through V
(``worldmodels.core.video.write_video`` saves them as an mp4).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..models.controller import LinearController
from ..models.mdnrnn import MDNRNN
from ..models.vision import Vision
from ..world.frames import tensor_to_frames


class DreamEnv:
    """B dream episodes stepping at once inside an MDN-RNN, or each inside one member of an ensemble."""

    def __init__(self, model: MDNRNN | Sequence[MDNRNN], starts: torch.Tensor, tau: float = 1.0, seed: int = 0,
                 done_threshold: float = 0.5, max_steps: int = 1000, termination_reward: float = -100.0,
                 dropout: float = 0.0, memory: MDNRNN | None = None, penalty: float = 0.0):
        self.members = [model] if isinstance(model, MDNRNN) else list(model)
        if not self.members:
            raise ValueError("DreamEnv: no M to dream in")
        if penalty and len(self.members) < 2:
            raise ValueError(f"DreamEnv: penalty={penalty} needs an ensemble of two or more Ms to disagree")
        sizes = {(m.cfg.latent, m.cfg.z_size, m.cfg.num_vars, m.cfg.num_classes, m.cfg.hidden_size)
                 for m in self.members}
        if len(sizes) > 1:
            raise ValueError(f"DreamEnv: the members of an ensemble must share latent and hidden sizes, got {sizes}")
        for m in self.members:
            m.eval()
        self.model = self.members[0]
        self.memory = memory.eval() if memory is not None else None
        self.device = next(self.model.parameters()).device
        self.starts = starts.to(self.device)
        self.tau = tau
        self.done_threshold = done_threshold
        self.max_steps = max_steps
        self.termination_reward = termination_reward
        self.dropout = dropout
        self.penalty = penalty
        self.disagreement = None  # (B,) the last step's, with penalty > 0
        self.masks = None
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.latent = self.state = self.h = self.member = self.memory_state = None
        self.t = 0

    @torch.no_grad()
    def reset(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Start ``batch_size`` dreams from randomly drawn real start latents; h starts at zero; each dream draws
        its member of an ensemble, and its dropout masks (with ``dropout`` > 0)."""
        pick = torch.randint(len(self.starts), (batch_size,), generator=self.generator, device=self.device)
        K = len(self.members)
        self.member = torch.zeros(batch_size, dtype=torch.long, device=self.device) if K == 1 else \
            torch.randint(K, (batch_size,), generator=self.generator, device=self.device)
        self.masks = [m.dropout_masks(batch_size, self.dropout, self.generator, self.device) for m in self.members]
        self.latent = self.starts[pick]  # (B, Z) or (B, N, K)
        H = self.model.cfg.hidden_size
        zeros = torch.zeros(1, batch_size, H, device=self.device)
        self.state = (zeros, zeros.clone())
        if self.penalty:  # every member keeps its own state for every dream
            self.state = [(zeros.clone(), zeros.clone()) for _ in self.members]
        self.h = zeros[0]  # (B, H)
        if self.memory is not None:
            mem = torch.zeros(1, batch_size, self.memory.cfg.hidden_size, device=self.device)
            self.memory_state = (mem, mem.clone())
            self.h = mem[0]
        self.done = torch.zeros(batch_size, dtype=torch.bool, device=self.device)
        self.t = 0
        return self.latent, self.h

    @torch.no_grad()
    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Advance every dream by one step.

        Args:
            action: (B, 3) finite actions.

        Returns:
            next latent (B, Z) | (B, N, K), h (B, H), reward (B,), done (B,) bool (stays True once True).
            ``reward`` is this step's: the head's, plus ``termination_reward`` where the done head ends a dream
            now, and 0 for dreams that had ended before it.
        """
        action = torch.as_tensor(action, dtype=torch.float32, device=self.device)
        B = self.latent.shape[0]
        if action.shape != (B, 3) or not torch.isfinite(action).all():
            raise ValueError(f"DreamEnv.step: expected {B} finite actions of shape ({B}, 3), got "
                             f"{tuple(action.shape)} (finite: {bool(torch.isfinite(action).all())})")
        if self.penalty:
            next_latent, h, reward, terminated = self._all_members_step(action)
        elif len(self.members) == 1:
            next_latent, h, reward, terminated, self.state = self._member_step(
                self.model, self.latent, action, self.state, self.masks[0])
        else:
            next_latent, h = torch.empty_like(self.latent), torch.empty_like(self.state[0][0])
            reward = torch.zeros(B, device=self.device)
            terminated = torch.zeros(B, dtype=torch.bool, device=self.device)
            hs, cs = self.state[0].clone(), self.state[1].clone()
            for k, model in enumerate(self.members):
                rows = torch.nonzero(self.member == k).squeeze(1)
                if len(rows) == 0:
                    continue
                masks = None if self.masks[k] is None else tuple(m[rows] for m in self.masks[k])
                out = self._member_step(model, self.latent[rows], action[rows], (hs[:, rows], cs[:, rows]), masks)
                next_latent[rows], h[rows], reward[rows], terminated[rows] = out[:4]
                hs[:, rows], cs[:, rows] = out[4]
            self.state = (hs, cs)
        if self.memory is not None:  # the agent's own M reads (latent, action) as it does in the real env
            out, self.memory_state = self.memory(self.latent.unsqueeze(1), action.unsqueeze(1), self.memory_state)
            h = out["h"][:, -1]
        self.h = h
        live = ~self.done  # (B,) dreams still running when this step began
        reward = torch.where(live, reward + self.termination_reward * (terminated & live), torch.zeros_like(reward))
        self.t += 1
        self.done = self.done | terminated | (self.t >= self.max_steps)
        self.latent = next_latent
        return self.latent, self.h, reward, self.done.clone()

    def _all_members_step(self, action: torch.Tensor):
        """Every member steps every dream; each dream takes its own member's outcome, its reward lowered by
        ``penalty`` x ``disagreement``: (next latent, h (B, H), reward (B,), terminated (B,) bool)."""
        outs = [self._member_step(m, self.latent, action, s, mk, expected=True)
                for m, s, mk in zip(self.members, self.state, self.masks, strict=True)]
        self.state = [o[4] for o in outs]
        rows = torch.arange(len(action), device=self.device)

        def mine(i: int) -> torch.Tensor:  # (K, B, ...) -> each dream's own member's (B, ...)
            return torch.stack([o[i] for o in outs])[self.member, rows]

        rewards, expected = torch.stack([o[2] for o in outs]), torch.stack([o[5] for o in outs])  # (K, B), (K, B, ...)
        self.disagreement = rewards.std(0, correction=0) + expected.flatten(2).std(0, correction=0).mean(-1)  # (B,)
        return mine(0), mine(1), mine(2) - self.penalty * self.disagreement, mine(3)

    def _member_step(self, model: MDNRNN, latent: torch.Tensor, action: torch.Tensor, state, masks,
                     expected: bool = False):
        """One M's step on some dreams: (next latent, h (b, H), reward (b,), terminated (b,) bool, new state), and
        with ``expected`` its expected next latent (b, ...) last."""
        out, state = model(latent.unsqueeze(1), action.unsqueeze(1), state, masks)  # L = 1
        h = out["h"][:, -1]  # (b, H)
        next_latent = model.sample_next(out, self.tau, self.generator)
        if "reward" in out:
            reward = out["reward"][:, -1]
        elif model.reward is not None:  # a transition head: paid for the dreamed step itself
            reward = model.transition_reward(latent, next_latent)
        else:
            reward = torch.zeros(len(latent), device=self.device)
        terminated = out["done_logit"][:, -1].sigmoid() > self.done_threshold if "done_logit" in out else \
            torch.zeros(len(latent), dtype=torch.bool, device=self.device)
        if expected:
            return next_latent, h, reward, terminated, state, model.head.expected(out)
        return next_latent, h, reward, terminated, state


@torch.no_grad()
def play(env: DreamEnv, controller: LinearController, params: np.ndarray) -> tuple[np.ndarray, int]:
    """One dream per row of ``params`` (B, num_params), all at once, until every dream has ended.

    Returns:
        returns (B,) and the dream steps taken (live dreams only).
    """
    z, h = env.reset(len(params))
    returns, steps = np.zeros(len(params)), 0
    while not env.done.all():
        steps += int((~env.done).sum())
        action = controller.act_batch(params, z.cpu().numpy(), h.cpu().numpy())
        z, h, reward, _ = env.step(torch.from_numpy(action))
        returns += reward.cpu().numpy()
    return returns, steps


@torch.no_grad()
def decode(vision_model: Vision, latents: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Dream latents (T, Z) or (T, N, K) -> uint8 frames (T, 64, 64, 3) through V's decoder."""
    device = next(vision_model.parameters()).device
    frames = []
    for i in range(0, len(latents), batch_size):
        out = vision_model.decode(latents[i : i + batch_size].to(device))
        frames.append(tensor_to_frames(out))
    return np.concatenate(frames)


def dream(model: MDNRNN, start: torch.Tensor, actions: torch.Tensor, tau: float, seed: int = 0) -> torch.Tensor:
    """One dream from one start latent under a fixed action sequence (T, 3): latents (T + 1, ...)."""
    return dreams(model, start, actions, tau, n=1, seed=seed)[:, 0]


@torch.no_grad()
def dreams(model: MDNRNN, start: torch.Tensor, actions: torch.Tensor, tau: float, n: int,
           seed: int = 0) -> torch.Tensor:
    """``n`` dreams from one start latent under the same actions (T, 3), each with its own noise: latents
    (T + 1, n, ...). The done head is ignored, so every dream lasts ``len(actions)`` steps."""
    env = DreamEnv(model, start[None], tau=tau, seed=seed, max_steps=len(actions) + 1)
    latent, _ = env.reset(n)
    out = [latent]
    for a in actions:
        latent, *_ = env.step(a[None].expand(n, -1))
        out.append(latent)
    return torch.stack(out)


def endings_by_tau(model: MDNRNN, vision_model: Vision, start: torch.Tensor, actions: torch.Tensor,
                   taus: list[float], n: int = 8, seed: int = 0) -> np.ndarray:
    """Where ``n`` dreams from one start are after ``len(actions)`` steps under the same actions, at each
    temperature: decoded frames uint8 (K, n, 64, 64, 3) for K temperatures."""
    return np.stack([decode(vision_model, dreams(model, start, actions, tau, n, seed)[-1]) for tau in taus])


def spread_by_tau(model: MDNRNN, vision_model: Vision, start: torch.Tensor, actions: torch.Tensor,
                  taus: list[float], n: int = 16, every: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """How far ``n`` dreams from one start, under the same actions, drift apart at each temperature.

    At every ``every``-th step: the code's standard deviation across the dreams (mean over its entries) and the
    decoded picture's (mean over pixels and channels, in 0..255 units).

    Returns:
        {"tau": (K,), "t": (S,), "code": (K, S), "pixels": (K, S)} for K temperatures and S steps.
    """
    steps = np.arange(0, len(actions) + 1, every)
    code, pixels = [], []
    for tau in taus:
        latents = dreams(model, start, actions, tau, n, seed)[steps]  # (S, n, ...)
        code.append(latents.flatten(2).std(1).mean(1).cpu().numpy())
        frames = decode(vision_model, latents.flatten(0, 1)).astype(np.float32)  # (S * n, 64, 64, 3)
        pixels.append(frames.reshape(len(steps), n, -1).std(1).mean(1))
    return {"tau": np.asarray(taus, dtype=np.float32), "t": steps, "code": np.stack(code), "pixels": np.stack(pixels)}

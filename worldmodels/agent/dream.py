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

Branched dreams: ``branch_starts(world, memory, latents, n)`` draws ``n`` real mid-episode states, each with the LSTM
state every M reaches by reading the real (code, action) pairs before it, and ``DreamEnv(world, starts, max_steps=H)``
then dreams H steps from each (the short rollouts of Dreamer and MBPO, whose model error compounds over H steps
rather than a whole episode). The chapter's dreams, the default, start at an episode's first frame with h = 0.

Dream frames: ``decode(vision, latents)`` turns dream latents into uint8 frames through V
(``worldmodels.core.video.write_video`` saves them as an mp4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..models.controller import LinearController
from ..models.mdnrnn import MDNRNN
from ..models.registry import codes_at, latents_class
from ..models.vision import Vision
from ..world.frames import tensor_to_frames

State = tuple[torch.Tensor, torch.Tensor]  # an LSTM's (h, c), each (1, B, H)


@dataclass(frozen=True)
class Starts:
    """Where dreams begin: real codes ``latent`` (S, Z) or (S, N, K), and, for dreams branched from mid-episode
    states, each world member's LSTM state there (``states``, one (h, c) per member, each (1, S, H)) and the agent's
    own M's (``memory``). None: zeros, as at an episode's first frame."""

    latent: torch.Tensor
    states: tuple[State, ...] | None = None
    memory: State | None = None

    def __len__(self) -> int:
        return len(self.latent)

    def to(self, device: torch.device | str) -> Starts:
        move = (lambda s: None if s is None else (s[0].to(device), s[1].to(device)))
        return Starts(self.latent.to(device), None if self.states is None else tuple(move(s) for s in self.states),
                      move(self.memory))


class DreamEnv:
    """B dream episodes stepping at once inside an MDN-RNN, or each inside one member of an ensemble."""

    def __init__(self, model: MDNRNN | Sequence[MDNRNN], starts: torch.Tensor | Starts, tau: float = 1.0, seed: int = 0,
                 done_threshold: float = 0.5, max_steps: int = 1000, termination_reward: float = -100.0,
                 dropout: float = 0.0, memory: MDNRNN | None = None, penalty: float = 0.0):
        self.members = [model] if isinstance(model, MDNRNN) else list(model)
        if not self.members:
            raise ValueError("DreamEnv: no M to dream in")
        if penalty and len(self.members) < 2:
            raise ValueError(f"DreamEnv: penalty={penalty} needs an ensemble of two or more Ms to disagree")
        sizes = {(m.cfg.latent, m.code_shape, m.cfg.hidden_size) for m in self.members}
        if len(sizes) > 1:
            raise ValueError(f"DreamEnv: the members of an ensemble must share latent and hidden sizes, got {sizes}")
        for m in self.members:
            m.eval()
        self.model = self.members[0]
        self.memory = memory.eval() if memory is not None else None
        self.device = next(self.model.parameters()).device
        self.starts = (starts if isinstance(starts, Starts) else Starts(starts)).to(self.device)
        S = len(self.starts)
        if S == 0:
            raise ValueError("DreamEnv: no start latents to dream from")
        if self.starts.states is not None:
            if len(self.starts.states) != len(self.members):
                raise ValueError(f"DreamEnv: {len(self.starts.states)} start states for {len(self.members)} Ms")
            for (h, c), m in zip(self.starts.states, self.members, strict=True):
                if h.shape != (1, S, m.cfg.hidden_size) or c.shape != h.shape:
                    raise ValueError(f"DreamEnv: start states of shape {tuple(h.shape)}, {tuple(c.shape)}; expected "
                                     f"(1, {S}, {m.cfg.hidden_size}) each")
        if (self.starts.memory is not None) != (memory is not None and self.starts.states is not None):
            raise ValueError("DreamEnv: branched starts need the agent's M's states exactly when a memory M is given")
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
    def reset(self, batch_size: int, shared: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Start ``batch_size`` dreams from randomly drawn real starts (h at zero, or the M's state there for
        branched starts); each dream draws its member of an ensemble, and its dropout masks (with ``dropout`` > 0).

        With ``shared`` = R (a divisor of ``batch_size``), only R starts and members are drawn and dream i takes
        draw i mod R: candidates laid out candidate-major (P x R rows) then meet the same R starts in the same
        members, as the real env's candidates meet the same R tracks (common random numbers)."""
        if shared and batch_size % shared:
            raise ValueError(f"DreamEnv.reset: shared={shared} must divide batch_size={batch_size}")
        draws = shared or batch_size
        pick = torch.randint(len(self.starts), (draws,), generator=self.generator, device=self.device)
        K = len(self.members)
        self.member = torch.zeros(draws, dtype=torch.long, device=self.device) if K == 1 else \
            torch.randint(K, (draws,), generator=self.generator, device=self.device)
        if shared:
            pick, self.member = pick.repeat(batch_size // shared), self.member.repeat(batch_size // shared)
        self.masks = [m.dropout_masks(batch_size, self.dropout, self.generator, self.device) for m in self.members]
        self.latent = self.starts.latent[pick]  # (B, Z) or (B, N, K)
        H = self.model.cfg.hidden_size
        if self.starts.states is None:
            zeros = torch.zeros(1, batch_size, H, device=self.device)
            own = (zeros, zeros.clone())
            everyone = [(zeros.clone(), zeros.clone()) for _ in self.members]
        else:  # each dream takes the state its own member reached at its start
            everyone = [(h[:, pick], c[:, pick]) for h, c in self.starts.states]
            rows = torch.arange(batch_size, device=self.device)
            own = tuple(torch.stack([s[i][0] for s in everyone])[self.member, rows][None] for i in (0, 1))
        self.state = everyone if self.penalty else own  # with penalty every member keeps a state for every dream
        self.h = own[0][0]  # (B, H)
        if self.memory is not None:
            if self.starts.memory is None:
                mem = torch.zeros(1, batch_size, self.memory.cfg.hidden_size, device=self.device)
                self.memory_state = (mem, mem.clone())
            else:
                self.memory_state = (self.starts.memory[0][:, pick], self.starts.memory[1][:, pick])
            self.h = self.memory_state[0][0]
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
def branch_starts(world: Sequence[MDNRNN], memory: MDNRNN | None, latents: dict[str, np.ndarray], n: int,
                  seed: int = 0, chunk: int = 100) -> Starts:
    """``n`` real mid-episode states to branch dreams from, drawn uniformly over every real step of ``latents``
    (``LatentSequences.load``; a seeded draw), each with the LSTM state every M (the ``world`` members, then
    ``memory``) reaches by reading the real (code, action) pairs before it, as it does while acting in the real env.

    The rows are sorted by step and read ``chunk`` steps at a time, so a store of any size is never loaded whole:
    the cost is about ``n`` x (mean step) LSTM steps per M.

    Returns:
        ``Starts``: latent (n, ...), states one (h, c) per world member and memory (h, c) (None without
        ``memory``), each (1, n, H).
    """
    if n < 1:
        raise ValueError(f"branch_starts: n={n}; draw one or more states")
    length = np.asarray(latents["length"], dtype=np.int64)
    rng = np.random.default_rng(seed)
    episode = rng.choice(len(length), size=n, p=length / length.sum())
    step = np.minimum((rng.random(n) * length[episode]).astype(np.int64), length[episode] - 1)  # 0 .. length - 1
    order = np.lexsort((episode, step))
    episode, step = episode[order], step[order]
    cls = latents_class(latents)
    models = [*world, *([memory] if memory is not None else [])]
    device = next(models[0].parameters()).device

    def codes(rows: np.ndarray, s0: int, s1: int) -> torch.Tensor:  # (R, s1 - s0, ...) acting codes
        posterior = {k: torch.from_numpy(np.asarray(latents[k][rows, s0:s1], dtype=np.float32))
                     for k in cls.posterior_keys}
        return cls.code(posterior).float().to(device)

    zeros = [torch.zeros(1, n, m.cfg.hidden_size, device=device) for m in models]
    found = [(z.clone(), z.clone()) for z in zeros]  # (h, c) of every row, filled as the rows' steps are reached
    running: list[State] = [(z, z.clone()) for z in zeros]  # the states of rows first .. n - 1 at time t
    first, t = 0, 0
    bounds = sorted(set(step.tolist()) | set(range(0, int(step.max()) + 1, chunk)))
    for stop in [*bounds[1:], None]:
        done = int(np.searchsorted(step, t, side="right"))  # rows whose step is t: their state is reached
        for i in range(len(models)):
            for j in (0, 1):
                found[i][j][:, first:done] = running[i][j][:, : done - first]
            running[i] = tuple(s[:, done - first:].contiguous() for s in running[i])
        first = done
        if stop is None or first == n:
            break
        rows = episode[first:]
        action = torch.from_numpy(np.asarray(latents["action"][rows, t:stop], dtype=np.float32)).to(device)
        latent = codes(rows, t, stop)
        for i, m in enumerate(models):
            running[i] = m(latent, action, running[i])[1]
        t = stop
    return Starts(codes_at(latents, episode, step).to(device), tuple(found[: len(world)]),
                  found[-1] if memory is not None else None)


@torch.no_grad()
def play(env: DreamEnv, controller: LinearController, params: np.ndarray, shared: int = 0) -> tuple[np.ndarray, int]:
    """One dream per row of ``params`` (B, num_params), all at once, until every dream has ended; ``shared`` as in
    ``DreamEnv.reset``.

    Returns:
        returns (B,) and the dream steps taken (live dreams only).
    """
    z, h = env.reset(len(params), shared)
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


def held_action_response(model: MDNRNN, vision_model: Vision, start: torch.Tensor, actions: torch.Tensor,
                         tau: float, seed: int = 0) -> dict[str, float]:
    """How much one dream under held ``actions`` (T, 3) moves: ``frame_change``, the mean absolute pixel difference
    (0..255) between its first and last decoded frames, and, for a discrete M, ``flips``, how many of its
    ``variables`` change class a step on average (0 for a continuous one)."""
    latents = dream(model, start, actions, tau, seed=seed)  # (T + 1, Z) or (T + 1, N, K)
    frames = decode(vision_model, latents).astype(np.float32)
    discrete = latents.dim() == 3
    flips = (latents.argmax(-1)[1:] != latents.argmax(-1)[:-1]).float().sum(-1).mean().item() if discrete else 0.0
    return {"frame_change": float(np.abs(frames[-1] - frames[0]).mean()), "flips": flips,
            "variables": latents.shape[1] if discrete else 0}

"""M: an LSTM over [z, action] that predicts the next latent, the reward and the end of the episode.

Shapes (B batch, L sequence length, Z latent size, M mixtures, H hidden units, N x K codes)::

    inputs   z (B, L, Z) or code (B, L, N, K) flattened to (B, L, N * K); action (B, L, 3)
    lstm     h (B, L, H)
    heads    continuous: log_pi, mu, log_sigma (B, L, Z, M)   next z as a mixture per dimension
             discrete:   logits (B, L, N, K)                   next code as N categoricals
             reward (B, L), done_logit (B, L)                  when enabled
    transition reward (``reward_input="transition"``): an MLP on (latent_t, latent_{t+1}) (B, L, 2 * D) -> (B, L),
             called with ``transition_reward`` once the next latent is known (the real one, or the dream's sample)

With Z = 32, M = 5, H = 256 and both extra heads the continuous model has 423,906 parameters.
The mixture loss is computed in log space (log-softmax weights, logsumexp, clamped log sigma),
so it stays finite for extreme inputs.

Dropout (``MDNRNNConfig.dropout``, as in Dropout's Dream Land) is variational: one mask on the latent input
(B, Z) and one on h (B, H) per sequence, held for all its steps; the action is never masked. ``forward`` takes
the masks explicitly (``dropout_masks``), so training draws them per batch and a dream draws them per dream;
without masks M runs the plain ``nn.LSTM``, and with them a step loop over the same weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core import checkpoint
from ..core.config import MDNRNNConfig, from_dict

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class MixtureHead(nn.Linear):
    """Next z as a Gaussian mixture per dimension: h (B, L, H) -> log_pi, mu, log_sigma (B, L, Z, M)."""

    dims = 1  # codes of shape (Z,)

    def __init__(self, cfg: MDNRNNConfig, code_shape: tuple[int, ...]):
        (self.z_size,) = code_shape
        super().__init__(cfg.hidden_size, 3 * self.z_size * cfg.num_mixtures)
        self.cfg = cfg

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        B, L, _ = h.shape
        cfg = self.cfg
        params = super().forward(h).reshape(B, L, 3, self.z_size, cfg.num_mixtures)  # (B, L, 3, Z, M)
        return {"log_pi": F.log_softmax(params[:, :, 0], dim=-1),  # (B, L, Z, M)
                "mu": params[:, :, 1],
                "log_sigma": params[:, :, 2].clamp(cfg.log_sigma_min, cfg.log_sigma_max)}

    @staticmethod
    def nll(out: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per step, averaged over the Z dimensions: target z (B, L, Z) -> (B, L)."""
        return -mixture_log_prob(target.float(), out["log_pi"].float(), out["mu"].float(),
                                 out["log_sigma"].float()).mean(-1)

    @staticmethod
    def sample(out: dict[str, torch.Tensor], tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """z (B, Z) from the last step: weights softmax(log_pi / tau), then mu + sigma * sqrt(tau) * eps."""
        log_pi, mu, log_sigma = out["log_pi"][:, -1], out["mu"][:, -1], out["log_sigma"][:, -1]  # (B, Z, M)
        weights = F.softmax(log_pi / tau, dim=-1)
        B, Z, M = weights.shape
        component = torch.multinomial(weights.reshape(B * Z, M), 1, generator=generator).reshape(B, Z, 1)
        chosen_mu = mu.gather(-1, component).squeeze(-1)  # (B, Z)
        chosen_sigma = log_sigma.gather(-1, component).squeeze(-1).exp()
        eps = torch.randn(chosen_mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return chosen_mu + chosen_sigma * math.sqrt(tau) * eps

    @staticmethod
    def expected(out: dict[str, torch.Tensor]) -> torch.Tensor:
        """The mixture's mean next z at the last step, sum over components of pi * mu: (B, Z)."""
        return (out["log_pi"][:, -1].exp() * out["mu"][:, -1]).sum(-1)

    @staticmethod
    def mode(out: dict[str, torch.Tensor]) -> torch.Tensor:
        """The most likely next z at every step: the mean of each dimension's heaviest component, (B, L, Z)."""
        best = out["log_pi"].argmax(-1, keepdim=True)  # (B, L, Z, 1)
        return out["mu"].gather(-1, best).squeeze(-1)


class CategoricalHead(nn.Linear):
    """Next code as N categoricals: h (B, L, H) -> logits (B, L, N, K)."""

    dims = 2  # codes of shape (N, K)

    def __init__(self, cfg: MDNRNNConfig, code_shape: tuple[int, ...]):
        self.num_vars, self.num_classes = code_shape
        super().__init__(cfg.hidden_size, self.num_vars * self.num_classes)
        self.cfg = cfg

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        B, L, _ = h.shape
        return {"logits": super().forward(h).reshape(B, L, self.num_vars, self.num_classes)}

    @staticmethod
    def nll(out: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy per step, averaged over the N variables: target classes (B, L, N) -> (B, L)."""
        logits = out["logits"].float()
        B, L, N, K = logits.shape
        per_step = F.cross_entropy(logits.reshape(-1, K), target.reshape(-1).long(), reduction="none")
        return per_step.reshape(B, L, N).mean(-1)

    @staticmethod
    def sample(out: dict[str, torch.Tensor], tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """A one-hot code (B, N, K) from the last step, classes drawn from softmax(logits / tau)."""
        logits = out["logits"][:, -1]  # (B, N, K)
        B, N, K = logits.shape
        probs = F.softmax(logits / tau, dim=-1).reshape(B * N, K)
        classes = torch.multinomial(probs, 1, generator=generator).reshape(B, N)
        return F.one_hot(classes, K).to(logits.dtype)

    @staticmethod
    def expected(out: dict[str, torch.Tensor]) -> torch.Tensor:
        """The next code's expected value at the last step, its class probabilities softmax(logits): (B, N, K)."""
        return F.softmax(out["logits"][:, -1], dim=-1)

    @staticmethod
    def mode(out: dict[str, torch.Tensor]) -> torch.Tensor:
        """The most likely next code at every step, one-hot (B, L, N, K)."""
        logits = out["logits"]
        return F.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)


HEADS = {"vae": MixtureHead, "gumbel": CategoricalHead}  # by the kind of V whose codes M models


DEFAULT_CODE_SHAPE = {"vae": (32,), "gumbel": (32, 32)}  # the shipped Vs' codes: Z = 32, N x K = 32 x 32


def check_code_shape(latent: str, code_shape: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """``code_shape`` as a tuple, once it fits an M of ``latent`` ((Z,) for ``vae``, (N, K) for ``gumbel``)."""
    if latent not in HEADS:
        raise ValueError(f"no M head for a V of kind {latent!r}: expected one of {sorted(HEADS)}")
    shape = tuple(int(n) for n in code_shape)
    if len(shape) != HEADS[latent].dims or min(shape) < 1 or (latent == "gumbel" and shape[1] < 2):
        raise ValueError(f"an M of {latent} codes reads codes of shape {'(Z,)' if latent == 'vae' else '(N, K)'} "
                         f"with sizes of 1 or more (K of 2 or more), not {shape}")
    return shape


def code_shape_of(config: dict, section: dict) -> tuple[int, ...]:
    """The code shape an M checkpoint was built for: ``config["code_shape"]``, or in files written before it was
    recorded there, the sizes its model ``section`` held (``z_size``, or ``num_vars`` and ``num_classes``)."""
    latent = section.get("latent", "vae")
    if "code_shape" in config:
        return check_code_shape(latent, config["code_shape"])
    legacy = ("z_size",) if latent == "vae" else ("num_vars", "num_classes")
    return check_code_shape(latent, [section.get(k, n) for k, n in zip(legacy, DEFAULT_CODE_SHAPE[latent])])


TRAINING_ONLY = ("dropout", "reward_overestimate")  # MDNRNNConfig fields a fine-tune may change
TRANSITION_HIDDEN = 64  # units of the transition reward head


class MDNRNN(nn.Module):
    """One ``nn.LSTM`` that serves whole-sequence training and step-by-step acting; the head is chosen once."""

    def __init__(self, cfg: MDNRNNConfig, code_shape: tuple[int, ...] | None = None):
        """``code_shape``: the shape of one code of V's, (Z,) or (N, K) (default: the shipped Vs',
        ``DEFAULT_CODE_SHAPE``); read from the latents M learns from, and recorded in its checkpoints."""
        super().__init__()
        if cfg.latent not in HEADS:
            raise ValueError(f"MDNRNNConfig.latent={cfg.latent!r}: expected one of {sorted(HEADS)}")
        self.cfg = cfg
        self.code_shape = check_code_shape(cfg.latent, code_shape or DEFAULT_CODE_SHAPE[cfg.latent])
        self.input_size = math.prod(self.code_shape)
        self.lstm = nn.LSTM(self.input_size + cfg.action_size, cfg.hidden_size, batch_first=True)
        self.head = HEADS[cfg.latent](cfg, self.code_shape)
        self.reward = None
        if cfg.reward_head:
            self.reward = nn.Linear(cfg.hidden_size, 1) if cfg.reward_input == "h" else nn.Sequential(
                nn.Linear(2 * self.input_size, TRANSITION_HIDDEN), nn.Tanh(), nn.Linear(TRANSITION_HIDDEN, 1))
        self.done = nn.Linear(cfg.hidden_size, 1) if cfg.done_head else None

    def forward(self, latent: torch.Tensor, action: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None,
                masks: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Run the LSTM over a sequence (L may be 1 when acting).

        Args:
            latent: z (B, L, Z), or a code (B, L, N, K) for ``latent="gumbel"``.
            action: (B, L, 3), the action taken after seeing ``latent``.
            state: the LSTM's (h, c), each (1, B, H), or None to start from zeros.
            masks: dropout masks (latent (B, Z | N * K), h (B, H)) from ``dropout_masks``, or None.

        Returns:
            (outputs dict as in the module docstring plus ``h`` (B, L, H), new state).
        """
        B, L = action.shape[:2]
        x = latent.reshape(B, L, self.input_size)  # (B, L, Z) or (B, L, N * K)
        if masks is None:
            h, state = self.lstm(torch.cat([x, action], dim=-1), state)  # h: (B, L, H)
        else:
            h, state = self._masked_lstm(x * masks[0][:, None], action, state, masks[1])
        out = {"h": h, **self.head(h)}
        if self.reward is not None and self.cfg.reward_input == "h":
            out["reward"] = self.reward(h).squeeze(-1)  # (B, L)
        if self.done is not None:
            out["done_logit"] = self.done(h).squeeze(-1)  # (B, L)
        return out, state

    def advance(self, latent: torch.Tensor, action: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of the LSTM alone, as an acting agent needs it: latent (B, Z) or (B, N, K), action (B, 3),
        state (h, c) each (1, B, H) -> the new state. The same numbers as ``forward``'s state, without the heads."""
        B = action.shape[0]
        x = torch.cat([latent.reshape(B, 1, self.input_size), action[:, None]], dim=-1)  # (B, 1, D + 3)
        return self.lstm(x, state)[1]

    def transition_reward(self, latent: torch.Tensor, next_latent: torch.Tensor) -> torch.Tensor:
        """The transition head's reward for latent -> next_latent: (B, L, ...) twice -> (B, L); (B, ...) -> (B,)."""
        lead = latent.shape[: latent.dim() - (2 if self.cfg.latent == "gumbel" else 1)]  # (B, L) or (B,)
        x = torch.cat([latent.reshape(*lead, self.input_size), next_latent.reshape(*lead, self.input_size)], -1)
        return self.reward(x.float()).squeeze(-1)

    def targets_as_inputs(self, target: torch.Tensor) -> torch.Tensor:
        """Training targets as the latents M reads: z (B, L, Z) as is, class indices (B, L, N) one-hot (B, L, N, K)."""
        return F.one_hot(target.long(), self.code_shape[-1]).float() if self.cfg.latent == "gumbel" else target

    def _masked_lstm(self, x: torch.Tensor, action: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None,
                     mask_h: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``nn.LSTM``'s recurrence (gates i, f, g, o) with h_{t-1} masked: x (B, L, D), mask_h (B, H) -> h (B, L, H)."""
        lstm = self.lstm
        B, L, _ = x.shape
        # the input's share of every gate at once: (B, L, 4H)
        gates_in = torch.cat([x, action], dim=-1) @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + lstm.bias_hh_l0
        if state is None:
            h = c = torch.zeros(B, self.cfg.hidden_size, device=x.device, dtype=x.dtype)
        else:
            h, c = state[0][0], state[1][0]
        hs = []
        for t in range(L):
            i, f, g, o = (gates_in[:, t] + (h * mask_h) @ lstm.weight_hh_l0.T).chunk(4, dim=-1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            hs.append(h)
        return torch.stack(hs, dim=1), (h[None], c[None])

    def dropout_masks(self, batch_size: int, p: float, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Variational dropout masks, kept units scaled by 1 / (1 - p): (latent (B, Z | N * K), h (B, H)), or None
        for p = 0."""
        if not p:
            return None
        device = device or next(self.parameters()).device
        keep = 1.0 - p

        def mask(size: int) -> torch.Tensor:
            return torch.bernoulli(torch.full((batch_size, size), keep, device=device), generator=generator) / keep

        return mask(self.input_size), mask(self.cfg.hidden_size)

    def sample_next(self, out: dict[str, torch.Tensor], tau: float = 1.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample the next latent from the last step's outputs with temperature tau (as in the paper):
        z (B, Z) or a one-hot code (B, N, K)."""
        return self.head.sample(out, max(float(tau), 1e-6), generator)


def mixture_log_prob(z: torch.Tensor, log_pi: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """log p(z) under a per-dimension Gaussian mixture, in log space.

    Args:
        z: (..., Z) targets.
        log_pi: (..., Z, M) normalised log weights (log-softmax over M).
        mu, log_sigma: (..., Z, M).

    Returns:
        (..., Z) log densities.
    """
    z = z.unsqueeze(-1)  # (..., Z, 1)
    log_normal = -0.5 * ((z - mu) * torch.exp(-log_sigma)).pow(2) - log_sigma - LOG_SQRT_2PI  # (..., Z, M)
    return torch.logsumexp(log_pi + log_normal, dim=-1)


def mdnrnn_loss(model: MDNRNN, out: dict[str, torch.Tensor], target: torch.Tensor,
                reward: torch.Tensor | None = None,
                done: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                reward_weight: float = 1.0, done_weight: float = 1.0,
                reward_overestimate: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Negative log-likelihood of the next latent plus the reward and done losses, averaged over valid steps.

    Args:
        model: the MDN-RNN whose head scores the next latent.
        out: ``MDNRNN.forward`` outputs.
        target: next z (B, L, Z), or next class indices (B, L, N) for the discrete head.
        reward: (B, L) rewards; used if the model has a reward head.
        done: (B, L) bool or float episode ends; used if the model has a done head.
        mask: (B, L) 1 for real steps, 0 for padding.
        reward_overestimate: weight of the squared reward error where the prediction exceeds the reward.

    Returns:
        the scalar loss and its parts: ``latent_nll`` (per dimension or variable), ``reward_mse``, ``done_bce``.
    """
    per_step = model.head.nll(out, target)  # (B, L)
    mask = torch.ones_like(per_step) if mask is None else mask.float()
    count = mask.sum().clamp_min(1.0)
    latent_nll = (per_step * mask).sum() / count
    loss, parts = latent_nll, {"latent_nll": latent_nll.detach()}
    if "reward" in out and reward is not None:
        error = out["reward"].float() - reward.float()
        squared = error.pow(2) * mask
        reward_mse = squared.sum() / count
        weighted = torch.where(error > 0, reward_overestimate * squared, squared).sum() / count
        loss = loss + reward_weight * weighted
        parts["reward_mse"] = reward_mse.detach()
    if "done_logit" in out and done is not None:
        done_bce = (F.binary_cross_entropy_with_logits(out["done_logit"].float(), done.float(), reduction="none")
                    * mask).sum() / count
        loss = loss + done_weight * done_bce
        parts["done_bce"] = done_bce.detach()
    return loss, parts


def load(path, device: torch.device | str = "cpu") -> MDNRNN:
    """An MDN-RNN from a run (``last.pt``) or a release, eval mode."""
    return mdnrnn_from_payload(checkpoint.load(path, kind="mdnrnn"), path).to(device).eval()


def mdnrnn_from_payload(payload: dict, where) -> MDNRNN:
    """The MDN-RNN a checkpoint payload holds (``where`` names it in errors), on the CPU."""
    section = checkpoint.model_section(payload, where, "mdnrnn")
    model = checkpoint.rebuild(where, lambda: MDNRNN(from_dict({"mdnrnn": section}).mdnrnn,
                                                     code_shape_of(payload["config"], section)))
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as e:
        raise checkpoint.CheckpointError(f"{where}: weights do not fit an MDN-RNN built from its config: {e}") from e
    return model.eval()

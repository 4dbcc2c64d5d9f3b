"""M: an LSTM over [z, action] that predicts the next latent, the reward and the end of the episode.

Shapes (B batch, L sequence length, Z latent size, M mixtures, H hidden units, N x K codes)::

    inputs   z (B, L, Z) or code (B, L, N, K) flattened to (B, L, N * K); action (B, L, 3)
    lstm     h (B, L, H)
    heads    continuous: log_pi, mu, log_sigma (B, L, Z, M)   next z as a mixture per dimension
             discrete:   logits (B, L, N, K)                   next code as N categoricals
             reward (B, L), done_logit (B, L)                  when enabled

With Z = 32, M = 5, H = 256 and both extra heads the continuous model has 423,906 parameters.
The mixture loss is computed in log space (log-softmax weights, logsumexp, clamped log sigma),
so it stays finite for extreme inputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import MDNRNNConfig

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class MDNRNN(nn.Module):
    """One ``nn.LSTM`` that serves whole-sequence training and step-by-step acting."""

    def __init__(self, cfg: MDNRNNConfig):
        super().__init__()
        if cfg.latent not in ("vae", "gumbel"):
            raise ValueError(f"MDNRNNConfig.latent={cfg.latent!r}: expected 'vae' or 'gumbel'")
        self.cfg = cfg
        self.input_size = cfg.z_size if cfg.latent == "vae" else cfg.num_vars * cfg.num_classes
        self.lstm = nn.LSTM(self.input_size + cfg.action_size, cfg.hidden_size, batch_first=True)
        if cfg.latent == "vae":
            self.head = nn.Linear(cfg.hidden_size, 3 * cfg.z_size * cfg.num_mixtures)  # log pi, mu, log sigma
        else:
            self.head = nn.Linear(cfg.hidden_size, cfg.num_vars * cfg.num_classes)  # next-code logits
        self.reward = nn.Linear(cfg.hidden_size, 1) if cfg.reward_head else None
        self.done = nn.Linear(cfg.hidden_size, 1) if cfg.done_head else None

    def forward(self, latent: torch.Tensor, action: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Run the LSTM over a sequence (L may be 1 when acting).

        Args:
            latent: z (B, L, Z), or a code (B, L, N, K) for ``latent="gumbel"``.
            action: (B, L, 3), the action taken after seeing ``latent``.
            state: the LSTM's (h, c), each (1, B, H), or None to start from zeros.

        Returns:
            (outputs dict as in the module docstring plus ``h`` (B, L, H), new state).
        """
        B, L = action.shape[:2]
        x = latent.reshape(B, L, self.input_size)  # (B, L, Z) or (B, L, N * K)
        h, state = self.lstm(torch.cat([x, action], dim=-1), state)  # h: (B, L, H)
        out = {"h": h}
        cfg = self.cfg
        if cfg.latent == "vae":
            params = self.head(h).reshape(B, L, 3, cfg.z_size, cfg.num_mixtures)  # (B, L, 3, Z, M)
            out["log_pi"] = F.log_softmax(params[:, :, 0], dim=-1)  # (B, L, Z, M)
            out["mu"] = params[:, :, 1]
            out["log_sigma"] = params[:, :, 2].clamp(cfg.log_sigma_min, cfg.log_sigma_max)
        else:
            out["logits"] = self.head(h).reshape(B, L, cfg.num_vars, cfg.num_classes)
        if self.reward is not None:
            out["reward"] = self.reward(h).squeeze(-1)  # (B, L)
        if self.done is not None:
            out["done_logit"] = self.done(h).squeeze(-1)  # (B, L)
        return out, state


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


def mdnrnn_loss(out: dict[str, torch.Tensor], target: torch.Tensor, reward: torch.Tensor | None = None,
                done: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                reward_weight: float = 1.0, done_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Negative log-likelihood of the next latent plus the reward and done losses, averaged over valid steps.

    Args:
        out: ``MDNRNN.forward`` outputs.
        target: next z (B, L, Z), or next class indices (B, L, N) for the discrete head.
        reward: (B, L) rewards; used if the model has a reward head.
        done: (B, L) bool or float episode ends; used if the model has a done head.
        mask: (B, L) 1 for real steps, 0 for padding.

    Returns:
        the scalar loss and its parts: ``latent_nll`` (per dimension or variable), ``reward_mse``, ``done_bce``.
    """
    if "log_pi" in out:
        per_step = -mixture_log_prob(target.float(), out["log_pi"].float(), out["mu"].float(),
                                     out["log_sigma"].float()).mean(-1)  # (B, L)
    else:
        logits = out["logits"].float()
        B, L, N, K = logits.shape
        per_step = F.cross_entropy(logits.reshape(-1, K), target.reshape(-1).long(), reduction="none")
        per_step = per_step.reshape(B, L, N).mean(-1)  # (B, L)
    mask = torch.ones_like(per_step) if mask is None else mask.float()
    count = mask.sum().clamp_min(1.0)
    latent_nll = (per_step * mask).sum() / count
    loss, parts = latent_nll, {"latent_nll": latent_nll.detach()}
    if "reward" in out and reward is not None:
        reward_mse = ((out["reward"].float() - reward.float()).pow(2) * mask).sum() / count
        loss = loss + reward_weight * reward_mse
        parts["reward_mse"] = reward_mse.detach()
    if "done_logit" in out and done is not None:
        done_bce = (F.binary_cross_entropy_with_logits(out["done_logit"].float(), done.float(), reduction="none")
                    * mask).sum() / count
        loss = loss + done_weight * done_bce
        parts["done_bce"] = done_bce.detach()
    return loss, parts


def sample_next(out: dict[str, torch.Tensor], tau: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample the next latent from the last step's outputs, with temperature tau (as in the paper).

    Continuous: mixture weights softmax(log_pi / tau), then z = mu + sigma * sqrt(tau) * eps, per dimension.
    Discrete: classes from softmax(logits / tau), returned one-hot.

    Args:
        out: ``MDNRNN.forward`` outputs for (B, 1) steps (only the last step is used).

    Returns:
        z (B, Z), or a one-hot code (B, N, K).
    """
    tau = max(float(tau), 1e-6)
    if "log_pi" in out:
        log_pi, mu, log_sigma = out["log_pi"][:, -1], out["mu"][:, -1], out["log_sigma"][:, -1]  # (B, Z, M)
        weights = F.softmax(log_pi / tau, dim=-1)
        B, Z, M = weights.shape
        component = torch.multinomial(weights.reshape(B * Z, M), 1, generator=generator).reshape(B, Z, 1)
        chosen_mu = mu.gather(-1, component).squeeze(-1)  # (B, Z)
        chosen_sigma = log_sigma.gather(-1, component).squeeze(-1).exp()
        eps = torch.randn(chosen_mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return chosen_mu + chosen_sigma * math.sqrt(tau) * eps
    logits = out["logits"][:, -1]  # (B, N, K)
    B, N, K = logits.shape
    probs = F.softmax(logits / tau, dim=-1).reshape(B * N, K)
    classes = torch.multinomial(probs, 1, generator=generator).reshape(B, N)
    return F.one_hot(classes, K).to(logits.dtype)

"""M: the MDN-RNN's shapes, its log-space mixture loss against torch.distributions, and sampling."""

import math

import pytest
import torch
from torch.distributions import Categorical, MixtureSameFamily, Normal

from worldmodels.core.config import MDNRNNConfig
from worldmodels.models.mdnrnn import MDNRNN, CategoricalHead, MixtureHead, mdnrnn_loss, mixture_log_prob


def test_parameter_count_and_shapes():
    model = MDNRNN(MDNRNNConfig())
    assert sum(p.numel() for p in model.parameters()) == 423_906
    out, (h, c) = model(torch.randn(4, 7, 32), torch.rand(4, 7, 3))
    assert out["log_pi"].shape == out["mu"].shape == out["log_sigma"].shape == (4, 7, 32, 5)
    assert out["reward"].shape == out["done_logit"].shape == (4, 7) and out["h"].shape == (4, 7, 256)
    assert h.shape == c.shape == (1, 4, 256)
    assert torch.allclose(out["log_pi"].exp().sum(-1), torch.ones(4, 7, 32), atol=1e-5)


def test_heads_can_be_switched_off_and_discrete_head():
    model = MDNRNN(MDNRNNConfig(latent="gumbel", reward_head=False, done_head=False), (4, 6))
    out, _ = model(torch.rand(2, 3, 4, 6), torch.rand(2, 3, 3))
    assert out["logits"].shape == (2, 3, 4, 6) and "reward" not in out and "done_logit" not in out


def test_stepping_one_at_a_time_equals_the_whole_sequence():
    torch.manual_seed(0)
    model = MDNRNN(MDNRNNConfig())
    z, a = torch.randn(2, 6, 32), torch.rand(2, 6, 3)
    full, _ = model(z, a)
    state, mus = None, []
    for t in range(6):
        out, state = model(z[:, t : t + 1], a[:, t : t + 1], state)
        mus.append(out["mu"])
    assert torch.allclose(torch.cat(mus, dim=1), full["mu"], atol=1e-5)


@pytest.mark.parametrize("cfg", [MDNRNNConfig(), MDNRNNConfig(latent="gumbel")])
def test_advance_is_forwards_state_without_the_heads(cfg):
    """What an acting agent calls each step: the same new (h, c) as ``forward`` with L = 1, bit for bit."""
    torch.manual_seed(0)
    model = MDNRNN(cfg, (32,) if cfg.latent == "vae" else (4, 6))
    latent = torch.randn(3, *((32,) if cfg.latent == "vae" else (4, 6)))
    a, state = torch.rand(3, 3), (torch.randn(1, 3, cfg.hidden_size), torch.randn(1, 3, cfg.hidden_size))
    _, expected = model(latent[:, None], a[:, None], state)
    assert all(torch.equal(x, y) for x, y in zip(model.advance(latent, a, state), expected, strict=True))


def test_masks_of_ones_give_the_plain_lstm_and_masks_are_variational():
    torch.manual_seed(0)
    model = MDNRNN(MDNRNNConfig(dropout=0.1))
    z, a = torch.randn(3, 7, 32), torch.rand(3, 7, 3)
    ones = (torch.ones(3, 32), torch.ones(3, 256))
    plain, plain_state = model(z, a)
    masked, _ = model(z[:, :4], a[:, :4], masks=ones)  # the step loop, resumed from its own state
    rest, masked_state = model(z[:, 4:], a[:, 4:], _, masks=ones)
    assert torch.allclose(torch.cat([masked["h"], rest["h"]], 1), plain["h"], atol=1e-5)
    assert all(torch.allclose(x, y, atol=1e-5) for x, y in zip(masked_state, plain_state, strict=True))
    assert model.dropout_masks(4, 0.0) is None
    mask_z, mask_h = model.dropout_masks(4, 0.5, torch.Generator().manual_seed(0))
    assert mask_z.shape == (4, 32) and mask_h.shape == (4, 256)
    assert set(mask_h.unique().tolist()) == {0.0, 2.0}  # kept units scaled by 1 / (1 - p)
    dropped, _ = model(z, a, masks=(mask_z[:3], mask_h[:3]))
    assert not torch.allclose(dropped["h"], plain["h"], atol=1e-3)
    with pytest.raises(Exception, match="dropout"):
        MDNRNNConfig(dropout=1.0)


def test_mixture_log_prob_matches_torch_distributions():
    torch.manual_seed(1)
    z = torch.randn(3, 5, 32) * 2
    log_pi = torch.log_softmax(torch.randn(3, 5, 32, 5), -1)
    mu, log_sigma = torch.randn(3, 5, 32, 5), torch.randn(3, 5, 32, 5).clamp(-3, 2)
    reference = MixtureSameFamily(Categorical(logits=log_pi), Normal(mu, log_sigma.exp())).log_prob(z)
    assert torch.allclose(mixture_log_prob(z, log_pi, mu, log_sigma), reference, atol=1e-4, rtol=1e-5)


def test_the_asymmetric_reward_loss_charges_overestimates_more():
    model = MDNRNN(MDNRNNConfig(done_head=False))
    z, a = torch.randn(1, 2, 32), torch.rand(1, 2, 3)
    out, _ = model(z, a)
    out = {**out, "reward": torch.tensor([[1.0, -1.0]])}  # step 0 overestimates by 1, step 1 underestimates by 1
    target = torch.zeros(1, 2, 32)

    def loss(over: float) -> float:
        value, parts = mdnrnn_loss(model, out, target, reward=torch.zeros(1, 2), reward_overestimate=over)
        assert parts["reward_mse"].item() == pytest.approx(1.0)  # the reported MSE stays the plain one
        return (value - parts["latent_nll"]).item()

    assert loss(1.0) == pytest.approx(1.0) and loss(5.0) == pytest.approx((5.0 + 1.0) / 2)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3, 1e6])
def test_loss_and_gradients_stay_finite_for_extreme_inputs(scale):
    torch.manual_seed(2)
    model = MDNRNN(MDNRNNConfig())
    with torch.no_grad():
        model.head.weight.mul_(scale)  # extreme log sigma, mu and mixture logits
    z, a = torch.randn(2, 4, 32) * scale, torch.rand(2, 4, 3)
    out, _ = model(z, a)
    loss, parts = mdnrnn_loss(model, out, torch.randn(2, 4, 32) * scale, reward=torch.randn(2, 4) * scale,
                              done=torch.zeros(2, 4))
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(v) for v in parts.values())
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_discrete_loss_is_cross_entropy_and_mask_drops_padding():
    model = MDNRNN(MDNRNNConfig(latent="gumbel", hidden_size=8), (4, 6))
    logits = torch.randn(2, 3, 4, 6)
    target = torch.randint(6, (2, 3, 4))
    loss, _ = mdnrnn_loss(model, {"logits": logits}, target)
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 6), target.reshape(-1))
    assert torch.allclose(loss, expected)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    masked, _ = mdnrnn_loss(model, {"logits": logits}, target, mask=mask)
    keep = mask.bool()
    expected = torch.nn.functional.cross_entropy(logits[keep].reshape(-1, 6), target[keep].reshape(-1))
    assert torch.allclose(masked, expected)


def test_sampling_with_temperature():
    B, Z, M = 4000, 2, 3
    log_pi = torch.log(torch.tensor([0.6, 0.3, 0.1])).expand(B, 1, Z, M)
    mu = torch.tensor([-5.0, 0.0, 5.0]).expand(B, 1, Z, M)
    log_sigma = torch.full((B, 1, Z, M), math.log(0.1))
    g = torch.Generator().manual_seed(0)
    z = MixtureHead.sample({"log_pi": log_pi, "mu": mu, "log_sigma": log_sigma}, tau=1.0, generator=g)
    assert z.shape == (B, Z)
    share = torch.stack([(z - m).abs() < 1 for m in (-5.0, 0.0, 5.0)]).float().mean((1, 2))
    assert torch.allclose(share, torch.tensor([0.6, 0.3, 0.1]), atol=0.03)
    cold = MixtureHead.sample({"log_pi": log_pi, "mu": mu, "log_sigma": log_sigma}, tau=0.01, generator=g)
    assert (cold + 5).abs().max() < 0.1  # tau -> 0: the most likely component's mean
    code = CategoricalHead.sample({"logits": torch.randn(3, 1, 4, 6)}, tau=0.5, generator=g)
    assert code.shape == (3, 4, 6) and torch.all(code.sum(-1) == 1)


def test_the_head_is_chosen_once_from_the_kind_of_v():
    assert isinstance(MDNRNN(MDNRNNConfig(hidden_size=8)).head, MixtureHead)
    discrete = MDNRNN(MDNRNNConfig(latent="gumbel", hidden_size=8), (4, 6))
    assert isinstance(discrete.head, CategoricalHead) and discrete.input_size == 24
    out, _ = discrete(torch.zeros(2, 5, 4, 6), torch.zeros(2, 5, 3))
    assert discrete.head.mode(out).shape == (2, 5, 4, 6) and discrete.sample_next(out, 1.0).shape == (2, 4, 6)


@pytest.mark.parametrize("latent", ["vae", "gumbel"])
def test_a_transition_reward_head_reads_only_the_step_between_two_latents(latent):
    torch.manual_seed(0)
    cfg = MDNRNNConfig(latent=latent, reward_input="transition")
    model = MDNRNN(cfg, (32,) if latent == "vae" else (4, 3))
    shape = (2, 5, 32) if latent == "vae" else (2, 5, 4, 3)
    z, a = torch.randn(shape), torch.rand(2, 5, 3)
    out, _ = model(z, a)
    assert "reward" not in out and "done_logit" in out  # it needs the next latent, which forward does not have
    after = torch.randn(shape)
    reward = model.transition_reward(z, after)
    assert reward.shape == (2, 5)
    assert torch.allclose(model.transition_reward(z[:, 2], after[:, 2]), reward[:, 2])  # one step = the sequence's
    out2, _ = model(z, torch.rand(2, 5, 3))  # the action changes h, never this reward
    assert torch.equal(model.transition_reward(z, after), reward) and not torch.allclose(out2["h"], out["h"])


def test_files_written_before_the_code_shape_was_recorded_load_with_their_sizes(tmp_path):
    """Shipped Ms (pinned by SHA-256, never rewritten) hold the code sizes in their model config; newer files
    record the shape beside it, and the config itself holds only choices."""
    from worldmodels.core import checkpoint
    from worldmodels.core.config import from_dict, to_dict
    from worldmodels.models.mdnrnn import load

    model = MDNRNN(MDNRNNConfig(latent="gumbel", hidden_size=8), (4, 6))
    old = {**to_dict(model.cfg), "z_size": 32, "num_vars": 4, "num_classes": 6}
    checkpoint.save(tmp_path / "old.pt", {"kind": "mdnrnn", "model": model.state_dict(), "config": {"mdnrnn": old}})
    assert load(tmp_path / "old.pt").code_shape == (4, 6)
    assert "num_vars" not in to_dict(from_dict({"mdnrnn": old}).mdnrnn)
    checkpoint.save(tmp_path / "new.pt", {"kind": "mdnrnn", "model": model.state_dict(),
                                          "config": {"model": to_dict(model.cfg), "training": {}, "code_shape": [4, 6]}})
    assert load(tmp_path / "new.pt").code_shape == (4, 6)
    with pytest.raises(ValueError, match=r"shape \(N, K\)"):
        MDNRNN(MDNRNNConfig(latent="gumbel"), (24,))

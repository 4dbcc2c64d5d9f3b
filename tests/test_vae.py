"""The two V models and their losses, without data."""

import math

import pytest
import torch
from torch.distributions import Categorical, Normal, kl_divergence

from worldmodels.core.config import GumbelConfig, VAEConfig
from worldmodels.models.gumbel_vae import (
    GumbelVAE,
    categorical_kl_to_uniform,
    gumbel_loss,
    gumbel_softmax,
    hard_code,
    kl_weight,
    mixed_probabilities,
    straight_through,
    temperature,
)
from worldmodels.models.vae import ConvEncoder, ConvVAE, gaussian_kl, vae_loss


def test_conv_vae_has_the_papers_parameter_count_and_shapes():
    model = ConvVAE(VAEConfig())
    assert sum(p.numel() for p in model.parameters()) == 4_348_547
    x = torch.rand(5, 3, 64, 64)
    reconstruction, mu, logvar = model(x)
    assert reconstruction.shape == x.shape and mu.shape == logvar.shape == (5, 32)
    assert 0 <= reconstruction.min() and reconstruction.max() <= 1


def test_influence_finds_the_dimensions_the_decoder_reads():
    import numpy as np

    torch.manual_seed(0)
    model = ConvVAE(VAEConfig())
    with torch.no_grad():
        model.decoder.fc.weight[:, 5:] = 0  # the decoder reads only z[0..4]
    frames = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    influence = model.influence(frames)
    assert influence.shape == (32,) and (influence[:5] > 0).all() and (influence[5:] == 0).all()
    assert model.influence(frames, step=0.0).max() == 0


def test_encoder_rejects_wrong_frames():
    with pytest.raises(AssertionError, match=r"expected frames \(B, 3, 64, 64\), got \(2, 3, 96, 96\)"):
        ConvEncoder()(torch.rand(2, 3, 96, 96))
    with pytest.raises(ValueError, match="64x64"):
        ConvVAE(VAEConfig(frame_size=96))


def test_both_vaes_share_the_conv_stack_class():
    vae, gumbel = ConvVAE(VAEConfig()), GumbelVAE(GumbelConfig())
    assert type(vae.encoder) is type(gumbel.encoder) and type(vae.decoder) is type(gumbel.decoder)
    logits = gumbel.encode(torch.rand(3, 3, 64, 64))
    assert logits.shape == (3, 32, 32) and gumbel.decode(hard_code(logits)).shape == (3, 3, 64, 64)


def test_gaussian_kl_matches_torch_distributions():
    mu, logvar = torch.randn(4, 32) * 3, torch.randn(4, 32) * 2
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(gaussian_kl(mu, logvar), expected, rtol=1e-4, atol=1e-4)


def test_vae_loss_applies_the_kl_tolerance():
    frames = torch.rand(2, 3, 64, 64)
    mu, logvar = torch.zeros(2, 32), torch.zeros(2, 32)  # posterior == prior: KL 0
    loss, parts = vae_loss(frames, frames, mu, logvar, kl_tolerance=0.5)
    assert parts["kl"] == 0 and loss.item() == pytest.approx(0.5 * 32)
    mu = torch.full((2, 32), 3.0)  # KL = 32 * 4.5 = 144 > 16: no clamp
    loss, parts = vae_loss(frames, frames, mu, logvar, kl_tolerance=0.5)
    assert loss.item() == pytest.approx(144.0) and parts["reconstruction"] == 0


def test_categorical_kl_matches_torch_distributions_and_is_zero_for_uniform():
    logits = torch.randn(3, 4, 5) * 4
    uniform = Categorical(logits=torch.zeros(5))
    expected = kl_divergence(Categorical(logits=logits), uniform).sum(1)
    assert torch.allclose(categorical_kl_to_uniform(logits), expected, atol=1e-5)
    assert categorical_kl_to_uniform(torch.zeros(2, 4, 5)).abs().max() < 1e-6
    assert categorical_kl_to_uniform(torch.tensor([[[1e4, 0, 0, 0, 0]]])).item() == pytest.approx(math.log(5))


def test_gumbel_samples_relaxed_and_straight_through():
    logits = torch.randn(6, 4, 8, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    soft = gumbel_softmax(logits, tau=0.7, generator=g)
    assert torch.allclose(soft.sum(-1), torch.ones(6, 4)) and (soft > 0).all()
    hard = gumbel_softmax(logits, tau=0.7, hard=True, generator=g)
    assert set(hard.detach().unique().tolist()) <= {0.0, 1.0} and torch.all(hard.sum(-1) == 1)
    (hard * torch.arange(8.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0  # gradients flow through the relaxation


def test_gumbel_sampling_follows_the_logits():
    logits = torch.log(torch.tensor([[[0.7, 0.2, 0.1]]])).expand(20000, 1, 3)
    g = torch.Generator().manual_seed(1)
    counts = gumbel_softmax(logits, tau=0.1, hard=True, generator=g).sum((0, 1)) / 20000
    assert torch.allclose(counts, torch.tensor([0.7, 0.2, 0.1]), atol=0.02)


def test_schedules():
    cfg = GumbelConfig(tau_start=1.0, tau_min=0.5, tau_decay=1e-3, kl_weight=2.0, kl_warmup_steps=100)
    taus = [temperature(s, cfg) for s in (0, 100, 1000, 10_000)]
    assert taus[0] == 1.0 and taus == sorted(taus, reverse=True) and taus[-1] == 0.5
    assert [kl_weight(s, cfg) for s in (0, 50, 100, 500)] == [0.0, 1.0, 2.0, 2.0]


def test_gumbel_loss_parts():
    frames = torch.rand(2, 3, 64, 64)
    logits = torch.zeros(2, 32, 32)
    loss, parts = gumbel_loss(frames, frames, logits, weight=1.0, kl_tolerance=0.5)
    assert parts["kl"].abs() < 1e-5 and loss.item() == pytest.approx(16.0)


def test_straight_through_samples_one_hot_codes_of_the_unimix_probabilities():
    logits = torch.log(torch.tensor([[[0.7, 0.2, 0.1, 0.0]]])).expand(40000, 1, 4).clone().requires_grad_()
    g = torch.Generator().manual_seed(2)
    code = straight_through(logits, tau=1.0, unimix=0.04, generator=g)
    assert set(code.detach().unique().tolist()) <= {0.0, 1.0} and torch.all(code.sum(-1) == 1)
    counts = code.detach().sum((0, 1)) / 40000  # p = 0.96 * softmax + 0.01: even the impossible class is drawn
    assert torch.allclose(counts, torch.tensor([0.682, 0.202, 0.106, 0.01]), atol=0.01)
    (code * torch.arange(4.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0  # the probabilities' gradient


def test_a_sharp_temperature_makes_the_straight_through_sample_the_argmax():
    logits = torch.randn(50, 8, 16)
    g = torch.Generator().manual_seed(0)
    agree = [(straight_through(logits, tau, generator=g).argmax(-1) == logits.argmax(-1)).float().mean() for tau in
             (1.0, 0.1, 0.01)]
    assert agree[0] < 0.6 and agree[2] > 0.98 and agree == sorted(agree)


def test_the_kl_of_unimix_probabilities_matches_torch_distributions():
    logits = torch.randn(3, 4, 5) * 6
    probs = mixed_probabilities(logits, 0.01)
    assert probs.min() >= 0.01 / 5 and torch.allclose(probs.sum(-1), torch.ones(3, 4))
    expected = kl_divergence(Categorical(probs=probs), Categorical(logits=torch.zeros(5))).sum(1)
    assert torch.allclose(categorical_kl_to_uniform(logits, unimix=0.01), expected, atol=1e-5)
    assert categorical_kl_to_uniform(logits, 0.01).max() < categorical_kl_to_uniform(logits).max()


def test_the_straight_through_vae_trains_its_decoder_on_one_hot_codes():
    cfg = GumbelConfig(num_vars=4, num_classes=8, estimator="straight_through", unimix=0.01)
    model = GumbelVAE(cfg)
    _, logits, code = model(torch.rand(3, 3, 64, 64), tau=1.0, generator=torch.Generator().manual_seed(0))
    assert set(code.detach().unique().tolist()) <= {0.0, 1.0} and code.shape == (3, 4, 8)
    soft = model.controller_input({"logits": logits}, soft=True)
    assert torch.allclose(soft, mixed_probabilities(logits, 0.01))
    loss, parts = model.loss_step(torch.rand(2, 3, 64, 64), step=10_000)
    loss.backward()
    assert model.fc_logits.weight.grad.abs().sum() > 0 and parts["kl"] >= 0
    with pytest.raises(ValueError, match="--unimix"):
        GumbelConfig(unimix=0.9)
    with pytest.raises(ValueError, match="--estimator"):
        GumbelConfig(estimator="vq")

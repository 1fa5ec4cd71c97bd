"""Models: shapes, likelihood wiring, σ modes, residual blocks, config round trips."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D

from vaelib.models import MODELS, ModelConfig, VAE, build_model, count_parameters
from vaelib.runs import PRESETS, get_preset


@pytest.mark.parametrize("cfg", [
    ModelConfig(),
    ModelConfig(arch="conv"),
    ModelConfig(hidden=(256, 128), latent_dim=2, batch_norm=True, dropout=0.2),
    ModelConfig(hidden=(400, 400), residual=True, decoder_hidden=(400,)),
    ModelConfig(likelihood="gaussian", sigma="learned"),
    ModelConfig(likelihood="gaussian", sigma="per-pixel", arch="conv"),
], ids=["fc", "conv", "bn-dropout", "residual", "gauss-learned", "gauss-pixel-conv"])
def test_shapes_and_terms(cfg):
    torch.manual_seed(0)
    m = build_model(cfg)
    x = torch.rand(6, 1, 28, 28)
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (6, cfg.latent_dim)
    assert m.decode(mu).shape == (6, 1, 28, 28)
    t = m(x)
    for v in (t.loss, t.elbo, t.kl, t.reconstruction):
        assert v.shape == (6,) and torch.isfinite(v).all()
    assert torch.allclose(t.elbo, t.reconstruction - t.kl)
    t.loss.mean().backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)
    m.eval()
    assert m.sample(3).shape == (3, 1, 28, 28)
    r = m.reconstruct(x)
    assert r.shape == x.shape and r.min() >= 0 and r.max() <= 1


def test_bernoulli_forward_is_the_elbo_of_its_parts():
    torch.manual_seed(0)
    m = VAE(ModelConfig(hidden=(32,), latent_dim=3)).eval()
    x = torch.bernoulli(torch.rand(4, 1, 28, 28))
    torch.manual_seed(1)
    t = m(x)
    torch.manual_seed(1)
    mu, logvar = m.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    ref_px = D.Bernoulli(logits=m.decode(z)).log_prob(x).sum((1, 2, 3))
    ref_kl = D.kl_divergence(D.Normal(mu, torch.exp(0.5 * logvar)), D.Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(t.reconstruction, ref_px, atol=1e-3)
    assert torch.allclose(t.kl, ref_kl, atol=1e-4)


def test_gaussian_sigma_modes():
    fixed = VAE(ModelConfig(likelihood="gaussian", sigma="fixed", sigma_value=0.3))
    assert not any("log_sigma" in n for n, _ in fixed.named_parameters())
    assert math.isclose(fixed.log_sigma().item(), math.log(0.3), rel_tol=1e-6)
    learned = VAE(ModelConfig(likelihood="gaussian", sigma="learned"))
    assert learned.log_sigma_param.shape == () and learned.log_sigma_param.requires_grad
    pix = VAE(ModelConfig(likelihood="gaussian", sigma="per-pixel"))
    assert pix.log_sigma_param.shape == (1, 28, 28)
    with torch.no_grad():
        pix.log_sigma_param.fill_(-50.0)
    assert math.isclose(pix.log_sigma().min().item(), math.log(1e-3), rel_tol=1e-6)  # the floor


def test_gaussian_log_likelihood_matches_normal_density():
    m = VAE(ModelConfig(likelihood="gaussian", sigma="fixed", sigma_value=0.5, hidden=(16,), latent_dim=2))
    x, mean = torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28)
    ref = D.Normal(mean, 0.5).log_prob(x).sum((1, 2, 3))
    assert torch.allclose(m.log_likelihood(x, mean), ref, atol=1e-3)


def test_residual_blocks_add_the_input():
    m = VAE(ModelConfig(hidden=(400, 400), residual=True, decoder_hidden=(400,)))
    assert m.encoder.body.skip == [False, True]
    plain = VAE(ModelConfig(hidden=(400, 400), decoder_hidden=(400,)))
    assert plain.encoder.body.skip == [False, False]
    # same parameter count: residual connections are free
    assert count_parameters(m) == count_parameters(plain)
    # and they change the function: zero the residual block's weights, the encoder passes h through
    with torch.no_grad():
        for p in m.encoder.body.blocks[1].parameters():
            p.zero_()
    x = torch.rand(2, 784)
    h1 = m.encoder.body.blocks[0](x)
    assert torch.allclose(m.encoder.body(x), h1)


def test_pytorch_example_has_the_reference_parameter_count():
    # pytorch/examples VAE: fc1 784x400, fc21/fc22 400x20, fc3 20x400, fc4 400x784 (+ biases)
    expected = (784 * 400 + 400) + 2 * (400 * 20 + 20) + (20 * 400 + 400) + (400 * 784 + 784)
    assert count_parameters(build_model(get_preset("pytorch-example").model)) == expected


def test_config_round_trip_and_errors():
    for p in PRESETS.values():
        cfg = p.model
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
        build_model(cfg.to_dict())
    with pytest.raises(ValueError):
        ModelConfig(arch="rnn")
    with pytest.raises(ValueError):
        ModelConfig(likelihood="poisson")
    with pytest.raises(ValueError):
        ModelConfig.from_dict({"latent": 3})
    with pytest.raises(ValueError):
        build_model(ModelConfig(kind="nope"))
    assert "vae" in MODELS


def test_presets_are_the_seed_experiments():
    expected = {"pytorch-example", "bernoulli-vae", "gaussian-vae", "fnn-bce", "fnn-mse", "cnn-bce", "cnn-mse",
                "vae-std-z20", "vae-std-z20-res", "vae-std-z40", "vae-conv", "beta-vae-4", "beta-vae-2",
                "beta-vae-0.5", "latent2-bn-dropout", "activity-z2"}
    assert expected <= set(PRESETS)
    bg = get_preset("bernoulli-vae")
    assert bg.model.hidden == (400, 400) and bg.model.latent_dim == 40 and bg.train.batch_size == 256
    assert bg.train.epochs == 20
    assert get_preset("beta-vae-4").model.beta == 4.0
    l2 = get_preset("latent2-bn-dropout")
    assert l2.model.hidden == (256, 128) and l2.model.latent_dim == 2 and l2.model.batch_norm
    assert l2.train.early_stopping and l2.train.scheduler == "plateau"
    a = get_preset("activity-z2")
    assert a.model.hidden == (400,) and a.model.latent_dim == 2 and a.train.epochs == 20
    with pytest.raises(KeyError, match="known presets"):
        get_preset("nope")

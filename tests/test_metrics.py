"""Metrics against direct computations."""

from __future__ import annotations

import math

import torch

from vaelib import data as vdata
from vaelib.losses import iwae_bound
from vaelib.metrics import BernoulliReadout, active_units, evaluate, iwae_nll, reconstruction_mse
from vaelib.models import ModelConfig, build_model


def test_active_units_counts_dimensions_whose_mean_varies():
    torch.manual_seed(0)
    mu = torch.zeros(1000, 4)
    mu[:, 0] = torch.randn(1000)  # var 1: active
    mu[:, 1] = 0.05 * torch.randn(1000)  # var 0.0025: inactive
    mu[:, 2] = 0.2 * torch.randn(1000)  # var 0.04: active
    assert active_units(mu) == 2
    assert active_units(mu, threshold=0.001) == 3


def test_reconstruction_mse_is_per_pixel():
    class Identity(torch.nn.Module):
        def reconstruct(self, x):
            return torch.zeros_like(x)

    x = torch.full((10, 1, 28, 28), 0.5)
    assert math.isclose(reconstruction_mse(Identity(), x), 0.25, rel_tol=1e-6)


def test_bernoulli_readout_of_a_bernoulli_model_is_the_model_itself():
    torch.manual_seed(0)
    m = build_model(ModelConfig(hidden=(32,), latent_dim=3)).eval()
    x = torch.bernoulli(torch.rand(6, 1, 28, 28))
    torch.manual_seed(1)
    a = iwae_bound(m, x, 50)
    torch.manual_seed(1)
    b = iwae_bound(BernoulliReadout(m, eps=1e-7), x, 50)
    assert torch.allclose(a, b, atol=1e-2)


def test_bernoulli_readout_scores_gaussian_models_on_binary_data():
    torch.manual_seed(0)
    m = build_model(ModelConfig(hidden=(32,), latent_dim=3, likelihood="gaussian", sigma_value=0.05)).eval()
    x = torch.bernoulli(torch.rand(6, 1, 28, 28))
    out = iwae_bound(BernoulliReadout(m), x, 10)
    assert torch.isfinite(out).all() and (out < 0).all()  # a log-probability of binary pixels


def test_evaluate_reports_every_metric_with_its_protocol():
    torch.manual_seed(0)
    test = vdata.load_mnist(subset=200).test
    m = build_model(ModelConfig(hidden=(32,), latent_dim=3))
    out = evaluate(m, test, eval_targets="fixed", iwae_k=5, iwae_n=50)
    assert out["eval_targets"] == "fixed" and out["test_images"] == 200
    assert out["iwae_k"] == 5 and out["iwae_n"] == 50
    assert math.isclose(out["test_elbo"], out["test_log_px"] - out["test_kl"], rel_tol=1e-6)
    assert out["iwae_nll"] < -out["test_elbo"] + 20
    assert 0 <= out["active_units"] <= 3
    x = vdata.fixed_binarization(test.images[:50])
    nll = iwae_nll(m, x, 5, seed=0)
    torch.manual_seed(0)
    assert math.isclose(nll, -iwae_bound(m, x, 5).mean().item(), rel_tol=1e-5)


def test_kl_per_dimension_adds_up_to_the_kl_and_matches_torch_distributions():
    from torch import distributions as D

    from vaelib.metrics import kl_per_dimension
    from vaelib.models import VAE, ModelConfig

    torch.manual_seed(0)
    model = VAE(ModelConfig(hidden=(16,), latent_dim=3))
    x = torch.rand(50, 1, 28, 28)
    kl_d, mu = kl_per_dimension(model, x, batch_size=20)
    m, logvar = model.encode(x)
    ref = D.kl_divergence(D.Normal(m, (0.5 * logvar).exp()), D.Normal(0.0, 1.0)).mean(0)
    assert kl_d.shape == (3,) and torch.allclose(kl_d, ref.detach(), atol=1e-5)
    assert torch.allclose(mu, m.detach())

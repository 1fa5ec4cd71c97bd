"""Metrics against direct computations."""

from __future__ import annotations

import math

import pytest
import torch

from vaelib import data as vdata
from vaelib.losses import iwae_bound
from vaelib.eval.likelihood import BernoulliReadout
from vaelib.metrics import active_units, evaluate, iwae_nll, reconstruction_mse
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


class _FixedEncoder(torch.nn.Module):
    """q(z | x) = N(x, s² I): the 'images' are the posterior means; p(z) = N(0, I)."""

    METRICS = ("elbo", "iwae", "active_units")

    def __init__(self, s: float) -> None:
        super().__init__()
        self.log_s2 = 2 * math.log(s)

    def encode(self, x):
        return x, torch.full_like(x, self.log_s2)

    def log_prior(self, z):
        from vaelib.losses import std_normal_log_prob

        return std_normal_log_prob(z)


def test_rate_decomposition_matches_the_closed_form_of_a_gaussian_population():
    """μ ~ N(0, t² I), q(z|x) = N(μ, s² I): q(z) = N(0, (t² + s²) I), so per dimension
    I = ½ log((t² + s²)/s²), KL(q(z) || p) = ½ (t² + s² - 1 - log(t² + s²)), rate = their sum."""
    from vaelib.metrics import rate_decomposition

    d, t, s, n = 2, 1.0, 0.5, 4000
    mu = t * torch.randn(n, d, generator=torch.Generator().manual_seed(123))  # not the estimator's seed 0
    out = rate_decomposition(_FixedEncoder(s), mu, samples=2)
    v = t**2 + s**2
    exact_i, exact_kl = d * 0.5 * math.log(v / s**2), d * 0.5 * (v - 1 - math.log(v))
    assert out["mutual_information"] == pytest.approx(exact_i, abs=0.06)
    assert out["marginal_kl"] == pytest.approx(exact_kl, abs=0.04)
    assert out["rate"] == pytest.approx(exact_i + exact_kl, abs=0.06)
    assert out["rate"] == pytest.approx(out["mutual_information"] + out["marginal_kl"], abs=1e-4)
    assert out["n"] == n and out["mutual_information_se"] > 0


def test_rate_decomposition_information_is_capped_by_log_n_and_zero_without_codes():
    from vaelib.metrics import rate_decomposition

    mu = torch.randn(500, 3, generator=torch.Generator().manual_seed(124))
    sharp = rate_decomposition(_FixedEncoder(1e-3), mu)  # every code tells its image apart: I = log N
    assert sharp["mutual_information"] == pytest.approx(math.log(500), abs=1e-3)
    assert sharp["mutual_information"] <= sharp["log_n"] + 1e-4
    same = rate_decomposition(_FixedEncoder(0.7), torch.zeros(500, 3))  # codes carry nothing
    assert abs(same["mutual_information"]) < 1e-5 and same["marginal_kl"] > 0
    with pytest.raises(ValueError, match="Gaussian q"):
        wae = build_model(ModelConfig(kind="wae", hidden=(8,), latent_dim=2))
        rate_decomposition(wae, torch.rand(4, 1, 28, 28))


def test_moment_kl_is_the_exact_marginal_kl_of_a_gaussian_population():
    """μ ~ N(0, t² I), q(z|x) = N(μ, s² I): q(z) = N(0, (t² + s²) I) is Gaussian, so the moment
    bound is the marginal KL itself, ½ (v - 1 - log v) per dimension."""
    from vaelib.metrics import moment_kl

    d, t, s, n = 3, 1.5, 0.5, 20000
    mu = t * torch.randn(n, d, generator=torch.Generator().manual_seed(5))
    v = t**2 + s**2
    got = moment_kl(mu, torch.full_like(mu, math.log(s**2)))
    assert got == pytest.approx(d * 0.5 * (v - 1 - math.log(v)), abs=0.03)
    # deterministic codes: the moments of the codes alone; N(1, 2² I) has KL ½ (4 + 1 - 1 - log 4) per dimension
    z = 1.0 + 2.0 * torch.randn(10 * n, d, generator=torch.Generator().manual_seed(6))
    assert moment_kl(z) == pytest.approx(d * 0.5 * (4 + 1 - 1 - math.log(4)), abs=0.05)
    assert abs(moment_kl(torch.randn(n, d, generator=torch.Generator().manual_seed(7)))) < 0.01


def test_moment_kl_bounds_a_clustered_mismatch_from_below():
    """Codes in two tight clusters at ±1 have the prior's mean and unit variance: the moments see
    no mismatch (bound ≈ 0) while the true KL is large, and rate_decomposition's marginal KL (an
    estimate from above) sees it; the bound stays below that estimate."""
    from vaelib.metrics import moment_kl, rate_decomposition

    n, d, s = 2000, 2, 0.05
    signs = torch.randint(0, 2, (n, d), generator=torch.Generator().manual_seed(8)) * 2.0 - 1.0
    mu = signs * math.sqrt(1 - s**2)  # per dimension: mean 0, variance (1 - s²) + s² = 1
    lower = moment_kl(mu, torch.full_like(mu, math.log(s**2)))
    upper = rate_decomposition(_FixedEncoder(s), mu, samples=2)["marginal_kl"]
    assert abs(lower) < 0.01 and upper > 1.0
    shifted = moment_kl(mu + 1.0, torch.full_like(mu, math.log(s**2)))  # a shifted mean costs ½ |m|²
    assert shifted == pytest.approx(lower + 0.5 * d, abs=0.01)
    assert shifted <= rate_decomposition(_FixedEncoder(s), mu + 1.0, samples=2)["marginal_kl"]

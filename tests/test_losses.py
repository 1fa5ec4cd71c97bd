"""vaelib.losses against independent references: torch.distributions, Monte Carlo, a toy model."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import distributions as D
from torch import nn

from vaelib.losses import (
    bernoulli_log_prob,
    elbo,
    gaussian_diag_log_prob,
    gaussian_log_prob,
    iwae_bound,
    kl_std_normal,
    reparameterize,
    std_normal_log_prob,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_reparameterize_has_the_right_moments_and_gradients():
    mu = torch.tensor([[1.5, -2.0, 0.0]]).expand(200_000, 3).clone().requires_grad_(True)
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.25)]]).expand(200_000, 3).clone().requires_grad_(True)
    z = reparameterize(mu, logvar)
    assert torch.allclose(z.mean(0), torch.tensor([1.5, -2.0, 0.0]), atol=0.02)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 2.0, 0.5]), atol=0.02)
    z.sum().backward()  # dz/dmu = 1: gradients flow through the sample
    assert torch.allclose(mu.grad, torch.ones_like(mu))
    assert logvar.grad.abs().sum() > 0


def test_kl_matches_torch_distributions():
    mu, logvar = torch.randn(16, 5), torch.randn(16, 5)
    q = D.Normal(mu, torch.exp(0.5 * logvar))
    p = D.Normal(torch.zeros(5), torch.ones(5))
    ref = D.kl_divergence(q, p).sum(1)
    assert torch.allclose(kl_std_normal(mu, logvar), ref, atol=1e-5)


def test_kl_matches_a_monte_carlo_estimate():
    mu, logvar = torch.tensor([[0.7, -1.2]]), torch.tensor([[-0.5, 0.8]])
    z = mu + torch.exp(0.5 * logvar) * torch.randn(400_000, 2)
    log_q = D.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(1)
    log_p = D.Normal(0.0, 1.0).log_prob(z).sum(1)
    mc = (log_q - log_p)
    se = mc.std() / math.sqrt(mc.numel())
    assert abs(mc.mean() - kl_std_normal(mu, logvar)[0]) < 4 * se


def test_kl_is_zero_only_at_the_prior():
    assert kl_std_normal(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max() < 1e-7
    assert (kl_std_normal(torch.randn(3, 4), torch.randn(3, 4)) > 0).all()


def test_bernoulli_log_prob_matches_torch_distributions():
    logits = torch.randn(8, 1, 28, 28) * 3
    x = torch.bernoulli(torch.full((8, 1, 28, 28), 0.3))
    ref = D.Bernoulli(logits=logits).log_prob(x).sum(dim=(1, 2, 3))
    assert torch.allclose(bernoulli_log_prob(x, logits), ref, atol=1e-3)


def test_bernoulli_log_prob_is_minus_bce_for_grey_targets_and_stable():
    logits = torch.tensor([[-50.0, 0.0, 50.0, 3.0]])
    x = torch.tensor([[0.2, 0.5, 0.9, 1.0]])
    # log σ(l) = -softplus(-l), log(1 - σ(l)) = -softplus(l), in double precision
    l = logits.double()
    ref = (x * -F.softplus(-l) + (1 - x) * -F.softplus(l)).sum(1)
    out = bernoulli_log_prob(x, logits)
    assert torch.isfinite(out).all()
    assert torch.allclose(out.double(), ref, rtol=1e-5)
    # and it is minus torch's BCE on probabilities where those are not saturated (σ(50) rounds
    # to 1 in float32, and BCE on probabilities then clamps log 0 to -100: why we use logits)
    keep = [1, 3]
    bce = F.binary_cross_entropy(torch.sigmoid(logits[:, keep]), x[:, keep], reduction="sum")
    assert torch.allclose(bernoulli_log_prob(x[:, keep], logits[:, keep]), -bce, atol=1e-4)


@pytest.mark.parametrize("kind", ["float", "scalar", "per-pixel"])
def test_gaussian_log_prob_matches_torch_distributions(kind):
    x, mean = torch.rand(6, 1, 28, 28), torch.rand(6, 1, 28, 28)
    if kind == "float":
        log_sigma = math.log(0.3)
        sigma = torch.full_like(x, 0.3)
    elif kind == "scalar":
        log_sigma = torch.tensor(-0.7)
        sigma = torch.full_like(x, math.exp(-0.7))
    else:
        log_sigma = torch.randn(1, 28, 28) * 0.5
        sigma = torch.exp(log_sigma).expand_as(x)
    ref = D.Normal(mean, sigma).log_prob(x).sum(dim=(1, 2, 3))
    assert torch.allclose(gaussian_log_prob(x, mean, log_sigma), ref, rtol=1e-5, atol=1e-3)


def test_mse_is_a_gaussian_with_sigma_squared_one_half():
    x, mean = torch.rand(4, 784), torch.rand(4, 784)
    nll = -gaussian_log_prob(x, mean, 0.5 * math.log(0.5))
    sse = ((x - mean) ** 2).sum(1)
    const = 784 * (0.5 * math.log(0.5) + 0.5 * math.log(2 * math.pi))
    assert torch.allclose(nll, sse + const, atol=1e-3)


def test_diag_gaussian_and_std_normal_log_probs():
    z, mu, logvar = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    ref = D.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(1)
    assert torch.allclose(gaussian_diag_log_prob(z, mu, logvar), ref, atol=1e-5)
    assert torch.allclose(std_normal_log_prob(z), D.Normal(0.0, 1.0).log_prob(z).sum(1), atol=1e-5)


def test_elbo_terms_and_beta():
    log_px, kl = torch.tensor([-100.0, -80.0]), torch.tensor([20.0, 10.0])
    t = elbo(log_px, kl)
    assert torch.equal(t.elbo, torch.tensor([-120.0, -90.0]))
    assert torch.equal(t.loss, -t.elbo)
    t4 = elbo(log_px, kl, beta=4.0)
    assert torch.equal(t4.loss, torch.tensor([180.0, 120.0]))
    assert torch.equal(t4.elbo, t.elbo)  # the bound does not depend on the training β


# ---- IWAE on a toy model whose marginal likelihood is known -------------------------------


class LinearGaussian(nn.Module):
    """z ~ N(0, I_d), x | z ~ N(W z + b, s² I): then x ~ N(b, W Wᵀ + s² I) exactly.

    The "encoder" is a deliberately imperfect Gaussian q, so the ELBO is strictly below log p(x)
    and the IWAE bound has room to climb.
    """

    def __init__(self, d: int = 2, n: int = 4, s: float = 0.5) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.W = torch.randn(n, d, generator=g)
        self.b = torch.randn(n, generator=g)
        self.log_s = math.log(s)
        self.A = torch.randn(d, n, generator=g) * 0.3  # a poor amortised posterior mean

    def encode(self, x):
        return x @ self.A.T, torch.full((x.shape[0], self.W.shape[1]), math.log(0.8))

    def decode(self, z):
        return z @ self.W.T + self.b

    def log_likelihood(self, x, params):
        return gaussian_log_prob(x, params, self.log_s)

    def log_prior(self, z):
        return std_normal_log_prob(z)

    def log_marginal(self, x):
        cov = self.W @ self.W.T + math.exp(2 * self.log_s) * torch.eye(self.W.shape[0])
        return D.MultivariateNormal(self.b, covariance_matrix=cov).log_prob(x)


def test_iwae_rises_towards_the_true_log_likelihood():
    torch.manual_seed(0)
    model = LinearGaussian()
    x = model.decode(torch.randn(64, 2)) + 0.5 * torch.randn(64, 4)
    true = model.log_marginal(x).mean().item()
    bounds = {k: iwae_bound(model, x, k).mean().item() for k in (1, 10, 100, 5000)}
    assert bounds[1] < bounds[10] < bounds[100] < bounds[5000] + 1e-3
    assert bounds[5000] <= true + 0.02  # a bound (up to Monte-Carlo noise)
    assert true - bounds[5000] < 0.05  # and tight at large k
    assert true - bounds[1] > 0.2  # the ELBO itself is visibly loose for this q


def test_iwae_k1_is_the_elbo_in_expectation():
    torch.manual_seed(0)
    model = LinearGaussian()
    x = model.decode(torch.randn(4, 2))
    mu, logvar = model.encode(x)
    reps = 40_000
    # the ELBO by Monte Carlo over z ~ q, with the closed-form KL
    z = reparameterize(mu.repeat(reps, 1), logvar.repeat(reps, 1))
    log_px = model.log_likelihood(x.repeat(reps, 1), model.decode(z)).reshape(reps, 4)
    elbo_mc = log_px.mean(0) - kl_std_normal(mu, logvar)
    l1 = torch.stack([iwae_bound(model, x, 1) for _ in range(reps // 4)])  # [reps/4, 4]
    se = (l1.std(0) ** 2 / l1.shape[0] + log_px.std(0) ** 2 / reps).sqrt()
    assert ((l1.mean(0) - elbo_mc).abs() < 4 * se).all()


def test_iwae_chunking_does_not_change_the_estimate():
    model = LinearGaussian()
    torch.manual_seed(2)
    x = model.decode(torch.randn(5, 2)) + 0.5 * torch.randn(5, 4)
    torch.manual_seed(3)
    a = iwae_bound(model, x, 320, chunk_size=320)
    torch.manual_seed(3)
    b = iwae_bound(model, x, 320, chunk_size=320)
    torch.manual_seed(3)
    c = iwae_bound(model, x, 320, chunk_size=32)
    assert torch.equal(a, b)
    # chunks draw other z's, so equality holds only up to the estimator's own noise
    assert (a - c).abs().max() < 0.1
    with pytest.raises(ValueError):
        iwae_bound(model, x, 0)


def test_iwae_k5000_fits_on_mnist_shapes():
    from vaelib.models import ModelConfig, build_model

    model = build_model(ModelConfig(latent_dim=20)).eval()
    x = torch.bernoulli(torch.rand(4, 1, 28, 28))
    out = iwae_bound(model, x, 5000)
    assert out.shape == (4,) and torch.isfinite(out).all()


@pytest.mark.parametrize("arch", ["fc", "conv"])
def test_decoding_in_pieces_gives_the_values_of_one_pass(arch) -> None:
    """iwae_bound and the gap estimates decode many z in pieces of DECODE_ROWS rows (for the CPU's
    cache). A matrix product's kernel may round a row differently at another batch size, so the
    pieces promise the one-pass values to float rounding (for the series' models at 512 rows they
    came out bit for bit: the cached canonical NLLs were reproduced exactly)."""
    from vaelib.losses import DECODE_ROWS, decoded_log_likelihood
    from vaelib.models import ModelConfig, build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=arch, latent_dim=4, hidden=(32,), decoder_hidden=(32,))).eval()
    n = 2 * DECODE_ROWS + 77  # two whole pieces and a remainder
    z, x = torch.randn(n, 4), torch.rand(n, 1, 28, 28).bernoulli()
    with torch.no_grad():
        whole = model.log_likelihood(x, model.decode(z))
        for rows in (DECODE_ROWS, 7):
            torch.testing.assert_close(decoded_log_likelihood(model, x, z, rows=rows), whole, rtol=1e-6, atol=1e-4)


def test_discretized_logistic_is_a_distribution_over_the_256_levels():
    """Against the logistic cdf computed directly in float64: the bins' probabilities, the outer
    bins reaching to ±∞, and a total of 1 over the levels, for locations inside and outside [0, 1]."""
    from vaelib.losses import discretized_logistic_log_prob

    levels = torch.arange(256, dtype=torch.float64) / 255
    h = 0.5 / 255
    for loc, scale in [(0.3, 0.05), (-0.2, 0.01), (1.3, 0.2), (0.5, 1e-3), (0.0, 0.5)]:
        x = levels.reshape(256, 1)
        lp = discretized_logistic_log_prob(x, torch.full_like(x, loc), math.log(scale))
        cdf = lambda t: torch.sigmoid((t - loc) / scale)  # noqa: E731
        ref = torch.where(levels < h, cdf(levels + h),
                          torch.where(levels > 1 - h, 1 - cdf(levels - h), cdf(levels + h) - cdf(levels - h)))
        assert torch.allclose(lp.exp(), ref, atol=1e-12), (loc, scale)
        assert lp.exp().sum().item() == pytest.approx(1.0, abs=1e-9)
    # far in a tail the bins stay finite (no cancellation): log of a tiny positive number
    far = discretized_logistic_log_prob(torch.tensor([[0.5]]), torch.tensor([[-3.0]]), math.log(0.01))
    assert torch.isfinite(far).all() and far.item() < -300
    # a location below 0 puts nearly all of a black pixel on 0: the floor a sigmoid mean cannot leave
    black = discretized_logistic_log_prob(torch.zeros(1, 784), torch.full((1, 784), -0.1), math.log(0.01))
    assert black.item() > -784 * 1e-3

"""Anomaly scores and ROC AUC against brute force, a closed form, and a briefly trained VAE."""

from __future__ import annotations

import math

import pytest
import torch

from vaelib import data as vdata
from vaelib.eval.anomaly import (
    elbo_scores,
    flipped_digits,
    inverted_digits,
    noise_images,
    reconstruction_scores,
    roc_auc,
    roc_auc_interval,
)
from vaelib.losses import elbo
from vaelib.models import ModelConfig, build_model


def brute_force_auc(sn: torch.Tensor, sa: torch.Tensor) -> float:
    """Count every (normal, anomalous) pair: 1 if the anomalous one scores higher, ½ if tied."""
    total = 0.0
    for a in sa.tolist():
        for n in sn.tolist():
            total += 1.0 if a > n else 0.5 if a == n else 0.0
    return total / (len(sa) * len(sn))


@pytest.mark.parametrize("n_n,n_a,levels", [(30, 17, 5), (1, 40, 3), (25, 25, 50), (60, 9, 2)])
def test_roc_auc_matches_a_brute_force_pair_count_with_ties(n_n, n_a, levels):
    g = torch.Generator().manual_seed(n_n * 100 + n_a)
    sn = torch.randint(0, levels, (n_n,), generator=g).float()
    sa = torch.randint(0, levels, (n_a,), generator=g).float() + 0.5 * torch.randint(0, 2, (n_a,), generator=g)
    assert math.isclose(roc_auc(sn, sa), brute_force_auc(sn, sa), abs_tol=1e-12)


def test_roc_auc_orientation_and_extremes():
    low, high = torch.arange(10.0), torch.arange(10.0) + 100
    assert roc_auc(low, high) == 1.0  # anomalous scores all higher: perfect
    assert roc_auc(high, low) == 0.0
    assert roc_auc(torch.ones(5), torch.ones(7)) == 0.5  # all tied
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, generator=g), torch.randn(200, generator=g) + 0.3
    assert math.isclose(roc_auc(a, b), 1.0 - roc_auc(b, a), abs_tol=1e-12)


def test_roc_auc_of_two_gaussians_matches_the_closed_form():
    # s_n ~ N(0, 1), s_a ~ N(d, 1): AUC = P(s_a - s_n > 0) = Φ(d / √2). Identical (d = 0): ½.
    g = torch.Generator().manual_seed(1)
    for d in (0.0, 1.0):
        sn, sa = torch.randn(4000, generator=g), torch.randn(3000, generator=g) + d
        expected = 0.5 * (1 + math.erf(d / 2))  # Φ(d/√2) = ½(1 + erf(d/2))
        assert abs(roc_auc(sn, sa) - expected) < 0.02  # sd of the estimate ≈ 0.007


def test_roc_auc_interval_covers_the_closed_form_and_is_seeded():
    g = torch.Generator().manual_seed(2)
    sn, sa = torch.randn(1500, generator=g), torch.randn(1000, generator=g) + 1.0
    iv = roc_auc_interval(sn, sa, resamples=300)
    expected = 0.5 * (1 + math.erf(1 / 2))
    assert iv.lo < iv.mean < iv.hi and iv.lo < expected < iv.hi and iv.n == 1000
    assert iv.mean == roc_auc(sn, sa) and 0.02 < iv.hi - iv.lo < 0.08  # ≈ 4 · 0.011
    assert roc_auc_interval(sn, sa, resamples=300) == iv
    # both sets are resampled: with 30 anomalous images the interval is wide however many normal ones
    few = roc_auc_interval(torch.randn(5000, generator=g), torch.randn(30, generator=g) + 1.0, resamples=300)
    assert few.hi - few.lo > 0.15
    separate = roc_auc_interval(torch.zeros(20), torch.ones(30), resamples=50)
    assert (separate.mean, separate.lo, separate.hi) == (1.0, 1.0, 1.0)


class FixedELBO(torch.nn.Module):
    """A stand-in model trained with β = 4: log p(x|z) = -Σ x + noise_sd · ε and KL = ½ Σ x, so
    ELBO(x) = -1.5 Σ x (+ noise) while its training loss is 3 Σ x (+ noise)."""

    def __init__(self, noise_sd: float = 0.0, kl: float = 0.0) -> None:
        super().__init__()
        self.noise_sd, self.kl = noise_sd, kl

    def forward(self, x):
        log_px = -x.flatten(1).sum(1) + self.noise_sd * torch.randn(x.shape[0])
        return elbo(log_px, self.kl * x.flatten(1).sum(1), beta=4.0)

    def reconstruct(self, x):
        return torch.full_like(x, 0.25)


def test_elbo_scores_are_minus_the_elbo_at_beta_one_in_any_batching():
    x = torch.rand(23, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    model = FixedELBO(kl=0.5)
    s = elbo_scores(model, x, batch_size=5)
    total = x.flatten(1).sum(1)
    assert s.shape == (23,) and torch.allclose(s, 1.5 * total)  # -ELBO at β = 1, not the β = 4 loss (3 Σx)
    assert not torch.allclose(s, model(x).loss)


def test_elbo_scores_average_k_draws_and_are_seeded():
    x = torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    model = FixedELBO(noise_sd=1.0)
    one, many = elbo_scores(model, x, k=1), elbo_scores(model, x, k=400)
    exact = x.flatten(1).sum(1)
    assert (one - exact).std() > 0.7  # a single draw carries the full noise (sd 1)...
    assert (many - exact).abs().max() < 0.25  # ...400 draws average it down to sd 0.05
    assert torch.equal(elbo_scores(model, x, k=3, seed=7), elbo_scores(model, x, k=3, seed=7))


def test_reconstruction_scores_are_the_per_pixel_mse_of_each_image():
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    expected = torch.tensor([((xi.flatten() - 0.25) ** 2).mean().item() for xi in x])
    assert torch.allclose(reconstruction_scores(FixedELBO(), x, batch_size=3), expected, atol=1e-6)


def test_anomalous_image_sets():
    a, b = noise_images(5, seed=1), noise_images(5, seed=1)
    assert torch.equal(a, b) and a.shape == (5, 1, 28, 28) and 0 <= a.min() and a.max() < 1
    assert not torch.equal(a, noise_images(5, seed=2))
    x = torch.rand(3, 1, 28, 28)
    f = flipped_digits(x)
    assert f[1, 0, 0, 0] == x[1, 0, 27, 27] and f[2, 0, 3, 20] == x[2, 0, 24, 7]
    assert torch.equal(flipped_digits(f), x)
    assert torch.allclose(inverted_digits(x), 1 - x)
    u8 = torch.tensor([[0, 255, 10]], dtype=torch.uint8)
    assert inverted_digits(u8).tolist() == [[255, 0, 245]]


def test_a_briefly_trained_vae_tells_digits_from_noise():
    # Untrained, ELBO scores cannot tell them apart (AUC ≈ ½); after 150 Adam steps on
    # digits, noise has a far lower ELBO and a far worse reconstruction than held-out digits.
    torch.manual_seed(0)
    splits = vdata.load_mnist(subset=3000)
    x = vdata.to_unit(splits.train.images)
    test = vdata.to_unit(splits.test.images[:500])
    noise = noise_images(500, seed=0)
    model = build_model(ModelConfig(hidden=(200,), latent_dim=10))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for step in range(150):
        idx = torch.randint(0, x.shape[0], (100,))
        loss = model(x[idx]).loss.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert roc_auc(elbo_scores(model, test), elbo_scores(model, noise)) > 0.99
    assert roc_auc(reconstruction_scores(model, test), reconstruction_scores(model, noise)) > 0.99
    flipped = flipped_digits(test)
    assert roc_auc(elbo_scores(model, test), elbo_scores(model, flipped)) > 0.6

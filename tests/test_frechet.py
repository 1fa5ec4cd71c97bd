"""The Fréchet distance against closed forms and an independent numpy computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vaelib.eval.frechet import extract_features, frechet_distance, frechet_distance_of, gaussian_stats


def random_cov(f: int, seed: int, rank: int | None = None) -> torch.Tensor:
    """A random symmetric PSD [f, f] matrix (of rank `rank` when given), float64."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(f, rank or f, generator=g, dtype=torch.float64)
    return a @ a.T / (rank or f) + (0.0 if rank else 0.1) * torch.eye(f, dtype=torch.float64)


def reference_fd_numpy(mu1, c1, mu2, c2) -> float:
    """FD via Tr (C1 C2)^½ = Σ √λ(C1 C2): general (non-symmetric) eigenvalues with numpy, a
    different route from the library's symmetric C1^½ C2 C1^½."""
    mu1, c1, mu2, c2 = (np.asarray(t, dtype=np.float64) for t in (mu1, c1, mu2, c2))
    lam = np.linalg.eigvals(c1 @ c2)
    assert np.abs(lam.imag).max() < 1e-8 and lam.real.min() > -1e-8  # similar to a PSD matrix
    tr_sqrt = np.sqrt(np.clip(lam.real, 0.0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2.0 * tr_sqrt)


def test_gaussian_stats_are_the_sample_mean_and_unbiased_covariance():
    f = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    mu, cov = gaussian_stats(f)
    assert mu.dtype == cov.dtype == torch.float64 and cov.shape == (3, 3)
    np.testing.assert_allclose(mu.numpy(), f.numpy().astype(np.float64).mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(cov.numpy(), np.cov(f.numpy().astype(np.float64), rowvar=False), atol=1e-6)


def test_diagonal_covariances_match_the_closed_form():
    # C1 = diag(a), C2 = diag(b) commute: FD = ||Δμ||² + Σ (√a - √b)²
    g = torch.Generator().manual_seed(1)
    mu1, mu2 = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    a = torch.rand(6, generator=g, dtype=torch.float64) * 3 + 0.01
    b = torch.rand(6, generator=g, dtype=torch.float64) * 3 + 0.01
    expected = ((mu1 - mu2) ** 2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum()
    assert math.isclose(frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)), expected.item(), rel_tol=1e-10)


def test_two_by_two_non_commuting_matches_the_closed_form():
    # For 2x2: (√λ1 + √λ2)² = Tr M + 2 √det M, so Tr (C1 C2)^½ = √(Tr(C1 C2) + 2 √(det C1 det C2)).
    c1 = torch.tensor([[2.0, 0.9], [0.9, 1.0]], dtype=torch.float64)
    c2 = torch.tensor([[0.5, -0.3], [-0.3, 1.5]], dtype=torch.float64)
    assert not torch.allclose(c1 @ c2, c2 @ c1)
    mu1 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    mu2 = torch.tensor([0.5, 0.0], dtype=torch.float64)
    tr_sqrt = math.sqrt(torch.trace(c1 @ c2).item() + 2 * math.sqrt(torch.det(c1).item() * torch.det(c2).item()))
    expected = 0.25 + 4.0 + 3.0 + 2.0 - 2 * tr_sqrt
    assert math.isclose(frechet_distance(mu1, c1, mu2, c2), expected, rel_tol=1e-10)


@pytest.mark.parametrize("rank2", [None, 4])  # full rank, and a singular C2
def test_non_commuting_covariances_match_an_independent_numpy_computation(rank2):
    f = 12
    c1, c2 = random_cov(f, 2), random_cov(f, 3, rank=rank2)
    g = torch.Generator().manual_seed(4)
    mu1, mu2 = torch.randn(f, generator=g, dtype=torch.float64), torch.randn(f, generator=g, dtype=torch.float64)
    ours = frechet_distance(mu1, c1, mu2, c2)
    assert math.isclose(ours, reference_fd_numpy(mu1, c1, mu2, c2), rel_tol=1e-8, abs_tol=1e-8)
    assert math.isclose(ours, frechet_distance(mu2, c2, mu1, c1), rel_tol=1e-8)  # symmetric


def test_distance_of_a_distribution_to_itself_is_zero():
    for cov in (random_cov(20, 5), random_cov(20, 6, rank=3)):  # full rank and singular
        mu = torch.randn(20, dtype=torch.float64)
        assert abs(frechet_distance(mu, cov, mu, cov)) < 1e-10 * torch.trace(cov).item()
    feats = torch.randn(8, 30, generator=torch.Generator().manual_seed(7))  # N < F: singular estimate
    assert abs(frechet_distance(*gaussian_stats(feats), *gaussian_stats(feats))) < 1e-10


def test_the_sample_estimate_approaches_the_closed_form():
    # Many draws from two known Gaussians: the plug-in estimate converges to FD of the true ones.
    f, n = 4, 200_000
    c1, c2 = random_cov(f, 8), random_cov(f, 9)
    mu1 = torch.zeros(f, dtype=torch.float64)
    mu2 = torch.full((f,), 0.5, dtype=torch.float64)
    g = torch.Generator().manual_seed(10)
    x1 = mu1 + torch.randn(n, f, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(c1).T
    x2 = mu2 + torch.randn(n, f, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(c2).T
    true = reference_fd_numpy(mu1, c1, mu2, c2)
    est = frechet_distance(*gaussian_stats(x1), *gaussian_stats(x2))
    assert true > 1.0
    assert abs(est - true) < 0.02 * true


def test_frechet_distance_of_images_with_a_plugged_in_extractor():
    # Feature = the mean pixel value of an image, so each set is a 1-D sample and
    # FD = (m_a - m_b)² + (s_a - s_b)² with s the sample standard deviations (numpy, ddof=1).
    g = torch.Generator().manual_seed(11)
    va = torch.rand(103, generator=g) * 0.5
    vb = 0.3 + torch.rand(57, generator=g) * 0.7
    a = va.view(-1, 1, 1, 1).expand(-1, 1, 28, 28).clone()
    b = vb.view(-1, 1, 1, 1).expand(-1, 1, 28, 28).clone()
    calls = []

    def mean_pixel(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return x.mean(dim=(1, 2, 3)).unsqueeze(1)

    fd = frechet_distance_of(a, b, extractor=mean_pixel, batch_size=10)
    na, nb = va.double().numpy(), vb.double().numpy()
    expected = (na.mean() - nb.mean()) ** 2 + (na.std(ddof=1) - nb.std(ddof=1)) ** 2
    assert math.isclose(fd, expected, rel_tol=1e-5)
    assert max(calls) <= 10 and sum(calls) == 103 + 57  # batched, every image once


def test_uint8_images_are_scaled_to_unit_range():
    u8 = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(12))
    flat = lambda x: x.flatten(1)  # noqa: E731
    out = extract_features(u8, flat)
    assert out.dtype == torch.float64 and torch.allclose(out, u8.double().flatten(1) / 255, atol=1e-7)


def test_frechet_distance_checks_shapes():
    with pytest.raises(ValueError):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(2), torch.eye(2))


def test_frechet_scorer_reuses_the_reference_and_agrees_with_frechet_distance_of():
    from vaelib.eval.frechet import frechet_scorer

    g = torch.Generator().manual_seed(0)
    ref = torch.rand(300, 1, 28, 28, generator=g)
    other = torch.rand(200, 1, 28, 28, generator=g) ** 2
    proj = torch.randn(784, 8, generator=g)
    extractor = lambda x: x.flatten(1) @ proj  # noqa: E731
    score = frechet_scorer(ref, extractor)
    assert score(other) == pytest.approx(frechet_distance_of(other, ref, extractor=extractor), rel=1e-9)
    assert score(other) > 10 * abs(score(ref)) and abs(score(ref)) < 1e-6

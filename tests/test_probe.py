"""The linear probe against the Bayes rule of Gaussian blobs, separable data and pure noise."""

from __future__ import annotations

import torch

from vaelib.eval.probe import fit_linear_probe, linear_probe

K, D = 10, 8


def blobs(n: int, scale: float, seed: int, means: torch.Tensor | None = None):
    """n points of K isotropic unit-variance Gaussian classes with class means `means` [K, D]."""
    g = torch.Generator().manual_seed(seed)
    if means is None:
        means = scale * torch.randn(K, D, generator=g)
    y = torch.randint(0, K, (n,), generator=g)
    return means[y] + torch.randn(n, D, generator=g), y, means


def nearest_mean(x: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """The Bayes rule for equal-prior isotropic Gaussians with equal covariance: nearest class mean."""
    return torch.cdist(x, means).argmin(dim=1)


def test_probe_reaches_the_bayes_accuracy_of_overlapping_gaussian_blobs():
    # Equal isotropic covariances: the Bayes-optimal classifier is linear (nearest true mean), so a
    # well-fitted logistic regression should score about what the Bayes rule scores on the same data.
    xtr, ytr, means = blobs(20_000, 1.3, seed=0)
    xte, yte, _ = blobs(10_000, 0.0, seed=1, means=means)
    bayes = (nearest_mean(xte, means) == yte).float().mean().item()
    assert 0.6 < bayes < 0.95  # genuinely overlapping, so the comparison means something
    acc = linear_probe(xtr, ytr, xte, yte)
    assert abs(acc - bayes) < 0.015


def test_probe_separates_well_separated_blobs():
    xtr, ytr, means = blobs(2000, 10.0, seed=2)
    xte, yte, _ = blobs(2000, 0.0, seed=3, means=means)
    assert (nearest_mean(xte, means) == yte).float().mean().item() == 1.0
    assert linear_probe(xtr, ytr, xte, yte) >= 0.999


def test_probe_on_features_independent_of_labels_is_at_chance():
    g = torch.Generator().manual_seed(4)
    xtr, xte = torch.randn(5000, D, generator=g), torch.randn(10_000, D, generator=g)
    ytr, yte = torch.randint(0, K, (5000,), generator=g), torch.randint(0, K, (10_000,), generator=g)
    assert abs(linear_probe(xtr, ytr, xte, yte) - 1 / K) < 0.02  # sd of chance accuracy: 0.003


def test_probe_standardizes_with_training_statistics():
    # Features on wildly different scales and offsets (latent means can be tiny or huge): the probe
    # must see them as equals, and apply the *training* mean and std to the test features.
    xtr, ytr, means = blobs(5000, 1.3, seed=5)
    xte, yte, _ = blobs(5000, 0.0, seed=6, means=means)
    scale = torch.logspace(-4, 4, D)
    shift = 1e3 * torch.randn(D, generator=torch.Generator().manual_seed(7))
    plain = linear_probe(xtr, ytr, xte, yte)
    scaled = linear_probe(xtr * scale + shift, ytr, xte * scale + shift, yte)
    assert abs(plain - scaled) < 0.005
    probe = fit_linear_probe(xtr * scale + shift, ytr)
    assert torch.allclose(probe.mean, (xtr * scale + shift).mean(0))
    assert torch.allclose(probe.std, (xtr * scale).std(0), rtol=1e-3)


def test_test_features_are_standardized_with_the_training_statistics():
    # A test set of one class only: its own mean is that class's mean, so standardizing it with
    # its own statistics would move every point to the centre. With the training statistics the
    # probe scores about what the Bayes rule scores on that class.
    xtr, ytr, means = blobs(5000, 1.3, seed=8)
    xte, yte, _ = blobs(20_000, 0.0, seed=9, means=means)
    keep = yte == 3
    bayes = (nearest_mean(xte[keep], means) == 3).float().mean().item()
    assert abs(linear_probe(xtr, ytr, xte[keep], yte[keep]) - bayes) < 0.05


def test_cluster_accuracy_by_majority_label():
    from vaelib.eval.probe import cluster_accuracy, majority_labels

    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    perfect = torch.tensor([5, 5, 3, 3, 0, 0, 0])  # cluster ids are arbitrary names
    assert majority_labels(perfect, labels, 6).tolist() == [2, -1, -1, 1, -1, 0]
    assert cluster_accuracy(perfect, labels, perfect, labels, 6) == 1.0
    one = torch.zeros(7, dtype=torch.long)  # everything in one cluster: the share of the commonest label
    assert abs(cluster_accuracy(one, labels, one, labels, 3) - 3 / 7) < 1e-12
    # named on the training examples, scored on test examples; an empty cluster's examples are wrong
    test_clusters, test_labels = torch.tensor([5, 3, 1]), torch.tensor([0, 0, 1])
    assert abs(cluster_accuracy(perfect, labels, test_clusters, test_labels, 6) - 1 / 3) < 1e-12

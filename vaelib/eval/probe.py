"""A linear probe: how much of the label can a linear classifier read off a representation (VAE
latent means μ(x), or raw pixels for comparison)? Multinomial logistic regression:

    p(y = k | f) = softmax(W f̃ + b)_k,   f̃ = (f - m) / s   (m, s: training mean and std per feature)
    minimise  -(1/N) Σ_n log p(y_n | f_n) + (λ/2) ||W||²         (full batch, L-BFGS)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["LinearProbe", "fit_linear_probe", "linear_probe", "majority_labels", "cluster_accuracy"]


@dataclass
class LinearProbe:
    """A fitted probe: standardization (mean, std [F]) and the linear map (weight [K, F], bias [K])."""

    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """features [N, F] -> logits [N, K]."""
        f = (features.to(self.weight) - self.mean) / self.std
        return f @ self.weight.T + self.bias

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """features [N, F] -> predicted class, int64 [N]."""
        return self.logits(features).argmax(dim=1)

    def accuracy(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        return (self.predict(features) == labels.to(self.weight.device)).float().mean().item()


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None,
                     epochs: int = 200, lr: float = 1.0, weight_decay: float = 1e-4) -> LinearProbe:
    """Multinomial logistic regression on features [N, F] (standardized; a constant feature gets
    std 1) with int labels [N] in 0..K-1. epochs: L-BFGS iterations over the full batch (lr: the
    first step of a strong-Wolfe line search); weight_decay: λ of the penalty on W (not b), which
    keeps W finite on separable data. Float32 on the features' device; deterministic (zero init)."""
    x = features.detach().float()
    y = labels.detach().to(x.device).long()
    k = int(y.max().item()) + 1 if num_classes is None else num_classes
    mean = x.mean(dim=0)
    std = x.std(dim=0)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    x = (x - mean) / std
    w = torch.zeros(k, x.shape[1], device=x.device, requires_grad=True)
    b = torch.zeros(k, device=x.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=lr, max_iter=epochs, history_size=20,
                            tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x @ w.T + b, y) + 0.5 * weight_decay * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return LinearProbe(mean, std, w.detach(), b.detach())


def linear_probe(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                 test_labels: torch.Tensor, epochs: int = 200, lr: float = 1.0, weight_decay: float = 1e-4) -> float:
    """Test accuracy of `fit_linear_probe` fitted on train_features [N, F], train_labels [N], scored
    on test_features [M, F], test_labels [M] (standardized with the *training* mean and std)."""
    k = int(max(train_labels.max().item(), test_labels.max().item())) + 1
    probe = fit_linear_probe(train_features, train_labels, k, epochs, lr, weight_decay)
    return probe.accuracy(test_features, test_labels)


def majority_labels(clusters: torch.Tensor, labels: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """For each cluster, its most frequent label (ties: the smaller), -1 for an empty cluster.
    clusters, labels: [N] integers -> [n_clusters]."""
    n_labels = int(labels.max().item()) + 1
    counts = torch.zeros(n_clusters, n_labels, dtype=torch.long)
    counts.index_put_((clusters.long().cpu(), labels.long().cpu()), torch.ones(len(labels), dtype=torch.long),
                      accumulate=True)
    best = counts.argmax(dim=1)
    best[counts.sum(dim=1) == 0] = -1
    return best


def cluster_accuracy(train_clusters: torch.Tensor, train_labels: torch.Tensor,
        test_clusters: torch.Tensor, test_labels: torch.Tensor, n_clusters: int) -> float:
    """Unsupervised clustering accuracy: name each cluster by its majority label on the *training*
    examples, then score the test examples by that name (Makhzani et al. 2016, AAE, §5). Several
    clusters may share a label; a test example in a cluster no training example chose is wrong."""
    names = majority_labels(train_clusters, train_labels, n_clusters)
    return (names[test_clusters.long().cpu()] == test_labels.long().cpu()).double().mean().item()

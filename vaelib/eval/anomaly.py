"""Anomaly detection with a VAE: score images (higher = more anomalous), then measure by the ROC AUC
how well the scores separate normal images from anomalous ones.

Anomalous sets that need no extra data: uniform noise, digits rotated by 180° (0, 1 and 8 barely
change, so expect AUC < 1) and inverted digits. Fashion-MNIST is the classic out-of-distribution
set (`vaelib.data.load_test_split(dataset="fashion-mnist")`, its test split is committed).
"""

from __future__ import annotations

import torch
from torch import nn

from vaelib.eval.stats import Interval

__all__ = ["elbo_scores", "reconstruction_scores", "roc_auc", "roc_auc_interval", "noise_images", "flipped_digits",
           "inverted_digits"]


@torch.no_grad()
def elbo_scores(model: nn.Module, x: torch.Tensor, k: int = 1, batch_size: int = 1000,
                seed: int | None = 0) -> torch.Tensor:
    """Anomaly score -ELBO(x) per image, [N] nats (`model(x).elbo`, β = 1 whatever β trained it),
    averaged over k draws z ~ q(z | x): k > 1 only lowers the noise (it is not the IWAE bound).
    x: [N, 1, 28, 28], the targets the model was trained on. Seeded through a forked RNG (seed=None:
    the global one); puts the model in eval mode."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    model.eval()
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        out = []
        for xb in x.split(batch_size):
            total = torch.zeros(xb.shape[0], device=xb.device)
            for _ in range(k):
                total += model(xb).elbo
            out.append(-total / k)
    return torch.cat(out)


@torch.no_grad()
def reconstruction_scores(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Anomaly score (1/P) Σ_pixels (x - x̂)² per image, [N], x̂ = model.reconstruct(x) (the
    decoder mean at z = μ(x)). x: [N, 1, 28, 28] in [0, 1]."""
    model.eval()
    return torch.cat([(model.reconstruct(xb) - xb).pow(2).flatten(1).mean(dim=1) for xb in x.split(batch_size)])


def roc_auc(scores_normal: torch.Tensor, scores_anomalous: torch.Tensor) -> float:
    """Area under the ROC curve for "higher score = anomalous", via the Mann-Whitney U statistic:

        AUC = P(s_a > s_n) + ½ P(s_a = s_n) = (R_a - n_a (n_a + 1) / 2) / (n_a n_n)

    R_a: the sum of the anomalous scores' ranks among all scores, ties given their mean rank.
    scores_normal [n_n], scores_anomalous [n_a] -> float in [0, 1].
    """
    sn = torch.as_tensor(scores_normal).detach().flatten().to("cpu", torch.float64)
    sa = torch.as_tensor(scores_anomalous).detach().flatten().to("cpu", torch.float64)
    n_n, n_a = sn.numel(), sa.numel()
    if n_n == 0 or n_a == 0:
        raise ValueError("roc_auc needs at least one normal and one anomalous score")
    if torch.isnan(sn).any() or torch.isnan(sa).any():
        raise ValueError("roc_auc got NaN scores")
    _, inverse, counts = torch.unique(torch.cat([sn, sa]), sorted=True, return_inverse=True, return_counts=True)
    first = torch.cumsum(counts, 0) - counts + 1  # rank of the first of each group of ties (1-based)
    mid_rank = (first + (counts - 1) / 2.0).to(torch.float64)
    r_a = mid_rank[inverse[n_n:]].sum().item()
    return (r_a - n_a * (n_a + 1) / 2.0) / (n_a * n_n)


def roc_auc_interval(scores_normal: torch.Tensor, scores_anomalous: torch.Tensor, resamples: int = 1000,
                     seed: int = 0) -> Interval:
    """The ROC AUC with a 95 % percentile-bootstrap interval, each set resampled on its own (they are
    different images); `n` is the number of anomalous images."""
    sn, sa = torch.as_tensor(scores_normal).flatten().cpu(), torch.as_tensor(scores_anomalous).flatten().cpu()
    g = torch.Generator().manual_seed(seed)
    aucs = torch.tensor([roc_auc(sn[torch.randint(0, len(sn), (len(sn),), generator=g)],
                                 sa[torch.randint(0, len(sa), (len(sa),), generator=g)]) for _ in range(resamples)],
                        dtype=torch.float64)
    return Interval(roc_auc(sn, sa), aucs.quantile(0.025).item(), aucs.quantile(0.975).item(), len(sa))


def noise_images(n: int, seed: int = 0, shape: tuple[int, ...] = (1, 28, 28)) -> torch.Tensor:
    """n images of independent U[0, 1) pixels, float32 [n, *shape], from a CPU generator seeded with seed."""
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed))


def flipped_digits(images: torch.Tensor) -> torch.Tensor:
    """Each image flipped vertically and horizontally (= rotated by 180°), [N, 1, H, W] -> same."""
    return images.flip(dims=(-2, -1))


def inverted_digits(images: torch.Tensor) -> torch.Tensor:
    """Negative images: 1 - x for float images in [0, 1], 255 - x for uint8."""
    return 255 - images if images.dtype == torch.uint8 else 1.0 - images

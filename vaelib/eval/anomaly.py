"""Anomaly detection with a VAE: score images, then measure how well scores separate two sets.

A VAE trained on MNIST digits should find other images unlikely. Two scores, higher = more
anomalous:

- `elbo_scores`: -ELBO(x) in nats (a bound on -log p(x)), β = 1, z sampled.
- `reconstruction_scores`: mean squared error per pixel between x and the decoder mean at μ(x).

and one number for a pair of image sets, the ROC AUC (`roc_auc`): the probability that a random
anomalous image scores higher than a random normal one (1 = perfect, 0.5 = chance).

Anomalous sets that need no extra data: `noise_images` (uniform noise), `flipped_digits`
(digits rotated by 180°: same strokes, wrong shapes; 0, 1 and 8 barely change, so expect
AUC < 1), `inverted_digits` (white background). Fashion-MNIST (its test split is committed) is the classic
out-of-distribution set (`vaelib.data.load_test_split(dataset="fashion-mnist")`).
"""

from __future__ import annotations

import torch
from torch import nn

from vaelib.eval.stats import Interval

__all__ = [
    "elbo_scores", "reconstruction_scores", "roc_auc", "roc_auc_interval", "noise_images", "flipped_digits",
    "inverted_digits",
]


def _batches(x: torch.Tensor, batch_size: int):
    for i in range(0, x.shape[0], batch_size):
        yield x[i : i + batch_size]


@torch.no_grad()
def elbo_scores(
    model: nn.Module, x: torch.Tensor, k: int = 1, batch_size: int = 1000, seed: int | None = 0
) -> torch.Tensor:
    """Anomaly score -ELBO(x) per image, [N] nats, averaged over k draws of z ~ q(z | x).

    ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z)), from `model(x).elbo` (β = 1 whatever β trained it); each draw
    is the one-sample estimate, so k > 1 only lowers the noise (it is not the IWAE bound).
    x: [N, 1, 28, 28] the targets the model was trained on (grey, or binarized). Seeded through
    a forked RNG (seed=None uses the global one); the model is put in eval mode.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    model.eval()
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        out = []
        for xb in _batches(x, batch_size):
            total = torch.zeros(xb.shape[0], device=xb.device)
            for _ in range(k):
                total += model(xb).elbo
            out.append(-total / k)
    return torch.cat(out)


@torch.no_grad()
def reconstruction_scores(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Anomaly score (1/P) Σ_pixels (x - x̂)² per image, [N], x̂ = model.reconstruct(x) (the
    decoder mean at z = μ(x)). x: [N, 1, 28, 28] in [0, 1], usually grey values."""
    model.eval()
    return torch.cat([(model.reconstruct(xb) - xb).pow(2).flatten(1).mean(dim=1) for xb in _batches(x, batch_size)])


def roc_auc(scores_normal: torch.Tensor, scores_anomalous: torch.Tensor) -> float:
    """Area under the ROC curve for "higher score = anomalous", via the Mann-Whitney U statistic:

        AUC = P(s_a > s_n) + ½ P(s_a = s_n) = (R_a - n_a (n_a + 1) / 2) / (n_a n_n)

    R_a = sum of the ranks of the anomalous scores among all scores, ties given their mean rank
    (so each tied pair counts ½). scores_normal [n_n], scores_anomalous [n_a] -> float in [0, 1].
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
    """The ROC AUC with a 95 % percentile-bootstrap interval: both sets resampled with replacement,
    each on its own (they are different images). `Interval.mean` is the AUC of the data itself,
    `n` the number of anomalous images."""
    sn, sa = torch.as_tensor(scores_normal).flatten().cpu(), torch.as_tensor(scores_anomalous).flatten().cpu()
    g = torch.Generator().manual_seed(seed)
    aucs = torch.tensor([roc_auc(sn[torch.randint(0, len(sn), (len(sn),), generator=g)],
                                 sa[torch.randint(0, len(sa), (len(sa),), generator=g)]) for _ in range(resamples)],
                        dtype=torch.float64)
    return Interval(roc_auc(sn, sa), aucs.quantile(0.025).item(), aucs.quantile(0.975).item(), len(sa))


# ----------------------------------------------------------------------------- anomalous images


def noise_images(n: int, seed: int = 0, shape: tuple[int, ...] = (1, 28, 28)) -> torch.Tensor:
    """n images of independent U[0, 1) pixels, float32 [n, *shape], from a CPU generator seeded with seed."""
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed))


def flipped_digits(images: torch.Tensor) -> torch.Tensor:
    """Each image flipped vertically and horizontally (= rotated by 180°), [N, 1, H, W] -> same."""
    return images.flip(dims=(-2, -1))


def inverted_digits(images: torch.Tensor) -> torch.Tensor:
    """Negative images: 1 - x for float images in [0, 1], 255 - x for uint8."""
    return 255 - images if images.dtype == torch.uint8 else 1.0 - images

"""The Fréchet distance between two sets of images in a feature space: fit a Gaussian (mean μ,
covariance C) to the features of each set and take the Fréchet (2-Wasserstein²) distance between
the two (Dowson & Landau 1982; Heusel et al. 2017):

    FD = ||μ1 - μ2||² + Tr(C1 + C2 - 2 (C1^½ C2 C1^½)^½)

With Inception-v3 features this is the papers' FID; the default features here are the MNIST
classifier's (`vaelib.eval.classifier`), so compare rankings, not numbers with published FIDs. Any
callable `images [B, 1, 28, 28] in [0, 1] -> features [B, F]` plugs in as `extractor`. The
estimate from N images is biased upwards (terms of order Tr(C)/N): compare distances computed
from the same number of images.
"""

from __future__ import annotations

import functools
from typing import Callable

import torch
from torch import nn

from vaelib import data as vdata
from vaelib.eval.classifier import FEATURE_BATCH  # images per forward pass of a feature extractor

__all__ = ["Extractor", "gaussian_stats", "sqrtm_psd", "frechet_distance", "default_extractor", "extract_features",
           "frechet_distance_of", "frechet_scorer"]

Extractor = Callable[[torch.Tensor], torch.Tensor]


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance of features [N, F] (N >= 2), in float64 on the CPU.

    μ = (1/N) Σ_n f_n  [F];  C = 1/(N-1) Σ_n (f_n - μ)(f_n - μ)ᵀ  [F, F]
    """
    f = torch.as_tensor(features).detach().to("cpu", torch.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be [N, F] with N >= 2, got {tuple(f.shape)}")
    mu = f.mean(dim=0)
    d = f - mu
    return mu, d.T @ d / (f.shape[0] - 1)


def sqrtm_psd(c: torch.Tensor) -> torch.Tensor:
    """The PSD square root of a symmetric PSD matrix: V diag(√λ) Vᵀ from C = V diag(λ) Vᵀ, with
    tiny negative λ (round-off) clamped to 0. c: [F, F] -> [F, F]."""
    lam, v = torch.linalg.eigh(0.5 * (c + c.T))
    return (v * lam.clamp(min=0.0).sqrt()) @ v.T


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """FD = ||μ1 - μ2||² + Tr C1 + Tr C2 - 2 Tr (C1^½ C2 C1^½)^½, in float64; mu: [F], cov: [F, F] PSD.

    With A = C2^½ C1^½ (`sqrtm_psd`), AᵀA = C1^½ C2 C1^½, so the last trace is the sum of A's
    singular values: no non-symmetric `sqrtm` and no complex round-off, and FD(x, x) is ~1e-13 even
    for singular covariances.
    """
    mu1, mu2, cov1, cov2 = (torch.as_tensor(t).detach().to("cpu", torch.float64) for t in (mu1, mu2, cov1, cov2))
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.shape[0],) * 2:
        raise ValueError(f"shapes do not match: mu {tuple(mu1.shape)}, {tuple(mu2.shape)}; "
                         f"cov {tuple(cov1.shape)}, {tuple(cov2.shape)}")
    tr_sqrt = torch.linalg.svdvals(sqrtm_psd(cov2) @ sqrtm_psd(cov1)).sum()
    return float((mu1 - mu2).pow(2).sum() + torch.trace(cov1) + torch.trace(cov2) - 2.0 * tr_sqrt)


@functools.lru_cache(maxsize=1)
def default_extractor() -> Extractor:
    """`features` of the cached MNIST classifier (`load_or_train_classifier()` defaults; trains it
    the first time, a few CPU minutes)."""
    from vaelib.eval.classifier import load_or_train_classifier

    return load_or_train_classifier().features


@torch.no_grad()
def extract_features(images: torch.Tensor, extractor: Extractor | None = None,
                     batch_size: int = FEATURE_BATCH) -> torch.Tensor:
    """Features of images [N, 1, 28, 28] (uint8 grey values, or float in [0, 1]): [N, F] float64, CPU.

    Calls extractor on batches of at most batch_size images, moved to the extractor's device
    when it is (a method of) an nn.Module; None uses `default_extractor()`.
    """
    extractor = default_extractor() if extractor is None else extractor
    owner = getattr(extractor, "__self__", extractor)  # the module a bound method belongs to
    p = next(owner.parameters(), None) if isinstance(owner, nn.Module) else None
    dev = None if p is None else p.device
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = images[i : i + batch_size]
        x = vdata.to_unit(x) if x.dtype == torch.uint8 else x.float()
        out.append(extractor(x if dev is None else x.to(dev)).detach().to("cpu", torch.float64))
    return torch.cat(out)


def frechet_distance_of(images_a: torch.Tensor, images_b: torch.Tensor, extractor: Extractor | None = None,
                        batch_size: int = FEATURE_BATCH) -> float:
    """Fréchet distance between two image sets [N, 1, 28, 28] (uint8, or float in [0, 1]) in the
    feature space of extractor (default: the cached MNIST classifier's 128-d penultimate layer)."""
    return frechet_distance(*gaussian_stats(extract_features(images_a, extractor, batch_size)),
                            *gaussian_stats(extract_features(images_b, extractor, batch_size)))


def frechet_scorer(reference: torch.Tensor, extractor: Extractor | None = None,
                   batch_size: int = FEATURE_BATCH) -> Callable[[torch.Tensor], float]:
    """A function images -> Fréchet distance to `reference` [N, 1, 28, 28], with the reference's
    feature statistics computed once (scoring many models against the same test images)."""
    ref = gaussian_stats(extract_features(reference, extractor, batch_size))

    def score(images: torch.Tensor) -> float:
        return frechet_distance(*gaussian_stats(extract_features(images, extractor, batch_size)), *ref)

    return score

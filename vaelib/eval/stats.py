"""Intervals for the series' verdicts: a paired bootstrap over test images, and a verdict over
training seeds.

    d = paired_bootstrap(nll_a, nll_b)          # mean of a - b over images, 95 % interval
    print(d)                                    # "-2.49 [-3.10, -1.89]"
    seed_verdict([d0, d1, d2])                  # "lower", "higher" or "unclear"

A comparison of two trained models on the same test images is *paired*: image-to-image
variation (some digits are hard for every model) cancels in the per-image difference, so its
interval is much narrower than the two models' separate standard errors suggest. The bootstrap
resamples images with replacement and reads the 2.5 % and 97.5 % quantiles of the resampled mean
differences (the percentile interval; n in the thousands makes it close to mean ± 1.96 SE).

That interval is about *these two trained models*. A verdict about a modelling choice (an
architecture, a likelihood, β) must also survive training noise: `seed_verdict` takes one
paired interval per training seed (seed s of A against seed s of B) and calls the direction only
when every seed's interval excludes zero on the same side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

__all__ = ["Interval", "paired_bootstrap", "mean_se", "seed_verdict", "seed_intervals"]


@dataclass(frozen=True)
class Interval:
    """A mean difference with its 95 % bootstrap interval, over n images."""

    mean: float
    lo: float
    hi: float
    n: int

    @property
    def sign(self) -> int:
        """-1 if the whole interval is below zero, +1 if above, 0 if it contains zero."""
        return -1 if self.hi < 0 else 1 if self.lo > 0 else 0

    def format(self, spec: str = "+.3g") -> str:
        return f"{self.mean:{spec}} [{self.lo:{spec}}, {self.hi:{spec}}]"

    def __str__(self) -> str:
        return self.format()


def paired_bootstrap(a: torch.Tensor, b: torch.Tensor, resamples: int = 2000, seed: int = 0) -> Interval:
    """Mean over images of a - b (per-image scores of two models on the same images) and a 95 %
    percentile-bootstrap interval, images resampled with replacement (seeded)."""
    if a.shape != b.shape or a.dim() != 1:
        raise ValueError(f"need two [n] tensors of per-image values, got {tuple(a.shape)} and {tuple(b.shape)}")
    d = (a.double() - b.double()).cpu()
    g = torch.Generator().manual_seed(seed)
    means = torch.stack([d[torch.randint(0, len(d), (len(d),), generator=g)].mean() for _ in range(resamples)])
    return Interval(d.mean().item(), means.quantile(0.025).item(), means.quantile(0.975).item(), len(d))


def mean_se(values: torch.Tensor | Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample standard deviation / √n)."""
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    return v.mean().item(), (v.std() / math.sqrt(v.numel())).item() if v.numel() > 1 else math.nan


def seed_verdict(intervals: Sequence[Interval]) -> str:
    """"lower" if every seed's interval of a - b lies below zero, "higher" if every one lies
    above, else "unclear" (some seed's interval contains zero, or the seeds disagree)."""
    signs = {i.sign for i in intervals}
    if len(intervals) == 0 or len(signs) != 1 or 0 in signs:
        return "unclear"
    return "lower" if signs == {-1} else "higher"


def seed_intervals(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor], resamples: int = 2000) -> list[Interval]:
    """One `paired_bootstrap` interval of a - b per training seed: a[s] and b[s] are the per-image
    scores of seed s's two models on the same images."""
    if len(a) != len(b):
        raise ValueError(f"need the same number of seeds on both sides, got {len(a)} and {len(b)}")
    return [paired_bootstrap(x, y, resamples) for x, y in zip(a, b)]

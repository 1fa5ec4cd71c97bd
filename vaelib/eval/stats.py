"""Intervals for the series' verdicts: a paired bootstrap over test images, and a verdict over
training seeds.

    d = paired_bootstrap(nll_a, nll_b)          # mean of a - b over images, 95 % interval
    print(d)                                    # "-2.49 [-3.10, -1.89]"
    v = over_seeds([d0, d1, d2])                # one interval per training seed, then over seeds
    print(v)                                    # "-2.41 [-3.90, -0.92] over 3 seeds: lower"

Two models scored on the same test images are *paired*: image-to-image variation cancels in the
per-image difference, so its interval is much narrower than their separate standard errors suggest.
It is about *these two trained models*; a verdict about a modelling choice must also survive
training noise: `over_seeds` takes a Student-t interval over the per-seed differences. With 10,000
images each seed's interval excludes zero for almost any difference, so "three seeds agree"
(`seed_verdict`) is only a sign test: probability 1/4 under no effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

__all__ = ["Interval", "SeedLevel", "paired_bootstrap", "mean_se", "over_seeds", "seed_verdict", "seed_intervals",
           "t_quantile"]


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


def _t_cdf(t: float, df: int) -> float:
    """Student's t cdf for an integer df: a finite series in sin θ and cos² θ, θ = atan(t / √df)
    (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for j in range(1, df // 2):
            term *= c2 * (2 * j - 1) / (2 * j)
            total += term
        return 0.5 + 0.5 * s * total
    total = theta
    if df > 1:
        term, series = 1.0, 1.0
        for j in range(1, (df - 1) // 2):
            term *= c2 * (2 * j) / (2 * j + 1)
            series += term
        total += s * math.cos(theta) * series
    return 0.5 + total / math.pi


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with an integer df >= 1 (bisection on the closed-form cdf)."""
    if df < 1 or not 0.0 < p < 1.0:
        raise ValueError(f"need an integer df >= 1 and 0 < p < 1, got df={df}, p={p}")
    lo, hi = -1e6, 1e6
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class SeedLevel:
    """A verdict about a modelling choice, decided over k training seeds: the mean of the per-seed
    paired differences and its 95 % Student-t interval over seeds; `per_seed` keeps each seed's
    own image-bootstrap interval."""

    mean: float
    lo: float
    hi: float
    per_seed: tuple[Interval, ...]

    @property
    def k(self) -> int:
        return len(self.per_seed)

    @property
    def verdict(self) -> str:
        """"lower" (A - B below zero over seeds), "higher", or "undecided"."""
        return "lower" if self.hi < 0 else "higher" if self.lo > 0 else "undecided"

    @property
    def borderline(self) -> bool:
        """|mean| within 30 % of the half-width (t within 30 % of its critical value): fresh seeds, or
        the same seeds trained again on another machine, can move the verdict across zero."""
        return self.hi > self.lo and 0.7 < abs(self.mean) / ((self.hi - self.lo) / 2) < 1.3

    def format(self, spec: str = "+.3g") -> str:
        return f"{self.mean:{spec}} [{self.lo:{spec}}, {self.hi:{spec}}] over {self.k} seeds: {self.verdict}"

    def __str__(self) -> str:
        return self.format()


def over_seeds(intervals: Sequence[Interval], level: float = 0.95) -> SeedLevel:
    """The seed-level verdict: mean of the per-seed mean differences d_s, ± t_{k-1} · sd(d_s) / √k.
    Needs k >= 2 seeds (one seed says nothing about training noise)."""
    if len(intervals) < 2:
        raise ValueError(f"a verdict over seeds needs at least 2 seeds, got {len(intervals)}")
    d = torch.tensor([i.mean for i in intervals], dtype=torch.float64)
    k = len(d)
    half = t_quantile(0.5 + level / 2, k - 1) * d.std().item() / math.sqrt(k)
    m = d.mean().item()
    return SeedLevel(m, m - half, m + half, tuple(intervals))


def seed_verdict(intervals: Sequence[Interval]) -> str:
    """The weaker rule (a sign test when images are many; prefer `over_seeds`): "lower" if every
    seed's interval of a - b lies below zero, "higher" if every one lies above, else "unclear"."""
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

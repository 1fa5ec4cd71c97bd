"""Per-image scores, and the one canonical negative log-likelihood per model, `canonical_nll`.

Every model is scored under **its own likelihood, on the data it models**: a Bernoulli decoder on
the fixed binarization of the test set; a Gaussian decoder, whose density of grey values is not a
probability, on the 8-bit test images through its bins (`DiscretizedGaussian`). The two scales are
on different data, so a Bernoulli and a Gaussian model cannot be ranked by likelihood
(`BernoulliReadout` puts a Gaussian decoder's mean on the binary scale only as a readout).

`canonical_nll(run)` is the NLL every notebook prints, stored per image in the run's cache folder
so that any two models compare image by image (`vaelib.eval.stats.paired_bootstrap`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vaelib import data as vdata
from vaelib.cache import fingerprint
from vaelib.losses import bernoulli_log_prob, discretized_gaussian_log_prob
from vaelib.metrics import per_image_nll  # the per-image IWAE estimate, re-exported here
from vaelib.runs import TEST_IWAE
from vaelib.runtime import atomic_path, brief

__all__ = ["BernoulliReadout", "DiscretizedGaussian", "NLL", "per_image_nll", "per_image_elbo", "per_image_mse", "nll_scale",
           "scored_images", "canonical_nll", "HEADLINE_K", "NLL_BATCH", "N_TEST"]

#: images in the official test split (MNIST and Fashion-MNIST alike): what an "all images" NLL file holds
N_TEST = 10_000
#: importance samples of the headline NLL (all 10,000 test images), and images per batch
HEADLINE_K, NLL_BATCH = 100, 100


class BernoulliReadout(nn.Module):
    """Read any VAE's decoder mean E[x | z], clipped to [eps, 1 - eps], as p(x_i = 1 | z): a
    log-probability of the *binarized* test set for every model (a Gaussian decoder's density on
    binary images grows without bound as σ shrinks)."""

    def __init__(self, model: nn.Module, eps: float = 1e-4) -> None:
        super().__init__()
        self.model, self.eps = model, eps

    def encode(self, x: torch.Tensor):
        return self.model.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.logit(self.model.mean(self.model.decode(z)).clamp(self.eps, 1 - self.eps))

    def log_likelihood(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return bernoulli_log_prob(x, logits)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.log_prior(z)


class DiscretizedGaussian(nn.Module):
    """A Gaussian VAE scored as a model of 8-bit images: same encoder, decoder and σ, with
    log p(x | z) the probability of x's grey-level bins (`discretized_gaussian_log_prob`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if model.config.likelihood != "gaussian":
            raise ValueError("DiscretizedGaussian needs a Gaussian decoder")
        self.model = model

    def encode(self, x: torch.Tensor):
        return self.model.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z)

    def log_likelihood(self, x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        return discretized_gaussian_log_prob(x, mean, self.model.log_sigma())

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.log_prior(z)


@torch.no_grad()
def per_image_elbo(model: nn.Module, x: torch.Tensor, seed: int = 0, batch_size: int = 1000,
                   labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The ELBO (β = 1) and its two terms for each image, one sampled z each, [N] nats on the CPU:
    "elbo", "log_px" (E_q log p(x | z)) and "kl". A conditional model (a CVAE) is given each image's
    label: then they are the bound on log p(x | y) and its terms."""
    model.eval()
    parts: dict[str, list[torch.Tensor]] = {"elbo": [], "log_px": [], "kl": []}
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for i in range(0, x.shape[0], batch_size):
            t = model(x[i : i + batch_size]) if labels is None else model(x[i : i + batch_size], labels[i : i + batch_size])
            for name, v in (("elbo", t.elbo), ("log_px", t.reconstruction), ("kl", t.kl)):
                parts[name].append(v.cpu())
    return {name: torch.cat(v) for name, v in parts.items()}


@torch.no_grad()
def per_image_mse(model: nn.Module, grey: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Mean over pixels of (x - E[x | z = μ(x)])² for each grey image, [N] on the CPU (its mean
    over images is `vaelib.metrics.reconstruction_mse`)."""
    model.eval()
    out = [(model.reconstruct(x) - x).pow(2).flatten(1).mean(1).cpu()
           for x in (grey[i : i + batch_size] for i in range(0, grey.shape[0], batch_size))]
    return torch.cat(out)


def nll_scale(model: nn.Module) -> str:
    """"binarized" for a Bernoulli decoder, "8-bit" for a Gaussian or logistic one: the data it models."""
    return "binarized" if model.config.likelihood == "bernoulli" else "8-bit"


def scored_images(model: nn.Module, images: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """(scorer, x): the model under its own likelihood and the uint8 images as the data it models
    (the fixed binarization for a Bernoulli decoder, the grey levels v/255 for the others: a
    Gaussian scored through its bins, a discretized logistic as it is)."""
    if nll_scale(model) == "binarized":
        return model, vdata.fixed_binarization(images)
    scorer = DiscretizedGaussian(model) if model.config.likelihood == "gaussian" else model
    return scorer, vdata.to_unit(images)


@dataclass(frozen=True)
class NLL:
    """A canonical NLL: per-image values and how they were computed."""

    per_image: torch.Tensor  # [n] nats
    k: int
    scale: str  # "binarized" or "8-bit"

    @property
    def n(self) -> int:
        return int(self.per_image.numel())

    @property
    def mean(self) -> float:
        return self.per_image.double().mean().item()

    @property
    def se(self) -> float:
        return (self.per_image.double().std() / math.sqrt(self.n)).item()

    @property
    def bits_per_dim(self) -> float:
        return self.mean / (784 * math.log(2))

    def __str__(self) -> str:
        return f"{self.mean:.2f} ± {self.se:.2f} nats ({self.scale}, n = {self.n:,}, k = {self.k})"


def _read_nll(path: Path, code: dict[str, str], length: int) -> torch.Tensor | None:
    """The stored per-image NLLs, or None when there are none made by this code. A damaged file (it
    cannot be read, or holds other than `length` finite positive values: -L_k of a discrete image
    is > 0) is said in one line and computed again."""
    if not path.exists():
        return None
    try:
        stored = torch.load(path, weights_only=True)
        if not isinstance(stored, dict) or stored.get("code") != code:
            return None  # made by other code (or by a vaelib before code stamps): computed again
        values = stored["nll"]
        ok = (isinstance(values, torch.Tensor) and values.shape == (length,) and values.is_floating_point()
              and bool(torch.isfinite(values).all()) and bool((values > 0).all()))
        problem = None if ok else f"not {length} finite positive values"
    except Exception as e:  # a truncated or corrupt file
        problem, values = brief(e), None
    if problem is None:
        return values
    print(f"{path} is damaged ({problem}); computing it again")
    return None


def canonical_nll(run: Any, test: bool = False, n: int | None = None) -> NLL:
    """The run's headline NLL (a `vaelib.cache.CachedRun`): -L_k with k = HEADLINE_K on all test
    images (test mode: TEST_IWAE's k and n), under its own likelihood; cached in the run's folder
    with the stamp of the code that computed it (vaelib.cache.code_stamp), so a change of that code
    computes it again. n: the first n test images, a multiple of NLL_BATCH (one seeded stream, so
    these are the first n values of the all-images estimate).
    """
    if n is not None and n % NLL_BATCH:
        raise ValueError(f"n must be a multiple of {NLL_BATCH} (whole batches of one seeded stream), got {n}")
    k, n_all = (TEST_IWAE["iwae_k"], TEST_IWAE["iwae_n"]) if test else (HEADLINE_K, None)
    n = n if n_all is None or (n is not None and n < n_all) else n_all
    scale = nll_scale(run.model)
    folder = Path(run.folder)
    code = {**run.code, "eval/likelihood.py": fingerprint("eval/likelihood.py")}  # what computed these numbers
    for m in dict.fromkeys((n_all, n)):  # the largest cached estimate that contains the first n images
        path = folder / f"nll-{scale}-k{k}-n{m or 'all'}.pt"
        values = _read_nll(path, code, m or N_TEST)
        if values is not None:
            return NLL(values[:n], k, scale)
    images = vdata.load_test_split(dataset=run.train_config.dataset).images
    scorer, x = scored_images(run.model, images[:n] if n else images)
    values = per_image_nll(scorer, x.to(next(run.model.parameters()).device), k, batch_size=NLL_BATCH)
    with atomic_path(path, suffix=".tmp.pt") as tmp:
        torch.save({"nll": values, "code": code}, tmp)
    return NLL(values, k, scale)

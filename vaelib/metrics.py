"""How good is a trained VAE? Test-set metrics, each with its protocol in its name or docstring.

- test ELBO: one sampled z per image (the mean of q is not the ELBO), β = 1, nats per image.
- IWAE NLL: -L_k with k importance samples (vaelib.losses.iwae_bound), the log-likelihood estimate.
- reconstruction MSE per pixel: grey test images against the decoder mean at z = μ(x) (the metric
  the seed documents report).
- active units: latent dimensions whose E_q[z | x] varies over the data, Var_x(μ(x)) > 0.01
  (Burda et al. 2016).

Targets: a model trained on binarized data is scored on the *fixed* binarization of the test set;
one trained on grey values on the grey values. `metrics["eval_targets"]` records which.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from vaelib import data as vdata
from vaelib.losses import bernoulli_log_prob, iwae_bound


def eval_inputs(images: torch.Tensor, mode: str) -> torch.Tensor:
    """uint8 test images -> the float targets a metric uses ("grey" or "fixed")."""
    if mode == "grey":
        return vdata.to_unit(images)
    if mode == "fixed":
        return vdata.fixed_binarization(images)
    raise ValueError(f"evaluation targets must be 'grey' or 'fixed', got {mode!r}")


@torch.no_grad()
def elbo_parts(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> dict[str, float]:
    """Mean test ELBO, E_q[log p(x|z)] and KL over x (one sampled z each, β = 1), nats."""
    model.eval()
    tot = {"elbo": 0.0, "log_px": 0.0, "kl": 0.0}
    for i in range(0, x.shape[0], batch_size):
        t = model(x[i : i + batch_size], beta=1.0)
        tot["elbo"] += t.elbo.sum().item()
        tot["log_px"] += t.reconstruction.sum().item()
        tot["kl"] += t.kl.sum().item()
    return {k: v / x.shape[0] for k, v in tot.items()}


@torch.no_grad()
def reconstruction_mse(model: nn.Module, grey: torch.Tensor, batch_size: int = 1000) -> float:
    """Mean over pixels and images of (x - E[x | z = μ(x)])², x the grey test images in [0, 1]."""
    model.eval()
    total = 0.0
    for i in range(0, grey.shape[0], batch_size):
        x = grey[i : i + batch_size]
        total += (model.reconstruct(x) - x).pow(2).sum().item()
    return total / grey.numel()


@torch.no_grad()
def latent_means(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """μ(x) for every image, [N, D]."""
    model.eval()
    return torch.cat([model.encode(x[i : i + batch_size])[0] for i in range(0, x.shape[0], batch_size)])


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> int:
    """Number of dimensions d with Var_x(μ_d(x)) > threshold. mu: [N, D]."""
    return int((mu.var(dim=0) > threshold).sum().item())


class BernoulliReadout(nn.Module):
    """Read any VAE's decoder mean as Bernoulli pixel probabilities.

    A Gaussian decoder's density on binary images is not a probability (it grows without bound
    as σ shrinks), so its IWAE "NLL" cannot be set beside a Bernoulli model's. Reading the mean
    E[x | z] in [0, 1] as p(x_i = 1 | z) gives every model a log-probability of the *binarized*
    test set, in nats, on one scale. Means are clipped to [eps, 1 - eps].
    """

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


@torch.no_grad()
def iwae_nll(
    model: nn.Module, x: torch.Tensor, k: int, batch_size: int | None = None, seed: int = 0
) -> float:
    """-mean_x L_k(x), nats per image: the IWAE estimate of the negative log-likelihood.

    Batched so that batch_size × min(k, chunk) decoder passes run at once; on a GPU k = 5000 over
    the whole test set takes seconds, on a 2-core CPU minutes.
    """
    model.eval()
    if batch_size is None:
        batch_size = 100 if k >= 100 else 1000
    total = 0.0
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # seeded, without disturbing the caller's RNG
        torch.manual_seed(seed)
        for i in range(0, x.shape[0], batch_size):
            total += iwae_bound(model, x[i : i + batch_size], k).sum().item()
    return -total / x.shape[0]


def cheap_metrics(model: nn.Module, test: vdata.Split, tcfg: Any, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The metrics `train` ends with: ELBO, MSE and active units on the whole test set, and an
    IWAE estimate with tcfg.iwae_k samples on the first tcfg.iwae_n test images (seconds on a CPU)."""
    return evaluate(model, test, eval_targets="fixed" if tcfg.targets == "dynamic" else "grey",
                    iwae_k=tcfg.iwae_k, iwae_n=tcfg.iwae_n, device=device)


def evaluate(
    model: nn.Module,
    test: vdata.Split,
    eval_targets: str = "fixed",
    iwae_k: int = 5000,
    iwae_n: int | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """All test metrics of one model. iwae_n=None uses every test image; iwae_k=0 skips IWAE."""
    model = model.to(device).eval()
    images = test.images.to(device)
    x = eval_inputs(images, eval_targets)
    grey = vdata.to_unit(images)
    parts = elbo_parts(model, x)
    mu = latent_means(model, x)
    out: dict[str, Any] = {
        "eval_targets": eval_targets,
        "test_images": int(x.shape[0]),
        "test_elbo": parts["elbo"],
        "test_log_px": parts["log_px"],
        "test_kl": parts["kl"],
        "test_loss": -parts["elbo"],
        "recon_mse": reconstruction_mse(model, grey),
        "active_units": active_units(mu),
        "latent_dim": int(mu.shape[1]),
    }
    if iwae_k > 0:
        n = x.shape[0] if iwae_n is None else min(iwae_n, x.shape[0])
        out.update(iwae_k=int(iwae_k), iwae_n=int(n), iwae_nll=iwae_nll(model, x[:n], iwae_k))
    else:
        out.update(iwae_k=0, iwae_n=0, iwae_nll=math.nan)
    return out

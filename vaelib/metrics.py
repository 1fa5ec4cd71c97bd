"""How good is a trained VAE? Test-set metrics, each with its protocol in its name or docstring.

- test ELBO: one sampled z per image (the mean of q is not the ELBO), β = 1, nats per image.
- IWAE NLL: -L_k with k importance samples (vaelib.losses.iwae_bound), the log-likelihood estimate.
- reconstruction MSE per pixel: grey test images against the decoder mean at z = μ(x) (the metric
  the source documents report).
- active units: latent dimensions whose E_q[z | x] varies over the data, Var_x(μ(x)) > 0.01
  (Burda et al. 2016).
- the rate split (Hoffman & Johnson 2016, `rate_decomposition`): E_x KL(q(z|x) || p(z)) =
  I_q(x; z) + KL(q(z) || p(z)), and a lower bound on the second term (`moment_kl`).

Which metrics apply is the model's to say (`VAE.METRICS`, `TERMS`, `RATE`); every family also
reports the test mean of each of its loss terms. A WAE has no ELBO and no posterior (test_elbo,
test_kl and the IWAE are NaN); a VQ-VAE's q is one-hot, so its IWAE bound equals its ELBO for
every k, and it reports codebook use instead of active units. The test images are scored as
`vaelib.data.eval_targets_for` says (recorded as `metrics["eval_targets"]`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from vaelib import data as vdata
from vaelib.losses import (aggregate_log_prob, gaussian_diag_log_prob, iwae_bound,
                           kl_std_normal_terms)

__all__ = ["mean_terms", "reconstruction_mse", "latent_means", "kl_per_dimension", "active_units", "rate_decomposition", "moment_kl", "posterior_params",
           "per_image_nll", "iwae_nll", "cheap_metrics", "evaluate"]


@torch.no_grad()
def mean_terms(model: nn.Module, x: torch.Tensor, batch_size: int = 1000,
               labels: torch.Tensor | None = None) -> dict[str, float]:
    """Means over x of the model's forward (one sampled z each), nats: "loss" (with the model's own
    β), "elbo" (β = 1; NaN for a model without one), "log_px" (E_q[log p(x|z)]) and each of its
    TERMS, scored in eval mode. `labels` [N]: a conditional model's (LABELS) labels of x."""
    was_training = model.training
    model.eval()
    names = ("loss", "elbo", "log_px", *model.TERMS)
    sums = dict.fromkeys(names, 0.0)
    for i in range(0, x.shape[0], batch_size):
        t = model(x[i : i + batch_size]) if labels is None else model(x[i : i + batch_size], labels[i : i + batch_size])
        sums["loss"] += t.loss.sum().item()
        sums["elbo"] += math.nan if t.elbo is None else t.elbo.sum().item()
        sums["log_px"] += t.reconstruction.sum().item()
        for name in model.TERMS:
            sums[name] += getattr(t, name).sum().item()
    model.train(was_training)
    n = max(x.shape[0], 1)
    return {k: v / n for k, v in sums.items()}


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
    """μ(x) for every image, [N, D] (also for a model without a log σ², such as the WAE)."""
    model.eval()
    return torch.cat([model.encode(x[i : i + batch_size])[0] for i in range(0, x.shape[0], batch_size)])


@torch.no_grad()
def posterior_params(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """μ(x) and log σ²(x) of a Gaussian q(z | x) for every image, [N, D] each, `batch_size` at a time."""
    model.eval()
    mus, logvars = zip(*(model.encode(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)))
    return torch.cat(mus), torch.cat(logvars)


@torch.no_grad()
def kl_per_dimension(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over x of KL_d(x) = ½(μ_d² + σ_d² - 1 - log σ_d²) for each latent dimension d
    (vaelib.losses.kl_std_normal_terms), [D] nats, and the means μ(x), [N, D]; both on the CPU."""
    mu, logvar = posterior_params(model, x, batch_size)
    return kl_std_normal_terms(mu, logvar).mean(0).cpu(), mu.cpu()


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> int:
    """Number of dimensions d with Var_x(μ_d(x)) > threshold. mu: [N, D]."""
    return int((mu.var(dim=0) > threshold).sum().item())


@torch.no_grad()
def rate_decomposition(model: nn.Module, x: torch.Tensor, samples: int = 1, seed: int = 0,
                       batch_size: int = 1000) -> dict[str, float]:
    """E_x KL(q(z|x) || p(z)) = I_q(x; z) + KL(q(z) || p(z)) on the N images x (Hoffman & Johnson 2016).

    q(z) = (1/N) Σ_n q(z | x_n), exact (vaelib.losses.aggregate_log_prob); z is drawn `samples`
    times from each q(z | x_m). Monte Carlo estimates, nats per image, with standard errors:
    rate = mean[log q(z|x_m) - log p(z)], mutual_information = mean[log q(z|x_m) - log q(z)],
    marginal_kl = mean[log q(z) - log p(z)]; rate = mutual_information + marginal_kl exactly.
    The information estimate is InfoNCE's lower bound (q(z | x) the critic): it never exceeds log N,
    so the marginal KL is then an upper bound; read the split only where the rate is well below
    `log_n`. Needs a Gaussian q(z | x) (METRICS include "iwae").
    """
    if "iwae" not in model.METRICS or hasattr(model, "log_weights"):
        raise ValueError(f"{model.config.kind}: rate_decomposition needs one Gaussian q(z | x) and p(z) = log_prior")
    mu, logvar = posterior_params(model, x, batch_size)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    eps = torch.randn(samples, *mu.shape, generator=gen).to(mu.device)
    z = (mu + (0.5 * logvar).exp() * eps).reshape(-1, mu.shape[1])  # [samples · N, D]
    log_cond = gaussian_diag_log_prob(z, mu.repeat(samples, 1), logvar.repeat(samples, 1))
    log_agg, log_prior = aggregate_log_prob(z, mu, logvar), model.log_prior(z)
    parts = {"rate": log_cond - log_prior, "mutual_information": log_cond - log_agg,
             "marginal_kl": log_agg - log_prior}
    out = {k: v.mean().item() for k, v in parts.items()}
    out.update({f"{k}_se": (v.std() / math.sqrt(v.numel())).item() for k, v in parts.items()})
    return {**out, "n": int(mu.shape[0]), "samples": int(samples), "log_n": math.log(mu.shape[0])}


def moment_kl(mu: torch.Tensor, logvar: torch.Tensor | None = None) -> float:
    """KL(N(m, Σ) || N(0, I)) of the Gaussian with the first two moments of a code cloud, nats: a
    lower bound on KL(q(z) || N(0, I)), the aggregate posterior's mismatch with a standard prior.

    mu: [N, D] codes (e.g. a WAE's z) or posterior means, with logvar: [N, D] their log σ²; then
    q(z) = (1/N) Σ_n N(μ_n, diag σ_n²), m = mean(μ), Σ = Cov(μ) + diag(mean(σ²)). Why a bound:
    log N(z; m, Σ) - log N(z; 0, I) is quadratic in z, so KL(q || p) = KL(q || N(m, Σ)) +
    KL(N(m, Σ) || p) ≥ the second term. No log N cap (unlike rate_decomposition), but blind to
    what two moments do not show (holes, clusters); bias of order D² / N.
    """
    z = mu.double()
    n, d = z.shape
    m = z.mean(0)
    cov = (z - m).T @ (z - m) / n
    if logvar is not None:
        cov = cov + torch.diag(logvar.double().exp().mean(0))
    return 0.5 * (torch.trace(cov) + m.pow(2).sum() - d - torch.linalg.slogdet(cov)[1]).item()


@torch.no_grad()
def per_image_nll(model: nn.Module, x: torch.Tensor, k: int, seed: int = 0, batch_size: int = 100) -> torch.Tensor:
    """-L_k(x) for each image, [N] nats on the CPU (vaelib.losses.iwae_bound), `batch_size` images
    at a time from one seeded stream, without disturbing the caller's random state."""
    model.eval()
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return -torch.cat([iwae_bound(model, x[i : i + batch_size], k).cpu() for i in range(0, x.shape[0], batch_size)])


def iwae_nll(
    model: nn.Module, x: torch.Tensor, k: int, batch_size: int | None = None, seed: int = 0
) -> float:
    """-mean_x L_k(x), nats per image: the IWAE estimate of the negative log-likelihood, the mean
    of `per_image_nll` (k = 5000 on the whole test set: seconds on a GPU, minutes on 2 CPU cores)."""
    if batch_size is None:
        batch_size = 100 if k >= 100 else 1000
    return per_image_nll(model, x, k, seed, batch_size).double().mean().item()


def cheap_metrics(model: nn.Module, test: vdata.Split, tcfg: Any, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The metrics `train` ends with: ELBO, MSE and active units on the whole test set, and an
    IWAE estimate with tcfg.iwae_k samples on the first tcfg.iwae_n test images (seconds on a CPU)."""
    return evaluate(model, test, eval_targets=vdata.eval_targets_for(tcfg.targets),
                    iwae_k=tcfg.iwae_k, iwae_n=tcfg.iwae_n, device=device)


def evaluate(model: nn.Module, test: vdata.Split, eval_targets: str = "fixed", iwae_k: int = 5000,
        iwae_n: int | None = None, device: torch.device | str = "cpu") -> dict[str, Any]:
    """All test metrics that apply to the model (its METRICS). iwae_n=None uses every test
    image; iwae_k=0 skips IWAE."""
    model = model.to(device).eval()
    images = test.images.to(device)
    x = vdata.eval_inputs(images, eval_targets)
    parts = mean_terms(model, x, labels=test.labels.to(device) if model.LABELS else None)
    has_elbo = "elbo" in model.METRICS
    out: dict[str, Any] = {
        "model_kind": model.config.kind,
        "eval_targets": eval_targets,
        "test_images": int(x.shape[0]),
        "test_elbo": parts["elbo"] if has_elbo else math.nan,
        "test_log_px": parts["log_px"],
        "test_kl": parts[model.RATE] if has_elbo else math.nan,
        "test_loss": -parts["elbo"] if has_elbo else math.nan,
        "recon_mse": reconstruction_mse(model, vdata.to_unit(images)) if model.RECONSTRUCTS else math.nan,
    }
    out.update({f"test_{t}": parts[t] for t in model.TERMS if t != "kl"})
    out.update(_latent_metrics(model, x))
    if "iwae" in model.METRICS and iwae_k > 0:
        n = x.shape[0] if iwae_n is None else min(iwae_n, x.shape[0])
        out.update(iwae_k=int(iwae_k), iwae_n=int(n), iwae_nll=iwae_nll(model, x[:n], iwae_k))
    else:
        out.update(iwae_k=0, iwae_n=0, iwae_nll=math.nan)
    return out


def _latent_metrics(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """Active units of a continuous code, or codebook use (codes used, perplexity) of a discrete one."""
    if model.LABELS:  # its codes are q(z | x, y): not a code of x alone
        return {"active_units": math.nan, "latent_dim": int(model.latent_dim)}
    if "codebook" in model.METRICS:
        from vaelib.models.vqvae import codebook_usage  # noqa: PLC0415
        with torch.no_grad():
            codes = torch.cat([model.codes(x[i : i + 1000]) for i in range(0, x.shape[0], 1000)])
        return {"active_units": math.nan, "latent_dim": int(codes[0].numel()),
                **codebook_usage(codes, model.codebook_size)}
    mu = latent_means(model, x)
    return {"active_units": active_units(mu) if "active_units" in model.METRICS else math.nan,
            "latent_dim": int(mu.shape[1])}

"""The math of a VAE, one function per equation.

Every function returns **one value per example, in nats**: sums over pixels and latent
dimensions, never means. Average over the batch yourself (the trainer does). β is explicit.

    log p(x) >= ELBO(x) = E_q[log p(x | z)] - β · KL(q(z | x) || p(z))      (β = 1: the true bound)

Grep map (equation -> function):

    z = μ + σ·ε                                   reparameterize
    KL(N(μ, σ²) || N(0, I))                       kl_std_normal
    log N(z; μ, σ²)                               gaussian_diag_log_prob
    log p(x | logits) (Bernoulli)                 bernoulli_log_prob
    log N(x; mean, σ²)                            gaussian_log_prob
    ELBO with β                                   elbo
    log (1/k) Σ p(x, z_i) / q(z_i | x)            iwae_bound
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)


def _sum_per_example(t: torch.Tensor) -> torch.Tensor:
    """Sum every dimension but the first: [B, ...] -> [B]."""
    return t.reshape(t.shape[0], -1).sum(dim=1)


# ----------------------------------------------------------------------------- latent


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = μ + σ·ε with σ = exp(½ logvar) and ε ~ N(0, I).

    The randomness lives in ε, so gradients flow through μ and σ (Kingma & Welling 2014, §2.4).
    mu, logvar: [B, D] -> z: [B, D].
    """
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) || N(0, I)) = -½ Σ_j (1 + log σ_j² - μ_j² - σ_j²)   (K&W 2014, App. B).

    mu, logvar: [B, D] -> [B] nats.
    """
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


def gaussian_diag_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag σ²) = -½ Σ_j [log 2π + log σ_j² + (z_j - μ_j)² / σ_j²].

    Shapes broadcast; the last dimension is summed. Used for log q(z | x) and log p(z).
    """
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def std_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) = -½ Σ_j (log 2π + z_j²). z: [..., D] -> [...]."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(dim=-1)


# ----------------------------------------------------------------------------- likelihoods


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) = Σ_i [x_i log σ(l_i) + (1 - x_i) log(1 - σ(l_i))] = -BCE(x, σ(l)).

    x: targets in [0, 1], shape [B, ...] (binary for a true Bernoulli likelihood; grey values give
    the "continuous BCE" that pytorch/examples reports, which is not a normalised density).
    logits: same shape. Returns [B] nats. Computed from logits for numerical stability.
    """
    return -_sum_per_example(F.binary_cross_entropy_with_logits(logits, x, reduction="none"))


def gaussian_log_prob(
    x: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor | float
) -> torch.Tensor:
    """log N(x; mean, σ² I) = Σ_i [-(x_i - x̂_i)² / (2σ_i²) - log σ_i - ½ log 2π].

    With one fixed σ this is -‖x - x̂‖² / (2σ²) - D log σ - (D/2) log 2π: "MSE loss" is a Gaussian
    likelihood with a fixed σ, and the 1/(2σ²) in front hides a β = 2σ².
    log_sigma: a float, a scalar tensor (one learned σ), or a tensor broadcastable to x
    (per-pixel σ). x, mean: [B, ...]. Returns [B] nats.
    """
    log_sigma = torch.as_tensor(log_sigma, dtype=mean.dtype, device=mean.device)
    log_sigma = log_sigma.expand_as(mean)
    sq = (x - mean).pow(2) * torch.exp(-2.0 * log_sigma)
    return _sum_per_example(-0.5 * sq - log_sigma - 0.5 * LOG_2PI)


# ----------------------------------------------------------------------------- bounds


@dataclass
class ELBOTerms:
    """Per-example parts of the (β-)ELBO, all [B] nats.

    loss = -(reconstruction - β·kl) is what the optimiser minimises (mean over the batch);
    elbo = reconstruction - kl is the true bound whatever β was used for training.
    """

    reconstruction: torch.Tensor  # E_q[log p(x|z)], one-sample estimate
    kl: torch.Tensor
    elbo: torch.Tensor
    loss: torch.Tensor
    beta: float


def elbo(log_px_given_z: torch.Tensor, kl: torch.Tensor, beta: float = 1.0) -> ELBOTerms:
    """ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)); training loss = -(E_q[log p(x|z)] - β KL).

    log_px_given_z: [B] (one sample of z per example), kl: [B]. β = 1 gives the evidence lower
    bound; β ≠ 1 is the β-VAE objective (Higgins et al. 2017), and then loss ≠ -elbo.
    """
    return ELBOTerms(
        reconstruction=log_px_given_z,
        kl=kl,
        elbo=log_px_given_z - kl,
        loss=-(log_px_given_z - beta * kl),
        beta=float(beta),
    )


class LatentVariableModel(Protocol):
    """What iwae_bound needs of a model (vaelib.models.VAE provides it)."""

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...  # μ, log σ²

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...

    def log_likelihood(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor: ...

    def log_prior(self, z: torch.Tensor) -> torch.Tensor: ...


@torch.no_grad()
def iwae_bound(
    model: LatentVariableModel, x: torch.Tensor, k: int, chunk_size: int | None = None
) -> torch.Tensor:
    """Importance-weighted bound L_k = log (1/k) Σ_i p(x, z_i) / q(z_i | x), z_i ~ q(z | x).

    (Burda, Grosse & Salakhutdinov 2016.) L_1 is the ELBO; L_k rises with k towards log p(x).
    x: [B, ...] -> [B] nats. Samples are drawn in chunks of at most `chunk_size` per example
    (default: enough that chunk × B ≤ 2**16 decoder passes at a time), and combined with a
    running log-sum-exp, so k = 5000 fits in memory.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    b = x.shape[0]
    if chunk_size is None:
        chunk_size = max(1, min(k, 2**16 // max(b, 1)))
    mu, logvar = model.encode(x)
    total = torch.full((b,), -math.inf, device=x.device, dtype=mu.dtype)
    done = 0
    while done < k:
        s = min(chunk_size, k - done)
        z = mu.unsqueeze(0) + torch.exp(0.5 * logvar).unsqueeze(0) * torch.randn(
            (s, *mu.shape), device=mu.device, dtype=mu.dtype
        )  # [s, B, D]
        flat_z = z.reshape(s * b, -1)
        params = model.decode(flat_z)
        x_rep = x.unsqueeze(0).expand(s, *x.shape).reshape(s * b, *x.shape[1:])
        log_px = model.log_likelihood(x_rep, params).reshape(s, b)
        log_pz = model.log_prior(flat_z).reshape(s, b)
        log_qz = gaussian_diag_log_prob(z, mu.unsqueeze(0), logvar.unsqueeze(0))  # [s, B]
        log_w = log_px + log_pz - log_qz
        total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))
        done += s
    return total - math.log(k)

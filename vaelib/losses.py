"""The math of a VAE, one function per equation.

Every function returns **one value per example, in nats**: sums over pixels and latent
dimensions, never means. Average over the batch yourself (the trainer does). β is explicit.

    log p(x) >= ELBO(x) = E_q[log p(x | z)] - β · KL(q(z | x) || p(z))      (β = 1: the true bound)

Grep map (equation -> function):

    z = μ + σ·ε                                   reparameterize
    KL(N(μ, σ²) || N(0, I))                       kl_std_normal (per dimension: kl_std_normal_terms)
    log N(z; μ, σ²)                               gaussian_diag_log_prob
    log p(x | logits) (Bernoulli)                 bernoulli_log_prob
    log N(x; mean, σ²)                            gaussian_log_prob
    ELBO with β                                   elbo
    log (1/k) Σ p(x, z_i) / q(z_i | x)            iwae_bound
    log q(z) = log (1/N) Σ_n q(z | x_n)           aggregate_log_prob      (Hoffman & Johnson 2016)
    KL(N(μ, σ²) || N(m, s²))                      kl_gaussians
    log Σ_k π_k N(z; m_k, s_k²)                   mixture_log_prob        (GM-VAE prior)
    KL(q(y|x) q(z|x) || p(y) p(z|y))              kl_mixture_prior        (GM-VAE)
    k(z, z') = Σ_s C_s / (C_s + ‖z - z'‖²)        imq_kernel              (WAE)
    MMD²(q, p), unbiased                          mmd_unbiased            (WAE)
    ‖z_e - sg(e)‖²                                commitment_loss         (VQ-VAE)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

__all__ = [
    "LOG_2PI", "reparameterize", "kl_std_normal_terms", "kl_std_normal", "gaussian_diag_log_prob",
    "std_normal_log_prob", "bernoulli_log_prob", "gaussian_log_prob",
    "discretized_gaussian_log_prob", "discretized_logistic_log_prob", "ELBOTerms", "elbo",
    "LatentVariableModel", "iwae_bound", "iwae_from_log_weights", "DECODE_ROWS", "decoded_log_likelihood", "aggregate_log_prob", "kl_gaussians", "mixture_log_prob", "kl_mixture_prior",
    "imq_kernel", "mmd_unbiased", "commitment_loss",
]

LOG_2PI = math.log(2.0 * math.pi)


def _sum_per_example(t: torch.Tensor) -> torch.Tensor:
    """Sum every dimension but the first: [B, ...] -> [B]."""
    return t.reshape(t.shape[0], -1).sum(dim=1)


# ----------------------------------------------------------------------------- latent


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = μ + σ·ε with σ = exp(½ logvar) and ε ~ N(0, I); mu, logvar: [B, D] -> z: [B, D].
    The randomness lives in ε, so gradients flow through μ and σ (Kingma & Welling 2014, §2.4)."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_std_normal_terms(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The terms of kl_std_normal, one per latent dimension: -½ (1 + log σ_j² - μ_j² - σ_j²).
    mu, logvar: [B, D] -> [B, D] nats (what each dimension carries about each example)."""
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())


def kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) || N(0, I)) = -½ Σ_j (1 + log σ_j² - μ_j² - σ_j²)   (K&W 2014, App. B).
    mu, logvar: [B, D] -> [B] nats."""
    return kl_std_normal_terms(mu, logvar).sum(dim=1)


def gaussian_diag_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag σ²) = -½ Σ_j [log 2π + log σ_j² + (z_j - μ_j)² / σ_j²], for log q(z | x)
    and log p(z). Shapes broadcast; the last dimension is summed."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def std_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) = -½ Σ_j (log 2π + z_j²). z: [..., D] -> [...]."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(dim=-1)


# ----------------------------------------------------------------------------- likelihoods


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) = Σ_i [x_i log σ(l_i) + (1 - x_i) log(1 - σ(l_i))] = -BCE(x, σ(l)).

    x, logits: [B, ...] -> [B] nats, from logits for stability. x binary for a true Bernoulli likelihood;
    grey values give the "continuous BCE" of pytorch/examples, which is not a normalised density.
    """
    return -_sum_per_example(F.binary_cross_entropy_with_logits(logits, x, reduction="none"))


def gaussian_log_prob(
    x: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor | float
) -> torch.Tensor:
    """log N(x; mean, σ² I) = Σ_i [-(x_i - x̂_i)² / (2σ_i²) - log σ_i - ½ log 2π].

    With one fixed σ this is -‖x - x̂‖² / (2σ²) - D log σ - (D/2) log 2π: "MSE loss" is a Gaussian
    likelihood with a fixed σ, and the 1/(2σ²) in front hides a β = 2σ². x, mean: [B, ...] -> [B] nats;
    log_sigma: a float, a scalar tensor (one learned σ), or broadcastable to x (per-pixel σ).
    """
    log_sigma = torch.as_tensor(log_sigma, dtype=mean.dtype, device=mean.device)
    log_sigma = log_sigma.expand_as(mean)
    sq = (x - mean).pow(2) * torch.exp(-2.0 * log_sigma)
    return _sum_per_example(-0.5 * sq - log_sigma - 0.5 * LOG_2PI)


def discretized_gaussian_log_prob(
    x: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor | float, levels: int = 256
) -> torch.Tensor:
    """log P(x) of an image with `levels` grey levels under a Gaussian decoder, x: v/255 [B, ...] -> [B] nats.

    A Gaussian density of grey values is not a probability; the probability of the *stored 8-bit
    image* is. Pixel value v/255 stands for the bin [v/255 - h, v/255 + h], h = 1/(2·255):
    P(x_i) = Φ((x_i + h - μ_i)/σ_i) - Φ((x_i - h - μ_i)/σ_i), the two outer bins stretched to ±∞ so
    the levels' probabilities sum to 1 (PixelCNN++, Salimans et al. 2017). Bits/dim = -log P(x) / (D log 2).
    """
    log_sigma = torch.as_tensor(log_sigma, dtype=mean.dtype, device=mean.device).expand_as(mean)
    h = 0.5 / (levels - 1)
    inv_sigma = torch.exp(-log_sigma)
    hi = torch.where(x > 1 - h, math.inf, (x + h - mean) * inv_sigma)
    lo = torch.where(x < h, -math.inf, (x - h - mean) * inv_sigma)
    # Φ(hi) - Φ(lo) computed on the side of 0 where both tails are small, in log space
    flip = lo > 0
    a, b = torch.where(flip, -hi, lo), torch.where(flip, -lo, hi)  # a < b ≤ ... , Φ(b) - Φ(a)
    log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    log_p = log_b + torch.log(-torch.expm1((log_a - log_b).clamp(max=-1e-12)))
    return _sum_per_example(log_p)


def discretized_logistic_log_prob(
    x: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor | float, levels: int = 256
) -> torch.Tensor:
    """log P(x) of an image with `levels` grey levels under a discretized logistic, [B] nats.

    Made for 8-bit images (PixelCNN++, Salimans et al. 2017): with the bins of
    discretized_gaussian_log_prob, P(x_i) = σ((x_i + h - μ_i)/s_i) - σ((x_i - h - μ_i)/s_i), σ the
    logistic cdf; the outer bins reach to ±∞, so μ_i < 0 puts almost all of a black pixel's
    probability on exactly 0. x: v/255 [B, ...]; loc: unconstrained μ, like x; log_scale: log s.
    In log space without cancellation: σ(a) - σ(b) = σ(a) σ(-b) (1 - e^(b - a)).
    """
    log_scale = torch.as_tensor(log_scale, dtype=loc.dtype, device=loc.device).expand_as(loc)
    h = 0.5 / (levels - 1)
    inv_s = torch.exp(-log_scale)
    plus, minus = (x - loc + h) * inv_s, (x - loc - h) * inv_s
    log_below_plus = F.logsigmoid(plus)  # log P(value <= x + h): the bin of 0
    log_above_minus = F.logsigmoid(-minus)  # log P(value > x - h): the bin of 1
    log_bin = log_below_plus + log_above_minus + torch.log(-torch.expm1(-2 * h * inv_s))
    log_p = torch.where(x < h, log_below_plus, torch.where(x > 1 - h, log_above_minus, log_bin))
    return _sum_per_example(log_p)


# ----------------------------------------------------------------------------- bounds


@dataclass
class ELBOTerms:
    """Per-example parts of the (β-)ELBO, all [B] nats: loss = -(reconstruction - β·kl) is what the
    optimiser minimises (batch mean); elbo = reconstruction - kl is the true bound whatever β."""

    reconstruction: torch.Tensor  # E_q[log p(x|z)], one-sample estimate
    kl: torch.Tensor
    elbo: torch.Tensor
    loss: torch.Tensor
    beta: float


def elbo(log_px_given_z: torch.Tensor, kl: torch.Tensor, beta: float = 1.0) -> ELBOTerms:
    """ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)); training loss = -(E_q[log p(x|z)] - β KL).
    log_px_given_z (one z per example), kl: [B]. β ≠ 1 is the β-VAE (Higgins et al. 2017): loss ≠ -elbo."""
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
    x: [B, ...] -> [B] nats. Chunks of at most `chunk_size` samples per example (default: chunk × B
    ≤ 2**16 decoder passes) are combined by a running log-sum-exp, so k = 5000 fits in memory. A model
    with `log_weights(x, s)` (vaelib.models.hvae) gives its own log w [s, B] per chunk.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    b = x.shape[0]
    if chunk_size is None:
        chunk_size = max(1, min(k, 2**16 // max(b, 1)))
    own = getattr(model, "log_weights", None)  # a model with several stochastic layers draws its own
    mu, logvar = model.encode(x)
    total = torch.full((b,), -math.inf, device=x.device, dtype=mu.dtype)
    done = 0
    while done < k:
        s = min(chunk_size, k - done)
        if own is not None:
            total = torch.logaddexp(total, torch.logsumexp(own(x, s)[0], dim=0))
            done += s
            continue
        z = mu.unsqueeze(0) + torch.exp(0.5 * logvar).unsqueeze(0) * torch.randn(
            (s, *mu.shape), device=mu.device, dtype=mu.dtype
        )  # [s, B, D]
        flat_z = z.reshape(s * b, -1)
        x_rep = x.unsqueeze(0).expand(s, *x.shape).reshape(s * b, *x.shape[1:])
        log_px = decoded_log_likelihood(model, x_rep, flat_z).reshape(s, b)
        log_pz = model.log_prior(flat_z).reshape(s, b)
        log_qz = gaussian_diag_log_prob(z, mu.unsqueeze(0), logvar.unsqueeze(0))  # [s, B]
        log_w = log_px + log_pz - log_qz
        total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))
        done += s
    return total - math.log(k)


def iwae_from_log_weights(log_w: torch.Tensor) -> torch.Tensor:
    """L_k = log (1/k) Σ_i w_i from log weights [k, B] -> [B] (a log-sum-exp: log w underflows exp)."""
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


#: rows per decoder pass when many z are decoded at once (IWAE): a conv decoder's activations for
#: 10,000 rows spill out of a CPU's cache; pieces of 512 ran the conv VAEs' k = 100 NLLs 1.5-1.75x
#: faster on the 2-core machine, with the same values to rounding
DECODE_ROWS = 512


def decoded_log_likelihood(model: LatentVariableModel, x: torch.Tensor, z: torch.Tensor,
                           rows: int = DECODE_ROWS) -> torch.Tensor:
    """log p(x_i | z_i) for paired rows x: [R, ...], z: [R, D] -> [R], decoding `rows` at a time."""
    return torch.cat([model.log_likelihood(x[i : i + rows], model.decode(z[i : i + rows]))
                      for i in range(0, z.shape[0], rows)])


def aggregate_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """log q(z) of the aggregate posterior q(z) = (1/N) Σ_n N(z; μ_n, diag σ_n²) of N images, exactly
    (a log-sum-exp over all N, `chunk` points at a time). z: [M, D]; mu, logvar: [N, D] -> [M] nats."""
    out = [torch.logsumexp(gaussian_diag_log_prob(z[i : i + chunk, None, :], mu[None], logvar[None]), dim=1)
           for i in range(0, z.shape[0], chunk)]
    return torch.cat(out) - math.log(mu.shape[0])


# ----------------------------------------------------------------------------- GM-VAE


def kl_gaussians(
    mu: torch.Tensor, logvar: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    """KL(N(μ, diag σ²) || N(m, diag s²)) = ½ Σ_j [log s_j² - log σ_j² + (σ_j² + (μ_j - m_j)²) / s_j² - 1].
    Shapes broadcast; the last dimension is summed."""
    return 0.5 * (
        logvar_p - logvar + (logvar.exp() + (mu - mu_p).pow(2)) * torch.exp(-logvar_p) - 1.0
    ).sum(dim=-1)


def mixture_log_prob(
    z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor, log_weights: torch.Tensor
) -> torch.Tensor:
    """log p(z) = log Σ_k π_k N(z; m_k, diag s_k²), a Gaussian mixture.
    z: [..., D]; means, logvars: [K, D]; log_weights: [K] (log π_k) -> [...]."""
    comp = gaussian_diag_log_prob(z.unsqueeze(-2), means, logvars)  # [..., K]
    return torch.logsumexp(comp + log_weights, dim=-1)


def kl_mixture_prior(mu: torch.Tensor, logvar: torch.Tensor, log_qy: torch.Tensor, means: torch.Tensor,
        logvars: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
    """KL(q(y|x) q(z|x) || p(y) p(z|y)) for a categorical y and Gaussian z, exactly:

        Σ_k q(k|x) · KL(N(μ, σ²) || N(m_k, s_k²))  +  KL(q(y|x) || p(y)).

    q factorises, so both parts are closed forms and no y is sampled.
    mu, logvar: [B, D]; log_qy: [B, K]; means, logvars: [K, D]; log_weights: [K] -> [B] nats.
    """
    qy = log_qy.exp()
    kl_z = kl_gaussians(mu.unsqueeze(1), logvar.unsqueeze(1), means, logvars)  # [B, K]
    kl_y = (qy * (log_qy - log_weights)).sum(dim=1)
    return (qy * kl_z).sum(dim=1) + kl_y


# ----------------------------------------------------------------------------- WAE


def imq_kernel(a: torch.Tensor, b: torch.Tensor, scales: tuple[float, ...] | list[float]) -> torch.Tensor:
    """Inverse multiquadratic kernel summed over scales, k(a, b) = Σ_s C_s / (C_s + ‖a - b‖²); a: [N, D],
    b: [M, D] -> [N, M]. Several scales (Tolstikhin et al. 2018), as one sees only one distance range."""
    d2 = torch.cdist(a, b).pow(2)
    return sum(c / (c + d2) for c in scales)


def mmd_unbiased(
    z_q: torch.Tensor, z_p: torch.Tensor, scales: tuple[float, ...] | list[float]
) -> torch.Tensor:
    """Unbiased estimate of MMD²(Q, P) with the IMQ kernel (Gretton et al. 2012, eq. 3):

        1/(n(n-1)) Σ_{i≠j} k(q_i, q_j) + 1/(m(m-1)) Σ_{i≠j} k(p_i, p_j) - 2/(nm) Σ_{i,j} k(q_i, p_j).

    z_q: [n, D] a batch's codes (samples of the aggregate posterior), z_p: [m, D] prior draws -> a
    scalar per batch, not per example (it can be slightly negative).
    """
    n, m = z_q.shape[0], z_p.shape[0]
    if n < 2 or m < 2:
        raise ValueError("the unbiased MMD needs at least two samples from each distribution")
    k_qq, k_pp, k_qp = imq_kernel(z_q, z_q, scales), imq_kernel(z_p, z_p, scales), imq_kernel(z_q, z_p, scales)
    off = lambda k: k.sum() - k.diagonal().sum()  # noqa: E731  (drop the i = j terms)
    return off(k_qq) / (n * (n - 1)) + off(k_pp) / (m * (m - 1)) - 2.0 * k_qp.mean()


# ----------------------------------------------------------------------------- VQ-VAE


def commitment_loss(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """‖z_e - sg(e)‖², summed per example: keeps the encoder output near its chosen code
    (van den Oord et al. 2017, eq. 3, third term; sg = stop gradient). z_e, z_q: [B, ...] -> [B]."""
    return _sum_per_example((z_e - z_q.detach()).pow(2))

"""The Gaussian-mixture VAE: a categorical latent y and a learned mixture prior over z.

A standard VAE's prior N(0, I) is one blob; MNIST has ten digits. The GM-VAE gives the prior K
components and a discrete latent that picks one:

    p(y) = 1/K (uniform),   p(z | y) = N(m_y, diag s_y²)  (m, s learned),   p(x | z) the decoder,

so p(z) = (1/K) Σ_k N(z; m_k, s_k²) (vaelib.losses.mixture_log_prob). The encoder gives
q(y, z | x) = q(y | x) · q(z | x): a VAE's Gaussian q(z | x) and a categorical head q(y | x). The ELBO,

    ELBO = E_q(z|x)[log p(x | z)] - KL(q(y|x) q(z|x) || p(y) p(z|y)),

has its whole KL in closed form (vaelib.losses.kl_mixture_prior), so only z is sampled. It bounds
the same log p(x) as a VAE's, so the IWAE estimates compare directly. `cluster_probs(x)`, q(y | x),
is a clustering of the digits learned without labels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vaelib.losses import ELBOTerms, elbo, kl_mixture_prior, mixture_log_prob, reparameterize
from vaelib.models.vae import VAE, ModelConfig

__all__ = ["GMVAE"]


class GMVAE(VAE):
    """VAE with q(y | x) q(z | x), a uniform p(y) and learned Gaussians p(z | y)."""

    SETTINGS = {"components": 10, "prior_spread": 1.0}  # its terms and metrics are the VAE's

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        k, d = int(self.settings["components"]), config.latent_dim
        if k < 1:
            raise ValueError("a mixture needs at least one component")
        self.components = k
        self.y_head = nn.Linear(self.encoder.n_features, k)
        # component means start apart (spread × N(0, I)) so that they can specialise; variances at 1
        spread = float(self.settings["prior_spread"])
        self.prior_means = nn.Parameter(spread * torch.randn(k, d))
        self.prior_logvars = nn.Parameter(torch.zeros(k, d))
        self.register_buffer("prior_log_weights", torch.full((k,), -math.log(k)))  # p(y) uniform

    # ---- the two halves of q -------------------------------------------------------------

    def encode_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: [B, 1, 28, 28] -> (μ, log σ², log q(y | x)): [B, D], [B, D], [B, K]."""
        h = self.encoder.features(x)
        return self.encoder.mu(h), self.encoder.logvar(h), F.log_softmax(self.y_head(h), dim=1)

    def cluster_probs(self, x: torch.Tensor) -> torch.Tensor:
        """q(y | x): [B, K], each row sums to one."""
        return self.encode_all(x)[2].exp()

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = log Σ_k p(k) N(z; m_k, s_k²), the mixture marginal, [...]."""
        return mixture_log_prob(z, self.prior_means, self.prior_logvars, self.prior_log_weights)

    # ---- the objective ---------------------------------------------------------------------

    def forward(self, x: torch.Tensor, beta: float | None = None) -> ELBOTerms:
        """One-sample ELBO: z ~ q(z | x) for the reconstruction, the KL over (y, z) exact."""
        mu, logvar, log_qy = self.encode_all(x)
        z = reparameterize(mu, logvar)
        log_px = self.log_likelihood(x, self.decode(z))
        kl = kl_mixture_prior(mu, logvar, log_qy, self.prior_means, self.prior_logvars, self.prior_log_weights)
        return elbo(log_px, kl, self.config.beta if beta is None else beta)

    # ---- generating ------------------------------------------------------------------------

    def _sample_z(self, y: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        eps = torch.randn(y.shape[0], self.latent_dim, generator=generator).to(self.prior_means.device)
        return self.prior_means[y] + torch.exp(0.5 * self.prior_logvars[y]) * eps

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               weights: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder means at y ~ p(y), z ~ p(z | y): [n, 1, 28, 28]. `weights` [K] replaces p(y) by
        other component probabilities (e.g. how often the data use each component)."""
        probs = self.prior_log_weights.exp() if weights is None else weights
        y = torch.multinomial(probs.detach().float().cpu(), n, replacement=True, generator=generator)
        return self.mean(self.decode(self._sample_z(y.to(self.prior_means.device), generator)))

    @torch.no_grad()
    def sample_component(self, k: int, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means at z ~ p(z | y = k): [n, 1, 28, 28]."""
        y = torch.full((n,), int(k), dtype=torch.long, device=self.prior_means.device)
        return self.mean(self.decode(self._sample_z(y, generator)))

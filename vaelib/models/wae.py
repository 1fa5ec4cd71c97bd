"""The Wasserstein autoencoder with an MMD penalty (WAE-MMD; Tolstikhin et al. 2018).

A VAE pushes *every* q(z | x) towards the prior (the KL term). A WAE asks less: only the
*aggregate* posterior q(z) = E_x q(z | x), the cloud of all codes, must match p(z) = N(0, I). Codes
of different images may then sit apart, so the encoder can be deterministic, z = f(x), and
reconstructions stay sharp. The objective, per batch:

    loss = E_x[c(x, g(f(x)))] + λ · MMD²(q(z), p(z))

with c = -log p(x | z) (the VAEs' units, so reconstruction columns compare) and MMD² between the
batch's codes and as many prior draws, under an inverse multiquadratic kernel
(vaelib.losses.mmd_unbiased, imq_kernel). There is no ELBO (`WAETerms.elbo` is None), and no β.

`extra`: mmd_lambda (λ, default 100: the paper's λ = 10 was for a squared-error cost of about
a tenth of our BCE in nats), kernel_scales (factors of C = 2 D, default Tolstikhin et al.'s
0.1 ... 10).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelib.losses import imq_kernel, mmd_unbiased  # noqa: F401  (imq_kernel: grep map)
from vaelib.models.vae import VAE, ModelConfig

__all__ = ["WAE", "WAETerms", "DEFAULT_SCALES"]

DEFAULT_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass
class WAETerms:
    """What a WAE's forward returns, [B] nats each. No ELBO (`elbo` is None)."""

    reconstruction: torch.Tensor  # log p(x | z = f(x))
    penalty: torch.Tensor  # λ · MMD²(codes of the batch, prior draws), the same for every example
    loss: torch.Tensor  # -reconstruction + penalty, what the optimiser minimises
    elbo: None = None


class WAE(VAE):
    """Deterministic encoder, the VAE's decoder and likelihood, an MMD penalty towards N(0, I)."""

    TERMS = ("penalty",)
    TERM_LABELS = {"penalty": "λ·MMD²"}
    RATE = None  # no ELBO
    METRICS = ("active_units",)  # and test_penalty (every family reports its terms)
    SETTINGS = {"mmd_lambda": 100.0, "kernel_scales": DEFAULT_SCALES}
    USES_BETA = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.mmd_lambda = float(self.settings["mmd_lambda"])
        factors = tuple(float(s) for s in self.settings["kernel_scales"])
        # C = 2 D σ_z² with σ_z² = 1: the expected ‖z - z'‖² of two prior draws is 2D
        self.kernel_scales = tuple(2.0 * config.latent_dim * f for f in factors)

    def _build_networks(self, c: ModelConfig, variance: bool = True) -> None:
        super()._build_networks(c, variance=False)  # z = f(x): no variance head

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """x: [B, 1, 28, 28] -> (z, None): the code itself; there is no variance."""
        return self.encoder(x)

    def mmd(self, z: torch.Tensor) -> torch.Tensor:
        """MMD² between the codes z: [B, D] and B fresh draws from N(0, I) (a scalar)."""
        return mmd_unbiased(z, torch.randn_like(z), self.kernel_scales)

    @property
    def loss_label(self) -> str:
        return "reconstruction NLL + λ·MMD²"

    def forward(self, x: torch.Tensor) -> WAETerms:
        """Reconstruction log-likelihood per example and the batch's λ·MMD² penalty."""
        z, _ = self.encode(x)
        log_px = self.log_likelihood(x, self.decode(z))
        penalty = (self.mmd_lambda * self.mmd(z)).expand_as(log_px)
        return WAETerms(reconstruction=log_px, penalty=penalty, loss=-log_px + penalty)

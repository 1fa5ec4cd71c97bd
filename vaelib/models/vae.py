"""The VAE: an encoder q(z | x), a decoder, a likelihood p(x | z), and the prior p(z) = N(0, I).

    model = VAE(ModelConfig(arch="fc", hidden=(400,), latent_dim=20))
    terms = model(x)              # ELBOTerms, each [B] nats; terms.loss.mean() is what you minimise
    x_hat = model.reconstruct(x)  # decoder mean at z = μ(x)
    x_new = model.sample(64)      # decoder mean at z ~ N(0, I)

Likelihoods (`ModelConfig.likelihood`):
- "bernoulli": the decoder outputs logits; log p(x | z) = vaelib.losses.bernoulli_log_prob.
- "gaussian": the decoder outputs a mean through a sigmoid (pixels live in [0, 1]) and
  log p(x | z) = vaelib.losses.gaussian_log_prob, with σ "fixed" (sigma_value, a buffer), "learned"
  (one scalar log σ) or "per-pixel" ([1, 28, 28]). `min_sigma` floors a learned σ: on near-binary
  MNIST a free σ would shrink without bound on always-black pixels.
- "logistic": for 8-bit images. The decoder outputs an unconstrained location μ (μ < 0 puts a black
  pixel's probability on exactly 0); log p(x | z) = vaelib.losses.discretized_logistic_log_prob,
  with the scale s set as σ above.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from vaelib.losses import (
    ELBOTerms,
    bernoulli_log_prob,
    discretized_logistic_log_prob,
    elbo,
    gaussian_log_prob,
    kl_std_normal,
    reparameterize,
    std_normal_log_prob,
)
from vaelib.models.networks import IMAGE_SHAPE, ConvDecoder, ConvEncoder, FCDecoder, FCEncoder
from vaelib.runtime import config_from_dict

__all__ = ["ModelConfig", "VAE", "LIKELIHOODS", "SIGMA_MODES", "METRIC_GROUPS"]

LIKELIHOODS = ("bernoulli", "gaussian", "logistic")
SIGMA_MODES = ("fixed", "learned", "per-pixel")
#: the groups of test metrics a model family can declare (vaelib.metrics.evaluate computes those)
METRIC_GROUPS = ("elbo", "iwae", "active_units", "codebook")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; stored in every checkpoint."""

    kind: str = "vae"  # the model family (see vaelib.models.build_model)
    arch: str = "fc"  # "fc" or "conv"
    latent_dim: int = 20
    hidden: tuple[int, ...] = (400,)  # encoder widths
    decoder_hidden: tuple[int, ...] | None = None  # decoder widths; None mirrors `hidden`
    residual: bool = False  # residual blocks in the FC encoder
    batch_norm: bool = False
    dropout: float = 0.0
    conv_channels: tuple[int, int] = (32, 64)
    conv_hidden: int = 256
    likelihood: str = "bernoulli"
    sigma: str = "fixed"  # gaussian or logistic: "fixed", "learned" or "per-pixel"
    sigma_value: float = 1.0  # fixed σ, or the initial σ when learned
    min_sigma: float = 1e-3
    beta: float = 1.0  # weight of the KL term in the training loss
    extra: dict[str, Any] = field(default_factory=dict)  # model-family specific settings

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.decoder_hidden is None:
            self.decoder_hidden = tuple(reversed(self.hidden))
        self.decoder_hidden = tuple(int(h) for h in self.decoder_hidden)
        self.conv_channels = tuple(int(c) for c in self.conv_channels)  # type: ignore[assignment]
        if self.arch not in ("fc", "conv"):
            raise ValueError(f"arch must be 'fc' or 'conv', got {self.arch!r}")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if self.sigma not in SIGMA_MODES:
            raise ValueError(f"sigma must be one of {SIGMA_MODES}, got {self.sigma!r}")
        if self.sigma_value <= 0:
            raise ValueError("sigma_value must be positive")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["decoder_hidden"] = list(self.decoder_hidden or ())
        d["conv_channels"] = list(self.conv_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        return config_from_dict(cls, d, "model")


class VAE(nn.Module):
    """Gaussian encoder, FC or conv decoder, one of LIKELIHOODS, N(0, I) prior.

    The other families subclass it to share the networks and the likelihood. The class attributes
    below say what a family is, so the trainer, metrics and plots ask the model, not its name.
    """

    #: the latent-side terms of forward()'s result, by field name (history columns train_<name>, val_<name>)
    TERMS: tuple[str, ...] = ("kl",)
    #: how logs and plots write each term, and the training loss
    TERM_LABELS: dict[str, str] = {"kl": "KL"}
    #: the term the ELBO subtracts from the reconstruction (KL(q || p)); None: the model has no ELBO
    RATE: str | None = "kl"
    #: which groups of METRIC_GROUPS apply (IWAE needs a Gaussian q(z | x) with a density)
    METRICS: tuple[str, ...] = ("elbo", "iwae", "active_units")
    #: the `extra` settings this family accepts, with their defaults (anything else is an error)
    SETTINGS: dict[str, Any] = {}
    #: whether ModelConfig.beta weights a term of the loss (a family that ignores it rejects β ≠ 1)
    USES_BETA = True
    #: whether reconstruct() is the decoder mean E[x | z = μ(x)] (the reconstruction MSE applies)
    RECONSTRUCTS = True
    #: whether forward takes the batch's labels, model(x, y) (a conditional VAE)
    LABELS = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.settings = self.check_config(config)
        self.config = config
        c = config
        self._build_networks(c)
        log_s = torch.tensor(math.log(c.sigma_value))
        if c.likelihood != "bernoulli" and c.sigma == "learned":
            self.log_sigma_param = nn.Parameter(log_s.clone())
        elif c.likelihood != "bernoulli" and c.sigma == "per-pixel":
            self.log_sigma_param = nn.Parameter(torch.full(IMAGE_SHAPE, float(log_s)))
        else:
            self.register_buffer("log_sigma_param", log_s.clone())

    def _build_networks(self, c: ModelConfig, variance: bool = True) -> None:
        """self.encoder and self.decoder from the config (subclasses with other networks override)."""
        if c.arch == "fc":
            self.encoder: nn.Module = FCEncoder(
                c.latent_dim, c.hidden, residual=c.residual, batch_norm=c.batch_norm, dropout=c.dropout,
                variance=variance,
            )
            self.decoder: nn.Module = FCDecoder(
                c.latent_dim, c.decoder_hidden, batch_norm=c.batch_norm, dropout=c.dropout
            )
        else:
            self.encoder = ConvEncoder(c.latent_dim, c.conv_channels, c.conv_hidden, variance=variance)
            self.decoder = ConvDecoder(c.latent_dim, c.conv_channels, c.conv_hidden)

    @classmethod
    def check_config(cls, config: ModelConfig) -> dict[str, Any]:
        """The family's settings (SETTINGS, updated by config.extra); one ValueError naming every
        setting this family would ignore: an unknown `extra` key, or a β it has no term for."""
        problems = []
        unknown = sorted(set(config.extra) - set(cls.SETTINGS))
        if unknown:
            accepted = ", ".join(sorted(cls.SETTINGS)) or "none"
            problems.append(f"unknown settings in extra: {unknown} (accepted: {accepted})")
        if not cls.USES_BETA and config.beta != 1.0:
            problems.append(f"beta = {config.beta:g} would be ignored: this family's loss has no KL term to weight")
        if problems:
            raise ValueError(f"{config.kind} model: " + "; ".join(problems))
        return {**cls.SETTINGS, **config.extra}

    @property
    def loss_label(self) -> str:
        """What the training loss is, for plots: −ELBO, or −β-ELBO when β ≠ 1."""
        return "−ELBO" if self.config.beta == 1.0 else f"−β-ELBO (β = {self.config.beta:g})"

    # ---- pieces -------------------------------------------------------------------------

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def log_sigma(self) -> torch.Tensor:
        """log σ (Gaussian) or log s (logistic), scalar or [1, 28, 28], floored at log min_sigma."""
        return self.log_sigma_param.clamp(min=math.log(self.config.min_sigma))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, 1, 28, 28] -> (μ, log σ²), each [B, D]."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: [B, D] -> likelihood parameters [B, 1, 28, 28]: logits (Bernoulli), mean (Gaussian) or
        location (logistic)."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.config.likelihood == "gaussian" else out

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """E[x | z] from the decoder's output: σ(logits), the Gaussian mean, or the logistic's
        location clipped to [0, 1] (its outer bins hold the mass beyond)."""
        if self.config.likelihood == "logistic":
            return params.clamp(0.0, 1.0)
        return torch.sigmoid(params) if self.config.likelihood == "bernoulli" else params

    def log_likelihood(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x | z), [B] nats."""
        if self.config.likelihood == "bernoulli":
            return bernoulli_log_prob(x, params)
        if self.config.likelihood == "logistic":
            return discretized_logistic_log_prob(x, params, self.log_sigma())
        return gaussian_log_prob(x, params, self.log_sigma())

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = log N(z; 0, I), [...]."""
        return std_normal_log_prob(z)

    # ---- the objective ------------------------------------------------------------------

    def forward(self, x: torch.Tensor, beta: float | None = None) -> ELBOTerms:
        """One-sample (β-)ELBO of x: [B, 1, 28, 28] (the targets are x itself)."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        log_px = self.log_likelihood(x, self.decode(z))
        return elbo(log_px, kl_std_normal(mu, logvar), self.config.beta if beta is None else beta)

    # ---- using it -----------------------------------------------------------------------

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder mean at z = μ(x) (the deterministic reconstruction), [B, 1, 28, 28]."""
        mu, _ = self.encode(x)
        return self.mean(self.decode(mu))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means at n draws z ~ N(0, I), [n, 1, 28, 28]."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device="cpu").to(device)
        return self.mean(self.decode(z))

"""A VAE with an autoregressive decoder: strong enough to ignore z (notebook 10, posterior collapse).

A factorised decoder makes the pixels independent given z, so everything they share must come
through z. An autoregressive decoder models each pixel given z **and the pixels before it**,

    p(x | z) = Π_i Bernoulli(x_i; σ(logit_i(z, x_<i)))      (raster order),

which can model the digits well with no z at all: the ELBO's cheapest optimum may then be
q(z | x) = p(z), rate 0. Two decoders (`extra["decoder"]`), z entering as biases:

- "made": a MADE (Germain et al. 2015) of one masked hidden layer (`made_masks`) plus direct
  masked connections from every earlier pixel. A strong decoder.
- "local": only direct connections from the `window` pixels just before pixel i. A weakened
  decoder: it can draw strokes but not know which digit it is drawing unless z tells it.

`use_z` False cuts the wire from z: p(x | z) = p(x), complete collapse by construction, whose
ELBO/NLL is what the decoder achieves without any code (notebook 10's yardstick).

Two remedies of the training objective (the ELBO itself, `terms.elbo`, is never changed):

- `free_bits` λ (Kingma et al. 2016, `free_bits_kl`): the loss's KL is Σ_d max(λ, KL_d), KL_d the
  batch mean of dimension d's KL; a dimension below λ nats costs λ whatever it does, so the
  optimiser has no reason to push it to zero.
- `warmup_steps` W (`warmup_beta`): β rises linearly from 0 to ModelConfig.beta over the first W
  training steps (KL annealing, Bowman et al. 2016), counted by the model's `steps` buffer, which a
  checkpoint keeps.

Sampling is ancestral, 784 decoder passes; E[x | z] has no closed form (`RECONSTRUCTS = False`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vaelib.losses import ELBOTerms, bernoulli_log_prob, kl_std_normal_terms, reparameterize
from vaelib.models.networks import IMAGE_DIM, IMAGE_SHAPE, MLP, FCEncoder
from vaelib.models.vae import VAE, ModelConfig

__all__ = ["ARVAE", "made_masks", "local_mask", "free_bits_kl", "warmup_beta"]

DECODERS = ("made", "local")


def made_masks(n: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MADE's masks for n inputs in raster order and one hidden layer: (input -> hidden [H, n],
    hidden -> output [n, H], input -> output [n, n]). Input/output i has degree i + 1; hidden unit
    k has degree m_k in 1..n-1 (evenly spread); output i sees hidden k iff m_k < i + 1, hidden k
    sees input j iff j + 1 <= m_k, so output i depends on inputs j < i only."""
    degrees = torch.arange(1, n + 1)
    m = 1 + (torch.arange(hidden) * (n - 1)) // hidden
    to_hidden = (degrees.unsqueeze(0) <= m.unsqueeze(1)).float()  # [H, n]
    to_output = (m.unsqueeze(0) < degrees.unsqueeze(1)).float()  # [n, H]
    return to_hidden, to_output, local_mask(n, n)


def local_mask(n: int, window: int) -> torch.Tensor:
    """[n, n] mask: output i sees input j iff 0 < i - j <= window (the `window` pixels before it)."""
    i = torch.arange(n).unsqueeze(1)
    j = torch.arange(n).unsqueeze(0)
    return ((i - j > 0) & (i - j <= window)).float()


def free_bits_kl(kl_terms: torch.Tensor, lam: float) -> torch.Tensor:
    """The free-bits KL per example, [B, D] -> [B]: KL_bd where the batch mean of dimension d is
    at least λ nats, else the constant λ. Its batch mean is Σ_d max(λ, mean_b KL_bd)."""
    if lam <= 0:
        return kl_terms.sum(dim=1)
    below = kl_terms.detach().mean(dim=0, keepdim=True) < lam  # [1, D]
    return torch.where(below, torch.full_like(kl_terms, lam), kl_terms).sum(dim=1)


def warmup_beta(step: int, warmup_steps: int, beta: float = 1.0) -> float:
    """β of a linear warm-up at training step `step` (0-based): beta · min(1, (step + 1) / W)."""
    if warmup_steps <= 0:
        return beta
    return beta * min(1.0, (step + 1) / warmup_steps)


class ARVAE(VAE):
    """Gaussian encoder (FC), autoregressive Bernoulli decoder given z, N(0, I) prior."""

    SETTINGS = {"decoder": "made", "made_hidden": 500, "window": 28, "free_bits": 0.0, "warmup_steps": 0, "use_z": True}
    RECONSTRUCTS = False

    def __init__(self, config: ModelConfig) -> None:
        if config.likelihood != "bernoulli" or config.arch != "fc":
            raise ValueError("ar-vae: the autoregressive decoder is a Bernoulli one on an FC encoder "
                             "(likelihood='bernoulli', arch='fc')")
        super().__init__(config)
        s = self.settings
        if s["decoder"] not in DECODERS:
            raise ValueError(f"ar-vae: decoder must be one of {DECODERS}, got {s['decoder']!r}")
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def _build_networks(self, c: ModelConfig, variance: bool = True) -> None:
        s = self.settings
        self.encoder = FCEncoder(c.latent_dim, c.hidden)
        self.z_body = MLP(c.latent_dim, c.decoder_hidden)
        n_z = self.z_body.n_out
        self.z_to_logits = nn.Linear(n_z, IMAGE_DIM)
        if s["decoder"] == "made":
            h = int(s["made_hidden"])
            to_hidden, to_output, direct = made_masks(IMAGE_DIM, h)
            self.register_buffer("mask_in", to_hidden)
            self.register_buffer("mask_out", to_output)
            self.w_in = nn.Parameter(torch.randn(h, IMAGE_DIM) / IMAGE_DIM**0.5)
            self.w_out = nn.Parameter(torch.randn(IMAGE_DIM, h) / h**0.5)
            self.z_to_hidden = nn.Linear(n_z, h)
        else:
            direct = local_mask(IMAGE_DIM, int(s["window"]))
        self.register_buffer("mask_direct", direct)
        self.w_direct = nn.Parameter(torch.zeros(IMAGE_DIM, IMAGE_DIM))

    # ---- the decoder: decode(z) gives z's contribution, log_likelihood adds the pixels' ----------

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: [B, D] -> the decoder's summary of z, [B, 784 (+ H)]: the logit biases, then (MADE)
        the hidden biases. The pixels' own part is added in `logits`, given x."""
        if not self.settings["use_z"]:  # the wire from z cut: the decoder alone, p(x | z) = p(x)
            z = torch.zeros_like(z)
        t = self.z_body(z)
        parts = [self.z_to_logits(t)]
        if hasattr(self, "z_to_hidden"):
            parts.append(self.z_to_hidden(t))
        return torch.cat(parts, dim=1)

    def logits(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Each pixel's logit given z (through `params` = decode(z)) and the pixels before it:
        x: [B, 1, 28, 28] (0/1), -> [B, 784]."""
        flat = x.reshape(x.shape[0], IMAGE_DIM)
        out = params[:, :IMAGE_DIM] + F.linear(flat, self.w_direct * self.mask_direct)
        if hasattr(self, "z_to_hidden"):
            h = F.relu(F.linear(flat, self.w_in * self.mask_in) + params[:, IMAGE_DIM:])
            out = out + F.linear(h, self.w_out * self.mask_out)
        return out

    def log_likelihood(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x | z) = Σ_i log Bernoulli(x_i; σ(logit_i(z, x_<i))), [B] nats."""
        return bernoulli_log_prob(x, self.logits(x, params).reshape(x.shape))

    # ---- the objective ---------------------------------------------------------------------

    def current_beta(self) -> float:
        """The KL weight the next training step uses (the warm-up schedule at `steps`)."""
        return warmup_beta(int(self.steps), int(self.settings["warmup_steps"]), self.config.beta)

    def forward(self, x: torch.Tensor, beta: float | None = None) -> ELBOTerms:
        """One-sample ELBO of x and the training loss with the warm-up β and free bits."""
        b = self.current_beta() if beta is None else beta
        if self.training and torch.is_grad_enabled():
            self.steps += 1
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        log_px = self.log_likelihood(x, self.decode(z))
        kl_terms = kl_std_normal_terms(mu, logvar)
        kl = kl_terms.sum(dim=1)
        loss = -(log_px - b * free_bits_kl(kl_terms, float(self.settings["free_bits"])))
        return ELBOTerms(reconstruction=log_px, kl=kl, elbo=log_px - kl, loss=loss, beta=float(b))

    # ---- generating: one pixel at a time ---------------------------------------------------

    @torch.no_grad()
    def sample_given(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral samples x ~ p(x | z), [B, 1, 28, 28] of 0/1: pixel i drawn from its Bernoulli
        given z and the pixels drawn before it (784 decoder passes)."""
        params = self.decode(z)
        x = torch.zeros(z.shape[0], IMAGE_DIM, device=z.device)
        u = torch.rand(z.shape[0], IMAGE_DIM, generator=generator).to(z.device)
        for i in range(IMAGE_DIM):
            p = torch.sigmoid(self.logits(x.reshape(-1, *IMAGE_SHAPE), params)[:, i])
            x[:, i] = (u[:, i] < p).float()
        return x.reshape(-1, *IMAGE_SHAPE)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n digits: z ~ N(0, I), then x ~ p(x | z) pixel by pixel, [n, 1, 28, 28] of 0/1."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.sample_given(z, generator)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw x' ~ p(x | z = μ(x)) (E[x | z] has no closed form here), [B, 1, 28, 28]."""
        return self.sample_given(self.encode(x)[0], generator)

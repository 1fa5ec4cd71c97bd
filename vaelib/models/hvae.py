"""VAEs with one or two stochastic layers, trained with the ELBO or the IWAE bound (notebook 12).

The architecture of Burda, Grosse & Salakhutdinov (2016, *Importance weighted autoencoders*),
on dynamically binarized MNIST, tanh hidden units, every Gaussian with a diagonal covariance:

- one stochastic layer: x -> 200 -> 200 -> z (50); z -> 200 -> 200 -> x (Bernoulli).
- two stochastic layers: q(z1 | x): x -> 100 -> 100 -> z1 (100), q(z2 | z1): z1 -> 50 -> 50 -> z2 (50);
  p(z2) = N(0, I), p(z1 | z2): z2 -> 50 -> 50 -> z1 (100), p(x | z1): z1 -> 100 -> 100 -> x.

`extra["layers"]` is 1 or 2. `extra["objective"]` is "elbo" or "iwae" with `extra["k"]` samples:

    log w_i = log p(x, z1_i, z2_i) - log q(z1_i, z2_i | x),   (z1_i, z2_i) ~ q, i = 1..k
    ELBO estimate  = (1/k) Σ_i log w_i,        IWAE bound L_k = log (1/k) Σ_i w_i.

The ELBO objective with k = 1 is Burda's VAE; the IWAE objective's gradient is Σ_i w̃_i ∇ log w_i
with w̃_i = w_i / Σ_j w_j, so the samples that explain x best get the most of the gradient. Both
KLs are sampled, as in the paper. `vaelib.losses.iwae_bound` uses `log_weights(x, k)`, so the
metrics treat these models like any other VAE.
"""

from __future__ import annotations

import torch
from torch import nn

from vaelib.losses import (ELBOTerms, bernoulli_log_prob, gaussian_diag_log_prob, iwae_from_log_weights,
                           std_normal_log_prob)
from vaelib.models.networks import IMAGE_DIM, IMAGE_SHAPE
from vaelib.models.vae import VAE, ModelConfig

__all__ = ["HVAE", "GaussianLayer", "active_units_per_layer"]

#: Burda et al.'s widths: (hidden width, stochastic units) per layer, bottom first
ARCHITECTURES = {1: ((200, 50),), 2: ((100, 100), (50, 50))}
OBJECTIVES = ("elbo", "iwae")
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def _mlp(n_in: int, width: int, act: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, width), act(), nn.Linear(width, width), act())


class GaussianLayer(nn.Module):
    """Two hidden layers, then the mean and log variance of a diagonal Gaussian: [B, n_in] -> 2 x [B, n_out]
    (the log variance clamped to `clamp` = (lo, hi) when given)."""

    def __init__(self, n_in: int, width: int, n_out: int, act: type[nn.Module] = nn.Tanh,
                 clamp: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.body = _mlp(n_in, width, act)
        self.mu = nn.Linear(width, n_out)
        self.logvar = nn.Linear(width, n_out)
        self.clamp = clamp

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.body(h)
        logvar = self.logvar(t)
        return self.mu(t), logvar if self.clamp is None else logvar.clamp(*self.clamp)


def _draw(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """z ~ N(mu, diag σ²) by reparameterisation, and log q(z) [...]."""
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    return z, gaussian_diag_log_prob(z, mu, logvar)


class HVAE(VAE):
    """One or two stochastic layers of diagonal Gaussians, a Bernoulli decoder, ELBO or IWAE training."""

    #: Burda et al.'s model by default; the other settings are notebook 12's controls: `activation`
    #: "relu", `widths` [[hidden, units], ...] bottom first, `prior` "learned" (a learned diagonal
    #: Gaussian for the top layer), `warmup_steps` (β of the ELBO's KL from 0 to 1), `logvar_clamp` [lo, hi]
    SETTINGS = {"layers": 1, "objective": "elbo", "k": 1, "activation": "tanh", "widths": None, "prior": "standard",
                "warmup_steps": 0, "logvar_clamp": None}
    METRICS = ("elbo", "iwae")  # active units per layer: `active_units_per_layer`
    TERM_LABELS = {"kl": "KL (sampled)"}

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        s = self.settings
        if s["objective"] not in OBJECTIVES or int(s["k"]) < 1:
            raise ValueError(f"hvae: objective must be one of {OBJECTIVES} with k >= 1, got {s}")
        if config.likelihood != "bernoulli":
            raise ValueError("hvae: Burda et al.'s models have a Bernoulli decoder")
        if int(s["warmup_steps"]) > 0 and s["objective"] != "elbo":
            raise ValueError("hvae: a KL warm-up weights the ELBO's KL; the IWAE bound has none to weight")

    def _build_networks(self, c: ModelConfig, variance: bool = True) -> None:
        s = self.settings
        layers = int(s["layers"])
        if layers not in ARCHITECTURES or s["activation"] not in ACTIVATIONS or s["prior"] not in ("standard", "learned"):
            raise ValueError(f"hvae: layers 1 or 2, activation in {tuple(ACTIVATIONS)}, prior standard or learned: {s}")
        arch = tuple(map(tuple, s["widths"])) if s["widths"] else ARCHITECTURES[layers]
        if len(arch) != layers:
            raise ValueError(f"hvae: widths {s['widths']} must give (hidden, units) for each of {layers} layers")
        act, clamp = ACTIVATIONS[s["activation"]], tuple(s["logvar_clamp"]) if s["logvar_clamp"] else None
        if c.latent_dim != arch[-1][1]:
            raise ValueError(f"hvae: the top layer of the {layers}-layer model has {arch[-1][1]} units "
                             f"(latent_dim), got {c.latent_dim}")
        sizes = [IMAGE_DIM] + [n for _, n in arch]
        self.sizes = sizes[1:]
        self.up = nn.ModuleList(GaussianLayer(sizes[i], w, sizes[i + 1], act, clamp) for i, (w, _) in enumerate(arch))
        # the generative side, top down: p(z_l | z_{l+1}) for l < L, and p(x | z1)
        self.down = nn.ModuleList(GaussianLayer(sizes[i + 1], arch[i][0], sizes[i], act, clamp)
                                  for i in range(1, len(arch)))
        self.decoder = nn.Sequential(_mlp(sizes[1], arch[0][0], act), nn.Linear(arch[0][0], IMAGE_DIM))
        if s["prior"] == "learned":  # p(z_L) = N(m, diag exp(v)), m and v learned
            self.prior_mu = nn.Parameter(torch.zeros(sizes[-1]))
            self.prior_logvar = nn.Parameter(torch.zeros(sizes[-1]))
        if int(s["warmup_steps"]) > 0:
            self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.encoder = self.up[0]  # q(z1 | x): encode(x) and the metrics' latent means read it

    @property
    def objective(self) -> str:
        return f"IWAE, k = {self.settings['k']}" if self.settings["objective"] == "iwae" else "ELBO"

    @property
    def loss_label(self) -> str:
        return "−L_k (IWAE)" if self.settings["objective"] == "iwae" else "−ELBO"

    # ---- pieces -------------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z1 | x): x [B, 1, 28, 28] -> (μ, log σ²), each [B, D1]."""
        return self.up[0](x.reshape(x.shape[0], IMAGE_DIM))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z1: [B, D1] -> Bernoulli logits [B, 1, 28, 28]."""
        return self.decoder(z).reshape(-1, *IMAGE_SHAPE)

    def log_weights(self, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """k draws from q per image: (log w [k, B], log p(x | z1) [k, B])."""
        b = x.shape[0]
        # q(z1 | x)'s parameters once per image (the 784-wide layer is most of the work), then k draws
        mu1, logvar1 = (t.unsqueeze(0).expand(k, *t.shape).reshape(k * b, -1)
                        for t in self.up[0](x.reshape(b, IMAGE_DIM)))
        z, log_q = _draw(mu1, logvar1)
        zs = [z]
        for layer in self.up[1:]:  # bottom up: z2 ~ q(z2 | z1)
            z, lq = _draw(*layer(z))
            zs.append(z)
            log_q = log_q + lq
        top = zs[-1]
        log_p = (gaussian_diag_log_prob(top, self.prior_mu, self.prior_logvar) if self.settings["prior"] == "learned"
                 else std_normal_log_prob(top))
        for layer, below, above in zip(self.down, zs[:-1], zs[1:]):  # p(z_l | z_{l+1})
            log_p = log_p + gaussian_diag_log_prob(below, *layer(above))
        x_rep = x.unsqueeze(0).expand(k, *x.shape).reshape(k * b, *x.shape[1:])
        log_px = bernoulli_log_prob(x_rep, self.decode(zs[0]))
        return (log_px + log_p - log_q).reshape(k, b), log_px.reshape(k, b)

    # ---- the objective ------------------------------------------------------------------

    def forward(self, x: torch.Tensor, beta: float | None = None) -> ELBOTerms:
        """The k-sample ELBO estimate and its parts; the loss is -ELBO or -L_k (the objective)."""
        k = int(self.settings["k"])
        log_w, log_px = self.log_weights(x, k)
        recon = log_px.mean(0)
        elbo_est = log_w.mean(0)
        beta, kl = 1.0, recon - elbo_est
        if self.settings["objective"] == "iwae":
            loss = -iwae_from_log_weights(log_w)
        elif int(self.settings["warmup_steps"]) > 0 and self.training:  # β from 0 to 1 over the first steps
            beta = min(1.0, (int(self.steps) + 1) / int(self.settings["warmup_steps"]))
            self.steps += 1
            loss = -(recon - beta * kl)
        else:
            loss = -elbo_est
        return ELBOTerms(reconstruction=recon, kl=kl, elbo=elbo_est, loss=loss, beta=beta)

    # ---- using it -----------------------------------------------------------------------

    @torch.no_grad()
    def layer_means(self, x: torch.Tensor, samples: int = 100) -> list[torch.Tensor]:
        """E_q[z_l | x] for each layer l, [N, D_l] each: z1's is μ1(x); z2's is the mean over
        `samples` draws z1 ~ q(z1 | x) of μ2(z1) (Burda et al.'s estimate)."""
        flat = x.reshape(x.shape[0], IMAGE_DIM)
        mu1, logvar1 = self.up[0](flat)
        means = [mu1]
        if len(self.up) > 1:
            eps = torch.randn(samples, *mu1.shape, device=mu1.device)
            z1 = mu1.unsqueeze(0) + torch.exp(0.5 * logvar1).unsqueeze(0) * eps  # [S, N, D1]
            mu2 = self.up[1](z1.reshape(-1, mu1.shape[1]))[0]  # [S · N, D2]
            means.append(mu2.reshape(samples, mu1.shape[0], -1).mean(0))
        return means

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means at z_L ~ N(0, I), then z_l ~ p(z_l | z_{l+1}) down to z1: [n, 1, 28, 28]."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.sizes[-1], generator=generator).to(device)
        if self.settings["prior"] == "learned":
            z = self.prior_mu + torch.exp(0.5 * self.prior_logvar) * z
        for layer in reversed(self.down):
            mu, logvar = layer(z)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator).to(device)
        return torch.sigmoid(self.decode(z))


def active_units_per_layer(model: HVAE, x: torch.Tensor, samples: int = 100, threshold: float = 0.01,
                           batch_size: int = 500) -> list[int]:
    """Active units of each stochastic layer, bottom first: dimensions whose E_q[z_l | x] varies
    over the images x with variance above `threshold` (Burda et al. 2016)."""
    model.eval()
    parts = [model.layer_means(x[i : i + batch_size], samples) for i in range(0, x.shape[0], batch_size)]
    return [int((torch.cat(layer).var(dim=0) > threshold).sum()) for layer in zip(*parts)]

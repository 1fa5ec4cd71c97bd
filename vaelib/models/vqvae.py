"""VQ-VAE: a discrete latent grid, a codebook learned by moving averages, and a prior over codes.

van den Oord, Vinyals & Kavukcuoglu (2017). The encoder maps an image to a grid of vectors
z_e: [B, D, 7, 7]; each is replaced by its nearest codebook entry e_k (K entries of dimension D),
and the decoder sees only those. An image becomes 49 integers.

- **Straight-through estimator.** argmin has no gradient, so the decoder's gradient with
  respect to z_q is copied to z_e unchanged: z_q_st = z_e + sg(z_q - z_e) (`VectorQuantizer`).
- **Commitment loss** β_c ‖z_e - sg(e)‖² (vaelib.losses.commitment_loss) keeps the encoder's
  outputs near the codes it picked.
- **EMA codebook** (paper, appendix A.1): instead of a gradient step on ‖sg(z_e) - e‖², each code
  moves to the running mean of the vectors assigned to it (`VectorQuantizer.ema_update`); codes
  nobody chooses are restarted on the data, so the codebook does not shrink to a few entries.
- **A prior over the codes.** Random codes decode to noise: real digits' codes are correlated
  across the grid. `CodePrior`, p(c) = Π_i p(c_i | c_<i) in raster order, is a small causal
  Transformer (one attention layer sees every earlier code; a PixelCNN needs many layers).

**The ELBO.** With a deterministic one-hot q(c | x), KL(q || p) = -log p(c(x)), so

    log p(x) ≥ ELBO = log p(x | z_q(x)) - (-log p(c(x))),

the reconstruction minus the nats the prior needs for the codes (`VQTerms.code_nats`); the loss
adds the commitment term with weight β_c (ModelConfig.beta must stay 1). The prior trains in the
same steps on the codes with gradients stopped, so the encoder is never pulled towards codes that
are easy to predict (the paper fits it afterwards; training both at once gives one checkpoint).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vaelib.losses import commitment_loss
from vaelib.models.vae import VAE, ModelConfig

__all__ = ["VQVAE", "VQTerms", "VectorQuantizer", "CodePrior", "codebook_usage", "GRID"]

GRID = (7, 7)  # two stride-2 convolutions: 28 -> 14 -> 7


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantisation against a codebook [K, D] updated by moving averages.

    The averages start at zero and are bias-corrected (divided by 1 - γ^t, as Adam does). A code
    whose average count N̂_k falls below `dead_threshold` vectors per batch is restarted at a random
    encoder output of the batch (at the first step: every unused code, a data-dependent init).
    """

    def __init__(self, codebook_size: int, dim: int, decay: float = 0.99, dead_threshold: float = 1.0) -> None:
        super().__init__()
        self.codebook_size, self.dim, self.decay = codebook_size, dim, decay
        self.dead_threshold = dead_threshold
        self.register_buffer("codebook", torch.randn(codebook_size, dim))
        self.register_buffer("ema_count", torch.zeros(codebook_size))  # N_k (biased, from zero)
        self.register_buffer("ema_sum", torch.zeros(codebook_size, dim))  # m_k (biased, from zero)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code for each row of flat: [N, D] -> [N] (squared Euclidean)."""
        d2 = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + self.codebook.pow(2).sum(1)
        return d2.argmin(dim=1)

    def codes(self, z_e: torch.Tensor) -> torch.Tensor:
        """The nearest code of each vector of the grid z_e: [B, D, H, W] -> [B, H, W]."""
        b, d, h, w = z_e.shape
        return self.nearest(z_e.detach().permute(0, 2, 3, 1).reshape(-1, d)).reshape(b, h, w)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Code grid [B, H, W] -> the codebook vectors as a grid [B, D, H, W]."""
        return self.codebook[codes].permute(0, 3, 1, 2)

    def forward(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z_e: [B, D, H, W] -> (z_q with the straight-through gradient, z_q, codes [B, H, W]).
        In training mode the codebook is updated (EMA) after z_q is read."""
        codes = self.codes(z_e)
        z_q = self.lookup(codes)
        if self.training:
            self.ema_update(z_e.detach().permute(0, 2, 3, 1).reshape(-1, self.dim), codes.flatten())
        z_q_st = z_e + (z_q - z_e).detach()  # forward: z_q; backward: d/dz_e = identity
        return z_q_st, z_q, codes

    @torch.no_grad()
    def ema_update(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        """One moving-average step: N_k ← γ N_k + (1-γ) n_k, m_k ← γ m_k + (1-γ) Σ_{z→k} z, then
        e_k = m̂_k / N̂_k for the codes in use (hats: divided by 1 - γ^t) and the restart of dead
        codes. flat: [N, D] encoder outputs, codes: [N] their nearest codes."""
        onehot = F.one_hot(codes, self.codebook_size).to(flat.dtype)  # [N, K]
        self.steps += 1
        self.ema_count.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        debias = 1.0 - self.decay ** self.steps.item()
        count = self.ema_count / debias  # N̂_k: vectors per batch that chose code k, on average
        used = count > 1e-6
        self.codebook[used] = self.ema_sum[used] / self.ema_count[used].unsqueeze(1)  # m̂/N̂ = m/N
        dead = count < self.dead_threshold
        if dead.any():
            picks = flat[torch.randint(0, flat.shape[0], (int(dead.sum()),), device=flat.device)]
            self.codebook[dead] = picks
            self.ema_count[dead] = debias  # N̂ = 1 vector
            self.ema_sum[dead] = picks * debias  # m̂ = that vector


def codebook_usage(codes: torch.Tensor, codebook_size: int) -> dict[str, float]:
    """How many codes a set of code grids uses, and the perplexity exp(H) of their frequencies
    (K if all are used equally, 1 if one code does everything). codes: integer tensor, any shape."""
    counts = torch.bincount(codes.flatten().cpu(), minlength=codebook_size).double()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum().item()
    return {"codes_used": int((counts > 0).sum().item()), "perplexity": math.exp(entropy)}


class CodePrior(nn.Module):
    """p(c) = Π_i p(c_i | c_<i) over a code grid read in raster order: a small causal Transformer.
    Position i sees a start token and the earlier codes (a causal mask): one pass gives all
    conditionals for training; sampling runs L passes, each over the newest position only."""

    def __init__(self, codebook_size: int, length: int, width: int = 64, layers: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.codebook_size, self.length = codebook_size, length
        self.embed = nn.Embedding(codebook_size + 1, width)  # the last index is the start token
        self.position = nn.Parameter(0.02 * torch.randn(length, width))
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, codebook_size)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(length), persistent=False)

    def logits(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: [B, L'] (L' ≤ L) -> logits of p(c_i | c_<i) for i < L': [B, L', K]."""
        b, n = codes.shape
        start = torch.full((b, 1), self.codebook_size, dtype=torch.long, device=codes.device)
        h = self.embed(torch.cat([start, codes[:, :-1]], dim=1)) + self.position[:n]
        h = self.blocks(h, mask=self.mask[:n, :n], is_causal=True)
        return self.head(self.norm(h))

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """log p(c) = Σ_i log p(c_i | c_<i). codes: [B, L] -> [B] nats."""
        logp = F.log_softmax(self.logits(codes), dim=-1)
        return logp.gather(2, codes.unsqueeze(2)).squeeze(2).sum(1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
        """n code sequences drawn one position at a time: [n, L]. Uniforms come from `generator`
        (on the CPU) and are inverted through each conditional's CDF, so a seed fixes the draw. Each
        step runs the layers on the newest position alone and keeps every layer's keys and values of
        the earlier ones (a KV cache): `logits` on the growing prefix would cost about L / 2 times as much."""
        codes = torch.full((n, 1), self.codebook_size, dtype=torch.long, device=device)  # the start token
        cache: list[list[tuple[torch.Tensor, torch.Tensor]]] = [[] for _ in self.blocks.layers]
        for i in range(self.length):
            h = self.embed(codes[:, -1:]) + self.position[i]  # [n, 1, width]
            for layer, kv in zip(self.blocks.layers, cache):  # nn.TransformerEncoderLayer, norm_first
                h = h + _attend_newest(layer.self_attn, layer.norm1(h), kv)
                h = h + layer.linear2(layer.activation(layer.linear1(layer.norm2(h))))
            probs = F.softmax(self.head(self.norm(h))[:, 0], dim=-1)
            u = torch.rand(n, 1, generator=generator).to(device)
            nxt = (probs.cumsum(1) < u).sum(1, keepdim=True).clamp(max=self.codebook_size - 1)
            codes = torch.cat([codes, nxt], dim=1)
        return codes[:, 1:]


def _attend_newest(attn: nn.MultiheadAttention, a: torch.Tensor, kv: list) -> torch.Tensor:
    """Self-attention of the newest position a [B, 1, W] over the earlier ones, whose keys and values
    `kv` holds, and itself (its own appended to kv): what `attn` gives that position under a causal mask."""
    q, k, v = F.linear(a, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    kv.append((k, v))
    keys, values = (torch.cat(parts, dim=1) for parts in zip(*kv))
    heads = (t.unflatten(-1, (attn.num_heads, -1)).transpose(1, 2) for t in (q, keys, values))  # [B, H, T, W / H]
    out = F.scaled_dot_product_attention(*heads)
    return attn.out_proj(out.transpose(1, 2).flatten(2))


@dataclass
class VQTerms:
    """What a VQ-VAE's forward returns, [B] nats each (commitment in squared code units)."""

    reconstruction: torch.Tensor  # log p(x | z_q(x))
    code_nats: torch.Tensor  # -log p(c(x)) under the code prior: the rate, KL(one-hot q || p)
    commitment: torch.Tensor  # ‖z_e - sg(z_q)‖², unweighted
    elbo: torch.Tensor  # reconstruction - code_nats
    loss: torch.Tensor  # -elbo + β_c · commitment


class VQVAE(VAE):
    """Convolutional encoder to a 7 × 7 grid, EMA vector quantiser, decoder, causal code prior."""

    TERMS = ("code_nats", "commitment")
    TERM_LABELS = {"code_nats": "-log p(codes)", "commitment": "commitment"}
    RATE = "code_nats"
    METRICS = ("elbo", "codebook")  # q is one-hot: the IWAE bound equals the ELBO for every k
    SETTINGS = {"codebook_size": 64, "commitment": 0.25, "ema_decay": 0.99,
                "prior_width": 64, "prior_layers": 2, "prior_heads": 4}
    USES_BETA = False

    def __init__(self, config: ModelConfig) -> None:
        if config.arch != "conv":
            raise ValueError("the VQ-VAE is convolutional: use arch='conv'")
        super().__init__(config)
        s = self.settings
        self.commitment = float(s["commitment"])
        self.quantizer = VectorQuantizer(int(s["codebook_size"]), config.latent_dim, decay=float(s["ema_decay"]))
        self.prior = CodePrior(int(s["codebook_size"]), GRID[0] * GRID[1], int(s["prior_width"]),
                               int(s["prior_layers"]), int(s["prior_heads"]))

    def _build_networks(self, c: ModelConfig, variance: bool = True) -> None:
        c1, c2 = c.conv_channels
        d = c.latent_dim  # the dimension of each code vector
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c2, d, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(d, c2, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),
        )

    @property
    def codebook_size(self) -> int:
        return self.quantizer.codebook_size

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """x: [B, 1, 28, 28] -> (z_e [B, D, 7, 7], None): the encoder's output before quantisation."""
        return self.encoder(x), None

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The code grid of each image, [B, 7, 7] integers in [0, K)."""
        return self.quantizer.codes(self.encode(x)[0])

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: [B, 7, 7] (or [B, 49]) -> likelihood parameters [B, 1, 28, 28]."""
        return self.decode(self.quantizer.lookup(codes.reshape(codes.shape[0], *GRID)))

    @property
    def loss_label(self) -> str:
        return f"−ELBO + {self.commitment:g}·commitment"

    def forward(self, x: torch.Tensor) -> VQTerms:
        """ELBO = log p(x | z_q) + log p(codes); loss = -ELBO + β_c · commitment."""
        z_e, _ = self.encode(x)
        z_q_st, z_q, codes = self.quantizer(z_e)
        log_px = self.log_likelihood(x, self.decode(z_q_st))
        rate = -self.prior.log_prob(codes.reshape(x.shape[0], -1))  # codes are integers: no gradient to z_e
        commit = commitment_loss(z_e, z_q)
        return VQTerms(reconstruction=log_px, code_nats=rate, commitment=commit, elbo=log_px - rate,
                       loss=-log_px + self.commitment * commit + rate)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder mean at the quantised code grid of x, [B, 1, 28, 28]."""
        return self.mean(self.decode_codes(self.codes(x)))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, chunk: int = 1000) -> torch.Tensor:
        """Decoder means at code grids drawn from the prior, [n, 1, 28, 28], `chunk` grids at a time."""
        device = self.quantizer.codebook.device
        return torch.cat([self.mean(self.decode_codes(self.prior.sample(min(chunk, n - i), generator, device=device)))
                          for i in range(0, n, chunk)])

    @torch.no_grad()
    def sample_uniform_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means at code grids drawn uniformly, ignoring the prior (to see why it is needed)."""
        codes = torch.randint(0, self.codebook_size, (n, *GRID), generator=generator)
        return self.mean(self.decode_codes(codes.to(self.quantizer.codebook.device)))

"""Labels in a VAE: the conditional VAE and Kingma et al.'s M2 (notebook 11).

**Conditional VAE** (`kind="cvae"`, Sohn et al. 2015): encoder q(z | x, y) and decoder p(x | z, y)
both see the one-hot label y, the prior stays N(0, I):

    log p(x | y) >= E_q(z|x,y)[log p(x | z, y)] - KL(q(z | x, y) || p(z)).

It trains on labelled images (`LABELS = True`). Since the decoder is given y, z need not carry the
digit's identity: fix z and change y, and the same "style" is drawn as every digit (`generate`).

**M2** (`kind="m2"`, Kingma, Rezende, Mohamed & Welling 2014): y is a latent variable that is
sometimes observed. p(y) uniform, p(z) = N(0, I), p(x | y, z) the decoder; q(z | x, y) and a
classifier q(y | x). For a labelled (x, y) the bound is the CVAE's plus log p(y):

    L(x, y) = E_q(z|x,y)[log p(x | y, z)] + log p(y) - KL(q(z | x, y) || p(z)) <= log p(x, y),

and for an unlabelled x, y is summed out under q(y | x) (all ten classes, no sampling):

    U(x) = Σ_y q(y | x) L(x, y) + H(q(y | x)) <= log p(x).

The training objective adds a classification term on the labelled images only (α = 0.1 N in the
paper, N the number of training images), so that q(y | x) learns from the labels directly:

    J = Σ_unlabelled -U(x) + Σ_labelled [-L(x, y) - α log q(y | x)].

The labelled images are few (100 here): the model keeps them as buffers (`attach_training_data`),
and each training step adds the whole labelled set's term to the batch's unlabelled one, scaled so
that one epoch estimates J / N_u. Every other training image is unlabelled: batch labels are never used.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dataclasses import dataclass

from vaelib.losses import ELBOTerms, bernoulli_log_prob, gaussian_log_prob, kl_std_normal, reparameterize
from vaelib.models.networks import IMAGE_DIM, IMAGE_SHAPE
from vaelib.models.vae import VAE, ModelConfig

__all__ = ["CVAE", "M2", "M2Terms", "pick_labelled", "m2_unlabelled_loss", "CLASSES"]

CLASSES = 10


@dataclass
class M2Terms(ELBOTerms):
    """M2's per-image terms: the ELBO's (y summed out; `kl` is KL(q(y, z | x) || p(y, z))), the
    entropy H(q(y | x)), and each image's equal share of the step's labelled term (0 outside training)."""

    entropy: torch.Tensor
    labelled_loss: torch.Tensor


def pick_labelled(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices of `per_class` images of each class: the first ones of each class in a seeded
    permutation of the split, [CLASSES · per_class], sorted."""
    order = torch.randperm(labels.shape[0], generator=torch.Generator().manual_seed(seed))
    picked = [order[labels[order] == c][:per_class] for c in range(CLASSES)]
    if any(p.numel() < per_class for p in picked):
        raise ValueError(f"fewer than {per_class} images of some class in this split")
    return torch.cat(picked).sort().values


def m2_unlabelled_loss(log_q_y: torch.Tensor, labelled_bounds: torch.Tensor) -> torch.Tensor:
    """-U(x) = -(Σ_y q(y | x) L(x, y) + H(q(y | x))), [B]: log_q_y [B, K] the classifier's log
    probabilities, labelled_bounds [B, K] the bound L(x, y) for every class y."""
    q = log_q_y.exp()
    return -((q * labelled_bounds).sum(dim=1) - (q * log_q_y).sum(dim=1))


class _Conditional(VAE):
    """Shared networks, one hidden layer each: q(z | x, y) and p(x | z, y) read [input, one-hot y].

    A linear layer of [x, one-hot y] is W_x x + w_y + b (w_y an embedding of y), so `encode_given`
    takes W_x x as `x_part`: M2's ten classes share it. x is an image (Bernoulli p(x | z, y)), or
    with the `features` setting d > 0 a d-vector with a diagonal Gaussian p(x | z, y) (M1 + M2)."""

    def _build_networks(self, c: ModelConfig, variance: bool = True) -> None:
        if len(c.hidden) != 1 or len(c.decoder_hidden) != 1:
            raise ValueError(f"{c.kind}: one hidden layer in the encoder and in the decoder, got {c.hidden}, {c.decoder_hidden}")
        (h,), (g,) = c.hidden, c.decoder_hidden
        self.features = int(self.settings.get("features", 0))
        self.in_dim = self.features or IMAGE_DIM
        self.enc_x, self.enc_y = nn.Linear(self.in_dim, h), nn.Embedding(CLASSES, h)
        self.mu_head, self.logvar_head = nn.Linear(h, c.latent_dim), nn.Linear(h, c.latent_dim)
        self.dec_z, self.dec_y = nn.Linear(c.latent_dim, g), nn.Embedding(CLASSES, g)
        self.decoder_out = nn.Linear(g, 2 * self.features or IMAGE_DIM)  # features: mean and log σ

    def x_part(self, x: torch.Tensor) -> torch.Tensor:
        """W_x x + b of the encoder's hidden layer, [B, H]."""
        return self.enc_x(x.reshape(x.shape[0], self.in_dim))

    def encode_given(self, x: torch.Tensor, y: torch.Tensor, x_part: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x, y): x [B, 1, 28, 28], y [B] int -> (μ, log σ²), each [B, D]."""
        h = F.relu((self.x_part(x) if x_part is None else x_part) + self.enc_y(y))
        return self.mu_head(h), self.logvar_head(h)

    def decode_given(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """p(x | z, y): Bernoulli logits [B, 1, 28, 28]; for features, [B, 2d] (mean, log σ)."""
        out = self.decoder_out(F.relu(self.dec_z(z) + self.dec_y(y)))
        return out if self.features else out.reshape(-1, *IMAGE_SHAPE)

    def log_likelihood(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """log p(x | z, y) from decode_given's output, [B]."""
        if not self.features:
            return bernoulli_log_prob(x, out)
        mean, log_sigma = out.chunk(2, dim=1)
        return gaussian_log_prob(x, mean, log_sigma)

    def labelled_bound(self, x: torch.Tensor, y: torch.Tensor, x_part: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """One-sample E_q[log p(x | z, y)] and KL(q(z | x, y) || p(z)), [B] each."""
        mu, logvar = self.encode_given(x, y, x_part)
        log_px = self.log_likelihood(x, self.decode_given(reparameterize(mu, logvar), y))
        return log_px, kl_std_normal(mu, logvar)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Decoder means at (z, y): [B, 1, 28, 28] (one z with ten labels: the same style as each digit)."""
        return torch.sigmoid(self.decode_given(z, y))

    @torch.no_grad()
    def sample_class(self, y: torch.Tensor, generator: torch.Generator | None = None,
                     temperature: float = 1.0) -> torch.Tensor:
        """One digit of each requested class y [B], decoder means [B, 1, 28, 28], at z ~ N(0, T² I)
        (T < 1 trades variety for typical digits)."""
        z = temperature * torch.randn(y.shape[0], self.latent_dim, generator=generator).to(y.device)
        return self.generate(z, y)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n digits, classes 0..9 in turn."""
        device = next(self.parameters()).device
        return self.sample_class(torch.arange(n, device=device) % CLASSES, generator)


class CVAE(_Conditional):
    """The conditional VAE: trained on labelled images, forward(x, y)."""

    LABELS = True
    METRICS = ("elbo",)
    RECONSTRUCTS = False

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if y is None:
            raise ValueError("a conditional VAE encodes x given its label: encode(x, y)")
        return self.encode_given(x, y)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, beta: float | None = None) -> ELBOTerms:
        """The one-sample bound on log p(x | y) and its parts, [B] each."""
        if y is None:
            raise ValueError("a conditional VAE needs the labels: model(x, y)")
        log_px, kl = self.labelled_bound(x, y)
        b = self.config.beta if beta is None else beta
        return ELBOTerms(reconstruction=log_px, kl=kl, elbo=log_px - kl, loss=-(log_px - b * kl), beta=float(b))


class M2(_Conditional):
    """Kingma et al.'s M2: the unlabelled bound on every batch, the labelled set's bound and
    classification term added each training step."""

    #: features d > 0: x is a d-vector with a Gaussian p(x | y, z) (vaelib.models.m1m2), not an image
    SETTINGS = {"labelled": 100, "label_seed": 0, "alpha": 0.1, "features": 0}
    METRICS = ("elbo",)
    RECONSTRUCTS = False
    TERMS = ("kl", "entropy", "labelled_loss")
    TERM_LABELS = {"kl": "KL", "entropy": "H(q(y|x))", "labelled_loss": "labelled"}

    def _build_networks(self, c: ModelConfig, variance: bool = True) -> None:
        super()._build_networks(c, variance)
        self.classifier = nn.Sequential(nn.Linear(self.in_dim, c.hidden[0]), nn.ReLU(), nn.Linear(c.hidden[0], CLASSES))
        n = int(self.settings["labelled"])
        if n % CLASSES:
            raise ValueError(f"m2: the labelled images are split evenly over {CLASSES} classes, got {n}")
        self.register_buffer("labelled_x", torch.zeros(n, *IMAGE_SHAPE))  # grey values in [0, 1]
        self.register_buffer("labelled_y", torch.zeros(n, dtype=torch.long))
        self.register_buffer("unlabelled_n", torch.zeros((), dtype=torch.long))

    def attach_training_data(self, train: "object") -> None:
        """Keep the labelled images of the training split (a vaelib.data.Split): `labelled` of them,
        as many of each class, picked with `label_seed`; the rest counts as unlabelled."""
        from vaelib.data import to_unit  # noqa: PLC0415
        idx = pick_labelled(train.labels.cpu(), int(self.settings["labelled"]) // CLASSES, int(self.settings["label_seed"]))
        self.labelled_x.copy_(to_unit(train.images.cpu()[idx]).to(self.labelled_x.device))
        self.labelled_y.copy_(train.labels.cpu()[idx].to(self.labelled_y.device))
        self.unlabelled_n.fill_(train.labels.shape[0] - idx.numel())

    def log_q_y(self, x: torch.Tensor) -> torch.Tensor:
        """log q(y | x), [B, 10]."""
        return F.log_softmax(self.classifier(x.reshape(x.shape[0], self.in_dim)), dim=1)

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """argmax_y q(y | x), [B]."""
        return self.log_q_y(x).argmax(dim=1)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x, y), with y = argmax q(y | x) when no label is given."""
        return self.encode_given(x, self.classify(x) if y is None else y)

    def bounds_all_classes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """L(x, y) for every class: (bound [B, K], log p(x | z, y) [B, K], KL [B, K]); log p(y) = -log K included."""
        b = x.shape[0]
        xs = x.repeat(CLASSES, *[1] * (x.dim() - 1))
        ys = torch.arange(CLASSES, device=x.device).repeat_interleave(b)
        log_px, kl = self.labelled_bound(xs, ys, self.x_part(x).repeat(CLASSES, 1))
        log_px, kl = log_px.reshape(CLASSES, b).T, kl.reshape(CLASSES, b).T
        return log_px - kl - math.log(CLASSES), log_px, kl

    def forward(self, x: torch.Tensor, beta: float | None = None) -> ELBOTerms:
        """-U(x) per image (the ELBO of log p(x), y summed out) and, in training, the labelled term."""
        terms = self.terms(x)
        if self.training and torch.is_grad_enabled():
            self.add_labelled(terms, self.labelled_loss())
        return terms

    def terms(self, x: torch.Tensor) -> M2Terms:
        """forward's terms without the labelled term (labelled_loss 0)."""
        log_q_y = self.log_q_y(x)
        bound, log_px, kl = self.bounds_all_classes(x)
        q = log_q_y.exp()
        entropy = -(q * log_q_y).sum(dim=1)
        loss = m2_unlabelled_loss(log_q_y, bound)
        return M2Terms(reconstruction=(q * log_px).sum(dim=1), kl=(q * kl).sum(dim=1) - entropy + math.log(CLASSES),
                       elbo=-loss, loss=loss, beta=1.0, entropy=entropy, labelled_loss=torch.zeros_like(loss))

    @staticmethod
    def add_labelled(terms: M2Terms, labelled: torch.Tensor) -> None:
        """Add the step's labelled term (a scalar) to the loss: every image of the batch carries an equal share."""
        terms.labelled_loss = labelled.expand_as(terms.loss)
        terms.loss = terms.loss + terms.labelled_loss

    def labelled_loss(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """The labelled set's share of one step: (1 / N_u) Σ_labelled [-L(x, y) - α N log q(y | x)],
        on a fresh binarization of the labelled images (N = N_u + N_l); x: the labelled images as
        this M2 reads them, when not the images themselves (M1 + M2: their codes)."""
        n_l = self.labelled_y.shape[0]
        n_u = max(int(self.unlabelled_n), 1)
        x = torch.bernoulli(self.labelled_x) if x is None else x
        log_px, kl = self.labelled_bound(x, self.labelled_y)
        bound = log_px - kl - math.log(CLASSES)
        ce = F.nll_loss(self.log_q_y(x), self.labelled_y, reduction="none")
        alpha = float(self.settings["alpha"]) * (n_u + n_l)
        return ((-bound + alpha * ce).sum() / n_u).reshape(())


"""Encoders and decoders: fully connected and convolutional.

An encoder maps images x: [B, 1, 28, 28] to the parameters of q(z | x) = N(μ, diag σ²), returned
as (μ, log σ²), each [B, D]; with `variance=False` it is deterministic (a WAE's z = f(x)) and
returns (z, None). `encoder.features(x)` is the hidden layer the heads read, [B, H] (the GM-VAE
puts its categorical head there too). A decoder maps z: [B, D] to one unconstrained output per pixel,
[B, 1, 28, 28]; the likelihood (vaelib.models.vae) decides what that output means.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "IMAGE_SHAPE", "IMAGE_DIM", "MLP", "FCEncoder", "FCDecoder", "ConvEncoder", "ConvDecoder",
]

IMAGE_SHAPE = (1, 28, 28)
IMAGE_DIM = 28 * 28


def _block(n_in: int, n_out: int, batch_norm: bool, dropout: float) -> nn.Sequential:
    """Linear -> [BatchNorm] -> ReLU -> [Dropout]."""
    layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(n_out))
    layers.append(nn.ReLU())
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MLP(nn.Module):
    """A stack of hidden blocks. With `residual`, a block whose input and output widths agree
    computes h + f(h) (He et al. 2016); a block that changes width stays plain."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], *, residual: bool = False, batch_norm: bool = False,
            dropout: float = 0.0) -> None:
        super().__init__()
        widths = (n_in, *hidden)
        self.blocks = nn.ModuleList(
            _block(a, b, batch_norm, dropout) for a, b in zip(widths[:-1], widths[1:])
        )
        self.skip = [residual and a == b for a, b in zip(widths[:-1], widths[1:])]
        self.n_out = widths[-1]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for block, skip in zip(self.blocks, self.skip):
            h = h + block(h) if skip else block(h)
        return h


class FCEncoder(nn.Module):
    """784 -> hidden... -> (μ, log σ²). pytorch/examples: hidden=(400,), latent 20."""

    def __init__(self, latent_dim: int, hidden: tuple[int, ...] = (400,), *, residual: bool = False,
            batch_norm: bool = False, dropout: float = 0.0, variance: bool = True) -> None:
        super().__init__()
        self.body = MLP(IMAGE_DIM, hidden, residual=residual, batch_norm=batch_norm, dropout=dropout)
        self.n_features = self.body.n_out
        self.mu = nn.Linear(self.body.n_out, latent_dim)
        self.logvar = nn.Linear(self.body.n_out, latent_dim) if variance else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(x.shape[0], -1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.features(x)
        return self.mu(h), (self.logvar(h) if self.logvar is not None else None)


class FCDecoder(nn.Module):
    """z -> hidden... -> 784 outputs, reshaped to [B, 1, 28, 28]. Give `hidden` in decoder order
    (e.g. (400,) or (128, 256))."""

    def __init__(self, latent_dim: int, hidden: tuple[int, ...] = (400,), *, batch_norm: bool = False,
            dropout: float = 0.0) -> None:
        super().__init__()
        self.body = MLP(latent_dim, hidden, batch_norm=batch_norm, dropout=dropout)
        self.out = nn.Linear(self.body.n_out, IMAGE_DIM)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(z)).reshape(z.shape[0], *IMAGE_SHAPE)


class ConvEncoder(nn.Module):
    """[B,1,28,28] -conv4s2-> [B,c1,14,14] -conv4s2-> [B,c2,7,7] -> fc -> (μ, log σ²)."""

    def __init__(self, latent_dim: int, channels: tuple[int, int] = (32, 64), hidden: int = 256,
            *, variance: bool = True) -> None:
        super().__init__()
        c1, c2 = channels
        self.n_features = hidden
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(c2 * 7 * 7, hidden),
            nn.ReLU(),
        )
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim) if variance else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.features(x)
        return self.mu(h), (self.logvar(h) if self.logvar is not None else None)


class ConvDecoder(nn.Module):
    """z -> fc -> [B,c2,7,7] -deconv4s2-> [B,c1,14,14] -deconv4s2-> [B,1,28,28] outputs."""

    def __init__(
        self, latent_dim: int, channels: tuple[int, int] = (32, 64), hidden: int = 256
    ) -> None:
        super().__init__()
        c1, c2 = channels
        self.c2 = c2
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, c2 * 7 * 7),
            nn.ReLU(),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.fc(z).reshape(z.shape[0], self.c2, 7, 7))

"""Pictures of digits and curves, for the CLI and the notebooks."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image


def grid(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> torch.Tensor:
    """[N, 1, 28, 28] in [0, 1] -> one [H, W] image tensor (CPU) with the digits in rows of nrow."""
    g = make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=pad, pad_value=1.0)
    return g[0]


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 8) -> Path:
    """Write a PNG grid of digits (white padding)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.detach().float().cpu().clamp(0, 1), path, nrow=nrow, padding=2, pad_value=1.0)
    return path


def show_grid(images: torch.Tensor, ax=None, nrow: int = 8, title: str | None = None):
    """Draw a grid of digits on a matplotlib axis (created if None); returns the axis."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(nrow * 0.6, max(1, (len(images) + nrow - 1) // nrow) * 0.6))
    ax.imshow(grid(images, nrow=nrow).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def reconstruction_pairs(x: torch.Tensor, x_hat: torch.Tensor, n: int = 8) -> torch.Tensor:
    """Originals on the top row, reconstructions below: [2n, 1, 28, 28] for a grid with nrow=n."""
    return torch.cat([x[:n].detach().cpu(), x_hat[:n].detach().cpu()])


def plot_history(history, ax=None, columns=("train_loss", "val_loss"), title: str | None = None):
    """Line plot of history columns against epoch."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for c in columns:
        ax.plot(history["epoch"], history[c], marker="o", ms=3, label=c)
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per image")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


__all__ = ["grid", "save_grid", "show_grid", "reconstruction_pairs", "plot_history"]

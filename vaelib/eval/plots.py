"""Pictures of digits and curves, for the CLI and the notebooks."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

__all__ = ["grid", "save_grid", "show_grid", "reconstruction_pairs", "plot_history", "scatter_latent", "show_manifold"]


def grid(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> torch.Tensor:
    """[N, 1, 28, 28] in [0, 1] -> one [H, W] image tensor (CPU) with the digits in rows of nrow."""
    return make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=pad, pad_value=1.0)[0]


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


def plot_history(history, ax=None, columns=("train_loss", "val_loss"), title: str | None = None,
                 labels: dict[str, str] | None = None, loss_label: str = "−ELBO"):
    """Line plot of history columns against epoch (nats per image), labelled by `labels`; the training
    and validation losses are called `loss_label` (pass `model.loss_label`), other columns by their names."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    names = {"train_loss": f"train {loss_label}", "val_loss": f"validation {loss_label}", **(labels or {})}
    for c in columns:
        ax.plot(history["epoch"], history[c], marker="o", ms=3, label=names.get(c, c))
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per image")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


# ----------------------------------------------------------------------------- 2-D latent spaces


def scatter_latent(codes, labels, ax=None, s: float = 2.0, title: str | None = None, legend: bool = True):
    """Scatter 2-D codes [N, 2] coloured by their labels [N] (ints 0..9), one collection per class in
    label order. Returns the axis."""
    import matplotlib.pyplot as plt

    codes = torch.as_tensor(codes).detach().float().cpu()
    labels = torch.as_tensor(labels).detach().cpu()
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"codes must be [N, 2], got {tuple(codes.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    cmap = plt.get_cmap("tab10")
    for c in sorted(set(labels.tolist())):
        pts = codes[labels == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=s, color=cmap(c % 10), label=str(c), rasterized=True)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if legend:
        ax.legend(markerscale=4 / max(s, 0.1) ** 0.5, fontsize=7, loc="upper right", ncol=2, title="digit")
    if title:
        ax.set_title(title)
    return ax


def show_manifold(images, coords, ax=None, title: str | None = None, ticks: int = 5):
    """Draw the digits [n*n, 1, 28, 28] decoded at an n × n `latent_grid` with the axes in latent
    units: column j sits at z1 = coords[j], row i at z2 = coords[n-1-i] (coords: [n]). Returns the axis."""
    import matplotlib.pyplot as plt

    coords = torch.as_tensor(coords).detach().float().cpu()
    n = coords.shape[0]
    if images.shape[0] != n * n:
        raise ValueError(f"expected {n * n} images for a {n} × {n} grid, got {images.shape[0]}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    g = grid(images, nrow=n, pad=0).numpy()  # [28n, 28n], no padding so cells line up with ticks
    ax.imshow(g, cmap="gray", vmin=0, vmax=1, extent=(0, n, 0, n))
    idx = sorted({round(i * (n - 1) / max(ticks - 1, 1)) for i in range(ticks)})
    ax.set_xticks([i + 0.5 for i in idx], [f"{coords[i]:.2f}" for i in idx])
    ax.set_yticks([i + 0.5 for i in idx], [f"{coords[i]:.2f}" for i in idx])  # row from the bottom: z2 = coords[i]
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax



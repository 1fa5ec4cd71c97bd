"""Walking the latent space: interpolations between codes, latent grids and traversals.

Why `slerp`: under the prior N(0, I_D), |z|² follows a χ²_D law, so for large D almost all prior
mass sits near the sphere of radius √D. The straight line between two typical codes cuts through
the inside of that sphere (its midpoint has about 1/√2 of their norm), where the decoder saw
almost no codes in training; the great circle keeps the norm.
"""

from __future__ import annotations

import torch

__all__ = ["lerp", "slerp", "latent_grid", "traverse"]


def _fractions(n: int, like: torch.Tensor) -> torch.Tensor:
    if n < 2:
        raise ValueError(f"an interpolation needs n >= 2 points (both endpoints), got {n}")
    return torch.linspace(0.0, 1.0, n, dtype=like.dtype, device=like.device)


def lerp(z0: torch.Tensor, z1: torch.Tensor, n: int) -> torch.Tensor:
    """Linear interpolation z(t) = (1 - t) z0 + t z1 at n evenly spaced t in [0, 1]:
    z0, z1 [..., D] (same shape) -> [..., n, D]."""
    t = _fractions(n, z0)[:, None]  # [n, 1]
    return (1 - t) * z0.unsqueeze(-2) + t * z1.unsqueeze(-2)


def slerp(z0: torch.Tensor, z1: torch.Tensor, n: int, eps: float = 1e-7) -> torch.Tensor:
    """Spherical linear interpolation (Shoemake 1985) at n evenly spaced t in [0, 1]:

        z(t) = sin((1 - t) Ω) / sin Ω · z0 + sin(t Ω) / sin Ω · z1,   cos Ω = z0·z1 / (|z0| |z1|),

    along the great circle through z0 and z1; when |z0| = |z1| every point has that norm (a straight
    line's midpoint is shorter by cos(Ω/2)). Nearly parallel ends (sin Ω < eps) fall back to `lerp`.
    z0, z1: [..., D] (same shape) -> [..., n, D].
    """
    t = _fractions(n, z0)[:, None]  # [n, 1]
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
    omega = torch.arccos(cos.clamp(-1.0, 1.0)).unsqueeze(-2)  # [..., 1, 1]
    sin = torch.sin(omega)
    parallel = sin < eps
    safe = torch.where(parallel, torch.ones_like(sin), sin)
    w0 = torch.where(parallel, 1 - t, torch.sin((1 - t) * omega) / safe)  # [..., n, 1]
    w1 = torch.where(parallel, t, torch.sin(t * omega) / safe)
    return w0 * z0.unsqueeze(-2) + w1 * z1.unsqueeze(-2)


def latent_grid(n: int = 20, p_min: float = 0.05, p_max: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """An n × n grid of 2-D latent points at Gaussian quantiles (Kingma & Welling 2014, fig. 4).

    Each coordinate takes the values Φ⁻¹(p) for n probabilities p evenly spaced in [p_min, p_max]:
    neighbouring points enclose equal prior mass (dense near 0, where most codes are). Returns
    z [n*n, 2] in image order (top row = largest z2, left column = smallest z1, so the decoded grid
    lines up with a scatter of the codes) and coords [n], the increasing 1-D quantiles.
    """
    if not 0.0 < p_min < p_max < 1.0:
        raise ValueError(f"need 0 < p_min < p_max < 1, got {p_min}, {p_max}")
    p = torch.linspace(p_min, p_max, n, dtype=torch.float64)
    coords = torch.distributions.Normal(0.0, 1.0).icdf(p).float()  # [n], increasing
    z2, z1 = torch.meshgrid(coords.flip(0), coords, indexing="ij")  # rows: z2 from high to low
    return torch.stack([z1.flatten(), z2.flatten()], dim=1), coords


def traverse(z0: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
    """A latent traversal (Higgins et al. 2017): z0 [D] (not modified), values [n] -> [n, D], row i
    equal to z0 except z[i, dim] = values[i]; decoded, it shows what that one dimension controls."""
    if z0.dim() != 1:
        raise ValueError(f"z0 must be one code of shape [D], got {list(z0.shape)}")
    if not -z0.shape[0] <= dim < z0.shape[0]:
        raise IndexError(f"dim {dim} out of range for a {z0.shape[0]}-dimensional code")
    z = z0.unsqueeze(0).repeat(values.shape[0], 1)
    z[:, dim] = values.to(z)
    return z

"""Interpolations and the latent grid against closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from vaelib.eval.latent import latent_grid, lerp, slerp


def _pair(d: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)


def test_lerp_endpoints_are_exact_and_midpoint_is_the_mean():
    z0, z1 = _pair()
    path = lerp(z0, z1, 5)
    assert path.shape == (5, 20)
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    assert torch.allclose(path[2], (z0 + z1) / 2, atol=1e-12)


def test_slerp_endpoints_are_the_given_codes():
    z0, z1 = _pair()
    path = slerp(z0, z1, 7)
    assert path.shape == (7, 20)
    assert torch.allclose(path[0], z0, atol=1e-12) and torch.allclose(path[-1], z1, atol=1e-12)


def test_slerp_keeps_the_norm_of_equal_norm_endpoints_and_lerp_does_not():
    z0, z1 = _pair()
    z1 = z1 / z1.norm() * z0.norm()  # equal norms
    s, l = slerp(z0, z1, 11), lerp(z0, z1, 11)
    assert torch.allclose(s.norm(dim=-1), z0.norm().expand(11), rtol=1e-10)
    # the straight line's midpoint is shorter by cos(Ω/2), Ω the angle between the endpoints
    omega = torch.arccos(z0 @ z1 / (z0.norm() * z1.norm()))
    assert math.isclose(l[5].norm().item(), (z0.norm() * torch.cos(omega / 2)).item(), rel_tol=1e-10)
    assert l[5].norm() < s[5].norm()


def test_slerp_moves_at_constant_angular_speed_on_the_unit_circle():
    z0, z1 = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64)
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    expected = torch.stack([torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2)], dim=1)
    assert torch.allclose(slerp(z0, z1, 9), expected, atol=1e-12)


def test_slerp_of_parallel_codes_is_the_straight_line_and_finite():
    z0 = torch.tensor([1.0, 2.0, -1.0])
    path = slerp(z0, 3 * z0, 5)
    assert torch.isfinite(path).all()
    assert torch.allclose(path, lerp(z0, 3 * z0, 5), atol=1e-5)


def test_interpolations_broadcast_over_leading_dimensions():
    g = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    for f in (lerp, slerp):
        batched = f(z0, z1, 6)
        assert batched.shape == (3, 6, 4)
        for i in range(3):
            assert torch.allclose(batched[i], f(z0[i], z1[i], 6), atol=1e-6)


def test_interpolations_need_two_points():
    z0, z1 = _pair()
    with pytest.raises(ValueError):
        lerp(z0, z1, 1)


def _phi(x: float) -> float:  # the standard normal CDF, written independently of torch
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_latent_grid_sits_at_gaussian_quantiles_in_image_order():
    z, coords = latent_grid(n=5, p_min=0.05, p_max=0.95)
    assert z.shape == (25, 2) and coords.shape == (5,)
    assert math.isclose(coords[-1].item(), 1.6448536, rel_tol=1e-5)  # Φ⁻¹(0.95)
    assert torch.allclose(coords, -coords.flip(0), atol=1e-6)  # symmetric around 0
    # equal prior mass between neighbours: Φ of the coordinates is evenly spaced
    p = torch.tensor([_phi(c) for c in coords.tolist()])
    assert torch.allclose(p, torch.linspace(0.05, 0.95, 5), atol=1e-6)
    grid = z.reshape(5, 5, 2)
    assert torch.equal(grid[0, 0], torch.stack([coords[0], coords[-1]]))  # top left: z1 low, z2 high
    assert torch.equal(grid[-1, -1], torch.stack([coords[-1], coords[0]]))  # bottom right: z1 high, z2 low
    assert (grid[:, 1:, 0] > grid[:, :-1, 0]).all() and (grid[1:, :, 1] < grid[:-1, :, 1]).all()


def test_latent_grid_rejects_probabilities_outside_the_open_unit_interval():
    with pytest.raises(ValueError):
        latent_grid(n=4, p_min=0.0)

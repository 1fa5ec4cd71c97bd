"""The inference gaps (vaelib.eval.gaps) on a linear-Gaussian model, where everything is exact."""

from __future__ import annotations

import math

import torch

from vaelib.eval.gaps import inference_gaps, optimal_gaussian_elbo


class LinearGaussian(torch.nn.Module):
    """p(z) = N(0, I), p(x | z) = N(Wz + b, s² I); a deliberately poor encoder q = N(0.5, e^{-2})."""

    def __init__(self, d_z: int = 2, d_x: int = 5, s: float = 0.5) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.W = torch.nn.Parameter(torch.randn(d_x, d_z, generator=g, dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.randn(d_x, generator=g, dtype=torch.float64))
        self.s, self.d_z = s, d_z

    def encode(self, x):
        return torch.full((x.shape[0], self.d_z), 0.5, dtype=x.dtype), torch.full((x.shape[0], self.d_z), -2.0, dtype=x.dtype)

    def decode(self, z):
        return z @ self.W.T + self.b

    def log_likelihood(self, x, mean):
        return torch.distributions.Normal(mean, self.s).log_prob(x).sum(-1)

    def log_prior(self, z):
        return torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)

    def exact(self, x):
        """log p(x), and the ELBO of the best diagonal Gaussian q (posterior mean, precision's diagonal)."""
        W, d_x = self.W.detach(), self.W.shape[0]
        cov = W @ W.T + self.s**2 * torch.eye(d_x, dtype=W.dtype)
        log_px = torch.distributions.MultivariateNormal(self.b.detach(), cov).log_prob(x)
        precision = torch.eye(self.d_z, dtype=W.dtype) + W.T @ W / self.s**2
        post_cov = torch.linalg.inv(precision)
        post_mean = (x - self.b.detach()) @ W @ post_cov.T / self.s**2
        post = torch.distributions.MultivariateNormal(post_mean, post_cov)
        q = torch.distributions.MultivariateNormal(post_mean, torch.diag(1 / precision.diagonal()))
        return log_px, log_px - torch.distributions.kl_divergence(q, post)


def test_optimised_q_reaches_the_best_diagonal_elbo_and_the_gaps_add_up():
    model = LinearGaussian()
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    log_px, best = model.exact(x)
    out = optimal_gaussian_elbo(model, x, steps=400, lr=0.05, samples=16, eval_samples=4000)
    assert (out["optimal"] - best).abs().mean() < 0.02  # reaches the best diagonal Gaussian ELBO
    assert (out["optimal"] <= log_px + 0.05).all() and (out["encoder"] < out["optimal"]).all()
    gaps = inference_gaps(model, x, k=2000, batch_size=16, steps=400, samples=16, eval_samples=4000)
    assert torch.allclose(gaps["approximation_gap"] + gaps["amortization_gap"], gaps["total_gap"], atol=1e-9)
    err = gaps["log_px"] - log_px  # L_k with the optimised proposal estimates log p(x) (one draw per image)
    assert err.mean().abs() < 0.03 and err.abs().mean() < 0.06
    assert gaps["log_px_encoder_q"].mean() < gaps["log_px"].mean()  # the poor encoder: a worse proposal
    exact_approx = (log_px - best).mean().item()
    assert math.isclose(gaps["approximation_gap"].mean().item(), exact_approx, abs_tol=0.02)
    assert gaps["amortization_gap"].mean() > 1.0  # the poor encoder loses nats every image could keep
    assert all(p.requires_grad for p in model.parameters())  # the model is left as it was

"""The inference gaps of a VAE (Cremer, Li & Duvenaud 2018): where the ELBO loses its nats.

    log p(x) - ELBO_encoder(x) = [log p(x) - ELBO*(x)]        approximation gap
                               + [ELBO*(x) - ELBO_encoder(x)]  amortization gap

what a Gaussian cannot express about the posterior, and what one encoder shared by all images
loses against fitting each image alone. ELBO* is the best ELBO a diagonal Gaussian q reaches for
this image alone (`optimal_gaussian_elbo`); log p(x) is estimated by L_k with that optimised q as
the proposal. L_k falls short of log p(x) (it shrinks the approximation gap) and a q stopped
before its optimum lowers ELBO* (it inflates the gap): check that `steps` has converged (double
it) before reading the gap as more than an estimate. Needs a model with a Gaussian q(z | x):
`encode` -> (μ, log σ²), `decode`, `log_likelihood`, `log_prior` (vaelib's VAE and GM-VAE, or a stand-in).
"""

from __future__ import annotations

import torch
from torch import nn

from vaelib.losses import decoded_log_likelihood, gaussian_diag_log_prob

__all__ = ["elbo_estimate", "importance_bound", "optimal_gaussian_elbo", "inference_gaps"]


def _log_weights(model: nn.Module, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                 eps: torch.Tensor) -> torch.Tensor:
    """log p(x, z_s) - log q(z_s) for z_s = μ + σ ε_s, ε: [S, B, D] -> [S, B]."""
    s, b = eps.shape[:2]
    z = mu + (0.5 * logvar).exp() * eps  # [S, B, D]
    flat = z.reshape(s * b, -1)
    x_rep = x.unsqueeze(0).expand(s, *x.shape).reshape(s * b, *x.shape[1:])
    log_joint = decoded_log_likelihood(model, x_rep, flat) + model.log_prior(flat)
    return log_joint.reshape(s, b) - gaussian_diag_log_prob(z, mu, logvar)


def elbo_estimate(model: nn.Module, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  eps: torch.Tensor) -> torch.Tensor:
    """ELBO(x) under q = N(μ, diag σ²) from the draws eps [S, B, D]: the mean over s of
    log p(x | z_s) + log p(z_s) - log q(z_s), z_s = μ + σ ε_s. x: [B, ...], mu, logvar: [B, D] -> [B]."""
    return _log_weights(model, x, mu, logvar, eps).mean(0)


@torch.no_grad()
def importance_bound(model: nn.Module, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, k: int,
                     gen: torch.Generator, chunk: int = 100) -> torch.Tensor:
    """L_k(x) = log (1/k) Σ_i p(x, z_i) / q(z_i), [B], with the proposal q = N(μ, diag σ²), `chunk`
    draws at a time."""
    parts = [_log_weights(model, x, mu, logvar, torch.randn(min(chunk, k - i), *mu.shape, generator=gen).to(mu.device))
             for i in range(0, k, chunk)]
    return torch.logsumexp(torch.cat(parts), dim=0) - torch.log(torch.tensor(float(k)))


def optimal_gaussian_elbo(model: nn.Module, x: torch.Tensor, steps: int = 300, lr: float = 0.05,
                          samples: int = 8, eval_samples: int = 200, seed: int = 0) -> dict[str, torch.Tensor]:
    """Optimise a diagonal Gaussian q for each image of x (Adam on μ and log σ² from the encoder's q,
    `samples` reparameterised draws a step, the step size decaying to 0 so that the stochastic
    gradients settle), then estimate the ELBO of the encoder's q and of the optimised q with the
    same `eval_samples` draws (common random numbers: their difference is far less noisy than
    either). Returns per-image [B] tensors on the CPU: "encoder" and "optimal" ELBOs, the
    optimised "mu", "logvar"."""
    was_training, grads = model.training, [p.requires_grad for p in model.parameters()]
    model.eval().requires_grad_(False)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    try:
        with torch.no_grad():
            mu0, logvar0 = model.encode(x)
        mu, logvar = mu0.clone().requires_grad_(True), logvar0.clone().requires_grad_(True)
        opt = torch.optim.Adam([mu, logvar], lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
        for _ in range(steps):
            eps = torch.randn(samples, *mu.shape, generator=gen).to(mu.device)
            loss = -elbo_estimate(model, x, mu, logvar, eps).sum()  # images are independent: sum, not mean
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
        with torch.no_grad():
            eps = torch.randn(eval_samples, *mu.shape, generator=gen).to(mu.device)
            encoder, optimal = elbo_estimate(model, x, mu0, logvar0, eps), elbo_estimate(model, x, mu, logvar, eps)
    finally:
        for p, g in zip(model.parameters(), grads):
            p.requires_grad_(g)
        model.train(was_training)
    return {"encoder": encoder.cpu(), "optimal": optimal.cpu(),
            "mu": mu.detach().cpu(), "logvar": logvar.detach().cpu()}


def inference_gaps(model: nn.Module, x: torch.Tensor, k: int = 1000, batch_size: int = 100,
                   **optimise) -> dict[str, torch.Tensor]:
    """Per-image [N] tensors: the encoder's ELBO, the optimal Gaussian ELBO, log p(x) ≈ L_k with
    the optimised q as proposal, L_k with the encoder's q (a worse proposal: where it falls below
    ELBO*, it cannot measure the approximation gap), and the gaps; `batch_size` images at once."""
    out: dict[str, list[torch.Tensor]] = {"encoder_elbo": [], "optimal_elbo": [], "log_px": [], "log_px_encoder_q": []}
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size]
        opt = optimal_gaussian_elbo(model, xb, seed=i, **optimise)
        gen = torch.Generator(device="cpu").manual_seed(10_000 + i)
        with torch.no_grad():
            mu0, logvar0 = model.encode(xb)
            dev = mu0.device
            out["log_px"].append(importance_bound(model, xb, opt["mu"].to(dev), opt["logvar"].to(dev), k, gen).cpu())
            out["log_px_encoder_q"].append(importance_bound(model, xb, mu0, logvar0, k, gen).cpu())
        out["encoder_elbo"].append(opt["encoder"])
        out["optimal_elbo"].append(opt["optimal"])
    res = {name: torch.cat(v) for name, v in out.items()}
    res.update(approximation_gap=res["log_px"] - res["optimal_elbo"],
               amortization_gap=res["optimal_elbo"] - res["encoder_elbo"],
               total_gap=res["log_px"] - res["encoder_elbo"])
    return res


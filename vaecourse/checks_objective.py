"""The checks of notebook 02, the VAE objective: reparameterize, kl_std_normal, elbo, iwae_bound.

Each exercise has a `_prep_*` (fresh inputs and vaelib's reference answers) and a `_judge_*` (the
student's outputs against them, a hint on failure); `OBJECTIVE_CHECKS` pairs them up for the
registry `vaecourse.checks.CHECKS`.
"""

from __future__ import annotations

import math

import torch

from vaelib import losses
from vaecourse import probes
from vaecourse.check_helpers import Check, CheckFailed, _close, _max_diff, _tensor

__all__ = ["OBJECTIVE_CHECKS"]


# ----------------------------------------------------------------------------- reparameterize


def _prep_reparameterize(g: torch.Generator) -> tuple[dict, None]:
    d = 7
    mu = 2.0 * torch.randn(d, generator=g)
    logvar = torch.empty(d).uniform_(-2.0, 1.5, generator=g)
    return {"mu": mu, "logvar": logvar, "n": 40_000}, None


def _judge_reparameterize(out: dict, p: dict, _ref) -> None:
    mu0, logvar0, n = p["mu"], p["logvar"], p["n"]
    d = len(mu0)
    sigma = torch.exp(0.5 * logvar0).double()
    small_mu = mu0[:3].repeat(4, 1)
    z = _tensor(out["first"], "reparameterize(mu, logvar)", (4, 3), "[B, D]")
    again = _tensor(out["again"], "reparameterize(mu, logvar)", (4, 3), "[B, D]")
    if torch.equal(z, again) and not torch.equal(z, small_mu.double()):
        raise CheckFailed("two calls returned the same z: draw a fresh eps every call (no seeding inside the function)")
    zs = _tensor(out["many"], "reparameterize(mu, logvar)", (n, d), "[B, D]")
    mean, std = zs.mean(0), zs.std(0)
    if (std < 1e-6).all():
        raise CheckFailed("z has no spread: z = mu + sigma * eps with eps ~ N(0, I), not z = mu")
    se = std / math.sqrt(n)  # the observed spread: a wrong sigma is named by the spread check below, not here
    if not ((mean - mu0.double()).abs() < 5 * se + 1e-6).all():
        raise CheckFailed(f"the sample mean of z is not mu (max error {_max_diff(mean, mu0)}): z = mu + sigma * eps")
    if not ((std - sigma).abs() / sigma < 0.03).all():
        var = torch.exp(logvar0).double()
        if ((std - var).abs() / var < 0.03).all():
            raise CheckFailed("the spread of z is sigma^2 = exp(logvar), not sigma: sigma = exp(0.5 * logvar)")
        raise CheckFailed("the spread of z is not sigma = exp(0.5 * logvar): eps must be standard normal, N(0, 1)")
    if "error" in out:
        raise CheckFailed(f"reparameterize(mu, logvar) with gradients raised {out['error']}")
    if out.get("requires_grad") is not True:
        raise CheckFailed("no gradient reaches mu and logvar: build z from them with differentiable operations "
                          "(mu + sigma * eps); only eps is random")
    mu_grad, lv_grad = out["mu_grad"], out["logvar_grad"]
    if not isinstance(mu_grad, torch.Tensor) or not isinstance(lv_grad, torch.Tensor):
        which = "mu" if not isinstance(mu_grad, torch.Tensor) else "logvar"
        raise CheckFailed(f"no gradient reaches {which}: z must be computed from both mu and logvar")
    zg = _tensor(out["z"], "reparameterize(mu, logvar)", (5, 3), "[B, D]")
    mu_g = mu0[:3].repeat(5, 1).double()
    if mu_grad.shape != mu_g.shape or lv_grad.shape != mu_g.shape:
        raise CheckFailed("the gradients do not have the shape of mu and logvar")
    if not (mu_grad.abs() > 0).any() or not (lv_grad.abs() > 0).any():
        raise CheckFailed("no gradient reaches mu and logvar through z: sample eps ~ N(0, I) and compute "
                          "mu + sigma * eps (torch.normal(mu, sigma) is not reparameterized)")
    if not torch.allclose(mu_grad.double(), torch.ones_like(mu_g), atol=1e-5):
        raise CheckFailed("dz/dmu should be 1: z = mu + sigma * eps")
    if not torch.allclose(lv_grad.double(), 0.5 * (zg - mu_g), atol=1e-4, rtol=1e-4):
        raise CheckFailed("dz/dlogvar should be sigma * eps / 2 = (z - mu) / 2: sigma = exp(0.5 * logvar)")


# ----------------------------------------------------------------------------- kl_std_normal


def _prep_kl(g: torch.Generator) -> tuple[dict, torch.Tensor]:
    b, d = 6, 9
    mu = 1.3 * torch.randn(b, d, generator=g)
    logvar = torch.empty(b, d).uniform_(-3.0, 2.0, generator=g)
    return {"mu": mu, "logvar": logvar}, losses.kl_std_normal(mu, logvar)


def _judge_kl(out: dict, p: dict, ref: torch.Tensor) -> None:
    mu, logvar, ref = p["mu"], p["logvar"], ref.double()
    b, d = mu.shape
    value = _tensor(out["out"], "kl_std_normal(mu, logvar)", (b,), "[B]")
    if _close(value, ref):
        zero = _tensor(out["zero"], "kl_std_normal(0, 0)", (2,), "[B]")
        if not torch.allclose(zero, torch.zeros(2, dtype=torch.double), atol=1e-5):
            raise CheckFailed("KL(q || p) must be 0 when q is the prior (mu = 0, logvar = 0)")
        return
    as_log_sigma = -0.5 * (1 + 2 * logvar - mu.pow(2) - (2 * logvar).exp()).sum(1)
    diagnoses = [
        (ref / d, "values are the reference divided by D: sum over the latent dimensions, do not average"),
        (-ref, "values have the wrong sign: KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) is >= 0"),
        (2 * ref, "values are twice the reference: the closed form has a factor -1/2 in front"),
        (as_log_sigma, "logvar is log sigma^2 (a log-variance), so sigma^2 = exp(logvar), not exp(2 * logvar)"),
    ]
    for candidate, hint in diagnoses:
        if _close(value, candidate.double()):
            raise CheckFailed(hint)
    raise CheckFailed("values differ from KL = -0.5 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)) "
                      f"(max difference {_max_diff(value, ref)} nats)")


# ----------------------------------------------------------------------------- elbo with β


def _prep_elbo(g: torch.Generator) -> tuple[dict, dict]:
    b = 7
    log_px = -torch.empty(b).uniform_(50.0, 200.0, generator=g)
    kl = torch.empty(b).uniform_(0.5, 30.0, generator=g)
    betas = [1.0, 0.25, 4.0]
    return {"log_px": log_px, "kl": kl, "betas": betas}, {str(b): losses.elbo(log_px, kl, b) for b in betas}


def _judge_elbo(out: dict, p: dict, refs: dict) -> None:
    log_px, kl = p["log_px"], p["kl"]
    b = len(log_px)
    for beta in p["betas"]:
        what, ref, got = f"elbo(log_px_given_z, kl, beta={beta})", refs[str(beta)], out[str(beta)]
        if "error" in got:
            raise CheckFailed(f"{what} raised {got['error']}")
        fields = got["fields"]
        missing = [a for a in ("elbo", "loss") if a not in fields]
        if missing:
            raise CheckFailed(f"{what} returned a {got['type']} without {', '.join(missing)}: "
                              "return vaelib.losses.ELBOTerms(reconstruction=..., kl=..., elbo=..., loss=..., "
                              "beta=...)")
        elbo_v = _tensor(fields["elbo"], f"{what}.elbo", (b,), "[B]")
        loss_v = _tensor(fields["loss"], f"{what}.loss", (b,), "[B]")
        for field_name, given in (("reconstruction", log_px), ("kl", kl)):
            if field_name in fields and not _close(_tensor(fields[field_name], f"{what}.{field_name}", (b,), "[B]"),
                                                   given):
                raise CheckFailed(f"{what}.{field_name} should be the {field_name} term that was passed in, unchanged")
        if not _close(elbo_v, ref.elbo):
            if _close(elbo_v, -(ref.loss.double())):
                raise CheckFailed(f"{what}.elbo depends on beta: the ELBO is reconstruction - KL whatever beta; "
                                  "beta only weights the KL in the training loss")
            if _close(elbo_v, -ref.elbo):
                raise CheckFailed(f"{what}.elbo has the wrong sign: ELBO = reconstruction - KL "
                                  "(the loss is its negative)")
            raise CheckFailed(f"{what}.elbo should be reconstruction - KL "
                              f"(max difference {_max_diff(elbo_v, ref.elbo)})")
        if not _close(loss_v, ref.loss):
            if _close(loss_v, -ref.loss.double()):
                raise CheckFailed(f"{what}.loss has the wrong sign: the loss is what the optimiser minimises, "
                                  "-(reconstruction - beta * KL)")
            if _close(loss_v, -ref.elbo.double()):
                raise CheckFailed(f"{what}.loss ignores beta: loss = -(reconstruction - beta * KL)")
            if _close(loss_v, -(log_px - kl / beta).double()):
                raise CheckFailed(f"{what}.loss divides the KL by beta: loss = -(reconstruction - beta * KL)")
            raise CheckFailed(f"{what}.loss should be -(reconstruction - beta * KL) "
                              f"(max difference {_max_diff(loss_v, ref.loss)})")


# ----------------------------------------------------------------------------- iwae_bound


def _prep_iwae(g: torch.Generator) -> tuple[dict, dict]:
    poor_state = probes.ToyLinearGaussian.draw(g)
    exact_state = probes.ToyLinearGaussian.draw(g, exact=True)
    poor, exact = probes.ToyLinearGaussian(poor_state), probes.ToyLinearGaussian(exact_state)
    b, reps = 6, 300
    x = poor.decode(torch.randn(b, 3, generator=g)) + poor.s * torch.randn(b, 5, generator=g)
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
    refs = {}
    for k in (1, 64):
        draws = losses.iwae_bound(poor, x.repeat(reps, 1), k).reshape(reps, b)  # reps independent L_k
        refs[k] = (draws.mean(0), draws.std(0) / math.sqrt(reps))
    inputs = {"poor": poor_state, "exact": exact_state, "x": x, "reps": 60, "ks": [1, 64]}
    return inputs, {"refs": refs, "true": poor.log_marginal(x), "true_exact": exact.log_marginal(x)}


def _judge_iwae(out: dict, p: dict, ref: dict) -> None:
    x, b = p["x"], p["x"].shape[0]
    for k in (1, 7):
        value = _tensor(out[f"exact k={k}"], f"iwae_bound(model, x, k={k})", (b,), "[B]")
        if not _close(value, ref["true_exact"], atol=1e-3):
            if _close(value, ref["true_exact"] + math.log(k), atol=1e-3):
                raise CheckFailed("with the exact posterior as q the bound must equal log p(x); yours is "
                                  "log p(x) + log k: subtract log k (the 1/k of the average)")
            raise CheckFailed(f"with the exact posterior as q every weight p(x, z)/q(z|x) equals p(x), so L_k = "
                              f"log p(x); yours differs by up to {_max_diff(value, ref['true_exact'])} nats "
                              f"at k = {k}: log w = log p(x|z) + log p(z) - log q(z|x)")
    for k, (ref_mean, ref_se) in ref["refs"].items():
        runs = out[f"poor k={k}"]
        if not isinstance(runs, list) or len(runs) != p["reps"]:
            raise CheckFailed(f"the grader did not get {p['reps']} runs of iwae_bound(model, x, k={k})")
        draws = torch.stack([_tensor(r, f"iwae_bound(model, x, k={k})", (b,), "[B]") for r in runs])
        mean, se = draws.mean(0), draws.std(0) / math.sqrt(p["reps"])
        tol = 5 * (se.pow(2) + ref_se.double().pow(2)).sqrt() + 0.02
        if not ((mean - ref_mean.double()).abs() < tol).all():
            if k == 1:
                raise CheckFailed("with k = 1 the bound is the ELBO: log p(x|z) + log p(z) - log q(z|x) at one "
                                  f"z ~ q(z|x), on average; yours is off by {_max_diff(mean, ref_mean)} nats")
            ref_1 = ref["refs"][1][0].double()
            if ((mean - ref_1).abs() < (mean - ref_mean.double()).abs()).all():
                raise CheckFailed("the bound does not rise with k: average the weights, not the log-weights: "
                                  "L_k = logsumexp_i(log w_i) - log k")
            if (mean > ref["true"].double() + tol).any():
                raise CheckFailed("the bound is above log p(x): did you forget the - log k?")
            raise CheckFailed(f"the mean of L_{k} over {p['reps']} runs differs from the reference by up to "
                              f"{_max_diff(mean, ref_mean)} nats (tolerance {tol.max().item():.3f}): "
                              "L_k = logsumexp_i(log w_i) - log k with k independent z_i ~ q(z|x) per example")


# ----------------------------------------------------------------------------- the checks, in notebook order


OBJECTIVE_CHECKS: tuple[Check, ...] = (
    Check("reparameterize", "z = mu + sigma * eps", "function", _prep_reparameterize, _judge_reparameterize),
    Check("kl_std_normal", "KL(N(mu, sigma^2) || N(0, I))", "function", _prep_kl, _judge_kl),
    Check("elbo", "the ELBO with beta", "function", _prep_elbo, _judge_elbo),
    Check("iwae_bound", "the importance-weighted bound", "function", _prep_iwae, _judge_iwae),
)

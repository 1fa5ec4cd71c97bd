"""The autograder's checks: one per exercise id, a student's implementation against vaelib's.

Each check has two halves. `prepare(g)` draws fresh inputs from the grader's generator (a seed
the notebooks never use, and shapes they never use) and computes the reference answers with
vaelib; it runs *before* any student code is loaded. `run(obj, prepared)` calls the student's
function or class and raises CheckFailed with a hint saying what is wrong ("shape [B] expected,
got [B, D]", "values differ by a factor of D: did you average over pixels instead of summing?").
A NotImplementedError escaping `run` means "not attempted".

    from vaelib.course.checks import CHECKS, check_exercise
    check_exercise("kl_std_normal", my_kl)        # raises CheckFailed with a hint, or returns

Randomness: where the reference and the student both draw random numbers (reparameterize,
iwae_bound), the checks compare distributions (moments, means over many repetitions within a
few standard errors) and gradients, never one draw against another, so any correct way of
drawing ε passes.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from vaelib import losses


class CheckFailed(AssertionError):
    """The student's implementation is wrong; the message is the hint shown in the report."""


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    kind: str  # "function" or "class"
    prepare: Callable[[torch.Generator], Any]
    run: Callable[[Any, Any], None]


def _shape(t: Any) -> str:
    return f"[{', '.join(str(s) for s in t.shape)}]" if isinstance(t, torch.Tensor) else type(t).__name__


def _tensor(out: Any, what: str, shape: tuple[int, ...], names: str) -> torch.Tensor:
    """out as a float64 tensor when it is a tensor of the given shape; else CheckFailed with a hint."""
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"{what} must return a torch.Tensor of shape {names}, got a {type(out).__name__}")
    if tuple(out.shape) != tuple(shape):
        extra = ""
        if out.dim() == 0:
            extra = ": one value per example, do not sum or average over the batch"
        elif out.dim() > len(shape):
            extra = ": sum over every dimension but the batch"
        raise CheckFailed(f"{what}: shape {names} = {list(shape)} expected, got {_shape(out)}{extra}")
    return out.detach().double()


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-3) -> bool:
    return bool(torch.isfinite(a).all()) and torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> str:
    return f"{(a.double() - b.double()).abs().max().item():.4g}"


# ----------------------------------------------------------------------------- reparameterize


def _prep_reparameterize(g: torch.Generator) -> dict:
    d = 7
    mu = 2.0 * torch.randn(d, generator=g)
    logvar = torch.empty(d).uniform_(-2.0, 1.5, generator=g)
    return {"mu": mu, "logvar": logvar, "n": 40_000}


def _run_reparameterize(f, p) -> None:
    mu0, logvar0, n = p["mu"], p["logvar"], p["n"]
    d = len(mu0)
    sigma = torch.exp(0.5 * logvar0).double()
    small_mu, small_lv = mu0[:3].repeat(4, 1), logvar0[:3].repeat(4, 1)
    z = _tensor(f(small_mu.clone(), small_lv.clone()), "reparameterize(mu, logvar)", (4, 3), "[B, D]")
    again = f(small_mu.clone(), small_lv.clone()).detach().double()
    if torch.equal(z, again) and not torch.equal(z, small_mu.double()):
        raise CheckFailed("two calls returned the same z: draw a fresh eps every call (no seeding inside the function)")

    zs = _tensor(f(mu0.expand(n, d).clone(), logvar0.expand(n, d).clone()), "reparameterize(mu, logvar)", (n, d),
                 "[B, D]")
    mean, std = zs.mean(0), zs.std(0)
    if (std < 1e-6).all():
        raise CheckFailed("z has no spread: z = mu + sigma * eps with eps ~ N(0, I), not z = mu")
    se = sigma / math.sqrt(n)
    if not ((mean - mu0.double()).abs() < 5 * se + 1e-6).all():
        raise CheckFailed(f"the sample mean of z is not mu (max error {_max_diff(mean, mu0)}): z = mu + sigma * eps")
    if not ((std - sigma).abs() / sigma < 0.03).all():
        var = torch.exp(logvar0).double()
        if ((std - var).abs() / var < 0.03).all():
            raise CheckFailed("the spread of z is sigma^2 = exp(logvar), not sigma: sigma = exp(0.5 * logvar)")
        raise CheckFailed("the spread of z is not sigma = exp(0.5 * logvar): eps must be standard normal, N(0, 1)")

    mu = mu0[:3].repeat(5, 1).requires_grad_()
    logvar = logvar0[:3].repeat(5, 1).requires_grad_()
    z = f(mu, logvar)
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        raise CheckFailed("no gradient reaches mu and logvar: build z from them with differentiable operations "
                          "(mu + sigma * eps); only eps is random")
    z.sum().backward()
    if mu.grad is None or logvar.grad is None:
        which = "mu" if mu.grad is None else "logvar"
        raise CheckFailed(f"no gradient reaches {which}: z must be computed from both mu and logvar")
    if not (mu.grad.abs() > 0).any() or not (logvar.grad.abs() > 0).any():
        raise CheckFailed("no gradient reaches mu and logvar through z: sample eps ~ N(0, I) and compute "
                          "mu + sigma * eps (torch.normal(mu, sigma) is not reparameterized)")
    if not torch.allclose(mu.grad, torch.ones_like(mu), atol=1e-5):
        raise CheckFailed("dz/dmu should be 1: z = mu + sigma * eps")
    if not torch.allclose(logvar.grad, 0.5 * (z - mu).detach(), atol=1e-4, rtol=1e-4):
        raise CheckFailed("dz/dlogvar should be sigma * eps / 2 = (z - mu) / 2: sigma = exp(0.5 * logvar)")


# ----------------------------------------------------------------------------- kl_std_normal


def _prep_kl(g: torch.Generator) -> dict:
    b, d = 6, 9
    mu = 1.3 * torch.randn(b, d, generator=g)
    logvar = torch.empty(b, d).uniform_(-3.0, 2.0, generator=g)
    return {"mu": mu, "logvar": logvar, "ref": losses.kl_std_normal(mu, logvar)}


def _run_kl(f, p) -> None:
    mu, logvar, ref = p["mu"], p["logvar"], p["ref"].double()
    b, d = mu.shape
    out = _tensor(f(mu.clone(), logvar.clone()), "kl_std_normal(mu, logvar)", (b,), "[B]")
    if _close(out, ref):
        zero = f(torch.zeros(2, d), torch.zeros(2, d))
        if not torch.allclose(torch.as_tensor(zero).double(), torch.zeros(2, dtype=torch.double), atol=1e-5):
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
        if _close(out, candidate.double()):
            raise CheckFailed(hint)
    raise CheckFailed("values differ from KL = -0.5 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)) "
                      f"(max difference {_max_diff(out, ref)} nats)")


# ----------------------------------------------------------------------------- likelihoods


def _prep_bernoulli(g: torch.Generator) -> dict:
    b = 5
    grey = torch.rand(b, 1, 28, 28, generator=g)
    binary = torch.bernoulli(grey, generator=g)
    logits = 3.0 * torch.randn(b, 1, 28, 28, generator=g)
    extreme = logits.clone()
    extreme[:, :, :4] = 60.0 * torch.sign(torch.randn(b, 1, 4, 28, generator=g))  # σ(±60) rounds to 0 or 1
    cases = {
        "binary targets": (binary, logits),
        "grey targets": (grey, logits),
        "logits of +-60": (binary, extreme),
        "flat [B, 784] inputs": (binary.reshape(b, -1), logits.reshape(b, -1)),
    }
    return {name: (x, l, losses.bernoulli_log_prob(x, l)) for name, (x, l) in cases.items()}


def _run_bernoulli(f, p) -> None:
    for case, (x, logits, ref) in p.items():
        what = f"bernoulli_log_prob(x, logits) on {case}"
        out = _tensor(f(x.clone(), logits.clone()), what, (x.shape[0],), "[B]")
        if _close(out, ref):
            continue
        d = x[0].numel()
        if case == "logits of +-60":
            raise CheckFailed(f"{what}: {'inf/nan' if not torch.isfinite(out).all() else 'wrong values'} for large "
                              "|logits|: compute from the logits (F.binary_cross_entropy_with_logits or "
                              "F.logsigmoid), not log(sigmoid(logits))")
        diagnoses = [
            (-ref, "values have the wrong sign: a log-probability is minus the binary cross-entropy"),
            (ref / d, "values are the reference divided by the number of pixels: sum over pixels, do not average"),
        ]
        for candidate, hint in diagnoses:
            if _close(out, candidate):
                raise CheckFailed(f"{what}: {hint}")
        raise CheckFailed(f"{what}: values differ from sum_i [x_i log sigmoid(l_i) + (1 - x_i) log(1 - sigmoid(l_i))] "
                          f"(max difference {_max_diff(out, ref)} nats); the decoder outputs logits, not probabilities")


def _prep_gaussian(g: torch.Generator) -> dict:
    b = 4
    x = torch.rand(b, 1, 28, 28, generator=g)
    mean = torch.rand(b, 1, 28, 28, generator=g)
    cases = {
        "a float log_sigma": math.log(0.3),
        "a scalar tensor log_sigma": torch.tensor(math.log(0.07)),
        "a per-pixel log_sigma [1, 1, 28, 28]": torch.empty(1, 1, 28, 28).uniform_(-3.0, 0.0, generator=g),
    }
    return {name: (x, mean, s, losses.gaussian_log_prob(x, mean, s)) for name, s in cases.items()}


def _run_gaussian(f, p) -> None:
    for case, (x, mean, log_sigma, ref) in p.items():
        what = f"gaussian_log_prob(x, mean, log_sigma) with {case}"
        arg = log_sigma.clone() if isinstance(log_sigma, torch.Tensor) else log_sigma
        try:
            raw = f(x.clone(), mean.clone(), arg)
        except (TypeError, AttributeError) as e:
            if isinstance(log_sigma, float):
                raise CheckFailed(f"{what}: {type(e).__name__}: {e}. log_sigma may be a plain float: "
                                  "torch.as_tensor(log_sigma) turns it into a tensor") from None
            raise
        out = _tensor(raw, what, (x.shape[0],), "[B]")
        if _close(out, ref, rtol=1e-4, atol=1e-2):
            continue
        d = x[0].numel()
        ls = torch.as_tensor(log_sigma, dtype=torch.float64).expand(x.shape)
        sq = (x - mean).double().pow(2)
        per_example = lambda t: t.reshape(t.shape[0], -1).sum(1)  # noqa: E731
        diagnoses = [
            (ref.double() + 0.5 * d * losses.LOG_2PI, "missing the constant -0.5 * log(2 pi) per pixel"),
            (ref.double() + per_example(ls), "missing the -log sigma per pixel (the normalisation of the density)"),
            (per_example(-sq / (2 * ls.exp()) - ls - 0.5 * losses.LOG_2PI),
             "the squared error is divided by 2 sigma, not 2 sigma^2 (sigma = exp(log_sigma))"),
            (per_example(-sq * (-2 * ls).exp() - ls - 0.5 * losses.LOG_2PI),
             "the squared error needs the factor 1/2: -(x - mean)^2 / (2 sigma^2)"),
            (-ref.double(), "values have the wrong sign: return the log-density, not the loss"),
            (ref.double() / d, "values are the reference divided by the number of pixels: sum over pixels"),
        ]
        for candidate, hint in diagnoses:
            if _close(out, candidate, rtol=1e-4, atol=1e-2):
                raise CheckFailed(f"{what}: {hint}")
        raise CheckFailed(f"{what}: values differ from sum_i [-(x_i - mean_i)^2 / (2 sigma_i^2) - log sigma_i "
                          f"- 0.5 log(2 pi)] (max difference {_max_diff(out, ref)} nats)")


# ----------------------------------------------------------------------------- elbo with β


def _prep_elbo(g: torch.Generator) -> dict:
    b = 7
    log_px = -torch.empty(b).uniform_(50.0, 200.0, generator=g)
    kl = torch.empty(b).uniform_(0.5, 30.0, generator=g)
    return {"log_px": log_px, "kl": kl, "refs": {beta: losses.elbo(log_px, kl, beta) for beta in (1.0, 0.25, 4.0)}}


def _run_elbo(f, p) -> None:
    log_px, kl = p["log_px"], p["kl"]
    b = len(log_px)
    for beta, ref in p["refs"].items():
        what = f"elbo(log_px_given_z, kl, beta={beta})"
        terms = f(log_px.clone(), kl.clone(), beta)
        missing = [a for a in ("elbo", "loss") if not hasattr(terms, a)]
        if missing:
            raise CheckFailed(f"{what} returned a {type(terms).__name__} without {', '.join(missing)}: "
                              "return vaelib.losses.ELBOTerms(reconstruction=..., kl=..., elbo=..., loss=..., "
                              "beta=...)")
        elbo_v = _tensor(terms.elbo, f"{what}.elbo", (b,), "[B]")
        loss_v = _tensor(terms.loss, f"{what}.loss", (b,), "[B]")
        for field_name, given in (("reconstruction", log_px), ("kl", kl)):
            if not hasattr(terms, field_name):
                continue
            if not _close(_tensor(getattr(terms, field_name), f"{what}.{field_name}", (b,), "[B]"), given):
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


class ToyLinearGaussian(nn.Module):
    """z ~ N(0, I_d), x | z ~ N(W z + b, s² I): log p(x) = log N(x; b, W Wᵀ + s² I) exactly.

    The encoder is a deliberately poor diagonal Gaussian (so the bound has room to rise with k),
    or, with `exact=True` and orthogonal columns of W, the true posterior: then every importance
    weight equals p(x), and L_k = log p(x) for every k and every draw. Works on any leading
    batch dimensions ([N, n] or [k, B, n]).
    """

    def __init__(self, g: torch.Generator, d: int = 3, n: int = 5, s: float = 0.6, exact: bool = False) -> None:
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(n, d, generator=g))
        self.scales = 0.5 + torch.rand(d, generator=g) * 1.5
        self.W = q * self.scales  # orthogonal columns: WᵀW = diag(scales²)
        self.b = torch.randn(n, generator=g)
        self.s = s
        self.exact = exact
        self.A = 0.3 * torch.randn(d, n, generator=g)  # a poor amortised posterior mean

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.W.shape[1]
        if self.exact:  # posterior of a linear Gaussian: Σ = (I + WᵀW/s²)⁻¹, mean Σ Wᵀ (x - b) / s²
            var = 1.0 / (1.0 + self.scales.pow(2) / self.s**2)
            mu = (x - self.b) @ self.W / self.s**2 * var
            return mu, var.log().expand(*x.shape[:-1], d).clone()
        return x @ self.A.T, torch.full((*x.shape[:-1], d), math.log(0.7))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.W.T + self.b

    def log_likelihood(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        return (-0.5 * ((x - params) / self.s).pow(2) - math.log(self.s) - 0.5 * losses.LOG_2PI).sum(-1)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        return losses.std_normal_log_prob(z)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """log N(x; b, W Wᵀ + s² I), by hand (torch.distributions.MultivariateNormal would import
        sympy, seconds of the sandbox's start-up)."""
        n = self.W.shape[0]
        chol = torch.linalg.cholesky((self.W @ self.W.T + self.s**2 * torch.eye(n)).double())
        r = torch.linalg.solve_triangular(chol, (x - self.b).double().T, upper=False)  # [n, B]
        log_det = 2 * torch.log(torch.diagonal(chol)).sum()
        return (-0.5 * (n * losses.LOG_2PI + log_det + r.pow(2).sum(0))).to(x.dtype)


def _prep_iwae(g: torch.Generator) -> dict:
    poor = ToyLinearGaussian(g)
    exact = ToyLinearGaussian(g, exact=True)
    b, reps = 6, 300
    x = poor.decode(torch.randn(b, 3, generator=g)) + poor.s * torch.randn(b, 5, generator=g)
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
    refs = {}
    for k in (1, 64):
        draws = losses.iwae_bound(poor, x.repeat(reps, 1), k).reshape(reps, b)  # reps independent L_k
        refs[k] = (draws.mean(0), draws.std(0) / math.sqrt(reps))
    return {"poor": poor, "exact": exact, "x": x, "reps": 60, "refs": refs,
            "true": poor.log_marginal(x), "true_exact": exact.log_marginal(x)}


def _run_iwae(f, p) -> None:
    x, b = p["x"], p["x"].shape[0]
    with torch.no_grad():
        for k in (1, 7):
            out = _tensor(f(p["exact"], x.clone(), k), f"iwae_bound(model, x, k={k})", (b,), "[B]")
            if not _close(out, p["true_exact"], atol=1e-3):
                if _close(out, p["true_exact"] + math.log(k), atol=1e-3):
                    raise CheckFailed("with the exact posterior as q the bound must equal log p(x); yours is "
                                      "log p(x) + log k: subtract log k (the 1/k of the average)")
                raise CheckFailed(f"with the exact posterior as q every weight p(x, z)/q(z|x) equals p(x), so L_k = "
                                  f"log p(x); yours differs by up to {_max_diff(out, p['true_exact'])} nats "
                                  f"at k = {k}: "
                                  "log w = log p(x|z) + log p(z) - log q(z|x)")
        means = {}
        for k, (ref_mean, ref_se) in p["refs"].items():
            draws = torch.stack([
                _tensor(f(p["poor"], x.clone(), k), f"iwae_bound(model, x, k={k})", (b,), "[B]")
                for _ in range(p["reps"])
            ])
            mean, se = draws.mean(0), draws.std(0) / math.sqrt(p["reps"])
            means[k] = mean
            tol = 5 * (se.pow(2) + ref_se.double().pow(2)).sqrt() + 0.02
            if not ((mean - ref_mean.double()).abs() < tol).all():
                if k == 1:
                    raise CheckFailed("with k = 1 the bound is the ELBO: log p(x|z) + log p(z) - log q(z|x) at one "
                                      "z ~ q(z|x), on average; yours is off by "
                                      f"{_max_diff(mean, ref_mean)} nats")
                ref_1 = p["refs"][1][0].double()
                if ((mean - ref_1).abs() < (mean - ref_mean.double()).abs()).all():
                    raise CheckFailed("the bound does not rise with k: average the weights, not the log-weights: "
                                      "L_k = logsumexp_i(log w_i) - log k")
                if (mean > p["true"].double() + tol).any():
                    raise CheckFailed("the bound is above log p(x): did you forget the - log k?")
                raise CheckFailed(f"the mean of L_{k} over {p['reps']} runs differs from the reference by up to "
                                  f"{_max_diff(mean, ref_mean)} nats (tolerance {tol.max().item():.3f}): "
                                  "L_k = logsumexp_i(log w_i) - log k with k independent z_i ~ q(z|x) per example")


# ----------------------------------------------------------------------------- ConvDecoder


def _prep_conv_decoder(g: torch.Generator) -> dict:
    latent = 5
    return {"latent": latent, "z": torch.randn(6, latent, generator=g),
            "target": torch.bernoulli(torch.full((6, 1, 28, 28), 0.3), generator=g),
            "seed": int(torch.randint(0, 2**31 - 1, (1,), generator=g))}


@torch.no_grad()
def _adam_step(params: list[torch.Tensor], state: dict, step: int, lr: float = 3e-3) -> None:
    """One Adam update (β = 0.9, 0.999), by hand: torch.optim imports torch._dynamo and sympy,
    seconds of start-up in the grader's fresh interpreter."""
    for i, q in enumerate(params):
        if q.grad is None:
            continue
        m, v = state.setdefault(i, (torch.zeros_like(q), torch.zeros_like(q)))
        m.mul_(0.9).add_(q.grad, alpha=0.1)
        v.mul_(0.999).addcmul_(q.grad, q.grad, value=0.001)
        q.sub_(lr * (m / (1 - 0.9**step)) / ((v / (1 - 0.999**step)).sqrt() + 1e-8))


def _run_conv_decoder(cls, p) -> None:
    torch.manual_seed(p["seed"])
    latent, z, target = p["latent"], p["z"], p["target"]
    dec = cls(latent)
    if not isinstance(dec, nn.Module):
        raise CheckFailed(f"ConvDecoder({latent}) must be a torch.nn.Module (subclass nn.Module), "
                          f"got a {type(dec).__name__}")
    if not any(isinstance(m, nn.ConvTranspose2d) for m in dec.modules()):
        raise CheckFailed("no nn.ConvTranspose2d layer: upsample 7x7 -> 14x14 -> 28x28 with transposed "
                          "convolutions (kernel 4, stride 2, padding 1)")
    dec.train()
    for n in (2, 6):
        out = dec(z[:n])
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n, 1, 28, 28):
            raise CheckFailed(f"ConvDecoder({latent}) on z of shape [{n}, {latent}] must give [{n}, 1, 28, 28], "
                              f"got {_shape(out)}: check the latent size, the 7x7 reshape and the strides")
    dec.eval()
    with torch.no_grad():
        if torch.allclose(dec(z[:2]), dec(-3.0 * z[:2])):
            raise CheckFailed("the output does not depend on z: the first layer must take the code as its input")
    dec.train()
    params = [q for q in dec.parameters() if q.requires_grad]
    if not params:
        raise CheckFailed("the decoder has no trainable parameters")
    first, state = None, {}
    for step in range(1, 26):
        for q in params:
            q.grad = None
        loss = nn.functional.binary_cross_entropy_with_logits(dec(z), target, reduction="sum") / len(z)
        loss.backward()
        conv_grads = [m.weight.grad for m in dec.modules() if isinstance(m, nn.ConvTranspose2d)]
        if any(gr is None for gr in conv_grads):
            raise CheckFailed("a ConvTranspose2d layer gets no gradient: is every layer used in forward?")
        if not all(torch.isfinite(q.grad).all() for q in params if q.grad is not None):
            raise CheckFailed("non-finite gradients in a training step")
        _adam_step(params, state, step)
        first = loss.item() if first is None else first
    if not loss.item() < 0.9 * first:
        raise CheckFailed(f"25 Adam steps on one batch did not lower the loss ({first:.1f} -> {loss.item():.1f} "
                          "nats per image): does the output depend on z through trainable layers?")


# ----------------------------------------------------------------------------- traverse (07)


def _prep_traverse(g: torch.Generator) -> dict:
    from vaelib.latent import traverse  # noqa: PLC0415

    z0 = torch.randn(7, generator=g)
    values = torch.linspace(-2.5, 2.5, 6)
    return {"z0": z0, "dim": 4, "values": values, "ref": traverse(z0, 4, values)}


def _run_traverse(f, p) -> None:
    z0 = p["z0"].clone()
    n, d = p["ref"].shape
    out = f(z0, p["dim"], p["values"].clone())
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (d, n):
        raise CheckFailed(f"shape [n, D] = [{n}, {d}] expected, got [{d}, {n}]: one row per value")
    out = _tensor(out, "traverse(z0, dim, values)", (n, d), "[n, D]")
    if not torch.equal(z0, p["z0"]):
        raise CheckFailed("z0 was modified: copy it before writing the swept coordinate")
    ref = p["ref"].double()
    others = [j for j in range(d) if j != p["dim"]]
    if not torch.allclose(out[:, others], ref[:, others]):
        raise CheckFailed("the coordinates other than `dim` must stay those of z0 in every row")
    if not torch.allclose(out[:, p["dim"]], ref[:, p["dim"]]):
        raise CheckFailed("coordinate `dim` of row i must be values[i]")


# ----------------------------------------------------------------------------- mmd_unbiased (08)


def _prep_mmd(g: torch.Generator) -> dict:
    q = torch.randn(9, 5, generator=g) + 0.7
    pz = torch.randn(11, 5, generator=g)
    scales = (2.0, 10.0)
    return {"q": q, "p": pz, "scales": scales, "ref": losses.mmd_unbiased(q, pz, scales)}


def _run_mmd(f, p) -> None:
    q, pz, scales = p["q"], p["p"], p["scales"]
    out = f(q.clone(), pz.clone(), scales)
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        raise CheckFailed(f"mmd_unbiased must return one number per batch (a scalar tensor), got {_shape(out)}")
    out_v, ref = float(out), float(p["ref"])
    if math.isclose(out_v, ref, rel_tol=1e-4, abs_tol=1e-5):
        return
    n, m = q.shape[0], pz.shape[0]
    k_qq, k_pp, k_qp = (losses.imq_kernel(a, b, scales) for a, b in ((q, q), (pz, pz), (q, pz)))
    biased = k_qq.mean() + k_pp.mean() - 2 * k_qp.mean()
    no_two = (k_qq.sum() - k_qq.trace()) / (n * (n - 1)) + (k_pp.sum() - k_pp.trace()) / (m * (m - 1)) - k_qp.mean()
    wrong_norm = (k_qq.sum() - k_qq.trace()) / n**2 + (k_pp.sum() - k_pp.trace()) / m**2 - 2 * k_qp.mean()
    for candidate, hint in [
        (biased, "that is the biased estimate: leave out the i = j terms of the two within-sample sums"),
        (no_two, "the cross term is counted twice: -2/(nm) sum k(q_i, p_j)"),
        (wrong_norm, "after leaving out i = j, divide the within-sample sums by n(n-1), not n^2"),
    ]:
        if math.isclose(out_v, float(candidate), rel_tol=1e-4, abs_tol=1e-5):
            raise CheckFailed(hint)
    raise CheckFailed(f"MMD² differs from the unbiased estimate: got {out_v:.5f}, expected {ref:.5f}")


# ----------------------------------------------------------------------------- the registry


CHECKS: dict[str, Check] = {
    c.id: c
    for c in (
        Check("reparameterize", "z = mu + sigma * eps", "function", _prep_reparameterize, _run_reparameterize),
        Check("kl_std_normal", "KL(N(mu, sigma^2) || N(0, I))", "function", _prep_kl, _run_kl),
        Check("elbo", "the ELBO with beta", "function", _prep_elbo, _run_elbo),
        Check("iwae_bound", "the importance-weighted bound", "function", _prep_iwae, _run_iwae),
        Check("bernoulli_log_prob", "Bernoulli log-likelihood", "function", _prep_bernoulli, _run_bernoulli),
        Check("gaussian_log_prob", "Gaussian log-likelihood", "function", _prep_gaussian, _run_gaussian),
        Check("ConvDecoder", "a convolutional decoder", "class", _prep_conv_decoder, _run_conv_decoder),
        Check("traverse", "a latent traversal", "function", _prep_traverse, _run_traverse),
        Check("mmd_unbiased", "the unbiased MMD² with the IMQ kernel", "function", _prep_mmd, _run_mmd),
    )
}

DEFAULT_SEED = 918_273_645  # the notebooks never use it


def check_seed(exercise: str, seed: int = DEFAULT_SEED) -> int:
    """The generator seed of one exercise's inputs: the grader's seed mixed with the exercise id."""
    return (seed + zlib.crc32(exercise.encode())) % 2**63


def check_exercise(exercise: str, obj: Any, seed: int = DEFAULT_SEED) -> None:
    """Run one check in this process (no sandbox): returns, or raises CheckFailed/NotImplementedError."""
    check = CHECKS[exercise]
    prepared = check.prepare(torch.Generator().manual_seed(check_seed(exercise, seed)))
    torch.manual_seed(check_seed(exercise, seed + 1))
    check.run(obj, prepared)

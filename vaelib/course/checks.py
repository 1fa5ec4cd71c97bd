"""The autograder's checks: one per exercise id, judged in the grader's own process.

Each check has two halves, both in the trusted grader process:

- `prepare(g) -> (inputs, reference)` draws fresh inputs from the grader's generator (a seed the
  notebooks never use, shapes they never use) and computes vaelib's reference answers. Only
  `inputs` (plain tensors and numbers) go to the student process;
- `judge(outputs, inputs, reference)` reads what the student's code returned there (plain data,
  produced by the probe of the same id in `vaelib.course.probes`) and raises CheckFailed with a
  hint saying what is wrong ("shape [B] expected, got [B, D]", "values differ by a factor of D:
  did you average over pixels instead of summing?"), or returns.

    from vaelib.course.checks import check_exercise
    check_exercise("kl_std_normal", my_kl)   # both halves in this process (for notebooks and tests)

Randomness: where the reference and the student both draw random numbers (reparameterize,
iwae_bound), the judges compare distributions (moments, means over many repetitions within a few
standard errors) and gradients, never one draw against another, so any correct way of drawing ε
passes.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import torch

from vaelib import losses
from vaelib.course import probes

__all__ = ["CHECKS", "Check", "CheckFailed", "DEFAULT_SEED", "check_exercise", "check_seed", "suspicious_lines"]


class CheckFailed(AssertionError):
    """The student's implementation is wrong; the message is the hint shown in the report."""


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    kind: str  # "function" or "class"
    prepare: Callable[[torch.Generator], tuple[dict, Any]]
    judge: Callable[[Any, dict, Any], None]


def _shape(t: Any) -> str:
    if isinstance(t, torch.Tensor):
        return f"[{', '.join(str(s) for s in t.shape)}]"
    if isinstance(t, dict) and "type" in t:
        return str(t["type"])
    return type(t).__name__


def _tensor(out: Any, what: str, shape: tuple[int, ...], names: str) -> torch.Tensor:
    """out as a float64 tensor when it is a tensor of the given shape; else CheckFailed with a hint."""
    if isinstance(out, dict) and "error" in out:
        raise CheckFailed(f"{what} raised {out['error']}")
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"{what} must return a torch.Tensor of shape {names}, got a {_shape(out)}")
    if tuple(out.shape) != tuple(shape):
        extra = ""
        if out.dim() == 0:
            extra = ": one value per example, do not sum or average over the batch"
        elif out.dim() > len(shape):
            extra = ": sum over every dimension but the batch"
        raise CheckFailed(f"{what}: shape {names} = {list(shape)} expected, got {_shape(out)}{extra}")
    return out.double()


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-3) -> bool:
    return bool(torch.isfinite(a).all()) and torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> str:
    return f"{(a.double() - b.double()).abs().max().item():.4g}"


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
    se = sigma / math.sqrt(n)
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


# ----------------------------------------------------------------------------- likelihoods


def _prep_bernoulli(g: torch.Generator) -> tuple[dict, dict]:
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
    return {"cases": cases}, {name: losses.bernoulli_log_prob(x, l) for name, (x, l) in cases.items()}


def _judge_bernoulli(out: dict, p: dict, refs: dict) -> None:
    for case, (x, _logits) in p["cases"].items():
        what, ref = f"bernoulli_log_prob(x, logits) on {case}", refs[case]
        value = _tensor(out[case], what, (x.shape[0],), "[B]")
        if _close(value, ref):
            continue
        d = x[0].numel()
        if case == "logits of +-60":
            raise CheckFailed(f"{what}: {'inf/nan' if not torch.isfinite(value).all() else 'wrong values'} for large "
                              "|logits|: compute from the logits (F.binary_cross_entropy_with_logits or "
                              "F.logsigmoid), not log(sigmoid(logits))")
        diagnoses = [
            (-ref, "values have the wrong sign: a log-probability is minus the binary cross-entropy"),
            (ref / d, "values are the reference divided by the number of pixels: sum over pixels, do not average"),
        ]
        for candidate, hint in diagnoses:
            if _close(value, candidate):
                raise CheckFailed(f"{what}: {hint}")
        raise CheckFailed(f"{what}: values differ from sum_i [x_i log sigmoid(l_i) + (1 - x_i) log(1 - sigmoid(l_i))] "
                          f"(max difference {_max_diff(value, ref)} nats); the decoder outputs logits, not probabilities")


def _prep_gaussian(g: torch.Generator) -> tuple[dict, dict]:
    b = 4
    x = torch.rand(b, 1, 28, 28, generator=g)
    mean = torch.rand(b, 1, 28, 28, generator=g)
    cases = {
        "a float log_sigma": torch.tensor(math.log(0.3)),
        "a scalar tensor log_sigma": torch.tensor(math.log(0.07)),
        "a per-pixel log_sigma [1, 1, 28, 28]": torch.empty(1, 1, 28, 28).uniform_(-3.0, 0.0, generator=g),
    }
    refs = {name: losses.gaussian_log_prob(x, mean, s.item() if name == "a float log_sigma" else s)
            for name, s in cases.items()}
    return {"cases": {n: (x, mean, s) for n, s in cases.items()}, "as_float": ["a float log_sigma"]}, refs


def _judge_gaussian(out: dict, p: dict, refs: dict) -> None:
    for case, (x, mean, log_sigma) in p["cases"].items():
        what, ref, got = f"gaussian_log_prob(x, mean, log_sigma) with {case}", refs[case], out[case]
        if isinstance(got, dict) and "error" in got and case in p["as_float"] \
                and got["error"].startswith(("TypeError", "AttributeError")):
            raise CheckFailed(f"{what}: {got['error']}. log_sigma may be a plain float: "
                              "torch.as_tensor(log_sigma) turns it into a tensor")
        value = _tensor(got, what, (x.shape[0],), "[B]")
        if _close(value, ref, rtol=1e-4, atol=1e-2):
            continue
        d = x[0].numel()
        ls = log_sigma.double().expand(x.shape)
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
            if _close(value, candidate, rtol=1e-4, atol=1e-2):
                raise CheckFailed(f"{what}: {hint}")
        raise CheckFailed(f"{what}: values differ from sum_i [-(x_i - mean_i)^2 / (2 sigma_i^2) - log sigma_i "
                          f"- 0.5 log(2 pi)] (max difference {_max_diff(value, ref)} nats)")


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


# ----------------------------------------------------------------------------- ConvDecoder


def _prep_conv_decoder(g: torch.Generator) -> tuple[dict, None]:
    latent = 5
    return {"latent": latent, "z": torch.randn(6, latent, generator=g),
            "target": torch.bernoulli(torch.full((6, 1, 28, 28), 0.3), generator=g),
            "seed": int(torch.randint(0, 2**31 - 1, (1,), generator=g))}, None


def _judge_conv_decoder(out: dict, p: dict, _ref) -> None:
    latent, z, target = p["latent"], p["z"], p["target"]
    if out.get("is_module") is not True:
        raise CheckFailed(f"ConvDecoder({latent}) must be a torch.nn.Module (subclass nn.Module), "
                          f"got a {out.get('type')}")
    if out.get("has_conv_transpose") is not True:
        raise CheckFailed("no nn.ConvTranspose2d layer: upsample 7x7 -> 14x14 -> 28x28 with transposed "
                          "convolutions (kernel 4, stride 2, padding 1)")
    for n in (2, 6):
        got = out["shapes"][str(n)]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (n, 1, 28, 28):
            raise CheckFailed(f"ConvDecoder({latent}) on z of shape [{n}, {latent}] must give [{n}, 1, 28, 28], "
                              f"got {_shape(got)}: check the latent size, the 7x7 reshape and the strides")
    a, b = out["at z"], out["at -3z"]
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and torch.allclose(a, b):
        raise CheckFailed("the output does not depend on z: the first layer must take the code as its input")
    if not out.get("n_params"):
        raise CheckFailed("the decoder has no trainable parameters")
    if out.get("conv_grad_missing"):
        raise CheckFailed("a ConvTranspose2d layer gets no gradient: is every layer used in forward?")
    if out.get("grads_not_finite"):
        raise CheckFailed("non-finite gradients in a training step")
    logits = out.get("logits")
    if not (isinstance(logits, list) and len(logits) == 2 and all(
            isinstance(t, torch.Tensor) and t.shape == target.shape for t in logits)):
        raise CheckFailed("the grader did not get the decoder's outputs of the first and last training step")
    first, last = (torch.nn.functional.binary_cross_entropy_with_logits(t.float(), target, reduction="sum").item()
                   / len(z) for t in logits)  # computed here, in the grader, from the decoder's outputs
    if not last < 0.9 * first:
        raise CheckFailed(f"25 Adam steps on one batch did not lower the loss ({first:.1f} -> {last:.1f} "
                          "nats per image): does the output depend on z through trainable layers?")


# ----------------------------------------------------------------------------- traverse (07)


def _prep_traverse(g: torch.Generator) -> tuple[dict, torch.Tensor]:
    from vaelib.latent import traverse

    z0 = torch.randn(7, generator=g)
    values = torch.linspace(-2.5, 2.5, 6)
    return {"z0": z0, "dim": 4, "values": values}, traverse(z0, 4, values)


def _judge_traverse(out: dict, p: dict, ref: torch.Tensor) -> None:
    n, d = ref.shape
    got = out["out"]
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (d, n):
        raise CheckFailed(f"shape [n, D] = [{n}, {d}] expected, got [{d}, {n}]: one row per value")
    value = _tensor(got, "traverse(z0, dim, values)", (n, d), "[n, D]")
    after = out["z0 after"]
    if not (isinstance(after, torch.Tensor) and after.shape == p["z0"].shape and torch.equal(after, p["z0"])):
        raise CheckFailed("z0 was modified: copy it before writing the swept coordinate")
    ref = ref.double()
    others = [j for j in range(d) if j != p["dim"]]
    if not torch.allclose(value[:, others], ref[:, others]):
        raise CheckFailed("the coordinates other than `dim` must stay those of z0 in every row")
    if not torch.allclose(value[:, p["dim"]], ref[:, p["dim"]]):
        raise CheckFailed("coordinate `dim` of row i must be values[i]")


# ----------------------------------------------------------------------------- mmd_unbiased (08)


def _prep_mmd(g: torch.Generator) -> tuple[dict, torch.Tensor]:
    q = torch.randn(9, 5, generator=g) + 0.7
    pz = torch.randn(11, 5, generator=g)
    scales = [2.0, 10.0]
    return {"q": q, "p": pz, "scales": scales}, losses.mmd_unbiased(q, pz, tuple(scales))


def _judge_mmd(out: dict, p: dict, ref: torch.Tensor) -> None:
    q, pz, scales = p["q"], p["p"], tuple(p["scales"])
    got = out["out"]
    if isinstance(got, dict) and "error" in got:
        raise CheckFailed(f"mmd_unbiased raised {got['error']}")
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        raise CheckFailed(f"mmd_unbiased must return one number per batch (a scalar tensor), got {_shape(got)}")
    out_v, ref_v = float(got), float(ref)
    if math.isclose(out_v, ref_v, rel_tol=1e-4, abs_tol=1e-5):
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
    raise CheckFailed(f"MMD² differs from the unbiased estimate: got {out_v:.5f}, expected {ref_v:.5f}")


# ----------------------------------------------------------------------------- the registry


CHECKS: dict[str, Check] = {
    c.id: c
    for c in (
        Check("reparameterize", "z = mu + sigma * eps", "function", _prep_reparameterize, _judge_reparameterize),
        Check("kl_std_normal", "KL(N(mu, sigma^2) || N(0, I))", "function", _prep_kl, _judge_kl),
        Check("elbo", "the ELBO with beta", "function", _prep_elbo, _judge_elbo),
        Check("iwae_bound", "the importance-weighted bound", "function", _prep_iwae, _judge_iwae),
        Check("bernoulli_log_prob", "Bernoulli log-likelihood", "function", _prep_bernoulli, _judge_bernoulli),
        Check("gaussian_log_prob", "Gaussian log-likelihood", "function", _prep_gaussian, _judge_gaussian),
        Check("ConvDecoder", "a convolutional decoder", "class", _prep_conv_decoder, _judge_conv_decoder),
        Check("traverse", "a latent traversal", "function", _prep_traverse, _judge_traverse),
        Check("mmd_unbiased", "the unbiased MMD² with the IMQ kernel", "function", _prep_mmd, _judge_mmd),
    )
}
assert set(CHECKS) == set(probes.PROBES), "every check needs a probe of the same id"

DEFAULT_SEED = 918_273_645  # the notebooks never use it


def check_seed(exercise: str, seed: int = DEFAULT_SEED) -> int:
    """The generator seed of one exercise's inputs: the grader's seed mixed with the exercise id."""
    return (seed + zlib.crc32(exercise.encode())) % 2**63


def check_exercise(exercise: str, obj: Any, seed: int = DEFAULT_SEED) -> None:
    """Both halves in this process (no isolation, for notebooks and tests): returns, or raises
    CheckFailed / NotImplementedError."""
    check = CHECKS[exercise]
    inputs, ref = check.prepare(torch.Generator().manual_seed(check_seed(exercise, seed)))
    torch.manual_seed(check_seed(exercise, seed + 1))
    outputs = probes.PROBES[exercise](obj, inputs)
    check.judge(outputs, inputs, ref)


#: what a student's exercise cell has no business touching: the grader's internals, the
#: interpreter's frames and garbage collector, raw memory and processes. A match does not fail the
#: exercise (the checks decide that); it flags the submission for a human look.
SUSPICIOUS = re.compile(
    r"\b(probes|PROBES|payload|results\.pt|_getframe|sys\.modules|gc\.|ctypes|_posixsubprocess|os\._exit|"
    r"object\.__setattr__|__subclasses__|__globals__|__code__|__builtins__|builtins|importlib|subprocess|"
    r"os\.system|os\.fork|os\.exec|socket|signal\.|setitimer|resource\.|exec\(|eval\(|compile\()"
)


def suspicious_lines(source: str, limit: int = 5) -> list[str]:
    """The lines of a cell that reach for the grader's internals or the interpreter (see SUSPICIOUS)."""
    hits = [line.strip()[:160] for line in source.splitlines() if SUSPICIOUS.search(line)]
    return hits[:limit]

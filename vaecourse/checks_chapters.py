"""The checks of notebooks 10-12: free_bits_kl and warmup_beta (10), m2_unlabelled_loss (11),
iwae_loss (12). Each has a `_prep_*` (fresh inputs and vaelib's reference answers) and a
`_judge_*` (the student's outputs against them, with a hint naming the usual mistake);
`CHAPTER_CHECKS` pairs them up for the registry `vaecourse.checks.CHECKS`.
"""

from __future__ import annotations

import math

import torch

from vaelib import losses
from vaecourse.check_helpers import Check, CheckFailed, _close, _max_diff, _tensor

__all__ = ["CHAPTER_CHECKS", "iwae_loss"]


def iwae_loss(log_w: torch.Tensor) -> torch.Tensor:
    """-L_k per example from the log weights log w [k, B] (vaelib.losses.iwae_from_log_weights), [B]."""
    return -losses.iwae_from_log_weights(log_w)


# ----------------------------------------------------------------------------- free_bits_kl (10)


def _prep_free_bits(g: torch.Generator) -> tuple[dict, dict]:
    from vaelib.models.arvae import free_bits_kl  # noqa: PLC0415

    b, d, lam = 13, 9, 0.4
    scale = torch.linspace(0.05, 1.5, d)  # columns with batch means below and above λ
    kl_terms = torch.rand(b, d, generator=g) * scale
    x = kl_terms.clone().requires_grad_(True)
    free_bits_kl(x, lam).sum().backward()
    return {"kl_terms": kl_terms, "lam": lam}, {"value": free_bits_kl(kl_terms, lam), "grad": x.grad}


def _judge_free_bits(out: dict, p: dict, ref: dict) -> None:
    kl, lam = p["kl_terms"].double(), p["lam"]
    b = kl.shape[0]
    value = _tensor(out["value"], "free_bits_kl(kl_terms, lam)", (b,), "[B]")
    if not _close(value, ref["value"]):
        per_example = kl.clamp(min=lam).sum(1)
        total = kl.sum(1).clamp(min=lam * kl.shape[1])
        if _close(value, per_example):
            raise CheckFailed("you floored each example's KL_bd at lam; free bits floor the batch mean of each "
                              "dimension: compare kl_terms.mean(0) with lam")
        if _close(value, total):
            raise CheckFailed("you floored the total KL; free bits floor each latent dimension separately")
        raise CheckFailed(f"free_bits_kl differs from vaelib's by up to {_max_diff(value, ref['value'])} nats")
    grad = out.get("grad")
    if not isinstance(grad, torch.Tensor):
        raise CheckFailed("no gradient reaches kl_terms: the dimensions above the floor must keep their KL's gradient")
    if not _close(grad.double(), ref["grad"].double()):
        raise CheckFailed("the gradient is wrong: a dimension below the floor must get no gradient (the constant "
                          "lam), one above it the gradient of its KL")


# ----------------------------------------------------------------------------- warmup_beta (10)


def _prep_warmup(g: torch.Generator) -> tuple[dict, list[float]]:
    """Fresh cases on each grading: warm-up lengths up to 10^5 steps and betas drawn from [0.25, 4],
    at the first step, inside the warm-up, at its last step, after it, and with no warm-up."""
    from vaelib.models.arvae import warmup_beta  # noqa: PLC0415

    w = [int(v) for v in torch.randint(10, 100_000, (4,), generator=g)]
    beta = [round(float(b), 4) for b in torch.empty(5).uniform_(0.25, 4.0, generator=g)]
    inside = int(torch.randint(1, w[1] - 1, (1,), generator=g))
    cases = [(0, w[0], beta[0]), (inside, w[1], beta[1]), (w[2] - 1, w[2], beta[2]), (3 * w[3] + 7, w[3], beta[3]),
             (int(torch.randint(0, 1000, (1,), generator=g)), 0, beta[4])]
    return {"cases": cases}, [warmup_beta(*c) for c in cases]


def _judge_warmup(out: dict, p: dict, ref: list[float]) -> None:
    got = out["values"]
    for (step, w, beta), value, expected in zip(p["cases"], got, ref):
        if isinstance(value, dict) and "error" in value:
            hint = " (no warm-up, warmup_steps = 0, means beta throughout)" if w == 0 else ""
            raise CheckFailed(f"warmup_beta({step}, {w}, {beta}) raised {value['error']}{hint}")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise CheckFailed(f"warmup_beta must return a number, got {value!r}")
        if abs(value - expected) > 1e-9:
            if w and abs(value - beta * min(1.0, step / w)) < 1e-9:
                raise CheckFailed("off by one step: the first step (step 0) already uses beta / warmup_steps, "
                                  "i.e. (step + 1) / warmup_steps")
            if w and step + 1 > w and value > beta:
                raise CheckFailed("beta must stop rising at the end of the warm-up: cap the fraction at 1")
            raise CheckFailed(f"warmup_beta({step}, {w}, {beta}) = {value}, expected {expected}")


# ----------------------------------------------------------------------------- m2_unlabelled_loss (11)


def _prep_m2(g: torch.Generator) -> tuple[dict, torch.Tensor]:
    from vaelib.models.semisup import m2_unlabelled_loss  # noqa: PLC0415

    b, k = 7, 10
    log_q_y = torch.log_softmax(2.0 * torch.randn(b, k, generator=g), dim=1)
    bounds = -100.0 - 20.0 * torch.rand(b, k, generator=g)
    return {"log_q_y": log_q_y, "bounds": bounds}, m2_unlabelled_loss(log_q_y, bounds)


def _judge_m2(out: dict, p: dict, ref: torch.Tensor) -> None:
    log_q, bounds = p["log_q_y"].double(), p["bounds"].double()
    value = _tensor(out["value"], "m2_unlabelled_loss(log_q_y, bounds)", (log_q.shape[0],), "[B]")
    if _close(value, ref, atol=1e-4):
        return
    q = log_q.exp()
    expected_bound = (q * bounds).sum(1)
    entropy = -(q * log_q).sum(1)
    for candidate, hint in [
        (-expected_bound, "the entropy H(q(y|x)) is missing: U(x) = Σ_y q(y|x) L(x, y) + H(q(y|x))"),
        (-(expected_bound - entropy), "the entropy has the wrong sign: H(q) = -Σ_y q log q is added to the bound"),
        (expected_bound + entropy, "that is U(x) itself; the loss is -U(x)"),
        (-bounds.mean(1) - math.log(bounds.shape[1]), "weight each class's bound by q(y|x), not uniformly"),
    ]:
        if _close(value, candidate, atol=1e-4):
            raise CheckFailed(hint)
    raise CheckFailed(f"-U(x) differs from vaelib's by up to {_max_diff(value, ref)} nats")


# ----------------------------------------------------------------------------- iwae_loss (12)


def _prep_iwae_loss(g: torch.Generator) -> tuple[dict, dict]:
    k, b = 6, 5
    log_w = -600.0 + 4.0 * torch.randn(k, b, generator=g)  # real log weights: far below exp's range
    return {"log_w": log_w}, {"value": iwae_loss(log_w), "grad": -torch.softmax(log_w, dim=0)}


def _judge_iwae_loss(out: dict, p: dict, ref: dict) -> None:
    log_w = p["log_w"].double()
    k, b = log_w.shape
    value = out["value"]
    if isinstance(value, torch.Tensor) and not torch.isfinite(value).all():
        raise CheckFailed("not finite: log weights near -600 underflow exp(); use torch.logsumexp")
    value = _tensor(value, "iwae_loss(log_w)", (b,), "[B]")
    if not _close(value, ref["value"], atol=1e-4):
        for candidate, hint in [
            (-log_w.mean(0), "that is minus the ELBO (the mean of the log weights); L_k is the log of the mean weight"),
            (-torch.logsumexp(log_w, 0), "the - log k is missing: L_k = logsumexp_i log w_i - log k"),
            (-(torch.logsumexp(log_w, 1) - math.log(b)), "log_w is [k, B]: reduce over dim 0, the samples"),
        ]:
            if candidate.shape == value.shape and _close(value, candidate, atol=1e-4):
                raise CheckFailed(hint)
        raise CheckFailed(f"-L_k differs from vaelib's by up to {_max_diff(value, ref['value'])} nats")
    grad = out.get("grad")
    if not isinstance(grad, torch.Tensor) or not _close(grad.double(), ref["grad"].double(), atol=1e-4):
        raise CheckFailed("the gradient with respect to log w must be minus the normalised weights, -softmax(log_w, 0)")


CHAPTER_CHECKS: tuple[Check, ...] = (
    Check("free_bits_kl", "the free-bits KL", "function", _prep_free_bits, _judge_free_bits),
    Check("warmup_beta", "a linear KL warm-up", "function", _prep_warmup, _judge_warmup),
    Check("m2_unlabelled_loss", "M2's unlabelled loss -U(x)", "function", _prep_m2, _judge_m2),
    Check("iwae_loss", "the IWAE training loss", "function", _prep_iwae_loss, _judge_iwae_loss),
)

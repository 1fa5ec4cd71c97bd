"""The checks of notebooks 03-08, the pieces a model is built from and explored with:
bernoulli_log_prob and gaussian_log_prob (03), ConvDecoder (05), traverse (07), mmd_unbiased (08).

Each exercise has a `_prep_*` (fresh inputs and vaelib's reference answers) and a `_judge_*` (the
student's outputs against them, a hint on failure); `MODEL_CHECKS` pairs them up for the
registry `vaecourse.checks.CHECKS`.
"""

from __future__ import annotations

import math

import torch

from vaelib import losses
from vaecourse.check_helpers import Check, CheckFailed, _close, _max_diff, _shape, _tensor

__all__ = ["MODEL_CHECKS"]


# ----------------------------------------------------------------------------- likelihoods (03)


def _prep_bernoulli(g: torch.Generator) -> tuple[dict, dict]:
    b = 5
    grey = torch.rand(b, 1, 28, 28, generator=g)
    binary = torch.bernoulli(grey, generator=g)
    # ordinary logits stay within +-8, where even log(sigmoid(l)) is accurate in float32: the one case
    # that tells a numerically stable implementation from a naive one is the +-60 case below
    logits = (3.0 * torch.randn(b, 1, 28, 28, generator=g)).clamp(-8.0, 8.0)
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


# ----------------------------------------------------------------------------- ConvDecoder (05)


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
    sizes = out.get("upsampling")
    if not (isinstance(sizes, list) and any(isinstance(v, list) and len(v) == 4 and v[2] > v[0] and v[3] > v[1]
                                            for v in sizes)):
        raise CheckFailed("no transposed convolution upsamples (its output is no larger than its input): upsample "
                          "7x7 -> 14x14 -> 28x28 with stride 2 (kernel 4, stride 2, padding 1)")
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
    from vaelib.eval.latent import traverse

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


# ----------------------------------------------------------------------------- the checks, in notebook order


MODEL_CHECKS: tuple[Check, ...] = (
    Check("bernoulli_log_prob", "Bernoulli log-likelihood", "function", _prep_bernoulli, _judge_bernoulli),
    Check("gaussian_log_prob", "Gaussian log-likelihood", "function", _prep_gaussian, _judge_gaussian),
    Check("ConvDecoder", "a convolutional decoder", "class", _prep_conv_decoder, _judge_conv_decoder),
    Check("traverse", "a latent traversal", "function", _prep_traverse, _judge_traverse),
    Check("mmd_unbiased", "the unbiased MMD² with the IMQ kernel", "function", _prep_mmd, _judge_mmd),
)

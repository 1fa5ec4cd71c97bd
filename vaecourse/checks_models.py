"""The checks of notebooks 03-09, the pieces a model is built from, evaluated and explored with:
bernoulli_log_prob and gaussian_log_prob (03), ConvDecoder (05), active_units (06), roc_auc (07),
traverse (08), mmd_unbiased (09).

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


# ----------------------------------------------------------------------------- active_units (06)


def _units_answers(kinds: dict[str, int], n: int) -> dict[str, int]:
    """What the right count and each typical mistake give on means made of these kinds of dimension
    (see `_units_means`): every mistake counts a different set of kinds."""
    a, b, c, d, e = (kinds[k] for k in "ABCDE")
    return {"right": a, "axis": n, "inactive": b + c + d + e, "mean |mu|": a + b + d + e, "mean mu^2": a + b,
            "std": a + e, "0.01": a - 1}


def _units_means(g: torch.Generator, t: float, n: int = 40) -> torch.Tensor:
    """Posterior means [n, D] whose variances sit far from the threshold t <= 0.01 (no seed can tip one
    over): each column is a random permutation of one standardised ramp (exact mean 0, variance 1), scaled
    and offset by its kind. A: active (std 0.3-1, any offset; the first has variance 3t, which a
    hard-coded 0.01 misses when t < 0.003, and a default above 0.03 when t = 0.01); B: constant but far
    from 0 (offset 1-2); C: tiny spread around 0; D: constant at 5t (|mu| > t, mu^2 < t); E: std 3t
    around 0 (std > t, variance < t). The row variances all exceed t (B's offsets against C's zeros)."""
    while True:  # the numbers of each kind, redrawn until every mistake counts differently
        kinds = dict(zip("ABCDE", (int(v) for v in torch.randint(1, 4, (5,), generator=g))))
        kinds["A"] += int(torch.randint(1, 5, (1,), generator=g))
        if len(set(_units_answers(kinds, n).values())) == 7:
            break
    ramp = torch.linspace(-1.0, 1.0, n, dtype=torch.float64)
    ramp = (ramp - ramp.mean()) / ramp.std()
    u = lambda: torch.rand(1, generator=g).item()  # noqa: E731
    columns = []
    for kind, count in kinds.items():
        for i in range(count):
            sign = 1.0 if u() < 0.5 else -1.0
            std, offset = {"A": (math.sqrt(3 * t) if i == 0 else 0.3 + 0.7 * u(), 2 * u() - 1),
                           "B": (0.5 * t, sign * (1 + u())), "C": (0.3 * t, 0.0),
                           "D": (0.5 * t, sign * 5 * t), "E": (3 * t, 0.0)}[kind]
            columns.append(offset + std * ramp[torch.randperm(n, generator=g)])
    order = torch.randperm(len(columns), generator=g)
    return torch.stack([columns[int(j)] for j in order], dim=1).float()


def _prep_active_units(g: torch.Generator) -> tuple[dict, dict]:
    from vaelib.metrics import active_units  # noqa: PLC0415

    t = round(0.001 + 0.002 * torch.rand(1, generator=g).item(), 5)
    explicit, default = _units_means(g, t), _units_means(g, 0.01)
    cases = {"an explicit threshold": {"means": explicit, "args": [t]},
             "the default threshold": {"means": default, "args": []}}
    return {"cases": cases}, {"an explicit threshold": active_units(explicit, t),
                              "the default threshold": active_units(default)}


def _units_mistakes(m: torch.Tensor, t: float) -> dict[str, int]:
    """What each typical mistake returns on means m [N, D] (keys of _UNITS_HINTS)."""
    count = lambda mask: int(mask.sum())  # noqa: E731
    return {"axis": count(m.var(1) > t), "inactive": count(m.var(0) <= t), "mean |mu|": count(m.abs().mean(0) > t),
            "mean mu^2": count(m.pow(2).mean(0) > t), "std": count(m.std(0) > t), "0.01": count(m.var(0) > 0.01)}


_UNITS_HINTS = {
    "axis": "that is a count of images, not of latent dimensions: take the variance over the images, dim 0 of "
            "means [N, D] (one variance per latent dimension), not over the dimensions of one image",
    "inactive": "that counts the inactive dimensions (variance at or below the threshold); count the active ones, "
                "whose variance exceeds it",
    "mean |mu|": "that thresholds the mean |mu| of each dimension: threshold its variance over the images, centred "
                 "on its mean (a dimension that stays at the same value far from 0 carries nothing)",
    "mean mu^2": "that thresholds the mean mu^2 of each dimension (not centred): threshold its variance over the "
                 "images, centred on its mean (a dimension that stays at the same value far from 0 carries nothing)",
    "std": "that compares the standard deviation with the threshold; compare the variance",
    "0.01": "the threshold argument is ignored: compare with `threshold`, not a fixed 0.01",
}


def _judge_active_units(out: dict, p: dict, refs: dict) -> None:
    for case, c in p["cases"].items():
        n, d = c["means"].shape
        got, what = out[case], f"active_units(means) with {case}"
        if isinstance(got, dict) and "error" in got:
            raise CheckFailed(f"{what} raised {got['error']}")
        if isinstance(got, torch.Tensor) and got.numel() > 1:
            per = "image: take the variance over the images, dim 0," if got.numel() == n else "latent dimension:"
            raise CheckFailed(f"{what} must return one count (an int), got a tensor {_shape(got)}, one value per "
                              f"{per} then count the dimensions above the threshold, int((... > threshold).sum())")
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise CheckFailed(f"{what} must return the number of active dimensions (an int), got a {_shape(got)}")
        if got == refs[case]:
            continue
        if case == "the default threshold" and out["an explicit threshold"] == refs["an explicit threshold"]:
            raise CheckFailed(f"{what}: {got}, expected {refs[case]}; the default threshold is 0.01")
        for mistake, value in _units_mistakes(c["means"].double(), c["args"][0] if c["args"] else 0.01).items():
            if got == value:
                raise CheckFailed(f"{what}: {got} of {d} dimensions, expected {refs[case]}: {_UNITS_HINTS[mistake]}")
        raise CheckFailed(f"{what}: {got} of {d} dimensions, expected {refs[case]} "
                          "(the dimensions whose variance over the images exceeds the threshold)")


# ----------------------------------------------------------------------------- roc_auc (07)


def _auc_mistakes(sn: torch.Tensor, sa: torch.Tensor) -> dict[str, float]:
    """The right AUC and what each typical mistake returns on these scores (keys of _AUC_HINTS)."""
    diff = sa.double()[:, None] - sn.double()[None, :]  # [n_a, n_n], every pair
    gt, eq = (diff > 0).double().mean().item(), (diff == 0).double().mean().item()
    auc, n_a, n_n = gt + eq / 2, len(sa), len(sn)
    return {"right": auc, "reversed": 1 - auc, "ties 0": gt, "ties 1": gt + eq,
            "means": float(sa.double().mean() > sn.double().mean()), "rank sum": auc + (n_a + 1) / (2 * n_n)}


def _prep_roc_auc(g: torch.Generator) -> tuple[dict, float]:
    """Integer scores, so that many pairs tie; redrawn until the AUC lies in [0.6, 0.95] and the right
    answer and every mistake lie at least 0.02 apart (a fixed such case if 1000 draws miss, never so far)."""
    from vaelib.eval.anomaly import roc_auc  # noqa: PLC0415

    for _ in range(1000):
        n_n, n_a = int(torch.randint(9, 15, (1,), generator=g)), int(torch.randint(5, 9, (1,), generator=g))
        sn = torch.randint(0, 7, (n_n,), generator=g).float()
        sa = torch.randint(2, 10, (n_a,), generator=g).float()
        values = sorted(_auc_mistakes(sn, sa).values())
        if 0.6 <= roc_auc(sn, sa) <= 0.95 and min(b - a for a, b in zip(values, values[1:])) >= 0.02:
            break
    else:
        sn, sa = torch.tensor([0.0, 1, 1, 2, 2, 3, 3, 4, 5, 6]), torch.tensor([2.0, 3, 4, 4, 6, 7, 8])
    return {"normal": sn, "anomalous": sa}, roc_auc(sn, sa)


_AUC_HINTS = {
    "reversed": "that is 1 - AUC: the direction is reversed; a higher score means anomalous, so count the pairs "
                "where the anomalous score (the second argument) is the higher",
    "ties 0": "tied pairs (s_a = s_n) count ½, not 0: P(s_a > s_n) + ½ P(s_a = s_n)",
    "ties 1": "tied pairs (s_a = s_n) count ½, not 1: P(s_a > s_n) + ½ P(s_a = s_n) (with ranks, tied scores get "
              "the mean of their ranks)",
    "means": "that compares only the two mean scores (0 or 1): compare every anomalous score with every normal "
             "score and take the fraction of pairs",
    "rank sum": "the rank sum R_a of the anomalous scores needs the n_a (n_a + 1) / 2 subtracted before dividing by "
                "n_a n_n: AUC = (R_a - n_a (n_a + 1) / 2) / (n_a n_n)",
}


def _judge_roc_auc(out: dict, p: dict, ref: float) -> None:
    got, what = out["out"], "roc_auc(scores_normal, scores_anomalous)"
    if isinstance(got, dict) and "error" in got:
        raise CheckFailed(f"{what} raised {got['error']}")
    if isinstance(got, torch.Tensor) and got.numel() > 1:
        raise CheckFailed(f"{what} must return one number (a float), got a tensor {_shape(got)}: the mean over "
                          "all pairs of the pair's score (1, ½ or 0)")
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.double().item()
    if not isinstance(got, (bool, int, float)) or not math.isfinite(got):
        raise CheckFailed(f"{what} must return a float, got a {_shape(got)}")
    if math.isclose(got, ref, abs_tol=1e-6):
        return
    mistakes = _auc_mistakes(p["normal"], p["anomalous"])
    for mistake, hint in _AUC_HINTS.items():
        if math.isclose(got, mistakes[mistake], abs_tol=1e-6):
            raise CheckFailed(f"{what}: {got:.4f}, expected {ref:.4f}; {hint}")
    if mistakes["ties 0"] < got < mistakes["ties 1"]:
        raise CheckFailed(f"{what}: {got:.4f}, expected {ref:.4f}; the tied pairs are broken arbitrarily (ranks "
                          "from a sort?): each tied pair counts ½, tied scores get the mean of their ranks")
    raise CheckFailed(f"{what}: {got:.4f}, expected {ref:.4f} = P(s_a > s_n) + ½ P(s_a = s_n)")


# ----------------------------------------------------------------------------- traverse (08)


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


# ----------------------------------------------------------------------------- mmd_unbiased (09)


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
    Check("active_units", "the number of active units", "function", _prep_active_units, _judge_active_units),
    Check("roc_auc", "the ROC AUC, ties counted half", "function", _prep_roc_auc, _judge_roc_auc),
    Check("traverse", "a latent traversal", "function", _prep_traverse, _judge_traverse),
    Check("mmd_unbiased", "the unbiased MMD² with the IMQ kernel", "function", _prep_mmd, _judge_mmd),
)

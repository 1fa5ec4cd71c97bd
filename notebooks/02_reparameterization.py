# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · The reparameterization trick and the ELBO
#
# **What you will learn**
#
# - the VAE as a model: a decoder $p_\theta$, an encoder $q_\phi$, and why $\log p_\theta(x)$ is out of reach;
# - the evidence lower bound (ELBO), whose gap is a KL divergence to the true posterior;
# - why the gradient in $\phi$ needs the reparameterization trick, and how it compares with the score function;
# - the ELBO of a trained model term by term, and the importance-weighted bound.
#
# **You need** [01 · MNIST as tensors](01_data.ipynb), expectations and autograd. **Run time**:
# printed by the setup cell below, from the measured records. Evidence tags: see
# [How to read the claims](01_data.ipynb#How-to-read-the-claims).
#
# **Exercises**: `reparameterize`, `kl_std_normal`, `elbo`, `iwae_bound`; the cell after each checks
# yours against vaelib's, which the rest of the notebook uses.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from numpy.polynomial import Polynomial

from vaelib.notebook import setup  # first: it also sets up the notebook environment
from vaelib.data import load_mnist, to_unit
from vaelib import losses  # vaelib's reference implementations: losses.reparameterize, ...
from vaelib.losses import bernoulli_log_prob, gaussian_diag_log_prob, std_normal_log_prob
from vaelib.eval.plots import show_grid

session = setup("02")

# %% [markdown]
# ## The model, and why its likelihood is out of reach
#
# A code $z$ is drawn from the prior $p(z) = \mathcal N(0, I)$, then an image from the **decoder**
# $p_\theta(x \mid z)$, a neural network with parameters $\theta$ (here a Bernoulli per pixel,
# `bernoulli_log_prob`). The likelihood of an image is
#
# $$p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz .$$
#
# An integral over all codes with a neural network inside has no closed form, and codes drawn from the
# prior rarely explain a given $x$, so naive sampling fails too. The posterior
# $p_\theta(z \mid x) = p_\theta(x \mid z)\, p(z) / p_\theta(x)$ needs the same integral.
#
# The VAE adds a second network, the **encoder** with parameters $\phi$, which outputs for each $x$ a
# Gaussian $q_\phi(z \mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x))$ meant to
# approximate $p_\theta(z \mid x)$. One network serves every image instead of a fit per image:
# *amortized* inference.

# %%
fig, ax = plt.subplots(figsize=(8, 1.7))
ax.set(xlim=(0, 10), ylim=(0, 2))
ax.axis("off")
nodes = [(0.5, "image $x$", "0.92"), (2.4, "encoder $q_\\phi(z \\mid x)$\nparameters $\\phi$", "#c6dbef"),
         (4.4, "$\\mu,\\ \\sigma$", "0.92"), (6.1, "$z = \\mu + \\sigma \\odot \\varepsilon$", "0.92"),
         (8.0, "decoder $p_\\theta(x \\mid z)$\nparameters $\\theta$", "#fcbba1"), (9.6, "$\\hat x$", "0.92")]
boxes = [ax.text(pos, 1.4, label, ha="center", va="center", fontsize=9,
                 bbox=dict(boxstyle="round,pad=0.4", fc=colour, ec="0.4")) for pos, label, colour in nodes]
noise = ax.text(6.1, 0.3, r"$\varepsilon \sim \mathcal{N}(0, I)$", ha="center", va="center", fontsize=9)
for a, b in [*zip(boxes, boxes[1:]), (noise, boxes[3])]:  # arrows from box edge to box edge
    ax.annotate("", xy=(0.5, 0.5), xycoords=b, xytext=(0.5, 0.5), textcoords=a,
                arrowprops=dict(arrowstyle="->", lw=1.2, patchA=a.get_bbox_patch(), patchB=b.get_bbox_patch()))
fig.tight_layout();

# %% [markdown]
# ## The evidence lower bound
#
# Any $q_\phi(z \mid x)$ positive wherever the posterior is turns the integral into an expectation,
# and Jensen's inequality ($\log$ is concave) bounds its logarithm:
#
# $$\log p_\theta(x) = \log \mathbb E_{q_\phi(z\mid x)}\Big[\frac{p_\theta(x \mid z)\, p(z)}{q_\phi(z \mid x)}\Big]
#   \;\ge\; \mathbb E_{q_\phi}\Big[\log \frac{p_\theta(x \mid z)\, p(z)}{q_\phi(z \mid x)}\Big]
#   = \underbrace{\mathbb E_{q_\phi}\big[\log p_\theta(x \mid z)\big]}_{\text{reconstruction}}
#   - \underbrace{\mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big)}_{\text{KL}} = \mathrm{ELBO}(x)$$
#
# (`vaelib.losses.elbo`). Writing $p_\theta(x \mid z)\, p(z) = p_\theta(z \mid x)\, p_\theta(x)$ inside
# the expectation shows what the bound misses:
#
# $$\log p_\theta(x) = \mathrm{ELBO}(x) + \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x)\big).$$
#
# The gap is the KL divergence from the encoder to the **true posterior**. Raising the ELBO over
# $\phi$ pulls $q_\phi$ towards it; over $\theta$ it raises $\log p_\theta(x)$ or shrinks the gap.
#
# A **linear-Gaussian** model checks the identity exactly: $p(z) = \mathcal N(0, I)$ and
# $p(x \mid z) = \mathcal N(Wz + b, s^2 I)$ give $p(x) = \mathcal N(b, WW^\top + s^2 I)$ and a Gaussian
# posterior with precision $\Lambda = I + W^\top W / s^2$, covariance $\Sigma = \Lambda^{-1}$, mean
# $\Sigma W^\top (x - b)/s^2$. The cell tries a wrong diagonal $q$, then the best one under
# $\mathrm{KL}(q \,\|\, p)$: the posterior's mean and precisions $\Lambda_{ii}$, i.e. variances
# $1/\Lambda_{ii}$ (Bishop 2006, §10.1.2).

# %%
gen = torch.Generator().manual_seed(0)
D_Z, D_X, S_NOISE = 3, 6, 0.5
W = torch.randn(D_X, D_Z, generator=gen, dtype=torch.float64)
b_lin = torch.randn(D_X, generator=gen, dtype=torch.float64)
x_lin = torch.randn(D_X, generator=gen, dtype=torch.float64)
marginal = torch.distributions.MultivariateNormal(b_lin, W @ W.T + S_NOISE**2 * torch.eye(D_X, dtype=torch.float64))
post_prec = torch.eye(D_Z, dtype=torch.float64) + W.T @ W / S_NOISE**2  # Λ
post_cov = torch.linalg.inv(post_prec)  # Σ
posterior = torch.distributions.MultivariateNormal(post_cov @ W.T @ (x_lin - b_lin) / S_NOISE**2, post_cov)


def linear_gaussian_elbo(q_mu: torch.Tensor, q_logvar: torch.Tensor) -> torch.Tensor:
    """ELBO of x_lin under a diagonal q, in closed form: E_q log N(x; Wz + b, s²I) - KL(q || N(0, I))."""
    resid = x_lin - W @ q_mu - b_lin
    expected_sq = resid @ resid + (W**2 @ q_logvar.exp()).sum()  # E_q ||x - Wz - b||²
    recon = -0.5 * D_X * math.log(2 * math.pi * S_NOISE**2) - expected_sq / (2 * S_NOISE**2)
    return recon - losses.kl_std_normal(q_mu[None], q_logvar[None])[0]


q_mu, q_logvar = posterior.mean + 0.7, torch.full((D_Z,), -3.0, dtype=torch.float64)  # a wrong q
q = torch.distributions.MultivariateNormal(q_mu, torch.diag(q_logvar.exp()))
log_px, bound = marginal.log_prob(x_lin).item(), linear_gaussian_elbo(q_mu, q_logvar).item()
kl_to_posterior = torch.distributions.kl_divergence(q, posterior).item()
print(f"log p(x) = {log_px:.6f}   ELBO = {bound:.6f}   KL(q || p(z|x)) = {kl_to_posterior:.6f}")
print(f"ELBO + KL(q || p(z|x)) - log p(x) = {bound + kl_to_posterior - log_px:.2e}")
assert bound < log_px and math.isclose(bound + kl_to_posterior, log_px, abs_tol=1e-9)

best_diag = (posterior.mean, -torch.log(post_prec.diagonal()))  # the best diagonal q: variances 1/Λ_ii
gap_best = log_px - linear_gaussian_elbo(*best_diag).item()
corr = post_cov / post_cov.diagonal().sqrt().outer(post_cov.diagonal().sqrt())
print(f"\nbest diagonal q: gap {gap_best:.4f} nats; posterior correlation |ρ| up to "
      f"{corr.abs().fill_diagonal_(0).max():.2f}")
print("its variances 1/Λ_ii:            ", [round(v, 4) for v in (1 / post_prec.diagonal()).tolist()])
print("posterior marginal variances Σ_ii:", [round(v, 4) for v in post_cov.diagonal().tolist()])
assert 0 < gap_best < log_px - bound  # only a full-covariance q closes the gap
assert (1 / post_prec.diagonal() < post_cov.diagonal()).all()  # mean-field underestimates the variances
for shift in (0.1, -0.1):  # any other diagonal q (mean or log-variance moved) leaves a larger gap
    assert log_px - linear_gaussian_elbo(best_diag[0] + shift, best_diag[1]).item() > gap_best
    assert log_px - linear_gaussian_elbo(best_diag[0], best_diag[1] + shift).item() > gap_best

# %% [markdown]
# The identity holds to rounding [exact]. Even the best diagonal $q$ leaves a gap, since the posterior
# is correlated, and its variances $1/\Lambda_{ii}$ lie below the marginal variances $\Sigma_{ii}$
# [exact]: a mean-field $q$, like this series' encoders, underestimates the posterior's spread.
#
# ## The gradient problem, and the reparameterization trick
#
# Training climbs the ELBO in $\theta$ and in $\phi$. For $\theta$ it is easy: $q_\phi$ does not depend
# on $\theta$, so the gradient moves inside, $\mathbb E_{q_\phi}[\nabla_\theta \log p_\theta(x \mid z)]$, and
# sampled $z$ estimate it. For $\phi$ it is not:
#
# $$\nabla_\phi\, \mathbb E_{q_\phi}[f(z)] = \nabla_\phi \int q_\phi(z)\, f(z)\, dz = \int f(z)\, \nabla_\phi q_\phi(z)\, dz ,$$
#
# the distribution depends on $\phi$, and $\int f\, \nabla_\phi q_\phi$ is not an expectation over
# $q_\phi$ that samples could estimate. The KL term has a closed form (below); the reconstruction
# term, $f(z) = \log p_\theta(x \mid z)$, does not. Two fixes, both unbiased:
#
# * **Score function** (REINFORCE, Williams 1992): $\nabla_\phi q_\phi = q_\phi \nabla_\phi \log q_\phi$
#   gives $\mathbb E_{q_\phi}[f(z)\, \nabla_\phi \log q_\phi(z)]$. It needs only $\log q$
#   (`gaussian_diag_log_prob`), and works for any $f$, even a non-differentiable one.
# * **Pathwise**, the reparameterization trick (Kingma & Welling 2014; Rezende et al. 2014): write
#   $z = \mu_\phi + \sigma_\phi \odot \varepsilon$, $\varepsilon \sim \mathcal N(0, I)$. The randomness
#   now sits in $\varepsilon$, which does not depend on $\phi$, so the gradient moves inside:
#   $\mathbb E_\varepsilon[\nabla_\phi f(\mu_\phi + \sigma_\phi \varepsilon)]$. It needs a differentiable $f$,
#   which a decoder is.
#
# ### Sampling $z = \mu + \sigma \varepsilon$
#
# The encoder outputs $\mu$ and an unconstrained $\log \sigma^2$;
# `vaelib.losses.reparameterize(mu, logvar)` returns $\mu + \sigma \odot \varepsilon$,
# $\sigma = \exp(\tfrac12 \log \sigma^2)$.
#
# **Exercise (`reparameterize`).** Write it. The check compares yours with vaelib's from the same seed.

# %% tags=["exercise"]
import torch


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with sigma = exp(logvar / 2) and eps ~ N(0, I). mu, logvar: [B, D] -> z: [B, D]."""
    # HINT: draw eps with torch.randn_like(mu), turn the log-variance into a standard deviation, and combine
    # BEGIN SOLUTION
    std = torch.exp(0.5 * logvar)
    noise = torch.randn_like(mu)
    return mu + std * noise
    # END SOLUTION

# %%
from vaecourse.assignments import exercise_check

with exercise_check("reparameterize"):
    check_mu, check_logvar = torch.randn(4, 3), torch.randn(4, 3)
    torch.manual_seed(1)
    z_yours = reparameterize(check_mu, check_logvar)
    torch.manual_seed(1)
    z_vaelib = losses.reparameterize(check_mu, check_logvar)
    assert z_yours.shape == z_vaelib.shape and torch.allclose(z_yours, z_vaelib), "from the same seed, the same z"
    grad_mu, grad_logvar = check_mu.clone().requires_grad_(), check_logvar.clone().requires_grad_()
    reparameterize(grad_mu, grad_logvar).sum().backward()
    assert grad_mu.grad is not None and grad_logvar.grad is not None, "the gradient must reach mu and logvar"
    print("reparameterize: the same z as vaelib's from the same seed, and gradients reach mu and logvar")

# %% [markdown]
# The samples have the mean and spread we asked for:

# %% tags=["nbval-check-output"]
torch.manual_seed(0)
mu = torch.tensor([1.0, -2.0])
logvar = torch.tensor([0.5, 2.0]).pow(2).log()  # sigma = 0.5 and 2
N = 100_000
z = losses.reparameterize(mu.expand(N, 2), logvar.expand(N, 2))  # [N, 2]
sigma = torch.exp(0.5 * logvar)
mean, std = z.mean(0), z.std(0)
se = sigma / math.sqrt(N)  # standard error of a sample mean
for j in range(2):
    print(f"dim {j}: asked mu = {mu[j]:+.1f}, sigma = {sigma[j]:.1f}; "
          f"sample mean {mean[j]:+.4f} (SE {se[j]:.4f}), sample std {std[j]:.4f}")
assert ((mean - mu).abs() < 4 * se).all()
assert ((std - sigma).abs() / sigma < 0.01).all()

# %% [markdown]
# and by the chain rule $\partial z / \partial \mu = 1$ and
# $\partial z / \partial \log\sigma^2 = \tfrac12 \sigma \varepsilon = \tfrac12 (z - \mu)$, which autograd finds:

# %% tags=["nbval-check-output"]
torch.manual_seed(0)
mu_ = torch.tensor([1.0, -2.0], requires_grad=True)
logvar_ = logvar.clone().requires_grad_()
z_ = losses.reparameterize(mu_, logvar_)
z_.sum().backward()
print("dz/dmu      =", mu_.grad.tolist())
print("dz/dlogvar  =", [round(v, 4) for v in logvar_.grad.tolist()])
print("(z - mu) / 2 =", [round(v, 4) for v in ((z_ - mu_) / 2).tolist()])
assert torch.equal(mu_.grad, torch.ones(2))
assert torch.allclose(logvar_.grad, (z_ - mu_).detach() / 2)

# %% [markdown]
# ## Two gradient estimators on a toy problem
#
# Take $f(z) = z^2$, $z \sim \mathcal N(\mu, \sigma^2)$: $J(\mu) = \mathbb E[f(z)] = \mu^2 + \sigma^2$,
# $dJ/d\mu = 2\mu$. The score-function estimator is $f(z)\, s$ with the score
# $s = \partial_\mu \log \mathcal N(z; \mu, \sigma^2) = (z - \mu)/\sigma^2$; the pathwise one is
# $f'(z) = 2z$. Both are polynomials in $\varepsilon$, so the Gaussian moments give their exact
# variances (here $\mu = \sigma = 1$).
#
# A constant **baseline** $b$ subtracted from $f$ keeps the score function unbiased ($\mathbb E[s] = 0$)
# and can lower its variance. Two choices: the common $b = \mathbb E[f]$, and the variance-minimising
# $b^\ast = \mathbb E[f s^2] / \mathbb E[s^2]$ (the variance is a parabola in $b$); in practice both
# expectations are unknown.

# %% tags=["nbval-check-output"]
MU, SIGMA = 1.0, 1.0


def gauss_moment(k: int) -> float:
    """E[eps^k] for eps ~ N(0, 1): (k-1)!! for even k, 0 for odd k."""
    return 0.0 if k % 2 else float(np.prod(np.arange(k - 1, 0, -2)))


def expect(p: Polynomial) -> float:
    """E[p(eps)] for a polynomial p in eps ~ N(0, 1)."""
    return sum(c * gauss_moment(k) for k, c in enumerate(p.coef))


eps = Polynomial([0.0, 1.0])
z_poly = MU + SIGMA * eps
f_poly = z_poly**2
one_sample = {  # each estimator of dJ/dmu from one sample, as a polynomial in eps
    "pathwise: f'(z) = 2z": 2 * z_poly,
    "score function: f(z)(z-mu)/sigma^2": f_poly * eps / SIGMA,
    "score function, baseline E[f]": (f_poly - expect(f_poly)) * eps / SIGMA,
}
score = eps / SIGMA  # s = (z - mu) / sigma^2
b_best = expect(f_poly * score * score) / expect(score * score)  # E[f s^2] / E[s^2]
one_sample["score function, best baseline E[f s²]/E[s²]"] = (f_poly - b_best) * score
exact = pd.DataFrame(
    {
        "mean": [expect(p) for p in one_sample.values()],
        "variance of one sample": [expect(p * p) - expect(p) ** 2 for p in one_sample.values()],
    },
    index=list(one_sample),
)
print(f"true gradient dJ/dmu = 2 mu = {2 * MU}\n")
print(exact.to_string())
assert np.allclose(exact["mean"], 2 * MU)  # all unbiased
var_path, var_score = exact["variance of one sample"].iloc[:2]
var_baseline, var_best = exact["variance of one sample"].iloc[2:4]
print(f"\nbaselines: E[f] = {expect(f_poly):g}, best b* = E[f s²]/E[s²] = {b_best:g}")
assert var_path == 4 * SIGMA**2 and var_score > 7 * var_path
assert var_path < var_best < var_baseline < var_score  # the best constant beats E[f], but not the pathwise estimator
for b in np.linspace(b_best - 2, b_best + 2, 9):  # b* is the minimum over constants
    p = (f_poly - b) * score
    assert expect(p * p) - expect(p) ** 2 >= var_best - 1e-12

# %% [markdown]
# All four are unbiased [exact]. The pathwise variance $4\sigma^2$ is the smallest; $\mathbb E[f]$
# removes part of the score function's excess, $b^\ast$ a little more, and for this $f$ no constant
# reaches the pathwise level [exact]. With $n$ samples each variance falls as $1/n$, measured below
# with autograd as a training step computes it ($R$ repetitions, each with its own copy of $\mu$).

# %% tags=["nbval-check-output"]
R = 10_000  # repetitions per n
SAMPLES = [1, 4, 16, 64, 256, 1024]
f = torch.square


def gradient_estimates(estimator: str, n: int) -> torch.Tensor:
    """R independent n-sample estimates of dJ/dmu, [R]."""
    mu = torch.full((R, 1), MU, requires_grad=True)  # one copy of mu per repetition
    logvar = torch.full((R, 1), 2 * math.log(SIGMA))
    z = losses.reparameterize(mu.expand(R, n), logvar.expand(R, n))  # [R, n]
    if estimator == "pathwise":
        surrogate = f(z).mean(1)  # gradients flow through z
    else:  # score function: z is a constant, the gradient comes from log q(z)
        z = z.detach()
        log_q = gaussian_diag_log_prob(z.unsqueeze(-1), mu.unsqueeze(1), logvar.unsqueeze(1))  # [R, n]
        surrogate = (f(z) * log_q).mean(1)
    surrogate.sum().backward()
    return mu.grad.squeeze(1)


torch.manual_seed(0)
rows = []
for n in SAMPLES:
    for estimator, var_one in (("pathwise", var_path), ("score function", var_score)):
        g = gradient_estimates(estimator, n)
        rows.append({"estimator": estimator, "n": n, "mean": g.mean().item(), "variance": g.var().item(),
                     "exact variance": var_one / n, "SE of mean": (g.var() / R).sqrt().item()})
measured = pd.DataFrame(rows)
print(measured.pivot(index="n", columns="estimator", values=["mean", "variance", "exact variance"]).round(4).to_string())

assert ((measured["mean"] - 2 * MU).abs() < 4 * measured["SE of mean"]).all()  # unbiased
ratio = measured["variance"] / measured["exact variance"]
assert ratio.between(0.75, 1.33).all()  # the 1/n law with the closed-form constants
wide = measured.pivot(index="n", columns="estimator", values="variance")
assert (wide["pathwise"] < wide["score function"]).all()  # pathwise wins at every n

# %%
fig, ax = plt.subplots(figsize=(5.5, 4))
for (estimator, group), color in zip(measured.groupby("estimator"), ("C0", "C3")):
    ax.loglog(group["n"], group["variance"], "o", color=color, label=f"{estimator}, measured")
    ax.loglog(group["n"], group["exact variance"], "-", color=color, lw=1, label=f"{estimator}, exact / n")
ax.set_xlabel("samples per estimate, n")
ax.set_ylabel("variance of the gradient estimate")
ax.set_title(r"$d/d\mu\ \mathbb{E}[z^2]$, $z \sim \mathcal{N}(1, 1)$")
ax.legend(fontsize=8);
session.save_figure(fig, "02_gradient_variance.png");

# %% [markdown]
# The measured variances lie on the closed-form $1/n$ lines; the pathwise estimator is lower at every
# $n$ [R = 10,000]. That ranking belongs to this $f$: which estimator wins depends on $f$ and $q$
# (Mohamed et al. 2020). For $f(z) = \cos 5z$ the pathwise $-5 \sin 5z$ swings widely; the score
# function's $\cos(5z)\, s$ does not:

# %%
gen = torch.Generator().manual_seed(0)
z_cos = MU + SIGMA * torch.randn(1_000_000, generator=gen, dtype=torch.float64)  # z ~ N(1, 1)
true_cos = -5 * math.sin(5 * MU) * math.exp(-12.5 * SIGMA**2)  # d/dmu E[cos 5z] = d/dmu cos(5 mu) exp(-25 sigma²/2)
cos_estimates = {"pathwise: f'(z) = -5 sin 5z": -5 * torch.sin(5 * z_cos),
                 "score function: cos(5z) (z - mu)/sigma^2": torch.cos(5 * z_cos) * (z_cos - MU) / SIGMA**2}
print(f"true gradient {true_cos:+.5f}")
for name, g in cos_estimates.items():
    print(f"{name:42} mean {g.mean():+.5f}, variance of one sample {g.var():.3f}")
    assert abs(g.mean() - true_cos) < 4 * (g.var() / len(g)).sqrt()  # both unbiased
var_path_cos, var_score_cos = (g.var().item() for g in cos_estimates.values())
assert var_score_cos < var_path_cos / 10  # here the score function wins

# %% [markdown]
# ## The KL term in closed form
#
# For $p(z) = \mathcal N(0, I)$ and a diagonal Gaussian $q$, the KL term needs no sampling: it has a
# closed form (Kingma & Welling 2014, Appendix B), `vaelib.losses.kl_std_normal`:
#
# $$\mathrm{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2) \,\|\, \mathcal N(0, I)\big) = -\tfrac12 \sum_{j=1}^{D} \big(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\big).$$
#
# **Exercise (`kl_std_normal`).** Write the closed form, one value per example.

# %% tags=["exercise"]
import torch


def kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) per example, in nats. mu, logvar: [B, D] -> [B]."""
    # HINT: the formula above term by term, with sigma^2 = exp(logvar); sum over the latent dimensions only
    # BEGIN SOLUTION
    inside = 1.0 + logvar - mu.pow(2) - torch.exp(logvar)
    return -0.5 * inside.sum(dim=1)
    # END SOLUTION

# %%
from vaecourse.assignments import exercise_check

with exercise_check("kl_std_normal"):
    gen = torch.Generator().manual_seed(7)
    check_mu, check_logvar = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    kl_yours, kl_vaelib = kl_std_normal(check_mu, check_logvar), losses.kl_std_normal(check_mu, check_logvar)
    print("yours: ", [round(v, 4) for v in kl_yours.tolist()])
    print("vaelib:", [round(v, 4) for v in kl_vaelib.tolist()])
    assert kl_yours.shape == (5,), f"one value per example: shape [B] expected, got {list(kl_yours.shape)}"
    assert torch.allclose(kl_yours, kl_vaelib, atol=1e-5)

# %% [markdown]
# The KL is also an expectation, $\mathbb E_q[\log q(z) - \log p(z)]$ (`gaussian_diag_log_prob`,
# `std_normal_log_prob`): a Monte-Carlo estimate must agree within its standard error.
# `torch.distributions` is an independent reference.

# %% tags=["nbval-check-output"]
torch.manual_seed(0)
D = 20  # the latent size of the models in this series
mu_q = 0.8 * torch.randn(1, D)
logvar_q = torch.empty(1, D).uniform_(-3.0, 0.5)

kl_exact = losses.kl_std_normal(mu_q, logvar_q).item()
q = torch.distributions.Normal(mu_q, torch.exp(0.5 * logvar_q))
kl_reference = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum().item()

rows = []
for S in (10, 100, 1_000, 10_000, 100_000):
    z = losses.reparameterize(mu_q.expand(S, D), logvar_q.expand(S, D))  # [S, D]
    terms = gaussian_diag_log_prob(z, mu_q, logvar_q) - std_normal_log_prob(z)  # [S] samples of log q - log p
    estimate, se = terms.mean().item(), (terms.std() / math.sqrt(S)).item()
    rows.append({"samples S": S, "MC estimate": estimate, "SE": se, "(MC - exact) / SE": (estimate - kl_exact) / se})
kl_table = pd.DataFrame(rows).set_index("samples S")
print(f"closed form (kl_std_normal): {kl_exact:.4f} nats; torch.distributions: {kl_reference:.4f} nats\n")
print(kl_table.round(4).to_string())

assert abs(kl_exact - kl_reference) < 1e-4
assert (kl_table["(MC - exact) / SE"].abs() < 4).all()
assert np.allclose(kl_table["SE"].iloc[:-1].values / kl_table["SE"].iloc[1:].values, math.sqrt(10), rtol=0.25)
assert losses.kl_std_normal(torch.zeros(1, D), torch.zeros(1, D)).item() == 0.0  # q = p: no divergence

# %% [markdown]
# The closed form matches `torch.distributions`; every Monte-Carlo estimate lies within a few
# standard errors, which shrink about $\sqrt{10}$-fold per tenfold more samples.
#
# ## The ELBO of a trained model, term by term
#
# `vaelib.losses.elbo(log_px_given_z, kl, beta)` combines `bernoulli_log_prob(x, logits)` at one
# sampled $z$ and `kl_std_normal(mu, logvar)`, per image in nats; the training loss is minus the ELBO,
# averaged over the batch. A β-VAE (Higgins et al. 2017) trains on
# $-(\text{reconstruction} - \beta\,\mathrm{KL})$, but the ELBO stays reconstruction − KL: `elbo` returns both.
#
# **Exercise (`elbo`).** Write it.

# %% tags=["exercise"]
import torch

from vaelib.losses import ELBOTerms


def elbo(log_px_given_z: torch.Tensor, kl: torch.Tensor, beta: float = 1.0) -> ELBOTerms:
    """The ELBO and the beta-weighted training loss, per example. log_px_given_z, kl: [B] -> ELBOTerms of [B]."""
    # HINT: which of the two depends on beta? Return ELBOTerms(reconstruction=..., kl=..., elbo=..., loss=..., beta=...)
    # BEGIN SOLUTION
    bound = log_px_given_z - kl
    beta_objective = log_px_given_z - beta * kl
    return ELBOTerms(reconstruction=log_px_given_z, kl=kl, elbo=bound, loss=-beta_objective, beta=float(beta))
    # END SOLUTION

# %%
from vaecourse.assignments import exercise_check

with exercise_check("elbo"):
    check_log_px, check_kl = torch.tensor([-100.0, -80.0]), torch.tensor([20.0, 10.0])
    for check_beta in (1.0, 4.0):
        yours, ref = elbo(check_log_px, check_kl, check_beta), losses.elbo(check_log_px, check_kl, check_beta)
        print(f"beta = {check_beta}: ELBO {yours.elbo.tolist()}, loss {yours.loss.tolist()}")
        assert torch.allclose(yours.elbo, ref.elbo), "the ELBO"
        assert torch.allclose(yours.loss, ref.loss), "the training loss"

# %% [markdown]
# The model is the VAE of pytorch/examples (784-400-20 encoder, mirrored Bernoulli decoder), trained
# for two epochs on all 60,000 training images with **grey** targets (so its reconstruction term is
# the "grey BCE" of notebook 01): the run `pytorch-example-2-epochs` of `vaelib.runs`, then cached.
# `train_recon` is $-\mathbb E_q[\log p_\theta(x \mid z)]$, `train_kl` the KL.

# %%
run = session.run("pytorch-example-2-epochs")
model = run.model.eval().requires_grad_(False)  # we only evaluate it; gradients w.r.t. z still flow
run.history[["epoch", "train_loss", "train_recon", "train_kl"]].round(2)

# %% [markdown]
# The same terms by hand on 500 test images; from the same seed, `model(x)` (`VAE.forward`, what the
# trainer calls) must agree exactly.

# %%
splits = load_mnist(subset=session.subset)
x = to_unit(splits.test.images[:500])  # grey targets, as the model was trained

torch.manual_seed(1)
with torch.no_grad():
    mu, logvar = model.encode(x)  # q_phi(z|x): [B, 20] each
    z = losses.reparameterize(mu, logvar)  # one sample per image
    logits = model.decode(z)  # [B, 1, 28, 28]
    reconstruction = bernoulli_log_prob(x, logits)  # log p_theta(x|z), [B] nats
    kl = losses.kl_std_normal(mu, logvar)  # [B] nats
    terms = losses.elbo(reconstruction, kl)  # ELBO = reconstruction - KL

torch.manual_seed(1)
with torch.no_grad():
    by_model = model(x)  # what training computes

entropy = -(torch.xlogy(x, x) + torch.xlogy(1 - x, 1 - x)).sum(dim=(1, 2, 3))  # -H(x): the ceiling of notebook 01
per_image = pd.DataFrame(
    {"reconstruction": terms.reconstruction, "KL": terms.kl, "ELBO": terms.elbo, "-H(x)": -entropy}
).astype("float64")
print(f"batch of {len(x)} test images, nats per image (mean):")
print(per_image.mean().round(2).to_string())

assert torch.equal(by_model.elbo, terms.elbo) and torch.equal(by_model.kl, terms.kl)
assert torch.allclose(terms.elbo, terms.reconstruction - terms.kl)
assert (terms.kl >= 0).all()
assert (terms.reconstruction <= -entropy + 1e-3).all()  # grey BCE never rises above its ceiling -H(x)
per_image.head().round(2)

# %% [markdown]
# * The hand-made terms equal `model(x)` [exact]: the trainer minimises this ELBO.
# * The KL is positive for every image: telling images apart moves $q_\phi$ away from the prior.
# * The reconstruction term stays below $-H(x)$ for every image [exact]: on grey targets $-H(x)$ is
#   the ceiling of the grey BCE (notebook 01): part of the "reconstruction loss" cannot be removed.
#
# ### One sample of $z$, and why the mean of $q$ is not the ELBO
#
# The cell redraws the one-sample ELBO 100 times per image, and also decodes at $z = \mu$.

# %%
torch.manual_seed(2)
with torch.no_grad():
    draws = torch.stack([model(x).elbo for _ in range(100)])  # [100 draws, B]
    at_mean = bernoulli_log_prob(x, model.decode(mu)) - kl  # "ELBO" with z = mu: not a bound
elbo_mc = draws.mean(0)  # a 100-sample estimate of each image's ELBO
se_mc = draws.std(0) / math.sqrt(len(draws))  # its standard error, per image
gap = at_mean - elbo_mc
predicted = (draws.var(0).mean() / len(x)).sqrt()  # std of a mean of B independent draws
print(f"ELBO, 100-sample average over the batch: {elbo_mc.mean():.2f} nats per image")
print(f"one-sample ELBO of an image fluctuates with std {draws.std(0).mean():.2f} nats (average over images)")
print(f"the batch mean of one-sample ELBOs fluctuates with std {draws.mean(1).std():.2f} nats "
      f"(independent draws predict {predicted:.2f})")
print(f"decoding at z = mu instead gives {at_mean.mean():.2f} nats per image, {gap.mean():+.2f} "
      f"away from the ELBO ({(gap.abs() / se_mc).median():.0f} standard errors for the median image), "
      f"higher for {(gap > 0).float().mean():.0%} of the images")
assert draws.mean(1).std() < draws.std(0).mean()  # averaging over a batch tames the noise
assert 0.5 < draws.mean(1).std() / predicted < 2  # ... as 1/sqrt(B): the draws are independent
assert (gap.abs() / se_mc).median() > 4  # z = mu gives another number, not a noisy ELBO
with session.claims():  # for the trained model; test mode's one-epoch model is too crude to say
    assert gap.mean() > 0 and (gap > 0).float().mean() > 0.5  # z = mu flatters the model

# %% [markdown]
# One image's one-sample ELBO scatters by a few nats; the batch mean $\sqrt B$ times less, as
# independent draws must. Training relies on the same averaging for the **gradient**: the pathwise
# gradient of a one-sample ELBO is an unbiased estimate of the ELBO's gradient, and the batch averages
# $B$ independent ones, dividing their variance by $B$. Stochastic gradient descent needs no more, so
# one $z$ per image suffices (Kingma & Welling use one, with batches of 100).
#
# Decoding at $z = \mu$ gives a higher number for the share of images printed [1 run, 500 images]: it
# skips the spread of $q_\phi$ and bounds nothing, so this series always samples $z$ for an ELBO.
# Ten test digits, decoded both ways:

# %%
torch.manual_seed(3)
with torch.no_grad():
    sampled = model.mean(model.decode(losses.reparameterize(mu[:10], logvar[:10])))
    at_mu = model.mean(model.decode(mu[:10]))
fig, axes = plt.subplots(3, 1, figsize=(7, 3.3))
for ax, (title, images) in zip(axes, {"test digits": x[:10], "decoded at z = μ": at_mu,
                                      "decoded at a sampled z": sampled}.items()):
    show_grid(images, ax=ax, nrow=10)
    ax.set_title(title, fontsize=9, loc="left")
fig.tight_layout();

# %% [markdown]
# ## The two estimators on the trained decoder
#
# Now $f$ is what a VAE differentiates: for one test image, $f(z) = \log p_\theta(x \mid z)$ under the
# trained decoder, $z \sim q_\phi(z \mid x)$. Each estimator of $\nabla_\mu \mathbb E_q[f]$ uses one
# sample, $R = 2000$ times on the same draws (variances summed over latent dimensions). The
# score function runs without a baseline and with $b = \mathbb E_q[f]$, estimated from independent
# draws (so it stays a constant).

# %%
x1 = x[:1]
with torch.no_grad():
    mu1, logvar1 = model.encode(x1)  # q_phi(z | x1): [1, 20]
R_DEC = 2000  # repetitions, one sample each


def decoder_log_lik(z: torch.Tensor) -> torch.Tensor:
    """f(z) = log p(x1 | z) for a batch of codes z: [R, 20] -> [R]."""
    return bernoulli_log_prob(x1.expand(len(z), -1, -1, -1), model.decode(z))


torch.manual_seed(4)
mu_r = mu1.repeat(R_DEC, 1).requires_grad_()  # one copy of mu per repetition
logvar_r = logvar1.repeat(R_DEC, 1)
z = losses.reparameterize(mu_r, logvar_r)
f_z = decoder_log_lik(z)
f_z.sum().backward()  # pathwise: through the decoder
g_path = mu_r.grad.clone()
z, f_z = z.detach(), f_z.detach()


def score_function(b: float) -> torch.Tensor:
    """R one-sample score-function gradients (f(z) - b) d log q(z) / d mu, on the same z: [R, 20]."""
    mu_r.grad = None
    ((f_z - b) * gaussian_diag_log_prob(z, mu_r, logvar_r)).sum().backward()  # z is a constant here
    return mu_r.grad.clone()


with torch.no_grad():  # b = E_q[f], from R draws independent of the z above
    b_dec = decoder_log_lik(losses.reparameterize(mu1.expand(R_DEC, -1), logvar1.expand(R_DEC, -1))).mean().item()
g_score, g_base = score_function(0.0), score_function(b_dec)

boot = torch.randint(R_DEC, (200, R_DEC), generator=torch.Generator().manual_seed(0))  # bootstrap over repetitions


def variance_ratio(g: torch.Tensor, ref: torch.Tensor) -> tuple[float, float, float]:
    """Summed one-sample variance of g over that of ref, and its 95 % bootstrap interval."""
    ratios = torch.stack([g[i].var(0).sum() / ref[i].var(0).sum() for i in boot])
    return (g.var(0).sum() / ref.var(0).sum()).item(), ratios.quantile(0.025).item(), ratios.quantile(0.975).item()


v_path, v_score, v_base = (g.var(0).sum().item() for g in (g_path, g_score, g_base))
ratios = {"score function / pathwise": variance_ratio(g_score, g_path),
          "score function with baseline / pathwise": variance_ratio(g_base, g_path),
          "score function / with baseline": variance_ratio(g_score, g_base)}
print(f"f(z) = log p(x|z) of this image: mean {b_dec:.1f} nats, std over z {f_z.std():.1f} nats")
print(f"variance of a one-sample gradient, summed over 20 dimensions: pathwise {v_path:.4g}, "
      f"score function {v_score:.4g}, with baseline {v_base:.4g}")
for name, (r, lo, hi) in ratios.items():
    print(f"  {name:40} {r:8.1f}  [{lo:.1f}, {hi:.1f}]")
for name, g in (("score function", g_score), ("with baseline", g_base)):  # the pathwise estimator's mean?
    z_mean = (g_path.mean(0) - g.mean(0)) / ((g_path.var(0) + g.var(0)) / R_DEC).sqrt()
    print(f"{name}: mean gradient within {z_mean.abs().max():.1f} standard errors of the pathwise one")
    assert (z_mean.abs() < 4.5).all()  # unbiased: the same gradient on average
assert v_score / v_path > 10 * var_score / var_path  # a far larger gap than in the toy problem
with session.claims():
    assert ratios["score function / with baseline"][1] > 10  # the baseline removes most of the variance
    assert ratios["score function with baseline / pathwise"][1] > 1  # ... and the pathwise estimator still wins
    assert v_score / v_base > 10 * var_score / var_baseline  # the baseline matters far more than on E[z²]

# %% [markdown]
# All three agree on average. Without a baseline the score function's variance dwarfs the pathwise
# one: it multiplies a log-likelihood of many nats by a random score. Since $f$ varies over
# $z$ by only a few nats, the baseline removes most of that, but the ratio stays above 1 [1 run, one
# image, R = 2,000]: for this decoder the pathwise estimator wins, and VAEs use it (`VAE.forward`
# calls `reparameterize`).
#
# ## The importance-weighted bound
#
# Burda, Grosse & Salakhutdinov (2016) tighten the ELBO with $k$ samples $z_i \sim q_\phi(z \mid x)$
# and weights $w_i = p_\theta(x \mid z_i)\, p(z_i) / q_\phi(z_i \mid x)$, `vaelib.losses.iwae_bound(model, x, k)`:
#
# $$\mathcal L_k(x) = \mathbb E_{z_1, \dots, z_k \sim q_\phi}\Big[\log \frac1k \sum_{i=1}^k w_i\Big] \;\le\; \log p_\theta(x).$$
#
# Since $\mathbb E[w_i] = p_\theta(x)$, Jensen's inequality gives the bound **in expectation**; a single
# draw can land above $\log p_\theta(x)$. $\mathcal L_1$ is the ELBO, and $\mathcal L_k$ rises towards
# $\log p_\theta(x)$ with $k$: the series' log-likelihood estimate (via a log-sum-exp). On the first
# 100 test images:

# %%
x100 = x[:100]
torch.manual_seed(5)
iwae_table = pd.Series({k: losses.iwae_bound(model, x100, k).mean().item() for k in (1, 10, 100)},
                       name="mean L_k, nats per image")
iwae_table.index.name = "k"
print(iwae_table.round(2).to_string())
assert iwae_table.is_monotonic_increasing

# %% [markdown]
# On the linear-Gaussian model, where $\log p(x)$ is exact, with the best diagonal $q$ as proposal:

# %%
def linear_gaussian_log_w(k: int, draws: int, gen: torch.Generator, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log (1/k) Σ w_i for `draws` independent sets of k samples from the diagonal q = N(mu, exp(logvar)), [draws]."""
    z = mu + (0.5 * logvar).exp() * torch.randn(draws, k, D_Z, generator=gen, dtype=torch.float64)
    lik = torch.distributions.Normal(z @ W.T + b_lin, S_NOISE).log_prob(x_lin).sum(-1)
    prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    log_q = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    return torch.logsumexp(lik + prior - log_q, dim=1) - math.log(k)


gen = torch.Generator().manual_seed(1)
rows = []
for k_lin in (1, 10, 100, 1000):
    draws = linear_gaussian_log_w(k_lin, 4000, gen, *best_diag)
    rows.append({"k": k_lin, "mean of L_k draws - log p(x)": (draws.mean() - log_px).item(),
                 "SE": (draws.std() / math.sqrt(len(draws))).item(),
                 "draws above log p(x)": (draws > log_px).double().mean().item()})
crossing = pd.DataFrame(rows).set_index("k")
print(f"{len(draws)} independent draws per k\n" + crossing.round(4).to_string())
below = crossing["mean of L_k draws - log p(x)"] + 2 * crossing["SE"]
assert (below.loc[[1, 10, 100]] < 0).all()  # below log p(x), by more than 2 SE, up to k = 100
assert (crossing["mean of L_k draws - log p(x)"] < 2 * crossing["SE"]).all()  # never above it
assert crossing["mean of L_k draws - log p(x)"].is_monotonic_increasing  # tighter with k
assert abs(crossing.loc[1000, "mean of L_k draws - log p(x)"]) < crossing.loc[1000, "SE"]  # k = 1000: gap < SE
assert (crossing["draws above log p(x)"] > 0.05).all()  # yet single draws exceed log p(x) ...
assert crossing["draws above log p(x)"].is_monotonic_increasing  # ... more of them as k grows

# %% [markdown]
# Up to $k = 100$ the mean lies below $\log p(x)$ by more than two standard errors, closer with each
# $k$; at $k = 1000$ the remaining gap is below the standard error of 4,000 draws. Yet a growing share
# of single draws lands above $\log p(x)$ [exact model]. So $\mathcal L_k$ is reported averaged over
# many images, with its $k$ (`vaelib.metrics.iwae_nll`).
#
# **Exercise (`iwae_bound`).** Write it, without the chunks. On average yours must agree with vaelib's
# within four standard errors of their difference (the two may draw different $z$'s).

# %% tags=["exercise"]
import math

import torch

from vaelib.losses import gaussian_diag_log_prob


def iwae_bound(model, x: torch.Tensor, k: int) -> torch.Tensor:
    """L_k = log (1/k) sum_i p(x, z_i) / q(z_i | x), z_i ~ q(z | x), per example. x: [B, ...] -> [B] nats.

    model.encode(x) -> (mu, logvar), each [B, D]; model.decode(z) for z: [N, D]; model.log_likelihood(x, params)
    and model.log_prior(z) -> [N]. Draw k samples per example and pass them to the model as one batch of k * B.
    """
    # HINT: log w = log p(x|z) + log p(z) - log q(z|x) for k samples per example ([k, B]); combine with torch.logsumexp
    # BEGIN SOLUTION
    q_mean, q_logvar = model.encode(x)
    n = x.shape[0]
    eps = torch.randn(k, *q_mean.shape, dtype=q_mean.dtype, device=q_mean.device)
    zs = q_mean + torch.exp(0.5 * q_logvar) * eps  # [k, B, D]
    flat = zs.reshape(k * n, -1)
    x_repeated = x.unsqueeze(0).expand(k, *x.shape).reshape(k * n, *x.shape[1:])
    log_joint = model.log_likelihood(x_repeated, model.decode(flat)) + model.log_prior(flat)
    log_w = log_joint.reshape(k, n) - gaussian_diag_log_prob(zs, q_mean, q_logvar)
    return torch.logsumexp(log_w, dim=0) - math.log(k)
    # END SOLUTION

# %%
from vaecourse.assignments import exercise_check

with exercise_check("iwae_bound"):
    for k_check in (1, 10, 100):
        torch.manual_seed(5)
        with torch.no_grad():
            yours = iwae_bound(model, x100, k_check)
        torch.manual_seed(5)
        ref = losses.iwae_bound(model, x100, k_check)
        assert yours.shape == (len(x100),), f"one value per image: shape [B] expected, got {list(yours.shape)}"
        se_diff = (yours - ref).std() / math.sqrt(len(x100))
        print(f"k = {k_check:>3}: mean L_k yours {yours.mean():.2f}, vaelib's {ref.mean():.2f} nats per image")
        assert (yours - ref).mean().abs() <= 4 * se_diff + 1e-3

# %% [markdown]
# ## Summary

# %%
summary = pd.Series(
    {
        "linear-Gaussian: ELBO gap of the best diagonal q (nats)": f"{gap_best:.4f}",
        "toy E[z²], one-sample gradient variance: pathwise / score function / with baseline E[f]":
            f"{var_path:.0f} / {var_score:.0f} / {var_baseline:.0f}",
        "toy cos 5z: pathwise / score function": f"{var_path_cos:.3g} / {var_score_cos:.3g}",
        "trained decoder: pathwise / score function / with baseline": f"{v_path:.4g} / {v_score:.4g} / {v_base:.4g}",
        "trained decoder: score function / pathwise, without and with baseline":
            f"{v_score / v_path:.0f} / {v_base / v_path:.1f}",
        "closed-form KL vs 100,000-sample MC (in SE)": f"{kl_table['(MC - exact) / SE'].iloc[-1]:+.2f}",
        "model": f"{run.name}, {len(run.history)} epoch(s)",
        "batch ELBO = reconstruction - KL (one draw, nats/image)": f"{per_image['ELBO'].mean():.2f} = "
        f"{per_image['reconstruction'].mean():.2f} - {per_image['KL'].mean():.2f}",
        "decoding at z = mu overstates it by (nats/image)": f"{(at_mean - elbo_mc).mean():.2f}",
        "IWAE bound L_1 / L_10 / L_100 (first 100 images, nats/image)": " / ".join(
            f"{v:.2f}" for v in iwae_table),
    }
)
print(summary.to_string())
session.report_run_time()

# %% [markdown]
# * $p_\theta(x)$ is intractable; with an encoder $q_\phi$,
#   $\log p_\theta(x) = \mathrm{ELBO} + \mathrm{KL}(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x))$ [exact]. The best
#   diagonal $q$ leaves a gap and underestimates the posterior variances [exact].
# * $z = \mu + \sigma\varepsilon$ (`reparameterize`) moves $\nabla_\phi$ inside the expectation.
# * On $\mathbb E[z^2]$ the pathwise estimator has the lower variance, even against the best constant
#   baseline [exact]; on $\cos 5z$ the score function has [10⁶ samples].
# * On the trained decoder the baseline $\mathbb E[f]$ removes most of the score function's variance,
#   and the pathwise estimator still wins (the two ratios above) [1 run, R = 2,000].
# * The ELBO by hand equals `model(x)` [exact]; decoding at $z = \mu$ overstates it [1 run].
# * $\mathcal L_k$ (`iwae_bound`) rises with $k$ [1 run, 100 images]; it bounds $\log p(x)$ in
#   expectation, while single draws can exceed it [exact model].

# %% [markdown] tags=["question"]
# **Question.** To estimate the gradient on the trained decoder as precisely as *one* pathwise sample
# does, about how many samples would the score-function estimator need per image, without and with the
# baseline $\mathbb E[f]$? Which printed numbers tell you, and why does the baseline help far more on the
# decoder than on the toy problem $\mathbb E[z^2]$?

# %% [markdown] tags=["answer"]
# **Answer.**
# An average of $n$ one-sample estimates has $1/n$ of their variance (the toy problem's $1/n$ law), so
# the score function needs $n$ equal to the ratio of one-sample variances printed by the decoder cell:
# "score function / pathwise" without a baseline, the far smaller "with baseline / pathwise" with
# $b = \mathbb E[f]$, still above one. On $\mathbb E[z^2]$ the baseline removes only part of the variance
# (first table): $f = z^2$ is never large beside its own variation. On the decoder $f$ is many nats
# that vary over $z$ by only a few, and the baseline takes away the large constant part the score
# multiplied. What remains comes from $f$ varying with $z$, which the pathwise estimator follows
# through the decoder's gradient.

# %% [markdown]
# ## References
#
# - Bishop, C. M. (2006). *Pattern Recognition and Machine Learning*, §10.1. Springer.
# - Burda, Y., Grosse, R. & Salakhutdinov, R. (2016). Importance weighted autoencoders. *ICLR*.
# - Higgins, I. et al. (2017). β-VAE: learning basic visual concepts with a constrained variational framework. *ICLR*.
# - Kingma, D. P. & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR*.
# - Mohamed, S., Rosca, M., Figurnov, M. & Mnih, A. (2020). Monte Carlo gradient estimation in machine
#   learning. *JMLR* 21(132).
# - Rezende, D. J., Mohamed, S. & Wierstra, D. (2014). Stochastic backpropagation and approximate
#   inference in deep generative models. *ICML*.
# - Williams, R. J. (1992). Simple statistical gradient-following algorithms for connectionist
#   reinforcement learning. *Machine Learning* 8.
#
# **Next:** [03 · Bernoulli vs Gaussian](03_bernoulli_vs_gaussian.ipynb): what the likelihood does to a
# VAE, with two likelihoods on one network and each model scored on the data it models.

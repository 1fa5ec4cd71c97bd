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
# **What this notebook teaches.** A VAE's encoder does not output a code $z$ but a distribution
# over codes, $q(z \mid x) = \mathcal N(\mu, \operatorname{diag}\sigma^2)$, and training needs the
# gradient of an *expectation* over $z$ with respect to $\mu$ and $\sigma$. We write a sample as
# $z = \mu + \sigma \varepsilon$ (the reparameterization trick), compare the two classic gradient
# estimators (score function and pathwise) on a problem whose answer is known in closed form and
# measure their variance, check the closed-form KL divergence against a Monte-Carlo estimate,
# and assemble the evidence lower bound (ELBO) of a trained model term by term, each term
# computed by the `vaelib` function that the training loop uses. Finally the two gradient
# estimators meet again, on the trained decoder, and the ELBO is tightened into the
# importance-weighted bound.
#
# **Exercises.** You write `reparameterize`, `kl_std_normal`, `elbo` (with β) and `iwae_bound`
# yourself, in the cells marked *Exercise*; the cell after each one checks yours against vaelib's.
# The rest of the notebook calls vaelib's own versions (`losses.reparameterize`, ...), so it runs
# whether or not you have solved them. One open question asks you to read the notebook's numbers.
#
# **Prerequisites.** [01 · MNIST as tensors](01_data.ipynb) (the targets, and why grey-target
# "BCE" is not a log-probability). Expectations, gradients, a little autograd.
#
# **Run time.** Most of a first run trains a small VAE for two epochs (cached afterwards).
# How long it takes on this project's 2-core CPU, from an empty cache and from the
# `checkpoints/` cache, is in the README's run-time table (written by `make run`, never typed);
# the last cell prints this run's own time. On a GPU: not measured yet.

# %% [markdown]
# ## Setup

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

session = setup()

# %% [markdown]
# ## Sampling $z = \mu + \sigma \varepsilon$
#
# The encoder outputs $\mu$ and $\log \sigma^2$ (a log-variance is unconstrained, so a linear
# layer can produce it). A sample from $\mathcal N(\mu, \sigma^2)$ is
#
# $$z = \mu + \sigma \odot \varepsilon, \qquad \sigma = \exp(\tfrac12 \log \sigma^2), \qquad \varepsilon \sim \mathcal N(0, I)$$
#
# which is `vaelib.losses.reparameterize(mu, logvar)`. All the randomness sits in $\varepsilon$,
# which does not depend on the parameters, so $z$ is a differentiable function of $\mu$ and
# $\sigma$.
#
# **Exercise (`reparameterize`).** Write it: one line of maths. The check below it compares
# your function with vaelib's: from the same random seed both must return the same $z$, and the
# gradient must reach $\mu$ and $\log\sigma^2$.

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
# From here on the notebook uses vaelib's version. First, a check that the samples have the
# mean and spread we asked for.

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
# The sample means are within a few standard errors of $\mu$ and the spreads match $\sigma$.
# Now the point of the trick: gradients reach $\mu$ and $\log\sigma^2$ through the sample.
# By the chain rule $\partial z / \partial \mu = 1$ and
# $\partial z / \partial \log\sigma^2 = \tfrac12 \sigma \varepsilon = \tfrac12 (z - \mu)$.

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
# ## Two gradient estimators of the same objective
#
# Take an objective whose gradient we know exactly:
#
# $$J(\mu) = \mathbb E_{z \sim \mathcal N(\mu, \sigma^2)}\big[f(z)\big], \quad f(z) = z^2
# \qquad\Rightarrow\qquad J(\mu) = \mu^2 + \sigma^2, \quad \frac{dJ}{d\mu} = 2\mu.$$
#
# There are two ways to estimate $dJ/d\mu$ from $n$ samples.
#
# * **Score function** (REINFORCE, the likelihood-ratio trick): differentiate the density, not
#   the sample,
#   $\frac{d}{d\mu}\mathbb E[f(z)] = \mathbb E\big[f(z)\, \frac{\partial}{\partial\mu} \log \mathcal N(z; \mu, \sigma^2)\big]
#   = \mathbb E\big[f(z)\, (z - \mu)/\sigma^2\big]$.
#   It needs only $\log q$ (here `vaelib.losses.gaussian_diag_log_prob`) and works for any $f$,
#   even a non-differentiable one. In code: sample $z$ *without* gradient, and let autograd
#   differentiate the surrogate $f(z) \log q(z)$.
# * **Pathwise** (reparameterization): write $z = \mu + \sigma\varepsilon$ (`reparameterize`)
#   and differentiate through the sample, $\frac{d}{d\mu}\mathbb E[f(\mu + \sigma\varepsilon)] = \mathbb E[f'(z)] = \mathbb E[2z]$.
#   It needs $f$ to be differentiable, which a decoder is.
#
# Both are unbiased; they differ in variance. For a single sample both estimators are
# polynomials in $\varepsilon$, so their exact variance follows from the Gaussian moments
# $\mathbb E[\varepsilon^k] = (k-1)!!$ for even $k$ (0 for odd $k$). The cell below computes it
# for $\mu = \sigma = 1$; it also includes the score function with a constant baseline $b$
# subtracted from $f$ (the usual variance-reduction trick; any constant keeps the estimator
# unbiased, because $\mathbb E[s] = 0$ for the score $s = (z - \mu)/\sigma^2$). Two baselines:
# the common choice $b = \mathbb E[f]$, and the one that minimises the variance. The variance
# $\mathbb E[(f - b)^2 s^2] - (dJ/d\mu)^2$ is a parabola in $b$ with its minimum at
# $b^\ast = \mathbb E[f s^2] / \mathbb E[s^2]$, which is not $\mathbb E[f]$ unless $f$ and $s^2$ are
# uncorrelated. Both need expectations we would not know in practice, so they are ideal cases.

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
# All four have mean $2\mu$, the true gradient. Per sample, the pathwise estimator's variance is
# $\operatorname{Var}[2z] = 4\sigma^2$, while the score function's is several times larger. The
# baseline $\mathbb E[f]$ removes part of the excess, the variance-minimising $b^\ast$ (printed
# above, twice $\mathbb E[f]$ here) a little more, and even it stays above the pathwise estimator:
# no constant can remove the part of the variance that comes from $f$ varying with $z$. With $n$ samples each variance shrinks as
# $1/n$; the constant in front is what differs.
#
# Let's measure that. For each $n$ we repeat the estimate $R$ times with autograd, exactly as a
# training step would compute it, and take the variance over the repetitions. (A trick to get all
# $R$ gradients from one `backward()`: give each repetition its own copy of $\mu$.)

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
# Both estimators are unbiased (their means sit within a few standard errors of the true
# gradient), both variances fall as $1/n$ (parallel lines of slope −1 on the log-log plot), and
# the measured points lie on the closed-form lines. At every $n$ the pathwise estimator's
# variance is lower by the constant factor of the table above: to match it with the score
# function one would need that many times more samples. In a VAE, $f$ is the decoder's
# log-likelihood of a whole image, and the last section of this notebook measures the gap there.
# VAEs are trained with the pathwise estimator: `VAE.forward` calls `reparameterize`.
#
# ## KL divergence: closed form against Monte Carlo
#
# The second term of the ELBO is $\mathrm{KL}(q(z \mid x) \,\|\, p(z))$ with the prior
# $p(z) = \mathcal N(0, I)$. For a diagonal Gaussian $q$ it has a closed form
# (Kingma & Welling 2014, Appendix B), `vaelib.losses.kl_std_normal`:
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
# The KL is also an expectation, $\mathbb E_q[\log q(z) - \log p(z)]$, which we can estimate by
# sampling: $\log q$ is `gaussian_diag_log_prob`, $\log p$ is `std_normal_log_prob`. The two must
# agree to within the Monte-Carlo standard error, and `torch.distributions` gives an independent
# reference.

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
# The closed form and `torch.distributions` agree to the printed digits, and every Monte-Carlo
# estimate lies within a few standard errors of them, the standard error shrinking by about
# $\sqrt{10}$ with each tenfold increase in samples. The closed form is exact and free, so vaelib
# uses it whenever $q$ and $p$ are Gaussians; a sampled KL is needed only where no closed form
# exists (other priors, the importance-weighted bound of a later notebook).
#
# ## Where the ELBO comes from, and what it misses
#
# A VAE's likelihood $p(x) = \int p(x \mid z)\, p(z)\, dz$ has no closed form: the decoder is a
# neural network. Any density $q(z \mid x)$ that is positive wherever the posterior is turns the
# integral into an expectation, and Jensen's inequality ($\log \mathbb E[Y] \ge \mathbb E[\log Y]$,
# $\log$ being concave) bounds its logarithm:
#
# $$\log p(x) = \log \mathbb E_{q(z\mid x)}\Big[\frac{p(x \mid z)\, p(z)}{q(z \mid x)}\Big]
#   \;\ge\; \mathbb E_{q(z\mid x)}\Big[\log \frac{p(x \mid z)\, p(z)}{q(z \mid x)}\Big]
#   = \mathbb E_q\big[\log p(x \mid z)\big] - \mathrm{KL}\big(q(z \mid x) \,\|\, p(z)\big) = \mathrm{ELBO}(x).$$
#
# How much does it miss? Write $p(x, z) = p(z \mid x)\, p(x)$ inside the expectation:
#
# $$\mathrm{ELBO}(x) = \mathbb E_q\Big[\log \frac{p(z \mid x)\, p(x)}{q(z \mid x)}\Big]
#   = \log p(x) - \mathrm{KL}\big(q(z \mid x) \,\|\, p(z \mid x)\big),
#   \qquad\text{so}\qquad \log p(x) = \mathrm{ELBO}(x) + \mathrm{KL}\big(q(z \mid x) \,\|\, p(z \mid x)\big).$$
#
# The gap is exactly the KL divergence from $q$ to the **true posterior**: zero when the encoder
# finds $p(z \mid x)$, positive otherwise. Maximising the ELBO over the encoder therefore pulls
# $q$ towards the posterior, and over the decoder raises $\log p(x)$ (or shrinks the gap: the
# objective cannot tell which). Notebook 06 measures the gap of trained models and splits it.
#
# A VAE's posterior is intractable, so the identity cannot be checked on it directly. A
# **linear-Gaussian** model has everything in closed form: $p(z) = \mathcal N(0, I)$,
# $p(x \mid z) = \mathcal N(Wz + b, s^2 I)$ gives $p(x) = \mathcal N(b, WW^\top + s^2 I)$ and a
# Gaussian posterior with covariance $S = (I + W^\top W / s^2)^{-1}$ and mean
# $S W^\top (x - b)/s^2$. The cell below takes a deliberately wrong diagonal $q$, computes the
# ELBO in closed form, and checks both sides of the identity to float64 precision.

# %%
gen = torch.Generator().manual_seed(0)
D_Z, D_X, S_NOISE = 3, 6, 0.5
W = torch.randn(D_X, D_Z, generator=gen, dtype=torch.float64)
b_lin = torch.randn(D_X, generator=gen, dtype=torch.float64)
x_lin = torch.randn(D_X, generator=gen, dtype=torch.float64)
marginal = torch.distributions.MultivariateNormal(b_lin, W @ W.T + S_NOISE**2 * torch.eye(D_X, dtype=torch.float64))
post_cov = torch.linalg.inv(torch.eye(D_Z, dtype=torch.float64) + W.T @ W / S_NOISE**2)
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
# the best diagonal q is as close as a diagonal Gaussian gets; only a full-covariance q closes the gap
best_diag = (posterior.mean, -torch.log(torch.diagonal(torch.linalg.inv(post_cov))))  # q's precision = posterior's diagonal
print(f"best diagonal q: gap {log_px - linear_gaussian_elbo(*best_diag).item():.4f} nats; "
      f"posterior correlation |ρ| up to {(post_cov / post_cov.diagonal().sqrt().outer(post_cov.diagonal().sqrt())).abs().fill_diagonal_(0).max():.2f}")
assert 0 < log_px - linear_gaussian_elbo(*best_diag).item() < log_px - bound

# %% [markdown]
# The identity holds to rounding: the ELBO plus the KL divergence to the posterior is
# $\log p(x)$. Even the best *diagonal* $q$ leaves a gap here, because this posterior's
# dimensions are correlated and a diagonal Gaussian cannot express that: the price of the
# mean-field encoder every VAE of this series uses.
#
# ## The ELBO of a real model, term by term
#
# For an image $x$,
#
# $$\log p(x) \;\ge\; \mathrm{ELBO}(x) = \underbrace{\mathbb E_{q(z \mid x)}\big[\log p(x \mid z)\big]}_{\text{reconstruction}} - \underbrace{\mathrm{KL}\big(q(z \mid x) \,\|\, p(z)\big)}_{\text{KL}}$$
#
# `vaelib.losses.elbo(log_px_given_z, kl)` combines the two terms; the reconstruction term is
# `bernoulli_log_prob(x, logits)` at one sampled $z$ (`reparameterize`), and the KL term is
# `kl_std_normal(mu, logvar)`. Everything is per image, in nats: summed over pixels and latent
# dimensions, never averaged. The training loss is minus the ELBO, averaged over the batch.
#
# A β-VAE (Higgins et al. 2017) weights the KL term by β in the training loss,
# $-(\text{reconstruction} - \beta\,\mathrm{KL})$. The ELBO, the bound on $\log p(x)$, stays
# reconstruction − KL whatever β the model was trained with, so `elbo(log_px_given_z, kl, beta)`
# returns both, as a `vaelib.losses.ELBOTerms`.
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
# We need a model. The `pytorch-example` preset is the VAE of pytorch/examples: a 784-400-20
# encoder, a mirrored decoder with Bernoulli logits, trained like the original on all 60,000
# training images (no validation split) and on **grey** targets, so its reconstruction term is
# the "grey BCE" of notebook 01, not a log-probability. Two epochs are enough to show the terms:
# the run `pytorch-example-2-epochs` of the registry (`vaelib.runs`). `session.run` trains it once
# and loads it from the cache afterwards; in test mode the registry makes it one epoch on a small
# subset. The history reports losses, minus the terms, per image: `train_recon` is
# $-\mathbb E_q[\log p(x \mid z)]$ and `train_kl` the KL, averaged over the epoch (the preset
# keeps no validation split, so there is no validation loss: a `nan` in the training log).

# %%
run = session.run("pytorch-example-2-epochs")
model = run.model.eval().requires_grad_(False)  # we only evaluate it; gradients w.r.t. z still flow
run.history[["epoch", "train_loss", "train_recon", "train_kl"]].round(2)

# %% [markdown]
# Now the same terms by hand on a batch of test images: encode, sample, decode, score. With the
# same random seed, `model(x)` (`VAE.forward`, what the trainer calls) must give exactly the same
# terms.

# %%
splits = load_mnist(subset=session.subset)
x = to_unit(splits.test.images[:500])  # grey targets, as the model was trained

torch.manual_seed(1)
with torch.no_grad():
    mu, logvar = model.encode(x)  # q(z|x): [B, 20] each
    z = losses.reparameterize(mu, logvar)  # one sample per image
    logits = model.decode(z)  # [B, 1, 28, 28]
    reconstruction = bernoulli_log_prob(x, logits)  # log p(x|z), [B] nats
    kl = losses.kl_std_normal(mu, logvar)  # [B] nats
    terms = losses.elbo(reconstruction, kl)  # ELBO = reconstruction - KL

torch.manual_seed(1)
with torch.no_grad():
    by_model = model(x)  # what training computes

entropy = -(torch.xlogy(x, x) + torch.xlogy(1 - x, 1 - x)).sum(dim=(1, 2, 3))  # the floor of notebook 01
per_image = pd.DataFrame(
    {"reconstruction": terms.reconstruction, "KL": terms.kl, "ELBO": terms.elbo, "-H(x)": -entropy}
).astype("float64")
print(f"batch of {len(x)} test images, nats per image (mean):")
print(per_image.mean().round(2).to_string())

assert torch.equal(by_model.elbo, terms.elbo) and torch.equal(by_model.kl, terms.kl)
assert torch.allclose(terms.elbo, terms.reconstruction - terms.kl)
assert (terms.kl >= 0).all()
assert (terms.reconstruction <= -entropy + 1e-3).all()  # grey BCE never beats the entropy floor
per_image.head().round(2)

# %% [markdown]
# Three things to read in these numbers:
#
# * the hand-made terms and `model(x)` agree exactly (asserted), so the loss the trainer minimises
#   is the ELBO assembled from `reparameterize`, `bernoulli_log_prob`, `kl_std_normal` and
#   `elbo`;
# * the KL term is positive for every image: encoding an image costs nats, the price of a code
#   that carries information about it;
# * the reconstruction term is below $-H(x)$ for every image (asserted): on grey targets a
#   Bernoulli decoder cannot reach 0, as notebook 01 showed, so part of the "reconstruction
#   loss" is irreducible.
#
# ### One sample of $z$ is a noisy estimate; the mean of $q$ is not the ELBO
#
# The reconstruction term is an expectation over $q(z \mid x)$, estimated with one sample. Two
# things follow: the estimate changes with the draw of $\varepsilon$, and decoding at $z = \mu$
# instead of a sample gives a different number, which is *not* the ELBO.

# %%
torch.manual_seed(2)
with torch.no_grad():
    draws = torch.stack([model(x).elbo for _ in range(100)])  # [100 draws, B]
    at_mean = bernoulli_log_prob(x, model.decode(mu)) - kl  # "ELBO" with z = mu: not a bound
elbo_mc = draws.mean(0)  # a 100-sample estimate of each image's ELBO
se_mc = draws.std(0) / math.sqrt(len(draws))  # its standard error, per image
gap = at_mean - elbo_mc
print(f"ELBO, 100-sample average over the batch: {elbo_mc.mean():.2f} nats per image")
print(f"one-sample ELBO of an image fluctuates with std {draws.std(0).mean():.2f} nats (average over images)")
print(f"the batch mean of one-sample ELBOs fluctuates with std {draws.mean(1).std():.2f} nats")
print(f"decoding at z = mu instead gives {at_mean.mean():.2f} nats per image, {gap.mean():+.2f} "
      f"away from the ELBO ({(gap.abs() / se_mc).median():.0f} standard errors for the median image), "
      f"higher for {(gap > 0).float().mean():.0%} of the images")
assert draws.mean(1).std() < draws.std(0).mean()  # averaging over a batch tames the noise
assert (gap.abs() / se_mc).median() > 4  # z = mu gives another number, not a noisy ELBO
with session.claims():  # for the trained model; test mode's one-epoch model is too crude to say
    assert gap.mean() > 0 and (gap > 0).float().mean() > 0.5  # z = mu flatters the model

# %% [markdown]
# A single draw of $z$ moves one image's ELBO by a few nats, but the batch average is much
# steadier, which is why one sample per image is enough for training. Decoding at the mean
# $z = \mu$ gives a number far outside that noise, *higher* for the share of images printed
# above: it skips the spread of $q$ that the decoder must cope with, and it is not a lower bound
# on anything. Reported ELBOs in this series always
# sample $z$ (`vaelib.metrics` does the same), and the log-likelihood estimate comes from the
# importance-weighted bound with $k$ samples, in a later notebook.
#
# What the decoder makes of a sampled $z$ versus $z = \mu$, for ten test digits:

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
# ## The two gradient estimators on a real decoder
#
# Back to the first half of the notebook, now with the objective a VAE actually differentiates:
# for one test image, $J(\mu) = \mathbb E_{z \sim q}[\log p(x \mid z)]$, with the trained
# decoder inside `bernoulli_log_prob`. There is no closed form, but both estimators must agree on
# average, and their variances can be compared directly. Each of the 20 latent dimensions has its
# own gradient component; we sum the variances over them, for one sample per estimate.

# %%
x1 = x[:1]
with torch.no_grad():
    mu1, logvar1 = model.encode(x1)  # [1, 20]
R_DEC = 2000  # repetitions, one sample each


def decoder_log_lik(z: torch.Tensor) -> torch.Tensor:
    """f(z) = log p(x1 | z) for a batch of codes z: [R, 20] -> [R]."""
    return bernoulli_log_prob(x1.expand(len(z), -1, -1, -1), model.decode(z))


torch.manual_seed(4)
mu_r = mu1.repeat(R_DEC, 1).requires_grad_()  # one copy of mu per repetition
logvar_r = logvar1.repeat(R_DEC, 1)
z = losses.reparameterize(mu_r, logvar_r)
decoder_log_lik(z).sum().backward()  # pathwise: through the decoder
g_path, mu_r.grad = mu_r.grad.clone(), None
z = z.detach()
(decoder_log_lik(z) * gaussian_diag_log_prob(z, mu_r, logvar_r)).sum().backward()  # score function
g_score = mu_r.grad.clone()

v_path, v_score = g_path.var(0).sum().item(), g_score.var(0).sum().item()
z_mean = (g_path.mean(0) - g_score.mean(0)) / ((g_path.var(0) + g_score.var(0)) / R_DEC).sqrt()
print(f"variance of a one-sample gradient, summed over 20 dimensions: "
      f"pathwise {v_path:.1f}, score function {v_score:.3g} ({v_score / v_path:.0f} times larger)")
print(f"the two mean gradients differ by at most {z_mean.abs().max():.1f} standard errors in any dimension")
assert (z_mean.abs() < 4.5).all()  # both unbiased: the same gradient on average
assert v_score / v_path > 10 * var_score / var_path  # a far larger gap than in the toy problem

# %% [markdown]
# On the real decoder both estimators still agree on average, but the score function's variance
# is larger by the printed factor, far beyond the toy problem's: $f$ is now a log-likelihood of
# many nats, and the score function multiplies it by a random score, while the pathwise
# estimator uses the decoder's own gradient. Matching the pathwise estimator with the score
# function would take that many times more samples per training step.

# %% [markdown] tags=["question"]
# **Question.** To estimate the gradient on the trained decoder as precisely as *one* pathwise
# sample does, about how many samples would the score-function estimator need per image, and
# which numbers printed above tell you? Would the same reasoning give a small or a large number
# on the toy problem $\mathbb E[z^2]$?

# %% [markdown] tags=["answer"]
# **Answer.**
# The variance of an average of $n$ independent one-sample estimates is the one-sample variance
# divided by $n$; both estimators follow this $1/n$ law (the measured table and log-log plot of
# the toy problem show it). So the score-function estimator matches one pathwise sample when $n$
# equals the ratio of their one-sample variances: the factor printed by the last code cell
# ("... times larger"), i.e. that many decoder passes per image per training step instead of one.
# On the toy problem the same ratio is the first table's score-function variance over the
# pathwise one, far smaller; the cell above asserts the decoder's ratio is more than ten times the
# toy one. The score function multiplies a log-likelihood of many nats by a random score, so its
# variance grows with the size of $f$, while the pathwise estimator uses the decoder's gradient.

# %% [markdown]
# ## Going further: the importance-weighted bound
#
# The ELBO is loose wherever $q(z \mid x)$ differs from the true posterior. Burda, Grosse &
# Salakhutdinov (2016) tighten it with $k$ samples $z_1, \dots, z_k \sim q(z \mid x)$ and their
# importance weights $w_i = p(x \mid z_i)\, p(z_i) / q(z_i \mid x)$:
#
# $$\mathcal L_k(x) = \mathbb E_{z_1, \dots, z_k \sim q}\Big[\log \frac1k \sum_{i=1}^k w_i\Big] \;\le\; \log p(x).$$
#
# The inequality is Jensen's again, and it holds **in expectation**: $\mathbb E[w_i] = p(x)$, so the
# average weight is an unbiased estimate of $p(x)$ and its logarithm is biased low on average,
# but one draw of $\log \frac1k \sum_i w_i$ can land above $\log p(x)$. $\mathcal L_1$ is the ELBO,
# and $\mathcal L_k$ rises towards $\log p(x)$ as $k$ grows, which makes it the series'
# log-likelihood estimate (an average over images and draws, whose mean is the bound). `vaelib.losses.iwae_bound(model, x, k)` computes
# it with a log-sum-exp (the weights themselves under- or overflow), in chunks so that $k = 5000$
# fits in memory. The model provides `encode` ($\mu$, $\log\sigma^2$ of $q$), `decode`,
# `log_likelihood` ($\log p(x \mid z)$ from the decoder's output) and `log_prior` ($\log p(z)$).
# On the trained model and the first 100 test images:

# %%
x100 = x[:100]
torch.manual_seed(5)
iwae_table = pd.Series({k: losses.iwae_bound(model, x100, k).mean().item() for k in (1, 10, 100)},
                       name="mean L_k, nats per image")
iwae_table.index.name = "k"
print(iwae_table.round(2).to_string())
assert iwae_table.is_monotonic_increasing

# %% [markdown]
# On the linear-Gaussian model above, where $\log p(x)$ is exact, the two statements can be seen
# apart. With the best diagonal $q$ as the proposal, the mean over many draws stays below
# $\log p(x)$, while single draws cross it.

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
    draws = linear_gaussian_log_w(k_lin, 4000, gen, *best_diag)  # the best diagonal q: an ELBO gap of 0.11 nats
    rows.append({"k": k_lin, "mean of L_k draws - log p(x)": (draws.mean() - log_px).item(),
                 "SE": (draws.std() / math.sqrt(len(draws))).item(),
                 "draws above log p(x)": (draws > log_px).double().mean().item()})
crossing = pd.DataFrame(rows).set_index("k")
print(f"{len(draws)} independent draws per k\n" + crossing.round(4).to_string())
assert (crossing["mean of L_k draws - log p(x)"] < 3 * crossing["SE"]).all()  # below log p(x) on average
assert crossing["mean of L_k draws - log p(x)"].is_monotonic_increasing  # tighter with k
assert (crossing["draws above log p(x)"] > 0.05).all()  # yet single draws exceed log p(x)

# %% [markdown]
# Every mean sits below $\log p(x)$ (within its standard error) and rises with $k$, while a
# growing share of single draws lands above it (last column): with many samples the estimate
# scatters around a value just below $\log p(x)$. That is why the series reports
# $\mathcal L_k$ averaged over many test images, never a single image's draw.
#
# Back on the VAE: the bound rises with $k$, and the ELBO ($k = 1$) understates $\log p(x)$ by at
# least the gap to $\mathcal L_{100}$ printed above. Evaluation notebooks report $\mathcal L_k$ with a large $k$
# (`vaelib.metrics.iwae_nll`) and say which $k$.
#
# **Exercise (`iwae_bound`).** Write it, without the chunks. The check below compares your
# $\mathcal L_k$ with vaelib's on the same images: on average they must agree to within four
# standard errors of their difference (the two functions may draw different $z$'s).

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
        "gradient variance, pathwise / score function (one sample)": f"{var_path:.0f} / {var_score:.0f}",
        "the same on the trained decoder": f"{v_path:.3g} / {v_score:.3g}",
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
# * $z = \mu + \sigma\varepsilon$ (`reparameterize`) turns sampling into a differentiable
#   function of the encoder's outputs.
# * On $\frac{d}{d\mu}\mathbb E[z^2]$ both gradient estimators are unbiased and their variance
#   falls as $1/n$, but the pathwise estimator's is lower at every $n$, by the factor of the
#   first summary line; on a trained decoder the factor is far larger (second line). That is why
#   VAEs use the pathwise estimator.
#   A constant baseline lowers the score function's variance, least at $b = \mathbb E[f]$ of the
#   two, most at $b^\ast = \mathbb E[f s^2]/\mathbb E[s^2]$, and never to the pathwise level.
# * The closed-form KL (`kl_std_normal`) agrees with its Monte-Carlo estimate within the standard
#   error and with `torch.distributions`; it is exact and free, so it is what the loss uses.
# * The ELBO of a trained model, assembled by hand from `bernoulli_log_prob`, `kl_std_normal`
#   and `elbo`, is exactly what `model(x)` returns. One sample of $z$ is noisy per image but
#   steady over a batch, and decoding at $z = \mu$ overstates the bound.
# * Jensen's inequality gives the ELBO, and $\log p(x) = \mathrm{ELBO}(x) + \mathrm{KL}(q(z \mid x) \,\|\, p(z \mid x))$:
#   the gap is the divergence from the encoder to the true posterior (checked exactly on a
#   linear-Gaussian model, where even the best diagonal $q$ leaves a gap).
# * The importance-weighted bound $\mathcal L_k$ (`iwae_bound`) starts at the ELBO for $k = 1$ and
#   rises with $k$ (last summary line). It bounds $\log p(x)$ in expectation; a single draw can
#   exceed it, so it is reported as an average over many images.
#
# Next: [03 · Bernoulli vs Gaussian](03_bernoulli_vs_gaussian.ipynb): what the likelihood does to a
# VAE, with two likelihoods on one network, a σ sweep, and each model scored on the data it models.

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
# # 06 · Likelihood: how far is the ELBO from log p(x)?
#
# **What you will learn**
#
# - the importance-weighted bound $\mathcal L_k$, and what $k$ samples add to the ELBO;
# - the approximation and amortization gaps, read only once their optimisation has converged;
# - active units, the KL per latent dimension, and why the rate bounds the information;
# - one NLL per model, on the data it models, set beside published numbers.
#
# **You need** [01](01_data.ipynb) (targets), [02](02_reparameterization.ipynb) (the ELBO),
# [03](03_bernoulli_vs_gaussian.ipynb) (likelihoods), [04](04_fnn_vae.ipynb) and
# [05](05_cnn_vae.ipynb) (their models are loaded from the cache, or trained if missing). This
# notebook trains one model of its own, `pytorch-example` at 10 epochs. You write `active_units`
# in section 4.
#
# **Run time**: printed by the setup cell below, from the measured records. Evidence tags:
# [How to read the claims](01_data.ipynb#How-to-read-the-claims).

# %% [markdown]
# ## Setup

# %%
import math

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import pandas as pd
import torch

from vaelib.notebook import setup  # first: it also sets up the notebook environment
from vaelib import data as vdata
from vaelib import metrics  # metrics.active_units: the reference of this notebook's exercise
from vaelib.cache import derived  # derived(f, run, ...): f(run.model, ...), kept in the run's folder
from vaelib.data import eval_inputs
from vaelib.eval.gaps import importance_bound, inference_gaps, optimal_gaussian_elbo
from vaelib.eval.likelihood import HEADLINE_K, per_image_nll
from vaelib.eval.stats import over_seeds, paired_bootstrap, seed_intervals
from vaelib.metrics import evaluate, kl_per_dimension, mean_terms, rate_decomposition
from vaelib.runs import get_run

session = setup("06")

# %% [markdown]
# ## 1 · Every model trained so far, from the cache
#
# Each model of notebooks 02–05 is a named run of the registry (`vaelib.runs`); its name loads
# what the earlier notebook trained. New here: `pytorch-example` at 10 epochs, pytorch/examples'
# protocol.

# %%
# label -> run name (vaelib.runs); `get_run(name).notebook` is the notebook that trains it
SCORED = {
    "pytorch-example": "pytorch-example",
    "pytorch-example, 2 epochs": "pytorch-example-2-epochs",
    "bernoulli-vae": "bernoulli-vae",
    "gaussian-vae": "gaussian-vae",
    **{f"gaussian σ = {s}": f"gaussian-sigma-{s}" for s in (0.03, 0.1, 0.3, 1.0)},
    "gaussian per-pixel σ": "gaussian-per-pixel",
    "fnn-bce": "fnn-bce",
    "fnn-mse": "fnn-mse",
    "activity-z2": "activity-z2",
    "latent2-bn-dropout": "latent2-bn-dropout",
    "cnn-bce": "cnn-bce",
    "cnn-mse": "cnn-mse",
}

runs, notebook_of, seen = {}, {}, {}
for label, name in SCORED.items():
    run, nb = session.run(name, quiet=True), get_run(name).notebook
    if run.folder in seen:  # test mode: notebook 02's 1-epoch run *is* the test-mode pytorch-example
        print(f"{label}: the same configuration as {seen[run.folder]}, skipped")
        continue
    seen[run.folder] = label
    runs[label], notebook_of[label] = run, nb
    run.model.to(session.device).eval()
    print(f"{label:26} notebook {nb}  {'trained now' if run.trained_now else 'from the cache'}: {run.folder.name}")

# %% [markdown]
# A model trained on binarized digits (`bernoulli-vae`) is scored on the *fixed* binarization of
# the test set, every other model on grey values (`targets(run)`).

# %%
splits = vdata.load_mnist(subset=session.subset)
test_grey = vdata.to_unit(splits.test.images).to(session.device)
test_bin = vdata.fixed_binarization(splits.test.images).to(session.device)


def targets(run):
    """"fixed" for a model trained on binarized digits, "grey" otherwise (vaelib.metrics convention)."""
    return run.metrics["eval_targets"]


def own_inputs(run, images_u8):
    return eval_inputs(images_u8, targets(run)).to(session.device)


print(f"{len(splits.test)} test images; {len(runs)} models")

# %% [markdown]
# ## 2 · The ELBO and the importance-weighted bound
#
# The ELBO is a lower bound on $\log p(x)$. Burda, Grosse & Salakhutdinov (2016) tighten it with
# $k$ samples from the encoder:
#
# $$\mathcal L_k(x) = \mathbb E_{z_1..z_k \sim q(z\mid x)}\Big[\log \frac1k \sum_{i=1}^k \frac{p(x\mid z_i)\,p(z_i)}{q(z_i\mid x)}\Big],
# \qquad \mathcal L_1 = \mathrm{ELBO} \le \mathcal L_k \le \mathcal L_{k+1} \le \log p(x),$$
#
# and $\mathcal L_k \to \log p(x)$ as $k \to \infty$ (`vaelib.losses.iwae_bound(model, x, k)`,
# one draw per image; `vaelib.metrics.iwae_nll` is minus its mean). We follow it on
# fixed-binarized test images for `bernoulli-vae` (trained on binarized digits, as in Burda et
# al.) and `pytorch-example` (trained on grey values; its Bernoulli decoder gives binary images a
# probability too). Dashed: each model's ELBO on the whole test set. Estimates like these take
# minutes, so `derived(f, run, ...)` keeps each one in its run's folder, stamped with the code that
# computed it: the next Run All loads them.

# %%
ks = [k for k in (1, 2, 5, 10, 50, 100, 500, 1000, 5000) if k <= session.size("iwae_k_max")]
n_iwae = session.size("iwae_images")
x_iwae = test_bin[:n_iwae]
sweep_models = ["bernoulli-vae", "pytorch-example"]
# L_k(x) per image: minus vaelib.eval.likelihood.per_image_nll (seeded, 100 images per batch)
bounds = {name: {k: -derived(per_image_nll, runs[name], x_iwae, k) for k in ks} for name in sweep_models}
test_elbo_bin = {name: mean_terms(runs[name].model, test_bin)["elbo"] for name in sweep_models}

curve = pd.DataFrame({name: [bounds[name][k].mean().item() for k in ks] for name in sweep_models}, index=ks)
curve.index.name = "k"
se = pd.DataFrame({name: [bounds[name][k].std().item() / math.sqrt(n_iwae) for k in ks] for name in sweep_models},
                  index=ks)
print(f"mean L_k over {n_iwae} fixed-binarized test images (nats; ± one standard error of the mean):")
print(pd.concat({"L_k": curve, "± SE": se}, axis=1).round(2).to_string())
print("test ELBO on all fixed-binarized test images:", {n: round(v, 2) for n, v in test_elbo_bin.items()})

# %%
k_max = ks[-1]
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for name, color in zip(sweep_models, ("C0", "C1")):
    axes[0].errorbar(ks, curve[name], yerr=2 * se[name], marker="o", ms=4, capsize=3, color=color,
                     label=f"{name}: $\\mathcal{{L}}_k$ (±2 SE)")
    axes[0].axhline(test_elbo_bin[name], ls="--", color=color, lw=1, label=f"{name}: test ELBO")
    gain = torch.stack([bounds[name][k] - bounds[name][1] for k in ks])  # paired: same images
    axes[1].errorbar(ks, gain.mean(1), yerr=2 * gain.std(1) / math.sqrt(n_iwae), marker="o", ms=4, capsize=3,
                     color=color, label=name)
axes[0].set_ylabel("nats per image")
axes[0].set_title(f"The importance-weighted bound on {n_iwae} binarized test digits")
axes[1].set_ylabel("$\\mathcal{L}_k - \\mathcal{L}_1$ (nats)")
axes[1].set_title("How much k samples add to the one-sample ELBO")
for ax in axes:
    ax.set_xscale("log")
    ax.set_xlabel("k (importance samples)")
    ax.legend(fontsize=8)
fig.tight_layout()
session.save_figure(fig, "06_iwae_vs_k.png");

# %% [markdown]
# Images differ in difficulty, hence the wide bars on the left; the right panel subtracts
# $\mathcal L_1$ image by image. The bound rises fast over the first hundred samples, then
# flattens: no step from $k = 10$ on lowers it beyond 0.2 nats of noise, and $k = 1000$ gives
# at least 90 % of the gain of $k = 5000$ [n = 200, 1 run each]. A flat curve is still a *lower*
# bound.

# %%
gain_max = {name: curve.loc[k_max, name] - curve.loc[1, name] for name in sweep_models}
steps = {name: np.diff(curve.loc[[k for k in ks if k >= 10], name].to_numpy()) for name in sweep_models}
for name in sweep_models:
    print(f"{name}: L_{k_max} − L_1 = {gain_max[name]:.2f} nats; smallest step from k = 10 on: {steps[name].min():+.3f} nats")
with session.claims():
    for name in sweep_models:
        assert gain_max[name] > 2.0, "the bound must tighten with k"
        assert (steps[name] > -0.2).all(), "L_k must not fall as k grows (beyond 0.2 nats of noise)"
        # L_1 on the subset is an unbiased estimate of the subset's ELBO: near the whole test set's
        assert abs(curve.loc[1, name] - test_elbo_bin[name]) < 4 * se.loc[1, name] + 2.0
        # k = 1000 already gives at least 90 % of the gain of k = 5000
        assert 1000 in ks and curve.loc[1000, name] - curve.loc[1, name] > 0.9 * gain_max[name]
# how much the bound still moves beyond the k of the series' headline NLL (k = 100), on the same images
k_head = HEADLINE_K if HEADLINE_K in ks else ks[len(ks) // 2]
k_correction = {}
for name in sweep_models:
    k_correction[name] = d = paired_bootstrap(bounds[name][k_max], bounds[name][k_head])
    print(f"{name}: L_{k_max} − L_{k_head} = {d.format('+.2f')} nats (n = {d.n}, 95 % bootstrap interval): "
          f"the k = {k_head} NLL overstates −log p(x) by at least this much")
    assert d.lo > 0, "more samples must tighten the bound (paired over images)"

# %% [markdown]
# The series' headline NLL uses $k = 100$; on these images $\mathcal L_{5000}$ lies above
# $\mathcal L_{100}$ by the interval printed, so each headline NLL overstates $-\log p(x)$ by
# at least that much [n = 200, paired].

# %% [markdown]
# ## 3 · Where the ELBO's nats go: the approximation and the amortization gap
#
# Notebook 02 showed that $\log p(x) = \mathrm{ELBO}(x) + \mathrm{KL}(q(z \mid x) \,\|\, p(z \mid x))$.
# Cremer, Li & Duvenaud (2018) split that gap in two. Let $\mathrm{ELBO}^\ast(x)$ be the best ELBO
# any diagonal Gaussian $q$ reaches *for this one image*, its $\mu$ and $\log\sigma^2$ optimised for
# $x$ alone (`vaelib.eval.gaps.optimal_gaussian_elbo`: Adam from the encoder's $q$, the step size
# decaying to zero). Then
#
# $$\log p(x) - \mathrm{ELBO}_{\text{encoder}}(x)
#   = \underbrace{\log p(x) - \mathrm{ELBO}^\ast(x)}_{\text{approximation gap}}
#   + \underbrace{\mathrm{ELBO}^\ast(x) - \mathrm{ELBO}_{\text{encoder}}(x)}_{\text{amortization gap}}:$$
#
# what a Gaussian cannot express about the posterior, and what one encoder shared by all images
# loses against fitting each image alone. $\log p(x)$ is estimated by $\mathcal L_k$ with the
# optimised $q$ as proposal (`vaelib.eval.gaps.inference_gaps`).
#
# **Two errors, opposite signs.** A $q$ stopped short of its optimum lowers $\mathrm{ELBO}^\ast$:
# it *inflates* the approximation gap (and shrinks the amortization gap as much). $\mathcal L_k$
# falls short of $\log p(x)$: that *deflates* it. So first, on a few images per model, we double
# the optimisation steps $S$ until the gap stops falling, and compare $\mathcal L_k$ under the
# fitted $q$ with $\mathcal L_{k/10}$: for large $k$ the shortfall of $\mathcal L_k$ falls like
# $1/k$ (Nowozin 2018), so what remains is about a ninth of that rise.

# %%
k_gap = min(1000, k_max)
gap_models = [n for n in ("pytorch-example, 2 epochs", "pytorch-example", "bernoulli-vae", "cnn-bce") if n in runs]
fit = dict(samples=session.size("gap_samples"), eval_samples=session.size("gap_eval_samples"))
S = session.size("gap_steps")
step_grid = [S // 4, S // 2, S, 2 * S]
x_sweep = x_iwae[: session.size("gap_sweep_images")]
GAP_TOL = 0.1  # nats: each of the two errors of the approximation gap must stay below this

sweep_rows, last_doubling, k_shortfall, per_steps = {}, {}, {}, {}
converged_models = gap_models[:2]  # the gap's verdict below is about these two (2 and 10 epochs)
for name in converged_models:
    model = runs[name].model
    fits = {s: derived(optimal_gaussian_elbo, runs[name], x_sweep, steps=s, **fit) for s in step_grid}
    best = fits[step_grid[-1]]  # the most-optimised q: the proposal of one log p(x) estimate for every S
    mu_fit, logvar_fit = best["mu"].to(session.device), best["logvar"].to(session.device)
    log_px = importance_bound(model, x_sweep, mu_fit, logvar_fit, k_gap, torch.Generator().manual_seed(1)).cpu()
    log_px_few = importance_bound(model, x_sweep, mu_fit, logvar_fit, k_gap // 10, torch.Generator().manual_seed(2)).cpu()
    per_steps[name] = {s: log_px - f["optimal"] for s, f in fits.items()}  # log p(x) − ELBO*(S), per image
    last_doubling[name] = paired_bootstrap(per_steps[name][S], per_steps[name][2 * S])  # what doubling S removes
    rise = paired_bootstrap(log_px, log_px_few)  # L_k − L_{k/10} under the fitted q
    # the 1/k law: shortfall(k) ≈ c/k, so L_k − L_{k/10} ≈ 9c/k and shortfall(k) ≈ a ninth of the rise (upper end)
    k_shortfall[name] = rise.hi * (k_gap // 10) / (k_gap - k_gap // 10)
    sweep_rows[name] = {**{f"S = {s}": v.mean().item() for s, v in per_steps[name].items()},
                        f"gap(S={S}) − gap(S={2 * S})": last_doubling[name].format("+.3f"),
                        f"L_{k_gap} − L_{k_gap // 10}": rise.format("+.3f")}
print(f"log p(x) − ELBO*(S) after S Adam steps, mean over {len(x_sweep)} fixed-binarized test images (nats); "
      f"log p(x) ≈ L_{k_gap} under the q fitted with {2 * S} steps; tolerance {GAP_TOL} nats")
with pd.option_context("display.width", 200):
    print(pd.DataFrame(sweep_rows).T.to_string(float_format=lambda v: f"{v:.3f}"))
print("L_k's remaining shortfall (≈ a ninth of the rise, its upper end): "
      + ", ".join(f"{n} {v:.3f}" for n, v in k_shortfall.items()) + " nats")
with session.claims():
    for name in converged_models:
        assert per_steps[name][step_grid[0]].mean() > per_steps[name][2 * S].mean()  # too few steps inflate the gap
        assert -GAP_TOL < last_doubling[name].lo and last_doubling[name].hi < GAP_TOL  # converged at S
        assert k_shortfall[name] < GAP_TOL

# %% [markdown]
# Too few steps inflate the gap; from $S$ to $2S$ it moves by less than the tolerance, and
# $\mathcal L_k$'s shortfall is below it too [50 images, paired, 1 run each, both `pytorch-example`
# models]. So the table
# below uses $S$ steps, and its approximation gaps are **upper estimates**, good to the
# tolerance. The models: `pytorch-example` after 2 and 10 epochs (one network trained longer),
# `bernoulli-vae` and the convolutional `cnn-bce`; both ELBOs of an image share their random draws.

# %%
gaps = {name: derived(inference_gaps, runs[name], x_iwae, k=k_gap, steps=S, **fit) for name in gap_models}
columns = ("encoder_elbo", "optimal_elbo", "log_px_encoder_q", "log_px", "approximation_gap", "amortization_gap")
gap_table = pd.DataFrame({name: {col: f"{g[col].mean().item():.2f} ± {g[col].std().item() / math.sqrt(len(x_iwae)):.2f}"
                                 for col in columns} for name, g in gaps.items()}).T
print(f"{len(x_iwae)} fixed-binarized test images, S = {S} steps; log_px = L_{k_gap} with the optimised q as proposal, "
      f"log_px_encoder_q with the encoder's; mean ± SE over images (nats)")
print(gap_table.to_string())
for name, g in gaps.items():
    assert torch.allclose(g["approximation_gap"] + g["amortization_gap"], g["total_gap"], atol=1e-4)
    amort = g["amortization_gap"]
    assert amort.mean() > 3 * amort.std() / math.sqrt(len(amort)), name  # per-image fitting gains

pe2 = "pytorch-example, 2 epochs"
epoch_change = {}
if pe2 in gaps:  # the same network after 2 and after 10 epochs, on the same images
    for part in ("amortization_gap", "approximation_gap"):
        epoch_change[part] = d = paired_bootstrap(gaps["pytorch-example"][part], gaps[pe2][part])
        print(f"{part}, 10 epochs − 2 epochs: {d.format('+.2f')} nats (95 % interval, n = {d.n} images, one run each)")
with session.claims():
    if epoch_change:
        assert epoch_change["amortization_gap"].hi < 0 and epoch_change["approximation_gap"].lo > 0
        # the widening is larger than what the last doubling of steps still removed from either gap
        assert epoch_change["approximation_gap"].lo > max(last_doubling[n].hi for n in (pe2, "pytorch-example"))
    means = pd.DataFrame({n: {c: g[c].mean().item() for c in columns} for n, g in gaps.items()}).T
    assert (means["amortization_gap"] > means["approximation_gap"]).all()  # the encoder costs more than the family
    assert means["amortization_gap"].idxmax() == "cnn-bce"
    assert (means["log_px_encoder_q"] < means["log_px"]).all()  # the encoder's q: the worse proposal
    assert means.loc["cnn-bce", "log_px_encoder_q"] < means.loc["cnn-bce", "optimal_elbo"]

# %%
fig, ax = plt.subplots(figsize=(8, 3.2))
bottom = np.zeros(len(gaps))
for part, color in (("approximation_gap", "C0"), ("amortization_gap", "C1")):
    part_mean = np.array([g[part].mean().item() for g in gaps.values()])
    part_se = np.array([g[part].std().item() / math.sqrt(len(x_iwae)) for g in gaps.values()])
    ax.bar(range(len(gaps)), part_mean, bottom=bottom, yerr=2 * part_se, capsize=4, color=color,
           label=part.replace("_", " ") + " (±2 SE)")
    bottom += part_mean
ax.set_xticks(range(len(gaps)), list(gaps))
ax.set_ylabel("nats per image")
ax.set_title(f"log p(x) − encoder ELBO, split per model ({len(x_iwae)} fixed-binarized test images, "
             f"log p(x) ≈ L_{k_gap})", fontsize=9)
ax.legend(fontsize=8)
fig.tight_layout()
session.save_figure(fig, "06_inference_gaps.png");

# %% [markdown]
# In every model the encoder costs more than the Gaussian family: the amortization gap is the
# larger [200 images, 1 run each]. From 2 to 10 epochs the same network's **amortization gap
# shrinks** and its **approximation gap widens**, by more than the last doubling of steps moved
# it [200 images, paired, 1 run]: the encoder fits the posteriors better, while a better decoder's
# posteriors are further from a diagonal Gaussian. `cnn-bce` has the highest $\log p(x)$ and the
# largest amortization gap: the best decoder, the encoder furthest from the per-image optimum
# [1 run]. The encoder's $q$ is the worse proposal: with it $\mathcal L_k$ is lower for every
# model, for `cnn-bce` even below $\mathrm{ELBO}^\ast$ [1 run].

# %% [markdown]
# ## 4 · Reconstruction, active units and the KL per latent dimension
#
# `vaelib.metrics.evaluate` gives, for each model on its own test targets: the test ELBO (one
# sampled $z$ per image, β = 1), the **reconstruction MSE** per pixel between the grey test image
# and the decoder mean at $z = \mu(x)$, and the number of **active units**, latent dimensions
# whose posterior mean varies over the data, $\mathrm{Var}_x\,\mu_d(x) > 0.01$
# (`vaelib.metrics.active_units`, the definition of Burda et al.).

# %%
evals = {}
for label, run in runs.items():
    evals[label] = evaluate(run.model, splits.test, eval_targets=targets(run), iwae_k=0, device=session.device)
print(pd.DataFrame(evals).T[["eval_targets", "test_elbo", "test_kl", "recon_mse", "active_units", "latent_dim"]]
      .to_string(float_format=lambda v: f"{v:.4f}"))

# %% [markdown]
# The KL term splits over dimensions, because $q$ and the prior are both diagonal
# (`vaelib.losses.kl_std_normal_terms`; `vaelib.metrics.kl_per_dimension` averages each term over
# images):
#
# $$\mathrm{KL}\big(q(z\mid x)\,\|\,\mathcal N(0, I)\big) = \sum_d \underbrace{\tfrac12\big(\mu_d^2 + \sigma_d^2 - 1 - \log\sigma_d^2\big)}_{\mathrm{KL}_d(x)} .$$
#
# Averaged over images, $\mathrm{KL}_d$ is the **rate** of dimension $d$: what its code costs
# against the prior. It is tied to activity: since $t - 1 - \log t \ge 0$, every
# $\mathrm{KL}_d(x) \ge \tfrac12 \mu_d(x)^2$, so on average $\mathrm{KL}_d \ge
# \tfrac12\,\mathbb E_x[\mu_d^2] \ge \tfrac12 \mathrm{Var}_x\,\mu_d$: an active unit costs at
# least 0.005 nats [exact]. An inactive unit with $\mu_d \approx 0$ and $\sigma_d \approx 1$
# costs almost nothing: it ignores $x$ and matches the prior.

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
kl_views = {}
for ax, name in zip(axes, sweep_models):
    run = runs[name]
    kl_d, mu = kl_per_dimension(run.model, own_inputs(run, splits.test.images))
    var_mu = mu.var(0)
    active = var_mu > 0.01  # vaelib.metrics.active_units counts these
    order = torch.argsort(kl_d, descending=True)
    ax.bar(range(len(kl_d)), kl_d[order], color=["C0" if a else "C7" for a in active[order]])
    if not active.all():  # log scale when inactive units (~0.001 nats) sit beside active ones (~1 nat)
        ax.set_yscale("log")
    ax.set_title(f"{name}: {int(active.sum())} active units of {len(kl_d)} (blue: Var μ_d > 0.01)")
    ax.set_xlabel("latent dimension, sorted by its KL")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # dimensions are whole numbers
    ax.set_ylabel("mean KL_d over test images (nats)")
    kl_views[name] = dict(kl_d=kl_d, var_mu=var_mu, mu=mu, active=active)
fig.tight_layout()
session.save_figure(fig, "06_kl_per_dimension.png");

# %% [markdown]
# The checks tie the bars to the table: the KL terms add up to the test KL of `evaluate`; every
# dimension costs at least half the mean square of its $\mu_d$ (the inequality above); the blue
# bars are the active units of `evaluate` [exact]; and the inactive dimensions carry under 5 % of
# the KL [1 run each].

# %%
for name, v in kl_views.items():
    kl_d, mu, active = v["kl_d"], v["mu"], v["active"]
    inactive_share = kl_d[~active].sum().item() / kl_d.sum().item()
    print(f"{name}: KL = {kl_d.sum():.2f} nats in {int(active.sum())} active units; largest inactive KL_d "
          f"{kl_d[~active].max().item() if (~active).any() else float('nan'):.4f} nats; "
          f"inactive share of the KL {100 * inactive_share:.2f} %")
    assert math.isclose(kl_d.sum().item(), evals[name]["test_kl"], rel_tol=1e-3)
    assert (kl_d >= 0.5 * mu.pow(2).mean(0) - 1e-5).all()
    assert int(active.sum()) == evals[name]["active_units"] == metrics.active_units(mu)
    with session.claims():
        assert inactive_share < 0.05

# %% [markdown]
# **Exercise (`active_units`).** Count the active units from the posterior means of $N$ images,
# `means`: [N, D]. The typical mistake is the variance over the wrong axis: over the $D$
# dimensions of one image instead of over the $N$ images of one dimension. (Later cells use
# vaelib's `metrics.active_units`.)

# %% tags=["exercise"]
import torch


def active_units(means: torch.Tensor, threshold: float = 0.01) -> int:
    """means: [N, D], E_q[z | x] of N images; the number of latent dimensions whose variance over the
    images exceeds `threshold`."""
    # HINT: one variance per latent dimension, taken across the images; count those above the threshold (a Python int)
    # BEGIN SOLUTION
    return int((means.var(dim=0) > threshold).sum().item())
    # END SOLUTION


# %%
from vaecourse.assignments import exercise_check

with exercise_check("active_units"):
    mu = kl_views["bernoulli-vae"]["mu"]  # [N, 40]: the Bernoulli VAE's posterior means of the test images
    toy = torch.zeros(6, 3)
    toy[:, 0] = torch.tensor([-1.0, 1.0] * 3)  # varies over the images: active
    toy[:, 1] = 3.0  # constant, far from zero: inactive
    toy[:, 2] = 0.05 * torch.tensor([-1.0, 1.0] * 3)  # varies, by less than the threshold: inactive
    print(f"bernoulli-vae: yours {active_units(mu, 0.01)}, vaelib {metrics.active_units(mu, 0.01)} of {mu.shape[1]}; "
          f"toy means: yours {active_units(toy, 0.01)}, vaelib {metrics.active_units(toy, 0.01)}")
    assert active_units(mu, 0.01) == metrics.active_units(mu, 0.01)
    assert active_units(toy, 0.01) == metrics.active_units(toy, 0.01) == 1

# %% [markdown]
# ### The rate bounds the information
#
# Is the rate the number of nats a code carries about an image? Not quite. Let
# $q(z) = \mathbb E_x\, q(z\mid x)$ be the **aggregate posterior**, the cloud of all codes. Divide
# and multiply by $q(z)$ inside the logarithm (Hoffman & Johnson 2016) [exact]:
#
# $$\mathbb E_x\,\mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)
#   = \mathbb E_x\,\mathbb E_{q(z\mid x)}\Big[\log\frac{q(z\mid x)}{q(z)} + \log\frac{q(z)}{p(z)}\Big]
#   = \underbrace{I_q(x;\,z)}_{\text{information}}
#   + \underbrace{\mathrm{KL}\big(q(z)\,\|\,p(z)\big)}_{\text{mismatch}\ \ge\ 0}
#   \;\ge\; I_q(x; z).$$
#
# The second step uses $\mathbb E_x \mathbb E_{q(z\mid x)} f(z) = \mathbb E_{q(z)} f(z)$. The
# first term is the mutual information between image and code; the second is what the prior
# charges for codes that do not fill it as it expects. **The rate is an upper bound on the
# information, not the information.** The same split holds for each dimension alone, so each bar
# above bounds what its dimension carries.
#
# `vaelib.metrics.rate_decomposition` measures both terms on $N$ test images, $q(z)$ being the
# mixture of their $N$ posteriors, whose density is exact. Its information estimate cannot exceed
# $\log N$: $N$ codes tell at most $N$ images apart. So we measure it on a model whose rate is well
# below $\log N$, the 2-D `activity-z2` of notebook 04, and beside it on `pytorch-example`, whose
# rate is not.

# %%
n_mi = session.size("mi_images")
rate_split = pd.DataFrame({name: rate_decomposition(runs[name].model, own_inputs(runs[name], splits.test.images[:n_mi]))
                           for name in ("activity-z2", "pytorch-example")}).T
rate_split = rate_split[["rate", "mutual_information", "marginal_kl", "mutual_information_se", "marginal_kl_se"]].astype(float)
log_n = math.log(n_mi)
print(f"N = {n_mi} grey test images, one z per image; the information estimate is at most log N = {log_n:.2f} nats")
print(rate_split.round(3).to_string())
assert np.allclose(rate_split["rate"], rate_split["mutual_information"] + rate_split["marginal_kl"], atol=1e-3)
assert (rate_split["mutual_information"] <= log_n + 1e-3).all()
with session.claims():
    low = rate_split.loc["activity-z2"]
    assert low["rate"] < log_n - 1  # well below the cap: its split is a measurement
    assert low["mutual_information"] > 0.8 * low["rate"]  # most of its rate is information
    assert low["marginal_kl"] > 4 * low["marginal_kl_se"]  # ... and the rest is mismatch, not noise
    high = rate_split.loc["pytorch-example"]
    assert high["rate"] > 2 * log_n and high["mutual_information"] > log_n - 0.25  # at the ceiling

# %% [markdown]
# For the 2-D model most of the rate is information, and the rest, many standard errors from
# zero, is mismatch between the codes and the prior [1 run]. The 20-D model's rate is more than
# twice $\log N$ and its information estimate sits at the ceiling: the rest may be information or
# mismatch, and $N$ images cannot tell [1 run]. Notebook 08 follows the split across latent sizes.

# %% [markdown]
# ## 5 · One NLL per model, on the data it models
#
# Each model has one canonical negative log-likelihood, the number every notebook of the series
# prints for it (`vaelib.eval.likelihood.canonical_nll`): $-\mathcal L_{100}$ on all 10,000 test
# images, with its standard error, under the model's **own likelihood, on the data it models**. A
# Bernoulli decoder models binary images and is scored on the fixed binarization ("binarized"); a
# Gaussian decoder is a density of grey values, and integrated over the 256 grey-level bins of
# each pixel (`vaelib.losses.discretized_gaussian_log_prob`) it gives the probability of the
# stored 8-bit image ("8-bit"). **NLLs compare only within a scale**; bits per dimension,
# NLL / (784 ln 2), make the 8-bit numbers readable beside other image models.

# %%
nll = {label: session.nll(run) for label, run in runs.items()}
rows = []
for label, run in runs.items():
    m, ev = run.model, evals[label]
    lik = m.config.likelihood if m.config.likelihood == "bernoulli" else f"gaussian ({m.config.sigma} σ)"
    rows.append({
        "model": label,
        "notebook": notebook_of[label],
        "likelihood / targets → NLL scale": f"{lik} / {targets(run)} → {nll[label].scale}",
        "NLL (nats)": nll[label].mean, "± SE": nll[label].se, "bits/dim": nll[label].bits_per_dim,
        "recon MSE": ev["recon_mse"],
        "active units": f"{ev['active_units']} / {ev['latent_dim']}",
        # kept for the checks below, not shown
        "NLL scale": nll[label].scale, "test ELBO, own targets": ev["test_elbo"], "epochs": len(run.history),
    })
results = pd.DataFrame(rows).set_index("model")
nll_col = "NLL (nats)"
shown = results[["notebook", "likelihood / targets → NLL scale", nll_col, "± SE", "bits/dim", "recon MSE", "active units"]]
k_nll, n_nll = nll["bernoulli-vae"].k, nll["bernoulli-vae"].n
print(f"NLL: k = {k_nll} importance samples on n = {n_nll:,} test images, each model under its own likelihood")
session.save_table(shown, "06_results.md")  # the results table of the book's front page
shown.style.format(precision=4)

# %%
best = results.groupby("NLL scale")[nll_col].idxmin()
best_mse = results["recon MSE"].idxmin()
for scale, label in best.items():
    print(f"lowest NLL on the {scale} scale: {label} ({results.loc[label, nll_col]:.2f} ± "
          f"{results.loc[label, '± SE']:.2f} nats, {results.loc[label, 'bits/dim']:.4f} bits/dim)")
same_scale = results[results["NLL scale"] == results.loc[best_mse, "NLL scale"]]
mse_rank = int(same_scale[nll_col].rank().loc[best_mse])
print(f"lowest reconstruction MSE: {best_mse} ({results.loc[best_mse, 'recon MSE']:.4f}); its NLL rank "
      f"{mse_rank} of the {len(same_scale)} models on its scale")
if pe2 in results.index:
    print(f"pytorch-example, 2 → 10 epochs: test loss {-results.loc[pe2, 'test ELBO, own targets']:.2f} → "
          f"{-results.loc['pytorch-example', 'test ELBO, own targets']:.2f} nats (grey), NLL "
          f"{results.loc[pe2, nll_col]:.2f} → {results.loc['pytorch-example', nll_col]:.2f} nats (binarized), "
          f"recon MSE {results.loc[pe2, 'recon MSE']:.4f} → {results.loc['pytorch-example', 'recon MSE']:.4f}")
assert np.isfinite(results[nll_col]).all() and (results["± SE"] > 0).all()
assert set(results["NLL scale"]) == {"binarized", "8-bit"}
with session.claims():
    if pe2 in results.index:  # test mode: notebook 02's short run is the test-mode pytorch-example
        longer, shorter = results.loc["pytorch-example"], results.loc[pe2]
        assert longer["test ELBO, own targets"] > shorter["test ELBO, own targets"]
        assert longer[nll_col] < shorter[nll_col] and longer["recon MSE"] < shorter["recon MSE"]
    assert mse_rank == len(same_scale)  # the sharpest model is the least likely of its kind
    assert best.to_dict() == {"binarized": "cnn-bce", "8-bit": "gaussian σ = 0.3"}, best.to_dict()

# %% [markdown]
# Reading the table [1 run each]:
#
# - **Training longer helps**: from 2 to 10 epochs `pytorch-example` improves its test ELBO (grey
#   targets), its NLL (binarized) and its reconstruction MSE.
# - The likeliest **Gaussian decoder** on 8-bit images is the hand-set σ = 0.3, not a learned σ
#   (notebook 03 decides this over seeds).
# - The **sharpest reconstructions** belong to the least likely model of its scale (see the question).
# - The likeliest **Bernoulli decoder** on binarized digits, `cnn-bce`, was trained on grey values:
#   a Bernoulli decoder trained on grey targets maximises the expected log-probability of random
#   binarizations (notebook 01), so it models binary digits too.
#
# Is training on grey targets then *better*? A modelling choice is decided over training seeds:
# a paired interval per seed, then a t-interval over seeds (`vaelib.eval.stats.over_seeds`).

# %%
replicas = session.replicas(["bernoulli-vae", "cnn-bce", "fnn-bce"])
n_pair = session.size("paired_images")
nll_img = {name: [session.nll(r, n=n_pair).per_image for r in reps] for name, reps in replicas.items()}
target_verdicts = {other: over_seeds(seed_intervals(nll_img[other], nll_img["bernoulli-vae"]))
                   for other in ("cnn-bce", "fnn-bce")}
for other, v in target_verdicts.items():
    print(f"NLL {other} − bernoulli-vae (n = {n_pair:,}, k = {k_nll}), per training seed: "
          + "; ".join(iv.format("+.2f") for iv in v.per_seed) + f"\n    {v}")
with session.claims():
    assert target_verdicts["cnn-bce"].verdict == "undecided" and not target_verdicts["cnn-bce"].borderline
    assert target_verdicts["fnn-bce"].borderline  # at the edge of zero: a retraining can move it either side
    assert all(iv.hi < 0 for iv in target_verdicts["cnn-bce"].per_seed)  # each seed: cnn-bce likelier
    assert all(iv.lo > 0 for iv in target_verdicts["fnn-bce"].per_seed)  # each seed: fnn-bce less likely

# %% [markdown]
# In every seed the grey-trained `cnn-bce` is likelier than the binary-trained `bernoulli-vae`,
# and the grey-trained `fnn-bce` less likely, each by an interval over images that excludes zero.
# But the differences vary so much from seed to seed that three seeds settle neither: for
# `cnn-bce` the interval over seeds includes zero, and for `fnn-bce` zero sits at its edge
# (borderline, as notebook 05 defines it: training the same seeds again can move it to either
# side) [3 seeds]. The three models also differ in architecture and training length
# (`fnn-bce` is the small 784-400-20 network, 10 epochs; `bernoulli-vae` 784-400-400-40, 20), so
# this pits whole recipes, not targets alone.

# %% [markdown]
# ## Summary

# %%
print(shown.round(4).to_string())
print(f"\nL_{k_max} − L_1: " + ", ".join(f"{n} {gain_max[n]:.2f} nats" for n in sweep_models))
print(f"L_{k_max} − L_{k_head}: " + ", ".join(f"{n} {d.format('+.2f')} nats" for n, d in k_correction.items()))
print(gap_table[["approximation_gap", "amortization_gap"]].to_string())
print(rate_split[["rate", "mutual_information", "marginal_kl"]].round(2).to_string())

# %% [markdown]
# - $\mathcal L_k$ rises from the ELBO and flattens; the headline $k = 100$ NLL overstates
#   $-\log p(x)$ by at least the interval printed [n = 200, 1 run each].
# - The amortization gap exceeds the approximation gap, an upper estimate once the per-image
#   optimisation has converged; training longer shrinks the first and widens the second
#   [200 images, paired, 1 run each].
# - Active units carry almost all of the KL [1 run each].
# - Rate = information + mismatch [exact]: a 2-D code's rate is mostly information; a 20-D
#   code's exceeds what $N$ test images can resolve [1 run each].
# - One NLL per model, on its own scale [n = 10,000, k = 100]: likeliest σ = 0.3 (8-bit) and the
#   grey-trained `cnn-bce` (binarized); the sharpest model the least likely of its scale [1 run];
#   grey against binary targets not settled by three seeds [3 seeds].

# %% [markdown] tags=["question"]
# **Question.** In the results table, the model with the lowest reconstruction MSE is the least
# likely model of its own NLL scale. Which model is it, which printed lines show this, and why
# does it happen?

# %% [markdown] tags=["answer"]
# **Answer.**
# The lines printed under the results table name it: the Gaussian VAE with the smallest fixed σ,
# 0.03, from notebook 03. Its hidden β = 2σ² is tiny, so the KL term hardly constrains the code:
# it uses every latent unit and by far the largest KL (the table of section 4), which buys sharp
# reconstructions. On the 8-bit scale it is the least likely Gaussian decoder: with σ = 0.03, a
# decoder mean a little off a pixel's grey level puts almost no probability on that level's bin.
# Reconstruction error alone does not measure a generative model; notebook 07 looks at its samples.

# %% [markdown]
# ## Checking pytorch/examples' test loss
#
# pytorch/examples' `vae/main.py` (784-400-20, batch 128, Adam 10⁻³, 10 epochs on all 60,000
# training images) prints a test-set loss of about 105.6 nats per image after epoch 10: grey BCE
# plus KL, one sampled $z$: $-\mathrm{ELBO}$ on grey targets. A BCE against grey targets is not
# the log-probability of the grey image (notebook 01), so this is a loss, not a likelihood; our
# `pytorch-example` follows the same protocol, and we compare the same loss. Published numbers are
# typed in as inputs, with their protocol:

# %% tags=["nbval-check-output"]
REFERENCES = {
    "pytorch-example": {
        "value": 105.6, "ours": "test loss = −test ELBO, grey targets",
        "text": "pytorch/examples vae/main.py: test loss ≈ 105.6 nats (grey BCE + KL, one sampled z; "
                "784-400-20, batch 128, Adam 1e-3, 10 epochs on all 60k training images)",
        "source": "pytorch/examples, vae/main.py, printed test-set loss after epoch 10",
    },
    "bernoulli-vae": {
        "value": 86.76, "ours": "IWAE NLL, fixed binarization",
        "text": "Burda et al. 2016: −log p(x) ≈ 86.76 nats (VAE, one stochastic layer; dynamic binarization, "
                "3,280 passes over the data, k = 5000, whole test set)",
        "source": "Burda, Grosse & Salakhutdinov, Importance Weighted Autoencoders, ICLR 2016, Table 1",
    },
}
for name, ref in REFERENCES.items():
    print(f"{name}: {ref['text']}\n    source: {ref['source']}")

# %%
ours_pe = -evals["pytorch-example"]["test_elbo"]
gap_pe = ours_pe - REFERENCES["pytorch-example"]["value"]
print(f"pytorch-example, {len(runs['pytorch-example'].history)} epochs: test loss {ours_pe:.2f} nats on "
      f"{len(splits.test):,} grey test images; reference {REFERENCES['pytorch-example']['value']}; ours − reference {gap_pe:+.2f}")
with session.claims():
    assert abs(gap_pe) < 1.5  # the same protocol gives the same test loss, within run-to-run noise

# %% [markdown]
# The same protocol gives the same test loss, within the difference printed [1 run].

# %% [markdown]
# ## Checking Burda et al.'s log-likelihood
#
# Burda, Grosse & Salakhutdinov (2016, Table 1) report $-\log p(x) \approx 86.76$ nats for a VAE
# with one stochastic layer: $-\mathcal L_{5000}$ on all 10,000 test images. Like for like in the
# *evaluation* means the same $k$ and all the images: our canonical NLL ($k = 100$, all images)
# minus the $k$ correction $\mathcal L_{5000} - \mathcal L_{100}$ measured in section 2.

# %%
bern = nll["bernoulli-vae"]  # canonical: k = 100 on all test images
first = bern.per_image[:n_iwae].double().mean().item()  # the same estimate on the images of section 2
corr = k_correction["bernoulli-vae"]
ours_k_max = bern.mean - corr.mean  # −L_{k_max} on all test images, estimated
ours_se = math.sqrt(bern.se**2 + ((corr.hi - corr.lo) / 3.92) ** 2)
gap_burda = ours_k_max - REFERENCES["bernoulli-vae"]["value"]
print(f"bernoulli-vae, NLL with k = {bern.k}: {first:.2f} nats on the first {n_iwae} images, {bern.mean:.2f} on all {bern.n:,}")
print(f"−L_{k_max} on all {bern.n:,} test images ≈ {bern.mean:.2f} − ({corr.format('.2f')}) = {ours_k_max:.2f} ± {ours_se:.2f} nats; "
      f"Burda et al. {REFERENCES['bernoulli-vae']['value']}; ours − theirs {gap_burda:+.2f} nats")
with session.claims():
    assert first < bern.mean  # the first images are easier than the test set as a whole
    assert gap_burda - 2 * ours_se > 0 and gap_burda + 2 * ours_se < 10  # behind, by less than 10 nats
session.report_run_time()

# %% [markdown]
# Our `bernoulli-vae` is behind their VAE by the difference printed [n = 10,000, k corrected to
# 5000, 1 run]. The images of section 2 alone would have flattered it: they are easier than the
# test set as a whole (both NLLs printed). The evaluation now matches; the model and its training
# do not: theirs is 784-200-200-50 with tanh units, trained for 3,280 passes over all 60,000 training images with
# batch 20; ours is 784-400-400-40 with ReLU units, 20 epochs on 50,000 images with batch 256.
# So this is not a replication, and the gap cannot be pinned on any one difference. Notebook 12
# trains their architecture and compares with their own rows.

# %% [markdown]
# ## References
#
# - Kingma & Welling (2014). Auto-encoding variational Bayes. *ICLR*.
# - Burda, Grosse & Salakhutdinov (2016). Importance weighted autoencoders. *ICLR*.
# - Hoffman & Johnson (2016). ELBO surgery: yet another way to carve up the variational evidence
#   lower bound. *NIPS Workshop on Advances in Approximate Bayesian Inference*.
# - Cremer, Li & Duvenaud (2018). Inference suboptimality in variational autoencoders. *ICML*.
# - Nowozin (2018). Debiasing evidence approximations: on importance-weighted autoencoders and
#   jackknife variational inference. *ICLR*.
# - PyTorch examples, `vae/main.py`. github.com/pytorch/examples.
#
# **Next:** [07 · Samples, representations and out-of-distribution detection](07_samples_and_ood.ipynb):
# the same models judged by their samples, by what their codes know, and as anomaly detectors.

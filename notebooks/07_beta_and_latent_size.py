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
# # 07 · β, latent size, residual and convolutional encoders: the *Experimental Results* table, measured again
#
# **What this notebook teaches.** The *Experimental Results* report (*Variational Autoencoders on
# MNIST: Experimental Results*, one of the source documents) trains seven VAEs under one protocol
# and scores each by reconstruction MSE and FID.
# We rerun that protocol for every one of its VAE rows and read the results through one idea:
# the ELBO is a sum of two costs, the **distortion** $D = -\mathbb E_q[\log p(x\mid z)]$ and the
# **rate** $R = \mathrm{KL}(q(z\mid x)\,\|\,p(z))$, and every knob in the table (β, the latent
# size, the encoder) moves a model along or across the curve of the best trade-offs between them
# (Alemi et al. 2018, *Fixing a broken ELBO*). We plot that curve, look inside a β = 4 model with
# latent traversals, and set our table beside the report's, comparing **rankings** (our Fréchet
# distance uses MNIST-classifier features, not Inception's, so its scale differs from the report's
# FID).
#
# **Exercise.** You write `traverse`, the codes of a latent traversal, in section 4; the cell after
# it checks yours against vaelib's. One open question asks what the β rows measure.
#
# **Prerequisites.** [02](02_reparameterization.ipynb) (the ELBO and β), [04](04_fnn_vae.ipynb)
# (the 784-400-20 VAE) and [06](06_evaluation.ipynb) (reconstruction MSE, active units, the
# Fréchet distance and the classifier it uses; this notebook loads that classifier from the
# cache or trains it).
#
# **Run time.** Twelve models (the report's seven and five more points for the rate–distortion
# curve), each trained from three seeds: 36 trainings, of which the three convolutional ones take
# the longest (the last cell adds up the seed-0 histories). From the cache, most of the time goes
# to drawing and scoring 10,000 samples per model. How long it takes on this project's 2-core CPU, from an empty cache and from the
# `checkpoints/` cache, is in the README's run-time table (written by `make run`, never typed);
# the last cell prints this run's own time. On a GPU: not measured yet.
# The test mode (`VAE_NOTEBOOKS_TEST=1`) trains each model for one short epoch on 2,000 images
# (500 for the convolutional one) and only reports the claims that need trained models.

# %% [markdown]
# ## Setup

# %%
import functools
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from vaelib.notebook import setup  # first: it also sets up the notebook environment
from vaelib import data as vdata
from vaelib.eval.frechet import frechet_scorer
from vaelib.eval.latent import traverse as vaelib_traverse
from vaelib.metrics import active_units, evaluate, kl_per_dimension, rate_decomposition
from vaelib.eval.likelihood import per_image_elbo, per_image_mse
from vaelib.eval.plots import show_grid
from vaelib.eval.stats import seed_intervals
from vaelib.runs import REPLICA_SEEDS, get_run

session = setup()

# %% [markdown]
# ## 1 · The protocol and the models
#
# The *Experimental Results* protocol: **batch 256, learning rate 10⁻³ (Adam), 10 epochs,
# $z = 20$ unless the name says otherwise**, the pytorch/examples architecture (784-400-$z$, ReLU)
# and its loss, the "BCE" of a Bernoulli decoder against grey pixel values. The report's seven VAE
# rows are presets of `vaelib.runs`; the table below shows what each changes. `vae-std-z20-res` adds
# a residual 400-400 block to the encoder (the report says "residual connections added to the
# encoder"; it does not say where, so this is our reading); `vae-conv` is the convolutional VAE of
# notebook 05 under this protocol. We carve 10,000 validation images from the training set, as
# for every preset except `pytorch-example`; the test set is the official 10,000.
#
# Five more models, variants of `vae-std-z20` under the same protocol, fill in the rate–distortion
# plot of section 3: β = 0.25 and 8, and $z$ = 2, 5 and 10.

# %% tags=["nbval-check-output"]
REPORT_ROWS = {  # the Experimental Results table, typed from that report (its numbers, not ours): MSE, FID
    "vae-std-z20": (0.0144, 64.45),
    "vae-std-z20-res": (0.0169, 41.26),
    "vae-std-z40": (0.0139, 63.33),
    "vae-conv": (0.0236, 50.13),
    "beta-vae-4": (0.0272, 72.12),
    "beta-vae-2": (0.0189, 64.51),
    "beta-vae-0.5": (0.0116, 71.99),
}
NAMES = [*REPORT_ROWS, "beta-vae-0.25", "beta-vae-8", "vae-std-z2", "vae-std-z5", "vae-std-z10"]
configs = {name: get_run(name).configs() for name in NAMES}  # the full-mode protocol of each run

rows = []
for name, (m, t) in configs.items():
    rows.append({"model": name, "in the report": name in REPORT_ROWS, "z": m.latent_dim, "β": m.beta,
                 "arch": m.arch + (" + residual" if m.residual else ""),
                 "batch": t.batch_size, "lr": t.lr, "epochs": t.epochs})
print(pd.DataFrame(rows).set_index("model").to_string())
assert all(t.batch_size == 256 and t.lr == 1e-3 and t.epochs == 10 for _, t in configs.values())

# %% [markdown]
# `session.runs` loads each run from the cache, or trains it (one summary line per epoch).

# %%
runs = session.runs(NAMES)  # in test mode: one short epoch (the conv model on 500 images)

# %% [markdown]
# ## 2 · The *Experimental Results* table, measured again
#
# For every model, on the official test set (the first 2,000 images in test mode):
#
# - **MSE**: the report's metric. Per pixel, between the grey test image and the decoder mean at
#   $z = \mu(x)$ (`vaelib.metrics.reconstruction_mse`).
# - **FD**: the Fréchet distance between 10,000 samples ($z \sim \mathcal N(0, I)$, decoded to
#   the mean) and the 10,000 test images, in the 128-dimensional feature space of the MNIST
#   classifier of notebook 06 (`vaelib.eval.frechet`). The floor, real training images against the
#   test images, is printed with it. Lower is better, as for FID, but the values are on another
#   scale: **compare rankings with the report's FID, not values**.
# - the **test ELBO** (β = 1, one sampled $z$ per image), the **rate** (KL) and the
#   **distortion** ($-\log p(x\mid z)$) it is made of, in nats per image, and the number of
#   **active units** (`vaelib.metrics.evaluate`).

# %%
splits = vdata.load_mnist(subset=session.subset)
test_grey = vdata.to_unit(splits.test.images).to(session.device)

clf = session.classifier()  # notebook 06's classifier, from the cache
n_fd = session.size("fd_images")
fd_of = frechet_scorer(test_grey[:n_fd], clf.features)  # images -> FD to the test images


fd_floor = fd_of(vdata.to_unit(splits.train.images[:n_fd]).to(session.device))
results = {}
for name, run in runs.items():
    m = evaluate(run.model, splits.test, eval_targets="grey", iwae_k=0, device=session.device)
    samples = run.model.sample(n_fd, generator=torch.Generator().manual_seed(0))
    results[name] = {"MSE": m["recon_mse"], "FD": fd_of(samples), "ELBO": m["test_elbo"],
                     "rate (KL)": m["test_kl"], "distortion": -m["test_log_px"],
                     "active units": f"{m['active_units']}/{m['latent_dim']}"}
results = pd.DataFrame(results).T
print(f"Fréchet distance floor (real training images vs test images, {n_fd} each): {fd_floor:.2f}")
print(results.to_string(float_format=lambda v: f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"))

# %% [markdown]
# Now the seven rows of the *Experimental Results* report beside ours. The rank columns order the
# models within each metric (1 = best); Spearman's ρ measures how well the two rankings agree
# (1: the same order, 0: unrelated, −1: reversed), computed as the correlation of the ranks.

# %%
report = pd.DataFrame(REPORT_ROWS, index=["report MSE", "report FID"]).T
side = pd.concat([results.loc[list(REPORT_ROWS), ["MSE", "FD"]].astype(float), report], axis=1)
side = side[["MSE", "report MSE", "FD", "report FID"]]
ranks = side.rank().astype(int).add_prefix("rank ")
side_by_side = pd.concat([side, ranks], axis=1)
side_by_side.index.name = "model"


def spearman(a, b):
    return float(np.corrcoef(a.rank(), b.rank())[0, 1])


rho_mse, rho_fd = spearman(side["MSE"], side["report MSE"]), spearman(side["FD"], side["report FID"])
print(side_by_side.to_string(float_format=lambda v: f"{v:.4f}" if v < 1 else f"{v:.2f}"))
print(f"\nSpearman ρ, our MSE vs the report's MSE: {rho_mse:+.2f};  our FD vs the report's FID: {rho_fd:+.2f}")
session.save_table(side_by_side.round(4), "07_results.md")
with session.claims():  # what the text below and the summary say of this table
    assert (side["MSE"] < side["report MSE"]).all()
    # the orders agree, with room for the swaps that run-to-run noise allows (MSE within ~5 %,
    # FD within a few units) between neighbouring models; β = 4 is last on every column
    assert rho_mse > 0.35 and rho_fd > 0.7
    assert all(side[c].idxmax() == "beta-vae-4" for c in ("MSE", "report MSE", "FD", "report FID"))

# %% [markdown]
# **How much of an FD difference is noise?** The FD of a trained model changes with the draw of its
# 10,000 samples. We redraw the samples three more times (sample seeds 1 to 3, the same trained
# models) for the two models whose FDs are closest, `vae-std-z20` and `vae-std-z20-res`, and print
# each model's spread: the yardstick for the FD comparisons over training seeds below.

# %%
fd_seeds = {name: [results.loc[name, "FD"]] + [fd_of(runs[name].model.sample(n_fd, generator=torch.Generator().manual_seed(s)))
                                               for s in (1, 2, 3)]
            for name in ("vae-std-z20", "vae-std-z20-res")}
for name, vals in fd_seeds.items():
    print(f"{name:16} FD over 4 sample seeds: {np.round(vals, 2)}  mean {np.mean(vals):.2f} ± {np.std(vals, ddof=1):.2f}")
gap = abs(np.mean(fd_seeds["vae-std-z20"]) - np.mean(fd_seeds["vae-std-z20-res"]))
noise = max(np.std(v, ddof=1) for v in fd_seeds.values())
print(f"difference of the means {gap:.2f}; largest sample-to-sample standard deviation {noise:.2f}")

# %% [markdown]
# Every MSE of ours is lower than the report's for the same model, and the FD values are on their
# own scale; what can agree is the order. The cells below check the report's claims one by one.
#
# **Three training seeds.** A claim about β, latent size or architecture is a claim about a
# modelling choice, and one trained model per row cannot carry it: a second training run moves
# every number. So every model of this notebook is trained three times
# (`vaelib.runs.REPLICAS`: training seeds 0, 1 and 2; seed 0 is the model of the table above).
# For each seed the two models are compared on the same 10,000 test images: the per-image
# difference (MSE, ELBO, rate or distortion) with a 95 % bootstrap interval over images
# (`vaelib.eval.stats`). A claim about MSE or ELBO **holds in a seed** when that seed's interval
# lies on the claimed side; an FD is a property of a whole sample set, not of single images, so
# an FD claim holds in a seed when that seed's FDs are in the claimed order (the sample-redraw
# noise above is the yardstick). The verdict counts the seeds in which a claim holds: **3/3**
# holds, **0/3** fails, anything between is unclear.

# %%
replicas = session.replicas(NAMES)


def per_image(run):
    """Per-image test scores of one model: MSE at z = μ, and the ELBO, rate and distortion (one z)."""
    parts = per_image_elbo(run.model, test_grey)
    return {"MSE": per_image_mse(run.model, test_grey), "ELBO": parts["elbo"], "rate": parts["kl"],
            "distortion": -parts["log_px"]}


scores = {name: [per_image(r) for r in reps] for name, reps in replicas.items()}
fds = {name: [results.loc[name, "FD"]] + [fd_of(r.model.sample(n_fd, generator=torch.Generator().manual_seed(0)))
                                          for r in reps[1:]] for name, reps in replicas.items()}
seeds = range(len(REPLICA_SEEDS))


@functools.lru_cache(maxsize=None)
def diff(a, b, metric):
    """Per seed, the paired interval of metric(a) - metric(b) over the test images."""
    return seed_intervals([s[metric] for s in scores[a]], [s[metric] for s in scores[b]])


per_seed = pd.DataFrame({(name, m): [s[m].double().mean().item() for s in scores[name]] for name in NAMES
                         for m in ("MSE", "ELBO", "rate")} | {(name, "FD"): fds[name] for name in NAMES}).T
per_seed.columns = [f"seed {s}" for s in seeds]
with pd.option_context("display.width", 200):
    print(per_seed.unstack().swaplevel(axis=1).sort_index(axis=1).round(4).to_string())

# %%
r = results.astype({"MSE": float, "FD": float, "ELBO": float, "rate (KL)": float, "distortion": float})  # seed 0
fc20 = ["vae-std-z20", "vae-std-z20-res", "beta-vae-2", "beta-vae-4"]
mse_steps = [diff(b, a, "MSE") for a, b in zip(["beta-vae-0.5", "vae-std-z20", "beta-vae-2"], ["vae-std-z20", "beta-vae-2", "beta-vae-4"])]
z40 = diff("vae-std-z40", "vae-std-z20", "ELBO")
conv_mse = diff("vae-conv", "vae-std-z20", "MSE")
holds = {  # claim -> per seed: does it hold?
    "β ↑ ⇒ MSE ↑ (β = 0.5, 1, 2, 4)": [all(step[s].sign == 1 for step in mse_steps) for s in seeds],
    "β = 0.5 reconstructs best of the fully connected z = 20 VAEs":
        [all(iv[s].sign == -1 for iv in (diff("beta-vae-0.5", o, "MSE") for o in fc20)) for s in seeds],
    "β = 0.5 does not generate better than β = 1 (FD)": [fds["beta-vae-0.5"][s] >= fds["vae-std-z20"][s] for s in seeds],
    "z = 40 gains little over z = 20 (ELBO within 2 nats)": [-2 < z40[s].lo and z40[s].hi < 2 for s in seeds],
    "the residual encoder generates best (lowest FD of the seven)":
        [min(REPORT_ROWS, key=lambda n: fds[n][s]) == "vae-std-z20-res" for s in seeds],
    "the convolutional VAE has a clearly higher MSE than vae-std-z20 (by over 10 %)":
        [conv_mse[s].lo > 0.1 * scores["vae-std-z20"][s]["MSE"].mean().item() for s in seeds],
    "the convolutional VAE generates better than vae-std-z20 (FD)": [fds["vae-conv"][s] < fds["vae-std-z20"][s] for s in seeds],
}
print("vae-conv − vae-std-z20, MSE per seed: " + "; ".join(iv.format("+.5f") for iv in conv_mse))
print("vae-std-z40 − vae-std-z20, ELBO per seed (nats): " + "; ".join(iv.format("+.2f") for iv in z40))
for claim, h in holds.items():
    print(f"{sum(h)}/{len(h)} seeds  {claim}")
# the verdicts the summary states (full run): in how many of the three seeds each claim holds
SUMMARY_VERDICTS = [3, 3, 3, 3, 0, 1, 3]
with session.claims():
    assert [sum(h) for h in holds.values()] == SUMMARY_VERDICTS, {c: sum(h) for c, h in holds.items()}

# %% [markdown]
# Five of the report's claims hold in all three seeds: MSE rises with β, β = 0.5 reconstructs
# best of the fully connected $z = 20$ models without generating better than β = 1, $z = 40$ gains
# a fraction of a nat of ELBO over $z = 20$, and the convolutional VAE generates better than
# `vae-std-z20`. The residual encoder generates best in no seed: the convolutional VAE's FD is far
# lower in every one. The convolutional VAE's MSE is the interesting case. Its three training runs
# spread widely (the per-seed table: seed 0 below `vae-std-z20`, seed 1 just above, seed 2 more than
# 10 % above, each difference with an interval that excludes zero), so the report's "clearly higher
# MSE" holds in one seed of three, and "level with `vae-std-z20`", what one run suggests, does
# not hold either. What the numbers show is that 10 epochs leave the
# convolutional model's reconstruction error at the mercy of its initialisation, while the fully
# connected models agree across seeds to the third decimal. None of our seeds comes near the
# report's 64 %.

# %% [markdown]
# ## 3 · Rate and distortion
#
# For β = 1 the loss is $D + R = -\mathrm{ELBO}$; for a β-VAE it is $D + \beta R$. A model is a
# point in the $(R, D)$ plane: how many nats its code carries about an image, and how many it
# still needs to describe the image given the code. Lines of slope −1 are lines of equal ELBO.
# Minimising $D + \beta R$ picks the point of the achievable region where a line of slope $-\beta$
# touches it: a large β buys a small rate with a large distortion, a small β the opposite. β = 1
# is the only objective that *is* the ELBO, but one training run at β = 1 need not reach the best
# ELBO of a sweep (KL warm-up, which starts training at β < 1, is known to reach better ones);
# whether it does here is checked below. Shrinking the latent space restricts what the encoder
# and decoder can express; it does not cap the rate: each dimension's KL,
# ½(μ² + σ² − 1 − log σ²), grows without bound as σ → 0, so even a 2-D code could carry any number
# of nats. Where each latent size ends up is a measurement.

# %%
beta_curve = ["beta-vae-0.25", "beta-vae-0.5", "vae-std-z20", "beta-vae-2", "beta-vae-4", "beta-vae-8"]
z_curve = ["vae-std-z2", "vae-std-z5", "vae-std-z10", "vae-std-z20", "vae-std-z40"]
betas = [configs[n][0].beta for n in beta_curve]
fig, ax = plt.subplots(figsize=(7.5, 5.5))
ax.plot(r.loc[beta_curve, "rate (KL)"], r.loc[beta_curve, "distortion"], "o-", label="β sweep (z = 20)")
for n, b in zip(beta_curve, betas):  # β labels below and left of their points, z labels above and right
    text = f"β={b:g}" + (" (z=20)" if n == "vae-std-z20" else "")
    right = n == "vae-std-z20"  # vae-conv's marker sits below and left of this one
    ax.annotate(text, (r.loc[n, "rate (KL)"], r.loc[n, "distortion"]), textcoords="offset points",
                xytext=(6, -16) if right else (-8, -14), ha="left" if right else "right", fontsize=9, color="C0")
ax.plot(r.loc[z_curve, "rate (KL)"], r.loc[z_curve, "distortion"], "s--", label="latent size (β = 1)")
for n in z_curve:
    if n == "vae-std-z20":
        continue  # the β = 1 point, labelled above
    ax.annotate(f"z={configs[n][0].latent_dim}", (r.loc[n, "rate (KL)"], r.loc[n, "distortion"]),
                textcoords="offset points", xytext=(8, 6), fontsize=9, color="C1")
for n, marker in (("vae-std-z20-res", "^"), ("vae-conv", "D")):
    ax.plot(r.loc[n, "rate (KL)"], r.loc[n, "distortion"], marker, ms=9, label=n)
lo, hi = ax.get_xlim()
best = (r["rate (KL)"] + r["distortion"]).min()
for c in (best, best + 10, best + 25):
    xs = np.linspace(lo, hi, 2)
    ax.plot(xs, c - xs, color="0.75", lw=0.8, zorder=0)
ax.set_ylim(r["distortion"].min() - 10, r["distortion"].max() + 10)
ax.set_xlabel("rate R = KL(q(z|x) || p(z)) (nats per image)")
ax.set_ylabel("distortion D = -E_q log p(x|z) (nats per image)")
ax.set_title("Rate–distortion on the test set (grey lines: equal ELBO)")
ax.legend(fontsize=8)
fig.tight_layout()
session.save_figure(fig, "07_rate_distortion.png");

# %% [markdown]
# The checks behind the picture, each in all three training seeds (paired intervals over the test
# images, as in section 2): along the β sweep the rate falls and the distortion rises at every
# step; β = 1 has the best ELBO of the β sweep; the smaller codes end up at lower rates (z = 2 <
# 5 < 10), while z = 40 stays within 20 % of z = 20's rate; z = 2 and z = 5 have more distortion
# than the same seed's β sweep at the same rate; and the convolutional VAE has a better ELBO than
# every fully connected model of its seed.

# %%
rate_b, dist_b = r.loc[beta_curve, "rate (KL)"].to_numpy(), r.loc[beta_curve, "distortion"].to_numpy()
rate_z = r.loc[z_curve, "rate (KL)"].to_numpy()
print("seed 0, β sweep: rate", np.round(rate_b, 1), " distortion", np.round(dist_b, 1))
print("seed 0, latent size: rate", np.round(rate_z, 1))
print("seed 0, ELBO along the β sweep:", r.loc[beta_curve, "ELBO"].round(2).to_dict())
assert np.isfinite(rate_b).all() and np.isfinite(dist_b).all()
beta_steps = list(zip(beta_curve[:-1], beta_curve[1:]))
z_steps = list(zip(z_curve[:3], z_curve[1:4]))
fc = [n for n in NAMES if n != "vae-conv"]


def mean_of(name, metric, s):
    return scores[name][s][metric].double().mean().item()


def above_beta_curve(name, s):
    """Does model `name` of seed s have more distortion than seed s's β sweep at its rate?"""
    rates = np.array([mean_of(n, "rate", s) for n in beta_curve])
    dists = np.array([mean_of(n, "distortion", s) for n in beta_curve])
    order = np.argsort(rates)
    return mean_of(name, "distortion", s) > np.interp(mean_of(name, "rate", s), rates[order], dists[order])


z40_rate = diff("vae-std-z40", "vae-std-z20", "rate")
rd_holds = {
    "β ↑: the rate falls at every step": [all(diff(b, a, "rate")[s].sign == -1 for a, b in beta_steps) for s in seeds],
    "β ↑: the distortion rises at every step": [all(diff(b, a, "distortion")[s].sign == 1 for a, b in beta_steps)
                                               for s in seeds],
    "β = 1 has the best ELBO of the β sweep": [all(diff("vae-std-z20", o, "ELBO")[s].sign == 1 for o in beta_curve
                                                 if o != "vae-std-z20") for s in seeds],
    "z = 2 < 5 < 10 in rate": [all(diff(b, a, "rate")[s].sign == 1 for a, b in z_steps) for s in seeds],
    "z = 40's rate within 20 % of z = 20's": [max(abs(z40_rate[s].lo), abs(z40_rate[s].hi)) < 0.2 * mean_of("vae-std-z20", "rate", s)
                                            for s in seeds],
    "z = 2 and 5 lie above the β curve": [above_beta_curve("vae-std-z2", s) and above_beta_curve("vae-std-z5", s) for s in seeds],
    "the convolutional VAE has the best ELBO": [all(diff("vae-conv", o, "ELBO")[s].sign == 1 for o in fc) for s in seeds],
}
for claim, h in rd_holds.items():
    print(f"{sum(h)}/{len(h)} seeds  {claim}")
RD_VERDICTS = [3, 3, 3, 3, 3, 3, 3]  # every check of the picture, in every seed
with session.claims():
    assert [sum(h) for h in rd_holds.values()] == RD_VERDICTS, {c: sum(h) for c, h in rd_holds.items()}

# %% [markdown]
# ### Rate is not information
#
# The rate averages $\mathrm{KL}(q(z \mid x) \,\|\, p(z))$ over images, and it splits in two
# (Hoffman & Johnson 2016):
#
# $$\mathbb E_x\,\mathrm{KL}\big(q(z \mid x) \,\|\, p(z)\big) = I_q(x; z) + \mathrm{KL}\big(q(z) \,\|\, p(z)\big),
# \qquad q(z) = \mathbb E_x\, q(z \mid x):$$
#
# the information the code carries about which image it came from, plus the mismatch between
# the **aggregate posterior** $q(z)$ (all codes together) and the prior. Only the first is
# information; the second is what the prior pays for codes that do not fill it the way it expects,
# and it is what makes prior samples look unlike data. `vaelib.metrics.rate_decomposition`
# estimates both on $N$ test images, with $q(z)$ the mixture of their $N$ posteriors. By
# construction $I_q \le \log N$ (a code can tell at most $N$ images apart), so for a rate well
# above $\log N$ the split is capped, not measured: we read it only for the small latent sizes.

# %%
n_mi = session.size("mi_images")
x_mi = test_grey[:n_mi]
split = pd.DataFrame({n: rate_decomposition(runs[n].model, x_mi, samples=2) for n in z_curve}).T
split = split[["rate", "mutual_information", "marginal_kl", "mutual_information_se", "marginal_kl_se"]].astype(float)
print(f"N = {n_mi} test images, 2 draws of z per image; I_q <= log N = {math.log(n_mi):.2f} nats")
print(split.round(2).to_string())
assert np.allclose(split["rate"], split["mutual_information"] + split["marginal_kl"], atol=1e-3)
assert (split["mutual_information"] <= math.log(n_mi) + 1e-3).all()
with session.claims():
    low = split.loc["vae-std-z2"]
    assert low["rate"] < math.log(n_mi) - 1  # well below the cap: its split is a measurement
    assert low["marginal_kl"] > 4 * low["marginal_kl_se"]  # the 2-D codes do not fill the prior as it expects
    assert low["mutual_information"] > 0.8 * low["rate"]  # most of its rate is information
    capped = split.loc[["vae-std-z10", "vae-std-z20", "vae-std-z40"], "mutual_information"]
    assert (capped > math.log(n_mi) - 0.25).all()  # at the log N ceiling: a bound, not a measurement

# %% [markdown]
# The estimate of $I_q$ is a lower bound (it is the InfoNCE bound with $q(z \mid x)$ as the critic),
# and the printed marginal KL, the rate minus that estimate, an upper bound on the mismatch. For
# $z = 2$ the rate sits well below $\log N$ and the split is a measurement: most of the rate is
# information, and a fraction of a nat (several standard errors from zero) is the price of an
# aggregate posterior that does not match the prior exactly. From $z = 10$ on, the information
# estimate sits at the $\log N$ ceiling, so all the table says is that these codes carry at least
# that much; the larger rates of $z = 20$ and $z = 40$ may be information or mismatch, and $N$ test
# images cannot tell which. So "more rate" does not mean "more information": the two must be
# measured apart, and for rates of tens of nats that takes far more images (or a bound that does
# not cap at $\log N$).

# %% [markdown]
# ## 4 · Latent traversals for β = 4
#
# Higgins et al. (2017) proposed β > 1 to make each latent dimension capture one factor of
# variation ("disentanglement"). A **latent traversal** shows what one dimension does: take the
# code $\mu(x)$ of one image, sweep coordinate $d$ from −3 to 3 while the others stay fixed, and
# decode (`vaelib.eval.latent.traverse`).
#
# **Exercise (`traverse`).** Return the $n$ codes of a traversal: row $i$ equal to `z0` except
# that coordinate `dim` is `values[i]`. Do not modify `z0`.

# %% tags=["exercise"]
import torch


def traverse(z0: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
    """z0: [D], values: [n] -> [n, D]; row i is z0 with coordinate dim set to values[i]."""
    # HINT: repeat z0 into n rows (a copy, not a view of z0), then write the values into column dim
    # BEGIN SOLUTION
    z = z0.unsqueeze(0).repeat(values.shape[0], 1)
    z[:, dim] = values
    return z
    # END SOLUTION


# %%
from vaecourse.assignments import exercise_check

with exercise_check("traverse"):
    z_check = torch.randn(5, generator=torch.Generator().manual_seed(3))
    yours = traverse(z_check.clone(), 2, torch.linspace(-1.0, 1.0, 4))
    print(yours)
    assert torch.equal(yours, vaelib_traverse(z_check, 2, torch.linspace(-1.0, 1.0, 4)))

# %% [markdown]
# Which dimensions to traverse? A β-VAE switches some off. `vaelib.metrics.kl_per_dimension`
# gives the mean KL each dimension carries; we traverse the six that carry most, for β = 4 and,
# for comparison, for β = 1, starting from the same test image.

# %%
values = torch.linspace(-3, 3, 9)
x0 = test_grey[:1]
views = {}
fig, axes = plt.subplots(1, 2, figsize=(12, 6.2))
for ax, name in zip(axes, ["beta-vae-4", "vae-std-z20"]):
    model = runs[name].model
    kl_d, mu = kl_per_dimension(model, test_grey)
    top = torch.argsort(kl_d, descending=True)[:6]
    with torch.no_grad():
        z0 = model.encode(x0)[0][0]
        images = torch.cat([model.mean(model.decode(vaelib_traverse(z0, int(d), values.to(z0)))) for d in top])
    show_grid(images.cpu(), ax=ax, nrow=len(values),
              title=f"{name} (β = {configs[name][0].beta:g}): dims {top.tolist()}, −3 … 3")
    views[name] = dict(kl_d=kl_d, top=top, active=active_units(mu))
fig.tight_layout()
session.save_figure(fig, "07_traversals_beta4.png");

# %% [markdown]
# Each row is one dimension swept from −3 (left) to 3 (right). The numbers below say how the KL is
# spread: how many dimensions are active, and what share of the KL the six traversed dimensions
# carry.

# %%
for name, v in views.items():
    share = v["kl_d"][v["top"]].sum().item() / v["kl_d"].sum().item()
    v["share"] = share
    print(f"{name:12} active units {v['active']:>2}/20; total KL {v['kl_d'].sum():.1f} nats; "
          f"the six largest dimensions carry {100 * share:.0f} % of it; "
          f"KL per dimension, largest first: {np.round(torch.sort(v['kl_d'], descending=True).values.numpy()[:8], 2)}")
with session.claims():
    assert views["beta-vae-4"]["active"] < views["vae-std-z20"]["active"]
    assert views["beta-vae-4"]["share"] > views["vae-std-z20"]["share"]

# %% [markdown]
# The grid above moves one dimension at a time. The sliders below (in JupyterLab, with the kernel
# running) move the six strongest dimensions of the β = 4 model together, starting from the code
# of the same test image, and show the decoded digit beside the one decoded at the start
# (`vaelib.eval.explore.traversal_explorer`). The figure above the sliders is their static
# version: the two strongest dimensions swept together from −3 to 3, the others left at the start.

# %%
from vaelib.eval.explore import traversal_explorer, traversal_figure

beta4 = runs["beta-vae-4"].model
with torch.no_grad():
    z0_beta4 = beta4.encode(x0)[0][0]
strongest = views["beta-vae-4"]["top"].tolist()
traversal_figure(beta4, z0_beta4, (strongest[0], strongest[1]))
plt.show()
traversal_explorer(beta4, z0_beta4, strongest)

# %% [markdown] tags=["question"]
# **Question.** The *Experimental Results* report reads its β rows as "higher β: worse MSE but
# potentially better disentanglement". Which half of that sentence does this notebook measure,
# and what does the rate–distortion plot say about why β = 4 reconstructs worse?

# %% [markdown] tags=["answer"]
# **Answer.**
# The MSE half is measured, and it holds: the claims cell shows the MSE rising with β at every step
# (0.5 → 1 → 2 → 4). Disentanglement is only looked at, not measured: the traversals show that the
# β = 4 model switches dimensions off (fewer active units) and concentrates its KL in fewer
# dimensions, but MNIST has no labelled factors of variation to score disentanglement against. The
# rate–distortion plot gives the reason for the MSE: β = 4 prices each nat of rate four times, so
# the model moves to a point with a much smaller rate; with fewer nats about the image in the code,
# the distortion, and with it the reconstruction error, must grow.

# %% [markdown]
# ## Summary
#
# The table of section 2 and the claims cell print the numbers this summary rests on; the full run
# asserts the rate–distortion and traversal claims.
#
# - **Our MSEs are lower than the *Experimental Results* report's for every row**, under the same
#   protocol, and the rankings agree: the Spearman ρ of our MSE against the report's and of our FD
#   against the report's FID are both clearly positive (printed in section 2; seed 0's models),
#   and β = 4 is last on all four columns. Our classifier-feature FD orders the seven models much
#   as the report's Inception FID does, although its values are on another scale; neighbouring
#   models can swap places from run to run.
# - **β orders reconstruction exactly as the report says**, in all three training seeds: MSE
#   rises with β, and β = 0.5 reconstructs best of the fully connected z = 20 models but does not
#   generate better than β = 1. z = 40 gains almost nothing over z = 20 (ELBO within 2 nats in every
#   seed): the report's "minimal improvement".
# - **Two of the report's claims do not hold here.** The residual encoder does *not* generate best
#   in any seed: the convolutional VAE has by far the lowest FD of the seven in each. And the
#   convolutional VAE's higher MSE is not a property of the architecture under this protocol: its
#   three training runs range from below `vae-std-z20`'s MSE to more than 10 % above it, so "clearly higher"
#   holds in one seed of three (the report's is 64 % higher). The report's reading ("10 epochs may
#   not be enough for the conv VAE") fits the spread we see: after 10 epochs its reconstruction
#   error still depends on the seed.
# - **β moves a model along the rate–distortion curve.** In every training seed, every step up in
#   β lowers the rate and raises the distortion, and β = 1 has the best ELBO of the β sweep (the
#   only objective that is the ELBO reached the best one here, which a run need not do). Latent size does not cap
#   the rate, but the smaller codes end up at lower rates and trade rate for distortion worse:
#   z = 2 and 5 sit on a higher curve, while z = 40 adds almost nothing to z = 20. Rate is not
#   information: for z = 2 most of its rate is (measured on 5,000 test images), for z ≥ 10 the
#   information estimate hits its log N ceiling and the split cannot be read. The convolutional VAE lies *below*
#   the fully connected curve: a better architecture moves the curve itself, which β cannot.
# - **β = 4 switches dimensions off** (fewer active units; seed 0's models, like the traversals and the
#   rate split) and puts a larger share of its KL into
#   its six strongest dimensions; their traversals change the slant, width and identity of the
#   digit (a 7 turning into a 9 or a 0), which is not the one-factor-per-dimension picture that
#   "disentanglement" promises.

# %%
print(side_by_side.to_string(float_format=lambda v: f"{v:.4f}" if v < 1 else f"{v:.2f}"))
train_minutes = sum(run.history["seconds"].sum() for run in runs.values()) / 60
print(f"training time from the histories: {train_minutes:.1f} min for {len(runs)} models")
session.report_run_time()

# %% [markdown]
# Next: [08 · beyond the VAE](08_other_autoencoders.ipynb): Wasserstein, Gaussian-mixture and
# vector-quantised autoencoders under the same protocol.

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
# # 01 · MNIST as tensors
#
# **What you will learn**
#
# - MNIST as one `uint8` tensor, in three splits;
# - why its nearly binary pixels decide the decoder's likelihood, and what a grey "BCE" computes;
# - grey, dynamically binarized and fixed binarized targets;
# - how Fashion-MNIST differs.
#
# **You need** basic PyTorch tensors. **Run time**: printed by the setup cell below, from the measured
# records. Evidence tags: see [How to read the claims](#How-to-read-the-claims).
#
# The series reproduces and checks five public write-ups of VAEs on MNIST (*Bernoulli vs Gaussian*,
# *VAE-MNIST*, *Experimental Results*, *VAE Implementation*, *VAE activity*); each notebook that
# checks one says what it claimed in a closing section.

# %% [markdown]
# ## How to read the claims
#
# Every number in the prose is printed by the cell above it, and every claim is asserted in code (a
# plain `assert`, or `with session.claims():` where it needs trained models). A tag gives the evidence:
#
# - **[exact]**: a closed form, an identity, or a count over a fixed data set.
# - **[1 run]**: one trained model.
# - **[3 seeds]**: a verdict on a modelling choice (likelihood, architecture, β, latent size): each
#   training seed gives a paired difference between the two choices, and a Student-t interval over the
#   seeds reads "lower" or "higher" if it excludes zero, "undecided" if the seeds cannot decide.
# - **[n = 10,000, k = 100]**: a log-likelihood estimate from n test images, k importance samples each.
# - **[10,000 images, paired]**: a bootstrap over paired test images: whether two trained models
#   differ, not whether their methods do.
#
# Read a single-run observation as an example that another seed may not repeat: a hypothesis, not a
# property of the method.

# %% [markdown]
# ## Setup
#
# One cell fixes the seed, picks the device and prints the run time.

# %%
import math

import matplotlib.pyplot as plt
import pandas as pd
import torch

from vaelib.notebook import setup  # first: it also sets up the notebook environment
from vaelib.data import binarize, fixed_binarization, load_mnist, load_test_split, to_unit
from vaelib.losses import bernoulli_log_prob, gaussian_log_prob
from vaelib.eval.plots import show_grid

session = setup("01")

# %% [markdown]
# ## Loading the splits
#
# `vaelib.data.load_mnist` reads the MNIST files committed under `data/MNIST/raw/`. The *validation*
# split is 10,000 of the 60,000 official training images,
# chosen by a seeded permutation, so model selection never sees the test set. Each split holds whole
# tensors, `images` (`uint8 [N, 1, 28, 28]`, grey values 0…255) and `labels` (`int64 [N]`).

# %% tags=["nbval-check-output"]
splits = load_mnist()
for name in ("train", "val", "test"):
    s = getattr(splits, name)
    print(f"{name:>5}: images {tuple(s.images.shape)} {s.images.dtype}, labels {tuple(s.labels.shape)} {s.labels.dtype}")

train_pos, val_pos = set(splits.train.index.tolist()), set(splits.val.index.tolist())
print("train and val share", len(train_pos & val_pos), "images and cover", len(train_pos | val_pos), "of the official training file")
assert splits.train.images.dtype == torch.uint8 and splits.train.images.shape[1:] == (1, 28, 28)
assert not train_pos & val_pos and len(train_pos | val_pos) == 60_000

# %% [markdown]
# Validation and training images are disjoint and together make up the official training file [exact].
#
# ## What the digits look like
#
# `vaelib.data.to_unit` maps grey values to $x = \text{grey} / 255 \in [0, 1]$; from here on $x$
# always means this scaled value.

# %%
first = splits.train.images[:64]
fig, ax = plt.subplots(figsize=(9.6, 2.6))
show_grid(to_unit(first), ax=ax, nrow=16, title="the first 64 training digits (grey values / 255)");
session.save_figure(fig, "01_digits.png");

# %% tags=["nbval-check-output"]
print(splits.train.labels[:64].reshape(4, 16))

# %% [markdown]
# The labels of the grid, row by row: white strokes on a mostly black square.
#
# ## Pixel intensities: nearly binary
#
# How many training pixels are exactly black (0), exactly white (255), or grey in between?

# %% tags=["nbval-check-output"]
counts = torch.bincount(splits.train.images.flatten(), minlength=256).double()
frac = counts / counts.sum()
frac_black, frac_white, frac_grey = frac[0].item(), frac[255].item(), frac[1:255].sum().item()
near_ends = (frac[1:26].sum() + frac[230:255].sum()).item()  # grey, but within 25 of 0 or 255
print(f"training pixels: {int(counts.sum()):,}")
print(f"exactly 0 (black):    {frac_black:.1%}")
print(f"exactly 255 (white):  {frac_white:.1%}")
print(f"in between (grey):    {frac_grey:.1%}, of which {near_ends / frac_grey:.0%} lie within 25 of 0 or 255")
assert frac_black > 0.75 and frac_grey < 0.25

# %%
always_black = int((splits.train.images.amax(dim=0) == 0).sum())  # positions 0 in every training image
print(f"pixel positions black in every training image: {always_black} of 784")
assert frac_white < 0.01 and 0.4 < near_ends / frac_grey < 0.6 and always_black > 0
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(range(256), counts.numpy(), width=1.0, color="0.3")
ax.set_yscale("log")
ax.set_xlabel("grey value")
ax.set_ylabel("training pixels (log scale)")
ax.set_title("MNIST pixel values: a spike at 0, a bump near 255, little in between");

# %% [markdown]
# Four pixels in five are exactly black, almost none exactly white, about half the grey ones lie
# within 25 levels of either end [exact], and some positions are black in every training image. MNIST
# is *almost* binary, and that shapes the decoder's likelihood $p(x \mid z)$:
#
# * **Bernoulli**: pixel $i$ is a coin showing 1 with probability $\sigma(\ell_i)$, $\ell_i$ the
#   decoder's logit: $\log p(x \mid z) = \sum_i x_i \log \sigma(\ell_i) + (1 - x_i) \log(1 - \sigma(\ell_i))$
#   (`vaelib.losses.bernoulli_log_prob`). On binary targets it is a log-*probability*, at most 0.
#   On **grey** targets it is the "BCE loss" of most VAE code, and no longer a log-probability.
# * **Gaussian**: $\log \mathcal N(x; \hat x, \sigma^2 I)$ (`vaelib.losses.gaussian_log_prob`) is a
#   *density*: it puts mass outside $[0, 1]$, and a perfect mean with a small $\sigma$ scores without
#   bound. For a given mean the best $\sigma$ is the root-mean-square error of the pixels it covers,
#   $\hat\sigma^2 = \frac1N \sum_i (x_i - \hat x_i)^2$ [exact]. So a $\sigma$ learned *per pixel*
#   shrinks towards 0 on always-black pixels (vaelib floors it: `ModelConfig.min_sigma`), while one
#   $\sigma$ shared by all pixels settles at a positive value, held up by grey edges no decoder
#   predicts exactly (notebook 03 learns it).
#
# The cell below scores each on the 10,000 test digits at its best decoder output.

# %% tags=["nbval-check-output"]
grey = to_unit(splits.test.images)  # [10000, 1, 28, 28] in [0, 1]
binary = fixed_binarization(splits.test.images)  # one fixed Bernoulli draw (see below)

# Bernoulli, binary targets, perfect logits (±30 means certainty to ~1e-13): a log-probability <= 0
bern_binary = bernoulli_log_prob(binary, 60.0 * binary - 30.0)
# Bernoulli, grey targets, best logits = logit(x): what is left is minus the binary entropy
entropy = -(torch.xlogy(grey, grey) + torch.xlogy(1 - grey, 1 - grey)).sum(dim=(1, 2, 3))
bern_grey = bernoulli_log_prob(grey, torch.logit(grey, eps=1e-7))
# Gaussian, grey targets, perfect mean, a few fixed sigmas: a log-density, unbounded as sigma -> 0
table = pd.DataFrame(
    {
        "targets": ["binary", "grey"] + ["grey"] * 3,
        "likelihood": ["Bernoulli", "Bernoulli"] + [f"Gaussian, sigma = {s}" for s in (0.1, 0.01, 0.001)],
        "best log p(x|z), nats per image": [bern_binary.mean().item(), bern_grey.mean().item()]
        + [gaussian_log_prob(grey, grey, torch.tensor(s).log()).mean().item() for s in (0.1, 0.01, 0.001)],
    }
).round(2)
table.iloc[:, 2] += 0.0  # no "-0.00": a rounded -1e-11 is a plain 0
below_zero = torch.distributions.Normal(0.0, 0.1).cdf(torch.tensor(0.0)).item()
print(table.to_string(index=False))
print(f"\nmean binary entropy of the grey test digits: {entropy.mean():.2f} nats per image")
print(f"a Gaussian with mean 0 (a black pixel) puts {below_zero:.0%} of its mass below 0")

assert bern_binary.max() <= 0 and bern_binary.mean() > -1e-6
assert torch.allclose(bern_grey, -entropy, atol=0.05)  # best grey BCE = -H(x), not 0
assert bern_grey.max() < 0 and bern_grey.mean() < -10  # grey digits: far from 0 nats
gauss = table["best log p(x|z), nats per image"].iloc[2:].tolist()
assert 0 < gauss[0] < gauss[1] < gauss[2]  # a density: positive, and growing as sigma shrinks

# %% [markdown]
# Binary targets reach 0 nats; grey targets under a Bernoulli stop at minus the mean binary entropy
# printed below the table; a Gaussian's best score grows as $\sigma$ shrinks, so its "NLL" depends on
# the $\sigma$ you chose [exact].
#
# What, then, *is* the grey BCE? Read $x_i$ as the probability that pixel $i$ is on, and draw a
# binary image $b_i \sim \mathrm{Bernoulli}(x_i)$. As $\log p(b \mid z)$ is linear in each $b_i$, its
# expectation replaces $b_i$ by $x_i$:
#
# $$\mathbb E_{b \sim \mathrm{Bern}(x)}\big[\log p(b \mid z)\big]
#   = \sum_i x_i \log \sigma(\ell_i) + (1 - x_i) \log\big(1 - \sigma(\ell_i)\big) = -\mathrm{BCE}(x, \sigma(\ell)).$$
#
# A Bernoulli decoder trained on grey targets is thus trained on the **expected log-probability of a
# random binarization**: a model of binary digits, fitted to all binarizations at once. Per pixel,
# $x \log p + (1-x)\log(1-p)$ is largest at $p = x$ (Gibbs' inequality), where it equals $-H(x)$. So
# $-H(x)$ is a *ceiling*: every decoder has $-\mathrm{BCE}(x, \sigma(\ell)) \le -\sum_i H(x_i)$, with
# equality only at $\sigma(\ell_i) = x_i$ (as a loss, the entropy is the BCE's floor). The cell below
# checks both on 100 test digits, with imperfect logits.

# %%
gen = torch.Generator().manual_seed(0)
x_g = grey[:100]
logits_g = torch.logit(x_g, eps=1e-3) + torch.randn(x_g.shape, generator=gen)  # some decoder's imperfect logits
bce_grey = bernoulli_log_prob(x_g, logits_g)  # [100], the grey "BCE" (as a log-likelihood)
draws = torch.stack([bernoulli_log_prob(torch.bernoulli(x_g, generator=gen), logits_g) for _ in range(2000)])
mc, mc_se = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
z_scores = (mc - bce_grey) / mc_se
print(f"grey BCE (as log-likelihood), mean over 100 digits: {bce_grey.mean():.2f} nats; "
      f"Monte Carlo E_b log p(b|z): {mc.mean():.2f}; largest |difference| / SE over the 100 digits: {z_scores.abs().max():.2f}")
assert z_scores.abs().max() < 4.5  # equal up to Monte Carlo noise, image by image
assert (bce_grey <= -entropy[:100] + 1e-3).all()  # never above the -H(x) ceiling

# %% [markdown]
# The two agree within the Monte-Carlo noise, and every image stays below its ceiling [exact]. The
# series therefore reports likelihoods of Bernoulli decoders on *binarized*
# digits, and uses grey targets only where it reproduces code that does (the `pytorch-example` preset).
#
# ## Three kinds of targets
#
# Binarizing turns each grey digit into coin flips, $b_i \sim \mathrm{Bernoulli}(x_i)$, $x_i \in [0, 1]$:
#
# * **grey**: `to_unit(images)`, no randomness.
# * **dynamic binarization**: `vaelib.data.binarize(x, generator)` flips fresh coins for every batch,
#   so each epoch sees new binary images (the usual choice for training).
# * **fixed binarization**: `vaelib.data.fixed_binarization(images, seed=0)` flips them once, with
#   seed 0, for evaluation. It is this series' own draw, not the static binarized MNIST of Larochelle &
#   Murray (2011) used in much of the literature, so its NLLs are not comparable with those numbers.

# %% tags=["nbval-check-output"]
g = torch.Generator().manual_seed(0)
dynamic_1 = binarize(grey, generator=g)  # two draws from one generator: different coins
dynamic_2 = binarize(grey, generator=g)
fixed_again = fixed_binarization(splits.test.images, seed=0)  # the same seed: the same coins

differ = (dynamic_1 != dynamic_2).float().mean().item()
expected = (2 * grey * (1 - grey)).mean().item()  # P(two coins differ) = 2p(1-p), averaged
print(f"pixels where the two dynamic draws differ: {differ:.3%} (expected 2p(1-p) on average: {expected:.3%})")
print(f"pixels where the two fixed draws differ:   {(binary != fixed_again).float().mean().item():.3%}")
print(f"mean pixel value: grey {grey.mean():.4f}, fixed binarization {binary.mean():.4f}")
assert not torch.equal(dynamic_1, dynamic_2)
assert torch.equal(binary, fixed_again)  # reproducible
assert abs(differ - expected) < 0.001
assert abs(binary.mean() - grey.mean()) < 0.001  # a Bernoulli draw keeps the mean

# %%
rows = {
    "grey x / 255": grey[:10],
    "dynamic, draw 1": dynamic_1[:10],
    "dynamic, draw 2": dynamic_2[:10],
    "fixed (seed 0)": binary[:10],
    "fixed again": fixed_again[:10],
}
fig, axes = plt.subplots(len(rows), 1, figsize=(7, 5.2))
for ax, (title, images) in zip(axes, rows.items()):
    show_grid(images, ax=ax, nrow=10)
    ax.set_title(title, fontsize=9, loc="left")
fig.tight_layout()
session.save_figure(fig, "01_binarization.png");

# %% [markdown]
# Two dynamic draws differ on a few percent of the pixels, as $2p(1-p)$ predicts: only the grey edges
# flicker. The fixed binarization is the same every time, and binarizing keeps the mean brightness.
#
# ## Split sizes and class balance
#
# How many images of each digit does each split hold?

# %% tags=["nbval-check-output"]
balance = pd.DataFrame(
    {name: torch.bincount(getattr(splits, name).labels, minlength=10).numpy() for name in ("train", "val", "test")}
)
balance.index.name = "digit"
shares = balance / balance.sum()
balance.loc["total"] = balance.sum()
table = balance.join((100 * balance / balance.loc["total"]).round(2).add_suffix(" %"))
print(f"most frequent digit in train: {shares['train'].idxmax()} ({shares['train'].max():.1%}); "
      f"least frequent: {shares['train'].idxmin()} ({shares['train'].min():.1%})")
print(f"largest train/val difference in a digit's share: {(shares['train'] - shares['val']).abs().max():.2%}")
assert balance.loc["total"].tolist() == [50_000, 10_000, 10_000]
assert shares.min().min() > 0.08 and shares.max().max() < 0.12  # roughly balanced, every split
assert (shares["train"] - shares["val"]).abs().max() < 0.01  # a random split keeps the balance
table

# %% [markdown]
# Close to balanced: the most and least frequent digits are a couple of points apart, and each
# digit's validation share is within a point of its training share [exact].
#
# ## Fashion-MNIST, a harder sibling
#
# Fashion-MNIST has MNIST's format (28 × 28 grey images, ten classes of clothing) and ships with the
# repository: `load_test_split(dataset="fashion-mnist")` loads its test images, `load_mnist(...)` all
# its splits. Notebook 07 uses it for anomaly detection.

# %%
fashion = load_test_split(dataset="fashion-mnist")  # the 10,000 test images
f_counts = torch.bincount(fashion.images.flatten(), minlength=256).double()
f_frac = f_counts / f_counts.sum()
f_grey = to_unit(fashion.images)
f_entropy = -(torch.xlogy(f_grey, f_grey) + torch.xlogy(1 - f_grey, 1 - f_grey)).sum(dim=(1, 2, 3))
print(f"{'':>28}{'MNIST':>8}{'Fashion (test)':>15}")
print(f"{'exactly 0':>28}{frac_black:>8.1%}{f_frac[0].item():>15.1%}")
print(f"{'in between (grey)':>28}{frac_grey:>8.1%}{f_frac[1:255].sum().item():>15.1%}")
print(f"{'binary entropy, nats/image':>28}{entropy.mean().item():>8.1f}{f_entropy.mean().item():>15.1f}")
assert f_frac[1:255].sum().item() > 2 * frac_grey  # far more grey pixels than MNIST
assert f_entropy.mean() > 3 * entropy.mean()  # several times the irreducible grey entropy
fig, ax = plt.subplots(figsize=(9.6, 1.4))
show_grid(to_unit(fashion.images[:32]), ax=ax, nrow=16, title="the first 32 Fashion-MNIST test images");

# %% [markdown]
# Far more of its pixels are grey (textures, shading), so binarizing loses more of the picture, and
# the grey targets' irreducible entropy is several times MNIST's [exact].
#
# ## Summary

# %%
summary = pd.Series(
    {
        "training pixels exactly 0": f"{frac_black:.1%}",
        "training pixels grey (1..254)": f"{frac_grey:.1%}",
        "best grey-target Bernoulli log p(x|z), nats/image": f"{bern_grey.mean().item():.2f}",
        "pixels flipping between two dynamic draws": f"{differ:.2%}",
        "train / val / test images": " / ".join(str(n) for n in balance.loc["total"].tolist()),
    }
)
print(summary.to_string())
session.report_run_time()

# %% [markdown]
# * MNIST is nearly binary: four pixels in five are exactly black [exact]. A Bernoulli on binarized
#   digits gives true log-probabilities.
# * On grey targets the Bernoulli formula is the expected log-probability of a random binarization,
#   capped at $-\sum_i H(x_i)$ (third line) [exact]: grey "BCE" numbers are not log-likelihoods.
# * A Gaussian density's best value grows without bound as $\sigma$ shrinks [exact].
# * A dynamic binarization flips a few percent of the pixels per draw [exact]; the series evaluates on
#   a fixed one (seed 0), not the literature's static binarized MNIST.
# * The splits are 50,000 / 10,000 / 10,000 and nearly balanced [exact].

# %% [markdown] tags=["question"]
# **Question.** A VAE with a Bernoulli decoder is trained on *grey* MNIST targets and reports its
# reconstruction loss, $-\log p(x \mid z)$ summed over pixels, on these test digits. What is the
# lowest value any decoder could reach, why is it not 0, and which numbers printed above tell you?

# %% [markdown] tags=["answer"]
# **Answer.**
# The mean binary entropy of the grey test digits, printed under the likelihood table: the best
# logits, $\ell_i = \operatorname{logit}(x_i)$, leave exactly $\sum_i H(x_i)$ (the "grey / Bernoulli"
# row). A grey pixel is a coin to a Bernoulli likelihood, which no decoder predicts with certainty;
# only binary targets (first row) reach 0.

# %% [markdown]
# ## References
#
# - LeCun, Bottou, Bengio & Haffner (1998). Gradient-based learning applied to document recognition. *Proc. IEEE*.
# - Xiao, Rasul & Vollgraf (2017). Fashion-MNIST. arXiv:1708.07747.
# - Larochelle & Murray (2011). The neural autoregressive distribution estimator. *AISTATS*.
# - Kingma & Welling (2014). Auto-encoding variational Bayes. *ICLR*.
# - Loaiza-Ganem & Cunningham (2019). The continuous Bernoulli: fixing a pervasive error in VAEs. *NeurIPS*.
#
# **Next:** [02 · the reparameterization trick and the ELBO](02_reparameterization.ipynb).

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
# **What this notebook teaches.** What a VAE on MNIST actually sees: 70,000 grey-scale digits as
# one `uint8` tensor, how their pixel values are distributed, and why that distribution decides
# the likelihood of the decoder. We compare the three kinds of *targets* the rest of the series
# uses (grey values, a dynamic binarization, a fixed binarization), look at the
# train / validation / test split and its class balance, and meet Fashion-MNIST, a harder
# sibling with the same shape.
#
# **Prerequisites.** None: this is the first notebook. Basic PyTorch tensors help.
#
# **Exercise.** One open question (marked *Question*) asks you to read the notebook's numbers.
#
# **Run time.** Everything here is cheap. How long it takes on this project's 2-core CPU, from an empty cache and from the
# `checkpoints/` cache, is in the README's run-time table (written by `make run`, never typed);
# the last cell prints this run's own time. On a GPU: not measured yet.
# Because it is cheap, the test mode
# (`VAE_NOTEBOOKS_TEST=1`) runs the same computations on the full splits; it only skips saving
# the figures.
#
# **The source documents.** The series retrains, and checks the claims of, five write-ups of VAEs
# on MNIST. Later notebooks refer to them by these names, and name the document wherever they
# set our numbers beside its claims:
#
# - the ***Bernoulli vs Gaussian* project** (`bernoulli_gaussian_vae`, "VAE Comparison: Bernoulli
#   vs Gaussian"): a 784-400-400-40 VAE with a Bernoulli and with a Gaussian decoder, and a sweep
#   of the Gaussian's σ (notebook 03);
# - the ***VAE-MNIST* project**: fully connected and convolutional VAEs, each trained with a BCE
#   and with an MSE loss, the 2 × 2 table of notebooks 04 and 05;
# - the ***Experimental Results* report** ("Variational Autoencoders on MNIST: Experimental
#   Results"): seven VAE variants (β, latent size, residual and convolutional encoders), a WAE and
#   a GM-VAE under one protocol, scored by reconstruction MSE and FID, and a VQ-VAE it found too
#   unstable to report (notebooks 06–08);
# - the ***VAE Implementation* tutorial** ("Variational Autoencoders (VAE) Implementation", the
#   *VariationalAutoencoders* repository): a 784-256-128-2 VAE with batch norm, dropout, a
#   learning-rate schedule and early stopping, with anomaly detection as an application
#   (notebooks 04 and 06);
# - the ***VAE activity* report** ("Variational Autoencoder on MNIST", written from a
#   `vae_activity` notebook): a 784-400-2 VAE whose 2-D latent space is drawn (notebook 04).
#
# `vaelib.runs.PRESETS` holds each of their models as a preset whose `source` names the document.

# %% [markdown]
# ## Setup
#
# One cell fixes the seed, picks the device and reads the test-mode switch, once.

# %%
import math

import matplotlib.pyplot as plt
import pandas as pd
import torch

from vaelib.notebook import setup  # first: it also sets up the notebook environment
from vaelib.data import binarize, fixed_binarization, load_mnist, load_test_split, to_unit
from vaelib.losses import bernoulli_log_prob, gaussian_log_prob
from vaelib.eval.plots import show_grid

session = setup()

# %% [markdown]
# ## Loading the splits
#
# `vaelib.data.load_mnist` reads the four official MNIST files committed under `data/MNIST/raw/`
# (checked against their sha256; nothing is ever downloaded) and returns three splits. The
# *validation* split is carved from the 60,000 official training images by a seeded permutation,
# so early stopping and model selection never look at the official test set.
#
# Each split holds whole tensors: `images` is `uint8 [N, 1, 28, 28]` with grey values
# 0…255, `labels` is `int64 [N]`. Training code slices batches out of these tensors by index;
# there is no per-image `Dataset` object.

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
# The validation images are disjoint from the training images, and together they are exactly the
# official training file. The test split is the official test file, untouched.
#
# ## What the digits look like
#
# `vaelib.data.to_unit` maps the grey values to $x/255 \in [0, 1]$ for plotting and for the
# models; `vaelib.eval.plots.show_grid` draws a batch as one image.

# %%
first = splits.train.images[:64]
fig, ax = plt.subplots(figsize=(9.6, 2.6))
show_grid(to_unit(first), ax=ax, nrow=16, title="the first 64 training digits (grey values / 255)");
session.save_figure(fig, "01_digits.png");

# %% tags=["nbval-check-output"]
print(splits.train.labels[:64].reshape(4, 16))

# %% [markdown]
# The labels above are the digits of the grid, row by row. Strokes are white on black, and
# most of each 28 × 28 square is background.
#
# ## Pixel intensities: nearly binary
#
# How many of the training pixels are exactly black (0), exactly white (255), or grey in
# between? `torch.bincount` over the flattened training tensor counts every value at once.

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
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(range(256), counts.numpy(), width=1.0, color="0.3")
ax.set_yscale("log")
ax.set_xlabel("grey value")
ax.set_ylabel("training pixels (log scale)")
ax.set_title("MNIST pixel values: a spike at 0, a bump near 255, little in between");

# %% [markdown]
# Four pixels in five are exactly black, almost none exactly white, and about half of the grey
# ones lie within 25 levels of black or white: the anti-aliased edges of the strokes, and the
# bump just below 255 in the histogram. MNIST is *almost* binary, and that shapes the choice of
# the decoder's likelihood $p(x \mid z)$:
#
# * A **Bernoulli** likelihood treats each pixel as a coin that lands on 0 or 1 with probability
#   $\sigma(\ell_i)$, where $\ell_i$ is the decoder's logit:
#   $\log p(x \mid z) = \sum_i x_i \log \sigma(\ell_i) + (1 - x_i) \log(1 - \sigma(\ell_i))$
#   (`vaelib.losses.bernoulli_log_prob`). On binary targets this is a log-*probability*: at most 0,
#   reached by a perfect decoder, comparable across papers.
# * Fed **grey** targets, the same formula is the "BCE loss" of most VAE code, but no longer a
#   log-probability: a pixel of value 0.5 cannot be predicted with certainty, and the best logits,
#   $\ell_i = \operatorname{logit}(x_i)$, still leave $\sum_i H(x_i)$ nats, the binary entropy of
#   the grey values.
# * A **Gaussian** likelihood $\log \mathcal N(x; \hat x, \sigma^2 I)$
#   (`vaelib.losses.gaussian_log_prob`) assumes continuous values with symmetric noise around the
#   decoder's mean: it puts density below 0 and above 1, where no pixel lives, and because it is
#   a *density*, a perfect mean with a small $\sigma$ scores without bound. On the always-black
#   background a learned $\sigma$ would shrink towards 0, which is why vaelib floors it
#   (`ModelConfig.min_sigma`).
#
# The cell below puts numbers on these three statements for the 10,000 test digits, each at its
# best possible decoder output.

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
# Read the table as "how well could a perfect decoder possibly score":
#
# * binary targets under a Bernoulli: 0 nats, the ceiling of a log-probability;
# * grey targets under a Bernoulli: minus the entropy printed below the table, never 0. Every
#   "grey BCE" reported for a model includes this irreducible part, so grey-target numbers cannot
#   be compared with binarized-MNIST results from the literature;
# * grey targets under a Gaussian: positive values that keep growing as $\sigma$ shrinks. A
#   Gaussian "NLL" depends on a $\sigma$ you chose, and on MNIST it wastes probability on values
#   no pixel takes.
#
# What, then, *is* the grey BCE? Read each grey value $x_i$ as the probability that pixel $i$ is
# on, and draw a binary image $b$ with $b_i \sim \mathrm{Bernoulli}(x_i)$. Because
# $\log p(b \mid z)$ is linear in each $b_i$, its expectation replaces $b_i$ by $x_i$:
#
# $$\mathbb E_{b \sim \mathrm{Bern}(x)}\big[\log p(b \mid z)\big]
#   = \sum_i x_i \log \sigma(\ell_i) + (1 - x_i) \log\big(1 - \sigma(\ell_i)\big) = -\mathrm{BCE}(x, \sigma(\ell)).$$
#
# So a Bernoulli decoder trained on grey targets is trained on the **expected log-probability of a
# random binarization** of each image: a model of binary digits, fitted to all binarizations at
# once. Per pixel, $x \log p + (1-x)\log(1-p)$ is largest at $p = x$ (Gibbs' inequality), where it
# equals $-H(x)$: that is the floor of the table above. The cell below checks the identity by
# Monte Carlo, with imperfect logits, on 100 test digits and 2,000 binarizations each.

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
assert (bce_grey <= -entropy[:100] + 1e-3).all()  # never above the -H(x) floor

# %% [markdown]
# Equal image by image, within the Monte-Carlo noise, and below the $-H(x)$ floor. The series
# therefore trains Bernoulli decoders on *binarized* digits when it reports likelihoods, and keeps
# grey targets where it reproduces code that uses them (the `pytorch-example` preset), saying so
# each time; a grey-trained Bernoulli decoder can still be scored on binarized digits, since it is
# a model of them.

# %% [markdown] tags=["question"]
# **Question.** A VAE with a Bernoulli decoder is trained on *grey* MNIST targets and reports its
# reconstruction loss, $-\log p(x \mid z)$ summed over pixels, on these test digits. What is the
# lowest value any decoder could reach, why is it not 0, and which numbers printed above tell you?

# %% [markdown] tags=["answer"]
# **Answer.**
# It cannot go below the mean binary entropy of the grey test digits, printed under the table
# ("mean binary entropy of the grey test digits"). The best possible logits, $\ell_i =
# \operatorname{logit}(x_i)$, leave exactly $-\sum_i H(x_i)$: the "grey / Bernoulli" row of the
# table equals minus that entropy, and the cell asserts it image by image
# (`torch.allclose(bern_grey, -entropy)`). A pixel of grey value 0.5 is a fair coin to a Bernoulli
# likelihood, so no decoder can predict it with certainty; only binary targets (the first row)
# reach the ceiling of 0 nats. Every grey-target "BCE" therefore carries this irreducible part,
# and is not a log-likelihood.

# %% [markdown]
# ## Three kinds of targets
#
# A Bernoulli decoder wants 0/1 targets, so the grey digits are turned into coin flips:
# $x^{\mathrm{bin}}_i \sim \mathrm{Bernoulli}(x_i / 255)$.
#
# * **grey**: `to_unit(images)`, $x/255$, no randomness.
# * **dynamic binarization**: `vaelib.data.binarize(x, generator)` draws fresh coins every time a
#   batch is drawn, so each epoch sees different binary images (a data augmentation; the usual
#   choice for training).
# * **fixed binarization**: `vaelib.data.fixed_binarization(images, seed=0)` draws once with a
#   fixed seed. It is a fixed binary data set, used to evaluate, so that test numbers are
#   comparable from run to run.

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
# Only a few percent of the pixels change between two dynamic draws, as the formula
# $2p(1-p)$ predicts: the coins are nearly certain on the black background and in the middle of
# the strokes, and only the grey edges flicker. The fixed binarization is the same every time,
# and a binarization keeps the mean brightness.
#
# ## Split sizes and class balance
#
# A pandas table of how many images of each digit every split holds.

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
# 50,000 training, 10,000 validation and 10,000 test images. The classes are close to
# balanced but not exactly: the shares printed above span a couple of percentage points
# between the most and the least frequent digit, the same in all three splits, and the random
# validation split keeps each digit's share to within the printed difference of the training
# split. These counts depend on neither the model nor the mode, so they are checked by the tests.
#
# ## Fashion-MNIST, a harder sibling
#
# Fashion-MNIST has the same format (28 × 28 grey images, 60,000 + 10,000, ten classes of
# clothing). Its 10,000 test images ship with the repository (`data/FashionMNIST/raw/`, checked
# by sha256 like MNIST) and load with `load_test_split(dataset="fashion-mnist")`; notebook 06 uses
# them as anomalies. Its 60,000 training images ship too (`load_mnist(dataset="fashion-mnist")`):
# notebook 06 trains one model on them for the reverse test.

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
assert f_frac[1:255].sum().item() > frac_grey  # far more grey pixels than MNIST
fig, ax = plt.subplots(figsize=(9.6, 1.4))
show_grid(to_unit(fashion.images[:32]), ax=ax, nrow=16, title="the first 32 Fashion-MNIST test images");

# %% [markdown]
# The comparison above shows why Fashion-MNIST is harder for the
# models of this series: far more of its pixels are grey (textures, shading), so a binarization
# throws away more of the picture, and the irreducible entropy of the grey targets is several
# times MNIST's. The notebooks use MNIST throughout; the presets accept `dataset="fashion-mnist"`
# for those who want to try.
#
# ## Summary
#
# The numbers this notebook computed, once more:

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
# * MNIST is nearly binary: most pixels are exactly 0 and the grey ones sit near the ends. That
#   makes a Bernoulli likelihood on binarized digits the natural choice, and its
#   log-likelihoods are real log-probabilities.
# * On grey targets the same Bernoulli formula cannot reach 0: the binary entropy of the grey
#   values (the third line) is lost whatever the model does, so "grey BCE" numbers are not
#   log-likelihoods. A Gaussian likelihood is a density whose value depends on the chosen σ.
# * A dynamic binarization changes only a few percent of the pixels per draw (the grey edges);
#   the fixed binarization is reproducible and is what the series evaluates on.
# * The splits are 50,000 / 10,000 / 10,000 with nearly balanced classes; validation is carved
#   from the training file, and the test file is kept for the final numbers.
#
# Next: [02 · the reparameterization trick and the ELBO](02_reparameterization.ipynb).

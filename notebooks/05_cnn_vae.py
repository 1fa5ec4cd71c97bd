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
# # 05 · A convolutional VAE, and the 2 × 2 of FNN/CNN × BCE/MSE
#
# **What this notebook teaches.** We replace the fully connected encoder and decoder of notebook
# 04 by convolutional ones, follow an image through them layer by layer (shapes and parameter
# counts, checked against the formulas), and train the convolutional VAE with the two losses of
# the *VAE-MNIST* project, BCE and MSE. Together with the two fully connected models of
# notebook 04 this gives the *VAE-MNIST* project's 2 × 2 table, here with a reconstruction and a
# generation example in every cell and, beside the pictures, numbers: parameters, seconds per
# epoch, and test metrics that can be compared honestly. The *VAE-MNIST* project claims that
# CNN-VAEs outperform FNN-VAEs and that BCE yields better reconstructions than MSE; we check both.
#
# **Exercise.** You write the convolutional decoder yourself at the end of section 1; the cell
# after it checks it by training it for a few steps. The rest of the notebook uses vaelib's.
#
# **Prerequisites.** [03 · Bernoulli vs Gaussian](03_bernoulli_vs_gaussian.ipynb) (MSE as a
# Gaussian likelihood; each model's NLL on the data it models) and [04 · the fully connected
# VAE](04_fnn_vae.ipynb), which trains `fnn-bce` and `fnn-mse` (this notebook loads them from the
# cache, or trains them if 04 has not run).
#
# **Run time.** Every model of the 2 × 2 table is trained from three seeds: twelve models, of which
# the six convolutional ones take most of the time (convolutions are slow on a CPU; the last cell
# adds up the epoch times of the seed-0 models from their histories); the first run also computes
# each model's canonical NLL (the importance-weighted bounds, cached with the models).
# How long it takes on this project's 2-core CPU, from an empty cache and from the
# `checkpoints/` cache, is in the README's run-time table (written by `make run`, never typed);
# the last cell prints this run's own time. On a GPU: not measured yet.
# The test mode (`VAE_NOTEBOOKS_TEST=1`) trains each model for one short
# epoch on 2,000 images (500 for the convolutional ones) and only reports the claims that need
# trained models.

# %% [markdown]
# ## Setup

# %%
import copy
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from vaelib.notebook import setup  # first: it also sets up the notebook environment
from vaelib import data as vdata
from vaelib import losses
from vaelib.metrics import active_units, evaluate, latent_means
from vaelib.eval.likelihood import per_image_elbo, per_image_mse
from vaelib.eval.stats import seed_intervals, seed_verdict
from vaelib import models as vaelib_models
from vaelib.models import ConvDecoder, ConvEncoder, VAE, count_parameters
from vaelib.eval.plots import reconstruction_pairs, show_grid
from vaelib.runs import REPLICA_SEEDS, get_run

session = setup()

# %% [markdown]
# ## 1 · The convolutional encoder and decoder, layer by layer
#
# A convolution with kernel $k$, stride $s$ and padding $p$ maps a side of $n$ pixels to
# $\lfloor (n + 2p - k)/s \rfloor + 1$; with $k = 4$, $s = 2$, $p = 1$ that halves it,
# 28 → 14 → 7. A transposed convolution with the same settings maps $n$ to $(n - 1)s - 2p + k$,
# doubling it back, 7 → 14 → 28. A convolution from $c_\text{in}$ to $c_\text{out}$ channels holds
# $c_\text{in} c_\text{out} k^2$ weights and $c_\text{out}$ biases, whatever the image size.
#
# `vaelib.models.ConvEncoder` is two such convolutions (32 and 64 channels, ReLU after each), a
# fully connected layer from the 64 × 7 × 7 feature map to 256 units, and the two heads for
# $\mu$ and $\log\sigma^2$. `ConvDecoder` mirrors it: two fully connected layers up to
# 64 × 7 × 7, then two transposed convolutions; its output goes to the same likelihoods as in
# notebook 04 (logits for BCE, a sigmoid mean for MSE). The cell follows one blank image through
# the layers of the `cnn-bce` preset.

# %% tags=["nbval-check-output"]
cfg, _ = session.configs("cnn-bce")  # the model of run cnn-bce (vaelib.runs)
encoder = ConvEncoder(cfg.latent_dim, cfg.conv_channels, cfg.conv_hidden)
decoder = ConvDecoder(cfg.latent_dim, cfg.conv_channels, cfg.conv_hidden)


def trace(steps, h):
    """Apply the (name, layer) steps in turn; one row per step with its output shape and parameters."""
    rows = []
    for name, layer in steps:
        h = layer(h)
        n_par = count_parameters(layer) if isinstance(layer, nn.Module) else 0
        rows.append({"step": name, "output [C, H, W] or [units]": tuple(h.shape[1:]), "parameters": n_par})
    return pd.DataFrame(rows), h


x = torch.zeros(1, 1, 28, 28)
enc_table, h = trace([(f"encoder {layer}", layer) for layer in encoder.body], x)
heads = pd.DataFrame([{"step": f"encoder {name} head {layer}", "output [C, H, W] or [units]": tuple(layer(h).shape[1:]),
                       "parameters": count_parameters(layer)} for name, layer in (("μ", encoder.mu), ("log σ²", encoder.logvar))])
z = encoder.mu(h)
dec_steps = [(f"decoder {layer}", layer) for layer in decoder.fc]
dec_steps.append(("decoder reshape", lambda t: t.reshape(t.shape[0], cfg.conv_channels[1], 7, 7)))
dec_steps += [(f"decoder {layer}", layer) for layer in decoder.deconv]
dec_table, out = trace(dec_steps, z)
layers = pd.concat([enc_table, heads, dec_table], ignore_index=True)
with pd.option_context("display.max_colwidth", 90, "display.width", 160):
    print(layers.to_string(index=False))


def conv_side(n, k=4, s=2, p=1):
    return (n + 2 * p - k) // s + 1


def deconv_side(n, k=4, s=2, p=1):
    return (n - 1) * s - 2 * p + k


assert conv_side(28) == 14 and conv_side(14) == 7 and deconv_side(7) == 14 and deconv_side(14) == 28
assert tuple(out.shape) == (1, 1, 28, 28)
c1, c2 = cfg.conv_channels
assert count_parameters(encoder.body[0]) == 1 * c1 * 16 + c1 and count_parameters(encoder.body[2]) == c1 * c2 * 16 + c2
assert layers["parameters"].sum() == count_parameters(encoder) + count_parameters(decoder)

# %% [markdown]
# The convolutions themselves are small: a few tens of thousands of weights, shared across
# every position of the image. The bulk of the model sits in the two fully connected layers
# between the 3,136 numbers of the 64 × 7 × 7 feature map and the 256 hidden units. So the
# convolutional VAE is not smaller than the fully connected one; here is the count for all four
# models of the 2 × 2 table.

# %% tags=["nbval-check-output"]
names = {("FNN", "BCE"): "fnn-bce", ("FNN", "MSE"): "fnn-mse", ("CNN", "BCE"): "cnn-bce", ("CNN", "MSE"): "cnn-mse"}
params = {name: count_parameters(VAE(session.configs(name)[0])) for name in names.values()}
for name, n in params.items():
    print(f"{name:8} {n:>10,} parameters   {get_run(name).description}")
print(f"CNN / FNN parameters: {params['cnn-bce'] / params['fnn-bce']:.2f}")
assert params["cnn-bce"] == params["cnn-mse"] > params["fnn-bce"] == params["fnn-mse"]

# %% [markdown]
# **Exercise (`ConvDecoder`).** With the shapes above in hand, write the decoder yourself:
# `ConvDecoder(latent_dim)` is an `nn.Module` that maps $z$: [B, latent_dim] to logits
# [B, 1, 28, 28] through a linear part to 64 × 7 × 7 feature maps and two transposed convolutions.
# The check below gives it a batch of codes and trains it for a few steps to decode them into
# eight binarized test digits. (The exercise cell defines its own `ConvDecoder`; the cells after
# it use vaelib's, as `vaelib.models.ConvDecoder`, through the presets.)

# %% tags=["exercise"]
import torch
from torch import nn


class ConvDecoder(nn.Module):
    """z: [B, latent_dim] -> linear -> [B, 64, 7, 7] -> transposed convolutions -> [B, 1, 28, 28] logits."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        # HINT: a Linear (and ReLU) to 64 * 7 * 7 features, then nn.ConvTranspose2d(..., kernel_size=4, stride=2, padding=1) twice
        # BEGIN SOLUTION
        self.to_grid = nn.Sequential(nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 64 * 7 * 7), nn.ReLU())
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 1, kernel_size=4, stride=2, padding=1),
        )
        # END SOLUTION

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # HINT: reshape the linear part's output to [B, 64, 7, 7] before the transposed convolutions
        # BEGIN SOLUTION
        grid = self.to_grid(z).reshape(z.shape[0], 64, 7, 7)
        return self.upsample(grid)
        # END SOLUTION


# %%
from vaecourse.assignments import exercise_check

with exercise_check("ConvDecoder"):
    torch.manual_seed(0)
    conv_decoder = ConvDecoder(latent_dim=40)
    codes = torch.randn(8, 40)
    assert conv_decoder(codes).shape == vaelib_models.ConvDecoder(40)(codes).shape == (8, 1, 28, 28)
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in conv_decoder.modules()), "transposed convolutions"
    digits8 = vdata.fixed_binarization(vdata.load_mnist(subset=session.subset).test.images[:8])
    optimizer = torch.optim.Adam(conv_decoder.parameters(), lr=1e-3)
    nats = []
    for _ in range(30):
        loss = -losses.bernoulli_log_prob(digits8, conv_decoder(codes)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        nats.append(loss.item())
    n_params = sum(q.numel() for q in conv_decoder.parameters())
    print(f"ConvDecoder(40): {n_params:,} parameters; -log p(x|z) of 8 digits from 8 fixed codes: "
          f"{nats[0]:.1f} -> {nats[-1]:.1f} nats per image in 30 Adam steps")
    assert nats[-1] < nats[0]


# %% [markdown]
# ## 2 · Training the four models
#
# All four presets share the *VAE-MNIST* protocol of notebook 04: 20 latent dimensions, batch 128,
# Adam with learning rate 10⁻³, 10 epochs on the 50,000 training images, grey targets. "BCE" is a
# Bernoulli decoder scored on grey values, "MSE" a Gaussian decoder with σ² = ½ (summed squared
# error plus a constant). The two FNN models come from notebook 04's cache.

# %%
# test mode (vaelib.runs): one epoch on 2,000 images as in notebook 04 (so its cached runs are
# reused), and only 500 images for the convolutional models (convolutions are slow on a CPU)
runs = session.runs(names.values())
for name, run in runs.items():
    print(f"{name}: {len(run.history)} epochs")

# %% [markdown]
# ## 3 · The 2 × 2 table in pictures
#
# Rows: architecture; columns: loss. In every cell, eight test digits (top row) with their
# reconstructions at $z = \mu(x)$, and 16 digits generated from $z \sim \mathcal N(0, I)$ (the
# decoder mean, the same 16 draws of $z$ for all four models).

# %%
splits = vdata.load_mnist(subset=session.subset)
x8 = vdata.to_unit(splits.test.images[:8]).to(session.device)
z16 = torch.randn(16, 20, generator=torch.Generator().manual_seed(0)).to(session.device)
fig = plt.figure(figsize=(12, 7.6))
cells = fig.subfigures(2, 2, wspace=0.05, hspace=0.04)
for (arch, loss), name in names.items():
    sub = cells[("FNN", "CNN").index(arch), ("BCE", "MSE").index(loss)]
    sub.suptitle(f"{arch} · {loss}  ({name})", fontsize=11, weight="bold")
    axes = sub.subplots(2, 1)
    m = runs[name].model.eval()
    with torch.no_grad():
        show_grid(reconstruction_pairs(x8, m.reconstruct(x8)), ax=axes[0], nrow=8, title="test digits (top), reconstructions (bottom)")
        show_grid(m.mean(m.decode(z16)), ax=axes[1], nrow=8, title="generated from z ~ N(0, I)")
session.save_figure(fig, "05_fnn_cnn_bce_mse.png");

# %% [markdown]
# Pictures alone make a weak argument (the *VAE-MNIST* project's table had nothing else), so the
# next section measures what the eye compares.
#
# ## 4 · The 2 × 2 table in numbers
#
# For each model:
#
# - **parameters**, and **seconds per epoch**: the median over epochs of the history's
#   `train_seconds` (the optimisation steps) and `seconds` (plus the validation pass). This CPU is
#   shared with other jobs whose load changed while the four models trained, so the history's
#   seconds of different models are not comparable with each other. For a fair ratio we also time
#   a training **step** (forward, backward and Adam update on one batch of 128) of every model
#   here, in the same cell, alternating between the models so that all see the same load, and
#   report the median;
# - **test ELBO in the model's own units** (grey test images, one sampled $z$ per image). The BCE
#   models' ELBO is in "grey BCE nats", the MSE models' a Gaussian log-density that includes the
#   constant $-392\log\pi$: compare ELBOs only *within* a loss. Beside it, its two terms: the
#   **reconstruction term** $-\mathbb E_q[\log p(x\mid z)]$ ($z$ sampled from $q$, own units) and
#   the **KL**;
# - **reconstruction MSE** per pixel: grey test image against the decoder mean at $z = \mu(x)$
#   (the *VAE-MNIST* project's notion of reconstruction quality); the KL and the number of
#   active units (latent dimensions whose $\mu_d(x)$ varies, variance above 0.01) say how much
#   the code carries;
# - **NLL under the model's own likelihood**, the series' canonical number for each model
#   (`vaelib.eval.likelihood.canonical_nll`: $-\mathcal L_k$ with $k = 100$ importance samples
#   on all 10,000 test images, with its standard error). A BCE model is a Bernoulli model of
#   *binary* images, so it is scored on the fixed binarization of the test set; an MSE model is
#   a Gaussian density of grey values, which is not a probability, so it is scored on the stored
#   8-bit images, each pixel's Gaussian integrated over its grey-level bin
#   (`vaelib.losses.discretized_gaussian_log_prob`). The two scales are about different data,
#   binary against 8-bit images: **an NLL compares models of the same loss only**. In bits per
#   dimension (NLL / (784 ln 2)) the 8-bit scale reads like the numbers of image models.

# %%
def step_times(models, x, rounds):
    """Median seconds of one training step (forward, backward, Adam) per model, timed in turns."""
    copies = {n: copy.deepcopy(m).train() for n, m in models.items()}  # the cached models stay untouched
    optims = {n: torch.optim.Adam(m.parameters(), lr=1e-3) for n, m in copies.items()}
    times = {n: [] for n in models}
    for r in range(rounds + 1):
        for n, m in copies.items():
            t0 = time.perf_counter()
            loss = m(x).loss.mean()
            optims[n].zero_grad()
            loss.backward()
            optims[n].step()
            if r > 0:  # round 0 is a warm-up
                times[n].append(time.perf_counter() - t0)
    return {n: float(np.median(v)) for n, v in times.items()}


step_s = step_times({n: runs[n].model for n in names.values()},
                    vdata.to_unit(splits.train.images[:128]).to(session.device), rounds=session.size("timing_rounds"))
grey = vdata.to_unit(splits.test.images).to(session.device)
rows = []
for (arch, loss), name in names.items():
    run, m = runs[name], runs[name].model.eval()
    ev = evaluate(m, splits.test, eval_targets="grey", iwae_k=0, device=session.device)
    nll = session.nll(run)
    rows.append({
        "arch": arch, "loss": loss, "model": name,
        "parameters": params[name],
        "s/epoch (train)": run.history["train_seconds"].median(),
        "s/epoch (with val.)": run.history["seconds"].median(),
        "ms/step (timed here)": 1000 * step_s[name],
        "test ELBO (own units)": ev["test_elbo"],
        "recon term (own units)": -ev["test_log_px"],
        "KL": ev["test_kl"],
        "active units": ev["active_units"],
        "recon MSE": ev["recon_mse"],
        "NLL, own likelihood": nll.mean, "± SE": nll.se, "scale": nll.scale, "bits/dim": nll.bits_per_dim,
    })
table = pd.DataFrame(rows).set_index(["arch", "loss"])
print(f"ELBO, KL, MSE, active units on {len(splits.test):,} grey test images; NLL on n = {nll.n:,} "
      f"test images with k = {nll.k}, binarized for the BCE models, 8-bit for the MSE models.")
table.style.format(precision=4)

# %% [markdown]
# ### What the table says, checked over three training seeds
#
# One trained model per cell cannot carry a verdict about an architecture or a loss: a second
# training run, from another seed (initialisation, data order), moves every number a little.
# So every model of the table is trained three times (`vaelib.runs.REPLICAS`: the same run with
# training seeds 0, 1 and 2), and each comparison is made per seed, on the same test images:
# the per-image difference (CNN − FNN, or BCE − MSE), its mean, and a 95 % bootstrap interval
# over images (`vaelib.eval.stats.paired_bootstrap`). A verdict is called only when all three
# seeds' intervals lie on the same side of zero (`seed_verdict`); otherwise it is **unclear**.
# The ELBO and MSE use all test images, the NLL the first `n_pair` (k = 100 each, the same
# estimates as the headline NLL's first images), the active units are counted per model.

# %%
replicas = session.replicas(names.values())
n_pair = session.size("paired_images")


def per_image_scores(run):
    """One trained model's per-image test scores: ELBO terms (own units), recon MSE, canonical NLL."""
    parts = per_image_elbo(run.model, grey)
    return {"test ELBO": parts["elbo"], "recon term": -parts["log_px"], "KL": parts["kl"],
            "recon MSE": per_image_mse(run.model, grey), "NLL": session.nll(run, n=n_pair).per_image}


scores = {name: [per_image_scores(r) for r in runs_] for name, runs_ in replicas.items()}
units = {name: [active_units(latent_means(r.model, grey)) for r in runs_] for name, runs_ in replicas.items()}
seeds = range(len(REPLICA_SEEDS))
checks = [(f"{loss}: CNN − FNN", names[("CNN", loss)], names[("FNN", loss)], metric)
          for loss in ("BCE", "MSE") for metric in ("test ELBO", "recon term", "KL", "recon MSE", "NLL")]
checks += [(f"{arch}: BCE − MSE", names[(arch, "BCE")], names[(arch, "MSE")], metric)
           for arch in ("FNN", "CNN") for metric in ("recon MSE", "KL")]
verdict_rows = []
for comparison, a, b, metric in checks:
    intervals = seed_intervals([s[metric] for s in scores[a]], [s[metric] for s in scores[b]])
    verdict_rows.append({"comparison": comparison, "metric": metric,
                         **{f"seed {s}": iv.format("+.3g") for s, iv in zip(seeds, intervals)},
                         "every seed": seed_verdict(intervals)})
verdicts = pd.DataFrame(verdict_rows).set_index(["comparison", "metric"])
print("mean difference per image [95 % bootstrap interval], per training seed; "
      "'lower'/'higher': every seed's interval below/above zero")
with pd.option_context("display.width", 200, "display.max_colwidth", 40):
    print(verdicts.to_string())
print("\nactive units per seed: " + "; ".join(f"{n} {u}" for n, u in units.items()))
slowdown = table.xs("CNN")["ms/step (timed here)"].mean() / table.xs("FNN")["ms/step (timed here)"].mean()
print(f"a CNN training step takes {slowdown:.1f}× as long as an FNN step on this CPU "
      f"({torch.get_num_threads()} thread(s)); from the histories' epochs, under varying load: "
      f"{table.xs('CNN')['s/epoch (train)'].mean() / table.xs('FNN')['s/epoch (train)'].mean():.1f}×")

calls = verdicts["every seed"].to_dict()
fewer_units = {loss: all(c < f for c, f in zip(units[names[("CNN", loss)]], units[names[("FNN", loss)]]))
               for loss in ("BCE", "MSE")}
assert np.isfinite(table.drop(columns=["model", "scale"]).to_numpy(dtype=float)).all()
assert set(table["scale"]) == {"binarized", "8-bit"} and (table["NLL, own likelihood"] > 0).all()
# the verdicts the text below states: "higher"/"lower" (a - b, in every seed) or "unclear"
CLAIMS = {
    ("BCE: CNN − FNN", "test ELBO"): "higher", ("BCE: CNN − FNN", "recon term"): "unclear",
    ("BCE: CNN − FNN", "KL"): "lower", ("BCE: CNN − FNN", "recon MSE"): "unclear", ("BCE: CNN − FNN", "NLL"): "lower",
    ("MSE: CNN − FNN", "test ELBO"): "higher", ("MSE: CNN − FNN", "recon term"): "unclear",
    ("MSE: CNN − FNN", "KL"): "lower", ("MSE: CNN − FNN", "recon MSE"): "higher", ("MSE: CNN − FNN", "NLL"): "lower",
    ("FNN: BCE − MSE", "recon MSE"): "lower", ("FNN: BCE − MSE", "KL"): "higher",
    ("CNN: BCE − MSE", "recon MSE"): "lower", ("CNN: BCE − MSE", "KL"): "higher",
}
with session.claims():  # asserted after a full run, reported in test mode
    assert calls == CLAIMS, calls
    assert fewer_units == {"BCE": True, "MSE": False}, units
    assert slowdown > 2 or session.device.type != "cpu"

# %% [markdown]
# Read the verdicts in two groups.
#
# **CNN against FNN.** On the measures that score the model as a probabilistic model, the
# convolutional one wins for both losses and in all three seeds: a higher test ELBO and a lower NLL
# under its own likelihood (binarized digits for BCE, 8-bit images for MSE), while paying a
# *smaller* KL. With BCE it also uses fewer active units in every seed; with MSE not (seed 2's CNN
# keeps more than its FNN). Everything about reconstructions is weaker. The reconstruction term
# with $z$ sampled from $q$ is **unclear** for both losses: one seed's CNN is better, another's
# worse. On the *VAE-MNIST* project's own yardstick, the reconstruction MSE at $z = \mu(x)$, the
# CNN does not win in any seed it can be trusted on: with BCE the seeds disagree (seed 0's CNN is
# ahead, seeds 1 and 2 behind, each by an interval that excludes zero), and with MSE the FNN is
# better in all three. So the training seed alone moves the BCE comparison of reconstruction
# errors from one side of zero to the other: a single run, as in the *VAE-MNIST* project's table,
# cannot decide it. "CNN-VAEs outperform FNN-VAEs" holds here as a statement about likelihoods,
# not about reconstructions: the CNN reaches its better ELBO mostly through a smaller KL, and the
# deterministic reconstruction at $z = \mu(x)$ is not what the ELBO optimises.
#
# **BCE against MSE.** For both architectures and in every seed, the BCE model reconstructs
# better (lower MSE at $z = \mu$) and stores more in its code (a KL larger by 9 to 13 nats). This
# is the mechanism of notebook 03: with σ² = ½ the MSE models' squared-error term is small next
# to a BCE reconstruction term, so every nat of KL is relatively expensive and they keep less
# about each digit. The *VAE-MNIST* project's second claim, "BCE reconstructs better", holds.
# Which of the two is the better *model* cannot be asked of their NLLs: a BCE model is a model
# of binary images, an MSE model of 8-bit grey images, and the two NLLs are about different data.
#
# ### Training curves
#
# Validation −ELBO per epoch for the four models, the BCE pair and the MSE pair on separate axes
# (their units differ).

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
for ax, loss in zip(axes, ("BCE", "MSE")):
    for i, arch in enumerate(("FNN", "CNN")):
        h = runs[names[(arch, loss)]].history
        ax.plot(h["epoch"], h["val_loss"], marker="o", ms=3, color=f"C{i}", label=f"{arch} validation")
        ax.plot(h["epoch"], h["train_loss"], ls=":", color=f"C{i}", label=f"{arch} train")
    ax.set_title(f"{loss} models")
    ax.set_xlabel("epoch")
    ax.set_ylabel("−ELBO, nats per image (own units)")
    ax.legend(fontsize=8)
fig.tight_layout();

# %% [markdown] tags=["question"]
# **Question.** The *VAE-MNIST* project says CNN-VAEs outperform FNN-VAEs. On which of this
# notebook's metrics does its own 2×2 table support that claim, and where does it not?

# %% [markdown] tags=["answer"]
# **Answer.**
# The verdict cell above lists each comparison for each of three training seeds. With either
# loss the CNN has the better test ELBO and the lower NLL under its own likelihood in every seed
# (while using a smaller KL), so as a *model of the data* it wins. On reconstruction MSE at
# $z = \mu(x)$ it does not: with MSE loss the FNN has the lower reconstruction error in every
# seed, and with BCE the seeds disagree (the CNN is ahead in one, behind in two), so a single
# training run could have "shown" either answer. "Outperform" therefore depends on the metric,
# and on some metrics on the seed, which is why the notebook asserts each verdict separately,
# over three seeds, instead of one overall winner.

# %% [markdown]
# ## Summary
#
# The claims below are asserted in the "checked" cell above after a full run (in test mode, after
# one short epoch, they are only reported); every verdict holds in all three training seeds, with
# a paired bootstrap interval over the test images that excludes zero, or is called unclear. The
# last cell prints the table they rest on.
#
# - **CNN beats FNN as a generative model**, for both losses: a higher test ELBO (compared only
#   within a loss) and a lower NLL under the model's own likelihood, while using a smaller KL.
#   Same latent size, same data, same epochs; the CNN has more parameters (the fully connected
#   layers next to the 64 × 7 × 7 feature map), and a training step costs several times as long
#   on this CPU (the ratio is printed above).
# - On **reconstruction MSE** at $z = \mu(x)$, the *VAE-MNIST* project's measure, the CNN is
#   **worse with MSE** in every seed, and with BCE the seeds disagree: the project's
#   "CNN > FNN" holds for likelihoods, not for reconstructions. The reconstruction term with
#   $z$ sampled is unclear for both losses.
# - **BCE reconstructs better than MSE** for both architectures and carries more information in
#   its code: the *VAE-MNIST* project's second claim holds, for the reason of notebook 03 (with
#   σ² = ½ each nat of KL is expensive next to a squared error).
# - What this notebook withdraws from its earlier versions: that BCE "wins on a common NLL
#   scale" (reading a Gaussian decoder as Bernoulli probabilities is not that model's likelihood;
#   the two losses model different data), that the BCE CNN has the lower reconstruction term and
#   is level with the FNN on MSE (both depend on the seed), and that the MSE CNN uses fewer
#   active units (not in every seed).
# - The ELBOs and NLLs of a BCE and an MSE model are on different scales and are never compared
#   directly; the history's seconds per epoch were recorded under a changing load and are not
#   comparable between models, the step times measured side by side are.

# %%
train_seconds = {name: run.history["seconds"].sum() for name, run in runs.items()}
with pd.option_context("display.width", 200):
    print(table.round(4).to_string())
print("\n" + verdicts["every seed"].to_string())
print("training time from the histories: " + ", ".join(f"{n} {s / 60:.1f} min" for n, s in train_seconds.items()))
session.report_run_time()

# %% [markdown]
# Next: [06 · how to judge a VAE](06_evaluation.ipynb): every model trained so far, scored on
# likelihood, its gaps, reconstructions, samples, a linear probe and anomaly detection.

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
# # 11 · Hierarchical VAEs, and training with the IWAE bound
#
# **What this notebook teaches.** Two ways to get more out of the same decoder: **more stochastic
# layers** ($z_2 \to z_1 \to x$, so that the prior of $z_1$ is itself learned), and **a tighter
# training bound**, the importance-weighted $\mathcal L_k$ of notebooks 02 and 06 used as the
# objective instead of only as a measurement (Burda, Grosse & Salakhutdinov 2016, *Importance
# weighted autoencoders*). We build their one- and two-layer architectures, train each with the
# ELBO and with $\mathcal L_5$, measure the test NLL, the ELBO and the active units of every layer,
# follow them from 10 to 15 epochs and over $k$, and put our numbers beside the paper's Table 1 with
# the difference in protocol stated.
#
# **Exercise.** You write `iwae_loss`, the IWAE training loss from the log importance weights, in
# section 2; the cell after it checks yours against vaelib's and shows that its gradient weights each
# sample by its normalised importance weight. One open question asks why IWAE training activates
# more units.
#
# **Prerequisites.** [02](02_reparameterization.ipynb) (the IWAE bound), [06](06_evaluation.ipynb)
# ($\mathcal L_k$ against $k$, active units) and [09](09_posterior_collapse.ipynb) (inactive units).
#
# **Run time.** Four models, each trained for 10 epochs from three seeds, and seed 0 of each trained
# on to 15 epochs (it continues its 10-epoch checkpoint, so that costs 5 epochs more); the
# IWAE-trained models take the longest (the last cell adds up the histories). How long it takes on this project's
# 2-core CPU, from an empty cache and from the `checkpoints/` cache, is in the README's run-time
# table (written by `make run`, never typed); the last cell prints this run's own time. The paper's
# protocol (3,280 passes, $k = 50$) is the GPU script's job (section 5). The test mode
# (`VAE_NOTEBOOKS_TEST=1`) trains each model for one or two short epochs on 2,000 images and only
# reports the claims that need trained models.

# %% [markdown]
# ## Setup

# %%
import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from vaelib.notebook import setup  # first: it also sets up the notebook environment
from vaelib import data as vdata
from vaecourse.checks_chapters import iwae_loss as vaelib_iwae_loss
from vaelib.eval.stats import mean_se, seed_intervals, seed_verdict
from vaelib.metrics import per_image_nll
from vaelib.models.hvae import active_units_per_layer
from vaelib.runs import REPLICA_SEEDS, get_run
from vaelib.runtime import REPO_ROOT

session = setup()

# %% [markdown]
# ## 1 · The models
#
# Burda et al.'s architectures, on dynamically binarized MNIST, every Gaussian diagonal, tanh
# hidden units (`vaelib.models.hvae`):
#
# - **one stochastic layer:** $x \to 200 \to 200 \to z$ (50), and back $z \to 200 \to 200 \to x$;
# - **two stochastic layers:** $q(z_1\mid x)$: $x \to 100 \to 100 \to z_1$ (100), $q(z_2\mid z_1)$:
#   $z_1 \to 50 \to 50 \to z_2$ (50); $p(z_2) = \mathcal N(0, I)$, $p(z_1\mid z_2)$:
#   $z_2 \to 50 \to 50 \to z_1$, $p(x\mid z_1)$: $z_1 \to 100 \to 100 \to x$.
#
# A sample from $q$ is a pair $(z_1, z_2)$, drawn bottom up; its log weight is
# $\log w = \log p(x\mid z_1) + \log p(z_1\mid z_2) + \log p(z_2) - \log q(z_1\mid x) - \log q(z_2\mid z_1)$,
# and the KLs are sampled (there is no closed form for the two-layer KL), as in the paper.

# %%
NAMES = ["burda-1l-vae", "burda-1l-iwae", "burda-2l-vae", "burda-2l-iwae"]
LONG = {"burda-1l-vae": "burda-1l-vae-15-epochs", "burda-1l-iwae": "burda-1l-iwae-15-epochs",
        "burda-2l-vae": "burda-2l-vae-15-epochs", "burda-2l-iwae": "burda-2l-iwae-15-epochs"}  # seed 0, continued
LABELS = {"burda-1l-vae": "1 layer, VAE", "burda-1l-iwae": "1 layer, IWAE k = 5",
          "burda-2l-vae": "2 layers, VAE", "burda-2l-iwae": "2 layers, IWAE k = 5"}
print(pd.DataFrame({"run": NAMES, "what it is": [get_run(n).description for n in NAMES]}).to_string(index=False))

# %% [markdown]
# ## 2 · The IWAE objective
#
# With $k$ samples from $q$ and their log weights $\log w_1, \dots, \log w_k$, the IWAE bound is
# $\mathcal L_k = \log \frac1k \sum_i w_i$ (notebook 02: a lower bound on $\log p(x)$ in
# expectation, tighter as $k$ grows, the ELBO at $k = 1$). As a training objective its gradient is
#
# $$\nabla \mathcal L_k = \sum_{i=1}^k \tilde w_i \,\nabla \log w_i, \qquad \tilde w_i = \frac{w_i}{\sum_j w_j},$$
#
# so the samples that explain $x$ best get most of the gradient, whereas the ELBO averaged over $k$
# samples weights each by $1/k$. The encoder is then no longer asked to put all of $q$'s mass where
# the posterior is: a $q$ that is broader than the posterior costs less.
#
# Log weights of real images are hundreds of nats below zero, so $e^{\log w}$ underflows; compute
# $\mathcal L_k$ with a log-sum-exp.

# %% tags=["exercise"]
import math

import torch


def iwae_loss(log_w: torch.Tensor) -> torch.Tensor:
    """-L_k per example from the log importance weights log_w [k, B] (k samples of each of B examples) -> [B]."""
    # HINT: L_k = logsumexp over the k samples (dim 0) minus log k; never exp() the raw log weights
    # BEGIN SOLUTION
    return -(torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0]))
    # END SOLUTION


# %%
from vaecourse.assignments import exercise_check

with exercise_check("iwae_loss"):
    log_w = (-400 + 5 * torch.randn(5, 8)).requires_grad_(True)
    assert torch.allclose(iwae_loss(log_w), vaelib_iwae_loss(log_w))
    iwae_loss(log_w).sum().backward()
    assert torch.allclose(log_w.grad, -torch.softmax(log_w.detach(), dim=0), atol=1e-4)  # the normalised weights
    print("iwae_loss agrees with vaelib's, and its gradient is minus the normalised weights")

# %% [markdown]
# ## 3 · Training, and the table
#
# Our protocol: batch 100, Adam 10⁻³ constant, 10 epochs (three seeds) and 15 epochs (seed 0),
# 50,000 training images. Burda et al. trained for 3,280 passes over 60,000 images with a decaying
# learning rate, so our numbers are far from converged and the comparison is of directions, not
# values. The NLL is $-\mathcal L_k$ with `burda_k` samples on the first `burda_images` test
# images (the paper: $k = 5000$ on all 10,000), with its standard error over images; the ELBO is the
# one-sample ELBO on all test images; active units are per layer, bottom first (Burda et al.'s
# measure, $\operatorname{Cov}_x \mathbb E_q[z_l\mid x] > 0.01$).

# %%
replicas = session.replicas(NAMES)
long_runs = session.runs(list(LONG.values()))
LONG_EPOCHS = long_runs[LONG["burda-1l-vae"]].train_config.epochs  # 15 (2 in the test mode)
splits = vdata.load_mnist(subset=session.subset)
x_test = vdata.eval_inputs(splits.test.images, "fixed").to(session.device)
n_nll, k_nll = session.size("burda_images"), session.size("burda_k")
x_nll = x_test[:n_nll]
BURDA = {"burda-1l-vae": 86.76, "burda-1l-iwae": None, "burda-2l-vae": 85.33, "burda-2l-iwae": None}
BURDA_K50 = {"burda-1l-iwae": 84.78, "burda-2l-iwae": 82.90}  # their IWAE trained with k = 50


def describe_run(run):
    nll, se = mean_se(per_image_nll(run.model, x_nll, k_nll))
    return {"NLL": nll, "± SE": se, "test ELBO": run.metrics["test_elbo"],
            "active units": "/".join(map(str, active_units_per_layer(run.model, x_nll)))}


rows = {}
for n in NAMES:
    rows[(LABELS[n], 10)] = describe_run(replicas[n][0])
    rows[(LABELS[n], LONG_EPOCHS)] = describe_run(long_runs[LONG[n]])
    assert long_runs[LONG[n]].metrics["epochs_trained"] == LONG_EPOCHS > replicas[n][0].metrics["epochs_trained"]
table = pd.DataFrame(rows).T
table["Burda et al. (k = 1 / IWAE k = 50)"] = [BURDA[n] if BURDA[n] else BURDA_K50[n] for n in NAMES for _ in (10, LONG_EPOCHS)]
print(f"NLL: k = {k_nll} on the first {x_nll.shape[0]} test images; seed 0")
print(table.to_string(float_format=lambda v: f"{v:.2f}"))
session.save_table(table.reset_index(names=["model", "epochs trained"]).set_index("model"), "11_results.md");
with session.claims():  # still improving: 15 epochs beat 10 for every model (seed 0)
    assert all(rows[(LABELS[n], LONG_EPOCHS)]["NLL"] < rows[(LABELS[n], 10)]["NLL"] for n in NAMES), rows

# %% [markdown]
# **Reading the table.** Burda et al.'s column is what 3,280 passes buy; under our 10 and 15 epochs
# every model is still far behind it (the two-layer models by tens of nats), and the NLL is still
# falling between 10 and 15 epochs. The directions are what we can check, and the next cell checks
# them over three seeds.

# %%
n_pair, k_pair = session.size("paired_images"), session.size("nll_k")
nll_seeds = {n: [per_image_nll(r.model, x_test[:n_pair], k_pair) for r in replicas[n]] for n in NAMES}
au_seeds = {n: [active_units_per_layer(r.model, x_test[:n_pair]) for r in replicas[n]] for n in NAMES}
pairs = {"IWAE − VAE, 1 layer": ("burda-1l-iwae", "burda-1l-vae"), "IWAE − VAE, 2 layers": ("burda-2l-iwae", "burda-2l-vae"),
         "2 layers − 1 layer, VAE": ("burda-2l-vae", "burda-1l-vae"), "2 layers − 1 layer, IWAE": ("burda-2l-iwae", "burda-1l-iwae")}
print(f"paired NLL differences, n = {min(n_pair, x_test.shape[0])} test images, k = {k_pair}, 10 epochs, one interval per seed:")
verdicts = {}
for name, (a, b) in pairs.items():
    ivs = seed_intervals(nll_seeds[a], nll_seeds[b])
    verdicts[name] = seed_verdict(ivs)
    print(f"  {name:26} {verdicts[name]:8} " + "  ".join(str(i) for i in ivs))
print("active units per layer (bottom first), by seed:")
for n in NAMES:
    print(f"  {LABELS[n]:22} " + "   ".join("/".join(map(str, a)) for a in au_seeds[n]))
more_units = {f"IWAE keeps at least as many units active as the VAE ({d} layer{'s' * (d > 1)}, every layer)":
              sum(all(i >= v for i, v in zip(au_seeds[f"burda-{d}l-iwae"][s], au_seeds[f"burda-{d}l-vae"][s]))
                  for s in range(len(REPLICA_SEEDS))) for d in (1, 2)}
for c, n in more_units.items():
    print(f"{n}/{len(REPLICA_SEEDS)} seeds  {c}")
# the verdicts as measured: IWAE training helps at both depths; the second layer does not, at 10 epochs
VERDICTS = {"IWAE − VAE, 1 layer": "lower", "IWAE − VAE, 2 layers": "lower",
            "2 layers − 1 layer, VAE": "higher", "2 layers − 1 layer, IWAE": "higher"}
top_dead = sum(au_seeds["burda-2l-vae"][s][1] == 0 for s in range(len(REPLICA_SEEDS)))
print(f"{top_dead}/{len(REPLICA_SEEDS)} seeds  the two-layer VAE's top layer z2 has no active unit")
with session.claims():
    assert verdicts == VERDICTS, verdicts
    assert all(n == len(REPLICA_SEEDS) for n in more_units.values()), more_units
    assert top_dead == len(REPLICA_SEEDS)

# %% [markdown]
# **What the seeds say.** Training with $\mathcal L_5$ beats training with the ELBO on the test
# NLL at both depths and keeps at least as many units active in every layer, in every seed: Burda
# et al.'s two findings, reproduced in direction. Their third is **not**: here two stochastic
# layers are *worse* than one, by a wide margin and in every seed, under either objective. The
# printout says why in part: the two-layer VAE has switched its top layer off entirely (no active
# unit in $z_2$ in any seed) and keeps only a few units of $z_1$, a posterior collapse of the kind
# notebook 09 measures, and the two-layer models learn far more slowly (the validation curves of
# the next figure). Burda et al.'s advantage for the deeper model comes after thousands of passes;
# after 10 or 15 it has not appeared. We withdraw "two layers beat one" for this protocol rather
# than assert it from the paper. The first remedy to try is notebook 09's KL warm-up, which
# Sønderby et al. (2016, *Ladder variational autoencoders*) found necessary to keep the upper
# layers of deeper hierarchies active; this notebook does not run it, so it is a suggestion, not a
# result.
#
# **With $k$.** The bound $\mathcal L_k$ of each 15-epoch model as the evaluation's $k$ grows
# (the ELBO at $k = 1$). The claim checked below: the IWAE-trained models gain more from a larger
# $k$ than the VAE-trained ones, because their $q$ is trained to be a proposal for importance
# sampling rather than a tight fit to the posterior. Where each model stands at $k = 1$ is printed:
# the one-sample ELBO need not favour the model that was trained on it.

# %%
ks = sorted({1, 5, 50, k_nll})
n_curve = min(session.size("iwae_images"), x_test.shape[0])
curve = pd.DataFrame({LABELS[n]: [per_image_nll(long_runs[LONG[n]].model, x_test[:n_curve], k).double().mean().item()
                                  for k in ks] for n in NAMES}, index=pd.Index(ks, name="k"))
print(f"-L_k (nats) on the first {n_curve} test images, {LONG_EPOCHS}-epoch models:")
print(curve.to_string(float_format=lambda v: f"{v:.2f}"))
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for n in NAMES:
    axes[0].plot(ks, curve[LABELS[n]], marker="o", label=LABELS[n])
    h = long_runs[LONG[n]].history
    axes[1].plot(h["epoch"], -h["val_elbo"], label=LABELS[n])
axes[0].set_xscale("log")
axes[0].set_xlabel("k (evaluation)")
axes[0].set_ylabel("−L_k (nats)")
axes[0].set_title("the bound against k")
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("−ELBO on the validation split (nats)")
axes[1].set_title("training: the ELBO after each epoch")
axes[1].axvline(10, color="grey", lw=0.8, ls=":")
for ax in axes:
    ax.legend(fontsize=8)
fig.tight_layout()
session.save_figure(fig, "11_bound_and_epochs.png");
with session.claims():
    gain = curve.loc[1] - curve.loc[k_nll]  # how much a large k tightens each model's bound
    assert gain[LABELS["burda-1l-iwae"]] > gain[LABELS["burda-1l-vae"]] and gain[LABELS["burda-2l-iwae"]] > gain[LABELS["burda-2l-vae"]], gain

# %% [markdown]
# ## 4 · What the IWAE costs
#
# In principle, maximising $\mathcal L_5$ does not maximise $\mathcal L_1$, so the IWAE-trained
# model's one-sample ELBO could be the price of its better NLL. Under our short training it is not:
# section 3's table shows the IWAE models' test ELBO no worse than the VAEs' (seed 0). The cost
# that shows is time: each training step decodes $k$ samples per image; the seconds per epoch of
# the histories are printed below. Rainforth et al. (2018, *Tighter variational bounds are not
# necessarily better*) show a further cost for large $k$: the encoder's gradient signal shrinks
# relative to its noise.

# %%
per_epoch = pd.Series({LABELS[n]: replicas[n][0].history["train_seconds"].median() for n in NAMES}, name="s per epoch")
print(per_epoch.to_string(float_format=lambda v: f"{v:.1f}"))
with session.claims():  # the IWAE's ELBO is no worse here (seed 0); its epochs are slower
    assert all(replicas[f"burda-{d}l-iwae"][0].metrics["test_elbo"] >= replicas[f"burda-{d}l-vae"][0].metrics["test_elbo"]
               and per_epoch[LABELS[f"burda-{d}l-iwae"]] > per_epoch[LABELS[f"burda-{d}l-vae"]] for d in (1, 2))

# %% [markdown]
# ## 5 · The paper's protocol, on a GPU
#
# Burda et al.'s numbers come from their own protocol: 3,280 passes over all 60,000 training
# images, batch 20, Adam with $\epsilon = 10^{-4}$ and a learning rate of $10^{-3} \cdot 10^{-i/7}$
# for $3^i$ passes ($i = 0, \dots, 7$), and the NLL with $k = 5000$ on all 10,000 test images. The
# registry holds it as four runs (`vaelib.runs`, marked `long`: `make run` never trains them); the
# next cell prints their settings from there. About ten million Adam steps each, hours even on a GPU:
# `bash benchmarks/gpu.sh --burda` trains them (resuming from its checkpoints call after call) and,
# once all four are done, writes `benchmarks/results/burda_gpu.json`, which the cell after loads,
# with where it came from.

# %%
PAPER_RUNS = ["burda-1l-vae-paper", "burda-1l-iwae-50-paper", "burda-2l-vae-paper", "burda-2l-iwae-50-paper"]
protocol = {}
for n in PAPER_RUNS:
    model_cfg, train_cfg = get_run(n).configs()
    assert get_run(n).long
    protocol[n] = {"objective": f"{model_cfg.extra['objective']}, k = {model_cfg.extra['k']}", "passes": train_cfg.epochs,
                   "batch": train_cfg.batch_size, "training images": 60_000 - train_cfg.val_size,
                   "schedule": train_cfg.scheduler, "Adam ε": train_cfg.adam_eps,
                   "NLL k": train_cfg.iwae_k, "NLL images": train_cfg.iwae_n}
print(pd.DataFrame(protocol).T.to_string())

# %%
gpu_file = REPO_ROOT / "benchmarks" / "results" / "burda_gpu.json"
if gpu_file.exists():
    gpu = json.loads(gpu_file.read_text())
    print(f"from {gpu_file.name} ({gpu['provenance']}):")
    print(pd.DataFrame(gpu["rows"]).to_string(index=False))
else:
    print("the full protocol: not run yet (no GPU has run `bash benchmarks/gpu.sh --burda` to the end)")

# %% [markdown] tags=["question"]
# **Question.** Why does training with $\mathcal L_5$ keep more latent units active than training
# with the ELBO, in terms of what each objective charges for an encoder whose $q(z\mid x)$ is broader
# than the true posterior?

# %% [markdown] tags=["answer"]
# **Answer.**
# The ELBO charges $\mathrm{KL}(q(z\mid x)\,\|\,p(z\mid x))$ in full, and a dimension the decoder
# barely uses is cheapest when it is switched off ($q = p$, zero KL), so weak dimensions die. $\mathcal
# L_k$ charges much less for a $q$ that is broader than the posterior: among $k$ samples, the ones
# that land where the posterior is carry the normalised weights, so the bound and its gradient
# depend on the best samples, not on the average one. A dimension that helps explain some images
# is then worth keeping, and the active-units count of section 3 rises; Burda et al. saw the same,
# over far longer training.

# %% [markdown]
# ## Summary
#
# The tables of section 3 print the numbers this summary rests on; the claims cells assert each
# statement over three training seeds (10 epochs).
#
# - **Training with $\mathcal L_5$ gives a better test NLL than training with the ELBO**, for one and
#   for two stochastic layers, and keeps at least as many units active in every layer, in every seed
#   (Burda et al.'s two findings, in direction).
# - **Two stochastic layers do not beat one here**, the reverse of Burda et al.'s Table 1: worse
#   under either objective in every seed, with the two-layer VAE's top layer switched off in every
#   seed; the deeper model needs far longer training than 10 or 15 epochs.
# - **The IWAE-trained models gain more from a large evaluation $k$**; under our short training their
#   one-sample ELBO is no worse than the VAEs' (seed 0), and their epochs take longer.
# - **Against the paper:** our 10- and 15-epoch models are tens of nats behind its 3,280-pass
#   numbers, and still improving; the full protocol waits for a GPU (section 5).

# %%
print(table.to_string(float_format=lambda v: f"{v:.2f}"))
seconds = sum(r.history["seconds"].sum() for n in NAMES for r in replicas[n])
seconds += sum(r.history.loc[r.history["epoch"] > 10, "seconds"].sum() for r in long_runs.values())  # the added epochs
print(f"training time from the histories: {seconds / 60:.1f} min ({len(NAMES) * len(REPLICA_SEEDS)} trainings of 10 epochs, "
      f"{len(long_runs)} continued to {LONG_EPOCHS})")
session.report_run_time()

# %% [markdown]
# This is the last notebook of the series. The README lists what each notebook measured, with its
# figures and tables.

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
# # 10 · Labels in a VAE: conditional generation and semi-supervised learning
#
# **What this notebook teaches.** A label $y$ can enter a VAE in two ways. As an **input**: the
# conditional VAE (CVAE, Sohn et al. 2015) gives $y$ to the encoder and the decoder, so you can ask
# for a digit by name, and $z$ is left to carry everything else (its "style"). As a **latent
# variable that is sometimes observed**: M2 (Kingma, Rezende, Mohamed & Welling 2014) has a
# classifier $q(y\mid x)$ inside its inference network, and trains it from 100 labelled images and
# 49,900 unlabelled ones, because every unlabelled image still has to be explained by *some* digit.
# We check the CVAE's samples with the MNIST classifier of notebook 06, look at what $z$ encodes
# when $y$ is given, and score M2's classifier on the test set beside two baselines that see the
# same 100 labels and nothing else. Then M1 + M2, Kingma et al.'s best model with few labels: M2 on the
# codes of a VAE of the images.
#
# **Exercise.** You write `m2_unlabelled_loss`, M2's loss on an unlabelled image (with the entropy of
# $q(y\mid x)$), in section 3; the cell after it checks yours against vaelib's. Two open questions
# ask where M2's advantage comes from and why M1 + M2 keeps M2's loss away from M1.
#
# **Prerequisites.** [02](02_reparameterization.ipynb) (the ELBO), [04](04_fnn_vae.ipynb) (the
# fully connected VAE) and [06](06_evaluation.ipynb) (the MNIST classifier, linear probes, intervals).
#
# **Run time.** Two CVAEs ($z$ of 20 and of 2 dimensions) for 10 epochs, each from three seeds; M2
# once for 20 epochs (its unlabelled bound decodes every image under all ten labels); M1 + M2 once
# for 30 epochs; and three small baselines fitted on 100 images.
# How long it takes on this project's 2-core CPU, from an empty cache and from the `checkpoints/`
# cache, is in the README's run-time table (written by `make run`, never typed); the last cell
# prints this run's own time. The test mode (`VAE_NOTEBOOKS_TEST=1`) trains each model for one
# short epoch on 2,000 images and only reports the claims that need trained models.

# %% [markdown]
# ## Setup

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch

from vaelib.notebook import setup  # first: it also sets up the notebook environment
from vaelib import data as vdata
from vaelib.eval.classifier import predict, train_classifier
from vaelib.eval.likelihood import per_image_elbo
from vaelib.eval.plots import show_grid
from vaelib.eval.probe import fit_linear_probe  # (the 100-label baseline of section 4)
from vaelib.eval.stats import paired_bootstrap, seed_intervals, seed_verdict
from vaelib.models import semisup
from vaelib.runs import get_run

session = setup()

# %% [markdown]
# ## 1 · The conditional VAE
#
# The CVAE's bound is on $\log p(x\mid y)$:
#
# $$\log p(x\mid y) \ge \mathbb E_{q(z\mid x, y)}[\log p(x\mid z, y)] - \mathrm{KL}\big(q(z\mid x, y)\,\|\,p(z)\big),$$
#
# with the label one-hot into the encoder's and the decoder's hidden layer
# (`vaelib.models.semisup.CVAE`). The decoder is told the digit, so $z$ need not carry it.
# **Generation on request:** draw $z$ and ask for each class in turn; the MNIST classifier of
# notebook 06 (cached) then says which digit it sees. We ask for `cvae_samples` samples of each
# class and count how often the classifier agrees with the request, for $z$ from the prior
# $\mathcal N(0, I)$ and from a narrower $\mathcal N(0, T^2 I)$ with $T = 0.5$ (sampling at a lower
# "temperature": fewer draws from the prior's outskirts, where the aggregate posterior has little
# mass and the decoder has seen few codes).

# %%
cvae = session.run("cvae").model
clf = session.classifier()
n_per_class = session.size("cvae_samples")
requested = torch.arange(10).repeat_interleave(n_per_class).to(session.device)


def classify_samples(model, t):
    """What the classifier sees in one sample of each requested class, z ~ N(0, T² I) (seeded)."""
    gen = torch.Generator().manual_seed(0)
    return predict(clf, torch.cat([model.sample_class(requested[i : i + 1000], generator=gen, temperature=t)
                                   for i in range(0, len(requested), 1000)]))


agreement, per_class = {}, {}
for t in (1.0, 0.5):
    seen = classify_samples(cvae, t)
    agree = (seen == requested.cpu()).float()
    agreement[t], per_class[t] = paired_bootstrap(agree, torch.zeros_like(agree)), agree.reshape(10, n_per_class).mean(1)
    print(f"T = {t}: {len(requested)} samples ({n_per_class} per class), the classifier agrees with the request for "
          f"{100 * agreement[t].mean:.2f} % [{100 * agreement[t].lo:.2f}, {100 * agreement[t].hi:.2f}]")
    print("  per class (%): " + "  ".join(f"{c}: {100 * v:.1f}" for c, v in enumerate(per_class[t].tolist())))
    if t == 1.0:
        print(pd.crosstab(pd.Series(requested.cpu().numpy(), name="requested (T = 1)"),
                          pd.Series(seen.numpy(), name="classifier sees")))
with session.claims():  # the goal of 97 % holds at T = 0.5, not for samples from the prior itself
    assert agreement[0.5].lo >= 0.97 and agreement[1.0].hi < 0.97, agreement
cvae_agreement = agreement

# %% [markdown]
# **A smaller $z$.** Why do samples from the prior miss? With 20 dimensions, $z$ can carry part of
# what the label says, and a $z$ from the prior's outskirts can pull the decoder away from the
# requested digit. A CVAE whose $z$ has only 2 dimensions has no room for that: the label has to do
# the work. Below, the same protocol with a $z$ of 20 and of 2 dimensions, each trained from three
# seeds: the agreement at $T = 1$ (samples from the prior itself), and what the small $z$ costs in
# fit, the paired difference of the test ELBO (one sampled $z$ per image, its label given), per seed.

# %%
cvaes = session.replicas(["cvae", "cvae-z2"])
test_split = vdata.load_mnist(subset=session.subset).test
x_fit, y_fit = vdata.eval_inputs(test_split.images, "fixed").to(session.device), test_split.labels.to(session.device)


def agreement_at(model, t):
    agree = (classify_samples(model, t) == requested.cpu()).float()
    return paired_bootstrap(agree, torch.zeros_like(agree))


def test_elbo(model):  # the bound on log p(x | y) of each test image, its label given
    return per_image_elbo(model, x_fit, labels=y_fit)["elbo"]


prior_agreement = {n: [agreement_at(r.model, 1.0) for r in cvaes[n]] for n in cvaes}
fit_cost = seed_intervals([test_elbo(r.model) for r in cvaes["cvae-z2"]], [test_elbo(r.model) for r in cvaes["cvae"]])
print(f"T = 1 (the prior), {len(requested)} samples per model; the classifier agrees with the request (%), by seed:")
for n, ivs in prior_agreement.items():
    print(f"  {n:8} " + "   ".join(f"{100 * i.mean:.2f} [{100 * i.lo:.2f}, {100 * i.hi:.2f}]" for i in ivs))
print(f"test ELBO, z = 2 − z = 20, nats on {len(x_fit)} test images (paired, by seed): {seed_verdict(fit_cost)}  "
      + "  ".join(str(i) for i in fit_cost))
with session.claims():  # from the prior: z = 2 meets the 97 % goal in every seed, z = 20 misses it in every seed; z = 2 fits worse
    assert all(i.lo >= 0.97 for i in prior_agreement["cvae-z2"]), prior_agreement
    assert all(i.hi < 0.97 for i in prior_agreement["cvae"]), prior_agreement
    assert seed_verdict(fit_cost) == "lower" and all(i.hi < -10 for i in fit_cost), fit_cost

# %% [markdown]
# So the goal of 97 % from the prior itself is a matter of how much room $z$ has: with 2
# dimensions every seed meets it, with 20 none does, and the 2-d model pays for it in the ELBO by
# more than ten nats in every seed (printed above): two numbers hold far less of an image's style
# than twenty. Which to prefer depends on the use: samples that are always the requested digit, or
# a model that fits the images; lowering $T$ (above) gets much of the first from the second.

# %% [markdown]
# **Style transfer: one $z$, ten labels.** Each row below keeps one $z$ and changes only $y$. The
# first column of each row is a test digit; its $z$ is the mean of $q(z\mid x, y)$ under its true
# label, and the ten images to its right are that $z$ decoded as 0, 1, …, 9.

# %%
splits = vdata.load_mnist(subset=session.subset)
x_test = vdata.eval_inputs(splits.test.images, "fixed").to(session.device)
y_test = splits.test.labels.to(session.device)
with torch.no_grad():
    rows = []
    for i in range(6):
        z = cvae.encode(x_test[i : i + 1], y_test[i : i + 1])[0]
        rows += [vdata.to_unit(splits.test.images[i : i + 1]).to(session.device),
                 cvae.generate(z.repeat(10, 1), torch.arange(10, device=session.device))]
fig, ax = plt.subplots(figsize=(9, 5.5))
show_grid(torch.cat(rows).cpu(), ax=ax, nrow=11, title="test digit | the same z decoded as 0 … 9")
fig.tight_layout()
session.save_figure(fig, "10_style_transfer.png");

# %% [markdown]
# **What $z$ encodes when $y$ is given.** If $z$ carried the digit's identity, a test digit's code
# decoded under *another* label would still look like the source digit. The classifier settles it:
# take the codes $\mu(x, y)$ of the first `paired_images` test digits under their true labels,
# decode each under the nine other labels, and count how often the classifier sees the requested
# label and how often the source digit.

# %%
n_swap = min(session.size("paired_images"), x_test.shape[0])
with torch.no_grad():
    z_src = cvae.encode(x_test[:n_swap], y_test[:n_swap])[0]
    shift = torch.arange(1, 10, device=session.device)
    target = (y_test[:n_swap].unsqueeze(1) + shift) % 10  # [n, 9]: every other label
    swapped = cvae.generate(z_src.repeat_interleave(9, 0), target.reshape(-1))
seen_swap = predict(clf, swapped).reshape(n_swap, 9)
as_requested = (seen_swap == target.cpu()).float().mean().item()
as_source = (seen_swap == y_test[:n_swap].cpu().unsqueeze(1)).float().mean().item()
print(f"{n_swap} test digits, each decoded under the 9 other labels: the classifier sees the requested label in "
      f"{100 * as_requested:.1f} %, the source digit in {100 * as_source:.1f} %")
with session.claims():
    assert as_requested > 0.8 and as_source < 0.1, (as_requested, as_source)

# %% [markdown]
# So the rows of the style figure are what $z$ holds: slant, width and stroke thickness carry over
# from the test digit to all ten labels, while the digit's identity comes from $y$: decoded under
# another label, a code is rarely drawn as its own digit and mostly as the requested one (printed above; one training run).
#
# ## 2 · M2: the label as a latent variable
#
# M2's generative model is $p(y)\,p(z)\,p(x\mid y, z)$ with $p(y)$ uniform over the ten digits; its
# inference network is $q(y\mid x)\,q(z\mid x, y)$. A labelled pair has the CVAE's bound plus
# $\log p(y)$,
#
# $$\mathcal L(x, y) = \mathbb E_{q(z\mid x,y)}[\log p(x\mid y, z)] + \log p(y) - \mathrm{KL}\big(q(z\mid x,y)\,\|\,p(z)\big) \le \log p(x, y),$$
#
# and an unlabelled image sums $y$ out under the classifier,
#
# $$\mathcal U(x) = \sum_y q(y\mid x)\,\mathcal L(x, y) + \mathcal H\big(q(y\mid x)\big) \le \log p(x).$$
#
# $\mathcal U$ is an ELBO on $\log p(x)$ whose latent variables are $(y, z)$: the entropy term is
# the $-\mathbb E_q \log q(y\mid x)$ part of it. Nothing in $\mathcal U$ is supervised, so the
# objective adds the classifier's log-likelihood on the labelled images, with weight α:
#
# $$J = \sum_{\text{unlabelled}} -\mathcal U(x) + \sum_{\text{labelled}} \big[-\mathcal L(x, y) - \alpha \log q(y\mid x)\big],\qquad \alpha = 0.1\,N.$$
#
# Our 100 labelled images are the first 10 of each class in a seeded permutation of the 50,000
# training images (`semisup.pick_labelled`); the other 49,900 are used without their labels. Each
# training step adds the whole labelled set's term to the batch's unlabelled one, scaled so that
# an epoch estimates $J / N_u$ (`M2.labelled_loss`).

# %%
m2_run = session.run("m2")
m2 = m2_run.model
print(get_run("m2").description)
print(f"labelled images kept by the model: {m2.labelled_y.numel()}, per class: {m2.labelled_y.bincount(minlength=10).tolist()}")

# %% [markdown]
# ## 3 · The unlabelled loss, written by you
#
# Given the classifier's log-probabilities $\log q(y\mid x)$ and the bound $\mathcal L(x, y)$ of
# each image under each of the ten labels, return $-\mathcal U(x)$ per image.

# %% tags=["exercise"]
import torch


def m2_unlabelled_loss(log_q_y: torch.Tensor, labelled_bounds: torch.Tensor) -> torch.Tensor:
    """-U(x) per image: log_q_y [B, K] (log q(y | x)), labelled_bounds [B, K] (L(x, y) for each y) -> [B]."""
    # HINT: U = Σ_y q(y|x) L(x, y) + H(q(y|x)), with H = -Σ_y q log q; return -U
    # BEGIN SOLUTION
    q = log_q_y.exp()
    return -((q * labelled_bounds).sum(dim=1) - (q * log_q_y).sum(dim=1))
    # END SOLUTION


# %%
from vaecourse.assignments import exercise_check

with exercise_check("m2_unlabelled_loss"):
    log_q = torch.log_softmax(torch.randn(32, 10), dim=1)
    bounds = -100 - 10 * torch.rand(32, 10)
    assert torch.allclose(m2_unlabelled_loss(log_q, bounds), semisup.m2_unlabelled_loss(log_q, bounds))
    print("m2_unlabelled_loss agrees with vaelib's")

# %% [markdown]
# ## 4 · How well does M2 classify?
#
# M2's classifier $q(y\mid x)$ on all test images (fixed binarization), beside two baselines that
# see the same 100 labelled images and nothing else: a **linear probe** on the pixels (multinomial
# logistic regression, `vaelib.eval.probe`), and a **small CNN** (notebook 06's classifier
# architecture, 100 images, `baseline_epochs` epochs). The intervals are 95 % bootstrap intervals
# over the test images; the differences are paired (the same test images), for this one training
# run of each model.

# %%
idx = semisup.pick_labelled(splits.train.labels, 10)
few = vdata.Split(splits.train.images[idx], splits.train.labels[idx], idx)
wrong = {"M2": (m2.classify(x_test).cpu() != splits.test.labels).float()}
probe = fit_linear_probe(vdata.to_unit(few.images).reshape(len(few), -1), few.labels, 10)
test_pixels = vdata.to_unit(splits.test.images).reshape(len(splits.test), -1)
wrong["linear probe, 100 labels"] = (probe.predict(test_pixels).cpu() != splits.test.labels).float()
small = train_classifier(epochs=session.size("baseline_epochs"), progress=False, batch_size=20,
                         data=vdata.MNISTSplits(few, splits.val, splits.test), device=session.device)
wrong["small CNN, 100 labels"] = (predict(small, splits.test.images) != splits.test.labels).float()
errors = {name: paired_bootstrap(w, torch.zeros_like(w)) for name, w in wrong.items()}
print(f"test error on {len(splits.test)} test images:")
for name, e in errors.items():
    print(f"  {name:26} {100 * e.mean:5.2f} % [{100 * e.lo:.2f}, {100 * e.hi:.2f}]")
print("Kingma et al. 2014 (M2, 100 labels, their Table 1): 11.97 % (± 1.71 over their runs)")
gaps = {name: paired_bootstrap(wrong["M2"], w) for name, w in wrong.items() if name != "M2"}
for name, d in gaps.items():
    print(f"M2 − {name}: {100 * d.mean:+.2f} points [{100 * d.lo:+.2f}, {100 * d.hi:+.2f}] (paired)")
with session.claims():  # M2 beats the linear probe; the small CNN beats M2 (this run of each)
    assert gaps["linear probe, 100 labels"].hi < 0 < gaps["small CNN, 100 labels"].lo, gaps

# %% [markdown]
# **Reading the numbers.** M2 classifies much better than the linear probe that sees only the 100
# labels: the unlabelled images teach the model what the digits look like, and the classifier
# inherits that through $\mathcal U$, which rewards a $q(y\mid x)$ under which the class-conditional
# decoder explains $x$ well. But **the small CNN trained on the 100 labels alone beats M2** in this
# run (paired interval above), and M2 does **not** reach the paper's 11.97 % or 12 % (the summary
# cell asserts that it is missed, so that a change that reaches it shows up).
# Two differences carry most of it. The CNN brings what M2's fully connected networks lack, a
# convolutional prior about images (with batch norm, dropout and 100 passes over its 100 images);
# and our M2 protocol is much shorter than the paper's (20 epochs; 256 hidden units instead of 500,
# to fit the 2-core budget), while the classifier's entropy on the training images falls to nearly
# zero within a few epochs (the history's `H(q(y|x))` column): once $q(y\mid x)$ is confident,
# $\mathcal U$ can hardly move a wrong answer. What would lower M2's error: longer training and the
# paper's sizes; a warm-up of the entropy or of α; convolutional networks in M2 itself; and Kingma
# et al.'s own best result, M1 + M2 (M2 on the codes of a separately trained VAE: 3.33 % with 100
# labels in their Table 1), which section 5 trains; later work (ladder networks, consistency
# regularisation) goes below 1 %.

# %% [markdown] tags=["question"]
# **Question.** The classification term $-\alpha \log q(y\mid x)$ sees only 100 images. Through which
# term of $J$ do the 49,900 unlabelled images change the classifier, and why would that term push
# $q(y\mid x)$ towards the right digit rather than any digit?

# %% [markdown] tags=["answer"]
# **Answer.**
# Through $\mathcal U(x) = \sum_y q(y\mid x)\,\mathcal L(x, y) + \mathcal H(q(y\mid x))$: its gradient
# with respect to the classifier moves probability towards the labels $y$ under which the bound
# $\mathcal L(x, y)$ is highest, i.e. under which the class-conditional decoder $p(x\mid y, z)$ explains
# the image best (the entropy keeps $q$ from committing too early). The decoder learns what each
# $y$ looks like from the labelled images (and from the unlabelled ones once $q$ is right for them),
# so "the $y$ that explains $x$ best" becomes the true digit: the labels name the clusters, the
# unlabelled data shape them. Section 4 shows the effect against the linear probe that uses the labels
# alone; a CNN's built-in knowledge of images did better still in our run.

# %% [markdown]
# ## 5 · M1 + M2: M2 on a VAE's codes
#
# Kingma et al.'s best model with few labels stacks two models. **M1** is a plain VAE of the images,
# $q(z_1\mid x)$ and $p(x\mid z_1)$, with a 50-dimensional $z_1$: it never sees a label. **M2** is the
# model of section 2 with the code $z_1$ in the place of the image: $p(y)\,p(z_2)\,p(z_1\mid y, z_2)$,
# where $p(z_1\mid y, z_2)$ is a diagonal Gaussian (a code is continuous, not a binary image), and
# $q(y\mid z_1)$, $q(z_2\mid z_1, y)$. Its bounds $\mathcal L(z_1, y)$ and $\mathcal U(z_1)$ are those
# of section 2 with $z_1$ for $x$: bounds on the density of the codes, not on the likelihood of the
# images.
#
# The paper trains M1 first and M2 on its codes afterwards. We train both in one run
# (`vaelib.models.m1m2.M1M2`): each step draws $z_1 \sim q(z_1\mid x)$ for the batch and for the 100
# labelled images and hands M2 the draws **detached**, so M2's loss never reaches M1's networks: M1
# learns exactly what it would alone, and M2 learns on M1's codes as they are at that step. The
# classifier is $q(y\mid z_1)$ read at the code's mean, $\arg\max_y q(y\mid \mu_1(x))$. To see what M2
# adds to M1's codes, a third baseline: the **linear probe on M1's codes** $\mu_1(x)$, fitted on the
# same 100 labelled images.

# %%
m1m2_run = session.run("m1m2")
m1m2 = m1m2_run.model
print(get_run("m1m2").description)
with torch.no_grad():
    codes_few = m1m2.encode(vdata.eval_inputs(few.images, "fixed").to(session.device))[0]
    codes_test = m1m2.encode(x_test)[0]
code_probe = fit_linear_probe(codes_few, few.labels, 10)
wrong["M1 + M2"] = (m1m2.classify(x_test).cpu() != splits.test.labels).float()
wrong["linear probe on M1's codes, 100 labels"] = (code_probe.predict(codes_test).cpu() != splits.test.labels).float()
for name in ("M1 + M2", "linear probe on M1's codes, 100 labels"):
    errors[name] = paired_bootstrap(wrong[name], torch.zeros_like(wrong[name]))
    print(f"test error, {name:40} {100 * errors[name].mean:5.2f} % [{100 * errors[name].lo:.2f}, {100 * errors[name].hi:.2f}]"
          f" ({len(splits.test)} test images)")
print("Kingma et al. 2014 (M1 + M2, 100 labels, their Table 1): 3.33 % (± 0.14 over their runs)")
m1m2_gaps = {name: paired_bootstrap(wrong["M1 + M2"], wrong[name])
             for name in ("M2", "small CNN, 100 labels", "linear probe on M1's codes, 100 labels")}
for name, d in m1m2_gaps.items():
    print(f"M1 + M2 − {name}: {100 * d.mean:+.2f} points [{100 * d.lo:+.2f}, {100 * d.hi:+.2f}] (paired)")
codes_vs_pixels = paired_bootstrap(wrong["linear probe on M1's codes, 100 labels"], wrong["linear probe, 100 labels"])
print(f"linear probe on M1's codes − linear probe on the pixels: {100 * codes_vs_pixels.mean:+.2f} points "
      f"[{100 * codes_vs_pixels.lo:+.2f}, {100 * codes_vs_pixels.hi:+.2f}] (paired)")
with session.claims():  # M1 + M2 meets the 12 % goal (its whole interval) and beats every other model here (this run of each)
    assert errors["M1 + M2"].hi <= 0.12, errors["M1 + M2"]
    assert all(d.hi < 0 for d in m1m2_gaps.values()), m1m2_gaps
    assert errors["M1 + M2"].lo > 0.0333, errors["M1 + M2"]  # ... but not the paper's 3.33 %
    assert codes_vs_pixels.lo > 0, codes_vs_pixels  # from 100 labels alone, M1's codes are no easier to read than pixels

# %% [markdown]
# **Reading the numbers.** On M1's codes, M2 meets the 12 % goal with its whole interval and beats
# plain M2 and the small CNN (paired intervals above; one training run of each model, so the
# comparison is a single-run observation). It does not reach the paper's 3.33 %: our M1 is smaller
# and trained for far fewer passes. The two linear probes say where the gain does **not** come from:
# read by a linear classifier from the 100 labels alone, M1's codes are *worse* than the raw pixels
# in this run (the last paired interval printed), so M1 does not simply make the digits linearly
# separable. What the codes change is M2's task, and here we can only offer a reading that this
# notebook does not test: modelling 50 continuous numbers with a Gaussian $p(z_1\mid y, z_2)$ is a
# much smaller problem than modelling 784 pixels, so the bound $\mathcal L(z_1, y)$ can tell the
# labels apart early in training; if a VAE's codes of one digit lie together, M2's unlabelled bound
# $\mathcal U(z_1)$ lets the 49,900 unlabelled codes say where the clusters are, and the 100 labels
# only have to name them. The probe, which sees the labelled codes alone, cannot use that.

# %% [markdown] tags=["question"]
# **Question.** M2's loss is stopped from reaching M1's networks (the codes are detached). What could
# go wrong if M1 were also trained on M2's bound $\mathcal U(z_1)$?

# %% [markdown] tags=["answer"]
# **Answer.**
# $\mathcal U(z_1)$ bounds a *density* of the codes, and a density has no upper limit: M1 could raise
# it by making its codes easy for M2 to model (shrinking their spread, or collapsing them onto a few
# points per class) rather than by describing the images well. The sum of M1's ELBO and M2's bound is
# then not a bound on anything about the images, and M1 would trade image likelihood for code density.
# Detaching keeps M1 an honest VAE of the images and M2 an honest model of its codes.

# %% [markdown]
# ## Summary
#
# The cells of sections 1, 4 and 5 print the numbers this summary rests on; their claims cells and the
# cell below assert it (the CVAEs from three training seeds, every other model from one run).
#
# - **The CVAE generates every digit on request, at a lower temperature or with a small $z$**: with
#   $z \sim \mathcal N(0, 0.25\,I)$ the MNIST classifier agrees with the requested class for at least
#   97 % of its samples (the interval's lower end); with $z$ from the prior itself the 20-d model
#   agrees clearly less often (below 97 % over the whole interval, in every seed; the crosstab of
#   section 1 shows which requests are drawn as which digit), and a 2-d $z$ meets the 97 % from the
#   prior in every seed, at a cost of more than ten nats of test ELBO.
#   Its $z$ carries style, not identity: the same $z$ under ten labels draws ten digits in one
#   hand, and a test digit's code decoded under another label is rarely seen as the source digit.
# - **M2 with 100 labels** classifies the test set much better than a linear probe on the same 100
#   labels, but worse than a small CNN trained on those 100 labels alone (paired intervals, one run
#   of each), and it misses the 12 % goal and the paper's 11.97 % under this protocol (20 epochs, 256
#   hidden units): its error and interval are printed below, and the cell asserts that the whole
#   interval lies above 12 %.
# - **M1 + M2** (M2 on the codes of a VAE of the images, the same 100 labels) meets the 12 % goal with
#   its whole interval and beats M2, the small CNN and a linear probe on the same codes (paired
#   intervals, one run of each), though not the paper's 3.33 %.

# %%
m2_error = errors["M2"]
print("CVAE agreement: " + ", ".join(f"T = {t}: {100 * a.mean:.2f} % [{100 * a.lo:.2f}, {100 * a.hi:.2f}]"
                                    for t, a in cvae_agreement.items())
      + f"; M2 test error {100 * m2_error.mean:.2f} % [{100 * m2_error.lo:.2f}, {100 * m2_error.hi:.2f}]"
      + f"; M1 + M2 test error {100 * errors['M1 + M2'].mean:.2f} % [{100 * errors['M1 + M2'].lo:.2f}, {100 * errors['M1 + M2'].hi:.2f}]")
print(f"training time from the histories: "
      + ", ".join(f"{n} {sum(r.history['seconds'].sum() for r in runs) / 60:.1f} min"
                  for n, runs in {**cvaes, "m2": [m2_run], "m1m2": [m1m2_run]}.items()))
shown = {**{f"CVAE: classifier agrees with the requested digit, T = {t}": a for t, a in cvae_agreement.items()},
         "CVAE with z = 2: classifier agrees with the requested digit, T = 1": prior_agreement["cvae-z2"][0],
         **{f"test error: {name}": e for name, e in errors.items()}}
results = pd.DataFrame({"measure": list(shown), "%": [100 * v.mean for v in shown.values()],
                        "95 % interval": [f"[{100 * v.lo:.2f}, {100 * v.hi:.2f}]" for v in shown.values()]}).set_index("measure")
session.save_table(results, "10_results.md")
with session.claims():
    assert m2_error.lo > 0.12, m2_error  # the goal of at most 12 % is missed (the prose says so)
session.report_run_time()

# %% [markdown]
# Next: [11 · hierarchical VAEs and the IWAE objective](11_hierarchical_and_iwae.ipynb): two
# stochastic layers, and training with the importance-weighted bound.

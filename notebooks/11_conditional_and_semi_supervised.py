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
# # 11 · Labels in a VAE: conditional generation and semi-supervised learning
#
# **What you will learn**
#
# - the label as an input (the conditional VAE), and what $z$ then encodes;
# - why prior samples miss the requested digit, and what temperature and latent size can and
#   cannot tell you about it;
# - the label as a latent variable (M2): a classifier trained from a few labels and many unlabelled images;
# - why a few-label result is decided over labelled subsets and seeds, beside a paper's table; M1 + M2.
#
# **You need** [02](02_reparameterization.ipynb) (the ELBO), [04](04_fnn_vae.ipynb) and
# [07](07_samples_and_ood.ipynb) (the MNIST classifier, linear probes). You write
# `m2_unlabelled_loss` in section 3.
#
# **Run time**: printed by the setup cell below, from the measured records. Evidence tags:
# [How to read the claims](01_data.ipynb#How-to-read-the-claims).

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
from vaelib.eval.stats import Interval, over_seeds, paired_bootstrap, seed_intervals
from vaelib.models import semisup
from vaelib.runs import LABEL_SEEDS, REPLICA_SEEDS, get_run

session = setup("11")

# %% [markdown]
# ## 1 · The conditional VAE
#
# Give the label $y$ to the encoder and the decoder (Sohn et al. 2015; `vaelib.models.semisup.CVAE`),
# and the ELBO bounds $\log p(x\mid y)$:
#
# $$\log p(x\mid y) \ge \mathbb E_{q(z\mid x, y)}[\log p(x\mid z, y)] - \mathrm{KL}\big(q(z\mid x, y)\,\|\,p(z)\big).$$
#
# The decoder is told the digit, so $z$ need not carry it. To ask for a digit, decode a random $z$
# with the requested $y$; notebook 07's classifier says which digit it sees. $z$ comes from the
# prior $\mathcal N(0, I)$, or at a lower *temperature* from $\mathcal N(0, T^2 I)$, $T = 0.5$.

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
with session.claims():  # at T = 0.5 at least 97 % agree (the whole interval); from the prior itself fewer
    assert agreement[0.5].lo >= 0.97 and agreement[1.0].hi < 0.97, agreement
cvae_agreement = agreement

# %% [markdown]
# From the prior the classifier agrees with fewer than 97 % of the requests (the crosstab shows
# where the misses go), at $T = 0.5$ with at least 97 % [1 run].
#
# ### Why do samples from the prior miss?
#
# 1. **$z$ carries part of the label.** Nothing forbids it: if the codes of 3s and of 5s sit in
#    different regions, a $z$ from the "3" region decoded as a 5 pulls the drawing towards a 3.
# 2. **Holes in the prior.** The codes of real images, the aggregate posterior
#    $q(z) = \mathbb E_{x,y}\, q(z\mid x, y)$, need not fill $\mathcal N(0, I)$ (Hoffman & Johnson
#    2016); a prior draw can land where the decoder has seen few codes.
#
# A lower $T$ fits both: draws near the origin are less extreme codes, and more often lie where real
# codes do. A smaller $z$ fits both too: two dimensions leave little room for the label and are
# easier to fill than twenty. The next cell measures how much the misses depend on the room $z$
# has, not which explanation holds: $z$ of 20 and of 2 dimensions, three seeds each, compared on
# the agreement from the prior and the test ELBO (one sampled $z$, label given) over seeds
# (`over_seeds`).

# %%
cvaes = session.replicas(["cvae", "cvae-z2"])
for n in cvaes:
    print(f"  {n}: {get_run(n).description}")
test_split = vdata.load_mnist(subset=session.subset).test
x_fit, y_fit = vdata.eval_inputs(test_split.images, "fixed").to(session.device), test_split.labels.to(session.device)


def agrees(model, t):  # 1 where the classifier sees the requested digit, per sample
    return (classify_samples(model, t) == requested.cpu()).float()


def test_elbo(model):  # the bound on log p(x | y) of each test image, its label given
    return per_image_elbo(model, x_fit, labels=y_fit)["elbo"]


prior_agrees = {n: [agrees(r.model, 1.0) for r in cvaes[n]] for n in cvaes}
prior_agreement = {n: [paired_bootstrap(a, torch.zeros_like(a)) for a in v] for n, v in prior_agrees.items()}
agree_gain = over_seeds(seed_intervals(prior_agrees["cvae-z2"], prior_agrees["cvae"]))
fit_cost = over_seeds(seed_intervals([test_elbo(r.model) for r in cvaes["cvae-z2"]], [test_elbo(r.model) for r in cvaes["cvae"]]))


def points(v):  # an Interval or SeedLevel of fractions, in percentage points
    return f"{100 * v.mean:+.2f} [{100 * v.lo:+.2f}, {100 * v.hi:+.2f}]"


print(f"T = 1 (the prior), {len(requested)} samples per model; the classifier agrees with the request (%), by seed:")
for n, ivs in prior_agreement.items():
    print(f"  {n:8} " + "   ".join(f"{100 * i.mean:.2f} [{100 * i.lo:.2f}, {100 * i.hi:.2f}]" for i in ivs))
print("agreement, z = 2 − z = 20 (points, paired by request), by seed: " + "  ".join(points(i) for i in agree_gain.per_seed))
print(f"  over {agree_gain.k} seeds: {points(agree_gain)}: {agree_gain.verdict}")
print(f"test ELBO, z = 2 − z = 20 (nats per image, {len(x_fit)} test images, paired), by seed: "
      + "  ".join(str(i) for i in fit_cost.per_seed))
print(f"  over {fit_cost.k} seeds: {fit_cost.format('+.2f')}")
with session.claims():  # over seeds: z = 2 agrees more often from the prior and fits worse by more than ten nats;
    assert agree_gain.lo > 0, agree_gain  # ... and per model: every z = 2 model at least 97 %, no z = 20 model
    assert fit_cost.hi < -10, fit_cost
    assert all(i.lo >= 0.97 for i in prior_agreement["cvae-z2"]), prior_agreement
    assert all(i.hi < 0.97 for i in prior_agreement["cvae"]), prior_agreement

# %% [markdown]
# A 2-d $z$ agrees with the request more often from the prior and fits the test images worse by
# more than ten nats per image [3 seeds]; every 2-d model agrees with at least 97 %, no 20-d model
# does. Which to prefer depends on the use. The open question at the end asks how to tell the two
# explanations apart.
#
# **Style transfer.** Each row: a test digit, then the mean of $q(z\mid x, y)$ under its true
# label, decoded as 0, 1, …, 9.

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
session.save_figure(fig, "11_style_transfer.png");

# %% [markdown]
# **Does $z$ carry the digit?** Then a code decoded under *another* label would still look like
# its source digit. Decode `paired_images` test digits' codes under the nine other labels.

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
# Mostly the requested digit, rarely the source [1 run]: $z$ holds the style (slant, width,
# stroke), $y$ the identity. This speaks against $z$ carrying the digit's *identity*; subtler traces
# of the label, and holes, are the open question at the end.
#
# ## 2 · M2: the label as a latent variable
#
# M2 (Kingma et al. 2014) generates the label too: $p(y)\,p(z)\,p(x\mid y, z)$, $p(y)$ uniform.
# It infers with $q(y\mid x)\,q(z\mid x, y)$: a classifier inside the inference network. A
# labelled pair has the CVAE's bound plus $\log p(y)$,
#
# $$\mathcal L(x, y) = \mathbb E_{q(z\mid x,y)}[\log p(x\mid y, z)] + \log p(y) - \mathrm{KL}\big(q(z\mid x,y)\,\|\,p(z)\big) \le \log p(x, y),$$
#
# and an unlabelled image sums $y$ out under the classifier,
#
# $$\mathcal U(x) = \sum_y q(y\mid x)\,\mathcal L(x, y) + \mathcal H\big(q(y\mid x)\big) \le \log p(x),$$
#
# the ELBO with latent variables $(y, z)$ (`semisup.m2_unlabelled_loss` returns $-\mathcal U$).
# Nothing in $\mathcal U$ is supervised, so the objective adds the classifier's log-likelihood on
# the labelled images, weighted by α (`M2.labelled_loss`):
#
# $$J = \sum_{\text{unlabelled}} -\mathcal U(x) + \sum_{\text{labelled}} \big[-\mathcal L(x, y) - \alpha \log q(y\mid x)\big],\qquad \alpha = 0.1\,N.$$
#
# The labelled images: 10 per class from a seeded permutation (`semisup.pick_labelled`).

# %%
m2_run = session.run("m2")
m2 = m2_run.model
print(get_run("m2").description)
print(f"labelled images kept by the model: {m2.labelled_y.numel()}, per class: {m2.labelled_y.bincount(minlength=10).tolist()}; "
      f"unlabelled: {int(m2.unlabelled_n):,}")
m2_entropy = m2_run.history.set_index("epoch").filter(like="entropy")
print("the classifier's mean entropy H(q(y|x)) (nats; log 10 = 2.30 is a uniform guess), by epoch, "
      "on the training batches (train_) and the validation images (val_):")
print(m2_entropy.T.to_string(float_format=lambda v: f"{v:.3f}"))

# %% [markdown]
# ## 3 · The unlabelled loss, written by you
#
# Given $\log q(y\mid x)$ and the bound $\mathcal L(x, y)$ of each image under each label, return
# $-\mathcal U(x)$ per image.

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
# **What $\mathcal U$ does to the classifier.** With $q_y = q(y\mid x)$ and
# $f_y = \mathcal L(x, y) - \log q_y$, $\mathcal U = \sum_y q_y f_y$. Since
# $\partial q_y/\partial a_k = q_y(\delta_{yk} - q_k)$ for the logit $a_k$, and
# $\sum_y q_y\,\partial f_y/\partial a_k = 0$,
#
# $$\frac{\partial\,\mathcal U}{\partial a_k} = q_k\,\big(f_k - \mathcal U\big)\quad\text{[exact]}.$$
#
# $\mathcal U$ moves probability towards the labels under which the decoder explains $x$ better than
# average, but the push is scaled by $q_k$: once $q(y\mid x)$ commits to a wrong digit, the right
# one has $q_k \approx 0$ and hardly moves. The cell checks the formula against autograd.

# %%
gen = torch.Generator().manual_seed(0)  # its own generator: the global random state is left as it was
logits = torch.randn(8, 10, dtype=torch.float64, generator=gen).requires_grad_()
bounds = -100 - 10 * torch.rand(8, 10, dtype=torch.float64, generator=gen)
log_q = torch.log_softmax(logits, dim=1)
u = -semisup.m2_unlabelled_loss(log_q, bounds)
(grad,) = torch.autograd.grad(u.sum(), logits)
q, f = log_q.exp().detach(), bounds - log_q.detach()
formula = q * (f - u.detach().unsqueeze(1))
print(f"largest |autograd − formula|: {(grad - formula).abs().max().item():.1e}")
assert torch.allclose(grad, formula)

# %% [markdown]
# ## 4 · How well does M2 classify?
#
# The test error of $\arg\max_y q(y\mid x)$, beside two classifiers that see the same 100 labelled
# images and nothing else: a **linear probe** on the pixels (`vaelib.eval.probe`) and a **small
# CNN** (notebook 07's classifier architecture). With 100 labels, *which* 100 matters as much as
# the training seed, so every model is trained on three labelled subsets (`semisup.pick_labelled`
# with label seeds 0, 1, 2) from three training seeds each: nine runs per method. The labelled
# subset turns out to move the error far more than the seed, so a comparison is decided over the
# **subsets**: each run's paired difference on the test images, averaged over the seeds of its
# subset, then a t-interval over the three subsets. Three subsets make a wide interval.

# %%
GRID = [(lab, seed) for lab in LABEL_SEEDS for seed in REPLICA_SEEDS]  # (labelled subset, training seed)


def grid(replicas):
    """{(labelled subset, training seed): run} from session.replicas of one model's three labelled subsets."""
    return {(lab, seed): run for lab, runs in zip(LABEL_SEEDS, replicas.values()) for seed, run in zip(REPLICA_SEEDS, runs)}


def labelled_subset(lab):
    idx = semisup.pick_labelled(splits.train.labels, 10, lab)
    return vdata.Split(splits.train.images[idx], splits.train.labels[idx], idx)


def wrong_of(predicted):
    return (predicted.cpu() != splits.test.labels).float()


def over_subsets(per_run):
    """{(subset, seed): number} -> the mean over each subset's seeds, then a t-interval over the subsets."""
    means = [sum(per_run[(lab, seed)] for seed in REPLICA_SEEDS) / len(REPLICA_SEEDS) for lab in LABEL_SEEDS]
    return over_seeds([Interval(m, m, m, len(splits.test)) for m in means])


def compare(a, b):
    """A − B in test error (per run: the mean paired difference over the test images), over the subsets."""
    return over_subsets({g: (a[g] - b[g]).mean().item() for g in GRID})


m2_grid = grid(session.replicas(["m2", "m2-labels-1", "m2-labels-2"]))  # labelled subsets 0, 1, 2
print(f"M2: {len(m2_grid)} runs (labelled subsets {LABEL_SEEDS} × training seeds {REPLICA_SEEDS})")
few = {lab: labelled_subset(lab) for lab in LABEL_SEEDS}
test_pixels = vdata.to_unit(splits.test.images).reshape(len(splits.test), -1)
pixel_probe = {lab: fit_linear_probe(vdata.to_unit(f.images).reshape(len(f), -1), f.labels, 10) for lab, f in few.items()}
wrong = {"M2": {g: wrong_of(r.model.classify(x_test)) for g, r in m2_grid.items()},
         "linear probe, 100 labels": {g: wrong_of(pixel_probe[g[0]].predict(test_pixels)) for g in GRID},
         "small CNN, 100 labels": {}}
for lab, seed in GRID:
    cnn = train_classifier(epochs=session.size("baseline_epochs"), progress=False, batch_size=20, seed=seed,
                           data=vdata.MNISTSplits(few[lab], splits.val, splits.test), device=session.device)
    wrong["small CNN, 100 labels"][(lab, seed)] = wrong_of(predict(cnn, splits.test.images))


def error_table(methods):
    per_run = {m: [100 * wrong[m][g].mean().item() for g in GRID] for m in methods}
    return pd.DataFrame({"mean %": {m: sum(v) / len(v) for m, v in per_run.items()},
                         "sd %": {m: torch.tensor(v).std().item() for m, v in per_run.items()},
                         "min %": {m: min(v) for m, v in per_run.items()},
                         "max %": {m: max(v) for m, v in per_run.items()}})


KINGMA_100 = {"NN": 25.81, "CNN": 22.98, "TSVM": 16.81, "M2": 11.97, "M1 + M2": 3.33}  # Kingma et al. 2014, Table 1
KINGMA_SD = {"M2": 1.71, "M1 + M2": 0.14}  # their ± (the other rows: baselines from earlier work, no spread)
errors = error_table(["M2", "linear probe, 100 labels", "small CNN, 100 labels"])
print(f"test error on {len(splits.test)} test images, over the {len(GRID)} runs of each method:")
print(errors.to_string(float_format=lambda v: f"{v:.2f}"))
print("Kingma et al. 2014, Table 1, 100 labels: " + ", ".join(
    f"{n} {e:.2f} %" + (f" ± {KINGMA_SD[n]}" if n in KINGMA_SD else "") for n, e in KINGMA_100.items()))
m2_by_run = pd.DataFrame({seed: {lab: 100 * wrong["M2"][(lab, seed)].mean().item() for lab in LABEL_SEEDS}
                          for seed in REPLICA_SEEDS}).rename_axis(index="labelled subset", columns="training seed")
print("M2's test error (%), by labelled subset and training seed:")
print(m2_by_run.to_string(float_format=lambda v: f"{v:.2f}"))
m2_level = over_subsets({g: w.mean().item() for g, w in wrong["M2"].items()})
gaps = {name: compare(wrong["M2"], wrong[name]) for name in ("linear probe, 100 labels", "small CNN, 100 labels")}
for name, d in gaps.items():
    runs_lower = sum((wrong["M2"][g] - wrong[name][g]).mean().item() < 0 for g in GRID)
    print(f"M2 − {name}: {100 * d.mean:+.2f} points [{100 * d.lo:+.2f}, {100 * d.hi:+.2f}] over {d.k} labelled subsets: "
          f"{d.verdict}; per subset " + ", ".join(f"{100 * i.mean:+.2f}" for i in d.per_seed) + f"; M2 lower in {runs_lower} of {len(GRID)} runs")
print(f"M2's mean test error: {100 * m2_level.mean:.2f} % [{100 * m2_level.lo:.2f}, {100 * m2_level.hi:.2f}] over {m2_level.k} labelled subsets")
with session.claims():  # three subsets decide neither comparison; M2 below the probe in every run; the paper's M2 and CNN
    assert gaps["linear probe, 100 labels"].verdict == "undecided", gaps
    assert all((wrong["M2"][g] - wrong["linear probe, 100 labels"][g]).mean() < 0 for g in GRID)
    assert gaps["small CNN, 100 labels"].verdict == "undecided", gaps
    per_subset = sorted(i.mean for i in gaps["small CNN, 100 labels"].per_seed)  # M2 behind on two, level on one
    assert abs(per_subset[0]) < 0.01 < per_subset[1], per_subset
    assert m2_level.lo < KINGMA_100["M2"] / 100 < m2_level.mean, m2_level  # above the paper's on average, not decided
    # the spread is between labelled subsets: their means differ far more than the seeds on one subset
    assert m2_by_run.mean(axis=1).std() > 2 * m2_by_run.std(axis=1).mean(), m2_by_run
    assert errors.loc["small CNN, 100 labels", "max %"] < KINGMA_100["CNN"], errors  # every run of ours beats their CNN baseline

# %% [markdown]
# **Reading the numbers.** M2 errs less often than the linear probe in every one of the nine runs,
# yet over three labelled subsets even that is undecided: the spread of M2's errors is mostly
# between subsets (the three seeds on one subset lie close together, the subsets' means differ far
# more) [3 subsets × 3 seeds]. Against the small CNN, M2 is behind on two subsets and level on
# the third (within a point): undecided [3 subsets × 3 seeds]. With 100 labels, *which* 100
# decides as much as the method, and a single run on one subset says little; the paper's ± 1.71
# is the same warning.
#
# Kingma et al.'s table has the opposite order of M2 and CNN: their CNN baseline with 100 labels,
# from earlier work, errs far more often than their M2 (printed above). Every run of our small CNN,
# trained with later tools (batch norm, Adam), errs less often than that baseline [9 runs]. Our M2
# is smaller and trains for fewer passes than theirs; its mean error is above their 11.97 %, but
# three subsets cannot decide that it misses it [3 subsets × 3 seeds].
#
# The entropy history printed in section 2 shows how confident $q(y\mid x)$ becomes, epoch by
# epoch; by section 3's gradient, confident wrong answers are hard to undo. Whether that, the
# protocol or the network sizes keeps our M2 from the paper's number is not measured here.

# %% [markdown] tags=["question"]
# **Question.** The classification term $-\alpha \log q(y\mid x)$ sees only 100 images. Through which
# term of $J$ do the 49,900 unlabelled images change the classifier, and why would that term push
# $q(y\mid x)$ towards the right digit rather than any digit?

# %% [markdown] tags=["answer"]
# **Answer.**
# Through $\mathcal U(x)$: its gradient moves $q(y\mid x)$ towards the labels under which the
# class-conditional decoder explains the image best (section 3's formula). The decoder learns what
# each $y$ looks like from the labelled images, and from the unlabelled ones once $q$ is right for
# them: the labels name the clusters, the unlabelled data shape them.

# %% [markdown]
# ## 5 · M1 + M2: M2 on a VAE's codes
#
# Kingma et al.'s best model with few labels stacks two. **M1** is a plain VAE of the images; it
# never sees a label. **M2** is section 2's model with M1's code $z_1$ in the place of the image
# and a Gaussian $p(z_1\mid y, z_2)$: its bounds are on the density of the codes.
#
# We train both in one run (`vaelib.models.m1m2.M1M2`): each step hands M2 draws
# $z_1 \sim q(z_1\mid x)$ **detached**, so M1 learns exactly what it would alone. The classifier is
# $\arg\max_y q(y\mid \mu_1(x))$. A third baseline: a **linear probe on M1's codes** $\mu_1(x)$,
# fitted on the same 100 images. Again nine runs: three labelled subsets × three training seeds.

# %%
m1m2_grid = grid(session.replicas(["m1m2", "m1m2-labels-1", "m1m2-labels-2"]))
print(get_run("m1m2").description)
wrong["M1 + M2"], wrong["linear probe on M1's codes, 100 labels"] = {}, {}
for g, run in m1m2_grid.items():
    with torch.no_grad():
        codes_few = run.model.encode(vdata.eval_inputs(few[g[0]].images, "fixed").to(session.device))[0]
        codes_test = run.model.encode(x_test)[0]
    wrong["M1 + M2"][g] = wrong_of(run.model.classify(x_test))
    wrong["linear probe on M1's codes, 100 labels"][g] = wrong_of(fit_linear_probe(codes_few, few[g[0]].labels, 10).predict(codes_test))
errors = error_table(list(wrong))
print(f"test error on {len(splits.test)} test images, over the {len(GRID)} runs of each method:")
print(errors.to_string(float_format=lambda v: f"{v:.2f}"))
m1m2_level = over_subsets({g: w.mean().item() for g, w in wrong["M1 + M2"].items()})
print(f"M1 + M2's mean test error: {100 * m1m2_level.mean:.2f} % [{100 * m1m2_level.lo:.2f}, {100 * m1m2_level.hi:.2f}] "
      f"over {m1m2_level.k} labelled subsets; Kingma et al.: {KINGMA_100['M1 + M2']} % ± {KINGMA_SD['M1 + M2']}")
m1m2_gaps = {name: compare(wrong["M1 + M2"], wrong[name])
             for name in ("M2", "small CNN, 100 labels", "linear probe on M1's codes, 100 labels")}
m1m2_gaps["codes − pixels, linear probe"] = compare(wrong["linear probe on M1's codes, 100 labels"], wrong["linear probe, 100 labels"])
for name, d in m1m2_gaps.items():
    label = name if name.startswith("codes") else f"M1 + M2 − {name}"
    print(f"{label}: {100 * d.mean:+.2f} points [{100 * d.lo:+.2f}, {100 * d.hi:+.2f}] over {d.k} labelled subsets: {d.verdict}")
with session.claims():  # M1 + M2 beats every other model here over the runs, and the paper's M2, not its 3.33 %
    assert all(m1m2_gaps[n].verdict == "lower" for n in ("M2", "small CNN, 100 labels", "linear probe on M1's codes, 100 labels")), m1m2_gaps
    assert m1m2_level.hi < KINGMA_100["M2"] / 100 and m1m2_level.lo > KINGMA_100["M1 + M2"] / 100, m1m2_level
    assert errors.loc["M1 + M2", "sd %"] < errors.loc["M2", "sd %"] / 4, errors  # hardly moved by the labelled subset
    assert m1m2_gaps["codes − pixels, linear probe"].verdict == "higher", m1m2_gaps  # codes read worse than pixels

# %% [markdown]
# **Reading the numbers.** M1 + M2 errs less often than our M2, the small CNN and the probe on
# its codes, below the paper's M2 and above its 3.33 % [3 subsets × 3 seeds], with a smaller M1
# trained for fewer passes than the paper's. Unlike M2, it hardly depends on which 100 images are
# labelled (compare the two rows' spreads in the table).
#
# Read linearly from the 100 labels, M1's codes are *worse* than the pixels [3 subsets × 3 seeds]: M1 does not
# simply make the digits linearly separable. One untested reading: if one digit's codes lie
# together, $\mathcal U(z_1)$ lets the unlabelled codes say where the clusters are, and the labels
# only name them; a probe that sees the labelled codes alone cannot use that.

# %% [markdown] tags=["question"]
# **Question.** M2's loss is stopped from reaching M1's networks (the codes are detached). What could
# go wrong if M1 were also trained on M2's bound $\mathcal U(z_1)$?

# %% [markdown] tags=["answer"]
# **Answer.**
# $\mathcal U(z_1)$ bounds a *density* of the codes, and a density has no upper limit: M1 could raise
# it by shrinking its codes or collapsing them onto a few points per class, rather than by
# describing the images. The sum of both objectives then bounds nothing about the images. Detaching
# keeps M1 an honest VAE of the images and M2 an honest model of its codes.

# %% [markdown]
# ## Summary
#
# - The CVAE draws the requested digit for most prior samples, for at least 97 % at $T = 0.5$
#   [1 run]; a 2-d $z$ agrees more often from the prior and fits worse by over ten nats [3 seeds].
# - Neither temperature nor latent size tells whether prior samples miss because $z$ carries part
#   of the label or because the prior has holes.
# - Given $y$, $z$ carries style: under another label a code is seldom drawn as its source [1 run].
# - $\mathcal U$'s gradient on the classifier is scaled by $q(y\mid x)$: confident wrong answers are
#   hard to undo [exact].
# - Which 100 images are labelled moves M2's error far more than the training seed: over three
#   subsets neither "M2 beats the linear probe" (true in all nine runs) nor "the small CNN beats M2"
#   is decided, nor whether our M2 misses the paper's 11.97 % [3 subsets × 3 seeds].
# - M1 + M2 beats every other model here and the paper's M2, not its 3.33 %, and barely depends on
#   the labelled subset [3 subsets × 3 seeds].

# %%
print("CVAE agreement: " + ", ".join(f"T = {t}: {100 * a.mean:.2f} % [{100 * a.lo:.2f}, {100 * a.hi:.2f}]"
                                    for t, a in cvae_agreement.items()))
trained = {**cvaes, "m2 (9 runs)": list(m2_grid.values()), "m1m2 (9 runs)": list(m1m2_grid.values())}
print("training time from the histories: "
      + ", ".join(f"{n} {sum(r.history['seconds'].sum() for r in runs) / 60:.1f} min" for n, runs in trained.items()))
shown = {**{f"CVAE: classifier agrees with the requested digit, T = {t}": a for t, a in cvae_agreement.items()},
         "CVAE with z = 2: classifier agrees with the requested digit, T = 1": prior_agreement["cvae-z2"][0],
         **{f"test error: {name} (9 runs, interval over 3 subsets)": over_subsets({g: w.mean().item() for g, w in wrong[name].items()})
            for name in wrong}}
results = pd.DataFrame({"measure": list(shown), "%": [100 * v.mean for v in shown.values()],
                        "95 % interval": [f"[{100 * v.lo:.2f}, {100 * v.hi:.2f}]" for v in shown.values()]}).set_index("measure")
print(results.to_string(float_format=lambda v: f"{v:.2f}"))
session.save_table(results, "11_results.md")
session.report_run_time()

# %% [markdown] tags=["question"]
# **Question.** Section 1 left two explanations for the misses from the prior: $z$ carries part of
# the label, or the prior has holes. Design an experiment with the trained CVAE whose outcome
# differs under the two.

# %% [markdown] tags=["answer"]
# **Answer.**
# Decode three kinds of code under a requested label: (a) prior draws; (b) codes of real digits *of
# the requested class*; (c) codes of real digits of other classes (section 1's swap test). Real
# codes lie where the aggregate posterior has mass, so holes predict that only (a) misses; a label
# carried in $z$ predicts that (c) misses and (b) does not.

# %% [markdown]
# ## References
#
# - Kingma, Rezende, Mohamed & Welling (2014). Semi-supervised learning with deep generative models. *NeurIPS*.
# - Sohn, Lee & Yan (2015). Learning structured output representation using deep conditional
#   generative models. *NeurIPS*.
# - Hoffman & Johnson (2016). ELBO surgery: yet another way to carve up the variational evidence
#   lower bound. *NeurIPS Workshop on Advances in Approximate Bayesian Inference*.
#
# **Next:** [12 · hierarchical VAEs and the IWAE objective](12_hierarchical_and_iwae.ipynb): two
# stochastic layers, and training with the importance-weighted bound.

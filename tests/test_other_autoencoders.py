"""WAE, GM-VAE and VQ-VAE: their loss terms against independent computations (torch.distributions,
explicit loops, Monte Carlo, enumeration), and the models end to end (train, resume, evaluate)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import distributions as D

from resume_check import assert_resume_is_exact
from vaelib import data as vdata
from vaelib.losses import (
    commitment_loss,
    imq_kernel,
    kl_gaussians,
    kl_mixture_prior,
    kl_std_normal,
    mixture_log_prob,
    mmd_unbiased,
)
from vaelib.metrics import evaluate
from vaelib.models import GMVAE, VQVAE, WAE, ModelConfig, build_model
from vaelib.models.vqvae import CodePrior, VectorQuantizer, codebook_usage
from vaelib.runs import get_preset
from vaelib.checkpoints import load_model
from vaelib.train import TrainConfig, train


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def splits():
    return vdata.load_mnist(subset=600)


# ----------------------------------------------------------------------------- GM-VAE terms


def test_kl_gaussians_matches_torch_distributions_and_reduces_to_kl_std_normal():
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    m, lv = torch.randn(5, 3), torch.randn(5, 3)
    ref = D.kl_divergence(D.Normal(mu, (0.5 * logvar).exp()), D.Normal(m, (0.5 * lv).exp())).sum(-1)
    assert torch.allclose(kl_gaussians(mu, logvar, m, lv), ref, atol=1e-5)
    zeros = torch.zeros(5, 3)
    assert torch.allclose(kl_gaussians(mu, logvar, zeros, zeros), kl_std_normal(mu, logvar), atol=1e-6)


def test_mixture_log_prob_matches_mixture_same_family():
    k, d = 4, 3
    means, logvars = torch.randn(k, d), 0.5 * torch.randn(k, d)
    weights = torch.softmax(torch.randn(k), 0)
    ref = D.MixtureSameFamily(D.Categorical(weights), D.Independent(D.Normal(means, (0.5 * logvars).exp()), 1))
    z = 2 * torch.randn(7, 2, d)
    assert torch.allclose(mixture_log_prob(z, means, logvars, weights.log()), ref.log_prob(z), atol=1e-5)


def test_kl_mixture_prior_matches_a_monte_carlo_estimate_of_the_joint_kl():
    """KL(q(y)q(z) || p(y)p(z|y)) = E_q[log q(y) + log q(z) - log p(y) - log p(z|y)], sampled."""
    k, d = 3, 2
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[-0.5, 0.3]])
    log_qy = torch.log(torch.tensor([[0.6, 0.3, 0.1]]))
    means, logvars = torch.randn(k, d), 0.3 * torch.randn(k, d)
    log_w = torch.log(torch.tensor([0.2, 0.5, 0.3]))
    exact = kl_mixture_prior(mu, logvar, log_qy, means, logvars, log_w)

    n = 400_000
    y = D.Categorical(logits=log_qy[0]).sample((n,))
    qz = D.Independent(D.Normal(mu[0], (0.5 * logvar[0]).exp()), 1)
    z = qz.sample((n,))
    pz_y = D.Independent(D.Normal(means[y], (0.5 * logvars[y]).exp()), 1)
    samples = log_qy[0][y] + qz.log_prob(z) - log_w[y] - pz_y.log_prob(z)
    se = samples.std() / math.sqrt(n)
    assert abs(exact.item() - samples.mean().item()) < 4 * se.item()


# ----------------------------------------------------------------------------- WAE terms


def test_imq_kernel_matches_explicit_loops():
    a, b, scales = torch.randn(4, 3), torch.randn(5, 3), (0.5, 2.0)
    ref = torch.tensor([[sum(c / (c + ((a[i] - b[j]) ** 2).sum()) for c in scales) for j in range(5)]
                        for i in range(4)])
    assert torch.allclose(imq_kernel(a, b, scales), ref, atol=1e-5)


def test_mmd_unbiased_matches_the_u_statistic_written_out():
    q, p, scales = torch.randn(6, 2) + 1.0, torch.randn(5, 2), (1.0, 3.0)

    def k(u, v):
        return sum(c / (c + ((u - v) ** 2).sum().item()) for c in scales)

    n, m = len(q), len(p)
    ref = (sum(k(q[i], q[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
           + sum(k(p[i], p[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
           - 2 * sum(k(q[i], p[j]) for i in range(n) for j in range(m)) / (n * m))
    assert mmd_unbiased(q, p, scales).item() == pytest.approx(ref, abs=1e-5)


def test_mmd_is_unbiased_near_zero_for_equal_distributions_and_grows_with_a_shift():
    scales = tuple(2.0 * 4 * f for f in (0.1, 1.0, 10.0))
    same = torch.stack([mmd_unbiased(torch.randn(64, 4), torch.randn(64, 4), scales) for _ in range(300)])
    assert abs(same.mean().item()) < 3 * same.std().item() / math.sqrt(300)  # E[MMD²_u] = 0
    assert (same < 0).any()  # unbiased, so it can dip below zero
    shifted = [mmd_unbiased(torch.randn(64, 4) + s, torch.randn(64, 4), scales).item() for s in (0.5, 1.0, 2.0)]
    assert shifted[0] > 5 * same.std().item() and shifted[0] < shifted[1] < shifted[2]
    with pytest.raises(ValueError):
        mmd_unbiased(torch.randn(1, 4), torch.randn(5, 4), scales)


def test_wae_is_deterministic_and_its_penalty_is_lambda_times_mmd_against_prior_draws():
    model = WAE(ModelConfig(kind="wae", hidden=(32,), latent_dim=3, extra={"mmd_lambda": 7.0})).eval()
    assert model.encoder.logvar is None  # no variance head
    x = torch.rand(16, 1, 28, 28)
    z1, none = model.encode(x)
    assert none is None and torch.equal(z1, model.encode(x)[0])
    torch.manual_seed(3)
    terms = model(x)
    torch.manual_seed(3)
    prior = torch.randn(16, 3)
    scales = [2.0 * 3 * f for f in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)]
    expected = 7.0 * mmd_unbiased(z1, prior, scales)
    assert torch.allclose(terms.penalty, expected.expand(16))
    assert terms.elbo is None and not hasattr(terms, "kl")  # no ELBO, and no field that pretends to be a KL
    assert torch.allclose(terms.loss, -terms.reconstruction + terms.penalty)
    with pytest.raises(ValueError, match="wae model: unknown settings in extra: \\['lambda'\\]"):
        WAE(ModelConfig(kind="wae", extra={"lambda": 1.0}))


# ----------------------------------------------------------------------------- VQ-VAE terms


def test_commitment_loss_is_the_squared_distance_and_stops_the_gradient_to_the_code():
    z_e = torch.randn(2, 4, 3, 3, requires_grad=True)
    z_q = torch.randn(2, 4, 3, 3, requires_grad=True)
    loss = commitment_loss(z_e, z_q)
    assert torch.allclose(loss, ((z_e - z_q) ** 2).flatten(1).sum(1))
    loss.sum().backward()
    assert z_q.grad is None and torch.allclose(z_e.grad, 2 * (z_e - z_q).detach())


def test_quantizer_picks_the_nearest_code_and_passes_gradients_straight_through():
    vq = VectorQuantizer(8, 3).eval()
    z_e = torch.randn(2, 3, 4, 4, requires_grad=True)
    z_st, z_q, codes = vq(z_e)
    flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, 3)
    brute = torch.tensor([min(range(8), key=lambda k: ((v - vq.codebook[k]) ** 2).sum().item()) for v in flat])
    assert torch.equal(codes.flatten(), brute)
    assert torch.allclose(z_q.permute(0, 2, 3, 1).reshape(-1, 3), vq.codebook[brute])
    assert torch.allclose(z_st, z_q)  # forward value: the code
    w = torch.randn_like(z_st)
    (w * z_st).sum().backward()
    assert torch.allclose(z_e.grad, w)  # backward: identity


def test_ema_update_follows_the_moving_average_formula():
    gamma = 0.9
    vq = VectorQuantizer(2, 2, decay=gamma, dead_threshold=0.0)  # no restarts: the formula alone
    a1 = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 5.0]])
    c1 = torch.tensor([0, 0, 1])
    vq.ema_update(a1, c1)
    # after one step the bias correction makes each code the mean of its vectors
    assert torch.allclose(vq.codebook, torch.tensor([[2.0, 0.0], [0.0, 5.0]]))
    a2 = torch.tensor([[5.0, 1.0], [0.0, 1.0]])
    c2 = torch.tensor([0, 1])
    vq.ema_update(a2, c2)
    # e_k = (γ Σ_1 + Σ_2) / (γ n_1 + n_2), the (1 - γ) and the bias correction cancel
    e0 = (gamma * torch.tensor([4.0, 0.0]) + torch.tensor([5.0, 1.0])) / (gamma * 2 + 1)
    e1 = (gamma * torch.tensor([0.0, 5.0]) + torch.tensor([0.0, 1.0])) / (gamma * 1 + 1)
    assert torch.allclose(vq.codebook, torch.stack([e0, e1]), atol=1e-6)


def test_dead_codes_restart_on_encoder_outputs():
    vq = VectorQuantizer(4, 2, decay=0.99)
    vq.codebook.copy_(torch.tensor([[0.0, 0.0], [100.0, 100.0], [-100.0, 100.0], [100.0, -100.0]]))
    batch = torch.randn(32, 2) * 0.1
    vq.ema_update(batch, vq.nearest(batch))  # every vector picks code 0; 1-3 are dead
    for k in (1, 2, 3):
        assert any(torch.equal(vq.codebook[k], v) for v in batch), k  # moved onto a data point
    assert torch.allclose(vq.ema_count[1:] / (1 - 0.99), torch.ones(3))


def test_codebook_usage_counts_and_perplexity():
    u = codebook_usage(torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]), 10)
    assert u["codes_used"] == 4 and u["perplexity"] == pytest.approx(4.0)
    assert codebook_usage(torch.zeros(5, dtype=torch.long), 3)["perplexity"] == pytest.approx(1.0)


def test_code_prior_is_causal_and_its_log_prob_is_the_chain_rule():
    prior = CodePrior(5, 6, width=16, layers=2, heads=2).eval()
    codes = torch.randint(0, 5, (3, 6))
    full = prior.logits(codes)
    for j in range(6):  # changing code j changes no conditional at positions ≤ j
        changed = codes.clone()
        changed[:, j] = (changed[:, j] + 1) % 5
        assert torch.allclose(prior.logits(changed)[:, : j + 1], full[:, : j + 1], atol=1e-5), j
        if j < 5:
            assert not torch.allclose(prior.logits(changed)[:, j + 1 :], full[:, j + 1 :])
    # log p(c) = Σ_i log p(c_i | c_<i), each conditional computed from the prefix alone
    chain = sum(torch.log_softmax(prior.logits(codes[:, : i + 1])[:, i], -1).gather(1, codes[:, i : i + 1]).squeeze(1)
                for i in range(6))
    assert torch.allclose(prior.log_prob(codes), chain, atol=1e-5)


def test_code_prior_samples_follow_its_own_distribution():
    prior = CodePrior(3, 2, width=8, layers=1, heads=2).eval()
    with torch.no_grad():
        prior.head.weight.mul_(20)  # a far-from-uniform distribution to compare with
    seqs = torch.tensor(list(itertools.product(range(3), repeat=2)))
    p = prior.log_prob(seqs).exp().detach()
    assert p.sum().item() == pytest.approx(1.0, abs=1e-5)
    n = 30_000
    draws = prior.sample(n, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws[:, 0] * 3 + draws[:, 1], minlength=9).double() / n
    assert torch.allclose(freq, p.double(), atol=4 * math.sqrt(0.25 / n))
    assert torch.equal(prior.sample(n, generator=torch.Generator().manual_seed(0)), draws)  # a seed fixes it


def test_code_prior_samples_with_its_kv_cache_what_the_prefix_passes_give():
    """sample() runs each step on the newest position with the earlier keys and values kept; drawn
    from `logits` on the whole prefix instead (L passes of the full Transformer), the same uniforms
    must pick the same codes."""
    torch.manual_seed(1)
    prior = CodePrior(7, 9, width=16, layers=2, heads=4).eval()
    with torch.no_grad():
        prior.head.weight.mul_(5)  # sharper conditionals than a fresh init's near-uniform ones
        n, gen, codes = 500, torch.Generator().manual_seed(3), torch.zeros(500, 0, dtype=torch.long)
        for i in range(9):
            probs = torch.softmax(prior.logits(torch.cat([codes, codes.new_zeros(n, 1)], 1))[:, i], dim=-1)
            u = torch.rand(n, 1, generator=gen)
            codes = torch.cat([codes, (probs.cumsum(1) < u).sum(1, keepdim=True).clamp(max=6)], dim=1)
    drawn = prior.sample(n, generator=torch.Generator().manual_seed(3))
    assert drawn.shape == (n, 9) and torch.equal(drawn, codes)
    assert len(set(map(tuple, drawn.tolist()))) > 100  # varied draws, not one sequence repeated


def test_vqvae_elbo_is_reconstruction_plus_log_prior_of_the_codes():
    model = VQVAE(ModelConfig(kind="vq-vae", arch="conv", conv_channels=(8, 16), latent_dim=4,
                              extra={"codebook_size": 16, "prior_width": 16, "prior_layers": 1})).eval()
    x = torch.rand(5, 1, 28, 28)
    t = model(x)
    codes = model.codes(x)
    recon = -torch.nn.functional.binary_cross_entropy_with_logits(model.decode_codes(codes), x, reduction="none").flatten(1).sum(1)
    log_prior = model.prior.log_prob(codes.flatten(1))
    assert torch.allclose(t.reconstruction, recon, atol=1e-4)
    assert torch.allclose(t.elbo, recon + log_prior, atol=1e-4)
    z_e, _ = model.encode(x)
    commit = ((z_e - model.quantizer.codebook[codes].permute(0, 3, 1, 2)) ** 2).flatten(1).sum(1)
    assert torch.allclose(t.loss, -t.elbo + 0.25 * commit, atol=1e-3)
    with pytest.raises(ValueError, match="convolutional"):
        VQVAE(ModelConfig(kind="vq-vae", arch="fc"))


# ----------------------------------------------------------------------------- GM-VAE model


def test_gmvae_elbo_prior_and_sampling():
    model = GMVAE(ModelConfig(kind="gm-vae", hidden=(32,), latent_dim=2, extra={"components": 3})).eval()
    x = torch.rand(4, 1, 28, 28)
    mu, logvar, log_qy = model.encode_all(x)
    assert torch.allclose(log_qy.exp().sum(1), torch.ones(4))
    torch.manual_seed(1)
    t = model(x)
    kl = kl_mixture_prior(mu, logvar, log_qy, model.prior_means, model.prior_logvars,
                          torch.full((3,), -math.log(3)))
    assert torch.allclose(t.kl, kl, atol=1e-5) and torch.allclose(t.elbo, t.reconstruction - kl)
    mix = D.MixtureSameFamily(D.Categorical(torch.ones(3) / 3),
                              D.Independent(D.Normal(model.prior_means, (0.5 * model.prior_logvars).exp()), 1))
    z = torch.randn(6, 2)
    assert torch.allclose(model.log_prior(z), mix.log_prob(z), atol=1e-5)
    a = model.sample_component(0, 8, generator=torch.Generator().manual_seed(0))
    b = model.sample_component(1, 8, generator=torch.Generator().manual_seed(0))
    assert a.shape == (8, 1, 28, 28) and not torch.allclose(a, b)
    assert model.sample(5, generator=torch.Generator().manual_seed(0)).shape == (5, 1, 28, 28)


# ----------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("name", ["wae", "gm-vae", "vq-vae"])
def test_presets_train_finitely_reload_and_evaluate(name, splits, tmp_path):
    p = get_preset(name)
    assert p.model.kind == name and p.train.batch_size == 256 and p.train.epochs == 10  # the Experimental Results protocol
    cfg = TrainConfig(epochs=2, batch_size=64, subset=600, iwae_k=5, iwae_n=50)
    r = train(p.model, cfg, tmp_path, progress=False, data=splits)
    h = r.history
    assert h["train_loss"].notna().all() and h["train_loss"].iloc[-1] < h["train_loss"].iloc[0]
    again = load_model(tmp_path / "model.pt")
    x = vdata.to_unit(splits.test.images[:20])
    assert type(again) is type(r.model)
    assert torch.allclose(again.reconstruct(x), r.model.reconstruct(x), atol=1e-6)
    m = evaluate(r.model, splits.test, eval_targets="grey", iwae_k=5, iwae_n=20)
    assert m["model_kind"] == name and 0 < m["recon_mse"] < 0.2
    if name == "wae":
        assert math.isnan(m["test_elbo"]) and math.isnan(m["iwae_nll"]) and m["test_penalty"] > -1
        assert m["active_units"] <= 20
    elif name == "gm-vae":
        assert math.isfinite(m["iwae_nll"]) and m["iwae_nll"] <= -m["test_elbo"] + 5  # L_k above L_1, up to noise
    else:
        assert math.isfinite(m["test_elbo"]) and 1 <= m["codes_used"] <= 64 and math.isnan(m["active_units"])
    s = r.model.sample(4, generator=torch.Generator().manual_seed(0))
    assert s.shape == (4, 1, 28, 28) and s.min() >= 0 and s.max() <= 1


def test_vqvae_resume_is_bit_exact_including_the_codebook(splits, tmp_path):
    mcfg = ModelConfig(kind="vq-vae", arch="conv", conv_channels=(8, 16), latent_dim=4,
                       extra={"codebook_size": 16, "prior_width": 16, "prior_layers": 1})
    assert_resume_is_exact(mcfg, TrainConfig(epochs=3, batch_size=64, subset=600), splits, tmp_path, stop_after=1)


def test_registry_builds_every_kind_and_rejects_unknown_settings():
    for kind, cls in [("wae", WAE), ("gm-vae", GMVAE), ("vq-vae", VQVAE)]:
        assert isinstance(build_model(get_preset(kind).model.to_dict()), cls)
    with pytest.raises(ValueError, match="gm-vae model: unknown settings in extra"):
        GMVAE(ModelConfig(kind="gm-vae", extra={"k": 3}))
    with pytest.raises(ValueError, match="vq-vae model: unknown settings in extra"):
        VQVAE(ModelConfig(kind="vq-vae", arch="conv", extra={"codes": 3}))


@pytest.mark.parametrize("kind, arch", [("vae", "fc"), ("wae", "fc"), ("gm-vae", "fc"), ("vq-vae", "conv")])
def test_every_family_rejects_settings_it_would_ignore_one_way(kind, arch):
    """One error style for all: an unknown `extra` key, or a β for a family without a KL term."""
    with pytest.raises(ValueError, match=f"^{kind} model: unknown settings in extra: \\['nope'\\] \\(accepted: "):
        build_model(ModelConfig(kind=kind, arch=arch, extra={"nope": 1}))
    cls = type(build_model(ModelConfig(kind=kind, arch=arch)))
    if cls.USES_BETA:
        assert build_model(ModelConfig(kind=kind, arch=arch, beta=4.0)).config.beta == 4.0
    else:
        with pytest.raises(ValueError, match=f"^{kind} model: beta = 4 would be ignored"):
            build_model(ModelConfig(kind=kind, arch=arch, beta=4.0))


@pytest.mark.parametrize("kind, arch, terms", [
    ("vae", "fc", ("kl",)), ("gm-vae", "fc", ("kl",)), ("wae", "fc", ("penalty",)),
    ("vq-vae", "conv", ("code_nats", "commitment")),
])
def test_terms_say_what_they_are_and_add_up_to_the_loss(kind, arch, terms):
    model = build_model(ModelConfig(kind=kind, arch=arch, latent_dim=4, conv_channels=(4, 8)))
    assert model.TERMS == terms and set(model.TERM_LABELS) == set(terms)
    t = model(torch.rand(6, 1, 28, 28))
    parts = {name: getattr(t, name) for name in terms}
    if kind == "vq-vae":
        assert torch.allclose(t.loss, -t.reconstruction + parts["code_nats"] + model.commitment * parts["commitment"])
        assert torch.allclose(t.elbo, t.reconstruction - parts["code_nats"])
    else:
        assert torch.allclose(t.loss, -t.reconstruction + sum(parts.values()), atol=1e-4)
    assert (t.elbo is None) == (model.RATE is None) == ("elbo" not in model.METRICS)
    assert model.loss_label.startswith("−ELBO") == (model.RATE is not None)

"""The models of notebooks 10-12: the autoregressive VAE, the hierarchical VAE with the IWAE
objective, the conditional VAE and M2; and runs that continue a shorter run's checkpoint."""

from __future__ import annotations

import math

import pytest
import torch

from vaelib import data as vdata
from vaelib.cache import load_or_train
from vaelib.losses import iwae_bound
from vaelib.metrics import evaluate, mean_terms
from vaelib.models import VAE, ModelConfig, build_model
from vaelib.models.arvae import free_bits_kl, local_mask, made_masks, warmup_beta
from vaelib.models.hvae import active_units_per_layer
from vaelib.models.semisup import m2_unlabelled_loss, pick_labelled
from vaelib.runs import get_run
from vaelib.train import TrainConfig, train


def _ar(decoder: str = "made", **extra) -> torch.nn.Module:
    cfg = ModelConfig(kind="ar-vae", hidden=(16,), decoder_hidden=(16,), latent_dim=3,
                      extra={"decoder": decoder, "made_hidden": 32, "window": 5, **extra})
    torch.manual_seed(0)
    model = build_model(cfg)
    torch.nn.init.normal_(model.w_direct, std=0.1)
    return model


def _binary(n: int = 4) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, 1, 28, 28), 0.3, dtype=torch.float32))


# ----------------------------------------------------------------------------- 10: ar-vae


@pytest.mark.parametrize("decoder", ["made", "local"])
def test_pixel_i_depends_only_on_earlier_pixels(decoder):
    model = _ar(decoder)
    x = _binary(1).requires_grad_(True)
    params = model.decode(torch.zeros(1, 3))
    jac = torch.autograd.functional.jacobian(lambda v: model.logits(v, params)[0], x).reshape(784, 784)
    reads = jac.abs() > 0
    assert not reads.triu().any()  # j >= i never
    assert reads.tril(-1).any()  # and it does read earlier pixels
    if decoder == "local":
        i, j = reads.nonzero().T
        assert int((i - j).max()) <= 5


def test_masks_are_autoregressive():
    to_hidden, to_output, direct = made_masks(6, 4)
    through_hidden = (to_output @ to_hidden) > 0
    earlier = torch.ones(6, 6).tril(-1) > 0
    assert not (through_hidden & ~earlier).any() and through_hidden.any()  # only earlier inputs, some of them
    assert torch.equal(direct > 0, earlier)  # the direct connections reach every earlier input
    assert torch.equal(local_mask(5, 2), torch.tensor([[0, 0, 0, 0, 0], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0],
                                                       [0, 1, 1, 0, 0], [0, 0, 1, 1, 0]]).float())


def test_the_likelihood_is_a_normalised_distribution_over_a_tiny_image():
    """Σ_x p(x | z) = 1 over all images that differ in their first 3 pixels (the rest fixed):
    the chain rule holds only if pixel i never reads pixels >= i."""
    model = _ar("made")
    base = _binary(1)
    z = torch.randn(1, 3)
    images = base.repeat(8, 1, 1, 1).reshape(8, 784)
    for b in range(8):
        images[b, :3] = torch.tensor([(b >> k) & 1 for k in range(3)], dtype=torch.float32)
    x = images.reshape(8, 1, 28, 28)
    params = model.decode(z.repeat(8, 1))
    logits = model.logits(x, params)[:, :3]  # the first three pixels' own probabilities
    log_p = -torch.nn.functional.binary_cross_entropy_with_logits(logits, x.reshape(8, 784)[:, :3], reduction="none").sum(1)
    assert torch.logsumexp(log_p, 0).abs() < 1e-5


def test_free_bits_mean_is_the_floored_objective_and_floored_dimensions_get_no_gradient():
    kl = (torch.rand(50, 6) * torch.tensor([0.1, 0.2, 0.3, 1.0, 2.0, 3.0])).requires_grad_(True)
    lam = 0.4
    out = free_bits_kl(kl, lam)
    assert out.shape == (50,)
    assert torch.allclose(out.mean(), kl.detach().mean(0).clamp(min=lam).sum())
    out.sum().backward()
    below = kl.detach().mean(0) < lam
    assert below.any() and (~below).any()
    assert (kl.grad[:, below] == 0).all() and (kl.grad[:, ~below] == 1).all()
    assert torch.equal(free_bits_kl(kl.detach(), 0.0), kl.detach().sum(1))


def test_warm_up_counts_training_steps_only_and_resumes_from_the_checkpoint(tmp_path):
    assert [warmup_beta(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_beta(3, 0, 0.5) == 0.5
    model = _ar("made", warmup_steps=10)
    x = _binary(8)
    model.train()
    assert model(x).beta == pytest.approx(0.1) and int(model.steps) == 1
    with torch.no_grad():
        model(x)  # no gradient: not a step
    model.eval()
    model(x)
    assert int(model.steps) == 1
    cfg = ModelConfig(kind="ar-vae", hidden=(16,), decoder_hidden=(16,), latent_dim=3,
                      extra={"made_hidden": 16, "warmup_steps": 50})
    t = TrainConfig(epochs=1, batch_size=100, targets="dynamic", subset=300, iwae_k=2, iwae_n=20)
    one = train(cfg, t, tmp_path / "a", progress=False)
    assert int(one.model.steps) == 3  # 300 images, batch 100
    two = train(cfg, TrainConfig(**{**t.to_dict(), "epochs": 2}), tmp_path / "a", progress=False)  # resumes
    assert int(two.model.steps) == 6
    assert math.isnan(one.metrics["recon_mse"])  # E[x | z] has no closed form: no reconstruction MSE


@pytest.mark.parametrize("use_z", [True, False])
def test_cutting_the_wire_from_z_leaves_the_decoder_alone(use_z):
    """use_z=False: log p(x | z) is the same for every z (the decoder alone), and training drives the
    KL of q(z | x) to zero; the default decoder's likelihood changes with z."""
    torch.manual_seed(0)
    model, x = _ar("made", use_z=use_z), _binary(6)
    for p in model.parameters():  # (the z-path starts small; make it matter)
        torch.nn.init.normal_(p, std=0.1)
    z1, z2 = torch.randn(6, model.latent_dim), torch.randn(6, model.latent_dim)
    same = torch.allclose(model.log_likelihood(x, model.decode(z1)), model.log_likelihood(x, model.decode(z2)))
    assert same is not use_z
    if not use_z:
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        kl0 = model(x).kl.mean().item()
        for _ in range(200):
            opt.zero_grad()
            model(x).loss.mean().backward()
            opt.step()
        assert kl0 > 0.5 and model(x).kl.mean().item() < 0.05 * kl0


def test_ancestral_samples_are_binary_images():
    model = _ar("local")
    x = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (3, 1, 28, 28) and set(x.unique().tolist()) <= {0.0, 1.0}


# ----------------------------------------------------------------------------- 12: hvae


def _hvae(layers: int, objective: str = "elbo", k: int = 1) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(kind="hvae", latent_dim=50, extra={"layers": layers, "objective": objective, "k": k}))


@pytest.mark.parametrize("layers", [1, 2])
def test_the_iwae_objective_is_minus_the_bound_of_the_log_weights(layers):
    model = _hvae(layers, "iwae", 4)
    x = _binary(5)
    torch.manual_seed(1)
    terms = model(x)
    torch.manual_seed(1)
    log_w, _ = model.log_weights(x, 4)
    assert torch.allclose(terms.loss, -(torch.logsumexp(log_w, 0) - math.log(4)))
    assert torch.allclose(terms.elbo, log_w.mean(0))
    assert torch.allclose(terms.reconstruction - terms.kl, terms.elbo)


def test_two_layer_log_weight_is_log_p_minus_log_q_at_the_drawn_codes():
    from vaelib.losses import bernoulli_log_prob, gaussian_diag_log_prob, std_normal_log_prob

    model = _hvae(2)
    x = _binary(3)
    torch.manual_seed(2)
    log_w, log_px = model.log_weights(x, 1)
    torch.manual_seed(2)  # the same draws, by hand: z1 ~ q(z1 | x), z2 ~ q(z2 | z1)
    mu1, lv1 = model.up[0](x.reshape(3, 784))
    z1 = mu1 + torch.exp(0.5 * lv1) * torch.randn_like(mu1)
    mu2, lv2 = model.up[1](z1)
    z2 = mu2 + torch.exp(0.5 * lv2) * torch.randn_like(mu2)
    log_p = (bernoulli_log_prob(x, model.decode(z1)) + gaussian_diag_log_prob(z1, *model.down[0](z2))
             + std_normal_log_prob(z2))
    log_q = gaussian_diag_log_prob(z1, mu1, lv1) + gaussian_diag_log_prob(z2, mu2, lv2)
    assert torch.allclose(log_w[0], log_p - log_q, atol=1e-3)
    assert torch.allclose(log_px[0], bernoulli_log_prob(x, model.decode(z1)), atol=1e-4)


@pytest.mark.parametrize("layers", [1, 2])
def test_k_log_weights_are_k_one_draw_weights_of_each_image(layers):
    # q(z1 | x) is computed once per image and drawn from k times: the same as k copies of the image
    model = _hvae(layers)
    x = _binary(4)
    torch.manual_seed(3)
    log_w, log_px = model.log_weights(x, 3)
    torch.manual_seed(3)
    one_w, one_px = model.log_weights(x.repeat(3, 1, 1, 1), 1)
    assert log_w.shape == (3, 4)
    assert torch.allclose(log_w, one_w.reshape(3, 4), atol=1e-3)
    assert torch.allclose(log_px, one_px.reshape(3, 4), atol=1e-3)
    assert not torch.allclose(log_w[0], log_w[1])  # three different draws per image


def test_iwae_bound_uses_the_models_own_log_weights_and_rises_with_k():
    model = _hvae(2).eval()
    x = _binary(20)
    torch.manual_seed(0)
    l1 = torch.stack([iwae_bound(model, x, 1) for _ in range(20)]).mean(0)
    torch.manual_seed(0)
    l50 = iwae_bound(model, x, 50)
    assert (l50 > l1).float().mean() > 0.9
    # one layer: the generic path (encode, decode, N(0, I) prior) estimates the same bound
    one = _hvae(1).eval()
    torch.manual_seed(0)
    own = iwae_bound(one, x, 2000)
    log_weights = one.log_weights
    del type(one).log_weights  # the generic path, once
    try:
        torch.manual_seed(0)
        generic = iwae_bound(one, x, 2000)
    finally:
        type(one).log_weights = log_weights
    assert torch.allclose(own, generic, atol=0.5)


def test_active_units_per_layer_sees_a_dead_top_layer():
    model = _hvae(2).eval()
    with torch.no_grad():
        model.up[1].mu.weight.zero_()  # E_q[z2 | x] no longer depends on x
    units = active_units_per_layer(model, _binary(200), samples=10, threshold=1e-6)
    assert units[0] > 0 and units[1] == 0


# ----------------------------------------------------------------------------- 11: cvae, m2


def test_per_image_elbo_gives_a_conditional_model_each_image_s_label():
    from vaelib.eval.likelihood import per_image_elbo

    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="cvae", hidden=(32,), decoder_hidden=(32,), latent_dim=4)).eval()
    x, y = _binary(6), torch.arange(6)
    parts = per_image_elbo(model, x, labels=y, batch_size=4)  # two batches: each gets its own labels
    with torch.random.fork_rng():
        torch.manual_seed(0)
        by_hand = torch.cat([model(x[:4], y[:4]).elbo, model(x[4:], y[4:]).elbo])
    assert torch.allclose(parts["elbo"], by_hand)
    assert not torch.allclose(per_image_elbo(model, x, labels=(y + 1) % 10)["elbo"], parts["elbo"])


def test_cvae_trains_on_labelled_batches_and_the_label_changes_the_digit(tmp_path):
    cfg = ModelConfig(kind="cvae", hidden=(32,), decoder_hidden=(32,), latent_dim=4)
    result = train(cfg, TrainConfig(epochs=1, batch_size=100, targets="dynamic", subset=300, iwae_k=0), tmp_path, progress=False)
    model = result.model
    assert list(result.history["epoch"]) == [1] and math.isfinite(result.history["val_elbo"][0])
    z = torch.zeros(2, 4)
    assert not torch.allclose(model.generate(z, torch.tensor([3, 3])), model.generate(z, torch.tensor([3, 8])))
    with pytest.raises(ValueError, match="labels"):
        model(_binary(2))
    x, y = _binary(6), torch.arange(6)
    parts = mean_terms(model, x, labels=y)
    assert parts["elbo"] == pytest.approx(parts["log_px"] - parts["kl"], abs=1e-3)


def test_m2_unlabelled_loss_is_minus_the_bound_with_y_summed_out():
    log_q = torch.log_softmax(torch.randn(4, 10), 1)
    bounds = -torch.rand(4, 10) * 100
    q = log_q.exp()
    brute = torch.stack([-(sum(q[b, y] * (bounds[b, y] - log_q[b, y]) for y in range(10))) for b in range(4)])
    assert torch.allclose(m2_unlabelled_loss(log_q, bounds), brute)


def _fake_training_split(labels: torch.Tensor):
    """A training split of random grey images (uint8) with these labels."""
    return vdata.Split((torch.rand(labels.shape[0], 1, 28, 28) * 255).to(torch.uint8), labels)


def _m2(labels: torch.Tensor = torch.arange(200) % 10):
    """A small image M2 with 20 labelled images (seed 0), its training split attached."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="m2", hidden=(32,), decoder_hidden=(32,), latent_dim=4, extra={"labelled": 20}))
    model.attach_training_data(_fake_training_split(labels))
    return model


def test_m2_keeps_a_balanced_labelled_set_and_uses_it_only_in_training():
    labels = torch.arange(200) % 10
    idx = pick_labelled(labels, 3, seed=0)
    assert torch.equal(labels[idx].bincount(minlength=10), torch.full((10,), 3))
    assert torch.equal(idx, pick_labelled(labels, 3, seed=0)) and not torch.equal(idx, pick_labelled(labels, 3, seed=1))
    model = _m2(labels)
    assert int(model.unlabelled_n) == 180 and torch.equal(model.labelled_y.bincount(minlength=10), torch.full((10,), 2))
    x = _binary(5)
    model.eval()
    t = model(x)
    assert (t.labelled_loss == 0).all() and torch.allclose(t.loss, -t.elbo)
    assert torch.allclose(t.elbo, t.reconstruction - t.kl, atol=1e-4)
    model.train()
    t = model(x)
    assert (t.labelled_loss > 0).all() and torch.allclose(t.loss, -t.elbo + t.labelled_loss, atol=1e-3)


def _m1m2(labelled: int = 20):
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="m1m2", hidden=(32,), latent_dim=6,
                                    extra={"labelled": labelled, "m2_hidden": 16, "m2_latent": 3}))
    model.attach_training_data(_fake_training_split(torch.arange(200) % 10))
    return model


def test_m1m2s_m2_reads_m1s_codes_with_a_gaussian_likelihood_and_never_moves_m1():
    """M1's gradient is that of its own -ELBO, whatever M2 does with the codes; M2's bound on a
    code is semisup.M2's with a diagonal Gaussian p(z1 | y, z2)."""
    model, x = _m1m2(), _binary(8)
    m1 = [p for n, p in model.named_parameters() if not n.startswith("m2.")]
    torch.manual_seed(1)
    t = model(x)  # training mode: the labelled term is in
    assert (t.labelled_loss > 0).all() and torch.allclose(t.loss, -t.elbo - t.m2_bound + t.labelled_loss, atol=1e-3)
    grads = torch.autograd.grad(t.loss.mean(), m1)
    torch.manual_seed(1)  # M1's draw comes first: the same z1 as above
    alone = torch.autograd.grad(VAE.forward(model, x).loss.mean(), m1)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads, alone))
    assert any(g.abs().sum() > 0 for g in torch.autograd.grad(t.loss.mean(), list(model.m2.parameters()),
                                                              allow_unused=True) if g is not None)
    z1, y = torch.randn(4, 6), torch.arange(4)
    out = model.m2.decode_given(torch.randn(4, 3), y)
    mean, log_sigma = out.chunk(2, dim=1)
    by_hand = (-0.5 * ((z1 - mean) / log_sigma.exp()) ** 2 - log_sigma - 0.5 * math.log(2 * math.pi)).sum(1)
    assert out.shape == (4, 12) and torch.allclose(model.m2.log_likelihood(z1, out), by_hand, atol=1e-5)
    model.eval()
    assert torch.equal(model.classify(x), model.m2.classify(model.encode(x)[0]))  # at the code's mean
    assert (model(x).labelled_loss == 0).all()


def test_m2_on_images_trains_as_before_the_features_setting():
    """`features` = 0 (the default) is the image M2 of notebook 11, draw for draw: the labelled term
    is drawn after the batch's terms, as it was before M2 could read codes."""
    model, x = _m2(), _binary(5)
    torch.manual_seed(3)
    t = model(x)
    torch.manual_seed(3)
    terms = model.terms(x)
    assert torch.allclose(t.loss, terms.loss + model.labelled_loss())


# ----------------------------------------------------------------------------- continued runs


def test_a_continued_run_ends_where_an_uninterrupted_run_of_its_length_does(tmp_path):
    short = load_or_train("burda-1l-vae", test=True, cache_root=tmp_path / "cache", progress=False)
    longer = load_or_train("burda-1l-vae-15-epochs", test=True, cache_root=tmp_path / "cache", progress=False)
    assert len(short.history) == 1 and list(longer.history["epoch"]) == [1, 2]
    assert longer.history["seconds"][0] == short.history["seconds"][0]  # epoch 1 was not trained again
    assert longer.history.iloc[0].drop(["seconds", "train_seconds"]).equals(short.history.iloc[0].drop(["seconds", "train_seconds"]))
    straight = train(*get_run("burda-1l-vae-15-epochs").configs(test=True), tmp_path / "straight", progress=False)
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, longer.model.state_dict()[k]), k

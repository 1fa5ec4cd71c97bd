"""The canonical NLL (vaelib.eval.likelihood), the discretized Gaussian and the verdict statistics
(vaelib.eval.stats)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from vaelib import data as vdata
from vaelib.eval.likelihood import (NLL, DiscretizedGaussian, canonical_nll, per_image_elbo, per_image_mse,
                                    per_image_nll, scored_images)
from vaelib.eval.stats import Interval, mean_se, over_seeds, paired_bootstrap, seed_intervals, seed_verdict, t_quantile
from vaelib.losses import discretized_gaussian_log_prob, gaussian_log_prob
from vaelib.metrics import iwae_nll, mean_terms, reconstruction_mse
from vaelib.models import ModelConfig, build_model

LEVELS = torch.arange(256, dtype=torch.float32).div(255).view(256, 1)


@pytest.mark.parametrize("mu, sigma", [(0.3, 0.1), (0.0, 0.03), (0.999, 1.0), (0.5, 1e-3), (4.0, 0.01), (-3.0, 0.2)])
def test_discretized_gaussian_is_a_probability_over_the_256_levels(mu, sigma):
    log_p = discretized_gaussian_log_prob(LEVELS, torch.full_like(LEVELS, mu), math.log(sigma))
    assert torch.isfinite(log_p).all() and (log_p <= 1e-6).all()
    assert log_p.double().exp().sum().item() == pytest.approx(1.0, abs=1e-5)


def test_discretized_gaussian_is_the_density_times_the_bin_width_for_a_wide_sigma():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 255, (3, 1, 28, 28), generator=g).float().div(255)  # inner bins only
    mean = torch.rand(3, 1, 28, 28, generator=g)
    exact = discretized_gaussian_log_prob(x, mean, math.log(0.5))
    approx = gaussian_log_prob(x, mean, math.log(0.5)) + 784 * math.log(1 / 255)
    assert torch.allclose(exact, approx, atol=0.05)


def test_discretized_gaussian_gives_the_outer_bins_the_tails():
    # μ far below 0: almost all mass is in the level 0 bin, which reaches to -∞
    log_p = discretized_gaussian_log_prob(torch.zeros(1, 1), torch.full((1, 1), -5.0), math.log(0.1))
    assert log_p.item() == pytest.approx(0.0, abs=1e-6)


def _model(likelihood: str = "bernoulli"):
    torch.manual_seed(0)
    extra = {"likelihood": "gaussian", "sigma_value": 0.2} if likelihood == "gaussian" else {}
    return build_model(ModelConfig(hidden=(32,), latent_dim=3, **extra)).eval()


def _images(n: int = 40) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)


def test_per_image_nll_averages_to_iwae_nll_and_scores_each_model_on_its_own_data():
    for lik in ("bernoulli", "gaussian"):
        m = _model(lik)
        scorer, x = scored_images(m, _images())
        assert isinstance(scorer, DiscretizedGaussian) == (lik == "gaussian")
        assert set(x.unique().tolist()) <= ({0.0, 1.0} if lik == "bernoulli" else set((torch.arange(256) / 255).tolist()))
        values = per_image_nll(scorer, x, k=8, batch_size=16)
        assert values.shape == (40,)
        assert values.double().mean().item() == pytest.approx(iwae_nll(scorer, x, 8, batch_size=16), rel=1e-6)


def test_per_image_scores_average_to_the_library_means():
    m = _model()
    x = vdata.to_unit(_images())
    assert per_image_mse(m, x, batch_size=16).mean().item() == pytest.approx(reconstruction_mse(m, x), rel=1e-5)
    parts = per_image_elbo(m, x)
    assert torch.allclose(parts["elbo"], parts["log_px"] - parts["kl"])
    torch.manual_seed(0)
    assert parts["elbo"].mean().item() == pytest.approx(mean_terms(m, x)["elbo"], rel=1e-5)


def test_canonical_nll_is_cached_and_its_first_n_images_are_a_prefix(tmp_path, monkeypatch):
    images = _images(300)
    monkeypatch.setattr(vdata, "load_test_split", lambda dataset="mnist": SimpleNamespace(images=images))
    monkeypatch.setitem(__import__("vaelib.eval.likelihood", fromlist=["x"]).TEST_IWAE, "iwae_n", 300)
    run = SimpleNamespace(model=_model(), folder=tmp_path, train_config=SimpleNamespace(dataset="mnist"),
                          code={"models/vae.py": "a stamp"})
    first = canonical_nll(run, test=True, n=100)
    whole = canonical_nll(run, test=True)
    assert whole.n == 300 and first.n == 100 and whole.k == 10 and whole.scale == "binarized"
    assert torch.equal(whole.per_image[:100], first.per_image)  # one seeded stream, batch after batch
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nll-binarized-k10-n100.pt", "nll-binarized-k10-n300.pt"]
    stored = torch.load(tmp_path / "nll-binarized-k10-n300.pt", weights_only=True)
    torch.save({**stored, "nll": stored["nll"] + 1000}, tmp_path / "nll-binarized-k10-n300.pt")  # now read, not computed
    assert canonical_nll(run, test=True, n=200).mean == pytest.approx(whole.per_image[:200].double().mean().item() + 1000)
    with pytest.raises(ValueError, match="multiple of 100"):
        canonical_nll(run, test=True, n=150)
    assert "n = 300, k = 10" in str(whole) and whole.bits_per_dim == pytest.approx(whole.mean / (784 * math.log(2)))


def test_a_damaged_nll_file_is_said_in_one_line_and_computed_again(tmp_path, monkeypatch, capsys):
    """Zeros (no discrete image has probability 1), too few values, NaN, or bytes that are no file."""
    monkeypatch.setattr(vdata, "load_test_split", lambda dataset="mnist": SimpleNamespace(images=_images(300)))
    monkeypatch.setitem(__import__("vaelib.eval.likelihood", fromlist=["x"]).TEST_IWAE, "iwae_n", 300)
    run = SimpleNamespace(model=_model(), folder=tmp_path, train_config=SimpleNamespace(dataset="mnist"),
                          code={"models/vae.py": "a stamp"})
    good = canonical_nll(run, test=True)
    path = tmp_path / "nll-binarized-k10-n300.pt"
    stored = torch.load(path, weights_only=True)
    for damage in (torch.zeros(300), stored["nll"][:3], torch.full((300,), float("nan"))):
        torch.save({**stored, "nll": damage}, path)
        capsys.readouterr()
        assert torch.equal(canonical_nll(run, test=True).per_image, good.per_image)
        out = capsys.readouterr().out
        assert out.count("\n") == 1 and f"{path} is damaged (not 300 finite positive values); computing it again" in out
    path.write_bytes(b"not a torch file")
    assert torch.equal(canonical_nll(run, test=True).per_image, good.per_image)
    assert f"{path} is damaged (" in capsys.readouterr().out


def test_nll_standard_error():
    nll = NLL(torch.tensor([1.0, 2.0, 3.0, 4.0]), k=5, scale="8-bit")
    assert nll.mean == 2.5 and nll.se == pytest.approx(torch.tensor([1.0, 2, 3, 4]).std().item() / 2)
    assert mean_se([1.0, 2.0, 3.0, 4.0]) == pytest.approx((2.5, nll.se))


def test_paired_bootstrap_interval_covers_the_mean_and_pairing_narrows_it():
    g = torch.Generator().manual_seed(0)
    difficulty = 50 * torch.randn(2000, generator=g)  # shared by both models: cancels in a - b
    a = difficulty + torch.randn(2000, generator=g)
    b = difficulty + 0.2 + torch.randn(2000, generator=g)
    d = paired_bootstrap(a, b)
    assert d.lo < d.mean < d.hi and d.n == 2000 and d.sign == -1
    assert d.hi - d.lo < 0.25  # ~ 4 · 1.41 / √2000; the unpaired SEs would give ~ 4 · 50 / √2000 ≈ 4.5
    assert d.mean == pytest.approx((a - b).double().mean().item())
    assert paired_bootstrap(a, b) == d  # seeded
    constant = paired_bootstrap(torch.ones(50), torch.zeros(50))
    assert (constant.mean, constant.lo, constant.hi) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        paired_bootstrap(a, b[:10])


def test_seed_verdict_needs_every_seed_on_one_side():
    below, above, across = Interval(-1, -2, -0.5, 10), Interval(1, 0.5, 2, 10), Interval(0.1, -0.3, 0.5, 10)
    assert seed_verdict([below, below, below]) == "lower"
    assert seed_verdict([above] * 3) == "higher"
    assert seed_verdict([below, below, across]) == "unclear"
    assert seed_verdict([below, above, below]) == "unclear"
    assert seed_verdict([across] * 3) == "unclear"
    assert seed_verdict([]) == "unclear"
    assert str(below) == "-1 [-2, -0.5]"


def test_seed_intervals_pair_seed_with_seed():
    g = torch.Generator().manual_seed(3)
    a = [torch.randn(500, generator=g) for _ in range(3)]
    b = [x + 1.0 for x in a]
    intervals = seed_intervals(b, a, resamples=200)
    assert [iv.mean for iv in intervals] == pytest.approx([1.0] * 3) and seed_verdict(intervals) == "higher"
    with pytest.raises(ValueError):
        seed_intervals(a, b[:2])


def test_t_quantile_matches_the_tables():
    # Student's t tables (two-sided 95 %: the 0.975 quantile), and the normal limit
    for df, table in [(1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (9, 2.2622), (30, 2.0423)]:
        assert t_quantile(0.975, df) == pytest.approx(table, abs=1e-4)
    assert t_quantile(0.975, 2000) == pytest.approx(1.9612, abs=1e-4)  # 1.96 in the normal limit
    assert t_quantile(0.025, 2) == pytest.approx(-4.3027, abs=1e-4) and abs(t_quantile(0.5, 3)) < 1e-9
    with pytest.raises(ValueError):
        t_quantile(0.975, 0)


def _simulated_seeds(g: torch.Generator, seed_effects: list[float], n: int = 10_000) -> list[Interval]:
    """Per-image scores of two models per training seed: a shared image difficulty, the seed's own
    offset between the two (training noise), and small per-image noise."""
    out = []
    for effect in seed_effects:
        difficulty = 100 + 20 * torch.randn(n, generator=g)
        a = difficulty + effect + 0.5 * torch.randn(n, generator=g)
        b = difficulty + 0.5 * torch.randn(n, generator=g)
        out.append(paired_bootstrap(a, b, resamples=300))
    return out


def test_over_seeds_decides_at_the_seed_level_where_image_intervals_mislead():
    """Seed noise dominates: the three seeds' offsets +1.0, +0.2, +1.5 have no common sign that
    three seeds can establish. Every image interval excludes zero on the same side, so the
    image-level rule says "higher"; the interval over seeds contains zero: undecided."""
    g = torch.Generator().manual_seed(0)
    per_seed = _simulated_seeds(g, [1.0, 0.2, 1.5])
    assert all(i.lo > 0 for i in per_seed) and seed_verdict(per_seed) == "higher"
    level = over_seeds(per_seed)
    assert level.verdict == "undecided" and level.lo < 0 < level.hi and level.k == 3
    assert level.mean == pytest.approx(sum(i.mean for i in per_seed) / 3)
    sd = torch.tensor([i.mean for i in per_seed], dtype=torch.float64).std().item()
    assert level.hi - level.mean == pytest.approx(4.3027 * sd / 3 ** 0.5, rel=1e-4)
    # a real effect, well above the seed noise, is decided; in the direction of its sign
    assert over_seeds(_simulated_seeds(g, [-5.0, -5.6, -4.7])).verdict == "lower"
    assert over_seeds(_simulated_seeds(g, [5.0, 5.6, 4.7])).verdict == "higher"
    assert str(level).endswith("over 3 seeds: undecided")
    with pytest.raises(ValueError):
        over_seeds(per_seed[:1])


def test_a_verdict_is_borderline_when_its_mean_is_near_the_half_width():
    """06's and 05's seed-level claims that a retraining can flip: |mean| within 30 % of the half-width,
    on either side of zero and whichever verdict it gives; a clear verdict or a zero mean is not."""
    from vaelib.eval.stats import SeedLevel

    def level(mean, half):
        return SeedLevel(mean, mean - half, mean + half, ())

    assert level(2.18, 2.51).borderline and level(1.82, 1.75).borderline  # undecided / higher, both at the edge
    assert level(-1.0, 0.8).borderline and not level(1.0, 0.5).borderline and not level(0.5, 1.0).borderline
    assert not level(0.0, 1.0).borderline and not level(1.0, 0.0).borderline


def test_over_seeds_is_wrong_about_one_time_in_twenty_under_no_effect():
    """No effect, seed offsets ~ N(0, 1): over 400 simulated three-seed studies, the image-level
    rule decides about 1/4 of them (a sign test), the seed-level interval about 5 %."""
    g = torch.Generator().manual_seed(1)
    wrong_image = wrong_seed = 0
    studies = 400
    for _ in range(studies):
        effects = torch.randn(3, generator=g)
        per_seed = [Interval(e, e - 0.01, e + 0.01, 10_000) for e in effects.tolist()]  # images: narrow
        wrong_image += seed_verdict(per_seed) != "unclear"
        wrong_seed += over_seeds(per_seed).verdict != "undecided"
    assert 0.18 < wrong_image / studies < 0.32
    assert 0.02 < wrong_seed / studies < 0.09

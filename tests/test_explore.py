"""The latent explorers: each callback computes what it says, each static figure shows those
callbacks at fixed settings, and each widget calls its callback with its controls' values and
redraws its Output when a control moves (no kernel, no browser: values are set from Python)."""

from __future__ import annotations

import base64

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import vaelib.eval.explore as explore  # noqa: E402
from vaelib.eval.latent import latent_grid  # noqa: E402
from vaelib.eval.plots import grid  # noqa: E402
from vaelib.models import ModelConfig, build_model  # noqa: E402


def tiny_model(latent_dim: int = 2, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(ModelConfig(arch="fc", hidden=(16,), latent_dim=latent_dim)).eval()


def images(n: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def parts(widget: widgets.Widget, kind: type) -> list:
    """Every widget of type kind inside widget, depth first."""
    found = [widget] if isinstance(widget, kind) else []
    for child in getattr(widget, "children", ()):
        found += parts(child, kind)
    return found


def shown_png(widget: widgets.Widget) -> bytes:
    """The PNG the widget's one Output shows now."""
    (out,) = parts(widget, widgets.Output)
    (shown,) = out.outputs
    return base64.b64decode(shown["data"]["image/png"])


def spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple]:
    """Replace explore.<name> by a wrapper that records the arguments of every call."""
    calls: list[tuple] = []
    real = getattr(explore, name)

    def wrapper(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(explore, name, wrapper)
    return calls


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ----------------------------------------------------------------------------- the callbacks


def test_decode_point_is_the_decoder_mean_at_that_point():
    model = tiny_model()
    with torch.no_grad():
        expected = torch.sigmoid(model.decoder(torch.tensor([[0.7, -1.3]])))[0, 0]  # Bernoulli: σ(logits)
        swapped = torch.sigmoid(model.decoder(torch.tensor([[-1.3, 0.7]])))[0, 0]
    image = explore.decode_point(model, 0.7, -1.3)
    assert image.shape == (28, 28)
    torch.testing.assert_close(image, expected)
    assert not torch.allclose(image, swapped)  # z1 and z2 are not interchangeable


def test_nearest_codes_are_the_k_closest_nearest_first():
    codes = torch.tensor([[0.0, 0.0], [3.0, 0.0], [1.0, 1.0], [-0.5, 0.0], [0.0, -2.0]])
    assert explore.nearest_codes(codes, (0.1, 0.0), k=3).tolist() == [0, 3, 2]
    assert explore.nearest_codes(codes, (3.0, 0.2), k=10).tolist() == [1, 2, 0, 3, 4]  # k > N: all of them


def test_traversal_image_decodes_the_base_code_changed_only_in_the_chosen_dims(monkeypatch):
    model = tiny_model(latent_dim=6)
    base = torch.randn(6, generator=torch.Generator().manual_seed(2))
    kept = base.clone()
    seen = []
    decode = model.decode
    monkeypatch.setattr(model, "decode", lambda z: (seen.append(z.clone()), decode(z))[1])
    image = explore.traversal_image(model, base, [4, 1], [2.5, -1.0])
    expected_code = torch.tensor([base[0], -1.0, base[2], base[3], 2.5, base[5]])
    torch.testing.assert_close(seen[-1], expected_code[None])
    with torch.no_grad():
        torch.testing.assert_close(image, torch.sigmoid(decode(expected_code[None]))[0, 0])
    assert torch.equal(base, kept)  # the base code is not modified
    with pytest.raises(ValueError):
        explore.traversal_image(model, base, [4, 1], [2.5])


def test_model_panel_shows_the_images_their_reconstructions_and_seeded_samples():
    model, x = tiny_model(latent_dim=3), images(8)
    panel = explore.model_panel(model, x, n_samples=16, seed=5)
    assert panel.shape == (4 * 30 + 2, 8 * 30 + 2)  # 4 rows of 8 digits, 28 pixels and 2 of padding each
    with torch.no_grad():
        recon = torch.sigmoid(model.decoder(model.encoder(x)[0]))
        samples = torch.sigmoid(model.decoder(torch.randn(16, 3, generator=torch.Generator().manual_seed(5))))
    torch.testing.assert_close(panel, grid(torch.cat([x, recon, samples]), nrow=8))


# ----------------------------------------------------------------------------- the static figures


def test_latent_plane_figure_marks_the_grid_points_and_decodes_them():
    model, codes, labels = tiny_model(), torch.randn(200, 2), torch.arange(200) % 10
    fig = explore.latent_plane_figure(model, codes, labels, n=3)
    ax_codes, ax_digits = fig.axes
    (marks,) = ax_codes.lines
    z, _ = latent_grid(n=3)
    torch.testing.assert_close(torch.tensor(marks.get_xydata(), dtype=torch.float32), z)
    shown = torch.tensor(ax_digits.images[0].get_array())
    corner = explore.decode_point(model, float(z[0, 0]), float(z[0, 1]))  # top left: smallest z1, largest z2
    torch.testing.assert_close(shown[:28, :28], corner)


def test_traversal_figure_sweeps_the_pair_along_rows_and_columns():
    model = tiny_model(latent_dim=4)
    base = torch.zeros(4)
    fig = explore.traversal_figure(model, base, (2, 0), values=(-1.0, 1.0))
    shown = torch.tensor(fig.axes[0].images[0].get_array())
    top_right = explore.traversal_image(model, base, (2, 0), (1.0, 1.0))
    bottom_left = explore.traversal_image(model, base, (2, 0), (-1.0, -1.0))
    top_left = explore.traversal_image(model, base, (2, 0), (-1.0, 1.0))
    torch.testing.assert_close(shown[2:30, 32:60], top_right)
    torch.testing.assert_close(shown[32:60, 2:30], bottom_left)
    torch.testing.assert_close(shown[2:30, 2:30], top_left)


def test_panels_figure_shows_every_models_panel_under_its_name():
    models, x = {"σ = 0.1": tiny_model(seed=0), "σ = 1": tiny_model(seed=1)}, images(4)
    fig = explore.panels_figure(models, x, n_samples=4)
    assert [ax.get_title() for ax in fig.axes] == list(models)
    for ax, model in zip(fig.axes, models.values()):
        torch.testing.assert_close(torch.tensor(ax.images[0].get_array()), explore.model_panel(model, x, 4))


# ----------------------------------------------------------------------------- the widgets


def test_latent_plane_explorer_redraws_at_the_sliders_point(monkeypatch):
    calls = spy(monkeypatch, "decode_point")
    model, codes, labels = tiny_model(), torch.randn(100, 2), torch.arange(100) % 10
    explorer = explore.latent_plane_explorer(model, codes, labels)
    assert isinstance(explorer, widgets.Widget)
    z1, z2 = parts(explorer, widgets.FloatSlider)
    assert calls[-1] == (model, 0.0, 0.0)  # drawn once when built
    before = shown_png(explorer)
    z2.value = 1.5
    assert calls[-1] == (model, 0.0, 1.5)
    z1.value = -2.0
    assert calls[-1] == (model, -2.0, 1.5) and len(calls) == 3
    assert shown_png(explorer) != before


def test_traversal_explorer_starts_at_the_base_code_and_follows_its_sliders(monkeypatch):
    calls = spy(monkeypatch, "traversal_image")
    model = tiny_model(latent_dim=5)
    base = torch.tensor([0.5, -0.25, 1.0, 4.0, 0.0])
    explorer = explore.traversal_explorer(model, base, [3, 0])
    sliders = parts(explorer, widgets.FloatSlider)
    assert [s.description for s in sliders] == ["z[3]", "z[0]"]
    assert [s.value for s in sliders] == [4.0, 0.5]  # 4 lies outside ±3: the slider's range grows to hold it
    assert calls[-1][2:] == ([3, 0], (4.0, 0.5))
    before = shown_png(explorer)
    sliders[1].value = -2.0
    assert calls[-1][2:] == ([3, 0], (4.0, -2.0))
    assert shown_png(explorer) != before


def test_model_picker_shows_the_chosen_models_panel(monkeypatch):
    calls = spy(monkeypatch, "model_panel")
    models, x = {"σ = 0.1": tiny_model(seed=0), "σ = 1": tiny_model(seed=1)}, images(4)
    picker = explore.model_picker(models, x, n_samples=4)
    (buttons,) = parts(picker, widgets.ToggleButtons)
    assert list(buttons.options) == list(models) and calls[-1][0] is models["σ = 0.1"]
    before = shown_png(picker)
    buttons.value = "σ = 1"
    assert calls[-1][0] is models["σ = 1"] and len(calls) == 2
    assert shown_png(picker) != before

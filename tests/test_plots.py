"""The plotting helpers draw what they are given, where they say."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vaelib.eval.latent import latent_grid  # noqa: E402
from vaelib.eval.plots import scatter_latent, show_manifold  # noqa: E402


def test_scatter_latent_draws_each_class_once_at_its_points():
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(300, 2, generator=g)
    labels = torch.arange(300) % 3
    ax = scatter_latent(codes, labels)
    assert len(ax.collections) == 3
    for c, coll in enumerate(ax.collections):
        np.testing.assert_allclose(coll.get_offsets(), codes[labels == c].numpy(), rtol=1e-6)
        assert coll.get_label() == str(c)
    colours = {tuple(coll.get_facecolor()[0]) for coll in ax.collections}
    assert len(colours) == 3
    plt.close("all")


def test_scatter_latent_rejects_codes_that_are_not_2d():
    with pytest.raises(ValueError):
        scatter_latent(torch.zeros(5, 3), torch.zeros(5, dtype=torch.long))


def test_show_manifold_puts_the_first_image_top_left_and_labels_axes_in_latent_units():
    n = 4
    z, coords = latent_grid(n=n)
    images = torch.arange(n * n, dtype=torch.float32).div(n * n).reshape(-1, 1, 1, 1).expand(-1, 1, 28, 28)
    ax = show_manifold(images, coords, ticks=n)
    shown = np.asarray(ax.images[0].get_array())
    assert shown.shape == (28 * n, 28 * n)
    assert shown[0, 0] == pytest.approx(0.0) and shown[-1, -1] == pytest.approx((n * n - 1) / (n * n))
    assert shown[0, 28] == pytest.approx(1 / (n * n))  # the second image is to the right of the first
    # x ticks read z1 of the columns, y ticks z2 of the rows (bottom row: the smallest z2)
    xl = [t.get_text() for t in ax.get_xticklabels()]
    yl = [t.get_text() for t in ax.get_yticklabels()]
    assert xl == [f"{c:.2f}" for c in coords.tolist()] == yl
    top_left = z.reshape(n, n, 2)[0, 0]
    assert top_left[0] == coords[0] and top_left[1] == coords[-1]
    bottom_y = ax.get_yticks()[0]
    assert bottom_y == pytest.approx(0.5)  # drawn in the bottom cell, which holds z2 = coords[0]
    plt.close("all")


def test_show_manifold_checks_the_number_of_images():
    _, coords = latent_grid(n=3)
    with pytest.raises(ValueError):
        show_manifold(torch.zeros(8, 1, 28, 28), coords)

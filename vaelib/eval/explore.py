"""Interactive latent explorers (ipywidgets), and the static figures that stand in for them:
`latent_plane_figure`, `traversal_figure` and, for `model_picker`, `panels_figure`.

What a control shows is computed by a plain function of tensors (`decode_point`, `nearest_codes`,
`traversal_image`, `model_panel`) that the tests call without a browser; a builder wires controls
to one, redrawing a figure into an Output widget as a PNG (no kernel needed, a test can read it).
Where no frontend runs widgets (nbval, `make run`), scripts/run_notebooks.py drops them from the
stored notebook and the static figure is what a reader sees.
"""

from __future__ import annotations

import base64
import io
from typing import Callable, Mapping, Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import nn

from vaelib.eval.latent import latent_grid
from vaelib.eval.plots import grid, reconstruction_pairs, scatter_latent, show_grid, show_manifold

__all__ = ["decode_point", "nearest_codes", "traversal_image", "model_panel", "latent_plane_figure", "traversal_figure",
           "panels_figure", "latent_plane_explorer", "traversal_explorer", "model_picker"]


# ----------------------------------------------------------------------------- the callbacks


@torch.no_grad()
def _decode(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Decoder means E[x | z] at the codes z [B, D], computed on the model's device: [B, 1, 28, 28] on the CPU."""
    device = next(model.parameters()).device
    return model.mean(model.decode(z.to(device))).cpu()


def decode_point(model: nn.Module, z1: float, z2: float) -> torch.Tensor:
    """The decoder mean at the point z = (z1, z2) of a 2-D latent space: [28, 28] on the CPU."""
    return _decode(model, torch.tensor([[z1, z2]], dtype=torch.float32))[0, 0]


def nearest_codes(codes: torch.Tensor, point: Sequence[float], k: int = 5) -> torch.Tensor:
    """Indices [min(k, N)] of the codes [N, D] nearest to point (D numbers, Euclidean), nearest first."""
    distance = (codes - torch.as_tensor(point, dtype=codes.dtype)).norm(dim=1)
    return distance.topk(min(k, len(codes)), largest=False).indices


def traversal_image(model: nn.Module, base_code: torch.Tensor, dims: Sequence[int],
                    values: Sequence[float]) -> torch.Tensor:
    """The decoder mean at base_code [D] (not modified) with coordinate dims[i] set to values[i] and
    the others unchanged: [28, 28] on the CPU."""
    if len(dims) != len(values):
        raise ValueError(f"one value per dimension: {len(dims)} dims, {len(values)} values")
    z = base_code.detach().float().cpu().clone()
    z[list(dims)] = torch.tensor([float(v) for v in values])
    return _decode(model, z[None])[0, 0]


@torch.no_grad()
def model_panel(model: nn.Module, x: torch.Tensor, n_samples: int = 16, seed: int = 0) -> torch.Tensor:
    """One model at a glance, in rows of n = len(x) digits: the images x (first row), their
    reconstructions at z = μ(x) (second row), then n_samples decoded draws z ~ N(0, I) from a
    generator seeded with seed (the same draws for every model). x: [n, 1, 28, 28] on the model's
    device -> one [H, W] image (vaelib.eval.plots.grid)."""
    recon = model.reconstruct(x)
    samples = model.sample(n_samples, generator=torch.Generator().manual_seed(seed))
    return grid(torch.cat([reconstruction_pairs(x, recon, n=len(x)), samples.cpu()]), nrow=len(x))


# ----------------------------------------------------------------------------- the static figures


def _show(ax, image: torch.Tensor, title: str) -> None:
    """Draw one grey image [H, W] in [0, 1] on ax, without axes, under a small title."""
    ax.imshow(image.numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)


def latent_plane_figure(model: nn.Module, codes: torch.Tensor, labels: torch.Tensor, n: int = 5):
    """The latent-plane explorer at n × n fixed settings: the points of `latent_grid` marked on the
    scatter of the codes [N, 2], and the digits decoded there, in the same layout."""
    import matplotlib.pyplot as plt

    z, coords = latent_grid(n=n)
    fig, (ax_codes, ax_digits) = plt.subplots(1, 2, figsize=(10, 4.6))
    scatter_latent(codes, labels, ax=ax_codes, s=1, title=f"{n} × {n} points among the test codes")
    ax_codes.plot(z[:, 0], z[:, 1], "k+", ms=10, mew=2)
    show_manifold(_decode(model, z), coords, ax=ax_digits, title="the digits decoded at those points")
    fig.tight_layout()
    return fig


def traversal_figure(model: nn.Module, base_code: torch.Tensor, pair: tuple[int, int],
                     values: Sequence[float] = (-3.0, -1.5, 0.0, 1.5, 3.0)):
    """The traversal explorer at len(values)² fixed settings: dimension pair[0] takes each of values
    along a row, pair[1] each of them down a column (from the largest, top), the rest of
    base_code [D] stays."""
    import matplotlib.pyplot as plt

    a, b = pair
    images = torch.stack([traversal_image(model, base_code, (a, b), (va, vb))
                          for vb in reversed(values) for va in values])  # [n*n, 28, 28], rows from the top
    fig, ax = plt.subplots(figsize=(0.75 * len(values) + 1, 0.75 * len(values) + 0.6))
    show_grid(images[:, None], ax=ax, nrow=len(values),
              title=f"z[{a}] → (left to right), z[{b}] ↑ (bottom to top),\n{values[0]:g} … {values[-1]:g}")
    fig.tight_layout()
    return fig


def panels_figure(models: Mapping[str, nn.Module], x: torch.Tensor, n_samples: int = 16, seed: int = 0):
    """The model picker at every setting: each model's `model_panel` side by side, titled by its key."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 2.4), squeeze=False)
    for ax, (name, model) in zip(axes[0], models.items()):
        _show(ax, model_panel(model, x, n_samples, seed), name)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- the widgets


def _live(controls: Sequence[widgets.ValueWidget], draw: Callable[..., Figure]) -> widgets.Output:
    """An Output showing draw(*values of the controls), redrawn whenever one of them changes, as a
    base64 PNG (the way a notebook stores an image output)."""
    out = widgets.Output()

    def redraw(_change: object = None) -> None:
        buffer = io.BytesIO()
        draw(*[c.value for c in controls]).savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        png = base64.b64encode(buffer.getvalue()).decode("ascii")
        out.outputs = ({"output_type": "display_data", "metadata": {},
                        "data": {"image/png": png, "text/plain": "<a figure>"}},)

    for control in controls:
        control.observe(redraw, names="value")
    redraw()
    return out


def _slider(name: str, value: float, limit: float, step: float) -> widgets.FloatSlider:
    # continuous_update=False: redraw when the slider is let go, not at every pixel of the drag;
    # the range grows to hold a starting value outside it (a slider would clip it silently)
    limit = max(limit, abs(value))
    return widgets.FloatSlider(value=value, min=-limit, max=limit, step=step, description=name,
                               continuous_update=False)


def latent_plane_explorer(model: nn.Module, codes: torch.Tensor, labels: torch.Tensor,
                          limit: float = 3.0, k: int = 5) -> widgets.VBox:
    """Two sliders (z1, z2 in [-limit, limit]) move a point in a 2-D latent plane; the figure shows
    it as a star on the scatter of the codes [N, 2] (coloured by labels [N], drawn over the
    sliders' square only), the digit decoded there (`decode_point`) and the labels of its k
    nearest codes (`nearest_codes`)."""
    def draw(z1: float, z2: float) -> Figure:
        fig = Figure(figsize=(8.5, 4))
        ax_codes, ax_digit = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
        scatter_latent(codes, labels, ax=ax_codes, s=1, title="test codes μ(x)")
        ax_codes.plot([z1], [z2], "k*", ms=16, mec="w")
        ax_codes.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal")  # the plane stays put
        near = labels[nearest_codes(codes, (z1, z2), k)].tolist()
        _show(ax_digit, decode_point(model, z1, z2),
              f"decoded at z = ({z1:.2f}, {z2:.2f})\n{k} nearest test codes: {near}")
        return fig

    sliders = [_slider("z1", 0.0, limit, 0.05), _slider("z2", 0.0, limit, 0.05)]
    return widgets.VBox([widgets.HBox(sliders), _live(sliders, draw)])


def traversal_explorer(model: nn.Module, base_code: torch.Tensor, dims: Sequence[int],
                       limit: float = 3.0) -> widgets.VBox:
    """One slider per dimension in dims (in [-limit, limit], starting at base_code [D]); the figure
    shows base_code decoded beside the code with the sliders' values (`traversal_image`)."""
    dims = [int(d) for d in dims]
    start = _decode(model, base_code.detach().float()[None])[0, 0]

    def draw(*values: float) -> Figure:
        fig = Figure(figsize=(5, 2.8))
        for ax, image, title in zip(fig.subplots(1, 2), (start, traversal_image(model, base_code, dims, values)),
                                    ("the starting code", "with the sliders' values")):
            _show(ax, image, title)
        return fig

    sliders = [_slider(f"z[{d}]", float(base_code[d]), limit, 0.1) for d in dims]
    return widgets.VBox([widgets.GridBox(sliders, layout=widgets.Layout(grid_template_columns="repeat(3, auto)")),
                         _live(sliders, draw)])


def model_picker(models: Mapping[str, nn.Module], x: torch.Tensor, n_samples: int = 16,
                 seed: int = 0) -> widgets.VBox:
    """Toggle buttons, one per key of models; the figure shows the chosen model's `model_panel`
    (the images x, their reconstructions, n_samples seeded samples)."""
    def draw(name: str) -> Figure:
        fig = Figure(figsize=(6.5, 3.6))
        _show(fig.subplots(), model_panel(models[name], x, n_samples, seed),
              f"{name}: test digits, reconstructions, samples")
        return fig

    buttons = widgets.ToggleButtons(options=list(models), description="model")
    return widgets.VBox([buttons, _live([buttons], draw)])

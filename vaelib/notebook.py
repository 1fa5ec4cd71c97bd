"""The setup every notebook runs in its first code cell.

    from vaelib.notebook import setup
    mode = setup()            # reads VAE_NOTEBOOKS_TEST once, seeds, picks the device
    run = cached_train(get_preset("bernoulli-vae"), progress=mode.progress, **mode.overrides())

JupyterLab users never set anything: full mode is the default. The tests set
VAE_NOTEBOOKS_TEST=1, which switches every notebook to a fast mode: a tiny subset of each split,
one short epoch, small IWAE estimates, no progress bars.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

# Without ipywidgets, tqdm.auto falls back to text bars and warns on import; the fallback is fine.
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")

from vaelib.train import pick_device, seed_everything  # noqa: E402  (after the filter)

TEST_MODE_VAR = "VAE_NOTEBOOKS_TEST"
REPO_ROOT = Path(__file__).resolve().parents[1]
IMAGES = REPO_ROOT / "images"


@dataclass(frozen=True)
class Mode:
    test: bool
    device: torch.device
    seed: int = 0
    subset: int | None = None  # images per split in test mode
    progress: bool = True
    started: float = field(default_factory=time.perf_counter, repr=False, compare=False)

    def elapsed(self) -> float:
        """Seconds since setup() (a notebook's last cell prints its own run time)."""
        return time.perf_counter() - self.started

    def epochs(self, full: int) -> int:
        """`full` epochs normally, 1 in test mode."""
        return 1 if self.test else full

    def n(self, full: int, test: int) -> int:
        """A size that shrinks in test mode (samples, test images, k, ...)."""
        return test if self.test else full

    def overrides(self, test_epochs: int = 1, **full: Any) -> dict[str, Any]:
        """Train-config overrides: in test mode `test_epochs` (1) epochs on a small subset with a
        cheap IWAE; in full mode whatever is passed (e.g. epochs=5), else nothing."""
        if self.test:
            return {"epochs": test_epochs, "subset": self.subset, "iwae_k": 10, "iwae_n": 200}
        return dict(full)

    def preset_overrides(self, preset, test_epochs: int = 1, conv_test_subset: int = 500) -> dict[str, Any]:
        """`overrides` for one preset: in test mode a convolutional model sees only
        `conv_test_subset` images (convolutions are slow on a CPU)."""
        kw = self.overrides(test_epochs=test_epochs)
        if self.test and preset.model.arch == "conv":
            kw["subset"] = conv_test_subset
        return kw

    def train_presets(self, presets: dict[str, Any], test_epochs: int = 1) -> dict[str, Any]:
        """Load each preset's model from the cache or train it (vaelib.cache.cached_train) with this
        mode's overrides; one line per model. Returns name -> CachedRun, models on the device in
        eval mode."""
        from vaelib.cache import cached_train  # noqa: PLC0415  (keeps this module light to import)
        from vaelib.models import count_parameters  # noqa: PLC0415

        runs = {}
        width = max(len(name) for name in presets)
        for name, preset in presets.items():
            run = cached_train(preset, progress=self.progress, **self.preset_overrides(preset, test_epochs))
            run.model.to(self.device).eval()
            runs[name] = run
            print(f"{name:{width}}  {count_parameters(run.model):>9,} parameters  "
                  f"{'trained now' if run.trained_now else 'from the cache'}: {run.folder.name}")
        return runs

    def classifier(self):
        """The MNIST classifier of vaelib.classifier (cached): vaelib's settings in full mode, one
        epoch on the test-mode subset in test mode."""
        from vaelib.classifier import load_or_train_classifier  # noqa: PLC0415

        return load_or_train_classifier(device=self.device, progress=self.progress, **self.classifier_settings)

    @property
    def classifier_settings(self) -> dict[str, Any]:
        """What `classifier()` changes from vaelib's defaults (also the key of its cached metrics)."""
        return {"epochs": 1, "subset": self.subset} if self.test else {}

    def save_table(self, df, name: str) -> Path | None:
        """Save a DataFrame as a markdown table to images/<name> in full mode (`make run` copies
        it into the README, so the README's numbers are computed, never typed)."""
        if self.test:
            return None
        IMAGES.mkdir(exist_ok=True)
        path = IMAGES / name
        path.write_text(markdown_table(df))
        return path

    def save_figure(self, fig, name: str) -> Path | None:
        """Save a figure to images/<name> in full mode (the README shows these); not in test mode."""
        if self.test:
            return None
        IMAGES.mkdir(exist_ok=True)
        path = IMAGES / name
        fig.savefig(path, dpi=100, bbox_inches="tight")
        return path


def markdown_table(df, floatfmt: str = "{:.4g}") -> str:
    """A pandas DataFrame as a GitHub markdown table (index first), numbers formatted."""
    def cell(v):
        if isinstance(v, float):
            return "–" if v != v else floatfmt.format(v)  # NaN: not measured / does not apply
        return str(v)
    header = [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [cell(v) for v in row.tolist()]) + " |")
    return "\n".join(lines) + "\n"


def is_test_mode() -> bool:
    return os.environ.get(TEST_MODE_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def setup(seed: int = 0, device: str | None = None) -> Mode:
    """Seed torch, pick the device, set plotting defaults, and say which mode this is."""
    test = is_test_mode()
    seed_everything(seed)
    try:
        import matplotlib

        matplotlib.rcParams.update({"figure.dpi": 80, "axes.grid": False, "image.cmap": "gray"})
    except ImportError:  # pragma: no cover
        pass
    mode = Mode(
        test=test,
        device=pick_device(device),
        seed=seed,
        subset=2000 if test else None,
        progress=not test,
    )
    print(f"mode: {'TEST (fast, tiny subset)' if test else 'full'}; device: {mode.device}")
    return mode

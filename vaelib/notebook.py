"""The notebook's session: what every notebook sets up in its first code cell, and asks for after.

    from vaelib.notebook import setup
    session = setup()                       # reads VAE_NOTEBOOKS_TEST once, seeds, picks the device
    run = session.run("bernoulli-vae")      # a run of vaelib.runs: trained once, then from the cache
    n = session.size("paired_images")       # an evaluation size of vaelib.eval.sizes, smaller in test mode
    with session.claims():                  # the prose's claims: asserted after a full run
        assert ...

Full mode is the default; the tests set VAE_NOTEBOOKS_TEST=1 for a fast mode (tiny subsets, one short
epoch, small IWAE estimates, no progress bars). A notebook only names runs and evaluation sizes.
"""

from __future__ import annotations

import json
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch

# Without ipywidgets, tqdm.auto falls back to text bars and warns on import; the fallback is fine.
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")

from vaelib.cache import CachedRun, is_cached, load_or_train  # noqa: E402  (after the filter)
from vaelib.eval.classifier import load_or_train_classifier  # noqa: E402
from vaelib.eval.likelihood import NLL, canonical_nll  # noqa: E402
from vaelib.models import count_parameters  # noqa: E402
from vaelib.runs import REPLICAS, RUNS, TEST_SUBSET, get_run, seeds_of  # noqa: E402
from vaelib.runtime import IMAGES, REPO_ROOT, is_test_mode, pick_device, seed_everything  # noqa: E402
from vaelib.eval.sizes import size  # noqa: E402

__all__ = ["Session", "setup", "markdown_table", "is_test_mode", "run_time", "missing_runs", "training_plan"]

#: each notebook's measured run times, written by `make run` (scripts/run_notebooks.py)
NOTEBOOK_TIMES = REPO_ROOT / "benchmarks" / "results" / "notebook_times.json"
#: each run's measured training time, written by `make profile` (benchmarks/profile_series.py)
PROFILE = REPO_ROOT / "benchmarks" / "results" / "profile.json"


@dataclass(frozen=True)
class Session:
    """A notebook's session: its mode (full, or the tests' fast mode), its device and seed. It hands
    out runs, evaluation sizes and the classifier in that mode, and checks the prose's claims."""

    test: bool
    device: torch.device
    seed: int = 0
    subset: int | None = None  # images per split in test mode
    progress: bool = True
    started: float = field(default_factory=time.perf_counter, repr=False, compare=False)

    def size(self, name: str) -> int:
        """How many images, samples or steps the evaluation `name` of vaelib.eval.sizes uses in this mode."""
        return size(name, test=self.test)

    def nll(self, run: CachedRun, n: int | None = None) -> NLL:
        """The canonical NLL of a run in this mode: −L_100 on all test images, or on the first n."""
        return canonical_nll(run, test=self.test, n=n)

    def report_run_time(self) -> None:
        """A notebook's last line: how long it ran since setup(), and in which mode."""
        print(f"this notebook ran in {time.perf_counter() - self.started:.0f} s ({'test' if self.test else 'full'} mode)")

    def configs(self, name: str):
        """The (ModelConfig, TrainConfig) of run `name` in this mode (vaelib.runs)."""
        return get_run(name).configs(test=self.test)

    def run(self, name: str, quiet: bool = False, width: int = 0) -> CachedRun:
        """Load run `name` (vaelib.runs) from the cache or train it, in this mode; the model on
        the device in eval mode. Prints one line (unless quiet): parameters and where it came from."""
        run = load_or_train(name, self.test, device=self.device, progress=self.progress)
        run.model.to(self.device).eval()
        if not quiet:
            print(f"{name:{width}}  {count_parameters(run.model):>9,} parameters  "
                  f"{'trained now' if run.trained_now else 'from the cache'}: {run.folder.name}")
        return run

    def runs(self, names: Iterable[str]) -> dict[str, CachedRun]:
        """`run` for each name, one aligned line each: name -> CachedRun."""
        names = list(names)
        width = max(len(name) for name in names)
        return {name: self.run(name, width=width) for name in names}

    def replicas(self, names: Iterable[str]) -> dict[str, list[CachedRun]]:
        """Each run and its seed replicas (vaelib.runs.REPLICAS): name -> [CachedRun of seed 0, 1, ...].
        Runs asked for together are compared seed by seed, so each gets only the seeds they all have."""
        names = list(names)
        common = [s for s in seeds_of(names[0]) if all(s in seeds_of(n) for n in names)]
        out = {}
        for name in names:
            folders = dict(zip(seeds_of(name), REPLICAS[name]))
            out[name] = [self.run(folders[s], quiet=True) for s in common]
            trained = sum(r.trained_now for r in out[name])
            print(f"{name}: training seeds {', '.join(map(str, common))}, "
                  f"{f'{trained} trained now' if trained else 'all from the cache'}")
        return out

    @contextmanager
    def claims(self) -> Iterator[None]:
        """The prose's claims, as asserts in a `with session.claims():` block: an error after a full
        run, only reported in test mode (one short epoch is not expected to bear them out)."""
        try:
            yield
        except AssertionError:
            if not self.test:
                raise
            print("(test mode: the full-run claims of this cell are not checked)")

    def classifier(self):
        """The MNIST classifier of vaelib.eval.classifier (cached), in this mode."""
        return load_or_train_classifier(device=self.device, progress=self.progress, **self.classifier_settings)

    @property
    def classifier_settings(self) -> dict[str, Any]:
        """What `classifier()` changes from vaelib's defaults (also the key of its cached metrics)."""
        return {"epochs": 1, "subset": self.subset} if self.test else {}

    def save_table(self, df, name: str) -> Path | None:
        """Save a DataFrame as a markdown table to images/<name> in full mode (the book shows it)."""
        return self._save(name, lambda path: path.write_text(markdown_table(df)))

    def save_figure(self, fig, name: str) -> Path | None:
        """Save a figure to images/<name> in full mode (the README and the book show these)."""
        return self._save(name, lambda path: fig.savefig(path, dpi=100, bbox_inches="tight"))

    def _save(self, name: str, write: Callable[[Path], Any]) -> Path | None:
        if self.test:
            return None
        IMAGES.mkdir(exist_ok=True)
        write(IMAGES / name)
        return IMAGES / name


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


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def run_time(notebook: str, records: Path = NOTEBOOK_TIMES) -> str:
    """How long notebook `notebook` ("03") takes, from the measured records of `make run`: with its
    runs in the cache (a bundle), and from an empty cache; never a typed number."""
    try:
        entry = next(v for k, v in json.loads(records.read_text()).items() if k.split("_")[0] == notebook)
    except (OSError, ValueError, StopIteration):  # no records, unreadable ones, or none of this notebook
        return "Run time: not measured yet."
    cached = entry["seconds"] - entry.get("training", 0.0)  # a run that trained, less its training
    empty = entry.get("from an empty cache", {}).get("seconds")
    parts = [f"{_duration(cached)} with its runs in the cache (or from a bundle)",
             f"{_duration(empty)} from an empty cache" if empty else "from an empty cache: not measured yet"]
    gpu = entry.get("gpu", {}).get("seconds")
    return (f"Run time on a {entry.get('cores', 2)}-core laptop CPU (measured {entry['when'][:10]}): "
            + ", ".join(parts) + f"; on a GPU: {_duration(gpu) if gpu else 'not measured yet'}.")


def missing_runs(notebook: str, test: bool = False, cache_root: Path | None = None) -> tuple[list[str], list[str]]:
    """The runs notebook `notebook` ("08") trains (not the GPU-length ones), and those not in the cache."""
    names = [name for name, run in RUNS.items() if run.notebook == notebook and not run.long]
    return names, [name for name in names if not is_cached(name, test, cache_root)]


def training_plan(notebook: str, test: bool = False, profile: Path = PROFILE, cache_root: Path | None = None) -> str:
    """What a Run All of notebook `notebook` ("08") will train: its runs not in the cache, and about
    how long they take as the last profile measured them."""
    names, missing = missing_runs(notebook, test, cache_root)
    if not names:
        return "Training: this notebook trains no model of its own."
    if not missing:
        return ("Training: none; the model this notebook trains is in the cache." if len(names) == 1
                else f"Training: none; the {len(names)} models this notebook trains are all in the cache.")
    try:
        measured = json.loads(profile.read_text())["runs"]
    except (OSError, ValueError, KeyError):
        measured = {}
    seconds = [measured.get(name, {}).get("training s") for name in missing]
    known = [s for s in seconds if isinstance(s, (int, float))]
    estimate = (f"about {_duration(sum(known))} of training on the machine of the last profile"
                + (f" (for {len(known)} of them; the others not measured yet)" if len(known) < len(missing) else "")
                if known else "their training time not measured yet")
    which = "the model this notebook trains is" if len(names) == 1 else \
        f"{len(missing)} of the {len(names)} models this notebook trains are"
    return (f"Training: {which} not in the cache: {estimate}. A checkpoint bundle of the series loads "
            "them in seconds instead (`make unbundle FILE=...`, book/instructors.md).")


def setup(notebook: str | None = None, seed: int = 0, device: str | None = None) -> Session:
    """Seed torch, pick the device, set plotting defaults, and say which mode this is (and, given
    the notebook's number, how long it takes, `run_time`, and what it will train, `training_plan`)."""
    test = is_test_mode()
    seed_everything(seed)
    import matplotlib  # noqa: PLC0415

    matplotlib.rcParams.update({"figure.dpi": 80, "axes.grid": False, "image.cmap": "gray"})
    session = Session(test=test, device=pick_device(device), seed=seed, subset=TEST_SUBSET if test else None,
                      progress=not test)
    print(f"mode: {'TEST (fast, tiny subset)' if test else 'full'}; device: {session.device}")
    if notebook is not None:
        print(run_time(notebook))
        if not test:
            print(training_plan(notebook))
    return session

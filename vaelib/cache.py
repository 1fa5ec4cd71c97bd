"""Load a run from the cache if it is there and current, else train it.

    run = load_or_train("bernoulli-vae")              # a run of vaelib.runs: trained once, then loaded
    run = load_or_train("bernoulli-vae", test=True)   # its fast test-mode version
    run.model, run.history, run.metrics, run.folder

A run's folder is `<cache root>/<run name>-<key>`, the key a hash of its two configs (a finished
folder of another name with the same key holds the same model, and is loaded). Its `code.json` is
the stamp of the code that trained it: the `fingerprint` of every file that computes its numbers.
A folder stamped by other code, or by none, is trained again, with one line naming the files that
changed; a refactor checked to keep the numbers keeps its cache (`scripts/migrate_cache.py --restamp`).
An interrupted training resumes from its checkpoint; a run that `continues` a shorter one starts
from a copy of that run's last checkpoint.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch
from torch import nn

from vaelib.checkpoints import CHECKPOINT, CheckpointError, load_model, run_files, writing
from vaelib.models import ModelConfig
from vaelib.runs import get_run
from vaelib.runtime import REPO_ROOT, atomic_path, atomic_write_text, brief
from vaelib.train import TrainConfig, train

__all__ = ["CACHE_ROOT", "FAMILY_FILES", "SHARED_FILES", "CachedRun", "config_key", "fingerprint", "code_stamp",
           "find_folder", "run_folder", "is_cached", "load_or_train", "derived"]

#: where trained models live; VAELIB_CACHE overrides (the tests point it at a temporary folder)
CACHE_ROOT = Path(os.environ.get("VAELIB_CACHE", REPO_ROOT / "checkpoints"))
PACKAGE = Path(__file__).resolve().parent

#: the files (under vaelib/) whose code every run's numbers depend on
SHARED_FILES = ("data.py", "losses.py", "metrics.py", "train.py", "models/networks.py", "models/vae.py")
#: what a model family (ModelConfig.kind) depends on beyond SHARED_FILES
FAMILY_FILES: dict[str, tuple[str, ...]] = {
    "vae": (), "wae": ("models/wae.py",), "gm-vae": ("models/gmvae.py",), "vq-vae": ("models/vqvae.py",),
    "ar-vae": ("models/arvae.py",), "hvae": ("models/hvae.py",), "cvae": ("models/semisup.py",),
    "m2": ("models/semisup.py",), "m1m2": ("models/m1m2.py", "models/semisup.py"),
}


@dataclass
class CachedRun:
    """A run's trained model and its results, loaded from the cache or trained now."""

    name: str
    model: nn.Module
    history: pd.DataFrame
    metrics: dict[str, Any]
    folder: Path
    trained_now: bool  # False when it came from the cache
    model_config: ModelConfig
    train_config: TrainConfig

    @property
    def code(self) -> dict[str, str]:
        """The stamp of the code that trained it (and that its derived results must carry)."""
        return code_stamp(self.model_config.kind)


def config_key(model: ModelConfig, train_cfg: TrainConfig) -> str:
    """A short stable hash of both configs (sorted JSON)."""
    blob = json.dumps({"model": model.to_dict(), "train": train_cfg.to_dict()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


@lru_cache(maxsize=None)
def fingerprint(file: str) -> str:
    """A hash of vaelib/<file>'s code: its syntax tree without docstrings (comments never reach the tree)."""
    tree = ast.parse((PACKAGE / file).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


def code_stamp(kind: str) -> dict[str, str]:
    """The fingerprints of the files whose code computes the numbers of a model of this family."""
    return {f: fingerprint(f) for f in (*SHARED_FILES, *FAMILY_FILES[kind])}


def find_folder(name: str, model_cfg: ModelConfig, train_cfg: TrainConfig,
                cache_root: str | Path | None = None) -> Path:
    """The folder of this configuration: a finished one with its key (whatever its name), else `<name>-<key>`."""
    root = Path(cache_root) if cache_root is not None else CACHE_ROOT
    key = config_key(model_cfg, train_cfg)
    done = sorted(p.parent for p in root.glob(f"*-{key}/model.pt"))
    return done[0] if done else root / f"{name}-{key}"


def run_folder(name: str, test: bool = False, cache_root: str | Path | None = None) -> Path:
    """The cache folder of run `name` (vaelib.runs) in full or test mode, trained or not yet."""
    return find_folder(name, *get_run(name).configs(test=test), cache_root)


def is_cached(name: str, test: bool = False, cache_root: str | Path | None = None) -> bool:
    """Whether `load_or_train` would load run `name`: a finished copy made by today's code is cached."""
    model_cfg, train_cfg = get_run(name).configs(test=test)
    folder = find_folder(name, model_cfg, train_cfg, cache_root)
    finished = (folder / "model.pt").is_file() and (folder / "metrics.json").is_file()
    return finished and _written_by(folder) == code_stamp(model_cfg.kind)


def load_or_train(name: str, test: bool = False, *, cache_root: str | Path | None = None,
                  device: str | torch.device | None = None, progress: bool = True) -> CachedRun:
    """Run `name` (vaelib.runs), in full or test mode: loaded from the cache when a current copy is
    there, else trained (resuming from its checkpoint, or continuing the run it `continues`)."""
    run = get_run(name)
    model_cfg, train_cfg = run.configs(test=test)
    folder = find_folder(name, model_cfg, train_cfg, cache_root)
    stamp = code_stamp(model_cfg.kind)
    if folder.exists():  # another process (a second notebook) training this run: wait for it, then load its model
        with writing(folder, wait=True):
            pass
    _drop_if_stale(name, folder, stamp)
    if (folder / "model.pt").exists() and (folder / "metrics.json").exists():
        model = load_model(folder / "model.pt", device, expect=(model_cfg.to_dict(), train_cfg.to_dict()))
        history, metrics = _read_results(folder)
        return CachedRun(name, model, history, metrics, folder, False, model_cfg, train_cfg)
    if run.continues is not None and not (folder / CHECKPOINT).exists():
        earlier = load_or_train(run.continues, test, cache_root=cache_root, device=device, progress=progress)
        if earlier.folder != folder:  # (in test mode both may be one short run)
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(earlier.folder / CHECKPOINT, folder / CHECKPOINT)  # train resumes from it
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json.dumps(stamp, indent=2) + "\n", folder / "code.json")
    result = train(model_cfg, train_cfg, folder, device=device, progress=progress)
    return CachedRun(name, result.model, result.history, result.metrics, folder, True, model_cfg, train_cfg)


def derived(fn: Callable[..., Any], run: CachedRun, *args: Any, **kwargs: Any) -> Any:
    """fn(run.model, *args, **kwargs) for a function fn of vaelib, computed once and kept in the run's
    folder (`derived-<fn>-<hash of the arguments>.pt`) with the run's code stamp and the fingerprint
    of fn's file: other code or other arguments compute it again. fn must be seeded by its arguments
    (pass seeds, not generators: a loaded result draws nothing) and return tensors, numbers, strings,
    or lists and dicts of them (loaded on the CPU)."""
    if not fn.__module__.startswith("vaelib."):
        raise ValueError(f"derived caches the results of vaelib's functions, not of {fn.__module__}.{fn.__name__}")
    file = fn.__module__.removeprefix("vaelib.").replace(".", "/") + ".py"
    code = {**run.code, file: fingerprint(file)}
    path = Path(run.folder) / f"derived-{fn.__name__}-{_digest((args, kwargs))}.pt"
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored["code"] == code:
            return stored["value"]
    except FileNotFoundError:
        pass
    except Exception as e:  # a truncated or corrupt file: computed again
        print(f"{path} is damaged ({brief(e)}); computing it again")
    with atomic_path(path, suffix=".tmp.pt") as tmp:
        torch.save({"value": fn(run.model, *args, **kwargs), "code": code}, tmp)
    return torch.load(path, map_location="cpu", weights_only=True)["value"]  # as a later call will see it


def _digest(value: Any) -> str:
    """A hash of call arguments: tensors by their values, containers by their items, the rest by repr."""
    def plain(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return str(v.dtype), tuple(v.shape), hashlib.sha256(v.detach().cpu().contiguous().numpy()).hexdigest()
        if isinstance(v, (list, tuple, dict)):
            return type(v).__name__, [plain(x) for x in (sorted(v.items()) if isinstance(v, dict) else v)]
        return repr(v)
    return hashlib.sha256(repr(plain(value)).encode()).hexdigest()[:12]


def _read_results(folder: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """history.csv and metrics.json of a finished run; a damaged one is a CheckpointError naming it."""
    path = folder / "history.csv"
    try:
        history = pd.read_csv(path)
        if "epoch" not in history or history.empty:
            raise ValueError("no epochs")
        path = folder / "metrics.json"
        metrics = json.loads(path.read_text())
        if not isinstance(metrics, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError, pd.errors.ParserError) as e:  # JSONDecodeError and EmptyDataError are ValueErrors
        raise CheckpointError(path, f"is damaged ({brief(e)})", "delete its folder and ask for the run again") from None
    return history, metrics


def _written_by(folder: Path) -> Any:
    """The code stamp a run folder records (code.json), or None when it has none."""
    try:
        return json.loads((folder / "code.json").read_text())
    except (OSError, ValueError):
        return None


def _drop_if_stale(name: str, folder: Path, stamp: dict[str, str]) -> None:
    """Delete the run's files when other code (or code of no known stamp) wrote them."""
    files = run_files(folder)
    written_by = _written_by(folder)
    if not files or written_by == stamp:
        return
    changed = ("no code stamp" if not isinstance(written_by, dict) else ", ".join(
        f for f, v in stamp.items() if written_by.get(f) != v) + " changed")
    print(f"{name}: {folder.name} was made by other code ({changed}); training it again")
    for path in files:
        path.unlink()

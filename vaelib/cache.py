"""Load the trained model if it exists, else train it: models cached by their configuration.

    run = cached_run("bernoulli-vae")                 # a run of vaelib.runs, trained once, then loaded
    run = cached_run("bernoulli-vae", test=True)      # its fast test-mode version
    run.model, run.history, run.metrics

The cache key is a hash of the run's (model config, train config) and nothing else; the folder
is `<cache_root>/<run name>-<key>` and holds what `vaelib.train.train` writes. A folder of any
name that ends in the same key is the same model, so asking for the configuration an earlier
notebook trained loads that notebook's model in a second. An interrupted training resumes from
its last checkpoint the next time it is asked for. A run that `continues` a shorter one
(vaelib.runs.Run.continues) starts from a copy of that run's last checkpoint, so it trains only
the epochs it adds, and ends as an uninterrupted run of its length would. A history written by an older vaelib (other
column names) is read in today's columns (`vaelib.train.upgrade_history`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from vaelib.models import ModelConfig
from vaelib.runs import get_run
from vaelib.runtime import CHECKPOINT, REPO_ROOT, load_model
from vaelib.train import TrainConfig, train, upgrade_history

__all__ = ["CACHE_ROOT", "CachedRun", "config_key", "cache_folder", "cached_train", "cached_run", "cached_runs",
           "run_folder", "load_or_train"]

#: where trained models live; VAELIB_CACHE overrides (the tests point it at a temporary folder)
CACHE_ROOT = Path(os.environ.get("VAELIB_CACHE", REPO_ROOT / "checkpoints"))


@dataclass
class CachedRun:
    name: str
    model: nn.Module
    history: pd.DataFrame
    metrics: dict[str, Any]
    folder: Path
    trained_now: bool  # False when it came from the cache
    model_config: ModelConfig
    train_config: TrainConfig


def config_key(model: ModelConfig, train_cfg: TrainConfig) -> str:
    """A short stable hash of both configs (sorted JSON)."""
    blob = json.dumps({"model": model.to_dict(), "train": train_cfg.to_dict()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def cache_folder(model_cfg: ModelConfig, train_cfg: TrainConfig, name: str = "model",
                 cache_root: str | Path | None = None) -> Path:
    """The folder of this configuration: an existing finished one with its key (whatever its
    name), else `<name>-<key>`."""
    root = Path(cache_root) if cache_root is not None else CACHE_ROOT
    key = config_key(model_cfg, train_cfg)
    done = sorted(p.parent for p in root.glob(f"*-{key}/metrics.json") if (p.parent / "model.pt").exists())
    return done[0] if done else root / f"{name}-{key}"


def cached_train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    *,
    name: str = "model",
    cache_root: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> CachedRun:
    """Train (or load) the model of this (ModelConfig, TrainConfig) pair; `name` names a new folder."""
    folder = cache_folder(model_cfg, train_cfg, name, cache_root)
    if (folder / "model.pt").exists() and (folder / "metrics.json").exists():
        model = load_model(folder / "model.pt", device)
        history = upgrade_history(pd.read_csv(folder / "history.csv"), model_cfg.kind)
        metrics = json.loads((folder / "metrics.json").read_text())
        return CachedRun(name, model, history, metrics, folder, False, model_cfg, train_cfg)
    result = train(model_cfg, train_cfg, folder, device=device, progress=progress)
    return CachedRun(name, result.model, result.history, result.metrics, folder, True, model_cfg, train_cfg)


def cached_run(
    name: str,
    test: bool = False,
    *,
    cache_root: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> CachedRun:
    """Train (or load) the run of that name (vaelib.runs.RUNS), in full or in test mode."""
    run = get_run(name)
    model_cfg, train_cfg = run.configs(test=test)
    folder = cache_folder(model_cfg, train_cfg, name, cache_root)
    if run.continues is not None and not (folder / "model.pt").exists() and not (folder / CHECKPOINT).exists():
        earlier = cached_run(run.continues, test, cache_root=cache_root, device=device, progress=progress)
        if earlier.folder != folder:  # (in test mode both may be one short run)
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(earlier.folder / CHECKPOINT, folder / CHECKPOINT)  # train resumes from it
    return cached_train(model_cfg, train_cfg, name=name, cache_root=cache_root, device=device, progress=progress)


def cached_runs(
    names: list[str],
    test: bool = False,
    *,
    cache_root: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    groups: bool | None = None,
) -> dict[str, CachedRun]:
    """`cached_run` for several runs: name -> CachedRun. The runs that are not in the cache yet and
    can share a group (vaelib.group.group_key: seed replicas, the β and σ sweeps) train together,
    one pass for all of them, when `groups` is True (None: vaelib.group.use_groups, i.e. on a GPU);
    the rest train one by one. Each run gets its own folder either way."""
    from vaelib.group import group_key, train_group, use_groups  # noqa: PLC0415
    from vaelib.runtime import pick_device  # noqa: PLC0415

    dev = pick_device(device)
    if groups is None:
        groups = use_groups(dev)
    todo: dict[str, list[tuple[str, Any, Any, Path]]] = {}  # group key -> its missing members
    for name in names:
        model_cfg, train_cfg = get_run(name).configs(test=test)
        folder = cache_folder(model_cfg, train_cfg, name, cache_root)
        key = group_key(model_cfg, train_cfg)
        if groups and key is not None and not (folder / "model.pt").exists():
            todo.setdefault(key, []).append((name, model_cfg, train_cfg, folder))
    trained = set()
    for members in (m for m in todo.values() if len(m) > 1):  # a lone member trains as usual below
        train_group([(m, t, folder) for _, m, t, folder in members], device=dev, progress=progress)
        trained |= {name for name, *_ in members}
    out = {}
    for name in names:
        run = cached_run(name, test, cache_root=cache_root, device=dev, progress=progress)
        run.trained_now = run.trained_now or name in trained
        out[name] = run
    return out


def run_folder(name: str, test: bool = False, cache_root: str | Path | None = None) -> Path:
    """The cache folder of run `name` (vaelib.runs) in full or test mode, trained or not yet."""
    model_cfg, train_cfg = get_run(name).configs(test=test)
    return cache_folder(model_cfg, train_cfg, name, cache_root)


def load_or_train(name: str, test: bool = False, *, cache_root: str | Path | None = None,
                  device: str | torch.device | None = None, progress: bool = True) -> CachedRun:
    """Run `name` (vaelib.runs): loaded from the cache when it is there, else trained."""
    return cached_run(name, test, cache_root=cache_root, device=device, progress=progress)

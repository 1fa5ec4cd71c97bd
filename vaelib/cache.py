"""Load the trained model if it exists, else train it: models cached by their configuration.

    run = cached_train(get_preset("bernoulli-vae"))          # trains once, then loads
    run.model, run.history, run.metrics

The cache key is a hash of (model config, train config); the folder is
`<cache_root>/<preset name or "model">-<hash>` and holds what `vaelib.train.train` writes. A
notebook that asks for the same configuration as an earlier one gets its model back in a second.
An interrupted training resumes from its last checkpoint the next time it is asked for.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from vaelib.models import ModelConfig
from vaelib.train import TrainConfig, TrainResult, load_model, train

REPO_ROOT = Path(__file__).resolve().parents[1]
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


def config_key(model: ModelConfig, train_cfg: TrainConfig) -> str:
    """A short stable hash of both configs (sorted JSON)."""
    blob = json.dumps({"model": model.to_dict(), "train": train_cfg.to_dict()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def cached_train(
    preset_or_model: Any,
    train_cfg: TrainConfig | None = None,
    *,
    name: str | None = None,
    cache_root: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    **train_overrides: Any,
) -> CachedRun:
    """Train (or load) a preset, or a (ModelConfig, TrainConfig) pair. `train_overrides` replace
    fields of the train config (e.g. epochs=1, subset=2000 in test mode)."""
    if train_cfg is None:  # a Preset
        preset = preset_or_model
        model_cfg, train_cfg, name = preset.model, preset.train, name or preset.name
    else:
        model_cfg = preset_or_model
    if train_overrides:
        train_cfg = replace(train_cfg, **train_overrides)
    root = Path(cache_root) if cache_root is not None else CACHE_ROOT
    folder = root / f"{name or 'model'}-{config_key(model_cfg, train_cfg)}"
    done = folder / "model.pt"
    if done.exists() and (folder / "metrics.json").exists():
        model = load_model(done, device)
        history = pd.read_csv(folder / "history.csv")
        metrics = json.loads((folder / "metrics.json").read_text())
        return CachedRun(name or "model", model, history, metrics, folder, trained_now=False)
    result: TrainResult = train(model_cfg, train_cfg, folder, device=device, progress=progress)
    return CachedRun(name or "model", result.model, result.history, result.metrics, folder, trained_now=True)

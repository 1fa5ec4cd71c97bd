"""Checkpoints: what a run folder holds, and how a model is saved, resumed and rebuilt from it.

A checkpoint stores both configs beside the weights, so `load_model` rebuilds a model from the file
alone. Files are read with `weights_only=True`: no code runs on load.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vaelib.models import build_model
from vaelib.runtime import atomic_save, brief, pick_device

__all__ = ["CHECKPOINT", "RUN_FILES", "DERIVED_FILES", "CheckpointError", "FolderBusyError", "run_files", "writing",
           "load_checkpoint", "save_checkpoint", "check_same_run", "load_model"]

CHECKPOINT = "checkpoint.pt"
#: the files `train`, the cache and the command line write into a run folder
RUN_FILES = ("config.json", "code.json", CHECKPOINT, "history.csv", "model.pt", "metrics.json",
             "metrics_full.json", "samples.png", "reconstructions.png")
#: results computed from a run's model and kept beside it (eval.likelihood.canonical_nll, cache.derived)
DERIVED_FILES = ("nll-*.pt", "derived-*.pt")


def run_files(folder: str | Path) -> list[Path]:
    """Every file of `folder` that a run wrote (RUN_FILES and DERIVED_FILES that exist)."""
    folder = Path(folder)
    found = [folder / name for name in RUN_FILES if (folder / name).is_file()]
    return found + sorted(p for pattern in DERIVED_FILES for p in folder.glob(pattern) if p.is_file())


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that holds another configuration than the one asked for.
    `path` and `problem` let a caller word its own fix (the command line's `--restart`)."""

    def __init__(self, path: str | Path, problem: str,
                 fix: str = "use resume=False to delete it and start over, or another folder") -> None:
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path} {problem}; {fix}")


class FolderBusyError(CheckpointError):
    """Another process is writing the run folder."""


@contextmanager
def writing(folder: str | Path, wait: bool = False) -> Iterator[None]:
    """Hold the run folder while this process writes it: a second writer gets a FolderBusyError, or
    with `wait` waits until the first has finished. An OS lock (flock), so it goes when the process
    ends, even when killed; none on Windows."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl  # noqa: PLC0415  (POSIX only)
    except ImportError:  # pragma: no cover
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise FolderBusyError(folder, "is being written by another process (a second training of the same run)",
                                  "wait until it has finished, or write to another folder") from None
        yield
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint (a file, or a run folder's checkpoint.pt) with `weights_only=True`."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except OSError:
        raise  # cannot be opened (permissions, I/O): not the content's fault
    except Exception as e:  # a damaged file: RuntimeError, EOFError, UnpicklingError, ... depending on where
        detail = "an empty file" if path.stat().st_size == 0 else brief(e)
        raise CheckpointError(path, f"is unreadable (truncated or corrupt: {detail})") from e


def load_model(path: str | Path, device: str | torch.device | None = None,
               expect: tuple[dict[str, Any], dict[str, Any]] | None = None) -> nn.Module:
    """Rebuild a trained model from a checkpoint file (or a run folder) alone, in eval mode. CheckpointError
    when today's vaelib cannot rebuild it, or when it holds other configs than `expect` (model, train dicts)."""
    ckpt = load_checkpoint(path)
    if expect is not None and (ckpt.get("model_config"), ckpt.get("train_config")) != tuple(expect):
        raise CheckpointError(path, "holds another configuration than the run asked for (a folder copied or "
                              "renamed into its place)", "delete its folder and ask for the run again")
    try:
        model = build_model(ckpt["model_config"])
        model.load_state_dict(ckpt["model"])
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(path, f"cannot be rebuilt by this version of vaelib ({brief(e)})",
                              "delete its folder and train it again (vaelib train, or re-run the notebook)") from e
    return model.to(pick_device(device)).eval()


def save_checkpoint(path: Path, model_config: dict[str, Any], train_config: dict[str, Any], model: nn.Module,
                    optimizer: torch.optim.Optimizer, scheduler: Any, generator: torch.Generator,
                    state: dict[str, Any]) -> None:
    """Write a training checkpoint atomically: both configs, the weights, the optimizer and schedule, the
    random generators, and the trainer's `state` (epoch, history, early stopping)."""
    on_cuda = next(model.parameters()).device.type == "cuda"
    atomic_save({
        "model_config": model_config,
        "train_config": train_config,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if on_cuda else None,
        **state,
    }, path)


def check_same_run(ckpt: Any, model_config: dict[str, Any], train_config: dict[str, Any], path: Path) -> None:
    """Resuming is only allowed into the same configuration (the number of epochs may grow)."""
    if not isinstance(ckpt, dict) or ckpt.get("model_config") != model_config:
        raise CheckpointError(path, "was trained with another model config")
    a = dict(ckpt.get("train_config") or {})
    b = dict(train_config)
    a.pop("epochs", None), b.pop("epochs", None)
    if a != b:
        diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        raise CheckpointError(path, f"was trained with another train config (differs in {diff})")

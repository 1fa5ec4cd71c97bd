"""Training: one function, `train`, that fits a model and returns its history.

    result = train(ModelConfig(...), TrainConfig(epochs=10), out_dir="runs/demo")
    result.history    # pandas DataFrame, one row per epoch (also runs/demo/history.csv)
    result.metrics    # dict of test metrics (also runs/demo/metrics.json)

Read it top to bottom: `train` -> `_fit`: `_start` (seed, model, Adam, schedule), `_open_folder`
(resume or start over), then per epoch `_train_epoch` (one `_step` per batch), the validation
terms and `_end_epoch` (schedule, early stopping, checkpoint), and last `_finish`. History columns
follow the model's own TERMS (`history_columns`). A resumed run ends where an uninterrupted one
would (on CPU: bit for bit). A non-finite loss raises `NonFiniteLossError`, keeping the last good
checkpoint. Every file is written atomically (a temporary file, then `os.replace`).
"""

from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from vaelib import data as vdata
from vaelib.metrics import cheap_metrics, mean_terms
from vaelib.models import MODELS, ModelConfig, build_model
from vaelib.checkpoints import (CHECKPOINT, RUN_FILES, CheckpointError, check_same_run, load_checkpoint, run_files,
                                 save_checkpoint, writing)
from vaelib.runtime import (atomic_save, atomic_write_csv, atomic_write_text, brief, clean_stale_tmp, config_from_dict,
                            log_event, maybe_compile, pick_device, seed_everything)

__all__ = ["TrainConfig", "TrainResult", "NonFiniteLossError", "train", "make_adam", "burda_lr", "history_columns"]

CHECK_EVERY = 50  # steps between host-side checks for a non-finite loss (a sync per step would slow a GPU)
SCHEDULERS = (None, "plateau", "burda")


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainConfig:
    """How to train; stored in every checkpoint next to the ModelConfig."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    targets: str = "grey"  # "grey" values in [0, 1], or "dynamic" binarization per batch
    seed: int = 0
    dataset: str = "mnist"  # or "fashion-mnist"
    val_size: int = 10_000  # carved from the 60,000 training images; 0 trains on all of them (no validation)
    subset: int | None = None  # keep only this many images per split (fast test mode)
    scheduler: str | None = None  # None, "plateau" (ReduceLROnPlateau on validation loss), "burda" (burda_lr)
    scheduler_factor: float = 0.5
    scheduler_patience: int = 2
    early_stopping: int | None = None  # patience in epochs, on validation loss
    grad_clip: float | None = None  # max gradient norm
    iwae_k: int = 100  # end-of-training IWAE estimate: k samples...
    iwae_n: int = 1000  # ...on this many test images (cheap; `evaluate` does the full one)
    adam_eps: float = 1e-8  # Adam's ε (PyTorch's default; Burda et al. used 1e-4)

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {self.epochs} and {self.batch_size}")
        if self.targets not in vdata.TRAIN_TARGETS:
            raise ValueError(f"targets must be one of {vdata.TRAIN_TARGETS}, got {self.targets!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        return config_from_dict(cls, d, "train")


@dataclass
class TrainResult:
    model: nn.Module
    history: pd.DataFrame
    metrics: dict[str, Any]
    out_dir: Path | None


@dataclass
class _Training:
    """Everything that changes while a model trains; a checkpoint holds all of it."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any  # ReduceLROnPlateau or None
    gen: torch.Generator  # shuffling and binarization
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_val: float = math.inf
    bad_epochs: int = 0
    best_model: dict[str, torch.Tensor] | None = None

    STATE = ("epoch", "history", "best_val", "bad_epochs", "best_model")


def make_adam(model: nn.Module, tcfg: TrainConfig, device: torch.device) -> torch.optim.Adam:
    """Adam, with PyTorch's fused kernel where the device supports it (CPU and CUDA): the same
    update rule in one pass over the parameters instead of a dozen small tensor ops per step."""
    params = [p for p in model.parameters() if p.requires_grad]
    settings = dict(lr=tcfg.lr, weight_decay=tcfg.weight_decay, eps=tcfg.adam_eps)
    try:
        return torch.optim.Adam(params, **settings, fused=device.type in ("cpu", "cuda"))
    except (RuntimeError, TypeError, ValueError):  # an older torch or an unsupported device
        return torch.optim.Adam(params, **settings)


def burda_lr(lr: float, epoch: int) -> float:
    """Burda et al. (2016)'s schedule (`TrainConfig(scheduler="burda")`): lr · 10^(-i/7) for 3^i passes,
    i = 0..7 (3,280 passes, the last rate kept after them); `epoch` counts the passes before this one."""
    i, end = 0, 1
    while epoch >= end and i < 7:
        i += 1
        end += 3**i
    return lr * 10 ** (-i / 7)


def history_columns(model_kind: str | nn.Module) -> list[str]:
    """The history's columns for a model family: losses, reconstruction and each of its TERMS,
    on the training and the validation split, then lr and timings."""
    terms = model_kind.TERMS if isinstance(model_kind, nn.Module) else MODELS[model_kind].TERMS
    return ["epoch", "train_loss", "train_recon", *(f"train_{t}" for t in terms),
            "val_loss", "val_elbo", "val_recon", *(f"val_{t}" for t in terms), "lr", "seconds", "train_seconds"]


# ----------------------------------------------------------------------------- training


def train(model_config: ModelConfig | dict[str, Any], train_config: TrainConfig | dict[str, Any] | None = None,
        out_dir: str | Path | None = None, *, device: str | torch.device | None = None, progress: bool = True,
        resume: bool = True, data: vdata.MNISTSplits | None = None, final_metrics: bool = True,
        on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None) -> TrainResult:
    """Train a model and return it with its history (and test metrics when `final_metrics`).

    out_dir: where config.json, checkpoint.pt, history.csv and metrics.json go (None: in memory).
    A checkpoint of the same configuration there is resumed (`resume=False` first deletes the old
    run's files); another configuration's or an unreadable one raises CheckpointError, a folder
    another process is writing FolderBusyError. `on_epoch_end(epoch, row)` runs after each checkpoint.
    """
    started = time.perf_counter()
    mcfg = model_config if isinstance(model_config, ModelConfig) else ModelConfig.from_dict(model_config)
    tcfg = train_config if isinstance(train_config, TrainConfig) else TrainConfig.from_dict(train_config or {})
    out = Path(out_dir) if out_dir is not None else None
    with writing(out) if out is not None else nullcontext():  # one writer per run folder
        result = _fit(mcfg, tcfg, out, pick_device(device), progress, resume, data, final_metrics, on_epoch_end)
    log_event("trained", run=out.name if out is not None else None, kind=mcfg.kind, epochs=len(result.history),
              seconds=time.perf_counter() - started)  # the profile's record of what trained (runtime.log_event)
    return result


def _fit(mcfg: ModelConfig, tcfg: TrainConfig, out: Path | None, dev: torch.device, progress: bool, resume: bool,
         data: vdata.MNISTSplits | None, final_metrics: bool,
         on_epoch_end: Callable[[int, dict[str, Any]], None] | None) -> TrainResult:
    """What `train` does once its folder is held: load the data, start or resume, the epochs, the end."""
    splits = data if data is not None else vdata.load_mnist(
        dataset=tcfg.dataset, val_size=tcfg.val_size, seed=0, subset=tcfg.subset
    )
    train_x = splits.train.images.to(dev)  # whole splits on the device, once
    val_x = vdata.eval_inputs(splits.val.images.to(dev), vdata.eval_targets_for(tcfg.targets))
    run = _start(mcfg, tcfg, dev)
    if hasattr(run.model, "attach_training_data"):  # M2 keeps its few labelled images
        run.model.attach_training_data(splits.train)
    if out is not None:
        _open_folder(out, run, mcfg, tcfg, dev, resume)
    labels = run.model.LABELS  # a conditional model trains on (x, y) batches
    val_y = splits.val.labels.to(dev) if labels else None
    batches = vdata.BatchIterator(vdata.Split(train_x, splits.train.labels.to(dev)) if labels else train_x,
                                  tcfg.batch_size, shuffle=True, targets=tcfg.targets, generator=run.gen, labels=labels)
    bar = tqdm(total=tcfg.epochs * len(batches), initial=min(run.epoch, tcfg.epochs) * len(batches),
               disable=not progress, desc="train", unit="step", leave=False)
    ckpt_path = out / CHECKPOINT if out is not None else None
    run.model.train()
    while run.epoch < tcfg.epochs and not _early_stop_due(run, tcfg):
        t0 = time.perf_counter()
        if tcfg.scheduler == "burda":  # a rate fixed by the epoch alone, so a resumed run gets it too
            run.optimizer.param_groups[0]["lr"] = burda_lr(tcfg.lr, run.epoch)  # (make_adam: one group)
        row = _train_epoch(run, batches, tcfg, bar, ckpt_path)
        row["train_seconds"] = time.perf_counter() - t0
        row.update(_validation_row(run.model, val_x, run.optimizer, val_y), seconds=time.perf_counter() - t0)
        _end_epoch(run, _ordered(row, run.model), tcfg, out, mcfg)
        if on_epoch_end is not None:
            on_epoch_end(run.epoch, run.history[-1])
    bar.close()
    return _finish(run, splits, mcfg, tcfg, out, dev, final_metrics)


def _start(mcfg: ModelConfig, tcfg: TrainConfig, dev: torch.device) -> _Training:
    """Seed, then build the model, Adam and the schedule: epoch 0 of a fresh run."""
    seed_everything(tcfg.seed)
    model = maybe_compile(build_model(mcfg).to(dev))  # VAELIB_COMPILE=1: torch.compile (off by default)
    optimizer = make_adam(model, tcfg, dev)
    scheduler = (torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=tcfg.scheduler_factor, patience=tcfg.scheduler_patience)
        if tcfg.scheduler == "plateau" else None)
    return _Training(model, optimizer, scheduler, torch.Generator(device="cpu").manual_seed(tcfg.seed))


def _open_folder(out: Path, run: _Training, mcfg: ModelConfig, tcfg: TrainConfig, dev: torch.device,
                 resume: bool) -> None:
    """Make the run folder ready: delete a killed writer's leftovers, resume from its checkpoint
    (or, with resume=False, delete the old run's files), and write config.json."""
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(out, RUN_FILES)
    if not resume:  # start over: nothing of the old run may stay behind to be mistaken for this one
        for path in run_files(out):
            path.unlink()
    if resume and (out / CHECKPOINT).exists():
        _resume(run, out / CHECKPOINT, mcfg, tcfg, dev)
    config = {"model": mcfg.to_dict(), "train": tcfg.to_dict()}
    atomic_write_text(json.dumps(config, indent=2) + "\n", out / "config.json")


def _resume(run: _Training, path: Path, mcfg: ModelConfig, tcfg: TrainConfig, dev: torch.device) -> None:
    """Load weights, optimizer, schedule, both random generators and the training state."""
    ckpt = load_checkpoint(path, map_location=dev)
    check_same_run(ckpt, mcfg.to_dict(), tcfg.to_dict(), path)
    try:
        run.model.load_state_dict(ckpt["model"])
        run.optimizer.load_state_dict(ckpt["optimizer"])
        if run.scheduler is not None and ckpt.get("scheduler") is not None:
            run.scheduler.load_state_dict(ckpt["scheduler"])
        run.gen.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        if dev.type == "cuda" and ckpt.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ckpt["cuda_rng"])
        for key in _Training.STATE:
            setattr(run, key, ckpt[key])
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(path, f"is not a complete training checkpoint ({brief(e)})") from e


def _step(run: _Training, x: torch.Tensor, tcfg: TrainConfig):
    """One Adam step on the batch's mean loss; returns the model's terms and that mean."""
    terms = run.model(*x) if isinstance(x, tuple) else run.model(x)  # (x, y) for a conditional model
    loss = terms.loss.mean()
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if tcfg.grad_clip is not None:
        nn.utils.clip_grad_norm_(run.model.parameters(), tcfg.grad_clip)
    run.optimizer.step()
    return terms, loss


def _train_epoch(run: _Training, batches: vdata.BatchIterator, tcfg: TrainConfig, bar,
                 ckpt_path: Path | None) -> dict[str, float]:
    """One pass over the training split: the epoch's mean loss, reconstruction loss and terms. Sums
    stay on the device; the host checks the loss for non-finite values every CHECK_EVERY steps."""
    epoch, steps, names = run.epoch + 1, len(batches), run.model.TERMS
    dev = next(run.model.parameters()).device
    sums = torch.zeros(2 + len(names), device=dev)  # loss, reconstruction, each term (summed over examples)
    first_bad = torch.full((), -1, dtype=torch.long, device=dev)
    for step, x in enumerate(batches):
        terms, loss = _step(run, x, tcfg)
        with torch.no_grad():
            bad = ~torch.isfinite(loss)
            first_bad = torch.where(bad & (first_bad < 0), torch.full_like(first_bad, step), first_bad)
            parts = [terms.loss.sum(), terms.reconstruction.sum(), *(getattr(terms, t).sum() for t in names)]
            sums += torch.stack(parts).detach()
        if step % CHECK_EVERY == CHECK_EVERY - 1 or step == steps - 1:
            _raise_if_bad(int(first_bad.item()), epoch, steps, ckpt_path, bar)
        bar.update(1)
    means = (sums / batches.images.shape[0]).tolist()
    row = {"epoch": epoch, "train_loss": means[0], "train_recon": -means[1]}  # recon as a loss: -E[log p(x|z)]
    row.update({f"train_{t}": v for t, v in zip(names, means[2:])})
    return row


def _raise_if_bad(bad_step: int, epoch: int, steps: int, ckpt_path: Path | None, bar) -> None:
    if bad_step < 0:
        return
    bar.close()
    kept = (f"the last good checkpoint (epoch {epoch - 1}) is kept in {ckpt_path}. "
            if ckpt_path is not None and ckpt_path.exists() else "")
    raise NonFiniteLossError(
        f"non-finite training loss at epoch {epoch}, step {bad_step + 1} of {steps} "
        f"(global step {(epoch - 1) * steps + bad_step}); " + kept
        + "Try a lower learning rate, gradient clipping (grad_clip), or a floor on σ."
    )


def _validation_row(model: nn.Module, val_x: torch.Tensor, optimizer: torch.optim.Optimizer,
                    val_y: torch.Tensor | None = None) -> dict[str, float]:
    """Validation loss, ELBO (NaN where the model has none), reconstruction loss and terms; the lr used."""
    if val_x.shape[0]:
        val = mean_terms(model, val_x, labels=val_y)
    else:  # trained on every image: no validation split
        val = {k: math.nan for k in ("loss", "elbo", "log_px", *model.TERMS)}
    row = {"val_loss": val["loss"], "val_elbo": val["elbo"], "val_recon": -val["log_px"]}
    row.update({f"val_{t}": val[t] for t in model.TERMS})
    row["lr"] = optimizer.param_groups[0]["lr"]
    return row


def _ordered(row: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    return {c: row[c] for c in history_columns(model)}


def _end_epoch(run: _Training, row: dict[str, Any], tcfg: TrainConfig, out: Path | None,
               mcfg: ModelConfig) -> None:
    """Step the schedule, track the best validation epoch, log one line, write the checkpoint."""
    val_loss = row["val_loss"]
    if run.scheduler is not None and not math.isnan(val_loss):
        run.scheduler.step(val_loss)
    if not math.isnan(val_loss) and val_loss < run.best_val:
        run.best_val, run.bad_epochs = val_loss, 0
        if tcfg.early_stopping is not None:
            run.best_model = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
    else:
        run.bad_epochs += 1
    run.epoch = row["epoch"]
    run.history.append(row)
    tqdm.write(_summary_line(row, tcfg.epochs, run.model))  # one line per epoch, also when the bar is off
    if out is not None:
        save_checkpoint(out / CHECKPOINT, mcfg.to_dict(), tcfg.to_dict(), run.model, run.optimizer, run.scheduler,
                        run.gen, {key: getattr(run, key) for key in _Training.STATE})
        atomic_write_csv(_history_frame(run), out / "history.csv")


def _finish(run: _Training, splits: vdata.MNISTSplits, mcfg: ModelConfig, tcfg: TrainConfig, out: Path | None,
            dev: torch.device, final_metrics: bool) -> TrainResult:
    """Keep the best validation epoch's weights (early stopping); write model.pt, history, test metrics."""
    model = run.model
    if tcfg.early_stopping is not None and run.best_model is not None:
        model.load_state_dict(run.best_model)  # model selection on the validation split
    model.eval()
    history = _history_frame(run)
    if out is not None:
        atomic_write_csv(history, out / "history.csv")
        atomic_save({"model_config": mcfg.to_dict(), "train_config": tcfg.to_dict(), "model": model.state_dict()},
                    out / "model.pt")
    metrics: dict[str, Any] = {}
    if final_metrics:
        metrics = cheap_metrics(model, splits.test, tcfg, device=dev)
        metrics["epochs_trained"] = int(run.epoch)
        metrics["stopped_early"] = bool(_early_stop_due(run, tcfg) and run.epoch < tcfg.epochs)
        if out is not None:
            atomic_write_text(json.dumps(metrics, indent=2) + "\n", out / "metrics.json")
    return TrainResult(model=model, history=history, metrics=metrics, out_dir=out)


# ----------------------------------------------------------------------------- internals


def _early_stop_due(run: _Training, tcfg: TrainConfig) -> bool:
    return tcfg.early_stopping is not None and run.bad_epochs >= tcfg.early_stopping


def _history_frame(run: _Training) -> pd.DataFrame:
    return pd.DataFrame(run.history, columns=history_columns(run.model))


def _summary_line(row: dict[str, Any], epochs: int, model: nn.Module) -> str:
    """One line per epoch: the losses and each of the model's terms under its own label."""
    def parts(split: str) -> str:
        terms = ", ".join(f"{model.TERM_LABELS.get(t, t)} {row[f'{split}_{t}']:.2f}" for t in model.TERMS)
        return f"{split} loss {row[f'{split}_loss']:.2f} (recon {row[f'{split}_recon']:.2f}, {terms})"
    val = "no validation split" if math.isnan(row["val_loss"]) else parts("val")
    return f"epoch {row['epoch']:>3}/{epochs}  {parts('train')}  {val}  lr {row['lr']:.2g}  {row['seconds']:.1f}s"

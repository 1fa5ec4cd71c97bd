"""Training: one function, `train`, that fits a model and returns its history.

    result = train(ModelConfig(...), TrainConfig(epochs=10), out_dir="runs/demo")
    result.history    # pandas DataFrame, one row per epoch (also runs/demo/history.csv)
    result.metrics    # dict of test metrics (also runs/demo/metrics.json)

What it does, in order: pick a device (CUDA, then MPS, then CPU), seed everything, put the
whole data set on the device once, and for each epoch: shuffle by index, slice batches, draw the
targets (grey values or a fresh binarization), take Adam steps on the mean per-example loss,
evaluate on the validation split, step the LR schedule, check early stopping, and write an
atomic checkpoint. A run whose folder already holds a checkpoint resumes from it and ends where
an uninterrupted run would (on CPU: bit for bit). A non-finite loss stops training with
`NonFiniteLossError` naming the epoch and step; the last good checkpoint stays on disk.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from vaelib import data as vdata
from vaelib.metrics import eval_inputs
from vaelib.models import ModelConfig, build_model
from vaelib.models.vae import config_from_dict

CHECKPOINT = "checkpoint.pt"
TARGET_MODES = ("grey", "dynamic")


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
    scheduler: str | None = None  # None or "plateau" (ReduceLROnPlateau on validation loss)
    scheduler_factor: float = 0.5
    scheduler_patience: int = 2
    early_stopping: int | None = None  # patience in epochs, on validation loss
    grad_clip: float | None = None  # max gradient norm
    iwae_k: int = 100  # end-of-training IWAE estimate: k samples...
    iwae_n: int = 1000  # ...on this many test images (cheap; `evaluate` does the full one)

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.targets not in TARGET_MODES:
            raise ValueError(f"targets must be one of {TARGET_MODES}, got {self.targets!r}")
        if self.scheduler not in (None, "plateau"):
            raise ValueError(f"scheduler must be None or 'plateau', got {self.scheduler!r}")

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


# ----------------------------------------------------------------------------- helpers


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, else CUDA, then MPS, then CPU."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed torch's CPU and CUDA generators (the only randomness vaelib uses)."""
    torch.manual_seed(seed)


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename: never a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(text: str, path: Path) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True` (no arbitrary code runs on load)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=True)


def load_model(path: str | Path, device: str | torch.device | None = None) -> nn.Module:
    """Rebuild a trained model from a checkpoint file (or a run folder) alone, in eval mode."""
    ckpt = load_checkpoint(path)
    model = build_model(ckpt["model_config"])
    model.load_state_dict(ckpt["model"])
    return model.to(pick_device(device)).eval()


def make_adam(model: nn.Module, tcfg: TrainConfig, device: torch.device) -> torch.optim.Adam:
    """Adam, with PyTorch's fused kernel where the device supports it (CPU and CUDA): the same
    update rule in one pass over the parameters instead of a dozen small tensor ops per step."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        return torch.optim.Adam(params, lr=tcfg.lr, weight_decay=tcfg.weight_decay,
                                fused=device.type in ("cpu", "cuda"))
    except (RuntimeError, TypeError, ValueError):  # an older torch or an unsupported device
        return torch.optim.Adam(params, lr=tcfg.lr, weight_decay=tcfg.weight_decay)


def _eval_targets(train: TrainConfig) -> str:
    """Evaluate on the fixed binarization when trained on binary data, else on grey values."""
    return "fixed" if train.targets == "dynamic" else "grey"


@torch.no_grad()
def evaluate_loss(
    model: nn.Module, x: torch.Tensor, batch_size: int = 1000, beta: float | None = None
) -> dict[str, float]:
    """Mean training loss, ELBO, reconstruction and KL over x (one z sample each), model in eval mode."""
    was_training = model.training
    model.eval()
    sums = {"loss": 0.0, "elbo": 0.0, "recon": 0.0, "kl": 0.0}
    for i in range(0, x.shape[0], batch_size):
        t = model(x[i : i + batch_size], beta=beta)
        sums["loss"] += t.loss.sum().item()
        sums["elbo"] += t.elbo.sum().item()
        sums["recon"] += t.reconstruction.sum().item()
        sums["kl"] += t.kl.sum().item()
    model.train(was_training)
    n = max(x.shape[0], 1)
    return {k: v / n for k, v in sums.items()}


# ----------------------------------------------------------------------------- training


def train(
    model_config: ModelConfig | dict[str, Any],
    train_config: TrainConfig | dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
    resume: bool = True,
    data: vdata.MNISTSplits | None = None,
    final_metrics: bool = True,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
    _fail_at_step: int | None = None,
) -> TrainResult:
    """Train a model and return it with its history (and test metrics when `final_metrics`).

    out_dir: where config.json, checkpoint.pt and history.csv (and metrics.json) go; None keeps
    everything in memory. If out_dir holds a checkpoint of the same configuration, training
    resumes from it (`resume=False` starts over). `on_epoch_end(epoch, row)` is called after each
    checkpoint. `_fail_at_step` (tests only) poisons the loss at that global step.
    """
    mcfg = model_config if isinstance(model_config, ModelConfig) else ModelConfig.from_dict(model_config)
    tcfg = train_config if isinstance(train_config, TrainConfig) else TrainConfig.from_dict(train_config or {})
    dev = pick_device(device)
    out = Path(out_dir) if out_dir is not None else None

    # ---- data: whole splits on the device, once
    splits = data if data is not None else vdata.load_mnist(
        dataset=tcfg.dataset, val_size=tcfg.val_size, seed=0, subset=tcfg.subset
    )
    train_x = splits.train.images.to(dev)
    val_x = eval_inputs(splits.val.images.to(dev), _eval_targets(tcfg))

    # ---- model, optimizer, schedule
    seed_everything(tcfg.seed)
    model = build_model(mcfg).to(dev)
    optimizer = make_adam(model, tcfg, dev)
    scheduler = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=tcfg.scheduler_factor, patience=tcfg.scheduler_patience
        )
        if tcfg.scheduler == "plateau"
        else None
    )
    gen = torch.Generator(device="cpu").manual_seed(tcfg.seed)  # shuffling and binarization

    state = {"epoch": 0, "history": [], "best_val": math.inf, "bad_epochs": 0, "best_model": None}
    ckpt_path = out / CHECKPOINT if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        config = {"model": mcfg.to_dict(), "train": tcfg.to_dict()}
        if resume and ckpt_path.exists():
            ckpt = load_checkpoint(ckpt_path, map_location=dev)
            _check_same_run(ckpt, mcfg, tcfg, ckpt_path)
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            if scheduler is not None and ckpt.get("scheduler") is not None:
                scheduler.load_state_dict(ckpt["scheduler"])
            gen.set_state(ckpt["generator"])
            torch.set_rng_state(ckpt["torch_rng"])
            if dev.type == "cuda" and ckpt.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(ckpt["cuda_rng"])
            for key in ("epoch", "history", "best_val", "bad_epochs", "best_model"):
                state[key] = ckpt[key]
        atomic_write_text(json.dumps(config, indent=2) + "\n", out / "config.json")

    stopped_early = _early_stop_due(state, tcfg)
    n = train_x.shape[0]
    batches = vdata.BatchIterator(train_x, tcfg.batch_size, shuffle=True, targets=tcfg.targets, generator=gen)
    steps_per_epoch = len(batches)
    bar = tqdm(
        total=tcfg.epochs * steps_per_epoch,
        initial=min(state["epoch"], tcfg.epochs) * steps_per_epoch,
        disable=not progress,
        desc="train",
        unit="step",
        leave=False,
    )
    model.train()
    while state["epoch"] < tcfg.epochs and not stopped_early:
        epoch = state["epoch"] + 1
        t0 = time.perf_counter()
        sums = torch.zeros(3, device=dev)  # loss, recon, kl (summed over examples)
        first_bad = torch.full((), -1, dtype=torch.long, device=dev)
        for step, x in enumerate(batches):  # a fresh shuffle (and binarization) each epoch
            terms = model(x)
            loss = terms.loss.mean()
            global_step = (epoch - 1) * steps_per_epoch + step
            if _fail_at_step is not None and global_step == _fail_at_step:
                loss = loss * float("nan")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tcfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
            optimizer.step()
            with torch.no_grad():
                bad = ~torch.isfinite(loss)
                first_bad = torch.where(bad & (first_bad < 0), torch.full_like(first_bad, step), first_bad)
                sums += torch.stack([terms.loss.sum(), terms.reconstruction.sum(), terms.kl.sum()]).detach()
            # check on the host every 50 steps (a sync per step would slow a GPU down)
            if step % 50 == 49 or step == steps_per_epoch - 1:
                bad_step = int(first_bad.item())
                if bad_step >= 0:
                    bar.close()
                    raise NonFiniteLossError(
                        f"non-finite training loss at epoch {epoch}, step {bad_step + 1} of "
                        f"{steps_per_epoch} (global step {(epoch - 1) * steps_per_epoch + bad_step}); "
                        + (f"the last good checkpoint (epoch {epoch - 1}) is kept in {ckpt_path}. "
                           if ckpt_path is not None and ckpt_path.exists() else "")
                        + "Try a lower learning rate, gradient clipping (grad_clip), or a floor on σ."
                    )
            bar.update(1)
        train_time = time.perf_counter() - t0
        train_loss, train_recon, train_kl = (sums / n).tolist()
        val = evaluate_loss(model, val_x) if val_x.shape[0] else {k: math.nan for k in ("loss", "elbo", "recon", "kl")}
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_recon": -train_recon,  # reported as a loss: -E[log p(x|z)] (nats)
            "train_kl": train_kl,
            "val_loss": val["loss"],
            "val_elbo": val["elbo"],
            "val_recon": -val["recon"],
            "val_kl": val["kl"],
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - t0,
            "train_seconds": train_time,
        }
        if scheduler is not None and not math.isnan(val["loss"]):
            scheduler.step(val["loss"])
        if not math.isnan(val["loss"]) and val["loss"] < state["best_val"]:
            state["best_val"] = val["loss"]
            state["bad_epochs"] = 0
            if tcfg.early_stopping is not None:
                state["best_model"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["history"].append(row)
        tqdm.write(_summary_line(row, tcfg.epochs, getattr(model, "penalty_label", "KL")))  # one line per epoch, also when the bar is off
        if out is not None:
            _save(ckpt_path, model, optimizer, scheduler, gen, state, mcfg, tcfg, dev)
            _history_frame(state["history"]).to_csv(out / "history.csv", index=False)
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
        stopped_early = _early_stop_due(state, tcfg)
    bar.close()

    if tcfg.early_stopping is not None and state["best_model"] is not None:
        model.load_state_dict(state["best_model"])  # model selection on the validation split
    model.eval()
    history = _history_frame(state["history"])
    if out is not None:
        history.to_csv(out / "history.csv", index=False)
        atomic_save(
            {"model_config": mcfg.to_dict(), "train_config": tcfg.to_dict(), "model": model.state_dict()},
            out / "model.pt",
        )
    metrics: dict[str, Any] = {}
    if final_metrics:
        from vaelib.metrics import cheap_metrics  # noqa: PLC0415

        metrics = cheap_metrics(model, splits.test, tcfg, device=dev)
        metrics["epochs_trained"] = int(state["epoch"])
        metrics["stopped_early"] = bool(stopped_early and state["epoch"] < tcfg.epochs)
        if out is not None:
            atomic_write_text(json.dumps(metrics, indent=2) + "\n", out / "metrics.json")
    return TrainResult(model=model, history=history, metrics=metrics, out_dir=out)


# ----------------------------------------------------------------------------- internals


def _early_stop_due(state: dict[str, Any], tcfg: TrainConfig) -> bool:
    return tcfg.early_stopping is not None and state["bad_epochs"] >= tcfg.early_stopping


def _history_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    cols = ["epoch", "train_loss", "train_recon", "train_kl", "val_loss", "val_elbo", "val_recon",
            "val_kl", "lr", "seconds", "train_seconds"]
    return pd.DataFrame(rows, columns=cols)


def _summary_line(row: dict[str, Any], epochs: int, penalty: str = "KL") -> str:
    """One line per epoch; `penalty` names the model's latent term (KL, or a WAE's λ·MMD²)."""
    val = ("no validation split" if math.isnan(row["val_loss"]) else
           f"val loss {row['val_loss']:.2f} (recon {row['val_recon']:.2f}, {penalty} {row['val_kl']:.2f})")
    return (
        f"epoch {row['epoch']:>3}/{epochs}  train loss {row['train_loss']:.2f} "
        f"(recon {row['train_recon']:.2f}, {penalty} {row['train_kl']:.2f})  {val}  "
        f"lr {row['lr']:.2g}  {row['seconds']:.1f}s"
    )


def _check_same_run(ckpt: dict[str, Any], mcfg: ModelConfig, tcfg: TrainConfig, path: Path) -> None:
    """Resuming is only allowed into the same configuration (the number of epochs may grow)."""
    if ckpt["model_config"] != mcfg.to_dict():
        raise ValueError(f"{path} was trained with another model config; use resume=False or another folder")
    a = dict(ckpt["train_config"])
    b = tcfg.to_dict()
    a.pop("epochs"), b.pop("epochs")
    if a != b:
        diff = sorted(k for k in a if a[k] != b.get(k))
        raise ValueError(f"{path} was trained with another train config (differs in {diff}); use resume=False")


def _save(path, model, optimizer, scheduler, gen, state, mcfg, tcfg, dev) -> None:
    atomic_save(
        {
            "model_config": mcfg.to_dict(),
            "train_config": tcfg.to_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "generator": gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if dev.type == "cuda" else None,
            **state,
        },
        path,
    )

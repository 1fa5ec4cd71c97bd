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
`NonFiniteLossError` naming the epoch and step; the last good checkpoint stays on disk. A
checkpoint that cannot be read, or that belongs to another configuration, raises `CheckpointError`.
Every file is written atomically (a temporary file in the same folder, then `os.replace`), and the
temporary files of a writer killed mid-save are deleted by the next `train` on that folder.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
#: every file `train` and the command line write into a run folder (`resume=False` deletes them)
RUN_FILES = ("config.json", CHECKPOINT, "history.csv", "model.pt", "metrics.json", "metrics_full.json",
             "samples.png", "reconstructions.png")


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that holds another configuration than the one asked for.

    `path` and `problem` (e.g. "is unreadable (...)") let a caller word its own fix (the command
    line says `--restart` where the library says `resume=False`)."""

    def __init__(self, path: str | Path, problem: str,
                 fix: str = "use resume=False to delete it and start over, or another folder") -> None:
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path} {problem}; {fix}")


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


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path next to `path`, renamed onto it when the block succeeds and deleted when
    it fails: `path` is never a half-written file. The temporary name is `<name>.<pid>.<random><suffix>`
    (the writer's process id lets `clean_stale_tmp` tell a killed writer's leftovers from a live
    one's). An OSError without a file name (a full disk) gets `path` as its file name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.{os.getpid()}.", suffix=suffix)
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the files of a run folder are for everyone to read
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as e:
        if e.filename is None:
            e.filename = str(path)
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename: never a half file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def atomic_write_text(text: str, path: Path) -> None:
    """Write text to a temporary file in the same folder, then rename: never a half file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_csv(frame: pd.DataFrame, path: Path) -> None:
    """DataFrame.to_csv (no index) to a temporary file in the same folder, then rename."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process has no save in flight when it cleans up
    if os.name == "nt":
        return True  # no harmless check there (os.kill would end the process): keep its files
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    except OSError:
        return False
    return True


def clean_stale_tmp(folder: str | Path, names: tuple[str, ...] = RUN_FILES) -> list[Path]:
    """Delete the temporary files that a writer killed during a save left in `folder` (those of
    the files in `names`, from `atomic_path` or older vaelib versions); files of a writer that is
    still running stay. Returns the deleted paths."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        name = next((n for n in names if p.name.startswith(n)), None)
        if name is None or p.name == name or not p.name.endswith((".tmp", ".tmp.png")) or not p.is_file():
            continue
        m = re.match(r"\.(\d+)\.", p.name[len(name):])
        if m is not None and _pid_alive(int(m.group(1))):
            continue
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True` (no arbitrary code runs on load)."""
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
        detail = "an empty file" if path.stat().st_size == 0 else _brief(e)
        raise CheckpointError(path, f"is unreadable (truncated or corrupt: {detail})") from e


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
    resumes from it (`resume=False` starts over: it first deletes the folder's RUN_FILES, the old
    checkpoint among them); another configuration's or an unreadable checkpoint raises
    CheckpointError. `on_epoch_end(epoch, row)` is called after each
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
        clean_stale_tmp(out)  # leftovers of a run killed during a save
        config = {"model": mcfg.to_dict(), "train": tcfg.to_dict()}
        if not resume:  # start over: nothing of the old run may stay behind to be mistaken for this one
            for name in RUN_FILES:
                (out / name).unlink(missing_ok=True)
        if resume and ckpt_path.exists():
            ckpt = load_checkpoint(ckpt_path, map_location=dev)
            _check_same_run(ckpt, mcfg, tcfg, ckpt_path)
            try:
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
            except (KeyError, RuntimeError, TypeError, ValueError) as e:
                raise CheckpointError(ckpt_path, f"is not a complete training checkpoint ({_brief(e)})") from e
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
            atomic_write_csv(_history_frame(state["history"]), out / "history.csv")
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
        stopped_early = _early_stop_due(state, tcfg)
    bar.close()

    if tcfg.early_stopping is not None and state["best_model"] is not None:
        model.load_state_dict(state["best_model"])  # model selection on the validation split
    model.eval()
    history = _history_frame(state["history"])
    if out is not None:
        atomic_write_csv(history, out / "history.csv")
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


def _brief(e: BaseException) -> str:
    """`Type: first sentence` of an exception (torch's load errors run to paragraphs)."""
    text = (str(e).strip().splitlines() or [""])[0]
    text = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return f"{type(e).__name__}: {text[:160]}" if text else type(e).__name__


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
    if not isinstance(ckpt, dict) or ckpt.get("model_config") != mcfg.to_dict():
        raise CheckpointError(path, "was trained with another model config")
    a = dict(ckpt.get("train_config") or {})
    b = tcfg.to_dict()
    a.pop("epochs", None), b.pop("epochs")
    if a != b:
        diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        raise CheckpointError(path, f"was trained with another train config (differs in {diff})")


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

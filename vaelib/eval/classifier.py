"""An MNIST digit classifier, trained once and cached: the feature extractor of the evaluation.

    clf = load_or_train_classifier()        # trains once (a few CPU minutes), then loads in a second
    clf(x)                                  # logits [B, 10], x: [B, 1, 28, 28] grey values in [0, 1]
    clf.features(x)                         # penultimate layer [B, 128]: what the Fréchet distance uses
    class_histogram(samples, clf)           # which digits a generator draws, [10] fractions

Why not Inception features (FID)? They describe ImageNet's textures and objects, not which digit a
stroke draws, and need weights downloaded; this project runs offline. A small CNN at >= 99 % test
accuracy encodes digit identity and stroke style instead. The price: its Fréchet distances are on
another scale than the papers' FID, so compare *rankings*, never values.

Weights and test accuracy (`classifier_metrics()`) are cached in `classifier_folder()` with
`code.json`, the stamp of the code that trained it: a classifier made by other code is trained
again, as a VAE run is.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from vaelib import data as vdata
from vaelib.cache import CACHE_ROOT, fingerprint
from vaelib.runtime import atomic_save, atomic_write_text, log_event, pick_device

__all__ = [
    "NUM_CLASSES", "FEATURE_BATCH", "WEIGHTS", "METRICS", "LR_SCHEDULES", "ClassifierConfig", "MNISTClassifier",
    "train_classifier", "predict", "accuracy", "class_histogram", "classifier_folder", "CODE_FILES",
    "load_or_train_classifier", "classifier_metrics",
]

NUM_CLASSES = 10
#: images per forward pass when the classifier scores or describes images: small enough that its
#: 32 × 28 × 28 activations stay in a CPU's cache (on the 2-core machine 128 measured 2.4× faster
#: than 1000, and gave the same features bit for bit; another batch size may round differently)
FEATURE_BATCH = 128
WEIGHTS = "classifier.pt"
METRICS = "metrics.json"
#: the files whose code a cached classifier's weights and accuracy depend on (its stamp: vaelib.cache)
CODE_FILES = ("data.py", "eval/classifier.py")
LR_SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything that decides the trained weights; its hash names the cache folder."""

    channels: tuple[int, int] = (32, 64)  # the two conv layers
    hidden: int = 128  # width of the penultimate layer = feature dimension
    dropout: float = 0.25
    batch_norm: bool = True  # after each conv
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3  # Adam's initial learning rate...
    lr_schedule: str = "cosine"  # ...decayed to 0 along a half cosine over all steps, or "constant"
    seed: int = 0
    subset: int | None = None  # the first `subset` images of each split only (fast test mode)
    val_size: int = 10_000  # the validation split of load_mnist, held out of training

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    def key(self) -> str:
        """A short stable hash of the settings (sorted JSON)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]


# ----------------------------------------------------------------------------- the network


def _conv_block(c_in: int, c_out: int, batch_norm: bool) -> list[nn.Module]:
    """conv3x3 (same size) [-> batch norm] -> ReLU -> maxpool2: [B, c_in, H, W] -> [B, c_out, H/2, W/2]."""
    if batch_norm:
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]


class MNISTClassifier(nn.Module):
    """conv3x3(32)-BN-ReLU-maxpool2 -> conv3x3(64)-BN-ReLU-maxpool2 -> dropout -> fc(128)-ReLU
    = features -> dropout -> fc(10) = logits. x: [B, 1, 28, 28] grey values in [0, 1]."""

    def __init__(self, channels: tuple[int, int] = (32, 64), hidden: int = 128, dropout: float = 0.25,
            batch_norm: bool = True) -> None:
        super().__init__()
        c1, c2 = channels
        self.conv = nn.Sequential(
            *_conv_block(1, c1, batch_norm),  # [B, c1, 14, 14]
            *_conv_block(c1, c2, batch_norm),  # [B, c2, 7, 7]
            nn.Flatten(), nn.Dropout(dropout),
            nn.Linear(c2 * 7 * 7, hidden), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, NUM_CLASSES))

    @property
    def feature_dim(self) -> int:
        return self.head[1].in_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer (after its ReLU): x [B, 1, 28, 28] -> [B, F]. Call in eval mode."""
        return self.conv(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B, 10]."""
        return self.head(self.features(x))


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _as_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 grey values -> x / 255; float images are taken to be in [0, 1] already."""
    return vdata.to_unit(images) if images.dtype == torch.uint8 else images.float()


# ----------------------------------------------------------------------------- training


def train_classifier(epochs: int = 5, subset: int | None = None, device: str | torch.device | None = None,
        progress: bool = True, seed: int = 0, *, batch_size: int = 64, lr: float = 1e-3, lr_schedule: str = "cosine",
        channels: tuple[int, int] = (32, 64), hidden: int = 128, dropout: float = 0.25, batch_norm: bool = True,
        val_size: int = 10_000, data: vdata.MNISTSplits | None = None) -> MNISTClassifier:
    """Train the classifier with Adam on the mean cross-entropy (lr schedule: ClassifierConfig); returned in eval mode.

    Data: the training split of `load_mnist(val_size=val_size, subset=subset)` (50,000 images; the
    validation split stays out) as x / 255, or `data`. Seeded through a forked RNG, so the caller's
    random stream is the same whether the classifier was trained or loaded from the cache.
    """
    cfg = ClassifierConfig(channels=tuple(channels), hidden=hidden, dropout=dropout, batch_norm=batch_norm,
                           epochs=epochs, batch_size=batch_size, lr=lr, lr_schedule=lr_schedule, seed=seed,
                           subset=subset, val_size=val_size)
    return _train(cfg, device, progress, data)


def _lr_factor(schedule: str, total_steps: int):
    """Step t -> multiplier of the initial lr: ½ (1 + cos(π t / T)) for "cosine", 1 for "constant"."""
    if schedule == "constant":
        return lambda t: 1.0
    return lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, total_steps) / max(total_steps, 1)))


def _train(cfg: ClassifierConfig, device: str | torch.device | None = None, progress: bool = True,
        data: vdata.MNISTSplits | None = None) -> MNISTClassifier:
    started = time.perf_counter()
    dev = pick_device(device)
    train = (data if data is not None else vdata.load_mnist(val_size=cfg.val_size, subset=cfg.subset)).train
    n = len(train) if cfg.subset is None else min(cfg.subset, len(train))
    train_n = vdata.Split(train.images[:n].to(dev), train.labels[:n].to(dev))
    steps = math.ceil(n / cfg.batch_size)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(cfg.seed)  # initial weights and dropout masks
        gen = torch.Generator().manual_seed(cfg.seed)  # shuffling
        model = MNISTClassifier(cfg.channels, cfg.hidden, cfg.dropout, cfg.batch_norm).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(cfg.lr_schedule, cfg.epochs * steps))
        bar = tqdm(total=cfg.epochs * steps, disable=not progress, desc="classifier", unit="step", leave=False)
        model.train()
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            loss_sum = torch.zeros((), device=dev)
            for x, y in vdata.BatchIterator(train_n, cfg.batch_size, shuffle=True, generator=gen, labels=True):
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
                loss_sum += loss.detach() * y.shape[0]
                bar.update(1)
            if progress:
                tqdm.write(f"classifier epoch {epoch}/{cfg.epochs}  train cross-entropy "
                           f"{loss_sum.item() / n:.4f}  {time.perf_counter() - t0:.1f}s")
        bar.close()
    log_event("trained", run=f"classifier-{cfg.key()}", kind="classifier", epochs=cfg.epochs,
              seconds=time.perf_counter() - started)  # the profile's record of what trained (runtime.log_event)
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = FEATURE_BATCH) -> torch.Tensor:
    """Predicted digits, int64 [N], of images [N, 1, 28, 28] (uint8, or float in [0, 1])."""
    model.eval()
    dev = _device_of(model)
    out = [
        model(_as_unit(images[i : i + batch_size].to(dev))).argmax(dim=1).cpu()
        for i in range(0, images.shape[0], batch_size)
    ]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def accuracy(model: nn.Module, split: vdata.Split, batch_size: int = FEATURE_BATCH) -> float:
    """Fraction of split.images whose predicted digit equals split.labels."""
    return (predict(model, split.images, batch_size) == split.labels.cpu()).float().mean().item()


def class_histogram(images: torch.Tensor, classifier: nn.Module, batch_size: int = FEATURE_BATCH) -> torch.Tensor:
    """Fraction of images [N, 1, 28, 28] (e.g. decoder means in [0, 1]) the classifier calls 0, 1,
    ..., 9: float [10], sums to 1 (about 0.1 each for a generator that draws every digit equally)."""
    pred = predict(classifier, images, batch_size)
    return torch.bincount(pred, minlength=NUM_CLASSES).float() / max(pred.numel(), 1)


# ----------------------------------------------------------------------------- cache


def classifier_folder(cache_root: str | Path | None = None, **settings: Any) -> Path:
    """`<cache_root>/classifier-<hash of the settings>`; cache_root defaults to
    vaelib.cache.CACHE_ROOT. settings: `train_classifier` keywords (others at their defaults)."""
    root = Path(cache_root) if cache_root is not None else CACHE_ROOT
    return root / f"classifier-{_config(settings).key()}"


def _config(settings: dict[str, Any]) -> ClassifierConfig:
    if "channels" in settings:
        settings = {**settings, "channels": tuple(settings["channels"])}
    return ClassifierConfig(**settings)


def load_or_train_classifier(cache_root: str | Path | None = None, *, device: str | torch.device | None = None,
        progress: bool = True, **settings: Any) -> MNISTClassifier:
    """The cached classifier for these settings (`train_classifier` keywords), else train it and
    cache it; in eval mode on `device`. The folder (`classifier_folder`) holds `classifier.pt`
    (settings + state dict) and `metrics.json`: test and validation accuracy and the training time."""
    cfg = _config(settings)
    folder = classifier_folder(cache_root, **settings)
    weights, metrics, stamp_file = folder / WEIGHTS, folder / METRICS, folder / "code.json"
    dev = pick_device(device)
    stamp = {f: fingerprint(f) for f in CODE_FILES}
    current = stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp
    if weights.exists() and metrics.exists() and not current:
        print(f"{folder.name} was made by other code (or by a vaelib without code stamps); training it again")
    if weights.exists() and metrics.exists() and current:
        ckpt = torch.load(weights, map_location="cpu", weights_only=True)
        if ckpt["config"] != cfg.to_dict():
            raise ValueError(f"{weights} holds other settings than its folder name says: {ckpt['config']}")
        model = MNISTClassifier(cfg.channels, cfg.hidden, cfg.dropout, cfg.batch_norm)
        model.load_state_dict(ckpt["model"])
        return model.to(dev).eval()
    splits = vdata.load_mnist(val_size=cfg.val_size, subset=cfg.subset)
    wall, cpu = time.perf_counter(), time.process_time()
    model = _train(cfg, dev, progress, splits)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_save({"config": cfg.to_dict(), "model": state}, weights)
    info = {
        "config": cfg.to_dict(),
        "test_accuracy": accuracy(model, splits.test),
        "val_accuracy": accuracy(model, splits.val) if len(splits.val) else math.nan,
        "train_images": len(splits.train),
        "test_images": len(splits.test),
        "train_seconds": wall,
        "train_cpu_seconds": cpu,
        "device": str(dev),
        "torch_threads": torch.get_num_threads(),
    }
    atomic_write_text(json.dumps(info, indent=2) + "\n", metrics)
    atomic_write_text(json.dumps(stamp, indent=2) + "\n", stamp_file)
    return model


def classifier_metrics(cache_root: str | Path | None = None, **settings: Any) -> dict[str, Any]:
    """The metrics.json of a cached classifier (test accuracy, ...); FileNotFoundError if not cached."""
    return json.loads((classifier_folder(cache_root, **settings) / METRICS).read_text())

"""MNIST and Fashion-MNIST, offline, as device-resident tensors.

vaelib.datafiles finds and checks the raw files; this module turns them into splits, targets and
batches. Nothing is downloaded: a missing or damaged file raises :class:`DataError` saying how to
restore it. Fashion-MNIST's test split is committed, so :func:`load_test_split` works in a fresh clone.

Targets. A Bernoulli decoder models every pixel as 0 or 1, but MNIST pixels are grey. The
notebooks compare three ways to feed it (``targets=`` in :class:`BatchIterator`):

* ``"grey"``: x / 255 in [0, 1]. Convenient, but the Bernoulli log-likelihood of a grey target is
  not a log-probability of any discrete data set, so its "nats" are not comparable to the literature.
* ``"dynamic"``: a fresh draw x ~ Bernoulli(grey / 255) for every batch, so every epoch sees new
  binary images (a data augmentation; the usual choice for training, e.g. in the IWAE paper).
* ``"fixed"``: one seeded draw per split, then frozen: a fixed binary data set, for comparable
  test log-likelihoods.

A model trains on :data:`TRAIN_TARGETS` and is scored on :data:`EVAL_TARGETS` (the rule:
:func:`eval_targets_for`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

# The raw files and their checks (DataError is raised here too, so it is importable from both)
from vaelib.datafiles import (
    IDX_SHAPES,
    SPLIT_FILES,
    DataError,
    find_idx,
    file_version,
    ensure_fashion_mnist,
    ensure_mnist,
    read_idx,
)

__all__ = [
    "BATCH_TARGETS", "DATASETS", "EVAL_TARGETS", "N_TRAIN_OFFICIAL", "TRAIN_TARGETS",
    "BatchIterator", "MNISTSplits", "Split", "binarize", "eval_inputs", "eval_targets_for",
    "fixed_binarization", "iterate_batches", "load_mnist", "load_test_split", "to_unit", "DataError",
]

DATASETS = ("mnist", "fashion-mnist")
TRAIN_TARGETS = ("grey", "dynamic")  # what a model may be trained on
EVAL_TARGETS = ("grey", "fixed")  # what a model is scored on (see eval_targets_for)
BATCH_TARGETS = TRAIN_TARGETS + ("fixed",)  # what BatchIterator accepts

N_TRAIN_OFFICIAL = 60_000


# ----------------------------------------------------------------------------- splits


@dataclass
class Split:
    """One split as whole tensors: images uint8 [N, 1, 28, 28] (grey values 0..255), labels int64 [N],
    index int64 [N] (positions in the official train or test file) or None."""

    images: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.images.shape[0] != self.labels.shape[0]:
            raise ValueError(
                f"images and labels differ in length: {self.images.shape[0]} vs {self.labels.shape[0]}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def to(self, device: torch.device | str) -> Split:
        """A copy on device (tensors already there are shared, not copied)."""
        index = self.index.to(device) if self.index is not None else None
        return Split(self.images.to(device), self.labels.to(device), index)


@dataclass
class MNISTSplits:
    """train / val (carved from the official training set) / test (the official test set)."""

    train: Split
    val: Split
    test: Split

    def to(self, device: torch.device | str) -> MNISTSplits:
        return MNISTSplits(self.train.to(device), self.val.to(device), self.test.to(device))


@functools.lru_cache(maxsize=16)
def _load_array(dataset: str, name: str, stamp: tuple[str, int, int]) -> torch.Tensor:
    """One decoded file (images uint8 [N, 1, 28, 28] or labels int64 [N]), cached per file version
    and shared: callers must copy before handing it out."""
    path, shape = stamp[0], IDX_SHAPES[name]
    t = read_idx(path)
    if t.dtype != torch.uint8 or tuple(t.shape) != shape:
        raise DataError(f"{path}: {tuple(t.shape)} of {t.dtype}, expected {shape} of uint8 ({dataset} {name})")
    if t.ndim == 1:
        if int(t.max()) > 9:
            raise DataError(f"{path}: label {int(t.max())} out of range 0..9")
        return t.long()
    return t.unsqueeze(1)  # [N, 1, 28, 28]


def _load_split_arrays(dataset: str, folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) of the official "train" or "test" file pair in folder (shared, cached)."""
    out = []
    for name in SPLIT_FILES[split]:
        path = find_idx(folder, name)
        if path is None:  # removed between the check and now
            raise DataError(f"{folder / name} disappeared while loading")
        out.append(_load_array(dataset, name, file_version(path)))
    return out[0], out[1]


def _check_args(dataset: str, subset: int | None) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if subset is not None and subset < 1:
        raise ValueError(f"subset must be a positive int or None, got {subset}")


def _take(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> Split:
    # index_select copies, so the cached tensors are never exposed.
    return Split(x.index_select(0, idx), y.index_select(0, idx), idx.clone())


def load_mnist(root: Path | str | None = None, dataset: str = "mnist", val_size: int = 10_000, seed: int = 0,
        subset: int | None = None) -> MNISTSplits:
    """Train / val / test Splits of "mnist" or "fashion-mnist", on the CPU, as fresh copies.

    val = ``val_size`` of the official 60,000 training images, picked by a permutation seeded with
    ``seed`` (the same split every time); train = the rest; test = the official 10,000. ``subset``
    keeps the first ``subset`` images of each split (fast test mode).
    """
    _check_args(dataset, subset)
    if not 0 <= val_size < N_TRAIN_OFFICIAL:
        raise ValueError(f"val_size must be in [0, {N_TRAIN_OFFICIAL}), got {val_size}")
    folder = ensure_mnist(root) if dataset == "mnist" else ensure_fashion_mnist(root)
    train_x, train_y = _load_split_arrays(dataset, folder, "train")
    test_x, test_y = _load_split_arrays(dataset, folder, "test")

    perm = torch.randperm(N_TRAIN_OFFICIAL, generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    test_idx = torch.arange(test_x.shape[0])
    if subset is not None:
        train_idx, val_idx, test_idx = train_idx[:subset], val_idx[:subset], test_idx[:subset]

    return MNISTSplits(
        train=_take(train_x, train_y, train_idx),
        val=_take(train_x, train_y, val_idx),
        test=_take(test_x, test_y, test_idx),
    )


def load_test_split(
    root: Path | str | None = None, dataset: str = "mnist", subset: int | None = None
) -> Split:
    """``load_mnist(...).test`` alone, from the two test files only (for Fashion-MNIST the only
    ones committed, so this works in a fresh clone)."""
    _check_args(dataset, subset)
    folder = ensure_mnist(root) if dataset == "mnist" else ensure_fashion_mnist(root, splits=("test",))
    x, y = _load_split_arrays(dataset, folder, "test")
    idx = torch.arange(x.shape[0])
    return _take(x, y, idx[:subset] if subset is not None else idx)


# ----------------------------------------------------------------------------- targets


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 grey values [..] -> float32 in [0, 1] (x / 255), same shape and device."""
    return images.to(torch.float32).div_(255.0)


def _uniform(shape: torch.Size, generator: torch.Generator | None, device: torch.device,
             pinned: bool = False) -> torch.Tensor:
    """U[0, 1) of shape on device, drawn with generator on the generator's own device; `pinned`:
    a CPU draw for a GPU goes through pinned memory, copied without making the host wait."""
    if generator is None:
        return torch.rand(shape, device=device)
    u = torch.rand(shape, generator=generator, device=generator.device)
    if pinned and u.device.type == "cpu" and torch.device(device).type == "cuda":
        return u.pin_memory().to(device, non_blocking=True)
    return u.to(device)


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarization: Bernoulli(x) draws for x in [0, 1] -> float {0, 1}, same shape.

    Draws on the generator's device (then moved to x's), or with torch's global RNG when None.
    """
    return (_uniform(x.shape, generator, x.device) < x).to(x.dtype)


def _fixed_binary_u8(images: torch.Tensor, seed: int) -> torch.Tensor:
    """uint8 {0, 1} of the fixed binarization (drawn on the CPU in chunks, then moved)."""
    g = torch.Generator().manual_seed(seed)
    flat = images.flatten(1) if images.dim() > 1 else images.reshape(-1, 1)  # [N, pixels], also for N = 0
    out = torch.empty(flat.shape, dtype=torch.uint8)
    step = 4096
    for i in range(0, flat.shape[0], step):
        p = flat[i : i + step].to("cpu", torch.float32).div_(255.0)
        out[i : i + step] = torch.rand(p.shape, generator=g) < p
    return out.reshape(images.shape).to(images.device)


def fixed_binarization(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A fixed Bernoulli(grey / 255) draw: uint8 [N, ...] -> float32 {0, 1}, same shape and device.
    Drawn with a seeded CPU generator, so it depends on (images, seed) only, not on the device."""
    return _fixed_binary_u8(images, seed).to(torch.float32)


def eval_targets_for(train_targets: str) -> str:
    """Score on the fixed binarization when trained on binarized digits ("dynamic"), else on the grey values."""
    if train_targets not in TRAIN_TARGETS:
        raise ValueError(f"training targets must be one of {TRAIN_TARGETS}, got {train_targets!r}")
    return "fixed" if train_targets == "dynamic" else "grey"


def eval_inputs(images: torch.Tensor, mode: str) -> torch.Tensor:
    """uint8 test images -> the float targets a metric uses ("grey" or "fixed")."""
    if mode == "grey":
        return to_unit(images)
    if mode == "fixed":
        return fixed_binarization(images)
    raise ValueError(f"evaluation targets must be 'grey' or 'fixed', got {mode!r}")


# ----------------------------------------------------------------------------- batches


class BatchIterator:
    """Mini-batches of float images [B, 1, 28, 28] (and int64 labels [B] when labels=True).

    Each ``iter()`` is one epoch: a new permutation when shuffle, else the split in order.
    Batches are index slices of whole tensors that live on the training device (``device=``
    copies them once), so no per-batch host-to-device copy and no DataLoader. targets: see the
    module docstring ("fixed" is computed once here, with fixed_seed). The permutation and the
    dynamic draws come from generator (or torch's global RNG): with a CPU generator the batches
    are the same for a seed whatever the device.
    """

    def __init__(self, data: Split | torch.Tensor, batch_size: int, *, shuffle: bool, targets: str = "grey",
            generator: torch.Generator | None = None, device: torch.device | str | None = None,
            drop_last: bool = False, labels: bool = False, fixed_seed: int = 0, predraw: bool | None = None) -> None:
        if targets not in BATCH_TARGETS:
            raise ValueError(f"targets must be one of {BATCH_TARGETS}, got {targets!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if isinstance(data, Split):
            images, label_t = data.images, data.labels
        else:
            images, label_t = data, None
        if labels and label_t is None:
            raise ValueError("labels=True needs a Split, not a bare images tensor")
        if images.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 grey values, got {images.dtype}")
        if device is not None:
            images = images.to(device)
            label_t = label_t.to(device) if label_t is not None else None
        self.images = images
        self.labels_t = label_t
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.targets = targets
        self.generator = generator
        self.drop_last = drop_last
        self.labels = labels
        self._fixed = _fixed_binary_u8(images, fixed_seed) if targets == "fixed" else None
        # a CPU generator feeding a GPU: draw an epoch's binarization uniforms at once, copy them once
        g = generator
        self.predraw = (g is not None and g.device.type == "cpu" and images.device.type == "cuda") if predraw is None else predraw

    def __len__(self) -> int:
        n = self.images.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> torch.Tensor | None:
        n, device = self.images.shape[0], self.images.device
        if not self.shuffle:
            return None
        if self.generator is None:
            return torch.randperm(n, device=device)
        g = self.generator
        return torch.randperm(n, generator=g, device=g.device).to(device)

    def __iter__(self) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        n = self.images.shape[0]
        order = self._order()
        source = self._fixed if self._fixed is not None else self.images
        # the same numbers, in the same order, as one draw per batch: no step waits for a host copy
        u = (_uniform(self.images.shape, self.generator, self.images.device, pinned=True)
             if self.targets == "dynamic" and self.predraw else None)
        for b in range(len(self)):
            lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, n)
            if order is None:
                raw = source[lo:hi]
                y = self.labels_t[lo:hi] if self.labels else None
            else:
                idx = order[lo:hi]
                raw = source.index_select(0, idx)
                y = self.labels_t.index_select(0, idx) if self.labels else None
            if self.targets == "fixed":
                x = raw.to(torch.float32)
            else:
                x = to_unit(raw)
                if self.targets == "dynamic":
                    x = binarize(x, self.generator) if u is None else (u[lo:hi] < x).to(x.dtype)
            yield (x, y) if self.labels else x


def iterate_batches(data: Split | torch.Tensor, batch_size: int, *, shuffle: bool, targets: str = "grey",
        generator: torch.Generator | None = None, device: torch.device | str | None = None, drop_last: bool = False,
        labels: bool = False) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of :class:`BatchIterator` (for "fixed", build a BatchIterator once and reuse it)."""
    return iter(
        BatchIterator(
            data,
            batch_size,
            shuffle=shuffle,
            targets=targets,
            generator=generator,
            device=device,
            drop_last=drop_last,
            labels=labels,
        )
    )

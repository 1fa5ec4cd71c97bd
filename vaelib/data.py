"""MNIST and Fashion-MNIST, offline, as device-resident tensors.

Where the data comes from:

* MNIST: the four official files, gzip-compressed, are committed under ``data/MNIST/raw/``
  (the layout ``torchvision.datasets.MNIST(root=...)`` uses). :func:`ensure_mnist` decompresses
  each one once next to its ``.gz`` and checks size and sha256 of the decompressed file. Nothing
  is ever downloaded; a missing or damaged file raises :class:`DataError` saying how to restore it.
* Fashion-MNIST: the test split (``t10k-*.gz``, all that anomaly detection needs) is committed
  under ``data/FashionMNIST/raw/`` and checked like MNIST (decompressed once, size and sha256).
  The training split is not committed: it is read from ``<root>/FashionMNIST/raw/`` when placed
  there, else from the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist/*.gz``). :func:`load_test_split` needs only the test
  files; :func:`load_mnist` needs all four.

``DATA_ROOT`` is ``$VAELIB_DATA`` when set, else the repository's ``data/`` folder.

Splits: :func:`load_mnist` (and :func:`load_test_split`, the test split alone) returns uint8 images ``[N, 1, 28, 28]`` and int64 labels ``[N]``;
validation is carved from the 60,000 training images by a fixed, seeded permutation, and test is
the official 10,000.

Targets. A Bernoulli decoder models every pixel as 0 or 1, but MNIST pixels are grey. The
notebooks compare three ways to feed it (``targets=`` in :class:`BatchIterator`):

* ``"grey"``: x / 255 in [0, 1]. Convenient, but the Bernoulli log-likelihood of a grey target is
  not a log-probability of any discrete data set, so its "nats" are not comparable to the
  literature.
* ``"dynamic"``: a fresh draw x ~ Bernoulli(grey / 255) for every batch, so every epoch sees new
  binary images (a data augmentation; the usual choice for training, e.g. in the IWAE paper).
* ``"fixed"``: one draw made once per split with a fixed seed and then frozen, giving a fixed
  binary data set. Use it to report comparable test log-likelihoods.

Batches are sliced by index from tensors that already live on the training device (no
per-sample ``Dataset`` and no ``DataLoader`` workers in the hot loop).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import torch

REPO_DATA = Path(__file__).resolve().parents[1] / "data"
DATA_ROOT: Path = Path(os.environ["VAELIB_DATA"]) if os.environ.get("VAELIB_DATA") else REPO_DATA

# name -> (uncompressed size in bytes, sha256 of the uncompressed file): the official MNIST files.
MNIST_FILES: dict[str, tuple[int, str]] = {
    "train-images-idx3-ubyte": (
        47_040_016,
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "train-labels-idx1-ubyte": (
        60_008,
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "t10k-images-idx3-ubyte": (
        7_840_016,
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "t10k-labels-idx1-ubyte": (
        10_008,
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}

# The same for the Fashion-MNIST files committed to data/FashionMNIST/raw/ (the test split;
# data/FashionMNIST/README.md says where they come from). The training files have no entry: they
# get header and size checks only.
FASHION_MNIST_FILES: dict[str, tuple[int, str]] = {
    "t10k-images-idx3-ubyte": (
        7_840_016,
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    "t10k-labels-idx1-ubyte": (
        10_008,
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
}

# The four names (and shapes), for MNIST and Fashion-MNIST alike, and which split needs which.
IDX_SHAPES: dict[str, tuple[int, ...]] = {
    "train-images-idx3-ubyte": (60_000, 28, 28),
    "train-labels-idx1-ubyte": (60_000,),
    "t10k-images-idx3-ubyte": (10_000, 28, 28),
    "t10k-labels-idx1-ubyte": (10_000,),
}
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

DATASETS = ("mnist", "fashion-mnist")
TARGET_MODES = ("grey", "dynamic", "fixed")

N_TRAIN_OFFICIAL = 60_000

# idx type byte -> numpy big-endian dtype
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_CHUNK = 1 << 20


class DataError(RuntimeError):
    """A data file is missing, damaged or not what was expected. The message says how to fix it."""


# ----------------------------------------------------------------------------- files


def _root(root: Path | str | None) -> Path:
    return Path(root) if root is not None else DATA_ROOT


def _stamp(path: Path) -> tuple[str, int, int]:
    """(resolved path, mtime_ns, size): identifies one version of a file for the caches."""
    st = path.stat()
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


def _sha256_file(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


# Stamps of uncompressed MNIST files whose size and sha256 were verified in this process.
_VERIFIED: set[tuple[str, int, int]] = set()


def _restore_hint(raw: Path, name: str, gz_damaged: bool, folder: str = "MNIST") -> str:
    """How to restore a committed file of data/<folder>/raw/ (folder "MNIST" or "FashionMNIST")."""
    gz = f"{name}.gz"
    in_repo = raw.resolve() == (REPO_DATA / folder / "raw").resolve()
    restore_gz = f"`git checkout -- data/{folder}/raw/{gz}` in the vae-notebooks repository"
    if not in_repo:
        restore_gz += f" and copy it to {raw}/"
    official = "MNIST" if folder == "MNIST" else "Fashion-MNIST"
    restore_gz += f", or copy the official {official} file (the one torchvision downloads) there"
    if gz_damaged:
        return f"restore {gz}: {restore_gz}."
    return (
        f"delete {raw / name} (it is re-created from {gz} on the next load); "
        f"if {gz} is damaged too, restore it: {restore_gz}."
    )


def _decompress_verified(gz: Path, dst: Path, size: int, sha: str) -> str | None:
    """Decompress gz to dst atomically if its content has the expected size and sha256.

    Writes to a temporary file in the same folder and ``os.replace``s it into place only when
    the content checks out, so an interrupted or bad decompression never leaves a file at dst.
    Returns None on success, else a description of what was found.
    """
    try:
        fd, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=".tmp-", suffix=f"-{dst.name}")
    except OSError as e:
        raise DataError(
            f"cannot write the decompressed {dst.name} into {dst.parent}: {e}. "
            "Point VAELIB_DATA to a writable copy of the data folder."
        ) from e
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        n = 0
        try:
            with os.fdopen(fd, "wb") as out, gzip.open(gz, "rb") as src:
                while chunk := src.read(_CHUNK):
                    h.update(chunk)
                    n += len(chunk)
                    out.write(chunk)
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            return f"{gz.name} cannot be decompressed ({type(e).__name__}: {e}); it is truncated or corrupt"
        if n != size or h.hexdigest() != sha:
            return f"{gz.name} decompresses to {n} bytes with sha256 {h.hexdigest()}"
        tmp.chmod(0o644)  # mkstemp makes it 0600
        os.replace(tmp, dst)
        _VERIFIED.add(_stamp(dst))
        return None
    finally:
        tmp.unlink(missing_ok=True)


def _ensure_verified(raw: Path, name: str, size: int, sha: str, folder: str) -> str | None:
    """Make ``raw/name`` a verified file: decompress ``raw/name.gz`` once when it is absent,
    then check size and sha256 (remembered per file version, so later calls only ``stat``).

    Returns None when fine, else the problem (expected, found, how to restore it) for a DataError.
    """
    path, gz = raw / name, raw / f"{name}.gz"
    expected = f"expected: {size} bytes, sha256 {sha} (uncompressed)"
    if path.is_file():
        stamp = _stamp(path)
        if stamp in _VERIFIED:
            return None
        found_size = stamp[2]
        if found_size == size:
            found_size, found_sha = _sha256_file(path)
            if found_size == size and found_sha == sha:
                _VERIFIED.add(stamp)
                return None
            found = f"found:    {found_size} bytes, sha256 {found_sha}"
        else:
            found = f"found:    {found_size} bytes"
        return (
            f"{name}: wrong content in {path}\n    {expected}\n    {found}\n"
            f"    fix: {_restore_hint(raw, name, gz_damaged=False, folder=folder)}"
        )
    if gz.is_file():
        found = _decompress_verified(gz, path, size, sha)
        if found is None:
            return None
        return (
            f"{name}: bad archive {gz}\n    {expected}\n    found:    {found}\n"
            f"    fix: {_restore_hint(raw, name, gz_damaged=True, folder=folder)}"
        )
    return (
        f"{name}: missing, neither {gz.name} nor {name} is in {raw}\n    {expected}\n"
        f"    found:    no file\n    fix: {_restore_hint(raw, name, gz_damaged=True, folder=folder)}"
    )


def ensure_mnist(root: Path | str | None = None) -> Path:
    """Check (and decompress once) the four MNIST files; return the folder ``<root>/MNIST/raw``.

    For each file: decompress ``<name>.gz`` next to it when ``<name>`` is absent, then verify the
    size and sha256 of ``<name>`` against :data:`MNIST_FILES`. Verified files are remembered in
    this process by (path, mtime, size), so later calls only ``stat`` them. Never downloads.
    Afterwards ``torchvision.datasets.MNIST(root=str(root), download=False)`` works offline.

    Raises DataError (one, listing every bad file: what was expected, what was found and how to
    restore it) when a file is missing, truncated or corrupt.
    """
    raw = _root(root) / "MNIST" / "raw"
    problems = [
        msg
        for name, (size, sha) in MNIST_FILES.items()
        if (msg := _ensure_verified(raw, name, size, sha, "MNIST")) is not None
    ]
    if problems:
        raise DataError(
            f"MNIST check failed in {raw} ({len(problems)} bad file(s); nothing is downloaded):\n  "
            + "\n  ".join(problems)
        )
    return raw


def _find_idx(folder: Path, name: str) -> Path | None:
    """``folder/name`` if present, else ``folder/name.gz`` if present, else None."""
    for p in (folder / name, folder / f"{name}.gz"):
        if p.is_file():
            return p
    return None


def _open_idx(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _parse_header(head: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, dims, header length) from the first bytes of an idx file; DataError if invalid."""
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an idx file: bad magic number {head[:4].hex() or '(empty)'}")
    ndim = head[3]
    hlen = 4 + 4 * ndim
    if ndim == 0 or len(head) < hlen:
        raise DataError(f"{path}: idx header truncated or with {ndim} dimensions")
    dims = tuple(int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return _IDX_DTYPES[head[2]], dims, hlen


def read_idx(path: Path | str) -> torch.Tensor:
    """Parse an idx file (``.gz`` or uncompressed) into a tensor with the dims of its header.

    MNIST images -> uint8 [N, 28, 28]; labels -> uint8 [N]. Raises DataError on a bad magic
    number, a truncated or corrupt file, or trailing bytes.
    """
    path = Path(path)
    try:
        with _open_idx(path) as f:
            data = f.read()
    except FileNotFoundError as e:
        raise DataError(f"{path} does not exist") from e
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{path} cannot be decompressed ({e}); it is truncated or corrupt") from e
    dtype, dims, hlen = _parse_header(data[:64], path)
    expected = hlen + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{path}: header says {dims} of {dtype}, i.e. {expected} bytes, "
            f"found {len(data)} bytes (truncated or corrupt)"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=hlen).reshape(dims)
    return torch.from_numpy(arr.astype(dtype.newbyteorder("="), copy=True))


def _check_idx_cheap(path: Path, shape: tuple[int, ...]) -> str | None:
    """Header magic, dims and (uncompressed) size of an idx file without decoding it.

    For ``.gz`` the size comes from the gzip trailer; the full CRC check happens when it is read.
    Returns None when fine, else what was found.
    """
    try:
        with _open_idx(path) as f:
            head = f.read(4 + 4 * len(shape))
        dtype, dims, hlen = _parse_header(head, path)
    except (DataError, EOFError, OSError, zlib.error) as e:
        return str(e)
    if dtype != np.dtype(">u1") or dims != shape:
        return f"{path}: header says {dims} of {dtype}, expected {shape} of uint8"
    size = hlen + int(np.prod(shape))
    if path.suffix == ".gz":
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            found = int.from_bytes(f.read(4), "little")
        if found != size % 2**32:
            return f"{path}: decompresses to {found} bytes, expected {size} (truncated or corrupt)"
    elif (found := path.stat().st_size) != size:
        return f"{path}: {found} bytes, expected {size} (truncated or corrupt)"
    return None


def _check_sha_in_place(path: Path, size: int, sha: str) -> str | None:
    """Size and sha256 of the uncompressed content of path (``.gz`` or not), read in place (for
    read-only folders such as the Debian package's). None when they match, else what was found."""
    stamp = _stamp(path)
    if stamp in _VERIFIED:
        return None
    h = hashlib.sha256()
    n = 0
    try:
        with _open_idx(path) as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
                n += len(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        return f"{path} cannot be decompressed ({type(e).__name__}: {e}); it is truncated or corrupt"
    if n != size or h.hexdigest() != sha:
        return (
            f"{path}: wrong content\n    expected: {size} bytes, sha256 {sha} (uncompressed)\n"
            f"    found:    {n} bytes, sha256 {h.hexdigest()}"
        )
    _VERIFIED.add(stamp)
    return None


def ensure_fashion_mnist(
    root: Path | str | None = None, splits: tuple[str, ...] = ("train", "test")
) -> Path:
    """Find the Fashion-MNIST files of ``splits`` ("train", "test"), check them; return their folder.

    Looks in ``<root>/FashionMNIST/raw/`` (torchvision layout; the repository commits the test
    split there), then in the Debian package's :data:`FASHION_MNIST_SYSTEM_DIR`; the first folder
    holding every file the splits need (uncompressed or ``.gz``) wins, so the committed test split
    is preferred. Files listed in :data:`FASHION_MNIST_FILES` (the test split) are checked by size
    and sha256: in ``<root>`` decompressed once next to their ``.gz`` as :func:`ensure_mnist` does,
    in the system folder read in place. The training files get header and size checks. Never
    downloads. Raises DataError saying how to get the data when no folder holds all the files, or
    naming each bad file.
    """
    if not splits or not set(splits) <= set(SPLIT_FILES):
        raise ValueError(f"splits must be a non-empty subset of {tuple(SPLIT_FILES)}, got {splits!r}")
    names = [name for split, files in SPLIT_FILES.items() if split in splits for name in files]
    local = _root(root) / "FashionMNIST" / "raw"
    candidates = [local, FASHION_MNIST_SYSTEM_DIR]
    missing: dict[Path, list[str]] = {}
    for folder in candidates:
        files = {name: _find_idx(folder, name) for name in names}
        missing[folder] = [name for name, p in files.items() if p is None]
        if missing[folder]:
            continue
        problems = []
        for name, p in files.items():
            assert p is not None
            if name in FASHION_MNIST_FILES:
                size, sha = FASHION_MNIST_FILES[name]
                if folder == local:
                    msg = _ensure_verified(folder, name, size, sha, "FashionMNIST")
                else:
                    msg = _check_sha_in_place(p, size, sha)
            else:
                msg = _check_idx_cheap(p, IDX_SHAPES[name])
            if msg is not None:
                problems.append(msg)
        if problems:
            raise DataError(
                f"Fashion-MNIST check failed in {folder} ({len(problems)} bad file(s); nothing is "
                "downloaded):\n  " + "\n  ".join(problems)
                + "\n  fix: restore the committed test split (`git checkout -- data/FashionMNIST/raw/`), "
                "reinstall the package (`apt-get install --reinstall dataset-fashion-mnist`) "
                "or replace the torchvision-layout files under data/FashionMNIST/raw/."
            )
        return folder
    looked = "; ".join(
        f"{folder}: {'folder absent' if not folder.is_dir() else 'no ' + ', '.join(m)}"
        for folder, m in missing.items()
    )
    msg = (
        f"Fashion-MNIST not found: no folder holds all the files of the "
        f"{' and '.join(s for s in SPLIT_FILES if s in splits)} split ({', '.join(names)}, "
        f"uncompressed or .gz; {looked})."
    )
    if "test" in splits and any(n in missing[local] for n in SPLIT_FILES["test"]):
        msg += (
            " The test split is committed to the repository: restore it with "
            "`git checkout -- data/FashionMNIST/raw/` (and copy it to <VAELIB_DATA>/FashionMNIST/raw/ "
            "if VAELIB_DATA points elsewhere)."
        )
    if "train" in splits:
        msg += (
            " The training split is not committed (the test split alone loads with "
            "`load_test_split(dataset=\"fashion-mnist\")`). To get it offline-ready: "
            "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu, installs "
            "/usr/share/datasets/fashion-mnist/), or place the torchvision-layout files "
            "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz) under data/FashionMNIST/raw/ "
            "(or <VAELIB_DATA>/FashionMNIST/raw/)."
        )
    raise DataError(msg)


# ----------------------------------------------------------------------------- splits


@dataclass
class Split:
    """One split, as whole tensors.

    images: uint8 [N, 1, 28, 28] (grey values 0..255); labels: int64 [N];
    index: int64 [N], positions in the official file (train file for train/val, test file for
    test), or None.
    """

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
    """One decoded file (images uint8 [N, 1, 28, 28] or labels int64 [N]), cached per file version.

    The cached tensors are shared: callers must never hand them out without copying.
    """
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
        path = _find_idx(folder, name)
        if path is None:  # removed between the check and now
            raise DataError(f"{folder / name} disappeared while loading")
        out.append(_load_array(dataset, name, _stamp(path)))
    return out[0], out[1]


def _check_args(dataset: str, subset: int | None) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if subset is not None and subset < 1:
        raise ValueError(f"subset must be a positive int or None, got {subset}")


def _take(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> Split:
    # index_select copies, so the cached tensors are never exposed.
    return Split(x.index_select(0, idx), y.index_select(0, idx), idx.clone())


def load_mnist(
    root: Path | str | None = None,
    dataset: str = "mnist",
    val_size: int = 10_000,
    seed: int = 0,
    subset: int | None = None,
) -> MNISTSplits:
    """Train / val / test splits of MNIST or Fashion-MNIST, on the CPU.

    dataset: "mnist" or "fashion-mnist". Validation = ``val_size`` images of the official 60,000
    training images, chosen by ``torch.randperm`` with ``torch.Generator().manual_seed(seed)``
    (the same split every time); train = the rest (disjoint from val, in permuted order);
    test = the official 10,000. ``subset`` keeps the first ``subset`` images of each split (fast
    test mode). Images uint8 [N, 1, 28, 28], labels int64 [N], ``index`` = positions in the
    official file.

    Decoded files are cached in this process, so a second call is fast; the returned tensors are
    always fresh copies, so mutating them never changes a later call's result.
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
    """The official 10,000 test images of MNIST or Fashion-MNIST alone, on the CPU.

    The same as ``load_mnist(...).test`` (same images, labels, ``index`` and ``subset`` rule),
    but only the two test files are needed: for Fashion-MNIST the repository commits just those,
    so this works in a fresh clone where :func:`load_mnist` would ask for the training split.
    """
    _check_args(dataset, subset)
    folder = ensure_mnist(root) if dataset == "mnist" else ensure_fashion_mnist(root, splits=("test",))
    x, y = _load_split_arrays(dataset, folder, "test")
    idx = torch.arange(x.shape[0])
    return _take(x, y, idx[:subset] if subset is not None else idx)


# ----------------------------------------------------------------------------- targets


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 grey values [..] -> float32 in [0, 1] (x / 255), same shape and device."""
    return images.to(torch.float32).div_(255.0)


def _uniform(shape: torch.Size, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """U[0, 1) of shape on device, drawn with generator on the generator's own device."""
    if generator is None:
        return torch.rand(shape, device=device)
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarization: Bernoulli(x) draws for x in [0, 1] -> float {0, 1}, same shape.

    Draws with generator (on the generator's device, then moved to x's device; pass
    ``torch.Generator(device=x.device)`` to avoid the copy on a GPU), or with torch's global
    RNG when generator is None. Deterministic for a given generator state.
    """
    return (_uniform(x.shape, generator, x.device) < x).to(x.dtype)


def _fixed_binary_u8(images: torch.Tensor, seed: int) -> torch.Tensor:
    """uint8 {0, 1} of the fixed binarization (drawn on the CPU in chunks, then moved)."""
    g = torch.Generator().manual_seed(seed)
    flat = images.reshape(images.shape[0], -1)
    out = torch.empty(flat.shape, dtype=torch.uint8)
    step = 4096
    for i in range(0, flat.shape[0], step):
        p = flat[i : i + step].to("cpu", torch.float32).div_(255.0)
        out[i : i + step] = torch.rand(p.shape, generator=g) < p
    return out.reshape(images.shape).to(images.device)


def fixed_binarization(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A fixed Bernoulli(grey / 255) draw: uint8 [N, ...] -> float32 {0, 1}, same shape.

    Uses a CPU ``torch.Generator`` seeded with seed, so the result depends only on (images,
    seed), not on the device; it is moved to the images' device.
    """
    return _fixed_binary_u8(images, seed).to(torch.float32)


# ----------------------------------------------------------------------------- batches


class BatchIterator:
    """Mini-batches of float images [B, 1, 28, 28] (and int64 labels [B] when labels=True).

    Each ``iter()`` is one epoch: a new permutation when shuffle, else the split in order.
    Batches are sliced by index from whole tensors; put them on the training device once
    (``split.to(device)``, or pass device=, which copies once here) so no per-batch host-to-device
    copy happens. targets: "grey" (x / 255), "dynamic" (a fresh Bernoulli draw per batch),
    "fixed" (:func:`fixed_binarization` of the whole split, computed once here, seed fixed_seed).

    Randomness (permutation, dynamic draws) comes from generator, drawn on the generator's
    device and moved to the images' device (use ``torch.Generator(device=...)`` matching the
    images to draw on the GPU), or from torch's global RNG when generator is None. With a CPU
    generator the batches are deterministic for a given seed whatever the device.
    """

    def __init__(
        self,
        data: Split | torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool,
        targets: str = "grey",
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        drop_last: bool = False,
        labels: bool = False,
        fixed_seed: int = 0,
    ) -> None:
        if targets not in TARGET_MODES:
            raise ValueError(f"targets must be one of {TARGET_MODES}, got {targets!r}")
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
                    x = binarize(x, self.generator)
            yield (x, y) if self.labels else x


def iterate_batches(
    data: Split | torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool,
    targets: str = "grey",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    drop_last: bool = False,
    labels: bool = False,
) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
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

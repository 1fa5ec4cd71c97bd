"""The raw MNIST and Fashion-MNIST files: where they live, how they are verified, how to restore them.

:mod:`vaelib.data` turns these files into splits; this module makes sure they are the official bytes.
They live in ``DATA_ROOT`` (``$VAELIB_DATA`` when set, else the repository's ``data/``) in torchvision's
layout, ``<root>/MNIST/raw/`` and ``<root>/FashionMNIST/raw/``, committed gzip-compressed. Nothing is
ever downloaded.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np
import torch

from vaelib.runtime import REPO_ROOT

__all__ = ["DATA_ROOT", "FASHION_MNIST_FILES", "IDX_SHAPES", "MNIST_FILES", "REPO_DATA", "SPLIT_FILES", "DataError",
           "ensure_raw", "ensure_fashion_mnist", "ensure_mnist", "file_version", "find_idx", "read_idx"]

REPO_DATA = REPO_ROOT / "data"
DATA_ROOT: Path = Path(os.environ["VAELIB_DATA"]) if os.environ.get("VAELIB_DATA") else REPO_DATA

# name -> (uncompressed size in bytes, sha256 of the uncompressed file): the official MNIST files.
MNIST_FILES: dict[str, tuple[int, str]] = {
    "train-images-idx3-ubyte": (47_040_016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": (60_008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": (7_840_016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": (10_008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}

# The same for the four Fashion-MNIST files (data/FashionMNIST/README.md says where they come from).
FASHION_MNIST_FILES: dict[str, tuple[int, str]] = {
    "train-images-idx3-ubyte": (47_040_016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte": (60_008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte": (7_840_016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte": (10_008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
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

# idx type byte -> numpy big-endian dtype
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_CHUNK = 1 << 20  # files are read in 1 MiB chunks
# Stamps (file_version) of uncompressed files whose size and sha256 were verified in this process.
_VERIFIED: set[tuple[str, int, int]] = set()


class DataError(RuntimeError):
    """A data file is missing, damaged or not what was expected. The message says how to fix it."""


def file_version(path: Path) -> tuple[str, int, int]:
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
    return (f"delete {raw / name} (it is re-created from {gz} on the next load); "
            f"if {gz} is damaged too, restore it: {restore_gz}.")


def _decompress_verified(gz: Path, dst: Path, size: int, sha: str) -> str | None:
    """Decompress gz to dst if its content has the expected size and sha256; None, else what was found.
    Atomic (a temporary file replaces dst only when it checks out): no bad or half-written dst is left."""
    try:
        fd, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=".tmp-", suffix=f"-{dst.name}")
    except OSError as e:
        raise DataError(f"cannot write the decompressed {dst.name} into {dst.parent}: {e}. "
                        "Point VAELIB_DATA to a writable copy of the data folder.") from e
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
        _VERIFIED.add(file_version(dst))
        return None
    finally:
        tmp.unlink(missing_ok=True)


def _ensure_verified(raw: Path, name: str, size: int, sha: str, folder: str) -> str | None:
    """Make ``raw/name`` a verified file, decompressing ``raw/name.gz`` once when it is absent (a file
    verified before is only ``stat``ed). None when fine, else the problem: expected, found, the fix."""
    path, gz = raw / name, raw / f"{name}.gz"
    expected = f"expected: {size} bytes, sha256 {sha} (uncompressed)"
    if path.is_file():
        stamp = file_version(path)
        if stamp in _VERIFIED:
            return None
        found = f"{stamp[2]} bytes"
        if stamp[2] == size:
            found_size, found_sha = _sha256_file(path)
            if found_size == size and found_sha == sha:
                _VERIFIED.add(stamp)
                return None
            found = f"{found_size} bytes, sha256 {found_sha}"
        problem, gz_damaged = f"{name}: wrong content in {path}", False
    elif gz.is_file():
        found = _decompress_verified(gz, path, size, sha)
        if found is None:
            return None
        problem, gz_damaged = f"{name}: bad archive {gz}", True
    else:
        problem, gz_damaged, found = f"{name}: missing, neither {gz.name} nor {name} is in {raw}", True, "no file"
    return (f"{problem}\n    {expected}\n    found:    {found}\n"
            f"    fix: {_restore_hint(raw, name, gz_damaged=gz_damaged, folder=folder)}")


def ensure_raw(dataset: str = "mnist", root: Path | str | None = None,
               splits: tuple[str, ...] = ("train", "test")) -> Path:
    """Check (and decompress once) the files of `splits` of a data set against :data:`MNIST_FILES` or
    :data:`FASHION_MNIST_FILES`; return ``<root>/<folder>/raw`` (folder MNIST or FashionMNIST).

    Raises one DataError listing every missing, truncated or corrupt file and how to restore it.
    """
    if not splits or not set(splits) <= set(SPLIT_FILES):
        raise ValueError(f"splits must be a non-empty subset of {tuple(SPLIT_FILES)}, got {splits!r}")
    folder, files, label = {"mnist": ("MNIST", MNIST_FILES, "MNIST"),
                            "fashion-mnist": ("FashionMNIST", FASHION_MNIST_FILES, "Fashion-MNIST")}[dataset]
    raw = (Path(root) if root is not None else DATA_ROOT) / folder / "raw"
    names = [name for split, pair in SPLIT_FILES.items() if split in splits for name in pair]
    problems = [msg for name in names if (msg := _ensure_verified(raw, name, *files[name], folder)) is not None]
    if problems:
        raise DataError(f"{label} check failed in {raw} ({len(problems)} bad file(s); nothing is downloaded):\n  "
                        + "\n  ".join(problems))
    return raw


def ensure_mnist(root: Path | str | None = None) -> Path:
    """`ensure_raw` of MNIST's four files."""
    return ensure_raw("mnist", root)


def ensure_fashion_mnist(root: Path | str | None = None, splits: tuple[str, ...] = ("train", "test")) -> Path:
    """`ensure_raw` of Fashion-MNIST's files of `splits`."""
    return ensure_raw("fashion-mnist", root, splits)


def find_idx(folder: Path, name: str) -> Path | None:
    """``folder/name`` if present, else ``folder/name.gz`` if present, else None."""
    for p in (folder / name, folder / f"{name}.gz"):
        if p.is_file():
            return p
    return None


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
    """Parse an idx file (``.gz`` or uncompressed) into a tensor with the dims of its header: MNIST
    images -> uint8 [N, 28, 28], labels -> uint8 [N]. DataError if it is not a whole idx file."""
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            data = f.read()
    except FileNotFoundError as e:
        raise DataError(f"{path} does not exist") from e
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{path} cannot be decompressed ({e}); it is truncated or corrupt") from e
    dtype, dims, hlen = _parse_header(data[:64], path)
    expected = hlen + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(f"{path}: header says {dims} of {dtype}, i.e. {expected} bytes, "
                        f"found {len(data)} bytes (truncated or corrupt)")
    arr = np.frombuffer(data, dtype=dtype, offset=hlen).reshape(dims)
    return torch.from_numpy(arr.astype(dtype.newbyteorder("="), copy=True))

"""vaelib.data and vaelib.datafiles: committed MNIST and Fashion-MNIST files, checksums, splits, targets,
batching."""

from __future__ import annotations

import gzip
import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from vaelib import data, datafiles
from vaelib.data import (
    BATCH_TARGETS,
    EVAL_TARGETS,
    TRAIN_TARGETS,
    BatchIterator,
    Split,
    binarize,
    eval_inputs,
    eval_targets_for,
    fixed_binarization,
    iterate_batches,
    load_mnist,
    load_test_split,
    to_unit,
)
from vaelib.datafiles import DataError, ensure_fashion_mnist, ensure_mnist, read_idx

NAMES = list(datafiles.MNIST_FILES)


@pytest.fixture(scope="module")
def mnist_raw() -> Path:
    return ensure_mnist()


@pytest.fixture(scope="module")
def splits(mnist_raw: Path) -> data.MNISTSplits:
    return load_mnist()


def _copy_raw(src: Path, root: Path, skip: tuple[str, ...] = ()) -> Path:
    """Copy the verified uncompressed MNIST files (not those in skip) to root/MNIST/raw."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in NAMES:
        if name not in skip:
            shutil.copyfile(src / name, raw / name)
    return raw


def _flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def _write_idx(path: Path, arr: np.ndarray, *, gz: bool = False) -> None:
    code = {np.dtype("uint8"): 0x08, np.dtype(">i4"): 0x0C}[arr.dtype]
    head = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(head + arr.tobytes())


# ----------------------------------------------------------------------------- files


def test_committed_files_verify(mnist_raw: Path) -> None:
    assert mnist_raw == datafiles.DATA_ROOT / "MNIST" / "raw"
    for name, (size, _) in datafiles.MNIST_FILES.items():
        assert (mnist_raw / f"{name}.gz").is_file() or datafiles.DATA_ROOT != datafiles.REPO_DATA
        assert (mnist_raw / name).stat().st_size == size
    assert not list(mnist_raw.glob(".tmp-*"))


def test_data_root_env_var(tmp_path: Path, monkeypatch) -> None:
    def fresh_module():  # a second copy of vaelib/datafiles.py, so the real one is untouched
        spec = importlib.util.spec_from_file_location("vaelib_datafiles_copy", datafiles.__file__)
        mod = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, mod)  # registered while it runs, as an import would be
        spec.loader.exec_module(mod)
        return mod

    monkeypatch.setenv("VAELIB_DATA", str(tmp_path))
    assert fresh_module().DATA_ROOT == tmp_path
    monkeypatch.delenv("VAELIB_DATA")
    assert fresh_module().DATA_ROOT == Path(datafiles.__file__).resolve().parents[1] / "data"


def test_data_root_is_read_at_call_time(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(datafiles, "DATA_ROOT", tmp_path)  # vaelib.data's loaders follow it
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "MNIST" / "raw"))):
        load_test_split()


def test_reexports_are_the_datafiles_objects() -> None:
    """The loaders raise vaelib.datafiles.DataError, also importable from vaelib.data; __all__ is complete."""
    assert data.DataError is datafiles.DataError and not hasattr(data, "DATA_ROOT")
    for mod in (data, datafiles):
        assert all(hasattr(mod, name) for name in mod.__all__)


def test_flipped_byte_fails(mnist_raw: Path, tmp_path: Path) -> None:
    raw = _copy_raw(mnist_raw, tmp_path)
    _flip_byte(raw / "t10k-labels-idx1-ubyte", 5000)
    with pytest.raises(DataError) as e:
        ensure_mnist(root=tmp_path)
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte" in msg and "expected" in msg
    assert datafiles.MNIST_FILES["t10k-labels-idx1-ubyte"][1] in msg  # the expected sha256
    for good in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        assert f"{good}:" not in msg  # only the bad file is blamed


def test_change_after_verification_is_caught(mnist_raw: Path, tmp_path: Path) -> None:
    raw = _copy_raw(mnist_raw, tmp_path)
    assert ensure_mnist(root=tmp_path) == raw
    target = raw / "t10k-labels-idx1-ubyte"
    st = target.stat()
    _flip_byte(target, 9000)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # as an edit would
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        ensure_mnist(root=tmp_path)


def test_wrong_size_fails(mnist_raw: Path, tmp_path: Path) -> None:
    raw = _copy_raw(mnist_raw, tmp_path)
    with open(raw / "train-labels-idx1-ubyte", "r+b") as f:
        f.truncate(30_000)
    with pytest.raises(DataError, match=r"(?s)train-labels-idx1-ubyte.*expected: 60008 bytes.*found: +30000 bytes"):
        ensure_mnist(root=tmp_path)


def test_truncated_gz_fails_and_leaves_nothing(mnist_raw: Path, tmp_path: Path) -> None:
    raw = _copy_raw(mnist_raw, tmp_path, skip=("train-labels-idx1-ubyte",))
    gz = (mnist_raw / "train-labels-idx1-ubyte.gz").read_bytes()
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(DataError) as e:
        ensure_mnist(root=tmp_path)
    msg = str(e.value)
    assert "train-labels-idx1-ubyte" in msg and "expected" in msg and "git checkout" in msg
    assert not (raw / "train-labels-idx1-ubyte").exists()  # no half file
    assert not list(raw.glob(".tmp-*"))


def test_gz_with_wrong_content_fails(mnist_raw: Path, tmp_path: Path) -> None:
    """A .gz that decompresses cleanly but to the wrong bytes is rejected and not unpacked."""
    raw = _copy_raw(mnist_raw, tmp_path, skip=("t10k-labels-idx1-ubyte",))
    content = bytearray((mnist_raw / "t10k-labels-idx1-ubyte").read_bytes())
    content[100] ^= 0x01
    with gzip.open(raw / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes(content))
    with pytest.raises(DataError, match=r"(?s)t10k-labels-idx1-ubyte.*expected.*git checkout"):
        ensure_mnist(root=tmp_path)
    assert not (raw / "t10k-labels-idx1-ubyte").exists()
    assert not list(raw.glob(".tmp-*"))


def test_missing_file_fails(mnist_raw: Path, tmp_path: Path) -> None:
    _copy_raw(mnist_raw, tmp_path, skip=("train-images-idx3-ubyte",))
    with pytest.raises(DataError, match=r"(?s)train-images-idx3-ubyte.*missing.*expected"):
        ensure_mnist(root=tmp_path)


def test_decompresses_once_then_cached(mnist_raw: Path, tmp_path: Path, monkeypatch) -> None:
    raw = _copy_raw(mnist_raw, tmp_path, skip=("t10k-labels-idx1-ubyte",))
    shutil.copyfile(mnist_raw / "t10k-labels-idx1-ubyte.gz", raw / "t10k-labels-idx1-ubyte.gz")
    ensure_mnist(root=tmp_path)
    out = raw / "t10k-labels-idx1-ubyte"
    assert out.read_bytes() == (mnist_raw / "t10k-labels-idx1-ubyte").read_bytes()
    assert not list(raw.glob(".tmp-*"))

    def no_hashing(path):
        raise AssertionError(f"re-hashed {path}")

    monkeypatch.setattr(datafiles, "_sha256_file", no_hashing)
    ensure_mnist(root=tmp_path)  # every file verified already: only stat
    st = out.stat()
    os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a new version is hashed again
    with pytest.raises(AssertionError, match="re-hashed"):  # (so the patch above reaches ensure_mnist)
        ensure_mnist(root=tmp_path)


def test_torchvision_reads_it_offline(mnist_raw: Path, splits: data.MNISTSplits) -> None:
    root = str(mnist_raw.parents[1])
    train = torchvision.datasets.MNIST(root=root, train=True, download=False)
    test = torchvision.datasets.MNIST(root=root, train=False, download=False)
    assert len(train) == 60_000 and len(test) == 10_000
    idx = splits.val.index[:500]
    assert torch.equal(train.data[idx], splits.val.images[:500, 0])
    assert torch.equal(train.targets[idx], splits.val.labels[:500])
    assert torch.equal(test.data, splits.test.images[:, 0])


def test_read_idx(tmp_path: Path) -> None:
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a", arr)
    _write_idx(tmp_path / "a.gz", arr, gz=True)
    for p in ("a", "a.gz"):
        t = read_idx(tmp_path / p)
        assert t.dtype == torch.uint8 and torch.equal(t, torch.from_numpy(arr))
    ints = np.array([1, -2, 70000], dtype=">i4")
    _write_idx(tmp_path / "i", ints)
    assert read_idx(tmp_path / "i").tolist() == [1, -2, 70000]

    raw = (tmp_path / "a").read_bytes()
    (tmp_path / "short").write_bytes(raw[:-1])
    (tmp_path / "magic").write_bytes(b"\x01" + raw[1:])
    (tmp_path / "long").write_bytes(raw + b"\x00")
    for bad in ("short", "magic", "long"):
        with pytest.raises(DataError, match=bad):
            read_idx(tmp_path / bad)
    (tmp_path / "short.gz").write_bytes((tmp_path / "a.gz").read_bytes()[:-6])
    with pytest.raises(DataError, match="short.gz"):
        read_idx(tmp_path / "short.gz")


# ----------------------------------------------------------------------------- splits


def test_split_shapes_and_dtypes(splits: data.MNISTSplits) -> None:
    for split, n in ((splits.train, 50_000), (splits.val, 10_000), (splits.test, 10_000)):
        assert split.images.shape == (n, 1, 28, 28) and split.images.dtype == torch.uint8
        assert split.labels.shape == (n,) and split.labels.dtype == torch.int64
        assert len(split) == n
        counts = torch.bincount(split.labels, minlength=10)
        assert counts.numel() == 10 and (counts > 0.07 * n).all() and (counts < 0.14 * n).all()


def test_train_val_disjoint_and_cover(splits: data.MNISTSplits) -> None:
    tr, va = set(splits.train.index.tolist()), set(splits.val.index.tolist())
    assert len(tr) == 50_000 and len(va) == 10_000
    assert not tr & va
    assert tr | va == set(range(60_000))
    assert torch.equal(splits.test.index, torch.arange(10_000))


def test_split_is_fixed_by_seed(splits: data.MNISTSplits) -> None:
    again = load_mnist()
    assert torch.equal(again.val.index, splits.val.index)
    assert torch.equal(again.train.images, splits.train.images)
    other = load_mnist(seed=1)
    assert not torch.equal(other.val.index, splits.val.index)
    small = load_mnist(val_size=5_000)
    assert len(small.train) == 55_000 and len(small.val) == 5_000


def test_subset_and_cache_not_shared(splits: data.MNISTSplits) -> None:
    sub = load_mnist(subset=256)
    assert (len(sub.train), len(sub.val), len(sub.test)) == (256, 256, 256)
    assert torch.equal(sub.train.images, splits.train.images[:256])
    before = {k: getattr(sub, k).images.clone() for k in ("train", "val", "test")}
    labels_before = sub.test.labels.clone()
    for k in ("train", "val", "test"):  # a caller scribbling on its copy ...
        getattr(sub, k).images.zero_()
    sub.test.labels.fill_(3)
    fresh = load_mnist(subset=256)  # ... does not change what the next caller gets
    for k in ("train", "val", "test"):
        assert torch.equal(getattr(fresh, k).images, before[k])
        assert getattr(fresh, k).images.data_ptr() != getattr(sub, k).images.data_ptr()
    assert torch.equal(fresh.test.labels, labels_before)
    tiny_val = load_mnist(val_size=100, subset=1000)
    assert (len(tiny_val.train), len(tiny_val.val)) == (1000, 100)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        load_mnist(dataset="cifar")
    with pytest.raises(ValueError):
        load_mnist(val_size=60_000)


# ----------------------------------------------------------------------------- batching


def _indexed_split(n: int = 1000) -> Split:
    """Image i is filled with grey value i % 251 and labelled i, to check alignment."""
    labels = torch.arange(n)
    images = (labels % 251).to(torch.uint8).view(n, 1, 1, 1).expand(n, 1, 28, 28).contiguous()
    return Split(images, labels)


def test_batches_shapes_and_grey_range(splits: data.MNISTSplits) -> None:
    it = BatchIterator(splits.test, 128, shuffle=False)
    batches = list(it)
    assert len(batches) == len(it) == 79
    assert all(b.shape == (128, 1, 28, 28) for b in batches[:-1]) and batches[-1].shape[0] == 10_000 - 78 * 128
    x = torch.cat(batches)
    assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1
    assert torch.equal(x, to_unit(splits.test.images))
    assert len(list(BatchIterator(splits.test, 128, shuffle=False, drop_last=True))) == 78


def test_shuffle_covers_each_index_once_and_labels_line_up() -> None:
    split = _indexed_split()
    it = BatchIterator(split, 64, shuffle=True, labels=True, generator=torch.Generator().manual_seed(0))
    orders = []
    for _ in range(2):
        seen = []
        for x, y in it:
            assert x.shape[1:] == (1, 28, 28) and x.shape[0] == y.shape[0]
            assert torch.equal((x[:, 0, 0, 0] * 255).round().long(), y % 251)
            assert (x == x[:, :1, :1, :1]).all()  # each image is whole, not mixed
            seen.append(y)
        order = torch.cat(seen)
        assert torch.equal(order.sort().values, torch.arange(len(split)))
        orders.append(order)
    assert not torch.equal(orders[0], orders[1])  # a new permutation each epoch
    assert not torch.equal(orders[0], torch.arange(len(split)))
    again = BatchIterator(split, 64, shuffle=True, labels=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat([y for _, y in again]), orders[0])  # deterministic given the seed


def test_dynamic_binarization(splits: data.MNISTSplits) -> None:
    images = splits.test.images[:2000]
    it = BatchIterator(images, 500, shuffle=False, targets="dynamic", generator=torch.Generator().manual_seed(1))
    e1, e2 = torch.cat(list(it)), torch.cat(list(it))
    for e in (e1, e2):
        assert e.dtype == torch.float32 and set(e.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(e1, e2)  # fresh draws each epoch
    grey = to_unit(images)
    assert (e1[grey == 0] == 0).all() and (e1[grey == 1] == 1).all()
    assert abs(e1.mean().item() - grey.mean().item()) < 0.01
    rerun = BatchIterator(images, 500, shuffle=False, targets="dynamic", generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.cat(list(rerun)), e1)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(binarize(grey, g1), binarize(grey, g2))


def test_fixed_binarization(splits: data.MNISTSplits) -> None:
    images = splits.test.images
    f1, f2 = fixed_binarization(images), fixed_binarization(images)
    assert f1.dtype == torch.float32 and f1.shape == images.shape
    assert torch.equal(f1, f2)
    assert set(f1.unique().tolist()) == {0.0, 1.0}
    assert abs(f1.mean().item() - to_unit(images).mean().item()) < 0.01
    assert not torch.equal(f1, fixed_binarization(images, seed=1))
    # an empty split (a binarized model trained with val_size=0 has no validation images)
    assert fixed_binarization(images[:0]).shape == (0, *images.shape[1:])

    indexed = Split(images, torch.arange(len(images)))
    it = BatchIterator(indexed, 1000, shuffle=True, targets="fixed", labels=True,
                       generator=torch.Generator().manual_seed(0))
    for _ in range(2):  # the same binary images every epoch, in a new order
        for x, idx in it:
            assert torch.equal(x, f1[idx])


def test_unknown_targets_mode(splits: data.MNISTSplits) -> None:
    with pytest.raises(ValueError, match="targets"):
        BatchIterator(splits.test, 10, shuffle=False, targets="gray")
    with pytest.raises(ValueError, match="targets"):
        list(iterate_batches(splits.test, 10, shuffle=False, targets="bernoulli"))


def test_target_constants() -> None:
    assert BATCH_TARGETS == ("grey", "dynamic", "fixed")
    assert set(TRAIN_TARGETS) | set(EVAL_TARGETS) == set(BATCH_TARGETS)
    images = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    for t in BATCH_TARGETS:  # BatchIterator accepts every one
        assert next(iter(BatchIterator(images, 2, shuffle=False, targets=t))).shape == (2, 1, 28, 28)


def test_eval_targets_for() -> None:
    assert eval_targets_for("dynamic") == "fixed"
    assert eval_targets_for("grey") == "grey"
    assert {eval_targets_for(t) for t in TRAIN_TARGETS} == set(EVAL_TARGETS)
    for bad in ("fixed", "gray", ""):
        with pytest.raises(ValueError, match="training targets"):
            eval_targets_for(bad)


def test_eval_inputs() -> None:
    images = torch.randint(0, 256, (6, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    before = images.clone()
    grey = eval_inputs(images, "grey")
    assert grey.dtype == torch.float32 and torch.equal(grey, to_unit(images))
    fixed = eval_inputs(images, "fixed")
    assert fixed.dtype == torch.float32 and torch.equal(fixed, fixed_binarization(images))
    assert set(fixed.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(fixed, eval_inputs(images, "fixed"))  # the same draw every time
    assert torch.equal(images, before)  # the uint8 input is left alone
    for bad in ("dynamic", "gray"):
        with pytest.raises(ValueError, match="evaluation targets"):
            eval_inputs(images, bad)


def test_iterate_batches_and_to(splits: data.MNISTSplits) -> None:
    sub = Split(splits.test.images[:300], splits.test.labels[:300])
    moved = sub.to("cpu")
    assert len(moved) == 300
    got = list(iterate_batches(moved, 100, shuffle=False, labels=True, device="cpu"))
    assert len(got) == 3
    assert torch.equal(torch.cat([y for _, y in got]), sub.labels)


# ----------------------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_missing_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="git checkout -- data/FashionMNIST/raw/") as e:
        load_mnist(root=tmp_path, dataset="fashion-mnist")
    assert "FashionMNIST/raw" in str(e.value)


FASHION_RAW = datafiles.REPO_DATA / "FashionMNIST" / "raw"


def _fashion_root(tmp_path: Path, monkeypatch, splits: tuple[str, ...] = ("train", "test")) -> Path:
    """tmp_path/FashionMNIST/raw holding a copy of the committed files of `splits` (.gz)."""
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for split in splits:
        for name in datafiles.SPLIT_FILES[split]:
            shutil.copyfile(FASHION_RAW / f"{name}.gz", raw / f"{name}.gz")
    return raw


def test_fashion_mnist_local_layout(tmp_path: Path, monkeypatch) -> None:
    """A copy of the committed files in the torchvision layout loads; a training file with the
    right header and size but other bytes, or a wrong header, is refused by name."""
    raw = _fashion_root(tmp_path, monkeypatch)
    assert ensure_fashion_mnist(root=tmp_path) == raw
    s = load_mnist(root=tmp_path, dataset="fashion-mnist", subset=100)
    assert s.train.images.shape == (100, 1, 28, 28) and s.test.images.shape == (100, 1, 28, 28)
    assert torch.equal(s.test.images, load_test_split(root=tmp_path, dataset="fashion-mnist", subset=100).images)

    rng = np.random.default_rng(0)
    for p in raw.glob("train-images-idx3-ubyte*"):
        p.unlink()
    _write_idx(raw / "train-images-idx3-ubyte", rng.integers(0, 256, (60_000, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):  # same size, other bytes: sha256
        ensure_fashion_mnist(root=tmp_path)
    for p in raw.glob("train-labels-idx1-ubyte*"):
        p.unlink()
    _write_idx(raw / "train-labels-idx1-ubyte.gz", (np.arange(59_999) % 10).astype(np.uint8), gz=True)
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):  # wrong dims in the header
        ensure_fashion_mnist(root=tmp_path, splits=("train",))


def test_fashion_mnist_committed_files(monkeypatch) -> None:
    """The repository's data/FashionMNIST/raw/ loads, verified (no skip: a fresh clone has it)."""
    monkeypatch.setattr(datafiles, "DATA_ROOT", datafiles.REPO_DATA)
    assert set(datafiles.FASHION_MNIST_FILES) == set(datafiles.IDX_SHAPES)
    for name in datafiles.FASHION_MNIST_FILES:
        assert (FASHION_RAW / f"{name}.gz").is_file(), f"data/FashionMNIST/raw/{name}.gz is not committed"
    assert ensure_fashion_mnist() == FASHION_RAW
    for name, (size, _) in datafiles.FASHION_MNIST_FILES.items():
        assert (FASHION_RAW / name).stat().st_size == size  # decompressed once, verified
    test = load_test_split(dataset="fashion-mnist")
    assert test.images.shape == (10_000, 1, 28, 28) and test.images.dtype == torch.uint8
    assert test.labels.dtype == torch.int64 and torch.equal(test.index, torch.arange(10_000))
    assert torch.equal(torch.bincount(test.labels), torch.full((10,), 1000))
    mnist = load_test_split(subset=50)  # not the digits under another name
    assert not torch.equal(test.images[:50], mnist.images)
    splits = load_mnist(dataset="fashion-mnist")
    assert len(splits.train) == 50_000 and len(splits.val) == 10_000
    assert torch.equal(torch.bincount(torch.cat([splits.train.labels, splits.val.labels])), torch.full((10,), 6000))


def test_fashion_mnist_flipped_byte_fails(tmp_path: Path, monkeypatch) -> None:
    raw = _fashion_root(tmp_path, monkeypatch)
    load_test_split(root=tmp_path, dataset="fashion-mnist")  # decompresses and verifies
    target = raw / "t10k-images-idx3-ubyte"
    _flip_byte(target, 5000)  # same size, header intact: only the sha256 can tell
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    with pytest.raises(DataError) as e:
        load_test_split(root=tmp_path, dataset="fashion-mnist")
    msg = str(e.value)
    assert "t10k-images-idx3-ubyte" in msg and datafiles.FASHION_MNIST_FILES["t10k-images-idx3-ubyte"][1] in msg
    assert "git checkout -- data/FashionMNIST/raw/t10k-images-idx3-ubyte.gz" in msg
    assert "t10k-labels-idx1-ubyte:" not in msg  # only the bad file is blamed


def test_fashion_mnist_truncated_gz_fails(tmp_path: Path, monkeypatch) -> None:
    raw = _fashion_root(tmp_path, monkeypatch)
    gz = raw / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:2000])
    with pytest.raises(DataError, match=r"(?s)t10k-labels-idx1-ubyte.*expected.*git checkout"):
        load_test_split(root=tmp_path, dataset="fashion-mnist")
    assert not (raw / "t10k-labels-idx1-ubyte").exists() and not list(raw.glob(".tmp-*"))


def test_fashion_mnist_missing_test_file_says_restore(tmp_path: Path, monkeypatch) -> None:
    raw = _fashion_root(tmp_path, monkeypatch)
    (raw / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"(?s)t10k-images-idx3-ubyte: missing.*git checkout -- data/FashionMNIST/raw/") as e:
        load_test_split(root=tmp_path, dataset="fashion-mnist")
    assert "train-images" not in str(e.value).split(".")[0]  # only the test split was asked for


@pytest.mark.parametrize("batch_size", [128, 7])
def test_predrawn_binarization_gives_the_batches_of_one_draw_per_batch(splits: data.MNISTSplits, batch_size) -> None:
    """On a GPU fed by a CPU generator, an epoch's uniforms are drawn at once (one copy, no
    per-step transfer); the batches must be those of one draw per batch, bit for bit."""
    images = splits.test.images[:1000]
    per_batch = BatchIterator(images, batch_size, shuffle=True, targets="dynamic",
                              generator=torch.Generator().manual_seed(3), predraw=False)
    at_once = BatchIterator(images, batch_size, shuffle=True, targets="dynamic",
                            generator=torch.Generator().manual_seed(3), predraw=True)
    assert not per_batch.predraw and at_once.predraw
    for _ in range(2):  # two epochs: the generators must stay in step too
        a, b = list(per_batch), list(at_once)
        assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))
    auto = BatchIterator(images, batch_size, shuffle=True, targets="dynamic", generator=torch.Generator())
    assert not auto.predraw  # on the CPU, nothing to save

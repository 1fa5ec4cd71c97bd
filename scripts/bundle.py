"""Checkpoint bundles: the series' trained runs in one archive, to hand to people who then load
instead of training.

    python scripts/bundle.py make                       # every cached run of the series -> bundles/….tar.gz
    python scripts/bundle.py make --notebook 08         # only the runs notebook 08 trains
    python scripts/bundle.py unbundle FILE              # check it, then fill checkpoints/ (VAELIB_CACHE)
    python scripts/bundle.py unbundle https://host/FILE # the same, downloaded over HTTPS first

(`make bundle [NOTEBOOK=08] [FILE=…]`, `make unbundle FILE=…` or `URL=…`.)

A bundle is a gzip'd tar whose first member, MANIFEST.json, lists every file of every run folder
with its size and sha256, each folder's code stamp (vaelib.cache.code_stamp), the torch and vaelib
versions, and the command that made it. A run goes into a bundle only when its stamp is today's.

A bundle carries what loading needs (weights, config, history, metrics, cached evaluations), not
the optimizer state a run would resume training from (`checkpoint.pt`, twice the weights), except
for runs that another run continues.

`unbundle` writes nothing until the whole bundle has passed its checks, and refuses it, with one
line, when a member is not a plain file listed in the manifest (a link, a path outside its folder),
a file's size or sha256 differs (a corrupt or truncated download), a checkpoint would load code
(every .pt must load with `torch.load(weights_only=True)`), or a folder was made by other code than
this checkout's (its stamp differs). A folder already in the cache is kept as it is.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import ssl
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vaelib.cache import CACHE_ROOT, code_stamp, fingerprint, run_folder  # noqa: E402
from vaelib.checkpoints import CHECKPOINT  # noqa: E402
from vaelib.eval.classifier import CODE_FILES as CLASSIFIER_FILES, classifier_folder  # noqa: E402
from vaelib.runs import RUNS, TEST_SUBSET  # noqa: E402

FORMAT = 1
MANIFEST = "MANIFEST.json"
SUFFIXES = (".pt", ".json", ".csv", ".png")  # what a run folder holds; nothing else is bundled
#: the optimizer's resume state (two Adam moments per weight: twice the model) is left out, except
#: for the runs that another run continues from (it resumes training from that state)
CONTINUED = {r.continues for r in RUNS.values() if r.continues}
CHUNK = 1 << 20


class BundleError(Exception):
    """A bundle that is refused, or cannot be made: the message is one line saying why."""


def today_stamp(folder: Path) -> dict[str, str] | None:
    """The stamp today's code gives the folder: a run's (by its model kind) or the classifier's."""
    if (folder / "config.json").is_file():
        return code_stamp(json.loads((folder / "config.json").read_text())["model"]["kind"])
    if folder.name.startswith("classifier-"):
        return {f: fingerprint(f) for f in CLASSIFIER_FILES}
    return None


def folders(cache: Path, notebook: str | None, test: bool) -> list[tuple[Path, str | None]]:
    """(folder, run name) of the series' current cached runs: every run (the GPU-length ones aside),
    or the runs `notebook` trains; the MNIST classifier with the whole series or notebook 07."""
    out, seen = [], set()
    for name, run in RUNS.items():
        if run.long or (notebook is not None and run.notebook != notebook):
            continue
        folder = run_folder(name, test, cache)
        if folder not in seen and (folder / "model.pt").is_file():
            seen.add(folder)
            out.append((folder, name))
    if notebook in (None, "07"):
        clf = classifier_folder(cache, **({"epochs": 1, "subset": TEST_SUBSET} if test else {}))
        if (clf / "classifier.pt").is_file():
            out.append((clf, None))
    current = [(f, n) for f, n in out if _stamp(f) == today_stamp(f)]
    for folder, _ in sorted(set(out) - set(current)):
        print(f"left out: {folder.name} was made by other code than this checkout's (or has no stamp)")
    return current


def _stamp(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "code.json").read_text())
    except (OSError, ValueError):
        return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def make(cache: Path, out: Path, notebook: str | None = None, test: bool = False, command: str = "") -> dict:
    """Write the bundle; returns its manifest."""
    chosen = folders(cache, notebook, test)
    if not chosen:
        raise BundleError(f"nothing to bundle: no current run {'of notebook ' + notebook + ' ' if notebook else ''}"
                          f"in {cache} ({'test' if test else 'full'} mode)")
    manifest = {
        "format": FORMAT, "command": command, "made": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "torch": torch.__version__, "vaelib": _vaelib_version(), "mode": "test" if test else "full",
        "folders": {folder.name: {"run": name, "code": _stamp(folder), "files": {
            p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)}
            for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix in SUFFIXES and (p.name != CHECKPOINT or name in CONTINUED)}}
            for folder, name in chosen},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
            blob = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime = len(blob), int(time.time())
            tar.addfile(info, io.BytesIO(blob))
            for folder, _ in chosen:
                for fname in manifest["folders"][folder.name]["files"]:
                    tar.add(folder / fname, arcname=f"{folder.name}/{fname}", recursive=False)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return manifest


def _vaelib_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("vaelib")
    except PackageNotFoundError:
        return "unknown"


def download(url: str, dest: Path, cafile: str | None = None) -> Path:
    """An https:// URL into dest (certificate checked; `cafile` adds a trusted certificate)."""
    if not url.startswith("https://"):
        raise BundleError(f"{url}: only https:// addresses are downloaded")
    context = ssl.create_default_context(cafile=cafile)
    try:
        with urllib.request.urlopen(url, context=context, timeout=60) as response, open(dest, "wb") as f:
            shutil.copyfileobj(response, f, CHUNK)
    except (OSError, ValueError) as e:  # URLError, ssl errors and HTTP errors are OSErrors
        raise BundleError(f"{url}: download failed ({e})") from None
    return dest


def unbundle(source: str | Path, cache: Path, cafile: str | None = None) -> list[str]:
    """Check the bundle (a file or an https:// URL) and move its folders into the cache; returns
    the names of the folders added. BundleError, with nothing written, when it is refused."""
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".unbundle-") as tmp:
        staging = Path(tmp)
        path = Path(source)
        if str(source).startswith(("http://", "https://")):
            path = download(str(source), staging / "bundle.tar.gz", cafile)
        manifest = _extract_checked(path, staging / "folders")
        for name, entry in manifest["folders"].items():
            _check_folder(staging / "folders" / name, entry)
        added = []
        for name in manifest["folders"]:
            if (cache / name).exists():
                print(f"kept: {name} is in the cache already")
                continue
            os.replace(staging / "folders" / name, cache / name)
            added.append(name)
    return added


def _extract_checked(path: Path, into: Path) -> dict:
    """Read the manifest, then every member into `into`, checking each against it as it streams."""
    try:
        tar = tarfile.open(path, "r:gz")
    except (OSError, tarfile.TarError, EOFError) as e:
        raise BundleError(f"{path} is not a bundle (a gzip'd tar): {e}") from None
    with tar:
        try:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile() or first.size > 50 * CHUNK:
                raise BundleError(f"{path}: its first member is not {MANIFEST}")
            manifest = json.loads(tar.extractfile(first).read())
            if manifest.get("format") != FORMAT:
                raise BundleError(f"{path}: bundle format {manifest.get('format')!r}, this checkout reads {FORMAT}")
            expected = {f"{folder}/{fname}": info for folder, entry in manifest["folders"].items()
                        for fname, info in entry["files"].items()}
            bad = [n for n in expected if len(n.split("/")) != 2 or not all(map(_plain_name, n.split("/")))]
            if bad:
                raise BundleError(f"{path}: the manifest names {bad[0]!r}, not a folder/file of plain names")
            for member in iter(tar.next, None):
                _stream_member(tar, member, expected, into)
        except (tarfile.TarError, EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise BundleError(f"{path} is damaged or not a bundle ({type(e).__name__}: {e})") from None
    if expected:
        raise BundleError(f"{path}: {len(expected)} file(s) of the manifest are missing, e.g. {sorted(expected)[0]}")
    return manifest


def _plain_name(name: str) -> bool:
    """A file or folder name that stays where it is put: no separator, no '..', no leading dot."""
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".") and name == name.strip()


def _stream_member(tar: tarfile.TarFile, member: tarfile.TarInfo, expected: dict, into: Path) -> None:
    """One member: a plain file listed in the manifest (pop it), of its size and sha256."""
    info = expected.pop(member.name, None)
    if not member.isfile():
        raise BundleError(f"{member.name}: not a plain file (a link or a folder); bundles hold files only")
    if info is None or Path(member.name).suffix not in SUFFIXES:
        raise BundleError(f"{member.name}: not listed in the manifest (or listed twice)")
    if member.size != info["bytes"]:
        raise BundleError(f"{member.name}: {member.size} bytes, the manifest says {info['bytes']}")
    dest = into / member.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    h, src = hashlib.sha256(), tar.extractfile(member)
    with open(dest, "wb") as f:
        while chunk := src.read(CHUNK):
            h.update(chunk)
            f.write(chunk)
    if h.hexdigest() != info["sha256"]:
        raise BundleError(f"{member.name}: sha256 {h.hexdigest()[:12]}…, the manifest says {info['sha256'][:12]}… "
                          "(a corrupt or truncated bundle)")


def _check_folder(folder: Path, entry: dict) -> None:
    """Every checkpoint holds weights only, and the folder was made by today's code."""
    for pt in sorted(folder.glob("*.pt")):
        try:
            torch.load(pt, map_location="cpu", weights_only=True)
        except Exception as e:  # an UnpicklingError names what it would have run
            raise BundleError(f"{folder.name}/{pt.name} would load code, not weights only; refused "
                              f"({type(e).__name__})") from None
    stamp, today = _stamp(folder), today_stamp(folder)
    if stamp is None or stamp != entry.get("code") or stamp != today:
        changed = sorted(f for f in (today or {}) if (stamp or {}).get(f) != today.get(f))
        raise BundleError(f"{folder.name} was made by other code than this checkout's "
                          f"({', '.join(changed) or 'no stamp'} differ); check out the commit the bundle was "
                          "made with, or train it here")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cache", type=Path, default=CACHE_ROOT, help=f"the cache folder (default {CACHE_ROOT})")
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make", parents=[common], help="write a bundle of the cached runs")
    m.add_argument("--notebook", help="only the runs this notebook trains (e.g. 08)")
    m.add_argument("--out", type=Path, help="the bundle to write (default bundles/vae-notebooks[-NN]-<date>.tar.gz)")
    m.add_argument("--test-mode", action="store_true", help="the test-mode runs instead of the full ones")
    u = sub.add_parser("unbundle", parents=[common], help="check a bundle and fill the cache from it")
    u.add_argument("source", help="a bundle file, or an https:// address")
    u.add_argument("--cafile", help="a certificate to trust for the download (a self-hosted server)")
    args = p.parse_args(argv)
    try:
        if args.command == "make":
            tag = f"-{args.notebook}" if args.notebook else ""
            out = args.out or REPO / "bundles" / f"vae-notebooks{tag}-{time.strftime('%Y%m%d')}.tar.gz"
            manifest = make(args.cache, out, args.notebook, args.test_mode, " ".join(["bundle.py", *(argv or sys.argv[1:])]))
            print(f"{out}: {len(manifest['folders'])} folder(s), {out.stat().st_size / 1e6:.1f} MB")
        else:
            added = unbundle(args.source, args.cache, args.cafile)
            print(f"{len(added)} folder(s) added to {args.cache}")
    except BundleError as e:
        print(f"bundle: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

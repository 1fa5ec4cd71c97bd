"""scripts/bundle.py: a bundle of cached runs makes the round trip, and a bad one is refused with one
line and nothing written: a corrupt file, another code stamp, a checkpoint that would load code, a
link or a path out of its folder, an http:// address. Downloads are tested against a local HTTPS server."""

from __future__ import annotations

import http.server
import importlib.util
import io
import json
import os
import ssl
import subprocess
import tarfile
import threading
from functools import partial
from pathlib import Path

import pytest
import torch

import vaelib.cache as cache

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bundle", REPO / "scripts" / "bundle.py")
bundle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bundle)

NAMES = ("fnn-bce", "wae")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A cache with two test-mode runs, and a bundle of it."""
    root = tmp_path_factory.mktemp("bundle")
    runs = {n: cache.load_or_train(n, test=True, cache_root=root / "cache", progress=False) for n in NAMES}
    out = root / "series.tar.gz"
    manifest = bundle.make(root / "cache", out, test=True, command="test")
    return runs, out, manifest


def _members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path, "r:gz") as tar:
        return [(m, tar.extractfile(m).read() if m.isfile() else b"") for m in tar.getmembers()]


def _rewrite(src: Path, dest: Path, files: dict[str, bytes] = {}, manifest=None, extra=()) -> Path:
    """A copy of the bundle with some members' bytes replaced (and the manifest, and extra members)."""
    with tarfile.open(dest, "w:gz") as tar:
        for m, data in _members(src):
            if m.name == bundle.MANIFEST and manifest is not None:
                data = json.dumps(manifest(json.loads(data))).encode()
            data = files.get(m.name, data)
            m.size = len(data)
            tar.addfile(m, io.BytesIO(data))
        for m in extra:
            tar.addfile(m)
    return dest


def _refused(source, tmp_path: Path, match: str) -> None:
    into = tmp_path / "cache"
    with pytest.raises(bundle.BundleError, match=match) as e:
        bundle.unbundle(source, into)
    assert "\n" not in str(e.value)  # one line
    assert into.is_dir() and not list(into.iterdir())  # nothing written, the staging folder gone too


def test_a_bundle_makes_the_round_trip(made, tmp_path):
    runs, out, manifest = made
    assert manifest["mode"] == "test" and manifest["torch"] == torch.__version__
    folders = manifest["folders"]
    assert {e["run"] for e in folders.values()} == set(NAMES)
    for run in runs.values():
        entry = folders[run.folder.name]
        assert entry["code"] == run.code and {"model.pt", "code.json", "history.csv"} <= set(entry["files"])
        # the optimizer's resume state stays behind (loading does not need it; it doubles the weights)
        assert (run.folder / "checkpoint.pt").is_file() and "checkpoint.pt" not in entry["files"]
    assert sorted(bundle.unbundle(out, tmp_path / "cache")) == sorted(folders)
    for name, run in runs.items():
        again = cache.load_or_train(name, test=True, cache_root=tmp_path / "cache", progress=False)
        assert not again.trained_now and again.history.equals(run.history)
        assert all(torch.equal(a, b) for a, b in zip(again.model.state_dict().values(), run.model.state_dict().values()))
    assert bundle.unbundle(out, tmp_path / "cache") == []  # what is there is kept


def test_a_run_that_another_continues_keeps_its_resume_state():
    """12's 15-epoch runs resume from the 10-epoch runs' checkpoint.pt: those keep it in a bundle."""
    continued = {r.continues for r in bundle.RUNS.values() if r.continues}
    assert continued and bundle.CONTINUED == continued and "fnn-bce" not in continued


def test_a_bundle_of_one_notebook_holds_its_runs_only(made, tmp_path):
    manifest = bundle.make(made[1].parent / "cache", tmp_path / "09.tar.gz", notebook="09", test=True)
    assert [e["run"] for e in manifest["folders"].values()] == ["wae"]
    with pytest.raises(bundle.BundleError, match="nothing to bundle"):
        bundle.make(made[1].parent / "cache", tmp_path / "08.tar.gz", notebook="08", test=True)


def test_a_corrupt_or_truncated_file_is_refused(made, tmp_path):
    _, out, manifest = made
    name = next(f"{folder}/model.pt" for folder in manifest["folders"])
    original = dict((m.name, d) for m, d in _members(out))[name]
    flipped = bytes([original[0]]) + bytes([original[1] ^ 1]) + original[2:]
    _refused(_rewrite(out, tmp_path / "flip.tar.gz", {name: flipped}), tmp_path, "sha256")
    _refused(_rewrite(out, tmp_path / "short.tar.gz", {name: original[:-10]}), tmp_path, "bytes, the manifest says")
    (tmp_path / "cut.tar.gz").write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    _refused(tmp_path / "cut.tar.gz", tmp_path, "damaged or not a bundle")


def test_a_bundle_of_other_code_is_refused(made, tmp_path, monkeypatch):
    real = cache.fingerprint
    monkeypatch.setattr(cache, "fingerprint", lambda f: "changed" if f == "losses.py" else real(f))
    _refused(made[1], tmp_path, r"made by other code than this checkout's \(losses.py differ")


def test_a_checkpoint_that_would_load_code_is_refused(made, tmp_path):
    _, out, manifest = made
    folder = next(iter(manifest["folders"]))
    evil = io.BytesIO()
    torch.save({"model": os.system}, evil)  # unpickling it would import os.system
    data = evil.getvalue()

    def listed(m):
        m["folders"][folder]["files"]["model.pt"] = {"bytes": len(data), "sha256": bundle.hashlib.sha256(data).hexdigest()}
        return m

    _refused(_rewrite(out, tmp_path / "evil.tar.gz", {f"{folder}/model.pt": data}, listed), tmp_path,
             "would load code")


def test_links_and_paths_out_of_a_folder_are_refused(made, tmp_path):
    _, out, manifest = made
    folder = next(iter(manifest["folders"]))
    link = tarfile.TarInfo(f"{folder}/extra.json")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"

    def listed(m):
        m["folders"][folder]["files"]["extra.json"] = {"bytes": 0, "sha256": ""}
        return m

    _refused(_rewrite(out, tmp_path / "link.tar.gz", manifest=listed, extra=[link]), tmp_path, "not a plain file")
    _refused(_rewrite(out, tmp_path / "up.tar.gz", manifest=lambda m: {**m, "folders": {"..": m["folders"][folder]}}),
             tmp_path, "not a folder/file of plain names")
    stray = tarfile.TarInfo(f"{folder}/unlisted.json")
    _refused(_rewrite(out, tmp_path / "stray.tar.gz", extra=[stray]), tmp_path, "not listed in the manifest")


@pytest.fixture
def https_server(made, tmp_path):
    """The bundle's folder served over HTTPS on localhost, with a self-signed certificate."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(made[1].parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("localhost", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://localhost:{server.server_address[1]}", str(cert)
    server.shutdown()


def test_a_bundle_downloads_over_https_only(made, https_server, tmp_path):
    base, cert = https_server
    url = f"{base}/{made[1].name}"
    assert len(bundle.unbundle(url, tmp_path / "cache", cafile=cert)) == len(made[2]["folders"])
    with pytest.raises(bundle.BundleError, match="download failed"):  # a certificate nobody vouched for
        bundle.unbundle(url, tmp_path / "other")
    with pytest.raises(bundle.BundleError, match="only https:// addresses"):
        bundle.unbundle(url.replace("https://", "http://"), tmp_path / "other")

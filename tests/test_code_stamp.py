"""The cache knows its code: a run folder carries the stamp of the code that trained it, a stale
folder is trained again (never silently reused), results derived from a run carry the stamp too,
and a change to versioned code cannot go unnoticed."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import torch

import vaelib.cache as cache
from vaelib.checkpoints import run_files
from vaelib.eval.likelihood import canonical_nll
from vaelib.models import MODELS

REPO = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fingerprints = _script("code_fingerprints")


def test_every_versioned_file_is_recorded_with_its_version():
    """Fails when a file's code changed and its version did not: bump it (the numbers change, its
    cached runs retrain) or record that they do not (python scripts/code_fingerprints.py --record)."""
    assert fingerprints.differences(cache.CODE_VERSIONS) == []


def test_a_fingerprint_ignores_docstrings_and_comments_and_sees_code(tmp_path):
    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    a.write_text('"""doc"""\ndef f(x):\n    """what f is"""\n    return x + 1\n')
    b.write_text('"""other doc"""\n# a comment\ndef f(x):\n    return x + 1  # why\n')
    c.write_text('"""doc"""\ndef f(x):\n    """what f is"""\n    return x + 2\n')
    assert fingerprints.fingerprint(a) == fingerprints.fingerprint(b) != fingerprints.fingerprint(c)


def test_every_model_family_names_the_files_it_is_computed_by():
    """Each family's stamp covers its own module and every vaelib.models module that one imports."""
    assert set(cache.FAMILY_FILES) == set(MODELS)
    assert set(cache.SHARED_FILES) <= set(cache.CODE_VERSIONS)
    models = {p.relative_to(REPO / "vaelib").as_posix() for p in (REPO / "vaelib" / "models").glob("[!_]*.py")}
    assert models <= set(cache.CODE_VERSIONS)
    for kind, cls in MODELS.items():
        files = {*cache.SHARED_FILES, *cache.FAMILY_FILES[kind]}
        own = cls.__module__.removeprefix("vaelib.").replace(".", "/") + ".py"
        tree = ast.parse((REPO / "vaelib" / own).read_text())
        used = {n.module.removeprefix("vaelib.").replace(".", "/") + ".py" for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("vaelib.models.")}
        assert {own, *used} <= files, (kind, {own, *used} - files)


def test_a_stale_run_is_trained_again_and_a_current_one_is_loaded(tmp_path, monkeypatch, capsys):
    first = cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path, progress=False)
    assert first.trained_now
    assert json.loads((first.folder / "code.json").read_text()) == cache.code_stamp("vae")
    assert not cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path, progress=False).trained_now
    # another family's code changed: this run's numbers did not, it still loads
    monkeypatch.setitem(cache.CODE_VERSIONS, "models/wae.py", 2)
    assert not cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path, progress=False).trained_now
    # the VAE's own code changed: trained again, in its folder, saying why
    monkeypatch.setitem(cache.CODE_VERSIONS, "models/vae.py", 2)
    capsys.readouterr()
    again = cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path, progress=False)
    assert again.trained_now and again.folder == first.folder
    assert "models/vae.py v1 -> v2" in capsys.readouterr().out
    assert json.loads((again.folder / "code.json").read_text())["models/vae.py"] == 2
    # a folder with no stamp (an older vaelib's) is trained again too
    (again.folder / "code.json").unlink()
    assert cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path, progress=False).trained_now


def test_a_derived_nll_follows_its_code_and_every_file_of_a_run_is_known(tmp_path, monkeypatch):
    import vaelib.eval.likelihood as likelihood

    run = cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path, progress=False)
    scored = []
    real = likelihood.per_image_nll
    monkeypatch.setattr(likelihood, "per_image_nll", lambda *a, **k: scored.append(1) or real(*a, **k))
    first = canonical_nll(run, test=True)
    assert torch.equal(canonical_nll(run, test=True).per_image, first.per_image) and len(scored) == 1
    monkeypatch.setitem(cache.CODE_VERSIONS, "eval/likelihood.py", 2)  # the estimator changed: computed again
    canonical_nll(run, test=True)
    assert len(scored) == 2
    assert sorted(run.folder.iterdir()) == sorted(run_files(run.folder))  # nothing the code does not know

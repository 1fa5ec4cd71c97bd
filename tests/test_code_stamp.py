"""The cache knows its code: a run folder carries the stamp of the code that trained it (each file's
fingerprint), a stale folder is trained again (never silently reused), and results derived from a
run carry the stamp too."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

import vaelib.cache as cache
from vaelib.checkpoints import run_files
from vaelib.eval.likelihood import canonical_nll
from vaelib.models import MODELS

REPO = Path(__file__).resolve().parents[1]


def _changed(real, *files):
    """`cache.fingerprint` as it would be after a change to the code of `files`."""
    return lambda f: "changed" if f in files else real(f)


def test_a_fingerprint_ignores_docstrings_and_comments_and_sees_code(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text('"""doc"""\ndef f(x):\n    """what f is"""\n    return x + 1\n')
    (tmp_path / "b.py").write_text('"""other doc"""\n# a comment\ndef f(x):\n    return x + 1  # why\n')
    (tmp_path / "c.py").write_text('"""doc"""\ndef f(x):\n    """what f is"""\n    return x + 2\n')
    monkeypatch.setattr(cache, "PACKAGE", tmp_path)
    fp = cache.fingerprint.__wrapped__  # not the cached one
    assert fp("a.py") == fp("b.py") != fp("c.py")


def test_every_model_family_names_the_files_it_is_computed_by():
    """Each family's stamp covers its own module and every vaelib.models module that one imports."""
    assert set(cache.FAMILY_FILES) == set(MODELS)
    models = {p.relative_to(REPO / "vaelib").as_posix() for p in (REPO / "vaelib" / "models").glob("[!_]*.py")}
    assert models <= {*cache.SHARED_FILES, *(f for files in cache.FAMILY_FILES.values() for f in files)}
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
    real = cache.fingerprint
    # another family's code changed: this run's numbers did not, it still loads
    monkeypatch.setattr(cache, "fingerprint", _changed(real, "models/wae.py"))
    assert not cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path, progress=False).trained_now
    # the VAE's own code changed: trained again, in its folder, saying why
    monkeypatch.setattr(cache, "fingerprint", _changed(real, "models/vae.py"))
    capsys.readouterr()
    again = cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path, progress=False)
    assert again.trained_now and again.folder == first.folder
    assert "(models/vae.py changed); training it again" in capsys.readouterr().out
    assert json.loads((again.folder / "code.json").read_text())["models/vae.py"] == "changed"
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
    monkeypatch.setattr(likelihood, "fingerprint", _changed(cache.fingerprint, "eval/likelihood.py"))  # the estimator changed
    canonical_nll(run, test=True)
    assert len(scored) == 2
    assert sorted(run.folder.iterdir()) == sorted(run_files(run.folder))  # nothing the code does not know


def test_a_folder_holding_another_run_or_damaged_results_is_refused_in_one_line(tmp_path):
    """A 1-epoch run copied into the folder of another configuration is not served as that run; a
    damaged history or metrics file names itself."""
    import pytest

    from vaelib.checkpoints import CheckpointError

    short = cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path / "a", progress=False)
    other = cache.run_folder("fnn-mse", test=True, cache_root=tmp_path / "a")
    for f in run_files(short.folder):
        other.mkdir(parents=True, exist_ok=True)
        (other / f.name).write_bytes(f.read_bytes())
    (other / "code.json").write_text(json.dumps(cache.code_stamp("vae")))
    with pytest.raises(CheckpointError, match="holds another configuration than the run asked for"):
        cache.load_or_train("fnn-mse", test=True, cache_root=tmp_path / "a", progress=False)
    for name, damage in (("history.csv", ""), ("metrics.json", "{half")):
        (short.folder / name).write_text(damage)
        with pytest.raises(CheckpointError, match=f"{name} is damaged .*delete its folder") as e:
            cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path / "a", progress=False)
        assert "\n" not in str(e.value)
        (short.folder / name).write_text(short.history.to_csv(index=False) if name == "history.csv"
                                         else json.dumps(short.metrics))


def test_asking_for_a_run_another_process_is_training_waits_for_it_then_loads_it(tmp_path):
    """Two notebooks (or two test workers) asking for one run: the second waits while the first
    holds the folder, then loads what it wrote instead of being refused or training it twice."""
    import fcntl
    import os
    import threading
    import time

    first = cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path, progress=False)
    fd = os.open(first.folder, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # what the first process holds while it trains
    done = {}
    waiter = threading.Thread(target=lambda: done.update(
        run=cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path, progress=False), at=time.monotonic()))
    waiter.start()
    time.sleep(2.0)
    released = time.monotonic()
    os.close(fd)
    waiter.join(timeout=60)
    assert done["at"] >= released, "it loaded the run while another process still held its folder"
    assert not done["run"].trained_now and done["run"].folder == first.folder


def test_a_derived_result_is_computed_once_per_code_and_arguments(tmp_path, monkeypatch):
    """cache.derived keeps fn(run.model, ...) in the run's folder: a second call loads it; other
    arguments, or other code of fn's file or of the run's, compute it again."""
    from vaelib.metrics import per_image_nll

    run = cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path, progress=False)
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3), generator=torch.Generator().manual_seed(0))
    first = cache.derived(per_image_nll, run, x, 5)
    assert torch.equal(first, per_image_nll(run.model, x, 5))
    (stored,) = run.folder.glob("derived-per_image_nll-*.pt")
    assert stored in run_files(run.folder)  # listed, copied and cleaned with the run
    planted = torch.load(stored, weights_only=True)
    torch.save({**planted, "value": first + 1}, stored)  # what a second call returns, if it loads
    assert torch.equal(cache.derived(per_image_nll, run, x, 5), first + 1)
    assert torch.equal(cache.derived(per_image_nll, run, x, 6), per_image_nll(run.model, x, 6))  # other arguments
    monkeypatch.setattr(cache, "fingerprint", _changed(cache.fingerprint, "metrics.py"))  # fn's own file changed
    assert torch.equal(cache.derived(per_image_nll, run, x, 5), first)
    stored.write_bytes(b"damaged")
    assert torch.equal(cache.derived(per_image_nll, run, x, 5), first)
    with pytest.raises(ValueError, match="vaelib's functions"):
        cache.derived(lambda model: 0, run)

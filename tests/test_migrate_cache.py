"""scripts/migrate_cache.py: a cache of the vaelib before code stamps loads without training again."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import torch

import vaelib.cache as cache
from vaelib.eval.likelihood import canonical_nll
from vaelib.runs import get_run

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("migrate_cache", REPO / "scripts" / "migrate_cache.py")
migrate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(migrate)


def _as_before_stamps(run) -> Path:
    """Rewrite a run folder as the vaelib before stamps left it: its old key, no code.json, a bare
    NLL tensor, and (for a WAE) the penalty logged as `kl`."""
    folder = run.folder
    (folder / "code.json").unlink()
    for path in folder.glob("nll-*.pt"):
        torch.save(torch.load(path, weights_only=True)["nll"], path)
    if run.model_config.kind == "wae":
        old = {"train_penalty": "train_kl", "val_penalty": "val_kl"}
        pd.read_csv(folder / "history.csv").rename(columns=old).to_csv(folder / "history.csv", index=False)
        ckpt = torch.load(folder / "checkpoint.pt", weights_only=True)
        ckpt["history"] = [{old.get(k, k): v for k, v in row.items()} for row in ckpt["history"]]
        torch.save(ckpt, folder / "checkpoint.pt")
    key = cache.config_key(run.model_config, run.train_config)
    return folder.rename(folder.with_name(folder.name.replace(key, migrate.old_key(run.model_config, run.train_config))))


def test_an_unstamped_cache_is_migrated_and_loads_without_training(tmp_path):
    runs = {name: cache.load_or_train(name, test=True, cache_root=tmp_path, progress=False) for name in ("wae", "fnn-bce")}
    nll = canonical_nll(runs["fnn-bce"], test=True)
    old = {name: _as_before_stamps(run) for name, run in runs.items()}
    assert cache.config_key(*get_run("fnn-bce").configs(test=True)) not in old["fnn-bce"].name  # the key changed
    todo = migrate.plan(tmp_path)
    assert sorted(o for o, _, _ in todo) == sorted(old.values())
    for o, new, kind in todo:
        migrate.migrate_folder(o, new, kind)
    for name, run in runs.items():
        again = cache.load_or_train(name, test=True, cache_root=tmp_path, progress=False)
        assert not again.trained_now and again.folder == run.folder
        assert again.history.drop(columns=["seconds", "train_seconds"]).equals(
            run.history.drop(columns=["seconds", "train_seconds"]))
    assert torch.equal(canonical_nll(runs["fnn-bce"], test=True).per_image, nll.per_image)
    assert migrate.plan(tmp_path) == []  # stamped folders are left alone


def test_restamping_keeps_a_cache_whose_code_changed_without_changing_its_numbers(tmp_path, monkeypatch):
    run = cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path, progress=False)
    real = cache.fingerprint
    monkeypatch.setattr(cache, "fingerprint", lambda f: "refactored" if f == "train.py" else real(f))
    migrate.stamp_folder(run.folder, "vae")  # (migrate.code_stamp reads cache.fingerprint too)
    assert not cache.load_or_train("fnn-bce", test=True, cache_root=tmp_path, progress=False).trained_now

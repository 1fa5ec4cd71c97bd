"""Keep a cache without training it again: bring one from before code stamps over, or restamp one.

    python scripts/migrate_cache.py                 # checkpoints/ (or VAELIB_CACHE): say what would change
    python scripts/migrate_cache.py --apply         # do it
    python scripts/migrate_cache.py --restamp       # stamp every stamped folder with today's code

`--restamp` says that a change to vaelib left every cached number as it was (a refactor): check
that first, e.g. by training test-mode runs of every model family before and after the change and
comparing their histories, metrics, NLLs and weights. Without it, the cache trains again every run
whose code changed.

Use it once, on a cache trained by vaelib as of commit ef7d70d (the last one before stamps), whose
code computes what today's does: the re-housing that introduced the stamps was checked to give
identical histories, metrics, NLLs and weights on test-mode runs of every model family. For each
run of the registry, in full and in test mode, whose folder has the key of that vaelib (it left
TrainConfig.adam_eps out of the key at its default):

- the folder is renamed to today's key (which hashes every TrainConfig field);
- a history written before the loss terms had their own names (a WAE's or a VQ-VAE's `train_kl`)
  is rewritten in today's columns, in history.csv and in the checkpoint;
- each canonical NLL file (a bare tensor then) is stored with its stamp;
- code.json records today's stamp (vaelib.cache.code_stamp), so the cache loads the run.

A folder that already has a code.json is left alone. Anything else in the cache is left as it is,
and will be trained again when asked for.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vaelib.cache import CACHE_ROOT, code_stamp, config_key, fingerprint  # noqa: E402
from vaelib.checkpoints import CHECKPOINT  # noqa: E402
from vaelib.models import MODELS  # noqa: E402
from vaelib.runs import RUNS  # noqa: E402
from vaelib.runtime import atomic_save, atomic_write_csv, atomic_write_text  # noqa: E402
from vaelib.train import history_columns  # noqa: E402

RENAMED_TERM = {"wae": "penalty", "vq-vae": "code_nats"}  # what a family's `kl` columns were


def old_key(model_cfg, train_cfg) -> str:
    """The key of a folder written before the stamps: adam_eps left out at its default 1e-8."""
    train = {k: v for k, v in train_cfg.to_dict().items() if not (k == "adam_eps" and v == 1e-8)}
    blob = json.dumps({"model": model_cfg.to_dict(), "train": train}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def upgrade_history(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """A history written before the terms had their own names, in today's columns. Then a WAE's
    penalty and a VQ-VAE's -log p(codes) were logged as `kl`, and the VQ-VAE's commitment was in
    the loss only: it comes back as (loss - recon - code_nats) / β_c."""
    if "train_kl" not in frame or kind not in RENAMED_TERM:
        return frame
    frame = frame.copy()
    for split in ("train", "val"):
        frame = frame.rename(columns={f"{split}_kl": f"{split}_{RENAMED_TERM[kind]}"})
        if kind == "vq-vae":
            beta_c = MODELS["vq-vae"].SETTINGS["commitment"]
            frame[f"{split}_commitment"] = (frame[f"{split}_loss"] - frame[f"{split}_recon"]
                                            - frame[f"{split}_code_nats"]) / beta_c
    return frame[history_columns(kind)]


def migrate_folder(old: Path, new: Path, kind: str) -> None:
    """Rename the folder, upgrade its history (file and checkpoint), stamp its NLLs and itself."""
    old.rename(new)
    if (new / "history.csv").exists():
        atomic_write_csv(upgrade_history(pd.read_csv(new / "history.csv"), kind), new / "history.csv")
    if (new / CHECKPOINT).exists():
        ckpt = torch.load(new / CHECKPOINT, weights_only=True)
        if ckpt.get("history"):
            ckpt["history"] = upgrade_history(pd.DataFrame(ckpt["history"]), kind).to_dict("records")
            atomic_save(ckpt, new / CHECKPOINT)
    stamp_folder(new, kind)


def stamp_folder(folder: Path, kind: str) -> None:
    """Stamp a folder and its NLL files with today's code (vaelib.cache.code_stamp)."""
    stamp = code_stamp(kind)
    for path in folder.glob("nll-*.pt"):
        stored = torch.load(path, weights_only=True)
        values = stored["nll"] if isinstance(stored, dict) else stored
        atomic_save({"nll": values, "code": {**stamp, "eval/likelihood.py": fingerprint("eval/likelihood.py")}}, path)
    atomic_write_text(json.dumps(stamp, indent=2) + "\n", folder / "code.json")


def stamped(root: Path) -> list[tuple[Path, str]]:
    """(folder, model kind) of every stamped run folder in the cache."""
    return [(p.parent, json.loads((p.parent / "config.json").read_text())["model"]["kind"])
            for p in sorted(root.glob("*/code.json")) if (p.parent / "config.json").exists()]


def plan(root: Path) -> list[tuple[Path, Path, str]]:
    """(old folder, new folder, model kind) of every registry run in the cache under its old key."""
    out, seen = [], set()
    for name, run in RUNS.items():
        for test in (False, True):
            model_cfg, train_cfg = run.configs(test=test)
            key = old_key(model_cfg, train_cfg)
            for old in sorted(root.glob(f"*-{key}")):
                if old in seen or (old / "code.json").exists() or not old.is_dir():
                    continue
                seen.add(old)
                out.append((old, old.with_name(f"{old.name[: -len(key)]}{config_key(model_cfg, train_cfg)}"),
                            model_cfg.kind))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=CACHE_ROOT, help=f"the cache folder (default {CACHE_ROOT})")
    p.add_argument("--apply", action="store_true", help="change the folders (default: only say what would change)")
    p.add_argument("--restamp", action="store_true", help="stamp every stamped folder with today's code (only "
                                                          "when a change left the numbers as they were)")
    args = p.parse_args()
    if args.restamp:
        for folder, kind in stamped(args.cache):
            stamp_folder(folder, kind)
        print(f"{len(stamped(args.cache))} folder(s) stamped with today's code")
        return 0
    todo = plan(args.cache)
    for old, new, kind in todo:
        print(f"{old.name} -> {new.name} ({kind})")
        if args.apply:
            migrate_folder(old, new, kind)
    print(f"{len(todo)} folder(s) {'migrated' if args.apply else 'to migrate (--apply to do it)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line: `vaelib presets`, `vaelib train`, `vaelib evaluate`, `vaelib student`, `vaelib grade`.

    vaelib train --preset pytorch-example --out runs/pytorch-example
    vaelib evaluate runs/pytorch-example --iwae-k 5000
    vaelib student --out student                        # student versions of the notebooks
    vaelib grade student/02_reparameterization.ipynb    # autograde one student's notebook

Bad arguments give one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

EXIT_USAGE = 2


class UsageError(Exception):
    """A bad argument: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + error; we want one line
        raise UsageError(message)


def _nonneg_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def _pos_int(s: str) -> int:
    v = _nonneg_int(s)
    if v == 0:
        raise argparse.ArgumentTypeError("must be >= 1")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vaelib", description="Train and evaluate the VAEs of the vae-notebooks series.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("presets", help="list the named experiments")

    t = sub.add_parser("train", help="train a preset and write its run folder")
    t.add_argument("--preset", required=True, help="experiment name (see `vaelib presets`)")
    t.add_argument("--out", required=True, type=Path, help="run folder to write (resumes if it holds a checkpoint)")
    t.add_argument("--epochs", type=_nonneg_int, help="override the preset's number of epochs")
    t.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: CUDA, then MPS, then CPU)")
    t.add_argument("--subset", type=_pos_int, help="train on only this many images per split (quick trials)")
    t.add_argument("--seed", type=_nonneg_int, help="override the preset's seed")
    t.add_argument("--no-progress", action="store_true", help="no progress bar (one line per epoch)")
    t.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")

    e = sub.add_parser("evaluate", help="recompute the test metrics of a run folder")
    e.add_argument("run", type=Path, help="run folder written by `vaelib train`")
    e.add_argument("--iwae-k", type=_nonneg_int, default=5000, help="importance samples (default 5000; 0 skips)")
    e.add_argument("--iwae-n", type=_pos_int, help="score IWAE on the first N test images (default: all)")
    e.add_argument("--device", help="cpu, cuda, mps (default: CUDA, then MPS, then CPU)")

    s = sub.add_parser("student", help="write the student versions of the notebooks (vaelib.course.assignments)")
    s.add_argument("--out", type=Path, default=Path("student"), help="folder to write them to (default: student/)")
    s.add_argument("notebooks", nargs="*", type=Path,
                   help="solution notebooks (.py or .ipynb; default: every notebooks/NN_topic.py)")

    g = sub.add_parser("grade", help="autograde the exercises of a student notebook (vaelib.course.grader)")
    g.add_argument("notebook", type=Path, help="the student's notebook (.ipynb)")
    g.add_argument("--json", type=Path, help="write the JSON report here (default: a new temporary folder)")
    g.add_argument("--seed", type=_nonneg_int, help="seed of the check inputs (default: the grader's own)")
    g.add_argument("--timeout", type=_pos_int, default=300, help="seconds for the whole run (default 300)")
    return p


def cmd_presets() -> int:
    from vaelib.presets import PRESETS

    width = max(len(n) for n in PRESETS)
    for name, p in PRESETS.items():
        print(f"{name:<{width}}  {p.description}  [{p.source}]")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from vaelib.plots import reconstruction_pairs, save_grid
    from vaelib.presets import PRESETS
    from vaelib.train import train
    from vaelib import data as vdata

    if args.preset not in PRESETS:
        raise UsageError(f"unknown preset {args.preset!r}; known: {', '.join(PRESETS)}")
    preset = PRESETS[args.preset]
    tcfg = preset.train
    changes = {k: v for k, v in (("epochs", args.epochs), ("subset", args.subset), ("seed", args.seed)) if v is not None}
    tcfg = replace(tcfg, **changes)
    result = train(preset.model, tcfg, args.out, device=args.device, progress=not args.no_progress,
                   resume=not args.restart)
    model = result.model
    test = vdata.load_mnist(dataset=tcfg.dataset, val_size=tcfg.val_size, subset=tcfg.subset).test
    device = next(model.parameters()).device
    x = vdata.to_unit(test.images[:8]).to(device)
    save_grid(reconstruction_pairs(x, model.reconstruct(x)), args.out / "reconstructions.png", nrow=8)
    save_grid(model.sample(64, generator=torch.Generator().manual_seed(0)), args.out / "samples.png", nrow=8)
    print(json.dumps(result.metrics, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from vaelib import data as vdata
    from vaelib.metrics import evaluate
    from vaelib.train import CHECKPOINT, TrainConfig, load_checkpoint, load_model, pick_device, atomic_write_text

    if not args.run.is_dir():
        raise UsageError(f"no run folder at {args.run}")
    if not (args.run / "model.pt").exists() and not (args.run / CHECKPOINT).exists():
        raise UsageError(f"{args.run} holds no model.pt or {CHECKPOINT}: train it first")
    path = args.run / "model.pt" if (args.run / "model.pt").exists() else args.run / CHECKPOINT
    device = pick_device(args.device)
    model = load_model(path, device)
    tcfg = TrainConfig.from_dict(load_checkpoint(path)["train_config"])
    test = vdata.load_mnist(dataset=tcfg.dataset, val_size=tcfg.val_size, subset=tcfg.subset).test
    metrics = evaluate(model, test, eval_targets="fixed" if tcfg.targets == "dynamic" else "grey",
                       iwae_k=args.iwae_k, iwae_n=args.iwae_n, device=device)
    atomic_write_text(json.dumps(metrics, indent=2) + "\n", args.run / "metrics_full.json")
    print(json.dumps(metrics, indent=2))
    return 0


def cmd_student(args: argparse.Namespace) -> int:
    from vaelib.course.assignments import MarkerError, series, write_student_versions

    sources = args.notebooks or series()
    for src in sources:
        if not src.is_file() or src.suffix not in (".py", ".ipynb"):
            raise UsageError(f"no solution notebook at {src} (a .py or .ipynb)")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"{args.out} exists and is not a folder")
    try:
        written = write_student_versions(args.out, sources)
    except MarkerError as exc:
        raise UsageError(str(exc)) from None
    for path in written:
        print(path)
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from vaelib.course.assignments import MarkerError
    from vaelib.course.grader import GradingError, format_report, grade

    if args.json is not None and (args.json.is_dir() or not args.json.parent.is_dir()):
        raise UsageError(f"cannot write the JSON report to {args.json}: give a file in an existing folder")
    try:
        report = grade(args.notebook, args.json, seed=args.seed, timeout=args.timeout)
    except (GradingError, MarkerError) as exc:
        raise UsageError(str(exc)) from None
    print(format_report(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "presets":
            return cmd_presets()
        if args.command == "train":
            return cmd_train(args)
        if args.command == "student":
            return cmd_student(args)
        if args.command == "grade":
            return cmd_grade(args)
        return cmd_evaluate(args)
    except UsageError as exc:
        print(f"vaelib: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vaelib: interrupted; run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Command line: `vaelib presets`, `vaelib runs`, `vaelib train`, `vaelib evaluate`.

    vaelib train --preset pytorch-example --out runs/pytorch-example
    vaelib train --run gaussian-sigma-0.1 --out runs/sigma-0.1   # a run of the registry (vaelib.runs)
    vaelib evaluate runs/pytorch-example --iwae-k 5000

Errors give one line on stderr, `vaelib: error: ...`, never a traceback (unless VAELIB_DEBUG=1):
exit status 2 for a bad argument, 1 for anything else, 130 for Ctrl-C. vaecourse's command line
reuses this machinery (`Parser`, `UsageError`, the argument types, `one_line`, `run_main`).
Torch is imported only after the arguments are checked, so a typo fails in a fraction of a second.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Callable

from vaelib.runs import PRESETS, RUNS

__all__ = ["main", "run_main", "build_parser", "Parser", "CLIError", "UsageError", "EXIT_USAGE", "EXIT_FAILURE",
           "EXIT_INTERRUPTED", "nonneg_int", "pos_int", "one_line", "cmd_list", "cmd_train", "cmd_evaluate"]

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130

DEVICE_PATTERN = re.compile(r"cpu|mps|cuda(:\d+)?")
MAX_SEED = 2**64 - 1  # torch.manual_seed takes 64 bits


class CLIError(Exception):
    """An expected failure (a damaged file, a full disk): reported in one line, exit status 1."""

    status = EXIT_FAILURE


class UsageError(CLIError):
    """A bad argument: reported in one line, exit status 2."""

    status = EXIT_USAGE


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: a bad argument raises UsageError instead of printing the usage."""

    def error(self, message: str) -> None:
        raise UsageError(message)


def nonneg_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def pos_int(s: str) -> int:
    v = nonneg_int(s)
    if v == 0:
        raise argparse.ArgumentTypeError("must be >= 1")
    return v


def _seed(s: str) -> int:
    v = nonneg_int(s)
    if v > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be at most 2**64 - 1 = {MAX_SEED}, got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="vaelib", description="Train and evaluate the VAEs of the vae-notebooks series.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    sub.add_parser("presets", help="list the named experiments")
    sub.add_parser("runs", help="list the named runs: every preset, and the sweeps the notebooks train")

    t = sub.add_parser("train", help="train a preset or a run and write its run folder")
    which = t.add_mutually_exclusive_group(required=True)
    which.add_argument("--preset", help="experiment name (see `vaelib presets`)")
    which.add_argument("--run", help="run name (see `vaelib runs`): a preset with the changes a notebook trains")
    t.add_argument("--out", required=True, type=Path, help="run folder to write (resumes if it holds a checkpoint)")
    t.add_argument("--epochs", type=nonneg_int, help="override the preset's number of epochs")
    t.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: CUDA, then MPS, then CPU)")
    t.add_argument("--subset", type=pos_int, help="train on only this many images per split (quick trials)")
    t.add_argument("--seed", type=_seed, help="override the preset's seed (0 to 2**64 - 1)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar (one line per epoch)")
    t.add_argument("--restart", action="store_true",
                   help="start over: delete the folder's checkpoint (and the old run's files) first")

    e = sub.add_parser("evaluate", help="recompute the test metrics of a run folder")
    e.add_argument("run", type=Path, help="run folder written by `vaelib train`")
    e.add_argument("--iwae-k", type=nonneg_int, default=5000, help="importance samples (default 5000; 0 skips)")
    e.add_argument("--iwae-n", type=pos_int, help="score IWAE on the first N test images (default: all)")
    e.add_argument("--device", help="cpu, cuda, mps (default: CUDA, then MPS, then CPU)")
    return p


def cmd_list(what: str) -> int:
    """`vaelib presets` (name, description, source document) or `vaelib runs` (name, notebook, description)."""
    rows = ([(n, f"{p.description}  [{p.source}]") for n, p in PRESETS.items()] if what == "presets"
            else [(n, f"notebook {r.notebook}  {r.description}") for n, r in RUNS.items()])
    width = max(len(n) for n, _ in rows)
    print("\n".join(f"{name:<{width}}  {text}" for name, text in rows))
    return 0


# ----------------------------------------------------------------------------- argument checks


def _check_device_name(name: str | None) -> None:
    """Before torch is imported: is it a device this command line knows?"""
    if name is not None and not DEVICE_PATTERN.fullmatch(name):
        raise UsageError(f"unknown --device {name!r}; expected cpu, cuda, cuda:N or mps")


def _check_device_available(name: str | None) -> None:
    """After torch is imported: does this machine have it?"""
    import torch

    kind, _, index = (name or "cpu").partition(":")
    mps = getattr(torch.backends, "mps", None)
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": mps is not None and mps.is_available()}
    if not available[kind]:
        raise UsageError(f"--device {name}: {kind.upper()} is not available on this machine; use --device cpu")
    if kind == "cuda" and int(index or 0) >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def _check_out_writable(out: Path) -> None:
    """Create the run folder and write a probe file in it: a read-only place fails before the data load."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".vaelib-write-check.")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise UsageError(f"cannot write to --out {out}: {e.strerror or e}") from None


# ----------------------------------------------------------------------------- subcommands


def cmd_train(args: argparse.Namespace) -> int:
    if args.preset is not None and args.preset not in PRESETS:  # before the slow imports below
        raise UsageError(f"unknown preset {args.preset!r}; known: {', '.join(PRESETS)}")
    if args.run is not None and args.run not in RUNS:
        raise UsageError(f"unknown run {args.run!r}; known: {', '.join(RUNS)}")
    _check_device_name(args.device)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a folder")

    import torch

    from vaelib import data as vdata
    from vaelib.eval.plots import reconstruction_pairs, save_grid
    from vaelib.checkpoints import CheckpointError, FolderBusyError
    from vaelib.runtime import atomic_path
    from vaelib.train import train

    _check_device_available(args.device)
    _check_out_writable(args.out)
    mcfg, tcfg = RUNS[args.run or args.preset].configs()  # every preset is also a run of its name
    overrides = {"epochs": args.epochs, "subset": args.subset, "seed": args.seed}
    tcfg = replace(tcfg, **{k: v for k, v in overrides.items() if v is not None})
    try:
        result = train(mcfg, tcfg, args.out, device=args.device, progress=not args.no_progress,
                       resume=not args.restart)
    except FolderBusyError as exc:
        raise CLIError(str(exc)) from None
    except CheckpointError as exc:  # worded with this command line's flags
        raise CLIError(f"{exc.path} {exc.problem}; run again with --restart to delete it and start over, "
                       "or pick another --out") from None
    model = result.model
    test = vdata.load_mnist(dataset=tcfg.dataset, val_size=tcfg.val_size, subset=tcfg.subset).test
    device = next(model.parameters()).device
    x = vdata.to_unit(test.images[:8]).to(device)
    with atomic_path(args.out / "reconstructions.png", suffix=".tmp.png") as tmp:
        save_grid(reconstruction_pairs(x, model.reconstruct(x)), tmp, nrow=8)
    with atomic_path(args.out / "samples.png", suffix=".tmp.png") as tmp:
        save_grid(model.sample(64, generator=torch.Generator().manual_seed(0)), tmp, nrow=8)
    print(json.dumps(result.metrics, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    _check_device_name(args.device)
    if not args.run.is_dir():
        raise UsageError(f"no run folder at {args.run}")
    if not (args.run / "model.pt").exists() and not (args.run / "checkpoint.pt").exists():
        raise UsageError(f"{args.run} holds no model.pt or checkpoint.pt: train it first")

    from vaelib import data as vdata
    from vaelib.metrics import evaluate
    from vaelib.checkpoints import CHECKPOINT, CheckpointError, load_checkpoint, load_model
    from vaelib.runtime import atomic_write_text, pick_device
    from vaelib.train import TrainConfig

    _check_device_available(args.device)
    path = args.run / "model.pt" if (args.run / "model.pt").exists() else args.run / CHECKPOINT
    device = pick_device(args.device)
    try:
        model = load_model(path, device)
        tcfg = TrainConfig.from_dict(load_checkpoint(path)["train_config"])
    except (KeyError, TypeError, ValueError) as exc:  # CheckpointError is a ValueError
        what = (f"{exc.path} {exc.problem}" if isinstance(exc, CheckpointError)
                else f"{path} is not a vaelib model ({type(exc).__name__}: {one_line(str(exc))})")
        raise CLIError(f"{what}; train the run again (vaelib train --restart --out {args.run} ...)") from None
    test = vdata.load_mnist(dataset=tcfg.dataset, val_size=tcfg.val_size, subset=tcfg.subset).test
    metrics = evaluate(model, test, eval_targets=vdata.eval_targets_for(tcfg.targets),
                       iwae_k=args.iwae_k, iwae_n=args.iwae_n, device=device)
    atomic_write_text(json.dumps(metrics, indent=2) + "\n", args.run / "metrics_full.json")
    print(json.dumps(metrics, indent=2))
    return 0


# ----------------------------------------------------------------------------- errors


def one_line(text: str) -> str:
    """A (possibly multi-line) message on one line: a line ending in ':' runs on, others join with '; '."""
    out = ""
    for line in (ln.strip() for ln in str(text).splitlines()):
        if line:
            out = line if not out else out + (" " if out.endswith(":") else "; ") + line
    return out


def _is(exc: BaseException, module: str, name: str) -> bool:
    """isinstance(exc, module.name), without importing the module (if it is not loaded, exc is not one)."""
    cls = getattr(sys.modules.get(module), name, None)
    return isinstance(cls, type) and isinstance(exc, cls)


def _os_error_line(exc: OSError) -> str:
    what = exc.strerror or str(exc)
    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return (f"no space left on the device to write{where}; free some space, then run the same command "
                "again (training resumes from the last checkpoint)")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot write{where}: {what}"
    return f"{what}:{where}" if where else what


def _expected_line(exc: Exception) -> str | None:
    """The one line for a failure the user can fix (a file, the disk, a value); None if unexpected."""
    if isinstance(exc, OSError):
        return _os_error_line(exc)
    if (isinstance(exc, ValueError)  # a value checked by the library (e.g. TrainConfig, CheckpointError)
            or _is(exc, "vaelib.datafiles", "DataError") or _is(exc, "vaelib.train", "NonFiniteLossError")):
        return one_line(str(exc))
    return None


def _dispatch(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("presets", "runs"):
        return cmd_list(args.command)
    return cmd_train(args) if args.command == "train" else cmd_evaluate(args)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status. Never prints a traceback unless VAELIB_DEBUG=1."""
    return run_main(_dispatch, argv)


def run_main(dispatch: Callable[[list[str] | None], int], argv: list[str] | None = None, *, prog: str = "vaelib",
             interrupted: str = "run the same command again to resume from the last checkpoint") -> int:
    """dispatch(argv), or the exit status of its failure after one line on stderr, `PROG: error: ...`
    (a CLIError's own status, else 1) or for Ctrl-C `PROG: interrupted; INTERRUPTED` (130)."""
    debug = os.environ.get("VAELIB_DEBUG", "") not in ("", "0")
    try:
        return dispatch(argv)
    except CLIError as exc:
        print(f"{prog}: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `vaelib presets | head -1`: the reader left, nothing to report
        try:  # point stdout at /dev/null, so that the flush at exit does not fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is no file (captured)
            pass
        return EXIT_FAILURE
    except Exception as exc:
        if debug:
            raise
        line = _expected_line(exc)
        if line is None:
            line = (f"unexpected {type(exc).__name__}: {one_line(str(exc))} "
                    "(run with VAELIB_DEBUG=1 for the traceback)")
        print(f"{prog}: error: {line}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())

"""Train every run of the registry into one cache, and time each: the training part of `make run`.

    python benchmarks/train_all.py --cache /tmp/empty-cache            # full mode, every run
    python benchmarks/train_all.py --notebook 05 --jobs 2              # one notebook's runs, two at a time
    python benchmarks/train_all.py --test --only "pytorch-example*"    # test-mode configs, some runs
    python benchmarks/train_all.py --device cuda --budget 240          # stop starting runs after 240 s

The GPU-length runs (`Run.long`, Burda et al.'s 3,280-pass protocol) are left out unless --long
(benchmarks/burda_gpu.py trains and scores them). Runs are trained in the order of their notebooks
(vaelib.runs.Run.notebook), each through vaelib.cache.load_or_train exactly as a notebook asks for it,
so the cache it fills is the one `make run` reads. Writes benchmarks/results/train_all_<device>.json:
per run, seconds and whether it trained or came from the cache; and the total. benchmarks/gpu.sh calls it.

--jobs N (CPU) trains N runs at once, each in its own process with torch on one thread; a run that
continues another waits for it. Whether that pays depends on the machine, even on the day: over
whole runs on the project's 2-core machine, from 10 % slower to 1.24 times as fast (book/running.md);
short timings promise more than whole runs keep, so time whole runs first.
(Each model then differs from a one-process run in the last bits, as it would on another machine:
the order of a sum over threads is not the same.)
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _train_one(name: str, test: bool, device: str, quiet: bool) -> dict:
    """Load or train one run (in a worker process, or here); its seconds and whether it trained."""
    from vaelib.cache import load_or_train  # noqa: PLC0415
    from vaelib.runs import RUNS  # noqa: PLC0415

    t0 = time.perf_counter()
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null if quiet else sys.stdout):
        run = load_or_train(name, test=test, device=device, progress=False)  # (quiet: no epoch lines)
    import torch  # noqa: PLC0415

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return {"seconds": round(time.perf_counter() - t0, 2), "trained_now": run.trained_now,
            "epochs": int(len(run.history)), "notebook": RUNS[name].notebook, "threads": torch.get_num_threads()}


def _train_in_worker(name: str, test: bool, device: str) -> dict:
    """`_train_one` in a worker process, quietly; an error comes back as a RuntimeError naming the run
    (vaelib's CheckpointError takes extra arguments, so it would not unpickle in the parent)."""
    try:
        return _train_one(name, test, device, quiet=True)
    except Exception as e:
        raise RuntimeError(f"{name}: {type(e).__name__}: {e}") from None


def _one_thread() -> None:
    import torch  # noqa: PLC0415

    torch.set_num_threads(1)


def train_runs(names: list[str], test: bool = False, device: str = "cpu", jobs: int = 1,
               budget: float | None = None, pool: Executor | None = None) -> tuple[dict[str, dict], list[str]]:
    """Load or train `names` in order, `jobs` at a time (jobs > 1: worker processes, torch on one
    thread each, or `pool`; a run that continues another of `names` starts when that one has
    finished); prints one line per run. Returns {name: row} and the names not started because
    `budget` seconds had passed."""
    from vaelib.runs import RUNS  # noqa: PLC0415

    rows, skipped, t_start = {}, [], time.perf_counter()

    def report(name: str, row: dict) -> None:
        rows[name] = row
        print(f"{name:32} {row['seconds']:7.1f} s  {'trained' if row['trained_now'] else 'from the cache'}"
              f"  [{len(rows)}/{len(names)}, {time.perf_counter() - t_start:.0f} s]", flush=True)

    if jobs <= 1 or len(names) == 1:  # (one run: here, on every thread)
        for name in names:
            if budget is not None and time.perf_counter() - t_start > budget:
                skipped.append(name)
                continue
            report(name, _train_one(name, test, device, quiet=False))
        return rows, skipped
    spawn = multiprocessing.get_context("spawn")  # never fork a process whose torch has started threads
    waiting = {name: RUNS[name].continues for name in names if RUNS[name].continues in names}
    with pool or ProcessPoolExecutor(jobs, mp_context=spawn, initializer=_one_thread) as workers:
        futures = {workers.submit(_train_in_worker, name, test, device): name for name in names if name not in waiting}
        while futures:
            future = next(iter(wait(futures, return_when=FIRST_COMPLETED).done))
            name = futures.pop(future)
            report(name, future.result())
            for later in [n for n, earlier in waiting.items() if earlier == name]:  # it can start from its copy now
                del waiting[later]
                futures[workers.submit(_train_in_worker, later, test, device)] = later
    return rows, skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None, help="cache folder (default: VAELIB_CACHE or checkpoints/)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    ap.add_argument("--test", action="store_true", help="the notebooks' test-mode configs (tiny, one epoch)")
    ap.add_argument("--only", action="append", help="glob of run names (repeatable; default: all)")
    ap.add_argument("--notebook", action="append", help="only the runs of this notebook, e.g. 05 (repeatable)")
    ap.add_argument("--jobs", type=int, default=1, help="runs trained at once on a CPU (default 1)")
    ap.add_argument("--long", action="store_true",
                    help="also the GPU-length runs (Run.long: Burda et al.'s protocol, hours); default: skipped")
    ap.add_argument("--budget", type=float, default=None, help="start no run after this many seconds (--jobs 1)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="folder of the JSON")
    args = ap.parse_args(argv)
    if args.cache is not None:
        os.environ["VAELIB_CACHE"] = str(args.cache)  # before vaelib.cache reads it (the workers inherit it)

    from vaelib.runs import RUNS  # noqa: PLC0415
    from vaelib.runtime import pick_device  # noqa: PLC0415

    device = pick_device(args.device)
    names = [n for n in sorted(RUNS, key=lambda n: (RUNS[n].notebook, n))
             if (args.long or not RUNS[n].long) and (not args.only or any(fnmatch.fnmatch(n, pat) for pat in args.only))
             and (not args.notebook or RUNS[n].notebook in args.notebook)]
    if not names:
        print(f"no run matches {args.only or ''} {args.notebook or ''}", file=sys.stderr)
        return 2
    jobs = args.jobs if device.type == "cpu" else 1  # one GPU: one run at a time
    t_start = time.perf_counter()
    rows, skipped = train_runs(names, args.test, str(device), jobs, args.budget)
    total = time.perf_counter() - t_start
    print(f"{len(rows)} runs in {total:.0f} s ({total / 60:.1f} min) on {device}, {jobs} at a time"
          + (f"; {len(skipped)} not started (budget): {', '.join(skipped)}" if skipped else ""))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"train_all_{device.type}.json").write_text(json.dumps(
        {"device": str(device), "test_mode": args.test, "jobs": jobs, "total_s": round(total, 1), "runs": rows,
         "not_started": skipped}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

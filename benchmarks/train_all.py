"""Train every run of the registry into one cache, and time each: the training part of `make run`.

    python benchmarks/train_all.py --cache /tmp/empty-cache            # full mode, every run
    python benchmarks/train_all.py --test --only "pytorch-example*"    # test-mode configs, some runs
    python benchmarks/train_all.py --device cuda --budget 240          # stop starting runs after 240 s

The GPU-length runs (`Run.long`, Burda et al.'s 3,280-pass protocol) are left out unless --long
(benchmarks/burda_gpu.py trains and scores them). Runs are trained in the order of their notebooks (vaelib.runs.Run.notebook), each through
vaelib.cache.load_or_train exactly as a notebook asks for it, so the cache it fills is the one
`make run` reads. Writes benchmarks/results/train_all_<device>.json: per run, seconds and whether it
trained or came from the cache; and the total. benchmarks/gpu.sh calls it.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None, help="cache folder (default: VAELIB_CACHE or checkpoints/)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    ap.add_argument("--test", action="store_true", help="the notebooks' test-mode configs (tiny, one epoch)")
    ap.add_argument("--only", action="append", help="glob of run names (repeatable; default: all)")
    ap.add_argument("--long", action="store_true",
                    help="also the GPU-length runs (Run.long: Burda et al.'s protocol, hours); default: skipped")
    ap.add_argument("--budget", type=float, default=None, help="start no run after this many seconds")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="folder of the JSON")
    args = ap.parse_args(argv)
    if args.cache is not None:
        os.environ["VAELIB_CACHE"] = str(args.cache)  # before vaelib.cache reads it

    from vaelib.cache import load_or_train  # noqa: PLC0415
    from vaelib.runs import RUNS  # noqa: PLC0415
    from vaelib.runtime import pick_device  # noqa: PLC0415

    device = pick_device(args.device)
    names = [n for n in sorted(RUNS, key=lambda n: (RUNS[n].notebook, n))
             if (args.long or not RUNS[n].long) and (not args.only or any(fnmatch.fnmatch(n, pat) for pat in args.only))]
    if not names:
        print(f"no run matches {args.only}", file=sys.stderr)
        return 2
    rows, t_start, skipped = {}, time.perf_counter(), []
    for name in names:
        if args.budget is not None and time.perf_counter() - t_start > args.budget:
            skipped.append(name)
            continue
        t0 = time.perf_counter()
        run = load_or_train(name, test=args.test, device=device, progress=False)
        if device.type == "cuda":
            import torch  # noqa: PLC0415

            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        rows[name] = {"seconds": round(seconds, 2), "trained_now": run.trained_now,
                      "epochs": int(len(run.history)), "notebook": RUNS[name].notebook}
        print(f"{name:32} {seconds:7.1f} s  {'trained' if run.trained_now else 'from the cache'}", flush=True)
    total = time.perf_counter() - t_start
    print(f"{len(rows)} runs in {total:.0f} s ({total / 60:.1f} min) on {device}"
          + (f"; {len(skipped)} not started (budget): {', '.join(skipped)}" if skipped else ""))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"train_all_{device.type}.json").write_text(json.dumps(
        {"device": str(device), "test_mode": args.test, "total_s": round(total, 1), "runs": rows,
         "not_started": skipped}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

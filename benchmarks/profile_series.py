"""Where the series' time goes: every run of the registry and every notebook, against this machine.

    make profile                          # after `make run`: writes benchmarks/results/profile.{json,md}
    python benchmarks/profile_series.py --book      # also refresh the profile table in book/running.md

Per run (vaelib.runs, full mode, read from its cache folder in checkpoints/): epochs trained, the
median seconds of a training epoch (history.csv's `train_seconds`, as recorded when the run
trained: a machine busy with other work at that time shows up here), images per second, the
matmul and convolution FLOPs of one training step per image
(benchmarks.perf.training_flops_per_image, counted on a batch of the run's own size), and the
fraction of this machine's fp32 matmul throughput that rate reaches
(benchmarks.perf.matmul_limit, measured in this process).

Per notebook: the wall time of the last full run and its split into training, evaluation and
plotting (scripts/run_notebooks.py records them in benchmarks/results/notebook_times.json, the
training read from the "trained" events vaelib logs: benchmarks.perf.notebook_phases; a
notebook run from the cache trains nothing). A run that is not in the cache keeps the training
figures of the previous profile (benchmarks/results/profile.json) when that one recorded them for
the same configuration (the same cache folder name, which holds the configs' hash; a row of a
profile older than that key needs the same number of epochs): its `recorded` column then says
"earlier profile" and its matmul fraction is recomputed against this machine's limit. So profiling
a partial cache does not drop the rest of the series from the table; a run recorded nowhere is
listed without them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tooling package `benchmarks` (benchmarks/__init__.py)

from benchmarks.perf import (STEP_PARTS, epoch_images, matmul_limit, run_flops_per_image, step_breakdown,  # noqa: E402
                             training_rate)
from benchmarks.pages import BOOK, refresh  # noqa: E402
from vaelib.cache import run_folder  # noqa: E402
from vaelib.notebook import markdown_table  # noqa: E402
from vaelib.runs import RUNS  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
NOTEBOOK_TIMES = RESULTS / "notebook_times.json"
PAGE = BOOK / "running.md"
BEGIN, END = "<!-- profile:begin (written by benchmarks/profile_series.py) -->", "<!-- profile:end -->"


#: a run's figures read from its history.csv, which an earlier profile's row can stand in for
RECORDED = ("epochs", "s/epoch", "images/s", "training s")


def earlier_runs(path: Path = RESULTS / "profile.json") -> dict[str, dict]:
    """The per-run rows of the previous profile ({} when there is none or it is unreadable)."""
    try:
        return json.loads(path.read_text()).get("runs", {})
    except (OSError, ValueError):
        return {}


def run_rows(limit_gflops: float, measure: int = 0, earlier: dict[str, dict] | None = None) -> pd.DataFrame:
    """One row per run of the registry (full mode); with `measure`, each architecture's training
    rate is also timed now on that many steps (benchmarks.perf.training_rate), and the run's epochs at
    that rate are its estimated training time on this machine as it is now. `earlier`: the previous
    profile's rows, whose recorded figures stand in for a run missing from the cache."""
    earlier = earlier or {}
    flops_of: dict[str, float] = {}
    rate_of: dict[str, float] = {}
    profiled: set[str] = set()  # families whose step is profiled already (on their first run)
    rows = {}
    for name, run in RUNS.items():
        if run.long:  # GPU-length runs (benchmarks/burda_gpu.py): not part of the series' time
            continue
        mcfg, tcfg = run.configs()
        key = json.dumps([mcfg.to_dict(), tcfg.batch_size, tcfg.targets], sort_keys=True)
        if key not in flops_of:  # replicas and sweep members share an architecture: count it once
            flops_of[key] = run_flops_per_image(mcfg, tcfg)
        flops = flops_of[key]
        folder = run_folder(name)
        history = folder / "history.csv"
        row = {"notebook": run.notebook, "arch": f"{mcfg.kind}/{mcfg.arch}", "MFLOP/image": flops / 1e6, "key": folder.name}
        if measure:
            if key not in rate_of:
                rate_of[key] = training_rate(mcfg, tcfg, steps=measure)
                print(f"measured {name} (and every run of its architecture): {rate_of[key]:.0f} images/s", flush=True)
            row.update({"images/s now": rate_of[key], "fraction now": flops * rate_of[key] / (limit_gflops * 1e9),
                        "estimated s": tcfg.epochs * epoch_images(tcfg) / rate_of[key]})
            if row["arch"] not in profiled:  # where the family's step time goes, on its first run
                profiled.add(row["arch"])
                parts = step_breakdown(mcfg, tcfg, steps=measure, flops_per_image=flops)
                row.update({f"share {k}": parts[k] for k in STEP_PARTS}, profiled=name,
                           **{"matmul kernels": parts["matmul GFLOP/s"] / limit_gflops})
        if history.exists():
            h = pd.read_csv(history)
            s_epoch = float(h["train_seconds"].median())
            rate = epoch_images(tcfg) / s_epoch
            row.update({"epochs": len(h), "s/epoch": s_epoch, "images/s": rate,
                        "matmul fraction": flops * rate / (limit_gflops * 1e9),
                        "training s": float(h["seconds"].sum()), "recorded": "cache"})
        else:
            old = earlier.get(name, {})
            same = old.get("key") == folder.name if "key" in old else old.get("epochs") == tcfg.epochs
            if same and all(old.get(k) is not None for k in RECORDED):
                row.update({k: old[k] for k in RECORDED}, recorded="earlier profile",
                           **{"matmul fraction": flops * old["images/s"] / (limit_gflops * 1e9)})
        row["floor s"] = tcfg.epochs * epoch_images(tcfg) * flops / (limit_gflops * 1e9)  # at the matmul limit
        rows[name] = row
    frame = pd.DataFrame(rows).T
    frame.index.name = "run"
    return frame


def with_measured(runs: pd.DataFrame, last: dict[str, dict]) -> pd.DataFrame:
    """`runs` with the columns a --measure profile added (rates and step times measured then), taken
    from that profile's rows `last` for the runs of the same configuration (the same cache folder name)."""
    old = pd.DataFrame(last).T
    same = old.index.isin(runs.index) & (old["key"] == runs["key"].reindex(old.index))
    return runs.join(old.loc[same, [c for c in old.columns if c not in runs.columns]], how="left")


def notebook_rows() -> pd.DataFrame:
    if not NOTEBOOK_TIMES.exists():
        return pd.DataFrame()
    times = json.loads(NOTEBOOK_TIMES.read_text())
    cols = ("seconds", "training", "evaluation", "plotting", "when")
    frame = pd.DataFrame({stem[:2]: {k: v[k] for k in cols}
                          | {f"{k}, from an empty cache": v.get("from an empty cache", {}).get(k, "not measured")
                             for k in ("seconds", "training", "when")}
                          | {"runs at a time, from an empty cache": v["from an empty cache"].get("jobs", 1)
                             if "from an empty cache" in v else "not measured"}
                          for stem, v in times.items()}).T
    frame.index.name = "notebook"
    return frame


def summary_markdown(runs: pd.DataFrame, notebooks: pd.DataFrame, machine: str, limit: float) -> str:
    """The profile section of book/running.md: per notebook, then the runs grouped by architecture."""
    lines = [f"Measured on {machine}; fp32 matmul limit {limit:.0f} GFLOP/s (measured by the profile, "
             f"`benchmarks.perf.matmul_limit`).", ""]
    if len(notebooks):
        nb = notebooks.copy()
        nb.loc["total"] = ["" if c.startswith(("when", "runs at")) else "not measured" if (nb[c] == "not measured").any()
                           else pd.to_numeric(nb[c], errors="coerce").sum() for c in nb.columns]
        lines += ["Notebooks (seconds): the last full run of each, and the last run of the series that started "
                  "from an empty cache (`make run` on a fresh clone: each notebook trains what the ones "
                  "before it have not):", "", markdown_table(nb, "{:.0f}")]
    trained = runs.dropna(subset=["s/epoch"]) if "s/epoch" in runs else runs.iloc[:0]
    if len(trained):
        agg = {"runs": "sum", "epochs": "sum", "training s": "sum", "floor s": "sum", "MFLOP/image": "median",
               "s/epoch": "median", "images/s": "median", "matmul fraction": "median"}
        measured = "estimated s" in trained
        if measured:
            agg.update({"estimated s": "sum", "images/s now": "median", "fraction now": "median"})
        parts = [f"share {k}" for k in STEP_PARTS]
        profiled = measured and "profiled" in trained
        if profiled:
            agg.update({c: "first" for c in (*parts, "profiled", "matmul kernels")})  # one run per family has them
        g = trained.assign(runs=1).groupby("arch").agg(agg)
        g.index.name = "model family (medians over runs)"
        g["training min"] = (g.pop("training s") / 60).round(1)
        g["floor min"] = (g.pop("floor s").astype(float) / 60).round(1)
        for col in ("images/s", "images/s now"):
            if col in g:
                g[col] = g[col].astype(float).round().astype(int)
        for col in ("matmul fraction", "fraction now"):
            if col in g:
                g[col] = (100 * g[col].astype(float)).round().astype(int).astype(str) + " %"
        cols = ["runs", "epochs", "training min", "MFLOP/image", "s/epoch", "images/s", "matmul fraction", "floor min"]
        if measured:
            g["estimated min now"] = (g.pop("estimated s").astype(float) / 60).round(1)
            cols += ["images/s now", "fraction now", "estimated min now"]
        if profiled:
            head = "step time: " + " / ".join(STEP_PARTS)
            g[head] = [" / ".join(f"{100 * float(r[c]):.0f}" for c in parts) + " %" for _, r in g.iterrows()]
            g["matmul kernels"] = (100 * g["matmul kernels"].astype(float)).round().astype(int).astype(str) + " % of limit"
            cols += [head, "matmul kernels", "profiled"]
        g = g[cols]
        carried = int((trained["recorded"] == "earlier profile").sum()) if "recorded" in trained else 0
        lines += [f"Training from an empty cache, as recorded when each of the {len(trained)} cached runs trained "
                  f"({trained['training s'].astype(float).sum() / 60:.0f} minutes in all, including validation; "
                  "runs trained while the machine did other work are slower here than they need be"
                  + (f"; {carried} of them not in this cache, their figures the previous profile's" if carried else "")
                  + ")"
                  + (f", and each family's training rate measured now (training steps only: "
                     f"{trained['estimated s'].astype(float).sum() / 60:.0f} minutes for all the runs' epochs "
                     "at today's rates)" if measured else "")
                  + f". The floor is the runs' training FLOPs at the matmul limit: "
                  f"{trained['floor s'].astype(float).sum() / 60:.0f} minutes for the whole series on this machine, "
                  "whatever the implementation:", "",
                  markdown_table(g, "{:.3g}")]
        if profiled:
            lines += ["", "What holds each family below the limit (its first run, `profiled`, one epoch under "
                      "torch.profiler, `benchmarks.perf.step_breakdown`): the share of a training step spent in "
                      "the matrix products, in every other op (activations, the loss, sampling, copies), in "
                      "Adam's update and outside any op (Python, the autograd engine), and how fast the products "
                      "themselves run. A family's fraction is about its matmul share times its kernels' share of "
                      "the limit: a low share of time in the products says the rest of the step holds it, "
                      "slow kernels say its matrices are too small (narrow layers, small batches). The profiler "
                      "adds a few microseconds to every op, so a model of many small ops shows more time outside "
                      "the products than it spends unprofiled."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--book", action="store_true", help="also copy the summary into book/running.md between its markers")
    ap.add_argument("--measure", type=int, default=0, metavar="STEPS",
                    help="also time each architecture's training now, on STEPS steps (0: only read the histories)")
    ap.add_argument("--keep-measured", action="store_true",
                    help="instead of --measure: keep the last profile's rates measured now, step times and matmul "
                         "limit (to refresh the notebook times without timing every family again)")
    args = ap.parse_args(argv)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    last = json.loads((RESULTS / "profile.json").read_text()) if args.keep_measured else {}
    limit = last["matmul_limit_gflops"] if last else matmul_limit()
    runs = run_rows(limit, args.measure, earlier_runs())
    if last:
        runs = with_measured(runs, last["runs"])
    notebooks = notebook_rows()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "profile.json").write_text(json.dumps({
        "machine": machine, "matmul_limit_gflops": limit,
        "runs": json.loads(runs.to_json(orient="index")),
        "notebooks": json.loads(notebooks.to_json(orient="index")) if len(notebooks) else {},
    }, indent=2) + "\n")
    summary = summary_markdown(runs, notebooks, machine, limit)
    slow = ""
    if NOTEBOOK_TIMES.exists():
        slow = "\n\nThe slowest cells of each notebook (cell index, seconds, first line):\n\n" + "\n".join(
            f"- {stem}: " + "; ".join(f"cell {i} {sec:.0f} s `{line}`" for i, sec, line in v.get("slowest cells", []))
            for stem, v in json.loads(NOTEBOOK_TIMES.read_text()).items())
    (RESULTS / "profile.md").write_text(summary + slow + "\n\nPer run:\n\n" + markdown_table(runs, "{:.3g}"))
    print(summary)
    print(f"\nwritten: {(RESULTS / 'profile.json').relative_to(REPO)}, {(RESULTS / 'profile.md').relative_to(REPO)}")
    if args.book and refresh(PAGE, BEGIN, END, summary + "\n"):
        print("book/running.md: profile table refreshed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

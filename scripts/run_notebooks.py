#!/usr/bin/env python
"""Execute the notebook series: every notebooks/NN_topic.py into its paired NN_topic.ipynb.

    python scripts/run_notebooks.py                  # all notebooks, in order, full mode (make run)
    python scripts/run_notebooks.py 02 "0[3-5]*"     # some of them: a number, a name or a glob
    python scripts/run_notebooks.py --test-mode      # fast test mode (VAE_NOTEBOOKS_TEST=1)
    python scripts/run_notebooks.py --jobs 2         # train each notebook's missing runs two at a time first

For each notebook, in order:

0. training: with --jobs N > 1, the runs the notebook owns (vaelib.runs.Run.notebook) that are not
   in the cache are trained first, N at a time, each process with torch on one thread
   (benchmarks/train_all.py); their time counts as the notebook's training. By default (--jobs 1)
   the notebook trains them itself, one at a time on every core, as a student's Run All does;

1. inputs: the .py (jupytext percent) is the source of truth. Its cells are merged into the
   existing .ipynb the way `jupytext --to ipynb --update` does it (cell ids are kept, so the
   .ipynb does not churn), or a new .ipynb is built when there is none;
2. run: nbclient executes every cell with the kernel named in the notebook (python3, this
   interpreter), in notebooks/, one generous timeout per cell;
3. outputs: the executed notebook is written back to the .ipynb (full mode). Test-mode outputs
   never overwrite the committed notebooks: they go to runs/test-notebooks/ unless --output-dir
   says otherwise;
4. time: each notebook's seconds, split into training, evaluation and plotting from structured
   records (benchmarks.perf.notebook_phases): its kernel gets a fresh events file (VAELIB_EVENTS),
   into which every training logs one "trained" record with its seconds (vaelib.runtime.log_event),
   and each cell's start and end are timed here; a full run in place keeps them in
   benchmarks/results/notebook_times.json (`make profile` reads it).

On a failing cell the partial outputs are saved, the notebook, the cell index and the head of
the cell's source are printed, and the script stops with exit status 1 (later notebooks may
need what this one trains). The trained models are cached by configuration (vaelib.cache), so a
second run only executes; a rerun after a failure resumes where training stopped.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
import zmq
from jupytext.combine import combine_inputs_with_outputs
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tooling package `benchmarks` (benchmarks/__init__.py)

from benchmarks.perf import notebook_phases, read_events  # noqa: E402
from benchmarks.pages import BOOK, between_markers  # noqa: E402
from benchmarks.train_all import train_runs  # noqa: E402
from vaelib.cache import CACHE_ROOT  # noqa: E402
from vaelib.notebook import missing_runs  # noqa: E402
from vaelib.runtime import EVENTS_VAR, NOTEBOOKS, TEST_MODE_VAR, is_test_mode, pick_device, series  # noqa: E402

TEST_OUTPUT_DIR = REPO / "runs" / "test-notebooks"


def select(sources: list[Path], patterns: list[str]) -> list[Path]:
    """The sources matching any pattern: a stem or file name, a prefix ("02"), or a glob.

    Order stays the series order; a pattern that matches nothing is an error.
    """
    if not patterns:
        return sources
    chosen: set[Path] = set()
    for pat in patterns:
        name = Path(pat).name
        stem = name.rsplit(".", 1)[0] if name.endswith((".py", ".ipynb")) else name
        hits = [
            s for s in sources
            if s.stem == stem or s.stem.startswith(stem) or fnmatch.fnmatch(s.stem, stem)
            or fnmatch.fnmatch(s.name, name)
        ]
        if not hits:
            known = ", ".join(s.stem for s in sources) or "(none)"
            raise SystemExit(f"no notebook matches {pat!r}; known: {known}")
        chosen.update(hits)
    return [s for s in sources if s in chosen]


def inputs_from_source(py: Path, ipynb: Path) -> nbformat.NotebookNode:
    """The .py's cells and metadata, merged into the existing .ipynb (ids and outputs kept)."""
    nb = jupytext.read(py)
    if ipynb.exists():
        nb = combine_inputs_with_outputs(nb, nbformat.read(ipynb, as_version=4), fmt="py:percent")
    return nb


def source_head(cell: nbformat.NotebookNode, lines: int = 6) -> str:
    src = cell.get("source", "").splitlines()
    head = "\n".join(f"    | {line}" for line in src[:lines])
    return head + (f"\n    | ... ({len(src) - lines} more lines)" if len(src) > lines else "")


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def tidy(nb: nbformat.NotebookNode) -> None:
    """Drop the progress bars a headless run leaves behind, in place.

    With ipywidgets installed, tqdm.auto draws widgets: a static notebook shows them as a frozen
    text fallback ("train: 0%"), and their state would bloat the metadata. Without it, a text bar
    cleared at its end leaves a stream of blanks. The per-epoch summary lines stay.
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = [
            o for o in cell.outputs
            if not (o.output_type == "stream" and not o.text.strip())
            and WIDGET_VIEW not in o.get("data", {})
        ]
    nb.metadata.pop("widgets", None)


def kernel_config() -> Config:
    """Kernel manager settings that keep the terminal quiet.

    ipykernel warns on every start ("Kernel is running over TCP without encryption") unless the
    manager hands it CurveZMQ keys; "auto" does so for kernelspecs that declare curve support (the
    python3 one does) and needs a pyzmq built with libsodium, hence the check.
    """
    config = Config()
    if zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"
    return config


def run_one(py: Path, out: Path, timeout: int, kernel_name: str | None
            ) -> tuple[bool, float, dict[str, float], list[list]]:
    """Execute one notebook; write it (complete or partial) to out. Returns (ok, seconds, the
    seconds spent training, evaluating and plotting, and its five slowest cells).

    The phases come from structured records only (benchmarks.perf.notebook_phases): the kernel
    starts with VAELIB_EVENTS naming a fresh file, into which each training it runs appends one
    "trained" record (vaelib.runtime.log_event, with the time it ended and its seconds), and
    each code cell's start and end are taken here on the same clock (time.time())."""
    nb = inputs_from_source(py, py.with_suffix(".ipynb"))
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name or nb.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(py.parent)}},  # the kernel runs in notebooks/
        record_timing=False,  # no timestamps in the committed notebooks
        coalesce_streams=True,  # one stream per cell, progress-bar redraws (\r) collapsed
        config=kernel_config(),
    )
    current = {"index": -1, "start": 0.0}
    spans: dict[int, tuple[float, float]] = {}  # code cell index -> (start, end), unix seconds

    def on_cell_start(cell, cell_index):  # remember where we are, to report a failure
        current.update(index=cell_index, start=time.time())

    def on_cell_executed(cell, cell_index, execute_reply):  # each cell's span, for the profile
        spans[cell_index] = (current["start"], time.time())

    client.on_cell_start = on_cell_start
    client.on_cell_executed = on_cell_executed
    fd, events_file = tempfile.mkstemp(prefix=f"{py.stem}-events-", suffix=".jsonl")
    os.close(fd)
    t0 = time.perf_counter()
    ok = True
    try:
        client.execute(env={**os.environ, EVENTS_VAR: events_file})  # the kernel's environment
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
        ok = False
        i = current["index"]
        cell = nb.cells[i] if 0 <= i < len(nb.cells) else {}
        code_index = sum(1 for c in nb.cells[:i] if c.cell_type == "code") + 1
        message = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip().splitlines()  # no colour codes
        print(
            f"\nFAILED {py.name}: cell {i} (code cell {code_index}), {type(e).__name__}:\n"
            f"{source_head(cell)}\n  "
            + "\n  ".join(message[-15:]),
            file=sys.stderr,
        )
    finally:
        seconds = time.perf_counter() - t0
        events = read_events(events_file)
        os.remove(events_file)
    tidy(nb)
    out.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(nb, out, fmt="ipynb")
    cell_seconds = {i: end - start for i, (start, end) in spans.items()}
    slowest = sorted(cell_seconds.items(), key=lambda kv: -kv[1])[:5]  # where to look first
    slowest_cells = [[i, round(s, 1), nb.cells[i].source.strip().splitlines()[0][:80]] for i, s in slowest
                     if nb.cells[i].source.strip()]
    return ok, seconds, notebook_phases(nb.cells, spans, events), slowest_cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="numbers, names or globs (default: all, in order)")
    parser.add_argument("--test-mode", action="store_true",
                        help=f"fast test mode ({TEST_MODE_VAR}=1): tiny subsets, one epoch")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="write executed notebooks here (default: in place in full mode, "
                             f"{TEST_OUTPUT_DIR.relative_to(REPO)}/ in test mode)")
    parser.add_argument("--timeout", type=int, default=4 * 3600, help="seconds per cell (default 4 h)")
    parser.add_argument("--kernel", default=None, help="kernel name (default: the notebook's kernelspec)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="train a notebook's missing runs first, this many at once, each on one thread "
                             "(default 1: the notebook trains them)")
    parser.add_argument("--continues-empty-cache-run", action="store_true",
                        help="record the times as from an empty cache though the cache is not empty: it holds only "
                             "what the notebooks before these trained in a series run from an empty cache (one "
                             "that stopped, or ran them in another order)")
    args = parser.parse_args(argv)

    if args.test_mode:
        os.environ[TEST_MODE_VAR] = "1"  # the kernels inherit it
    test = is_test_mode()
    out_dir = args.output_dir or (TEST_OUTPUT_DIR if test else None)
    sources = select(series(), args.notebooks)
    if not sources:
        print(f"no notebooks/[0-9]*.py in {NOTEBOOKS}", file=sys.stderr)
        return 1
    where = "in place" if out_dir is None else f"into {out_dir}"
    print(f"{len(sources)} notebook(s), {'TEST' if test else 'full'} mode, outputs written {where}", flush=True)

    # a run that starts with nothing trained times the series as a student first meets it
    from_empty_cache = args.continues_empty_cache_run or not (CACHE_ROOT.is_dir() and any(CACHE_ROOT.iterdir()))
    # one line per notebook, "NN_topic.py  123 s": the name while it runs, the time when it is done
    width = max(len(py.name) for py in sources)
    times: list[tuple[str, float]] = []
    for py in sources:
        out = py.with_suffix(".ipynb") if out_dir is None else out_dir / f"{py.stem}.ipynb"
        pretrained = pretrain(py.stem[:2], test, args.jobs)
        print(f"{py.name:<{width}}", end="  ", flush=True)
        ok, seconds, phases, slowest = run_one(py, out, args.timeout, args.kernel)
        seconds += pretrained
        phases["training"] = phases.get("training", 0.0) + pretrained
        times.append((py.stem, seconds))
        if not ok:
            print(f"partial outputs saved to {out}", file=sys.stderr)
            return 1
        print(f"{seconds:5.0f} s  (" + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()) + ")", flush=True)
        if not test and out_dir is None:
            record_notebook_time(py.stem, seconds, phases, slowest, from_empty_cache, args.jobs)
    total = sum(s for _, s in times)
    print(f"{'total, ' + str(len(times)) + ' notebook(s)':<{width}}  {total:5.0f} s")
    if not test and out_dir is None:
        for name in update_landing_page():
            print(f"book/index.md: results table refreshed from images/{name}")
    return 0


def pretrain(number: str, test: bool, jobs: int) -> float:
    """Train the runs notebook `number` owns that are not in the cache, `jobs` at a time (jobs > 1
    only, on a CPU); the seconds it took."""
    if jobs <= 1 or pick_device(None).type != "cpu":
        return 0.0
    names = missing_runs(number, test)[1]
    if not names:
        return 0.0
    print(f"training the {len(names)} run(s) of notebook {number} not in the cache, {jobs} at a time", flush=True)
    t0 = time.perf_counter()
    train_runs(names, test, "cpu", jobs)
    return time.perf_counter() - t0


LANDING_PAGE = BOOK / "index.md"
IMAGES = REPO / "images"
NOTEBOOK_TIMES = REPO / "benchmarks" / "results" / "notebook_times.json"


def record_notebook_time(stem: str, seconds: float, phases: dict[str, float], slowest: list,
                         from_empty_cache: bool = False, jobs: int = 1) -> None:
    """Keep the latest full run's time of each notebook in benchmarks/results/notebook_times.json
    (what `make profile` summarises): wall seconds, split into training, evaluation and plotting
    (a run from the cache only evaluates and plots), and its five slowest cells. The times of the
    last series run that started from an empty cache (`make run` on a fresh clone: the notebooks in
    order, each training what the ones before it had not; `jobs`: how many runs trained at once) are
    kept beside them, under "from an empty cache", until another such run replaces them."""
    times = json.loads(NOTEBOOK_TIMES.read_text()) if NOTEBOOK_TIMES.exists() else {}
    entry = {"seconds": round(seconds, 1), **{k: round(v, 1) for k, v in phases.items()},
             "slowest cells": slowest, "when": time.strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count()}
    empty = {**{k: entry[k] for k in ("seconds", *phases, "when", "cores")}, "jobs": jobs} if from_empty_cache else \
        times.get(stem, {}).get("from an empty cache")
    times[stem] = entry if empty is None else {**entry, "from an empty cache": empty}
    NOTEBOOK_TIMES.parent.mkdir(parents=True, exist_ok=True)
    NOTEBOOK_TIMES.write_text(json.dumps(dict(sorted(times.items())), indent=2) + "\n")


def markers(number: str) -> tuple[str, str]:
    """The landing page's markers around the table notebook `number` saved as images/<number>_results.md
    (notebook 06 keeps the unnumbered markers it had first)."""
    tag = "results" if number == "06" else f"results-{number}"
    return f"<!-- {tag}:begin (written by scripts/run_notebooks.py) -->", f"<!-- {tag}:end -->"


def update_landing_page() -> list[str]:
    """Copy each results table a notebook saved (images/NN_results.md) into the book's landing page
    (book/index.md) between its markers, so its numbers come from the last full run and are never
    typed by hand. Returns the tables copied."""
    text = original = LANDING_PAGE.read_text()
    copied = []
    for table in sorted(IMAGES.glob("[0-9][0-9]_results.md")):
        new = between_markers(text, *markers(table.name[:2]), table.read_text())
        if new is not None:
            text = new
            copied.append(table.name)
    if text != original:
        LANDING_PAGE.write_text(text)
    return copied


if __name__ == "__main__":
    sys.exit(main())

"""Grading a class: a folder of submissions in, one JSON report per student and a class table out.

    summary = grade_class("submissions/", "grades/", assignment="02", jobs=2)

The folder holds one notebook per student (`ada.ipynb`: the student is the file's stem) or one
folder per student (`ada/02_reparameterization.ipynb`: the student is the folder's name, and each
notebook in it is graded). The assignment comes from `assignment` (the instructor names it), else
from the number in each file's name. Submissions are graded in parallel, at most `jobs` at a time
(each is one isolated student process, see `vaecourse.grader`).

Written to `out`: `<student>/<assignment>.json` per submission and `class.csv` (student,
assignment, file, one column of points per exercise, score, total, percent, flags such as
`malformed`, `no results`, `isolation: weak`, `suspicious: ...`, `error: ...`). A re-run skips a
submission whose report is there and was made from the same file (by its sha256) for the same
assignment, unless `regrade=True`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vaecourse.grader import GradingError, grade, resolve_assignment, write_json
from vaecourse.submission import csv_cell, printable, submission_sha256
from vaelib.runtime import atomic_write_text

__all__ = ["find_submissions", "grade_class", "format_summary"]

NOTEBOOK_SUFFIXES = (".ipynb", ".py")
#: the class's own files in the output folder: no student's report folder may take their names
RESERVED = frozenset({"class.csv", "summary.json"})


def find_submissions(folder: Path) -> list[tuple[str, Path, str | None]]:
    """(student, notebook, why it is refused or None) in folder: its notebooks, and the notebooks of
    its subfolders. A symbolic link (to a file or to a folder: another student's work, the solution,
    a special file) or anything but a regular file is refused, never followed or opened."""
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        kind = _kind(entry)
        if kind == "dir":
            for p in sorted(entry.iterdir()):
                if p.suffix in NOTEBOOK_SUFFIXES and not p.name.startswith("."):
                    found.append((entry.name, p, _refusal(_kind(p))))
        elif entry.suffix in NOTEBOOK_SUFFIXES or (kind == "link" and not entry.suffix):  # a file, or a linked folder
            found.append((entry.stem, entry, _refusal(kind)))
    return found


def _kind(path: Path) -> str:
    """"file", "dir", "link" or "special" (a FIFO, a device, a socket), without following a link."""
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return "link"
    return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "special"


def _refusal(kind: str) -> str | None:
    return {"file": None, "link": "refused: a symbolic link (hand in the notebook itself)",
            "dir": "refused: a folder where a notebook was expected",
            "special": "refused: not a regular file"}[kind]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:100] or "_"


def _row(student: str, path: Path, report: dict) -> dict:
    row = {"student": student, "assignment": report.get("assignment", ""), "file": str(path)}
    row |= {f"ex:{e['id']}": e["score"] for e in report.get("exercises", [])}
    row |= {"score": report.get("score", 0), "total": report.get("total", 0),
            "percent": "" if report.get("percent") is None else report["percent"],
            "flags": "; ".join(report.get("flags", []))}
    return row


def _plan(subs: list[tuple[str, Path, str | None]], assignment) -> list[tuple[str, Path, str | None, Path | None]]:
    """(student, notebook, why it is not graded, its solution): each report has a name of its own.
    A student named like the class's own files, or whose report would overwrite another's (o'brien
    beside o_brien, ada.ipynb beside ada/02_....ipynb for one assignment), is refused, saying why."""
    plan, taken = [], {}
    for student, path, why in subs:
        solution = None
        if why is None:
            try:
                solution = resolve_assignment(assignment, path)
            except GradingError as e:
                why = f"error: {e}"
        if why is None:
            key = (_safe(student).lower(), solution.stem)
            if key[0] in RESERVED:
                why = f"refused: a student may not be named like the class's own files ({', '.join(sorted(RESERVED))})"
            elif key in taken:
                why = f"refused: its report ({_safe(student)}/{solution.stem}.json) would overwrite {taken[key]}'s; rename it"
            else:
                taken[key] = f"{student}/{path.name}" if path.parent.name == student else path.name
        plan.append((student, path, why, solution))
    return plan


def _one(student: str, path: Path, out: Path, solution: Path, regrade: bool, kw: dict) -> tuple[dict, str]:
    """Grade one submission (or reuse its report); (row, "graded" | "skipped" | "error")."""
    report_path = out / _safe(student) / f"{solution.stem}.json"
    sha = submission_sha256(path)
    if report_path.is_file() and not regrade:
        try:
            old = json.loads(report_path.read_text(encoding="utf-8"))
            if old.get("submission_sha256") == sha and old.get("assignment") == solution.stem:
                return _row(student, path, old), "skipped"
        except ValueError:
            pass  # a damaged report: grade again
    report_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        report = grade(path, report_path, assignment=solution, **kw)
    except GradingError:
        raise  # the instructor's side (no isolation, no check): stop the whole class
    except Exception as e:  # noqa: BLE001  (one student's submission must not stop the class)
        return {"student": student, "assignment": solution.stem, "file": str(path), "score": 0, "total": 0,
                "percent": "", "flags": f"error: {type(e).__name__}: {str(e)[:120]}"}, "error"
    return _row(student, path, report), "graded"


def _refused(student: str, path: Path, why: str, solution: Path | None = None) -> tuple[dict, str]:
    return {"student": student, "assignment": solution.stem if solution else "", "file": str(path), "score": 0,
            "total": 0, "percent": "", "flags": why}, "error"


def grade_class(folder: str | Path, out: str | Path, *, assignment: str | Path | None = None, jobs: int = 2,
                regrade: bool = False, **grade_kw) -> dict:
    """Grade every submission under folder into out; return the summary (also the CSV's rows)."""
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise GradingError(f"{folder} is not a folder of submissions")
    subs = find_submissions(folder)
    if not subs:
        raise GradingError(f"no notebooks (.ipynb, .py) in {folder} or its subfolders")
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        done = list(pool.map(lambda s: _refused(*s) if s[2] else _one(s[0], s[1], out, s[3], regrade, grade_kw),
                             _plan(subs, assignment)))
    rows = [r for r, _ in done]
    columns = ["student", "assignment", "file"]
    columns += sorted({k for r in rows for k in r if k.startswith("ex:")})
    columns += ["score", "total", "percent", "flags"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in r.items()} for r in rows)
    table = out / "class.csv"
    atomic_write_text(buf.getvalue(), table)
    status = [s for _, s in done]
    percents = [r["percent"] for r in rows if r.get("percent") not in ("", None)]
    summary = {"submissions": len(rows), "graded": status.count("graded"), "skipped": status.count("skipped"),
               "errors": status.count("error"), "flagged": sum(1 for r in rows if r.get("flags")),
               "malformed": sum(1 for r in rows if "malformed" in r.get("flags", "")),
               "mean_percent": round(sum(percents) / len(percents), 1) if percents else None,
               "table": str(table), "rows": rows}
    write_json(out / "summary.json", {k: v for k, v in summary.items() if k != "rows"})
    return summary


def format_summary(summary: dict) -> str:
    """What `python -m vaecourse grade FOLDER` prints: one line per student, then the totals."""
    lines = []
    for r in summary["rows"]:
        score = f"{r['score']}/{r['total']}" if r.get("total") else "-"
        lines.append(f"  {r['student']:<20} {r.get('assignment', ''):<26} {score:>6}  {r.get('flags', '')}".rstrip())
    mean = "-" if summary["mean_percent"] is None else f"{summary['mean_percent']:.0f}%"
    lines.append(f"{summary['submissions']} submissions: {summary['graded']} graded, {summary['skipped']} skipped "
                 f"(already graded), {summary['errors']} not gradable, {summary['flagged']} flagged, "
                 f"{summary['malformed']} malformed; mean score {mean}")
    lines.append(f"class table: {summary['table']}")
    return printable("\n".join(lines))  # a student's name or flag never acts on the terminal

"""The autograder: the trusted grader process decides; the student's code only returns data.

    report = grade("submissions/ada/02_reparameterization.ipynb")   # a dict, also written as JSON
    print(format_report(report))

or `make grade NB=...` (`python -m vaecourse grade NB [--assignment NAME] [--json PATH]`); a folder of
submissions is graded as a class by `vaecourse.classroom`.

What happens, in this (the grader's) process unless said otherwise:

1. **The assignment** is the instructor's solution notebook `notebooks/NN_topic.py`: the one named
   by `assignment` (a number such as "02", a name, or a path), else the one whose number the
   submission's file name carries. It alone says which exercises count and their points; the
   submission's metadata and cells never do (a deleted exercise cell scores "not attempted").
2. **The submission** is read as data (JSON or jupytext text, size-limited, every field checked,
   by `vaecourse.submission`); only the sources of its cells tagged `exercise` are kept.
   Nothing of it is executed here and nothing of it is parsed as Python here. A submission that
   cannot be read gets a report that marks it `malformed` with a one-line reason.
3. **The inputs**: each expected exercise's check (`vaecourse.checks`) draws fresh inputs from
   the grader's seed and computes vaelib's reference answers. The references stay here.
4. **The student process** (`vaecourse.sandbox`, isolated by the operating system: its own
   namespaces, a read-only root without the repository, no network, resource limits) runs the
   exercise cells and, for each exercise, the probe of `vaecourse.probes` that calls the
   student's code on the inputs. It has no reference to call: its `vaelib` holds only the
   helpers the solution's exercise cells import. It returns plain data (torch.save), which this
   process loads with `weights_only=True` and turns into plain tensors
   (`vaecourse.student_process` writes the job and reads the results).
5. **The verdicts**: each check's judge compares that data with the reference here: `passed`;
   `failed` with a hint; `not attempted` (NotImplementedError, or nothing defined). Score =
   points of the passed exercises. Open questions are listed as answered or not, for grading by
   hand. Cells that reach for the grader's internals are listed under `flags` for a human look.

The report (a dict and an atomically written JSON file): {"notebook", "assignment",
"submission_sha256", "graded_at", "seed", "isolation": {"level", "detail"}, "network",
"exercises": [{"id", "title", "status", "hint", "points", "score", "seconds"}], "questions":
[{"id", "cell", "status", "answer", "graded"}], "score", "total", "percent", "flags", "json"}.

This module holds the assignment's side (`resolve_assignment`, `student_library`), the verdicts,
and `grade`, which runs the steps above one function each, then `format_report`.
"""

from __future__ import annotations

import ast
import datetime as _dt
import importlib.util
import json
import math
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any

from vaecourse import sandbox
from vaecourse.student_process import run_student
from vaecourse.submission import Malformed, clean, printable, read_submission, submission_sha256

__all__ = ["fresh_seed", "GradingError", "PASSED", "FAILED", "NOT_ATTEMPTED", "format_report", "grade", "resolve_assignment",
           "student_library", "write_json"]

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
ANSWERED = "answered"
DEFAULT_TIMEOUT = 300  # seconds for the whole student process
NETWORK = "disabled"
LIBRARIES = ("vaelib", "vaecourse")  # the packages whose names the solution's exercise cells may import


class GradingError(Exception):
    """The instructor's side is wrong (no such assignment, no isolation): one line for the user."""


# ----------------------------------------------------------------------------- the assignment


def resolve_assignment(assignment: str | Path | None, submission: Path) -> Path:
    """The solution notebook (notebooks/NN_topic.py) that defines what counts."""
    from vaelib.runtime import NOTEBOOKS, series

    if assignment is not None:
        p = Path(assignment)
        if p.suffix in (".py", ".ipynb") and p.is_file():
            return p.with_suffix(".py") if p.with_suffix(".py").is_file() else p
        hits = [s for s in series() if s.stem == str(assignment) or s.stem.startswith(f"{assignment}_")
                or s.stem.split("_", 1)[0] == str(assignment)]
        if len(hits) != 1:
            known = ", ".join(s.stem for s in series())
            raise GradingError(f"no assignment {assignment!r} in {NOTEBOOKS} (known: {known})")
        return hits[0]
    numbers = re.findall(r"(?<!\d)(\d{2})(?!\d)", submission.name)
    hits = [s for s in series() for n in numbers if s.stem.split("_", 1)[0] == n]
    if len({h.stem for h in hits}) != 1:
        raise GradingError(f"cannot tell the assignment of {submission.name} from its name: "
                           "pass --assignment (e.g. --assignment 02)")
    return hits[0]


def _ours(module: str | None) -> bool:
    """Is it a module of this project's packages (vaelib, the student's library, or vaecourse)?"""
    return (module or "").split(".")[0] in LIBRARIES


def student_library(solution_cells: list[str], graded: set[str]) -> dict[str, str]:
    """The vaelib that the student process gets: {relative path: source}. It holds exactly the
    names the solution's exercise cells import from vaelib (or vaecourse: that package then comes
    the same way), with the module-level helpers and constants they use, and refuses to hand out
    a graded exercise's reference."""
    wanted: dict[str, set[str]] = {}
    for src in solution_cells:
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and _ours(node.module):
                wanted.setdefault(node.module, set()).update(a.name for a in node.names)
    files = {"vaelib/__init__.py": '"""vaelib as the autograder\'s student process sees it: helpers only."""\n'}
    for module, names in sorted(wanted.items()):
        origin = Path(importlib.util.find_spec(module).origin)
        tree = ast.parse(origin.read_text(encoding="utf-8"))
        top = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        needed, stack = set(), list(names)
        while stack:
            name = stack.pop()
            if name in graded:
                raise GradingError(f"the solution's exercise cells import {module}.{name}, a graded exercise")
            if name in top and name not in needed:
                needed.add(name)
                stack += [n.id for n in ast.walk(top[name])
                          if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in top]
        kept = [n for n in tree.body
                if (isinstance(n, ast.Import) and not any(_ours(a.name) for a in n.names))
                or (isinstance(n, ast.ImportFrom) and not _ours(n.module) and n.level == 0)
                or (isinstance(n, (ast.Assign, ast.AnnAssign)) and not isinstance(n.value, ast.Lambda))
                or (isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in needed)]
        parts = module.split(".")
        for i in range(1, len(parts)):  # vaelib/__init__.py keeps its docstring above
            files.setdefault("/".join(parts[:i]) + "/__init__.py", "")
        files["/".join(parts) + ".py"] = ast.unparse(ast.Module(body=kept, type_ignores=[])) + "\n"
    return files


# ----------------------------------------------------------------------------- the verdicts


def _questions(sub: dict, solution) -> list[dict]:
    """Open questions, answered or not, for grading by hand (`answers.answers` never raises
    on student content; the solution notebook tells the student's words from the notebook's)."""
    from vaecourse.answers import answers

    return [{**a, "graded": "by hand"} for a in answers(sub["raw"], reference=solution)]



def _verdict(ex: str, r: Any, inputs: dict, ref: Any) -> tuple[str, str | None]:
    from vaecourse.checks import CHECKS, CheckFailed

    check = CHECKS[ex]
    if not isinstance(r, dict):
        return FAILED, "the student process returned no result for this exercise"
    status = r.get("status")
    if status == "missing":
        return NOT_ATTEMPTED, f"no cell tagged 'exercise' defines {ex}"
    if status == "cell error":
        return FAILED, f"the exercise cell stopped before defining {ex}: {r.get('why')}"
    if r.get("module") != "student_notebook":
        return FAILED, f"{ex} must be written in its exercise cell, not imported"
    if check.kind == "class" and r.get("is_class") is not True:
        return FAILED, f"{ex} must be a class (a subclass of torch.nn.Module)"
    if check.kind == "function" and (r.get("callable") is not True or r.get("is_class") is True):
        return FAILED, f"{ex} must be a function"
    if status == "not implemented":
        return NOT_ATTEMPTED, r.get("why") or None
    if status == "raised":
        return FAILED, f"raised {r.get('why')}"
    if status != "ran":
        return FAILED, "the student process did not check this exercise"
    try:
        check.judge(r.get("outputs"), inputs, ref)
    except CheckFailed as e:
        return FAILED, str(e) or "the check failed"
    except Exception as e:  # noqa: BLE001  (malformed data from the student process)
        return FAILED, f"the grader could not read what {ex} returned ({type(e).__name__}: {str(e)[:120]})"
    return PASSED, None


# ----------------------------------------------------------------------------- grading, step by step


def grade(notebook: str | Path, json_path: str | Path | None = None, *, assignment: str | Path | None = None,
          seed: int | None = None, timeout: float = DEFAULT_TIMEOUT, allow_weak: bool = False) -> dict:
    """Grade one submission against the instructor's solution notebook; return the report and
    write it as JSON. GradingError for the instructor's mistakes; a malformed submission gets a
    report with the flag "malformed", never an exception."""
    from vaecourse.checks import DEFAULT_SEED

    path = Path(notebook)
    if not path.is_file():
        raise GradingError(f"no notebook at {path}")
    solution = resolve_assignment(assignment, path)
    try:
        iso = sandbox.isolation(allow_weak)  # before any work: refuse weak isolation unless allowed
    except RuntimeError as e:
        raise GradingError(str(e)) from None
    solution_nb, sol_exercises = _solution_exercises(solution)
    seed = fresh_seed() if seed is None else int(seed)  # recorded in the report: --seed reproduces it
    flags: list[str] = [] if iso.level == "namespaces" else ["isolation: weak"]
    results, prepared, questions, why_none = _run_submission(path, solution_nb, sol_exercises, seed, timeout,
                                                             iso.level, flags)
    out_ex = _exercise_rows([e.id for e in sol_exercises], results, prepared, why_none)
    report = _report(path, solution, seed, iso, out_ex, questions, flags)
    out = Path(json_path) if json_path is not None else Path(tempfile.mkdtemp(prefix="vaelib-grade-")) / "report.json"
    report["json"] = str(out)
    write_json(out, report)
    return report


def _solution_exercises(solution: Path) -> tuple[Any, list]:
    """The solution notebook and its exercises (step 1); GradingError when one has no check."""
    from vaecourse.assignments import exercises, read_notebook
    from vaecourse.checks import CHECKS

    solution_nb = read_notebook(solution)
    sol_exercises = exercises(solution_nb, str(solution))
    missing = [e.id for e in sol_exercises if e.id not in CHECKS]
    if missing:
        raise GradingError(f"the grader has no check for {', '.join(missing)} ({solution.name})")
    return solution_nb, sol_exercises


def _run_submission(path: Path, solution_nb: Any, sol_exercises: list, seed: int, timeout: float, level: str,
                    flags: list[str]) -> tuple[dict, dict, list[dict], str | None]:
    """Steps 2 to 4: read the submission, draw the inputs, run the student process. Returns
    (results, {exercise: (inputs, reference)}, questions, why there are no results); appends to
    `flags` what a human should look at."""
    import torch

    from vaecourse.assignments import EXERCISE_TAG
    from vaecourse.checks import CHECKS, check_seed, suspicious_lines

    try:
        sub = read_submission(path)
    except Malformed as e:
        flags.append("malformed")
        return {}, {}, [], str(e)
    expected = [e.id for e in sol_exercises]
    cells = [c["source"] for c in sub["cells"] if c["cell_type"] == "code" and EXERCISE_TAG in c["tags"]]
    for src in cells:
        flags.extend(f"suspicious: {line}" for line in suspicious_lines(src))
    questions = _questions(sub, solution_nb)
    prepared = {ex: CHECKS[ex].prepare(torch.Generator().manual_seed(check_seed(ex, seed))) for ex in expected}
    results: dict = {}
    why_none = None
    if expected:
        library = student_library([e.source for e in sol_exercises], set(CHECKS))
        seeds = {ex: check_seed(ex, seed + 1) for ex in expected}
        data, why_none = run_student(cells, expected, {ex: prepared[ex][0] for ex in expected}, seeds, library,
                                      timeout, level)
        if data is None:
            flags.append("no results")
        results = data or {}
    return results, prepared, questions, why_none


def _exercise_rows(expected: list[str], results: dict, prepared: dict, why_none: str | None) -> list[dict]:
    """Step 5: one row of the report per expected exercise, with its verdict."""
    from vaecourse.checks import CHECKS

    out_ex = []
    for ex in expected:
        if why_none is not None:
            status, hint = FAILED, why_none
        else:
            status, hint = _verdict(ex, results.get(ex), *prepared[ex])
        r = results.get(ex) if isinstance(results.get(ex), dict) else {}
        seconds = r["seconds"] if isinstance(r.get("seconds"), float) and math.isfinite(r["seconds"]) else 0.0
        out_ex.append({"id": ex, "title": CHECKS[ex].title, "status": status, "hint": hint, "points": 1,
                       "score": 1 if status == PASSED else 0, "seconds": round(seconds, 2)})
    return out_ex


def _report(path: Path, solution: Path, seed: int, iso: Any, out_ex: list[dict], questions: list[dict],
            flags: list[str]) -> dict:
    """The report without its "json" entry, every string cleaned."""
    score, total = sum(e["score"] for e in out_ex), sum(e["points"] for e in out_ex)
    return clean({
        "notebook": str(path),
        "assignment": solution.stem,
        "submission_sha256": submission_sha256(path),
        "graded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "isolation": {"level": iso.level, "detail": iso.detail},
        "network": NETWORK if iso.level == "namespaces" else "not isolated (weak isolation)",
        "exercises": out_ex,
        "questions": questions,
        "score": score,
        "total": total,
        "percent": round(100.0 * score / total, 1) if total else None,
        "flags": flags,
    })


def fresh_seed() -> int:
    """A seed for one grading's check inputs, drawn afresh (os.urandom): a table of the answers on
    any fixed inputs (the notebooks' own, DEFAULT_SEED) does not pass. The report records it."""
    return secrets.randbelow(2**62)


def write_json(path: Path, data: dict) -> None:
    """Atomically (vaelib.runtime.atomic_write_text): never a partial report."""
    from vaelib.runtime import atomic_write_text

    atomic_write_text(json.dumps(clean(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n", Path(path))


def format_report(report: dict) -> str:
    """The report as a plain-text table (what `python -m vaecourse grade` prints)."""
    rows = [(e["id"], e["status"], e["hint"] or "") for e in report["exercises"]]
    lines = [f"notebook: {report['notebook']} (assignment {report['assignment']})",
             f"checks on fresh inputs (seed {report['seed']}); isolation: {report['isolation']['detail']}", ""]
    if rows:
        w1 = max(len("exercise"), *(len(r[0]) for r in rows))
        w2 = max(len("status"), *(len(r[1]) for r in rows))
        lines.append(f"  {'exercise':<{w1}}  {'status':<{w2}}  hint")
        lines.append(f"  {'-' * w1}  {'-' * w2}  {'-' * 4}")
        for ex, status, hint in rows:
            lines.append(f"  {ex:<{w1}}  {status:<{w2}}  {hint}".rstrip())
        lines.append("")
        lines.append(f"score: {report['score']} / {report['total']} exercises ({report['percent']:.0f}%)")
    else:
        lines.append("no exercises in this notebook")
    if report["questions"]:
        answered = ", ".join(f"{q['id']} {q['status']}" for q in report["questions"])
        lines.append(f"open questions (graded by hand): {answered}")
    if report["flags"]:
        lines.append("flags: " + "; ".join(report["flags"]))
    lines.append(f"JSON report: {report['json']}")
    return printable("\n".join(lines))  # a submission's text never acts on the terminal

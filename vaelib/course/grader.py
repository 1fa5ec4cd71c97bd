"""The autograder: a student's exercises against vaelib's reference, in a sandboxed subprocess.

    report = grade("student/02_reparameterization.ipynb")    # a dict, also written as JSON
    print(format_report(report))

or `make grade NB=student/02_reparameterization.ipynb` (`vaelib grade NB [--json PATH]`).

What happens:

1. Only the cells tagged `exercise` are taken from the notebook (see vaelib.course.assignments for the
   convention); the notebook itself is never executed. Which exercises count comes from the
   solution notebook of the same name (`notebooks/NN_topic.py`; the name a student version
   records in its metadata, else the file's), so a deleted exercise cell is "not attempted",
   not forgotten; without a solution notebook, from that metadata, else from the cells.
2. A fresh interpreter (`python -I -B`, no user site, no PYTHON* variables) runs in a new
   temporary folder (its cwd, HOME and TMPDIR), with a time limit. Before any student code
   runs it (a) disables the network: `socket.socket`, `socket.create_connection`,
   `socket.getaddrinfo` and friends raise, and an audit hook refuses sockets, subprocesses and
   writes outside the temporary folder; where the system allows it (`unshare --net
   --map-root-user`, Linux) the interpreter also runs in an empty network namespace;
   (b) draws the check inputs from the grader's seed (never used by the notebooks) and computes
   vaelib's reference answers; (c) hides vaelib's own implementations of the exercises, so an
   exercise cannot pass by calling them.
3. The exercise cells run in one namespace (after `import math, torch, numpy as np, torch.nn as
   nn, torch.nn.functional as F`), then each exercise's check (vaelib.course.checks) runs on
   the student's function or class, with its own time limit. Status: `passed`; `failed` with a
   hint; `not attempted` (NotImplementedError, or nothing defined).
4. The score is passed / total (one point per exercise). Open questions are listed as answered
   or not, with the answer text, for grading by hand.

The report is a dict (and a JSON file): {"notebook", "graded_at", "seed", "network",
"exercises": [{"id", "title", "status", "hint", "points", "score", "seconds"}], "questions":
[{"id", "cell", "status", "answer", "graded"}], "score", "total", "percent", "json"}. The JSON goes where `json_path`
says, else into a new folder under the system's temporary directory; the grader writes nothing
else outside its temporary folder, which it removes when done.

The sandbox stops accidents and casual cheating; it is not a security boundary against a
determined attacker. Grade untrusted submissions in a container or VM as well.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
ANSWERED = "answered"
DEFAULT_TIMEOUT = 300  # seconds for the whole sandbox run
CHECK_TIMEOUT = 60  # seconds for one exercise cell or one check
STUDENT_MODULE = "student_notebook"  # __name__ of the namespace the exercise cells run in
PREAMBLE = "import math\nimport numpy as np\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
NETWORK_DISABLED = "network access is disabled in the autograder"
PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # so the sandbox imports this vaelib


class GradingError(Exception):
    """The notebook cannot be graded at all (missing, not a notebook): one line for the user."""


# ----------------------------------------------------------------------------- the parent side


@lru_cache(maxsize=1)
def network_namespace_prefix() -> tuple[str, ...]:
    """`unshare --net --map-root-user` when this system lets an unprivileged user do it, else ()."""
    exe = shutil.which("unshare")
    if exe is None or not sys.platform.startswith("linux"):
        return ()
    cmd = (exe, "--net", "--map-root-user")
    try:
        ok = subprocess.run([*cmd, "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return cmd if ok else ()


def _read(path: Path):
    import nbformat

    from vaelib.course.assignments import read_notebook

    if not path.is_file():
        raise GradingError(f"no notebook at {path}")
    if path.suffix not in (".ipynb", ".py"):
        raise GradingError(f"{path} is not a notebook (.ipynb, or a jupytext .py)")
    try:
        return read_notebook(path)
    except (ValueError, OSError, nbformat.reader.NotJSONError) as e:  # NotJSONError is a ValueError
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise GradingError(f"{path} is not a readable notebook: {why}") from None


def expected_exercises(nb, path: Path) -> list[str]:
    """The exercise ids that count: those of the solution notebook of the same name (the name in
    the student version's metadata, else the file's), else the list in that metadata (a grader
    without the notebooks/ folder), else the ones this notebook defines in its exercise cells."""
    from vaelib.course.assignments import EXERCISE_TAG, METADATA_KEY, NOTEBOOKS, defined_names, exercise_ids

    meta = nb.metadata.get(METADATA_KEY) or {}
    solution = NOTEBOOKS / f"{meta.get('notebook') or path.stem}.py"
    if solution.is_file():
        return exercise_ids(solution)
    if isinstance(meta.get("exercises"), list) and all(isinstance(e, str) for e in meta["exercises"]):
        return list(meta["exercises"])
    found: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code" and EXERCISE_TAG in cell.get("metadata", {}).get("tags", []):
            found += [n for n in defined_names(cell.source)[:1] if n not in found]
    return found


def grade(notebook: str | Path, json_path: str | Path | None = None, *, seed: int | None = None,
          timeout: float = DEFAULT_TIMEOUT, network_namespace: bool = True) -> dict:
    """Grade the exercises of one notebook; return the report and write it as JSON.

    network_namespace=False leaves out the empty network namespace even where the system offers
    it (the Python guards stay): the tests use it to check that the guards alone hold.
    """
    from vaelib.course.assignments import EXERCISE_TAG, answer_text, questions, ANSWER_PLACEHOLDER, defined_names
    from vaelib.course.checks import CHECKS, DEFAULT_SEED

    path = Path(notebook)
    nb = _read(path)
    seed = DEFAULT_SEED if seed is None else seed
    expected = expected_exercises(nb, path)
    cells = [
        {"index": i, "source": c.source, "names": defined_names(c.source)}
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and EXERCISE_TAG in c.get("metadata", {}).get("tags", [])
    ]
    results: dict[str, dict] = {}
    if expected:
        results = _run_sandbox(cells, expected, seed, timeout, network_namespace)

    exercises = []
    for ex in expected:
        r = results.get(ex, {"status": FAILED, "hint": "the grader returned no result for this exercise"})
        exercises.append({
            "id": ex,
            "title": CHECKS[ex].title if ex in CHECKS else ex,
            "status": r["status"],
            "hint": r.get("hint"),
            "points": 1,
            "score": 1 if r["status"] == PASSED else 0,
            "seconds": round(r.get("seconds", 0.0), 2),
        })
    qs = []
    for q in questions(nb, require_markers=False):
        text = answer_text(nb.cells[q.cell_index].source)
        answered = bool(text) and text != ANSWER_PLACEHOLDER
        qs.append({"id": q.id, "cell": q.cell_index, "status": ANSWERED if answered else NOT_ATTEMPTED,
                   "answer": text if answered else None, "graded": "by hand"})
    score = sum(e["score"] for e in exercises)
    total = sum(e["points"] for e in exercises)
    report = {
        "notebook": str(path),
        "graded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "network": "disabled (" + ("empty network namespace + " if network_namespace and network_namespace_prefix()
                                   else "") + "Python socket guards)",
        "exercises": exercises,
        "questions": qs,
        "score": score,
        "total": total,
        "percent": round(100.0 * score / total, 1) if total else None,
    }
    out = Path(json_path) if json_path is not None else Path(tempfile.mkdtemp(prefix="vaelib-grade-")) / "report.json"
    report["json"] = str(out)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return report


def _run_sandbox(cells: list[dict], expected: list[str], seed: int, timeout: float,
                 network_namespace: bool = True) -> dict[str, dict]:
    """Run the exercise cells and the checks in a fresh interpreter; {exercise id: result}."""
    with tempfile.TemporaryDirectory(prefix="vaelib-sandbox-") as tmp:
        # tmp/payload.json and tmp/results.jsonl are the grader's; tmp/work is the student code's
        # cwd, HOME and TMPDIR, and the only place it may write
        work = Path(tmp) / "work"
        payload, log = Path(tmp) / "payload.json", Path(tmp) / "results.jsonl"
        payload.write_text(json.dumps({
            "cells": cells, "exercises": expected, "seed": seed, "workdir": str(work), "results": str(log),
            "check_timeout": CHECK_TIMEOUT,
        }))
        for sub in ("mpl", "cache", "torch"):
            (work / sub).mkdir(parents=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work), "TMPDIR": str(work), "TMP": str(work), "TEMP": str(work),
            "MPLCONFIGDIR": str(work / "mpl"), "XDG_CACHE_HOME": str(work / "cache"),
            "TORCH_HOME": str(work / "torch"), "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", "1"),
        }
        boot = (f"import sys; sys.path.insert(0, {str(PACKAGE_PARENT)!r}); "
                "from vaelib.course.grader import sandbox_main; sandbox_main(sys.argv[1])")
        prefix = network_namespace_prefix() if network_namespace else ()
        cmd = [*prefix, sys.executable, "-I", "-B", "-c", boot, str(payload)]
        failure = None
        try:
            proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
                failure = f"the grader's sandbox stopped ({last[:200]})"
        except subprocess.TimeoutExpired:
            failure = f"the grader's time limit ({timeout:.0f} s) ran out before this exercise was checked"
        results = {}
        if log.exists():
            for line in log.read_text().splitlines():
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r.get("id") in expected and r.get("status") in (PASSED, FAILED, NOT_ATTEMPTED):
                    results[r["id"]] = r
        for ex in expected:
            if ex not in results:
                results[ex] = {"id": ex, "status": FAILED, "hint": failure or "no result from the sandbox"}
        return results


def format_report(report: dict) -> str:
    """The report as a plain-text table (what `vaelib grade` prints)."""
    rows = [(e["id"], e["status"], e["hint"] or "") for e in report["exercises"]]
    lines = [f"notebook: {report['notebook']}",
             f"checks on fresh inputs (seed {report['seed']}); network {report['network']}", ""]
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
    lines.append(f"JSON report: {report['json']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the sandbox side


class NetworkDisabledError(OSError):
    """Raised by every socket entry point inside the sandbox."""


class HiddenReferenceError(RuntimeError):
    """Raised by vaelib's own implementation of an exercise while the grader hides it."""


def disable_network() -> None:
    """Make every socket entry point raise NetworkDisabledError (before any student code runs)."""
    import socket

    def refuse(*args, **kwargs):
        raise NetworkDisabledError(NETWORK_DISABLED)

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            refuse()

    socket.socket = NoSocket
    socket.SocketType = NoSocket
    for name in ("create_connection", "create_server", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
                 "gethostbyaddr", "socketpair", "fromfd"):
        if hasattr(socket, name):
            setattr(socket, name, refuse)


def _install_audit_hook(workdir: Path) -> None:
    """Refuse sockets, new processes, and file changes outside workdir (and /dev/null)."""
    root = str(workdir.resolve())
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def inside(p) -> bool:
        if isinstance(p, int):  # a file descriptor: already open
            return True
        try:
            full = os.path.realpath(os.fsdecode(p))
        except (TypeError, ValueError):
            return False
        return full == root or full.startswith(root + os.sep) or full == os.devnull

    def hook(event: str, args: tuple) -> None:
        if event.startswith("socket.") and event not in ("socket.gethostname",):
            raise NetworkDisabledError(NETWORK_DISABLED)
        if event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                     "os.forkpty", "pty.spawn"):
            raise PermissionError(f"the autograder does not start processes ({event})")
        if event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags)
            if writing and path is not None and not inside(path):
                raise PermissionError(f"the autograder only writes inside its temporary folder, not to {path}")
        elif event in ("os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.utime",
                       "shutil.rmtree", "os.symlink", "os.link"):
            if args and not inside(args[0]):
                raise PermissionError(f"the autograder only changes files inside its temporary folder ({event})")
        elif event == "os.rename" and len(args) >= 2:
            if not (inside(args[0]) and inside(args[1])):
                raise PermissionError("the autograder only changes files inside its temporary folder (os.rename)")

    sys.addaudithook(hook)


def _hide_references(exercise_ids) -> None:
    """Replace vaelib's implementations of the exercises by stubs that say they are hidden."""
    import vaelib.losses
    import vaelib.models
    import vaelib.models.networks

    def hidden(name: str, where: str):
        def stub(*args, **kwargs):
            raise HiddenReferenceError(f"the grader hides {where}.{name}: write the exercise yourself, "
                                       "do not call vaelib's version")
        stub.__name__ = name
        return stub

    for name in exercise_ids:
        for module in (vaelib.losses, vaelib.models, vaelib.models.networks):
            if hasattr(module, name):
                setattr(module, name, hidden(name, module.__name__))


class _TimeLimit:
    """SIGALRM-based time limit for one cell or check (POSIX); a no-op elsewhere."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds, self.what = seconds, what

    def _expire(self, signum, frame):
        raise TimeoutError(f"{self.what} took longer than {self.seconds:.0f} s")

    def __enter__(self):
        import signal

        if hasattr(signal, "setitimer"):
            self._old = signal.signal(signal.SIGALRM, self._expire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        import signal

        if hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)
        return False


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300]}" if text else type(e).__name__


def sandbox_main(payload_path: str) -> None:
    """Entry point of the sandboxed interpreter (see `_run_sandbox`); writes results.jsonl."""
    import builtins
    import contextlib
    import io
    import time

    payload = json.loads(Path(payload_path).read_text())
    workdir = Path(payload["workdir"])
    out = open(payload["results"], "a", buffering=1)  # noqa: SIM115  (opened before the guards forbid it)
    disable_network()
    _install_audit_hook(workdir)

    import torch

    from vaelib.course.assignments import _without_magics
    from vaelib.course.checks import CHECKS, check_seed

    torch.set_num_threads(1)
    seed, limit = int(payload["seed"]), float(payload["check_timeout"])
    expected: list[str] = payload["exercises"]
    prepared = {ex: CHECKS[ex].prepare(torch.Generator().manual_seed(check_seed(ex, seed)))
                for ex in expected if ex in CHECKS}  # the references, before any student code runs
    _hide_references(list(CHECKS))

    ns: dict = {"__name__": STUDENT_MODULE, "__builtins__": builtins}
    exec(PREAMBLE, ns)
    cell_error: dict[str, str] = {}  # exercise id -> why its cell did not run to the end
    captured = io.StringIO()  # the student's prints stay out of the grader's output
    for cell in payload["cells"]:
        where = f"<exercise cell {cell['index']}>"
        try:
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured), \
                    _TimeLimit(limit, f"the exercise cell {cell['index']}"):
                exec(compile(_without_magics(cell["source"]), where, "exec"), ns)
        except BaseException as e:  # noqa: BLE001  (a student cell may raise anything, even SystemExit)
            if isinstance(e, KeyboardInterrupt):
                raise
            for name in cell["names"]:
                cell_error.setdefault(name, _describe(e))

    def result(ex: str, status: str, hint: str | None, seconds: float = 0.0) -> None:
        out.write(json.dumps({"id": ex, "status": status, "hint": hint, "seconds": seconds}) + "\n")

    for ex in expected:
        obj = ns.get(ex)
        if ex not in CHECKS:
            result(ex, FAILED, f"the grader has no check for {ex!r} (ask your instructor)")
            continue
        if obj is None:
            why = cell_error.get(ex)
            if why:
                result(ex, FAILED, f"the exercise cell stopped before defining {ex}: {why}")
            else:
                result(ex, NOT_ATTEMPTED, f"no cell tagged 'exercise' defines {ex}")
            continue
        if getattr(obj, "__module__", None) != STUDENT_MODULE:
            result(ex, FAILED, f"{ex} must be written in its exercise cell, not imported")
            continue
        if CHECKS[ex].kind == "class" and not isinstance(obj, type):
            result(ex, FAILED, f"{ex} must be a class (a subclass of torch.nn.Module), not a {type(obj).__name__}")
            continue
        if CHECKS[ex].kind == "function" and not callable(obj):
            result(ex, FAILED, f"{ex} must be a function, not a {type(obj).__name__}")
            continue
        t0 = time.perf_counter()
        try:
            torch.manual_seed(check_seed(ex, seed + 1))
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured), \
                    _TimeLimit(limit, f"checking {ex}"):
                CHECKS[ex].run(obj, prepared[ex])
        except NotImplementedError as e:
            result(ex, NOT_ATTEMPTED, str(e) or None, time.perf_counter() - t0)
        except AssertionError as e:  # CheckFailed, or an assert in the student's code
            result(ex, FAILED, str(e) or "an assertion failed", time.perf_counter() - t0)
        except BaseException as e:  # noqa: BLE001
            if isinstance(e, KeyboardInterrupt):
                raise
            result(ex, FAILED, f"raised {_describe(e)}", time.perf_counter() - t0)
        else:
            result(ex, PASSED, None, time.perf_counter() - t0)
    out.close()

"""The grader's side of the isolated student process: the job it hands over, the results it takes back.

`run_student` writes the job (the submission's exercise cells, the probes of
`vaecourse.probes`, the inputs, the helpers-only vaelib of `grader.student_library`), runs
it in `vaecourse.sandbox`, and loads what came back with `weights_only=True` as plain data
(plain tensors, numbers, strings, lists, dicts), or says why there is none.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from vaecourse import sandbox
from vaecourse.submission import clean

__all__ = ["CHECK_TIMEOUT", "MAX_RESULTS_BYTES", "MAX_RESULT_NODES", "MAX_RESULT_ELEMENTS", "read_results", "run_student"]

CHECK_TIMEOUT = 60  # seconds for one exercise cell or one probe
MAX_RESULTS_BYTES = 64 * 1024**2


#: what the grader takes back from the student process, checked before and while it is read:
#: nodes (lists, dicts, values) and tensor elements in all, and only uncompressed zip records
MAX_RESULT_NODES, MAX_RESULT_ELEMENTS = 100_000, 20_000_000


class _Budget:
    def __init__(self) -> None:
        self.nodes = self.elements = 0

    def spend(self, nodes: int = 1, elements: int = 0) -> None:
        self.nodes, self.elements = self.nodes + nodes, self.elements + elements
        if self.nodes > MAX_RESULT_NODES or self.elements > MAX_RESULT_ELEMENTS:
            raise ValueError("results over the grader's budget (values or tensor elements)")


def _sanitize(x: Any, depth: int = 0, budget: _Budget | None = None) -> Any:
    """The loaded results as plain data: plain tensors, numbers, strings, lists, dicts, within the
    budget: a list that holds one object many times is counted each time (no exponential copy),
    and an expanded tensor by its elements, not by its few stored bytes."""
    import torch

    budget = budget if budget is not None else _Budget()
    if depth > 8:
        raise ValueError("results nested too deeply")
    if isinstance(x, torch.Tensor):
        if type(x) is not torch.Tensor or x.is_sparse or x.numel() > 2_000_000:
            raise ValueError("results hold a tensor the grader does not take")
        budget.spend(elements=x.numel())  # before the copy
        return x.detach().clone()
    budget.spend()
    if x is None or type(x) in (bool, int, float, str):
        return x
    if type(x) in (list, tuple):
        return [_sanitize(v, depth + 1, budget) for v in x]
    if type(x) is dict:
        return {str(k): _sanitize(v, depth + 1, budget) for k, v in x.items()}
    raise ValueError(f"results hold a {type(x).__name__}")


def read_results(path: Path) -> tuple[dict | None, str | None]:
    """The student process's results file as plain data, or (None, why not): over the size limit, a
    zip record that is compressed (torch.save writes none, and one would inflate inside torch.load
    before any check), anything torch.load refuses with weights_only=True, or over the budget."""
    import torch

    if path.stat().st_size > MAX_RESULTS_BYTES:
        return None, "the student process returned more data than the grader reads"
    try:
        with zipfile.ZipFile(path) as z:
            if any(i.compress_type != zipfile.ZIP_STORED for i in z.infolist()):
                raise ValueError("a compressed record")
        data = _sanitize(torch.load(path, weights_only=True, map_location="cpu"))
        if not isinstance(data, dict):
            raise ValueError("not a dict")
    except Exception as e:  # noqa: BLE001  (whatever the student process wrote)
        return None, f"the student process returned data the grader does not take ({type(e).__name__}: {str(e)[:80]})"
    return data, None


def run_student(cells: list[str], expected: list[str], inputs: dict, seeds: dict, library: dict[str, str],
                timeout: float, level: str) -> tuple[dict | None, str | None]:
    """Run the exercise cells and the probes in the sandbox; (results, why there are none)."""
    import torch

    from vaecourse import probes

    with tempfile.TemporaryDirectory(prefix="vaelib-grade-job-") as tmp:
        job, work = Path(tmp) / "job", Path(tmp) / "work"
        work.mkdir()
        (job / "lib").mkdir(parents=True)
        shutil.copy(probes.__file__, job / "probes.py")
        for rel, src in library.items():
            (job / "lib" / rel).parent.mkdir(parents=True, exist_ok=True)
            (job / "lib" / rel).write_text(src, encoding="utf-8")
        inside_job = sandbox.JOB if level == "namespaces" else str(job)
        results_file = work / "results.pt"
        results_path = sandbox.RESULTS if level == "namespaces" else str(results_file)
        limits = dict(sandbox.LIMITS, RLIMIT_CPU=int(timeout) + 5)
        if level != "namespaces" or os.geteuid() != 0:
            limits.pop("RLIMIT_NPROC")  # counted per user id: only with a user id of its own
        payload = {"cells": cells, "exercises": expected, "seeds": seeds, "check_timeout": CHECK_TIMEOUT,
                   "results": results_path, "lib": f"{inside_job}/lib", "limits": limits}
        (job / "payload.json").write_text(json.dumps(payload), encoding="utf-8")
        torch.save(inputs, job / "inputs.pt")
        r = sandbox.run(job, work, timeout, level)
        if r.timed_out:
            return None, f"the grader's time limit ({timeout:.0f} s) ran out"
        if not results_file.is_file() or results_file.is_symlink() or results_file.stat().st_size == 0:
            last = (r.log.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
            return None, f"the student process stopped before it returned results ({clean(last)[:200]})"
        return read_results(results_file)

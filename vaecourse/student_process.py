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
from pathlib import Path
from typing import Any

from vaecourse import sandbox
from vaecourse.submission import clean

__all__ = ["CHECK_TIMEOUT", "MAX_RESULTS_BYTES", "run_student"]

CHECK_TIMEOUT = 60  # seconds for one exercise cell or one probe
MAX_RESULTS_BYTES = 64 * 1024**2


def _sanitize(x: Any, depth: int = 0) -> Any:
    """The loaded results as plain data: plain tensors, numbers, strings, lists, dicts."""
    import torch

    if depth > 8:
        raise ValueError("results nested too deeply")
    if isinstance(x, torch.Tensor):
        if type(x) is not torch.Tensor or x.is_sparse or x.numel() > 2_000_000:
            raise ValueError("results hold a tensor the grader does not take")
        return x.detach().clone()
    if x is None or type(x) in (bool, int, float, str):
        return x
    if type(x) in (list, tuple):
        return [_sanitize(v, depth + 1) for v in x]
    if type(x) is dict:
        return {str(k): _sanitize(v, depth + 1) for k, v in x.items()}
    raise ValueError(f"results hold a {type(x).__name__}")


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
        if results_file.stat().st_size > MAX_RESULTS_BYTES:
            return None, "the student process returned more data than the grader reads"
        try:
            data = _sanitize(torch.load(results_file, weights_only=True, map_location="cpu"))
            if not isinstance(data, dict):
                raise ValueError("not a dict")
        except Exception as e:  # noqa: BLE001  (whatever the student process wrote)
            return None, f"the student process returned data the grader does not take ({type(e).__name__})"
        return data, None

"""The grader's trusted side has a budget for everything it reads from a submission or from the
student process, checked before the work: payloads of each kind that made it quadratic,
exponential or huge are refused with a reason (or read in linear time), and the class goes on.

The heavy payloads run in a child process under a CPU-time limit hundreds of times what the
bounded code needs; the code before the budgets ran past it (killed: the test fails)."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import torch

from vaecourse.student_process import MAX_RESULT_ELEMENTS, read_results

REPO = Path(__file__).resolve().parents[1]


def _in_child(code: str, cpu_seconds: int = 20, memory: int | None = None) -> str:
    """Run `code` in a fresh interpreter under a CPU-time limit (and an address-space limit in
    bytes); its stdout (it must exit 0)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=REPO,
                       preexec_fn=limit, timeout=10 * cpu_seconds)
    assert r.returncode == 0, f"killed or failed (status {r.returncode}): {r.stderr[-500:]}"
    return r.stdout


def test_answer_markers_repeated_thousands_of_times_are_read_in_linear_time():
    out = _in_child("""
        from vaecourse.answers import answers
        from vaecourse.assignments import BEGIN_ANSWER
        q = (BEGIN_ANSWER + " x\\n") * 40_000  # ~1 MB: days for a scan from every marker to the end
        nb = {"cells": [{"cell_type": "markdown", "source": q, "metadata": {"tags": ["question"]}}]}
        print(answers(nb)[0]["status"])
    """)
    assert out.strip() == "not attempted"


def test_results_that_reuse_one_list_are_refused_within_the_budget(tmp_path):
    x: list = [1.0]
    for _ in range(6):
        x = [x] * 40  # 40^6 = 4e9 values to copy, from a file of a few KB
    torch.save({"kl_std_normal": x}, tmp_path / "results.pt")
    out = _in_child(f"""
        from pathlib import Path
        from vaecourse.student_process import read_results
        print(read_results(Path({str(tmp_path / 'results.pt')!r}))[1])
    """)
    assert "over the grader's budget" in out


def test_expanded_tensors_are_counted_by_their_elements_not_their_bytes(tmp_path):
    n = 50  # each under the per-tensor cap; together 95 M elements (380 MB) from a 14 KB file
    torch.save({"x": [torch.zeros(1).expand(1_900_000) for _ in range(n)]}, tmp_path / "results.pt")
    assert (tmp_path / "results.pt").stat().st_size < 100_000 and n * 1_900_000 > MAX_RESULT_ELEMENTS
    data, why = read_results(tmp_path / "results.pt")
    assert data is None and "over the grader's budget" in why


def test_a_compressed_zip_record_is_refused_before_torch_load_inflates_it(tmp_path):
    torch.save({"x": torch.zeros(10)}, tmp_path / "plain.pt")
    assert read_results(tmp_path / "plain.pt")[1] is None  # what torch.save writes is taken
    with zipfile.ZipFile(tmp_path / "plain.pt") as z, zipfile.ZipFile(tmp_path / "deflated.pt", "w",
                                                                         zipfile.ZIP_DEFLATED) as w:
        for info in z.infolist():
            w.writestr(info.filename, z.read(info.filename))
    data, why = read_results(tmp_path / "deflated.pt")
    assert data is None and "a compressed record" in why


def test_a_py_submission_with_too_many_cells_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "02_many.py"
    path.write_text("# %%\nx = 1\n" * 80_000)  # jupytext took minutes on it
    out = _in_child(f"""
        from pathlib import Path
        from vaecourse.submission import Malformed, read_submission
        try:
            read_submission(Path({str(path)!r}))
        except Malformed as e:
            print(e)
    """)
    assert "has 80000 cells, over the 5000 a notebook may have" in out


def test_a_huge_sparse_notebook_is_neither_read_nor_hashed_whole(tmp_path):
    """2 GiB that take no disk (a sparse file): refused by its size before it is read, and hashed
    in chunks up to the size limit, in a process that may not map more than 512 MiB."""
    path = tmp_path / "ada.ipynb"
    with open(path, "wb") as f:
        f.truncate(2 * 1024**3)
    out = _in_child(f"""
        from pathlib import Path
        from vaecourse.submission import Malformed, read_submission, submission_sha256
        path = Path({str(path)!r})
        print(len(submission_sha256(path)))
        try:
            read_submission(path)
        except Malformed as e:
            print(e)
    """, memory=512 * 1024**2)
    assert out.splitlines()[0] == "64" and "over the 20 MiB a notebook may have" in out

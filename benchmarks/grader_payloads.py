"""The grader's parent on the largest payload of each kind it must survive: time and peak memory.

    python benchmarks/grader_payloads.py

Each payload is built at the limit the grader allows (or far over it), then read by the parent's
own code in a fresh process, whose wall time and peak resident memory (ru_maxrss) are printed. The
budgets live in vaecourse.submission (MAX_SUBMISSION_BYTES, MAX_CELLS) and vaecourse.student_process
(MAX_RESULTS_BYTES, MAX_RESULT_NODES, MAX_RESULT_ELEMENTS); tests/test_grader_budgets.py checks each.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PAYLOADS = {
    "answer markers, a 20 MiB question cell": """
        from vaecourse.answers import answers
        from vaecourse.assignments import BEGIN_ANSWER
        q = (BEGIN_ANSWER + " x\\n") * (20 * 1024**2 // 24)
        answers({"cells": [{"cell_type": "markdown", "source": q, "metadata": {"tags": ["question"]}}]})
    """,
    "a .py of 5,000 cells (the most a notebook may have)": """
        from pathlib import Path
        from vaecourse.submission import read_submission
        p = Path(TMP) / "02_max.py"; p.write_text("# %%\\nx = 1\\n" * 5000)
        read_submission(p)
    """,
    "a .py of 80,000 cells (refused)": """
        from pathlib import Path
        from vaecourse.submission import Malformed, read_submission
        p = Path(TMP) / "02_many.py"; p.write_text("# %%\\nx = 1\\n" * 80_000)
        try: read_submission(p)
        except Malformed: pass
    """,
    "a 2 GiB sparse notebook (hashed, refused)": """
        from pathlib import Path
        from vaecourse.submission import Malformed, read_submission, submission_sha256
        p = Path(TMP) / "ada.ipynb"; open(p, "wb").truncate(2 * 1024**3)
        submission_sha256(p)
        try: read_submission(p)
        except Malformed: pass
    """,
    "results: lists reusing one object, 40^6 values": """
        import torch
        from pathlib import Path
        from vaecourse.student_process import read_results
        x = [1.0]
        for _ in range(6): x = [x] * 40
        p = Path(TMP) / "r.pt"; torch.save({"a": x}, p); read_results(p)
    """,
    "results: expanded tensors, 95 M elements from 14 KB": """
        import torch
        from pathlib import Path
        from vaecourse.student_process import read_results
        p = Path(TMP) / "r.pt"; torch.save({"a": [torch.zeros(1).expand(1_900_000) for _ in range(50)]}, p)
        read_results(p)
    """,
    "results: 16 M float32 elements (about the most its 64 MiB take)": """
        import torch
        from pathlib import Path
        from vaecourse.student_process import read_results
        p = Path(TMP) / "r.pt"; torch.save({"a": [torch.zeros(2_000_000) for _ in range(8)]}, p)
        assert read_results(p)[0] is not None
    """,
    "results: a deflated zip record (refused)": """
        import torch, zipfile
        from pathlib import Path
        from vaecourse.student_process import read_results
        p, q = Path(TMP) / "r.pt", Path(TMP) / "d.pt"; torch.save({"a": torch.zeros(10_000_000)}, p)
        with zipfile.ZipFile(p) as z, zipfile.ZipFile(q, "w", zipfile.ZIP_DEFLATED) as w:
            for i in z.infolist(): w.writestr(i.filename, z.read(i.filename))
        assert read_results(q)[0] is None
    """,
}


#: the child prints its own peak resident memory (KiB on Linux) last; it includes the interpreter
#: and, for the results payloads, torch itself
PEAK = "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"


def main() -> int:
    print("| payload | seconds | peak memory (MiB) |\n| --- | --- | --- |")
    for name, code in PAYLOADS.items():
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-c", f"TMP = {tmp!r}\n" + textwrap.dedent(code) + PEAK], cwd=REPO,
                               capture_output=True, text=True)
            seconds = time.perf_counter() - t0
        if r.returncode:
            print(f"| {name} | failed: {r.stderr.strip().splitlines()[-1:]} | |")
            continue
        print(f"| {name} | {seconds:.1f} | {int(r.stdout.split()[-1]) / 1024:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

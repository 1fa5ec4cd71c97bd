"""The autograder's checks: one per exercise id, judged in the grader's own process.

Each check has two halves, both in the trusted grader process:

- `prepare(g) -> (inputs, reference)` draws fresh inputs from the grader's generator (a seed the
  notebooks never use, shapes they never use) and computes vaelib's reference answers. Only
  `inputs` (plain tensors and numbers) go to the student process;
- `judge(outputs, inputs, reference)` reads what the student's code returned there (plain data,
  produced by the probe of the same id in `vaecourse.probes`) and raises CheckFailed with a
  hint saying what is wrong ("shape [B] expected, got [B, D]", "values differ by a factor of D:
  did you average over pixels instead of summing?"), or returns.

    from vaecourse.checks import check_exercise
    check_exercise("kl_std_normal", my_kl)   # both halves in this process (for notebooks and tests)

Randomness: where the reference and the student both draw random numbers (reparameterize,
iwae_bound), the judges compare distributions (moments, means over many repetitions within a few
standard errors) and gradients, never one draw against another, so any correct way of drawing ε
passes.

The checks themselves live with their notebooks: `vaecourse.checks_objective` (notebook 02)
`vaecourse.checks_models` (notebooks 03-09) and `vaecourse.checks_chapters` (10-12), on the helpers of
`vaecourse.check_helpers`. This module gathers them into `CHECKS` and runs them.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

import torch

from vaecourse import probes
from vaecourse.check_helpers import Check, CheckFailed
from vaecourse.checks_chapters import CHAPTER_CHECKS
from vaecourse.checks_models import MODEL_CHECKS
from vaecourse.checks_objective import OBJECTIVE_CHECKS

__all__ = ["CHECKS", "Check", "CheckFailed", "DEFAULT_SEED", "check_exercise", "check_seed", "suspicious_lines"]


# ----------------------------------------------------------------------------- the registry


CHECKS: dict[str, Check] = {c.id: c for c in (*OBJECTIVE_CHECKS, *MODEL_CHECKS, *CHAPTER_CHECKS)}
assert set(CHECKS) == set(probes.PROBES), "every check needs a probe of the same id"

DEFAULT_SEED = 918_273_645  # the notebooks never use it


def check_seed(exercise: str, seed: int = DEFAULT_SEED) -> int:
    """The generator seed of one exercise's inputs: the grader's seed mixed with the exercise id."""
    return (seed + zlib.crc32(exercise.encode())) % 2**63


def check_exercise(exercise: str, obj: Any, seed: int = DEFAULT_SEED) -> None:
    """Both halves in this process (no isolation, for notebooks and tests): returns, or raises
    CheckFailed / NotImplementedError."""
    check = CHECKS[exercise]
    inputs, ref = check.prepare(torch.Generator().manual_seed(check_seed(exercise, seed)))
    torch.manual_seed(check_seed(exercise, seed + 1))
    outputs = probes.PROBES[exercise](obj, inputs)
    check.judge(outputs, inputs, ref)


#: what a student's exercise cell has no business touching: the grader's internals, the
#: interpreter's frames and garbage collector, raw memory and processes. A match does not fail the
#: exercise (the checks decide that); it flags the submission for a human look.
SUSPICIOUS = re.compile(
    r"\b(probes|PROBES|payload|results\.pt|_getframe|sys\.modules|gc\.|ctypes|_posixsubprocess|os\._exit|"
    r"object\.__setattr__|__subclasses__|__globals__|__code__|__builtins__|builtins|importlib|subprocess|"
    r"os\.system|os\.fork|os\.exec|socket|signal\.|setitimer|resource\.|exec\(|eval\(|compile\()"
)


def suspicious_lines(source: str, limit: int = 5) -> list[str]:
    """The lines of a cell that reach for the grader's internals or the interpreter (see SUSPICIOUS)."""
    hits = [line.strip()[:160] for line in source.splitlines() if SUSPICIOUS.search(line)]
    return hits[:limit]

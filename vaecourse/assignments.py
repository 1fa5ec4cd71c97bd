"""Course assignments from the notebooks themselves: one source of truth, student versions.

The exercises and their solutions live in the notebooks (`notebooks/NN_topic.py`, the jupytext
source of truth). Tags and markers say what a student must write; everything else is the notebook.

**Exercise**: a code cell tagged `exercise` that defines one function or class whose name is the
exercise id (the autograder's checks in `vaecourse.checks` are keyed by it). The solution
lines sit between `# BEGIN SOLUTION` and `# END SOLUTION`, and the line right above
`# BEGIN SOLUTION` is `# HINT: ...`:

    # %% tags=["exercise"]
    import torch


    def kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        \"\"\"KL(N(mu, diag sigma^2) || N(0, I)) per example. mu, logvar: [B, D] -> [B] nats.\"\"\"
        # HINT: the closed form of the KL, summed over the latent dimensions: [B, D] -> [B]
        # BEGIN SOLUTION
        return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)
        # END SOLUTION

The student version replaces the hint line and everything from BEGIN to END (inclusive) by
`raise NotImplementedError("<hint>")` at the indentation of the BEGIN line. A class may have one
region per method (each with its own hint). The cell must import what it needs: the autograder
runs the exercise cells on their own, never the notebook.

**Check cell**: the ordinary code cell right after each exercise compares the notebook's
implementation with vaelib's, inside `exercise_check`:

    from vaecourse.assignments import exercise_check

    with exercise_check("kl_std_normal"):
        assert torch.allclose(kl_std_normal(mu, logvar), losses.kl_std_normal(mu, logvar))

In the solution notebooks (executed by nbval) a failing check raises as usual. The student
version says `exercise_check("kl_std_normal", strict=False)`: an unsolved exercise (its stub
raises NotImplementedError) or a failing check prints what failed, and the notebook runs on,
because the rest of it calls vaelib's own functions (`losses.kl_std_normal`), never the student's.

**Open question**: a markdown cell tagged `question` (the question only), followed right away by
a markdown cell tagged `answer` that holds the model answer; the answer points at the cells that
print the numbers it relies on (it never types a number in):

    # %% [markdown] tags=["question"]
    # **Question.** Why is ...?

    # %% [markdown] tags=["answer"]
    # **Answer.**
    # Because ...

The student version keeps the question and puts `*Your answer here.*` in the answer cell.
Questions are graded by hand: `answers(nb)` (in `vaecourse.answers`) tells the grader which
were answered and what the answer says, reading a student's notebook tolerantly (an answer typed
into the question cell, or into a new cell after it when the answer cell was deleted, still counts).

This module holds the conventions and reads them: the tags and markers, `exercises` and
`questions` of a solution notebook, and the check-cell helper `exercise_check` (the numbered
notebooks in order are `vaelib.runtime.series()`). The student versions are written by `vaecourse.student`
(`make_student`, `write_student_versions`).
"""

from __future__ import annotations

import ast
import re
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # jupytext and nbformat are imported where they are used: the grader's sandbox
    import nbformat  # imports this module and should not pay for them (seconds, via jsonschema)

__all__ = [
    "ANSWER_LABEL", "ANSWER_PLACEHOLDER", "ANSWER_TAG", "BEGIN_ANSWER", "BEGIN_SOLUTION", "CHECK_HELPER",
    "END_ANSWER", "END_SOLUTION", "EXERCISE_TAG", "Exercise", "HINT_PREFIX", "METADATA_KEY", "MarkerError",
    "QUESTION_TAG", "Question", "answer_text", "check_cells", "check_report",
    "defined_names", "exercise_check", "exercise_ids", "exercises", "questions", "read_notebook",
]


EXERCISE_TAG = "exercise"
QUESTION_TAG = "question"
BEGIN_SOLUTION = "# BEGIN SOLUTION"
END_SOLUTION = "# END SOLUTION"
HINT_PREFIX = "# HINT:"
ANSWER_TAG = "answer"
ANSWER_PLACEHOLDER = "*Your answer here.*"
ANSWER_LABEL = "**Answer.**"  # how a model answer starts (not part of a student's answer)
# the convention before answers had a cell of their own; old student versions may still carry it
BEGIN_ANSWER = "<!-- BEGIN ANSWER -->"
END_ANSWER = "<!-- END ANSWER -->"
CHECK_HELPER = "exercise_check"
METADATA_KEY = "vaelib_assignment"  # notebook metadata of a student version: where it came from


class MarkerError(ValueError):
    """A notebook breaks the marker convention (reported with the notebook and the cell)."""


# ----------------------------------------------------------------------------- reading the markers


@dataclass
class Exercise:
    """One exercise cell: its id (the name it defines), its cell index, its solution lines."""

    id: str
    cell_index: int
    source: str
    solution_lines: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)


@dataclass
class Question:
    cell_index: int  # the question cell; its answer cell is the next one
    number: int  # 1, 2, ... in notebook order
    answer: str  # the model answer (the answer cell's text), stripped

    @property
    def id(self) -> str:
        return f"question {self.number}"


def _tags(cell) -> list[str]:
    """A cell's tags, read tolerantly: a string is one tag, anything but strings is dropped."""
    meta = cell.get("metadata") if isinstance(cell, Mapping) else None
    tags = meta.get("tags") if isinstance(meta, Mapping) else None
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, (list, tuple)):
        return []
    return [t.strip() for t in tags if isinstance(t, str)]


def defined_names(source: str) -> list[str]:
    """Top-level functions and classes a cell defines, in order (a regex when it does not parse)."""
    try:
        tree = ast.parse(_without_magics(source))
    except SyntaxError:
        return re.findall(r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", source, flags=re.M)
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def _without_magics(source: str) -> str:
    """IPython `%magic` and `!shell` lines commented out, so the cell is plain Python."""
    return "\n".join(
        f"# {line}" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )


def _solution_regions(source: str, where: str) -> list[tuple[int, int, int, str]]:
    """(hint line, begin line, end line, hint) for every solution region of an exercise cell."""
    lines = source.splitlines()
    regions, begin = [], None
    for i, line in enumerate(lines):
        s = line.strip()
        if s == BEGIN_SOLUTION:
            if begin is not None:
                raise MarkerError(f"{where}: {BEGIN_SOLUTION} on line {i + 1} inside another solution region")
            begin = i
        elif s == END_SOLUTION:
            if begin is None:
                raise MarkerError(f"{where}: {END_SOLUTION} on line {i + 1} without a {BEGIN_SOLUTION}")
            if begin == 0 or not lines[begin - 1].strip().startswith(HINT_PREFIX):
                raise MarkerError(
                    f"{where}: the line above {BEGIN_SOLUTION} (line {begin + 1}) must be '{HINT_PREFIX} ...'"
                )
            hint = lines[begin - 1].strip()[len(HINT_PREFIX):].strip()
            if not hint:
                raise MarkerError(f"{where}: empty hint on line {begin}")
            regions.append((begin - 1, begin, i, hint))
            begin = None
    if begin is not None:
        raise MarkerError(f"{where}: {BEGIN_SOLUTION} on line {begin + 1} is never closed")
    return regions


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """A notebook from a jupytext .py or an .ipynb."""
    import jupytext
    import nbformat

    path = Path(path)
    if path.suffix == ".ipynb":
        return nbformat.read(path, as_version=4)
    return jupytext.read(path)


def exercises(nb: nbformat.NotebookNode, where: str = "notebook") -> list[Exercise]:
    """The exercise cells of a solution notebook, checked against the convention."""
    found: list[Exercise] = []
    for i, cell in enumerate(nb.cells):
        if EXERCISE_TAG not in _tags(cell):
            continue
        here = f"{where}, cell {i}"
        if cell.cell_type != "code":
            raise MarkerError(f"{here}: only code cells can be tagged {EXERCISE_TAG!r}")
        names = defined_names(cell.source)
        if len(names) != 1:
            raise MarkerError(f"{here}: an exercise cell defines exactly one function or class, found {names}")
        regions = _solution_regions(cell.source, here)
        if not regions:
            raise MarkerError(f"{here}: exercise {names[0]!r} has no {BEGIN_SOLUTION} ... {END_SOLUTION} region")
        lines = cell.source.splitlines()
        solution = [line for _, b, e, _ in regions for line in lines[b + 1 : e]]
        found.append(Exercise(names[0], i, cell.source, solution, [h for *_, h in regions]))
    ids = [e.id for e in found]
    if len(set(ids)) != len(ids):
        raise MarkerError(f"{where}: an exercise id appears twice: {ids}")
    return found


def answer_text(source) -> str | None:
    """What a student wrote in an answer cell: the text without the placeholder, stripped (None
    when nothing else is there). Tolerant: `source` may be a string or a list of strings."""
    text = _text(source).replace(ANSWER_PLACEHOLDER, "").strip()
    if text.startswith(ANSWER_LABEL):
        text = text[len(ANSWER_LABEL):].strip()
    return text if _normalise(text) else None


def questions(nb: nbformat.NotebookNode, where: str = "notebook", require_markers: bool = True) -> list[Question]:
    """The questions of a solution notebook with their model answers, checked against the convention.

    Each markdown cell tagged `question` must be followed by a markdown cell tagged `answer`
    holding the model answer; require_markers=False tolerates a missing answer cell (answer "")."""
    found = []
    cells = nb.cells
    for i, cell in enumerate(cells):
        tags = _tags(cell)
        here = f"{where}, cell {i}"
        if ANSWER_TAG in tags and not (i > 0 and QUESTION_TAG in _tags(cells[i - 1])):
            raise MarkerError(f"{here}: a cell tagged {ANSWER_TAG!r} must come right after a cell tagged {QUESTION_TAG!r}")
        if QUESTION_TAG not in tags:
            continue
        if cell.cell_type != "markdown":
            raise MarkerError(f"{here}: only markdown cells can be tagged {QUESTION_TAG!r}")
        if BEGIN_ANSWER in cell.source or END_ANSWER in cell.source:
            raise MarkerError(f"{here}: the model answer goes in a markdown cell of its own tagged {ANSWER_TAG!r} "
                              f"right after the question, not between {BEGIN_ANSWER} ... {END_ANSWER}")
        nxt = cells[i + 1] if i + 1 < len(cells) else None
        has_answer = nxt is not None and nxt.cell_type == "markdown" and ANSWER_TAG in _tags(nxt)
        if has_answer and QUESTION_TAG in _tags(nxt):
            raise MarkerError(f"{where}, cell {i + 1}: a cell is either a question or an answer")
        answer = (answer_text(nxt.source) or "") if has_answer else ""
        if require_markers and not answer:
            raise MarkerError(f"{here}: a question needs its model answer right after it, in a markdown cell "
                              f"tagged {ANSWER_TAG!r} (the student version blanks it); found none")
        found.append(Question(i, len(found) + 1, answer))
    return found


# ----------------------------------------------------------------------------- tolerant text
# Shared with vaecourse.answers: these read student-controlled content and must never raise on it.


def _text(source) -> str:
    """A cell's source as text: a string, or a list of strings joined; lone surrogates replaced."""
    if isinstance(source, (list, tuple)):
        source = "".join(s for s in source if isinstance(s, str))
    if not isinstance(source, str):
        return ""
    try:
        source.encode("utf-8")
        return source
    except UnicodeEncodeError:  # a lone surrogate: valid pairs are joined, the rest becomes U+FFFD
        return source.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _normalise(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------------------- check cells


@contextmanager
def exercise_check(exercise: str, strict: bool = True) -> Iterator[None]:
    """The body of an exercise's check cell: `with exercise_check("kl_std_normal"): ...`.

    strict=True (the solution notebooks, executed by the tests): a failing check raises as any
    cell would. strict=False (what `make_student` writes into the student versions): a failing
    check, or an exercise not solved yet (NotImplementedError from its stub), prints what failed,
    as a notice on the cell's ordinary output (JupyterLab paints stderr red, as for a crash), and
    the notebook runs on, on vaelib's own version of the exercise; a passing one says so.
    """
    try:
        yield
    except Exception as err:  # not KeyboardInterrupt: stopping a cell still stops it
        if strict:
            raise
        print(check_report(exercise, err))
    else:
        if not strict:
            print(f"✓ {exercise}: the check passed.")


def check_report(exercise: str, err: BaseException) -> str:
    """The message of a failed check in a student version (see `exercise_check`)."""
    try:
        message = str(err)
    except Exception:  # noqa: BLE001  (a student's exception class whose __str__ fails)
        message = "(unprintable)"
    what = f"{type(err).__name__}: {message}" if message else type(err).__name__
    uses = f"The rest of this notebook uses vaelib's own {exercise}, so it runs on"
    if isinstance(err, NotImplementedError):
        return (f"✗ {exercise} is not solved yet ({what}).\n"
                f"{uses}: write yours in the exercise cell above, then run that cell and this check again.")
    if isinstance(err, NameError) and getattr(err, "name", None) == exercise:
        return f"✗ {exercise} is not defined ({what}).\n{uses}: run its exercise cell above, then this check again."
    head = f"✗ {exercise}: the check failed with {what}"
    frames = traceback.extract_tb(err.__traceback__)
    if frames and frames[0].line:
        head += f"\n  in this cell, line {frames[0].lineno}: {frames[0].line}"
    if len(frames) > 1 and frames[-1].line and frames[-1].name != "<module>":
        head += f"\n  raised in {frames[-1].name}, line {frames[-1].lineno}: {frames[-1].line}"
    return (f"{head}\n{uses}: fix the exercise cell above, then run it and this check again "
            f"(exercise_check(..., strict=True) shows the full traceback).")


def check_cells(nb: nbformat.NotebookNode, where: str = "notebook") -> dict[str, int]:
    """{exercise id: index of its check cell}: the first code cell after each exercise cell,
    which must run its checks inside `with exercise_check("<id>"):`."""
    found = {}
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for ex in exercises(nb, where):
        after = [i for i in code if i > ex.cell_index]
        source = nb.cells[after[0]].source if after else ""
        if not re.search(rf"^with {CHECK_HELPER}\((['\"]){re.escape(ex.id)}\1\):", source, flags=re.M):
            raise MarkerError(f"{where}: the code cell after exercise {ex.id!r} must check it inside "
                              f'`with {CHECK_HELPER}("{ex.id}"):` (from vaecourse.assignments)')
        found[ex.id] = after[0]
    return found


def exercise_ids(source: str | Path) -> list[str]:
    """The exercise ids of a solution notebook, in order."""
    return [e.id for e in exercises(read_notebook(source), where=str(source))]



"""Course assignments from the notebooks themselves: one source of truth, student versions.

The exercises and their solutions live in the notebooks (`notebooks/NN_topic.py`, the jupytext
source of truth). Two markers say what a student must write; everything else is the notebook.

**Exercise**: a code cell tagged `exercise` that defines one function or class whose name is the
exercise id (the autograder's checks in `vaelib.course.checks` are keyed by it). The solution
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
runs the exercise cells on their own, never the notebook. The solution notebook follows each
exercise with an ordinary cell that checks it against vaelib, and the rest of the notebook keeps
calling vaelib's own functions (`losses.kl_std_normal`), so a student who skips an exercise can
still run the cells after it (only its check cell fails).

**Open question**: a markdown cell tagged `question`; the model answer sits between
`<!-- BEGIN ANSWER -->` and `<!-- END ANSWER -->` and points at the cells that print the numbers
it relies on (it never types a number in). The student version keeps the question and the two
(invisible) markers and puts `*Your answer here.*` between them. Questions are graded by hand:
the autograder reports whether they were answered and copies the answer into its JSON report.

    student_nb = make_student("notebooks/02_reparameterization.py")   # an nbformat notebook
    write_student_versions("student")                                 # every notebook, as .ipynb

Student versions also lose their outputs and execution counts (and the jupytext pairing, so a
student's Jupyter does not write a .py next to them).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # jupytext and nbformat are imported where they are used: the grader's sandbox
    import nbformat  # imports this module and should not pay for them (seconds, via jsonschema)

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"

EXERCISE_TAG = "exercise"
QUESTION_TAG = "question"
BEGIN_SOLUTION = "# BEGIN SOLUTION"
END_SOLUTION = "# END SOLUTION"
HINT_PREFIX = "# HINT:"
BEGIN_ANSWER = "<!-- BEGIN ANSWER -->"
END_ANSWER = "<!-- END ANSWER -->"
ANSWER_PLACEHOLDER = "*Your answer here.*"
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
    cell_index: int
    number: int  # 1, 2, ... in notebook order
    answer: str  # the text between the answer markers, stripped

    @property
    def id(self) -> str:
        return f"question {self.number}"


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


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


def answer_text(source: str) -> str | None:
    """The text between the answer markers of a question cell (None when the markers are gone)."""
    m = re.search(re.escape(BEGIN_ANSWER) + r"(.*?)" + re.escape(END_ANSWER), source, flags=re.S)
    return None if m is None else m.group(1).strip()


def questions(nb: nbformat.NotebookNode, where: str = "notebook", require_markers: bool = True) -> list[Question]:
    found = []
    for i, cell in enumerate(nb.cells):
        if QUESTION_TAG not in _tags(cell):
            continue
        if cell.cell_type != "markdown":
            raise MarkerError(f"{where}, cell {i}: only markdown cells can be tagged {QUESTION_TAG!r}")
        answer = answer_text(cell.source)
        if answer is None and require_markers:
            raise MarkerError(f"{where}, cell {i}: a question needs {BEGIN_ANSWER} ... {END_ANSWER}")
        found.append(Question(i, len(found) + 1, answer or ""))
    return found


def exercise_ids(source: str | Path) -> list[str]:
    """The exercise ids of a solution notebook, in order."""
    return [e.id for e in exercises(read_notebook(source), where=str(source))]


# ----------------------------------------------------------------------------- student versions


def stub_source(source: str, where: str = "cell") -> str:
    """An exercise cell with every solution region replaced by `raise NotImplementedError(hint)`."""
    lines = source.splitlines()
    out: list[str] = []
    last = 0
    for hint_line, begin, end, hint in _solution_regions(source, where):
        out.extend(lines[last:hint_line])
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        out.append(f"{indent}raise NotImplementedError({hint!r})")
        last = end + 1
    out.extend(lines[last:])
    return "\n".join(out)


def blank_answer(source: str) -> str:
    """A question cell with the model answer replaced by the placeholder (markers kept)."""
    return re.sub(
        re.escape(BEGIN_ANSWER) + r".*?" + re.escape(END_ANSWER),
        lambda _: f"{BEGIN_ANSWER}\n{ANSWER_PLACEHOLDER}\n{END_ANSWER}",
        source,
        flags=re.S,
    )


def make_student(source: str | Path | nbformat.NotebookNode, name: str | None = None) -> nbformat.NotebookNode:
    """The student version of a solution notebook (a .py, an .ipynb, or a notebook object).

    Solutions become stubs that raise NotImplementedError with the hint, model answers become
    the placeholder, outputs and execution counts are cleared; every other cell is unchanged.
    `name` (the notebook's stem) is recorded in the metadata so the grader finds the solution.
    """
    import nbformat

    if isinstance(source, (str, Path)):
        name = name or Path(source).stem
        where = str(source)
        nb = read_notebook(source)
    else:
        where = name or "notebook"
        nb = nbformat.from_dict(source)  # a copy: the caller's notebook stays as it was
    ex = exercises(nb, where)  # validates the markers before anything is changed
    qs = questions(nb, where)
    for i, cell in enumerate(nb.cells):
        tags = _tags(cell)
        if cell.cell_type == "code":
            if EXERCISE_TAG in tags:
                cell.source = stub_source(cell.source, f"{where}, cell {i}")
            cell.outputs = []
            cell.execution_count = None
        elif QUESTION_TAG in tags:
            cell.source = blank_answer(cell.source)
        cell.id = f"cell-{i}"  # deterministic ids: `make student` twice writes the same files
        cell.metadata = {"tags": tags} if tags else {}
    nb.metadata.pop("jupytext", None)
    nb.metadata.pop("widgets", None)
    nb.metadata[METADATA_KEY] = {
        "notebook": name,
        "exercises": [e.id for e in ex],
        "questions": len(qs),
        "grade": f"make grade NB=student/{name}.ipynb" if name else "make grade NB=<this notebook>",
    }
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def series(notebooks_dir: Path = NOTEBOOKS) -> list[Path]:
    """The numbered solution sources notebooks/[0-9]*.py, in order."""
    return sorted(notebooks_dir.glob("[0-9]*.py"))


def write_student_versions(out_dir: str | Path = "student", sources: list[Path] | None = None) -> list[Path]:
    """Write the student version of every notebook (or of `sources`) to out_dir/NN_topic.ipynb."""
    import nbformat

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sources if sources is not None else series():
        nb = make_student(src)
        path = out_dir / f"{Path(src).stem}.ipynb"
        nbformat.validate(nb)
        nbformat.write(nb, path)
        written.append(path)
    return written

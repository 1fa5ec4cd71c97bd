"""Student versions of the solution notebooks: solutions become stubs, answers placeholders.

    student_nb = make_student("notebooks/02_reparameterization.py")   # an nbformat notebook
    write_student_versions("student")                                 # every notebook, as .ipynb

What a student version changes (the markers it reads are described in `vaecourse.assignments`):
every solution region becomes `raise NotImplementedError("<hint>")`, check cells say
`exercise_check(..., strict=False)`, answer cells hold `*Your answer here.*`. Student versions also
lose their outputs and execution counts (and the jupytext pairing, so a student's Jupyter does not
write a .py next to them), and carry the complete metadata JupyterLab would write (kernelspec,
language_info, cell ids, nbformat 4.5), so opening one does not mark it as modified. Their
metadata (`METADATA_KEY`) records where they came from, for the grader and for `answers`.
"""

from __future__ import annotations

import platform
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vaecourse.answers import question_records
from vaelib.runtime import series
from vaecourse.assignments import (
    ANSWER_PLACEHOLDER,
    ANSWER_TAG,
    CHECK_HELPER,
    EXERCISE_TAG,
    METADATA_KEY,
    _solution_regions,
    _tags,
    exercises,
    questions,
    read_notebook,
)

if TYPE_CHECKING:  # nbformat is imported where it is used (seconds, via jsonschema)
    import nbformat

__all__ = ["DEFAULT_KERNELSPEC", "language_info", "make_student", "stub_source", "write_student_versions"]


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


def _lenient_checks(source: str) -> str:
    """A check cell as the student version has it: exercise_check(..., strict=False)."""
    return re.sub(rf"\b{CHECK_HELPER}\((['\"])(\w+)\1\)", rf"{CHECK_HELPER}(\1\2\1, strict=False)", source)


def language_info() -> dict:
    """The notebook's language_info as this Python's ipykernel reports it (JupyterLab writes the
    kernel's reply into the notebook when it connects: if the two differ, the notebook opens as
    modified)."""
    return {
        "name": "python",
        "version": platform.python_version(),
        "mimetype": "text/x-python",
        "codemirror_mode": {"name": "ipython", "version": sys.version_info[0]},
        "pygments_lexer": "ipython3",
        "nbconvert_exporter": "python",
        "file_extension": ".py",
    }


DEFAULT_KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def make_student(source: str | Path | nbformat.NotebookNode, name: str | None = None) -> nbformat.NotebookNode:
    """The student version of a solution notebook (a .py, an .ipynb, or a notebook object).

    Solutions become stubs that raise NotImplementedError with the hint, check cells report
    instead of raising (`exercise_check(..., strict=False)`), answer cells become the
    placeholder, outputs and execution counts are cleared; every other cell is unchanged.
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
    records = question_records(nb)  # the question texts as handed out, before any cell changes
    for i, cell in enumerate(nb.cells):
        tags = _tags(cell)
        if cell.cell_type == "code":
            if EXERCISE_TAG in tags:
                cell.source = stub_source(cell.source, f"{where}, cell {i}")
            else:
                cell.source = _lenient_checks(cell.source)
            cell.outputs = []
            cell.execution_count = None
        elif ANSWER_TAG in tags:
            cell.source = ANSWER_PLACEHOLDER
        cell.id = f"cell-{i}"  # deterministic ids: `make student` twice writes the same files
        cell.metadata = {"tags": tags} if tags else {}
    nb.metadata.pop("jupytext", None)
    nb.metadata.pop("widgets", None)
    spec = nb.metadata.get("kernelspec") or {}
    nb.metadata["kernelspec"] = {k: spec.get(k) or v for k, v in DEFAULT_KERNELSPEC.items()}
    nb.metadata["language_info"] = language_info()
    nb.metadata[METADATA_KEY] = {
        "notebook": name,
        "exercises": [e.id for e in ex],
        "questions": len(qs),
        "question_cells": records,
        "grade": f"make grade NB=student/{name}.ipynb" if name else "make grade NB=<this notebook>",
    }
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


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

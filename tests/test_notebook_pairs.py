"""Every notebook is a pair that agrees with itself, and its .ipynb holds a complete full run.

notebooks/NN_topic.py (jupytext percent) is the reviewed source of the inputs; the paired
notebooks/NN_topic.ipynb carries the same cells plus the outputs of the last full run. These tests
only read files (nothing is executed): they fail when someone edits one file of a pair and not
the other, or commits a notebook that was not run to the end in full mode.

Fix a failure by re-running the notebook: `python scripts/run_notebooks.py NN`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9]*.py"))


# ----------------------------------------------------------------------------- the comparison


def cell_signature(cell) -> tuple[str, str, tuple[str, ...]]:
    """What must agree between the two files of a pair: cell type, source and tags."""
    return cell.cell_type, cell.source, tuple(cell.metadata.get("tags", ()))


def _first_differing_line(a: str, b: str) -> str:
    la, lb = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f"line {i + 1}: {x!r} (.py) vs {y!r} (.ipynb)"
    i = min(len(la), len(lb))
    return f"line {i + 1}: one of them ends after {i} lines ({len(la)} in the .py, {len(lb)} in the .ipynb)"


def pair_differences(nb_py, nb_ipynb, limit: int = 5) -> list[str]:
    """How two notebooks differ in cell types, sources and tags; [] when they agree.

    nb_py is the notebook read from the .py (jupytext.read), nb_ipynb the one read from the
    .ipynb (nbformat.read). Outputs, execution counts, ids and other metadata are not compared.
    """
    diffs: list[str] = []
    a = [cell_signature(c) for c in nb_py.cells]
    b = [cell_signature(c) for c in nb_ipynb.cells]
    if len(a) != len(b):
        diffs.append(f"{len(a)} cells in the .py, {len(b)} in the .ipynb")
    for i, (x, y) in enumerate(zip(a, b)):
        if x[0] != y[0]:
            diffs.append(f"cell {i}: a {x[0]} cell in the .py, a {y[0]} cell in the .ipynb")
        elif x[1] != y[1]:
            diffs.append(f"cell {i} ({x[0]}): source differs at {_first_differing_line(x[1], y[1])}")
        if x[2] != y[2]:
            diffs.append(f"cell {i}: tags {list(x[2])} in the .py, {list(y[2])} in the .ipynb")
    return diffs[:limit] + ([f"... and {len(diffs) - limit} more"] if len(diffs) > limit else [])


def read_pair(py: Path):
    ipynb = py.with_suffix(".ipynb")
    assert ipynb.exists(), f"{py.name} has no paired {ipynb.name}: run `python scripts/run_notebooks.py {py.stem}`"
    return jupytext.read(py), nbformat.read(ipynb, as_version=4)


# ----------------------------------------------------------------------------- the committed pairs


def test_the_series_exists() -> None:
    assert SOURCES, f"no notebooks/[0-9]*.py in {NOTEBOOKS}"  # else the tests below test nothing


@pytest.mark.parametrize("py", SOURCES, ids=[p.stem for p in SOURCES])
def test_pair_agrees(py: Path) -> None:
    nb_py, nb_ipynb = read_pair(py)
    diffs = pair_differences(nb_py, nb_ipynb)
    assert not diffs, (
        f"{py.name} and {py.with_suffix('.ipynb').name} disagree (run "
        f"`python scripts/run_notebooks.py {py.stem}`):\n  " + "\n  ".join(diffs)
    )


@pytest.mark.parametrize("py", SOURCES, ids=[p.stem for p in SOURCES])
def test_source_has_kernelspec_title_and_one_setup(py: Path) -> None:
    nb = jupytext.read(py)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "YAML header without the python3 kernelspec"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "the notebook must open with an H1 title"
    setups = [c for c in nb.cells if c.cell_type == "code" and "session = setup(" in c.source]
    assert len(setups) == 1, f"session = setup() must be called in exactly one cell, found {len(setups)}"


@pytest.mark.parametrize("py", SOURCES, ids=[p.stem for p in SOURCES])
def test_ipynb_holds_a_complete_full_run(py: Path) -> None:
    _, nb = read_pair(py)
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{py.with_suffix('.ipynb').name} was not executed top to bottom in one run (execution counts {counts})"
    )
    errors = [i for i, c in enumerate(code) if any(o.output_type == "error" for o in c.outputs)]
    assert not errors, f"code cells {errors} of {py.with_suffix('.ipynb').name} hold errors"
    printed = "".join(o.get("text", "") for c in code for o in c.outputs if o.output_type == "stream")
    assert "mode: full" in printed, "the committed outputs must come from a full-mode run, not the test mode"


# ----------------------------------------------------------------------------- the checker itself


def _nb(*cells):
    return new_notebook(cells=list(cells))


def test_pair_differences_accepts_an_identical_pair() -> None:
    a = _nb(new_markdown_cell("# Title"), new_code_cell("x = 1", metadata={"tags": ["nbval-check-output"]}))
    b = _nb(new_markdown_cell("# Title"), new_code_cell("x = 1", metadata={"tags": ["nbval-check-output"]}))
    b.cells[1].outputs = [nbformat.v4.new_output("stream", text="ignored")]  # outputs are not compared
    b.cells[1].execution_count = 7
    assert pair_differences(a, b) == []


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda nb: setattr(nb.cells[1], "source", "x = 2"), "source differs at line 1: 'x = 1' (.py) vs 'x = 2'"),
        (lambda nb: nb.cells.__setitem__(1, new_markdown_cell("x = 1")), "a code cell in the .py, a markdown cell"),
        (lambda nb: nb.cells[1].metadata.__setitem__("tags", []), "tags ['nbval-check-output'] in the .py, []"),
        (lambda nb: nb.cells.append(new_code_cell("y = 2")), "2 cells in the .py, 3 in the .ipynb"),
        (lambda nb: nb.cells.pop(), "2 cells in the .py, 1 in the .ipynb"),
    ],
    ids=["source", "type", "tags", "extra-cell", "missing-cell"],
)
def test_pair_differences_reports_each_kind_of_mismatch(change, expected: str) -> None:
    py = _nb(new_markdown_cell("# Title"), new_code_cell("x = 1", metadata={"tags": ["nbval-check-output"]}))
    ipynb = _nb(new_markdown_cell("# Title"), new_code_cell("x = 1", metadata={"tags": ["nbval-check-output"]}))
    change(ipynb)
    diffs = pair_differences(py, ipynb)
    assert diffs and any(expected in d for d in diffs), diffs


@pytest.mark.skipif(not SOURCES, reason="no notebooks")
def test_an_edited_copy_of_a_real_pair_is_caught(tmp_path: Path) -> None:
    """Copy the first committed pair, edit only the .py copy, and watch the check go red."""
    py = tmp_path / SOURCES[0].name
    shutil.copy(SOURCES[0], py)
    shutil.copy(SOURCES[0].with_suffix(".ipynb"), py.with_suffix(".ipynb"))
    assert pair_differences(*read_pair(py)) == []  # the copies agree, like the originals

    text = py.read_text()
    code_marker = "\n# %%\n"
    assert code_marker in text
    py.write_text(text.replace(code_marker, code_marker + "print('an edit the .ipynb never saw')\n", 1))
    diffs = pair_differences(*read_pair(py))
    assert len(diffs) == 1 and "source differs at line 1" in diffs[0], diffs

    py.write_text(text.replace('# %% tags=["nbval-check-output"]\n', "# %%\n", 1))  # a dropped tag
    diffs = pair_differences(*read_pair(py))
    assert len(diffs) == 1 and "tags [] in the .py, ['nbval-check-output'] in the .ipynb" in diffs[0], diffs


# ----------------------------------------------------------------------------- the lesson's shape

#: a notebook's prose stays under about 3,000 words (GUIDE.md)
PROSE_WORDS = 3000


def _prose(py: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("prose_words", NOTEBOOKS.parent / "scripts" / "prose_words.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("py", SOURCES, ids=[p.stem for p in SOURCES])
def test_prose_stays_a_lesson_length(py: Path) -> None:
    words = _prose(py).prose_words(py)
    assert words <= PROSE_WORDS, f"{py.name}: {words} words of prose (at most {PROSE_WORDS}: cut, or split the notebook)"


@pytest.mark.parametrize("py", SOURCES, ids=[p.stem for p in SOURCES])
def test_no_project_history_in_the_prose(py: Path) -> None:
    """Student prose carries no changelog: the git log keeps history (GUIDE.md, the teaching voice)."""
    text = "\n".join(_prose(py).markdown_cells(py.read_text(encoding="utf-8"))).lower()
    for phrase in ("withdrawn", "earlier version", "our goal", "project's goal", "earlier reading", "previously claimed"):
        assert phrase not in text, f"{py.name}: project history in the prose ({phrase!r})"

"""Course assignments: student versions of the notebooks (vaecourse.assignments); the grader
is tested in tests/test_grader.py.

Every exercise has a check; no solution line survives in a student version; the marker
convention is enforced; a student version keeps every other cell of the solution notebook, and each
of its stubbed exercises runs on its own and defines what the solution defines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from vaecourse.assignments import (
    ANSWER_PLACEHOLDER,
    EXERCISE_TAG,
    MarkerError,
    exercises,
    questions,
    read_notebook,
)
from vaecourse.checks import CHECKS
from vaecourse.cli import main
from vaecourse.student import make_student, write_student_versions
from vaelib.runtime import series

SOURCES = series()
WITH_EXERCISES = [p for p in SOURCES if exercises(read_notebook(p))]
REQUIRED = {"reparameterize", "kl_std_normal", "bernoulli_log_prob", "gaussian_log_prob", "elbo", "iwae_bound",
            "ConvDecoder", "active_units", "roc_auc", "traverse", "mmd_unbiased"}


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    write_student_versions(out)
    return out


def _exercise_cell(source: str):
    return new_code_cell(source, metadata={"tags": [EXERCISE_TAG]})


def _statuses(report: dict) -> dict[str, str]:
    return {e["id"]: e["status"] for e in report["exercises"]}


# ----------------------------------------------------------------------------- the exercises exist


def test_the_issue_s_exercises_and_questions_exist_and_every_exercise_has_a_check() -> None:
    ids = [e.id for p in SOURCES for e in exercises(read_notebook(p), str(p))]
    assert REQUIRED <= set(ids), f"missing exercises: {REQUIRED - set(ids)}"
    assert set(ids) <= set(CHECKS), f"exercises without a check: {set(ids) - set(CHECKS)}"
    for p in SOURCES:
        qs = questions(read_notebook(p), str(p))  # the markers hold wherever there are questions
        assert all(q.answer for q in qs), f"{p.name}: a question without a model answer"
        if p.stem[:2] in ("01", "02", "03"):  # the notebooks the assignments issue covers
            assert qs, f"{p.name}: one open question whose answer the notebook's numbers support"


# ----------------------------------------------------------------------------- student versions


def test_student_versions_keep_everything_but_solutions_answers_and_outputs(student_dir: Path) -> None:
    for src in SOURCES:
        solution = read_notebook(src)
        student = nbformat.read(student_dir / f"{src.stem}.ipynb", as_version=4)
        nbformat.validate(student)
        assert len(student.cells) == len(solution.cells)
        for a, b in zip(solution.cells, student.cells):
            tags = a.metadata.get("tags", [])
            assert (b.cell_type, b.metadata.get("tags", [])) == (a.cell_type, tags)
            if b.cell_type == "code":
                assert b.outputs == [] and b.execution_count is None
            if EXERCISE_TAG in tags:
                assert "raise NotImplementedError(" in b.source and "BEGIN SOLUTION" not in b.source
            elif "answer" in tags:
                assert b.source == ANSWER_PLACEHOLDER
            elif "exercise_check(" in a.source:  # check cells report instead of raising
                assert "strict=False)" in b.source and b.source.replace(", strict=False)", ")") == a.source
            else:
                assert b.source == a.source  # everything else unchanged
    again = make_student(SOURCES[-1])  # deterministic: ids and all
    assert again == nbformat.read(student_dir / f"{SOURCES[-1].stem}.ipynb", as_version=4)


def test_vaecourse_student_writes_every_notebook(tmp_path: Path, capsys) -> None:
    assert main(["student", "--out", str(tmp_path / "student")]) == 0
    written = capsys.readouterr().out.split()
    assert [Path(p).name for p in written] == [f"{p.stem}.ipynb" for p in SOURCES]
    assert all((tmp_path / "student" / f"{p.stem}.ipynb").is_file() for p in SOURCES)


def test_no_solution_code_or_model_answer_survives_in_any_student_version(student_dir: Path) -> None:
    text = "\n".join(
        cell.source for path in sorted(student_dir.glob("*.ipynb"))
        for cell in nbformat.read(path, as_version=4).cells
    )
    secrets = []
    for src in SOURCES:
        nb = read_notebook(src)
        secrets += [line.strip() for e in exercises(nb) for line in e.solution_lines]
        secrets += [line.strip() for q in questions(nb) for line in q.answer.splitlines()]
    secrets = [s for s in secrets if len(s) > 20]
    assert len(secrets) > 20  # the search has something to find
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"solution lines in the student versions: {leaked}"


def test_the_marker_convention_is_enforced() -> None:
    good = "def f(x):\n    # HINT: add one\n    # BEGIN SOLUTION\n    return x + 1\n    # END SOLUTION\n"
    nb = new_notebook(cells=[new_markdown_cell("# T"), _exercise_cell(good)])
    assert make_student(nb).cells[1].source == "def f(x):\n    raise NotImplementedError('add one')"
    for bad, needle in [
        (good.replace("    # HINT: add one\n", ""), "HINT"),
        (good.replace("    # END SOLUTION\n", ""), "never closed"),
        (good + "\ndef g():\n    pass\n", "exactly one"),
        ("def f(x):\n    return x\n", "no # BEGIN SOLUTION"),
    ]:
        with pytest.raises(MarkerError, match=needle):
            make_student(new_notebook(cells=[_exercise_cell(bad)]))
    with pytest.raises(MarkerError, match="answer"):
        make_student(new_notebook(cells=[new_markdown_cell("**Q.** why?", metadata={"tags": ["question"]})]))


# ----------------------------------------------------------------------------- running a student version
# A student version runs up to and through its first exercise when (1) every cell before it is the
# solution notebook's (test_student_versions_keep_everything_..., above; nbval executes those cells
# on every `make test`), (2) each stubbed exercise cell runs on its own and defines what the
# solution defines (below), and (3) its check cell reports instead of raising (exercise_check's
# tests and the Run All of two whole student versions in tests/test_student_workflow.py).


def _definitions(source: str) -> list[str]:
    """A cell's top-level statements as the names and signatures they bind: imports in full, each
    def with its arguments and decorators, each class with its bases and its methods' signatures."""
    def signature(node: ast.AST) -> str:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return f"def {node.name}{ast.dump(node.args)}{[ast.dump(d) for d in node.decorator_list]}"
        if isinstance(node, ast.ClassDef):
            methods = [signature(n) for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            return f"class {node.name}{[ast.dump(b) for b in node.bases]}{methods}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return ast.dump(node)
        raise AssertionError(f"an exercise cell only imports and defines, found {ast.unparse(node)!r}")

    return [signature(n) for n in ast.parse(source).body]


@pytest.mark.parametrize("src", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_a_stubbed_exercise_runs_on_its_own_and_defines_what_the_solution_defines(src: Path, student_dir: Path) -> None:
    solution = read_notebook(src)
    student = nbformat.read(student_dir / f"{src.stem}.ipynb", as_version=4)
    cells = [(a.source, b.source) for a, b in zip(solution.cells, student.cells)
             if EXERCISE_TAG in a.metadata.get("tags", [])]
    assert cells
    for answer, stub in cells:
        assert _definitions(stub) == _definitions(answer), stub
        namespace: dict = {}
        exec(compile(stub, f"<{src.stem} exercise>", "exec"), namespace)  # imports, defs: nothing of the notebook
        defined = [n.name for n in ast.parse(stub).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert defined and all(callable(namespace[name]) for name in defined)


def test_shortcuts_that_passed_the_checks_fail_them_now():
    """A warm-up schedule as a table of the cases one seed draws, and a ConvDecoder that never
    upsamples (a linear layer to 28 x 28, then a stride-1 transposed convolution), fail; the
    reference implementations still pass on any seed."""
    import torch
    from torch import nn

    from vaecourse.checks import CHECKS, DEFAULT_SEED, CheckFailed, check_exercise, check_seed
    from vaelib.models.arvae import warmup_beta
    from vaelib.models.networks import ConvDecoder

    cases = CHECKS["warmup_beta"].prepare(torch.Generator().manual_seed(check_seed("warmup_beta", DEFAULT_SEED)))[0]
    table = {tuple(c): warmup_beta(*c) for c in cases["cases"]}
    check_exercise("warmup_beta", lambda s, w, b=1.0: table[(s, w, b)], seed=DEFAULT_SEED)  # its own seed: passes
    with pytest.raises(CheckFailed):
        check_exercise("warmup_beta", lambda s, w, b=1.0: table.get((s, w, b), 0.0), seed=DEFAULT_SEED + 1)

    class Flat(nn.Module):
        def __init__(self, latent):
            super().__init__()
            self.fc, self.conv = nn.Linear(latent, 784), nn.ConvTranspose2d(1, 1, 3, stride=1, padding=1)

        def forward(self, z):
            return self.conv(self.fc(z).view(-1, 1, 28, 28))

    with pytest.raises(CheckFailed, match="no transposed convolution upsamples"):
        check_exercise("ConvDecoder", Flat)
    for seed in (DEFAULT_SEED, 12345):
        check_exercise("warmup_beta", warmup_beta, seed=seed)
        check_exercise("ConvDecoder", lambda latent: ConvDecoder(latent), seed=seed)

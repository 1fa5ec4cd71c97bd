"""Course assignments: student versions of the notebooks and the autograder (vaelib.course.assignments,
vaelib.course.grader, vaelib.course.checks).

The solution notebooks must score full marks and their untouched student versions zero; a notebook
with exactly two exercises solved scores exactly those two; typical mistakes fail with a hint;
no solution line survives in a student version; the sandbox refuses the network, processes,
writes outside its folder and vaelib's own answers; a student version runs up to its first
exercise. Each grade() call starts one sandboxed interpreter (a few seconds: importing torch).
"""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from vaelib.course import grader as autograder
from vaelib.course.assignments import (
    ANSWER_PLACEHOLDER,
    EXERCISE_TAG,
    MarkerError,
    exercises,
    make_student,
    questions,
    read_notebook,
    series,
    write_student_versions,
)
from vaelib.course.grader import FAILED, NOT_ATTEMPTED, PASSED, grade
from vaelib.cli import main
from vaelib.course.checks import CHECKS

SOURCES = series()
WITH_EXERCISES = [p for p in SOURCES if exercises(read_notebook(p))]
REQUIRED = {"reparameterize", "kl_std_normal", "bernoulli_log_prob", "gaussian_log_prob", "elbo", "iwae_bound",
            "ConvDecoder", "traverse", "mmd_unbiased"}


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
            elif "question" in tags:
                assert ANSWER_PLACEHOLDER in b.source
            else:
                assert b.source == a.source  # everything else unchanged
    again = make_student(SOURCES[-1])  # deterministic: ids and all
    assert again == nbformat.read(student_dir / f"{SOURCES[-1].stem}.ipynb", as_version=4)


def test_vaelib_student_writes_every_notebook(tmp_path: Path, capsys) -> None:
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
    with pytest.raises(MarkerError, match="ANSWER"):
        make_student(new_notebook(cells=[new_markdown_cell("**Q.** why?", metadata={"tags": ["question"]})]))


# ----------------------------------------------------------------------------- grading

SOLVED = {"kl_std_normal", "iwae_bound"}  # the two exercises the partly solved notebook solves

MISTAKES = '''
import math
import torch
import torch.nn.functional as F
from torch import nn
from vaelib.losses import ELBOTerms, gaussian_diag_log_prob


def reparameterize(mu, logvar):
    return mu + torch.exp(logvar) * torch.randn_like(mu)  # the variance, not the standard deviation


def kl_std_normal(mu, logvar):
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).mean(dim=1)  # a mean over dimensions


def elbo(log_px_given_z, kl, beta=1.0):
    bound = log_px_given_z - beta * kl  # the "ELBO" changes with beta
    return ELBOTerms(reconstruction=log_px_given_z, kl=kl, elbo=bound, loss=-bound, beta=beta)


def iwae_bound(model, x, k):
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(k, *mu.shape)
    log_w = model.log_likelihood(x, model.decode(z)) + model.log_prior(z) - gaussian_diag_log_prob(z, mu, logvar)
    return torch.logsumexp(log_w, dim=0)  # no - log k


def bernoulli_log_prob(x, logits):
    p = torch.sigmoid(logits)  # log(sigmoid) overflows for large logits
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).reshape(len(x), -1).sum(1)


def gaussian_log_prob(x, mean, log_sigma):
    log_sigma = torch.as_tensor(log_sigma)
    return (-(x - mean) ** 2 / (2 * torch.exp(2 * log_sigma)) - log_sigma).reshape(len(x), -1).sum(1)  # no log 2pi


class ConvDecoder(nn.Module):  # no transposed convolution
    def __init__(self, latent_dim):
        super().__init__()
        self.fc = nn.Linear(latent_dim, 784)

    def forward(self, z):
        return self.fc(z).reshape(-1, 1, 28, 28)


def traverse(z0, dim, values):
    z = z0.unsqueeze(0).expand(len(values), -1)
    z0[dim] = 0.0  # writes into the caller's code
    return torch.stack([torch.cat([z0[:dim], v.reshape(1), z0[dim + 1:]]) for v in values])


def mmd_unbiased(z_q, z_p, scales):
    k = lambda a, b: sum(c / (c + torch.cdist(a, b) ** 2) for c in scales)  # noqa: E731
    return k(z_q, z_q).mean() + k(z_p, z_p).mean() - 2 * k(z_q, z_p).mean()  # keeps the i = j terms
'''


def _partly_solved(student_dir: Path, out: Path) -> Path:
    """The student version of 02 with the solutions of exactly the SOLVED exercises put back."""
    src = next(p for p in SOURCES if p.stem.startswith("02"))
    solutions = {e.id: e.source for e in exercises(read_notebook(src))}
    nb = nbformat.read(student_dir / f"{src.stem}.ipynb", as_version=4)
    for cell in nb.cells:
        names = [n for n in solutions if f"def {n}(" in cell.source]
        if EXERCISE_TAG in cell.metadata.get("tags", []) and names and names[0] in SOLVED:
            cell.source = solutions[names[0]]  # the student "writes" exactly this solution
    path = out / "ada_02.ipynb"  # a renamed file: the grader goes by the notebook's metadata
    nbformat.write(nb, path)
    return path


def _mistakes(out: Path) -> Path:
    imports, *blocks = MISTAKES.split("\n\n\n")
    nb = new_notebook(cells=[_exercise_cell(imports + "\n\n\n" + block) for block in blocks])
    nbformat.write(nb, out / "mistakes.ipynb")
    return out / "mistakes.ipynb"


def _sneaky(out: Path, port: int) -> Path:
    """Exercises that reach for the network, a process, a file outside the sandbox, vaelib's answers."""
    bodies = {
        "kl_std_normal": f"import socket\n\ndef kl_std_normal(mu, logvar):\n"
                         f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    return mu.sum(1)\n",
        "reparameterize": "import socket\n\ndef reparameterize(mu, logvar):\n"
                          "    socket.create_connection(('127.0.0.1', 9), timeout=2)\n    return mu\n",
        "elbo": f"import urllib.request\n\ndef elbo(a, b, beta=1.0):\n"
                f"    urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=2)\n",
        "bernoulli_log_prob": "import subprocess\n\ndef bernoulli_log_prob(x, logits):\n"
                              "    subprocess.run(['true'])\n",
        "gaussian_log_prob": f"def gaussian_log_prob(x, mean, log_sigma):\n"
                             f"    open({str(out / 'escaped.txt')!r}, 'w').write('hi')\n",
        "iwae_bound": "from vaelib.losses import iwae_bound as reference\n\n"
                      "def iwae_bound(model, x, k):\n    return reference(model, x, k)\n",
        "ConvDecoder": "from vaelib.models import ConvDecoder\n",  # defines nothing: imported
    }
    nb = new_notebook(cells=[_exercise_cell(src) for src in bodies.values()])
    nb.metadata["vaelib_assignment"] = {"notebook": "sneaky", "exercises": list(bodies)}  # no such solution
    nbformat.write(nb, out / "sneaky.ipynb")
    return out / "sneaky.ipynb"


@pytest.fixture(scope="module")
def graded(student_dir: Path, tmp_path_factory) -> dict:
    """Every notebook the tests below grade, graded at once (each grade is one sandboxed
    interpreter that spends most of its time importing torch)."""
    out = tmp_path_factory.mktemp("graded")
    server = socket.create_server(("127.0.0.1", 0))  # the sneaky notebook tries to reach it
    jobs = {f"solution {p.stem}": (p.with_suffix(".ipynb"), {}) for p in WITH_EXERCISES}  # the committed .ipynb
    jobs |= {f"student {p.stem}": (student_dir / f"{p.stem}.ipynb", {}) for p in WITH_EXERCISES}
    jobs["partly solved"] = (_partly_solved(student_dir, out), {})
    jobs["mistakes"] = (_mistakes(out), {})
    # only the Python guards (no network namespace), so a connection that got through would reach the server
    jobs["sneaky"] = (_sneaky(out, server.getsockname()[1]), {"network_namespace": False})
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {name: pool.submit(grade, path, out / f"{name}.json", **kw) for name, (path, kw) in jobs.items()}
            reports = {name: f.result() for name, f in futures.items()}
        server.settimeout(0.5)
        try:
            server.accept()
            reports["server was reached"] = True
        except socket.timeout:
            reports["server was reached"] = False
    finally:
        server.close()
    reports["out"] = out
    return reports


@pytest.mark.parametrize("src", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_the_solution_notebooks_score_full_marks(src: Path, graded: dict) -> None:
    report = graded[f"solution {src.stem}"]
    assert report["score"] == report["total"] == len(exercises(read_notebook(src))), autograder.format_report(report)
    assert all(q["status"] == "answered" for q in report["questions"])
    assert json.loads(Path(report["json"]).read_text()) == report  # the JSON report says the same


@pytest.mark.parametrize("src", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_untouched_student_versions_score_zero_without_crashing(src: Path, graded: dict) -> None:
    report = graded[f"student {src.stem}"]
    assert report["score"] == 0 and report["total"] == len(exercises(read_notebook(src)))
    for e in report["exercises"]:
        assert e["status"] == NOT_ATTEMPTED and e["hint"], e  # the stub's hint is reported
    assert [q["status"] for q in report["questions"]] == [NOT_ATTEMPTED] * len(report["questions"])


def test_a_student_version_without_exercises_grades_through_the_cli(student_dir: Path, tmp_path: Path, capsys) -> None:
    src = next(p for p in SOURCES if not exercises(read_notebook(p)))  # 01: one open question only
    assert main(["grade", str(student_dir / f"{src.stem}.ipynb"), "--json", str(tmp_path / "r.json")]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["total"] == report["score"] == 0 and report["questions"][0]["status"] == NOT_ATTEMPTED
    assert "no exercises in this notebook" in printed and str(tmp_path / "r.json") in printed


def test_a_partly_solved_notebook_scores_exactly_the_solved_exercises(graded: dict) -> None:
    report = graded["partly solved"]
    statuses = _statuses(report)
    assert report["score"] == len(SOLVED) and report["total"] == len(statuses) > len(SOLVED)
    assert {e for e, s in statuses.items() if s == PASSED} == SOLVED
    assert {s for e, s in statuses.items() if e not in SOLVED} == {NOT_ATTEMPTED}
    table = autograder.format_report(report)
    assert f"score: {len(SOLVED)} / {len(statuses)} exercises" in table and report["json"] in table


def test_typical_mistakes_fail_with_a_hint(graded: dict) -> None:
    report = graded["mistakes"]
    hints = {e["id"]: e["hint"] for e in report["exercises"]}
    assert set(hints) == REQUIRED and report["score"] == 0, _statuses(report)
    expected = {
        "reparameterize": "sigma^2 = exp(logvar), not sigma",
        "kl_std_normal": "sum over the latent dimensions, do not average",
        "elbo": "the ELBO is reconstruction - KL whatever beta",
        "iwae_bound": "subtract log k",
        "bernoulli_log_prob": "not log(sigmoid(logits))",
        "gaussian_log_prob": "-0.5 * log(2 pi)",
        "ConvDecoder": "nn.ConvTranspose2d",
        "traverse": "z0 was modified",
        "mmd_unbiased": "leave out the i = j terms",
    }
    for ex, needle in expected.items():
        assert needle in hints[ex], (ex, hints[ex])
    assert set(_statuses(report).values()) == {FAILED}


def test_the_sandbox_refuses_network_processes_outside_writes_and_vaelib_s_answers(graded: dict) -> None:
    report = graded["sneaky"]
    hints = {e["id"]: e["hint"] or "" for e in report["exercises"]}
    assert set(_statuses(report).values()) == {FAILED}, hints
    for ex in ("kl_std_normal", "reparameterize", "elbo"):
        assert "network access is disabled" in hints[ex], hints[ex]
    assert not graded["server was reached"]
    assert "does not start processes" in hints["bernoulli_log_prob"]
    assert "only writes inside its temporary folder" in hints["gaussian_log_prob"]
    assert not (graded["out"] / "escaped.txt").exists()
    assert "hides vaelib.losses.iwae_bound" in hints["iwae_bound"]
    assert "not imported" in hints["ConvDecoder"]


def test_bad_arguments_give_one_line_and_status_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.ipynb").write_text("{not json")
    for args, needle in [
        (["grade", str(tmp_path / "nope.ipynb")], "no notebook at"),
        (["grade", str(tmp_path / "notes.txt")], "is not a notebook"),
        (["grade", str(tmp_path / "broken.ipynb")], "not a readable notebook"),
        (["grade", str(tmp_path / "broken.ipynb"), "--json", str(tmp_path / "no" / "r.json")], "existing folder"),
        (["grade", str(tmp_path / "broken.ipynb"), "--json", str(tmp_path)], "cannot write the JSON report"),
        (["student", str(tmp_path / "nope.py"), "--out", str(tmp_path)], "no solution notebook"),
        (["student", "--out", str(tmp_path / "notes.txt")], "not a folder"),
    ]:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("vaelib: error:") and needle in err, err


# ----------------------------------------------------------------------------- running a student version


@pytest.mark.parametrize("src", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_a_student_version_runs_every_cell_before_its_first_exercise(src: Path, student_dir: Path,
                                                                     tmp_path: Path, monkeypatch) -> None:
    """Test mode, with nbclient: every cell up to the first (stubbed) exercise runs; the check
    cell right after it fails with the stub's NotImplementedError (it calls the student's code)."""
    from nbclient import NotebookClient

    monkeypatch.setenv("VAE_NOTEBOOKS_TEST", "1")
    monkeypatch.setenv("VAELIB_CACHE", str(tmp_path / "cache"))
    nb = nbformat.read(student_dir / f"{src.stem}.ipynb", as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if EXERCISE_TAG in c.metadata.get("tags", []))
    check = next(i for i in range(first + 1, len(nb.cells)) if nb.cells[i].cell_type == "code")
    nb.cells = nb.cells[: check + 1]
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(student_dir)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    errors = [(i, o.ename) for i, c in enumerate(code) for o in c.outputs if o.output_type == "error"]
    assert errors == [(len(code) - 1, "NotImplementedError")], errors

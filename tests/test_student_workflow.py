"""The student's side of the course (vaecourse.assignments, Makefile `lab`/`kernel`, jupyter/).

A student notebook runs from top to bottom (JupyterLab's Run All): a check cell reports an
unsolved or failing exercise and the notebook goes on, while in the solution notebooks a failing
check still raises. Open-question answers have a cell of their own, and `answers` finds what a
student wrote wherever it went and never raises on what a student can do to a notebook. Student
notebooks carry the metadata JupyterLab would write, so opening one does not mark it modified;
`make lab` starts JupyterLab with the project's settings (a jupytext .py opens as a notebook).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from vaecourse.answers import answers
from vaecourse.assignments import (
    ANSWER_PLACEHOLDER,
    ANSWER_TAG,
    BEGIN_ANSWER,
    END_ANSWER,
    EXERCISE_TAG,
    METADATA_KEY,
    QUESTION_TAG,
    MarkerError,
    check_cells,
    exercise_check,
    exercises,
    questions,
    read_notebook,
)
from vaecourse.student import make_student, write_student_versions
from vaelib.runtime import series

REPO = Path(__file__).resolve().parents[1]
SOURCES = series()
WITH_EXERCISES = [p for p in SOURCES if exercises(read_notebook(p))]
EXECUTED = [p for p in WITH_EXERCISES if p.stem[:2] in ("02", "05")]  # two: each takes a minute or more
NOT_SOLVED = "is not solved yet"


def _source(stem: str) -> Path:
    return next(p for p in SOURCES if p.stem.startswith(stem))


def _execute(nb, tmp_path: Path, monkeypatch, cache: Path):
    """Run every cell in test mode, as JupyterLab's Run All would (errors recorded, not raised)."""
    from nbclient import NotebookClient

    monkeypatch.setenv("VAE_NOTEBOOKS_TEST", "1")
    monkeypatch.setenv("VAELIB_CACHE", str(cache))
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def _errors(nb) -> list[tuple[int, str, str]]:
    return [(i, o.ename, o.evalue) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.outputs if o.output_type == "error"]


def _stream(cell, name: str) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == name)


def _stdout(cell) -> str:
    return _stream(cell, "stdout")


# ----------------------------------------------------------------------------- check cells


def test_every_exercise_is_checked_inside_exercise_check_and_the_student_version_only_reports() -> None:
    for src in WITH_EXERCISES:
        nb = read_notebook(src)
        cells = check_cells(nb, str(src))  # raises MarkerError where the pattern is broken
        assert list(cells) == [e.id for e in exercises(nb)]
        student = make_student(src)
        for ex, i in cells.items():
            assert f'exercise_check("{ex}"):' in nb.cells[i].source
            assert f'exercise_check("{ex}", strict=False):' in student.cells[i].source, (src.name, ex)
        others = [c.source for i, c in enumerate(nb.cells) if i not in cells.values()]
        assert not any("exercise_check(" in s for s in others), f"{src.name}: exercise_check outside a check cell"


def test_after_its_check_no_cell_calls_the_student_s_version_of_an_exercise() -> None:
    """The cells after a check call vaelib's version (`losses.kl_std_normal`), so that an
    unsolved exercise stops nothing: the static half of the Run All test, for every notebook."""
    import ast

    calls = []
    for src in WITH_EXERCISES:
        nb = read_notebook(src)
        checks = check_cells(nb)
        for ex in exercises(nb):
            for i in range(checks[ex.id] + 1, len(nb.cells)):
                cell = nb.cells[i]
                if cell.cell_type != "code" or EXERCISE_TAG in cell.metadata.get("tags", []):
                    continue
                tree = ast.parse("\n".join("#" + x if x.lstrip()[:1] in "%!" else x for x in cell.source.splitlines()))
                if any(isinstance(n, ast.Name) and n.id == ex.id and isinstance(n.ctx, ast.Load) for n in ast.walk(tree)):
                    calls.append(f"{src.name}, cell {i}: {ex.id}")
    assert not calls, f"cells that call the student's version instead of vaelib's: {calls}"


def test_a_check_cell_that_breaks_the_pattern_is_refused() -> None:
    ex = new_code_cell("def f(x):\n    # HINT: add one\n    # BEGIN SOLUTION\n    return x + 1\n    # END SOLUTION\n",
                       metadata={"tags": [EXERCISE_TAG]})
    good = 'from vaecourse.assignments import exercise_check\n\nwith exercise_check("f"):\n    assert f(1) == 2\n'
    assert check_cells(new_notebook(cells=[ex, new_code_cell(good)])) == {"f": 1}
    for bad in ["assert f(1) == 2\n", good.replace('"f"', '"g"'), ""]:
        cells = [ex, new_code_cell(bad)] if bad else [ex]
        with pytest.raises(MarkerError, match="exercise_check"):
            check_cells(new_notebook(cells=cells))


def test_exercise_check_raises_when_strict_and_reports_otherwise(capsys) -> None:
    def unsolved(x):
        raise NotImplementedError("add one to x")

    def wrong(x):
        return x

    for error, body in [(NotImplementedError, lambda: unsolved(1)), (AssertionError, lambda: None)]:
        with pytest.raises(error):
            with exercise_check("f"):
                body()
                assert wrong(1) == 2, "one more than x"
    assert capsys.readouterr() == ("", "")  # strict: nothing printed, the error is the report

    with exercise_check("f", strict=False):  # a notice on stdout, not a red stderr block
        unsolved(1)
    out, err = capsys.readouterr()
    assert f"✗ f {NOT_SOLVED} (NotImplementedError: add one to x)" in out and "vaelib's own f" in out and err == ""

    with exercise_check("f", strict=False):
        assert wrong(1) == 2, "one more than x"
    out, err = capsys.readouterr()
    assert "✗ f: the check failed with AssertionError: one more than x" in out and err == ""
    assert 'line' in out and 'assert wrong(1) == 2, "one more than x"' in out and "vaelib's own f" in out

    with exercise_check("deleted", strict=False):
        deleted(1)  # noqa: F821  (the student deleted the exercise cell)
    assert "✗ deleted is not defined (NameError" in capsys.readouterr().out

    with exercise_check("f", strict=False):
        assert unsolved is not wrong
    assert capsys.readouterr() == ("✓ f: the check passed.\n", "")

    with pytest.raises(KeyboardInterrupt):  # stopping a cell still stops it
        with exercise_check("f", strict=False):
            raise KeyboardInterrupt


def test_importing_the_helper_costs_no_torch_nor_nbformat() -> None:
    code = ("import sys, vaecourse.assignments as a; a.exercise_check; "
            "print([m for m in ('torch', 'numpy', 'nbformat', 'jupytext') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.parametrize("src", EXECUTED, ids=[p.stem for p in EXECUTED])
def test_run_all_goes_through_an_untouched_student_notebook(src: Path, tmp_path: Path, monkeypatch,
                                                           test_mode_cache: Path) -> None:
    """Every cell runs without an error; each check cell says its exercise is not solved yet, and
    the cells after it run on vaelib's versions."""
    solution = read_notebook(src)
    checks = check_cells(solution)
    nb = _execute(make_student(src), tmp_path, monkeypatch, test_mode_cache)
    assert _errors(nb) == []
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
    for ex, i in checks.items():
        assert f"✗ {ex} {NOT_SOLVED}" in _stdout(nb.cells[i]), (ex, nb.cells[i].outputs)
    reported = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and NOT_SOLVED in _stdout(c)]
    assert reported == list(checks.values())
    assert not [i for i in checks.values() if _stream(nb.cells[i], "stderr")]  # notices, not red blocks


@pytest.mark.slow
def test_a_broken_exercise_fails_its_check_in_the_solution_notebook_and_is_reported_in_the_student_s(
        tmp_path: Path, monkeypatch, test_mode_cache: Path) -> None:
    """The first exercise of 02 with sigma^2 where sigma belongs: nbval must still see the solution
    notebook's check cell fail; the student version reports it and runs on."""
    src = _source("02")
    check = check_cells(read_notebook(src))["reparameterize"]
    broken = ("import torch\n\n\ndef reparameterize(mu, logvar):\n"
              "    return mu + torch.exp(logvar) * torch.randn_like(mu)  # the variance, not sigma\n")

    solution = read_notebook(src)
    solution.cells = solution.cells[: check + 1]
    ex = next(i for i, c in enumerate(solution.cells) if EXERCISE_TAG in c.metadata.get("tags", []))
    solution.cells[ex].source = broken
    _execute(solution, tmp_path, monkeypatch, test_mode_cache)
    assert [(i, name) for i, name, _ in _errors(solution)] == [(check, "AssertionError")]

    student = make_student(src)
    student.cells = student.cells[: check + 2]
    student.cells[ex].source = broken  # what the student wrote
    student.cells[-1] = new_code_cell("print('the next cell ran')")
    _execute(student, tmp_path, monkeypatch, test_mode_cache)
    assert _errors(student) == []
    assert "✗ reparameterize: the check failed with AssertionError: from the same seed, the same z" in _stdout(
        student.cells[check])
    assert student.cells[-1].outputs[0].text == "the next cell ran\n"


# ----------------------------------------------------------------------------- open questions


def test_every_question_has_its_answer_in_a_cell_of_its_own() -> None:
    for src in SOURCES:
        nb = read_notebook(src)
        qs = questions(nb, str(src))
        assert qs and all(q.answer for q in qs), src.name
        for q in qs:
            question, answer = nb.cells[q.cell_index], nb.cells[q.cell_index + 1]
            assert BEGIN_ANSWER not in question.source and question.source.startswith("**Question.**")
            assert answer.cell_type == "markdown" and answer.metadata["tags"] == [ANSWER_TAG]
        student = make_student(src)
        assert [student.cells[q.cell_index + 1].source for q in qs] == [ANSWER_PLACEHOLDER] * len(qs)
        assert [student.cells[q.cell_index].source for q in qs] == [nb.cells[q.cell_index].source for q in qs]
        assert [a["status"] for a in answers(nb)] == ["answered"] * len(qs)  # the solution answers them


def test_a_question_whose_answer_is_not_in_its_own_cell_is_refused() -> None:
    q = new_markdown_cell("**Question.** Why?", metadata={"tags": [QUESTION_TAG]})
    a = new_markdown_cell("**Answer.** Because.", metadata={"tags": [ANSWER_TAG]})
    assert questions(new_notebook(cells=[q, a]))[0].answer == "Because."
    legacy = new_markdown_cell(f"**Question.** Why?\n\n{BEGIN_ANSWER}\nBecause.\n{END_ANSWER}", metadata=q.metadata)
    for cells, needle in [([q], "tagged 'answer'"), ([q, new_markdown_cell("Because.")], "tagged 'answer'"),
                          ([legacy], "cell of its own"), ([a, q], "right after a cell tagged 'question'")]:
        with pytest.raises(MarkerError, match=needle):
            make_student(new_notebook(cells=cells))


@pytest.fixture(scope="module")
def student_02() -> nbformat.NotebookNode:
    return make_student(_source("02"))


def _question(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if QUESTION_TAG in c.metadata.get("tags", []))


def _copy(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def test_answers_of_an_untouched_student_version_are_not_attempted(student_02) -> None:
    q = _question(student_02)
    assert answers(student_02) == [{"id": "question 1", "cell": q + 1, "status": "not attempted", "answer": None}]
    for whitespace in (f"  {ANSWER_PLACEHOLDER}\n\n", "", "\n \n", f"**Answer.**\n{ANSWER_PLACEHOLDER}"):
        nb = _copy(student_02)
        nb.cells[q + 1].source = whitespace
        assert answers(nb)[0]["status"] == "not attempted", whitespace


def test_answers_finds_the_student_s_words_wherever_they_went(student_02) -> None:
    q = _question(student_02)
    mine = "About the printed ratio of the two variances.\nSecond line."
    cases = {}
    nb = _copy(student_02)
    nb.cells[q + 1].source = mine  # where it belongs
    cases["answer cell"] = (nb, q + 1)
    nb = _copy(student_02)
    nb.cells[q + 1].source = f"{ANSWER_PLACEHOLDER} {mine}"  # typed after the placeholder
    cases["after the placeholder"] = (nb, q + 1)
    nb = _copy(student_02)
    nb.cells[q].source += "\n\n" + mine  # typed into the question cell
    cases["question cell"] = (nb, q)
    nb = _copy(student_02)
    del nb.cells[q + 1]  # the answer cell deleted, the answer typed into the question cell
    nb.cells[q].source += "\n" + mine
    cases["question cell, answer cell deleted"] = (nb, q)
    nb = _copy(student_02)
    nb.cells[q + 1] = new_markdown_cell(mine)  # the answer cell deleted, a new (untagged) one in its place
    cases["new cell"] = (nb, q + 1)
    nb = _copy(student_02)
    nb.cells[q + 1].metadata = {}  # the tag gone, the text typed in
    nb.cells[q + 1].source = mine
    cases["untagged answer cell"] = (nb, q + 1)
    for case, (nb, cell) in cases.items():
        for reference in (None, read_notebook(_source("02"))):
            got = answers(nb, reference=reference)
            assert got == [{"id": "question 1", "cell": cell, "status": "answered", "answer": mine}], (case, got)


def test_a_deleted_answer_cell_is_not_mistaken_for_an_answer(student_02) -> None:
    q = _question(student_02)
    nb = _copy(student_02)
    del nb.cells[q + 1]  # the next cell is now the notebook's own next section
    assert answers(nb)[0]["status"] == "not attempted"
    bare = _copy(nb)
    bare.metadata.pop(METADATA_KEY)  # no records: the solution notebook tells, or else the heading
    assert answers(bare, reference=read_notebook(_source("02")))[0]["status"] == "not attempted"
    assert answers(bare)[0]["status"] == "not attempted"
    nb.cells[q + 1].source = "My answer.\n\n" + nb.cells[q + 1].source  # typed into the next section's cell
    assert answers(nb)[0] == {"id": "question 1", "cell": q + 1, "status": "answered", "answer": "My answer."}
    gone = _copy(student_02)
    del gone.cells[q : q + 2]  # the question deleted too: still listed, from the metadata
    assert answers(gone) == [{"id": "question 1", "cell": None, "status": "not attempted", "answer": None}]


def test_answers_reads_old_student_versions_with_answer_markers() -> None:
    def old(text):
        return new_notebook(cells=[new_markdown_cell(f"**Question.** Why?\n\n{BEGIN_ANSWER}\n{text}\n{END_ANSWER}",
                                                     metadata={"tags": [QUESTION_TAG]}), new_markdown_cell("## Next")])

    assert answers(old(ANSWER_PLACEHOLDER))[0]["status"] == "not attempted"
    assert answers(old("Because."))[0] == {"id": "question 1", "cell": 0, "status": "answered", "answer": "Because."}


def test_answers_reads_tags_and_sources_tolerantly() -> None:
    """Hand-edited JSON: a tag that is a string, a source that is a list of lines."""
    nb = {"cells": [{"cell_type": "markdown", "metadata": {"tags": "question"}, "source": ["Why?"]},
                    {"cell_type": "markdown", "metadata": {"tags": [" answer ", 3]}, "source": ["Be", "cause."]}]}
    assert answers(nb) == [{"id": "question 1", "cell": 1, "status": "answered", "answer": "Because."}]


def test_answers_never_raises_on_what_a_student_can_do_to_a_notebook(student_02) -> None:
    q = _question(student_02)
    strange = [None, [], "notebook", 3, {}, {"cells": None}, {"cells": "x"}, {"cells": {}},
               {"cells": [None, 1, "s", [], {}]}, {"metadata": None, "cells": []},
               new_notebook(cells=[])]
    for tags in ["question", ["question", None, 3], [["question"]], {"question": 1}, ("question",), " question "]:
        for source in [None, 5, ["Why", None, "?"], "Why \ud800?", "\ud83d\ude00", b"bytes", {"a": 1}]:
            cell = {"cell_type": "markdown", "metadata": {"tags": tags}, "source": source}
            strange.append({"cells": [cell, {"cell_type": "markdown", "metadata": {"tags": "answer"},
                                             "source": ["lone \udc80 surrogate", 7]}]})
            strange.append({"cells": [cell, {"metadata": None}, {"source": "x"}], "metadata": {METADATA_KEY: {
                "questions": 10**9, "question_cells": [None, {"question": 5, "after": ["x"]}, "y"]}}})
    for meta in [None, "x", {"questions": "3", "question_cells": "abc"}, {"questions": True}, {"questions": -1},
                 {"question_cells": [{"question": "\ud800", "after": None}]}]:
        nb = _copy(student_02)
        nb.metadata[METADATA_KEY] = meta
        strange.append(nb)
    rng = random.Random(0)
    junk = [None, "", "question", "answer", ["answer"], ["question"], 0, "\ud800", ["x", 1], {"tags": 1}]
    for _ in range(300):  # random damage to a real student notebook
        nb = json.loads(json.dumps(student_02))
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(max(len(nb["cells"]), 1))
            if not nb["cells"]:
                break
            what = rng.choice(["delete", "tags", "source", "metadata", "type", "cell"])
            if what == "delete":
                del nb["cells"][i]
            elif what == "cell":
                nb["cells"][i] = rng.choice(junk)
            elif isinstance(nb["cells"][i], dict):
                key = {"tags": "metadata", "source": "source", "metadata": "metadata", "type": "cell_type"}[what]
                nb["cells"][i][key] = {"tags": rng.choice(junk)} if what == "tags" else rng.choice(junk)
        nb["cells"].insert(min(q + 1, len(nb["cells"])), {"cell_type": "markdown", "source": "\udfff answer"})
        strange.append(nb)
    for nb in strange:
        for reference in (None, nb, student_02):
            got = answers(nb, reference=reference)
            assert isinstance(got, list)
            for a in got:
                assert set(a) == {"id", "cell", "status", "answer"} and a["status"] in ("answered", "not attempted")
                assert (a["answer"] is None) == (a["status"] == "not attempted")
            json.dumps(got, ensure_ascii=False).encode("utf-8")  # the grader's JSON report can be written


# ----------------------------------------------------------------------------- JupyterLab


@pytest.fixture(scope="module")
def kernel_info() -> tuple[dict, dict]:
    """What JupyterLab writes into a notebook when it connects to the `python3` kernel: the
    kernel's language_info (from its kernel_info reply) and the spec's name, display_name, language."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import start_new_kernel

    spec = KernelSpecManager().get_kernel_spec("python3")
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        reply = kc.kernel_info(reply=True, timeout=60)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return reply["content"]["language_info"], {"name": "python3", "display_name": spec.display_name,
                                               "language": spec.language}


def test_student_notebooks_carry_the_metadata_jupyterlab_would_write(tmp_path: Path, kernel_info) -> None:
    language_info, kernelspec = kernel_info
    for path in write_student_versions(tmp_path):
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        assert (nb.nbformat, nb.nbformat_minor) == (4, 5), path.name
        ids = [c.get("id") for c in json.loads(text)["cells"]]  # as written: nbformat.reads repairs ids
        assert all(ids) and len(set(ids)) == len(ids), path.name
        # JupyterLab replaces these on connecting; equal values (deep equality) leave the notebook unmodified
        assert nb.metadata.kernelspec == kernelspec, path.name
        assert nb.metadata.language_info == language_info, path.name
        assert nbformat.writes(nb) + "\n" == text, path.name  # saving it unchanged writes the same file


def test_make_lab_puts_the_settings_where_jupyterlab_reads_them_and_registers_the_kernel() -> None:
    from jupyterlab.commands import get_app_dir

    settings = json.loads((REPO / "jupyter" / "overrides.json").read_text())
    assert settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["python"] == "Jupytext Notebook"
    assert settings["@jupyterlab/docmanager-extension:plugin"]["autosave"] is False  # a Run All keeps the stored run
    dry = subprocess.run(["make", "-n", "-o", "install", "lab"], capture_output=True, text=True, check=True,
                         cwd=REPO).stdout
    target = Path(get_app_dir()) / "settings" / "overrides.d" / "vae-notebooks.json"
    assert f"cp jupyter/overrides.json {os.path.relpath(target, REPO)}" in dry, dry
    assert "-m ipykernel install --sys-prefix --name vae-notebooks" in dry, dry
    assert 'jupyter lab "notebooks"' in dry, dry


def test_make_lab_opens_the_hand_out_s_student_folder(tmp_path: Path) -> None:
    shutil.copy(REPO / "Makefile", tmp_path)

    def lab(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["make", "-o", "install", "-o", "kernel", "-o", "lab-settings", *args, "lab"],
                              capture_output=True, text=True, cwd=tmp_path)

    r = lab()  # neither notebooks/ nor student/: one clear line, status 2
    assert r.returncode == 2 and "make lab: no folder student/" in r.stderr, r
    (tmp_path / "student").mkdir()  # the hand-out: the repository without notebooks/, with student/
    assert 'jupyter lab "student"' in lab("-n").stdout
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_data.py").write_text("")
    assert 'jupyter lab "notebooks"' in lab("-n").stdout
    assert 'jupyter lab "student"' in lab("-n", "DIR=student").stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_jupyterlab_opens_a_jupytext_py_as_a_notebook_with_the_project_settings(tmp_path: Path) -> None:
    """A real JupyterLab server with the project's overrides (in a throw-away app settings folder,
    so the test changes nothing in .venv or ~/.jupyter): the Document Manager's default viewer for
    Python files is Jupytext's notebook, and the server hands out a .py as a notebook."""
    settings = tmp_path / "app-settings"
    (settings / "overrides.d").mkdir(parents=True)
    shutil.copy(REPO / "jupyter" / "overrides.json", settings / "overrides.d" / "vae-notebooks.json")
    root = tmp_path / "root"
    root.mkdir()
    src = _source("02")
    shutil.copy(src, root)
    shutil.copy(src.parent / "jupytext.toml", root)
    port, token = _free_port(), "vae-notebooks-test"
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "user-settings"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", str(root), "--no-browser", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--LabApp.app_settings_dir={settings}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def get(path: str, query: str = "") -> dict:
        url = f"http://127.0.0.1:{port}{path}?token={token}{query}"
        with urllib.request.urlopen(url, timeout=30) as r:
            return json.load(r)

    try:
        for _ in range(120):
            try:
                get("/api/status")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                time.sleep(0.5)
        plugin = get("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
        assert plugin["schema"]["properties"]["defaultViewers"]["default"] == {"python": "Jupytext Notebook"}
        assert plugin["schema"]["properties"]["autosave"]["default"] is False  # nothing overwritten unless saved
        model = get(f"/api/contents/{src.name}", "&type=notebook&content=1")
        assert model["type"] == "notebook" and len(model["content"]["cells"]) == len(read_notebook(src).cells)
    finally:
        server.terminate()
        server.wait(timeout=30)

"""The course's command line, `python -m vaecourse student | grade`: the errors of `vaelib`'s
command line (one line, `vaecourse: error: ...`, status 2 for a bad argument, 130 for Ctrl-C),
never a traceback. The grading itself is tested in tests/test_grader.py (which also runs
`grade` on a class folder and on bad arguments), the student versions in tests/test_assignments.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vaecourse.cli import main

REPO = Path(__file__).resolve().parents[1]
NB01 = next((REPO / "notebooks").glob("01_*.py"))


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("vaecourse: error: "), err
    return err


@pytest.mark.parametrize("name, content, needle", [
    ("01_broken.ipynb", b'{"cells": [', "NotJSONError"),
    ("01_broken.py", b"\xff\xfe not utf-8", "UnicodeDecodeError"),
    ("01_broken.py", b"# ---\n# jupyter:\n#   kernelspec: [unclosed\n# ---\n", "ParserError"),
])
def test_student_names_a_corrupt_source_notebook(name, content, needle, tmp_path, capsys):
    src = tmp_path / name
    src.write_bytes(content)
    assert main(["student", "--out", str(tmp_path / "student"), str(src)]) == 2
    line = _error_line(capsys)
    assert f"cannot read the solution notebook {src}: {needle}" in line


@pytest.mark.parametrize("args, needle", [
    ([], "required"),
    (["frobnicate"], "invalid choice"),
    (["grade"], "required: notebook"),
    (["grade", "x.ipynb", "--jobs", "0"], "--jobs: must be >= 1"),
    (["grade", "x.ipynb", "--seed", "-1"], "--seed"),
    (["student", "--out", "x", "/definitely/not/here.py"], "no solution notebook at /definitely/not/here.py"),
])
def test_bad_arguments_give_one_line_and_status_2(args, needle, capsys):
    assert main(args) == 2
    assert needle in _error_line(capsys)


def test_student_refuses_an_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "student").write_text("not a folder")
    assert main(["student", "--out", str(tmp_path / "student"), str(NB01)]) == 2
    assert f"{tmp_path / 'student'} exists and is not a folder" in _error_line(capsys)


def test_bad_arguments_exit_2_as_a_process_before_torch_is_imported():
    r = subprocess.run([sys.executable, "-m", "vaecourse", "grade"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("vaecourse: error:")
    code = ("import sys; from vaecourse.cli import main; rc = main(['grade', 'x.ipynb', '--jobs', '0']); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2, r.stderr


def test_interrupt_and_unexpected_errors_give_one_line(tmp_path, capsys, monkeypatch):
    import vaecourse.student

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    def broken(*a, **kw):
        raise RuntimeError("boom\n  in two lines")

    monkeypatch.setattr(vaecourse.student, "write_student_versions", interrupted)
    assert main(["student", "--out", str(tmp_path), str(NB01)]) == 130
    err = capsys.readouterr().err
    assert err == ("vaecourse: interrupted; run the same command again "
                   "(a class folder skips what was graded already)\n")
    monkeypatch.setattr(vaecourse.student, "write_student_versions", broken)
    assert main(["student", "--out", str(tmp_path), str(NB01)]) == 1
    assert ("unexpected RuntimeError: boom; in two lines (run with VAELIB_DEBUG=1 for the traceback)"
            in _error_line(capsys))


def test_vaelib_s_command_line_has_no_course_commands(capsys):
    """The course moved out of the student's library: `vaelib student` and `vaelib grade` are gone."""
    from vaelib.cli import main as vaelib_main

    for command in ("student", "grade"):
        assert vaelib_main([command]) == 2
        err = capsys.readouterr().err
        assert err.startswith("vaelib: error:") and "invalid choice" in err and err.count("\n") == 1

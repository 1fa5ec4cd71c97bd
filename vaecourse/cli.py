"""The course's command line: `python -m vaecourse student`, `python -m vaecourse grade`.

    python -m vaecourse student --out student                       # student versions of the notebooks
    python -m vaecourse grade student/02_reparameterization.ipynb   # autograde one student's notebook
    python -m vaecourse grade submissions/ --assignment 02          # a folder of them, as a class

(`make student`, `make grade NB=...`). Errors behave as `vaelib`'s (vaelib.cli, whose parser and
error handling this one runs on): one line on stderr, `vaecourse: error: ...`, never a traceback;
exit status 2 for a bad argument, 1 for anything else, 130 for Ctrl-C; `VAELIB_DEBUG=1` shows the
traceback of an unexpected error. Like vaelib's, this module imports no torch: the course modules
are imported by the subcommands once their arguments are read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vaelib.cli import Parser, UsageError, nonneg_int, one_line, pos_int, run_main

__all__ = ["main", "build_parser", "cmd_student", "cmd_grade"]


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="vaecourse", description="The course of the vae-notebooks series: student versions of the "
                                             "notebooks and the autograder.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    s = sub.add_parser("student", help="write the student versions of the notebooks (vaecourse.student)")
    s.add_argument("--out", type=Path, default=Path("student"), help="folder to write them to (default: student/)")
    s.add_argument("notebooks", nargs="*", type=Path,
                   help="solution notebooks (.py or .ipynb; default: every notebooks/NN_topic.py)")

    g = sub.add_parser("grade", help="autograde a student's notebook, or a folder of them as a class "
                                     "(vaecourse.grader, vaecourse.classroom)")
    g.add_argument("notebook", type=Path, help="the student's notebook (.ipynb or .py), or a folder of submissions")
    g.add_argument("--assignment", help="the solution notebook that says what counts: a number (02), a name or a "
                                        "path (default: the number in the submission's file name)")
    g.add_argument("--json", type=Path, help="one notebook: write the JSON report here (default: a temporary folder)")
    g.add_argument("--out", type=Path, help="a folder: where the reports and class.csv go (default: FOLDER-grades)")
    g.add_argument("--jobs", type=pos_int, default=2, help="a folder: submissions graded at once (default 2)")
    g.add_argument("--regrade", action="store_true", help="a folder: grade again what was graded already")
    g.add_argument("--seed", type=nonneg_int, help="seed of the check inputs (default: a fresh one per grading, "
                                                      "recorded in the report; give it to reproduce a grading)")
    g.add_argument("--timeout", type=pos_int, default=300, help="seconds per submission (default 300)")
    g.add_argument("--allow-weak-isolation", action="store_true",
                   help="grade even where the OS cannot isolate the student code (trusted submissions only)")
    return p


def cmd_student(args: argparse.Namespace) -> int:
    from vaecourse.assignments import MarkerError, read_notebook
    from vaecourse.student import write_student_versions
    from vaelib.runtime import series

    sources = args.notebooks or series()
    for src in sources:
        if not src.is_file() or src.suffix not in (".py", ".ipynb"):
            raise UsageError(f"no solution notebook at {src} (a .py or .ipynb)")
    for src in sources:  # read each one first, so that a damaged one is named
        try:
            read_notebook(src)
        except Exception as exc:  # nbformat, jupytext and the decoders raise many kinds
            raise UsageError(f"cannot read the solution notebook {src}: {type(exc).__name__}: "
                             f"{one_line(str(exc))}") from None
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"{args.out} exists and is not a folder")
    try:
        written = write_student_versions(args.out, sources)
    except MarkerError as exc:
        raise UsageError(str(exc)) from None
    for path in written:
        print(path)
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from vaecourse.assignments import MarkerError
    from vaecourse.grader import GradingError, format_report, grade

    kw = {"assignment": args.assignment, "seed": args.seed, "timeout": args.timeout,
          "allow_weak": args.allow_weak_isolation}
    if args.notebook.is_dir():
        from vaecourse.classroom import format_summary, grade_class

        out = args.out or args.notebook.with_name(args.notebook.resolve().name + "-grades")
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out} exists and is not a folder")
        try:
            summary = grade_class(args.notebook, out, jobs=args.jobs, regrade=args.regrade, **kw)
        except (GradingError, MarkerError) as exc:
            raise UsageError(str(exc)) from None
        print(format_summary(summary))
        return 0
    if args.json is not None and (args.json.is_dir() or not args.json.parent.is_dir()):
        raise UsageError(f"cannot write the JSON report to {args.json}: give a file in an existing folder")
    try:
        report = grade(args.notebook, args.json, **kw)
    except (GradingError, MarkerError) as exc:
        raise UsageError(str(exc)) from None
    print(format_report(report))
    return 0


def _dispatch(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    return cmd_student(args) if args.command == "student" else cmd_grade(args)


def main(argv: list[str] | None = None) -> int:
    """Run the course's command line; returns the exit status (see the module's docstring)."""
    return run_main(_dispatch, argv, prog="vaecourse",
                    interrupted="run the same command again (a class folder skips what was graded already)")


if __name__ == "__main__":
    import sys

    sys.exit(main())

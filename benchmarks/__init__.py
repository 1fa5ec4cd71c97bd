"""The project's tooling, outside the student's library `vaelib`: timing, FLOP accounting, the
profile and the writers of the book's computed sections (benchmarks/perf.py, benchmarks/pages.py), and the scripts that use
them (here and in scripts/).

The scripts run as `python benchmarks/x.py` or `python scripts/x.py`; each puts the repository
root on sys.path first, so that `from benchmarks.perf import ...` works from any of them, and from
the tests (which do the same).
"""

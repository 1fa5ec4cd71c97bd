"""The book's computed sections: what stands between two marker lines of a page in book/ is
replaced by a table a script computed (the notebooks' results tables on the landing page,
book/index.md: scripts/run_notebooks.py; the profile in book/running.md:
benchmarks/profile_series.py; the bench in book/benchmarks.md: benchmarks/bench_epoch.py), so no
number there is typed by hand.

    refresh(BOOK / "benchmarks.md", "<!-- bench:begin ... -->", "<!-- bench:end -->", table)
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BOOK", "between_markers", "refresh"]

BOOK = Path(__file__).resolve().parents[1] / "book"


def between_markers(text: str, begin: str, end: str, body: str) -> str | None:
    """text with what stands between the lines `begin` and `end` replaced by body; None when a
    marker is missing."""
    if begin not in text or end not in text:
        return None
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{body}{end}{rest.split(end, 1)[1]}"


def refresh(page: Path, begin: str, end: str, body: str) -> bool:
    """Write body between the markers of `page`; False (and the page untouched) when a marker is
    missing or nothing changed."""
    text = page.read_text()
    new = between_markers(text, begin, end, body)
    if new is None or new == text:
        return False
    page.write_text(new)
    return True

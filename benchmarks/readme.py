"""The README's computed sections: what stands between two marker lines is replaced by a table a
script computed (the notebooks' results tables: scripts/run_notebooks.py; the profile:
benchmarks/profile_series.py; the bench: benchmarks/bench_epoch.py), so no number there is typed
by hand.

    text = between_markers(README.read_text(), "<!-- bench:begin ... -->", "<!-- bench:end -->", table)
    if text is not None:
        README.write_text(text)
"""

from __future__ import annotations

__all__ = ["between_markers"]


def between_markers(text: str, begin: str, end: str, body: str) -> str | None:
    """text with what stands between the lines `begin` and `end` replaced by body (the README's
    computed sections: results tables, the profile, the bench); None when a marker is missing."""
    if begin not in text or end not in text:
        return None
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{body}{end}{rest.split(end, 1)[1]}"

"""Reading the open-question answers out of a student's notebook, tolerantly.

A student version keeps each question cell (tagged `question`) and blanks the answer cell after it
(tagged `answer`, `*Your answer here.*`); the conventions are in `vaecourse.assignments`.
Students type where they like, so `answers(nb)` also counts words typed into the question cell,
or into a new cell after it when the answer cell was deleted. What the notebook itself said there
comes from the solution notebook or from the records `question_records` left in the student
version's metadata (`vaecourse.student.make_student` stores them).

    answers(student_nb, reference=solution_nb)   # [{id, cell, status, answer}], for grading by hand

Everything here reads student-controlled content and must never raise on it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from vaecourse.assignments import (
    ANSWER_TAG,
    BEGIN_ANSWER,
    END_ANSWER,
    METADATA_KEY,
    QUESTION_TAG,
    _normalise,
    _tags,
    _text,
    answer_text,
)

__all__ = ["answers", "question_records"]


def _cell_list(nb) -> list:
    cells = nb.get("cells") if isinstance(nb, Mapping) else None
    return list(cells) if isinstance(cells, (list, tuple)) else []


def _cell_source(cell) -> str:
    return _text(cell.get("source")) if isinstance(cell, Mapping) else ""


def _cell_type(cell) -> str:
    kind = cell.get("cell_type") if isinstance(cell, Mapping) else None
    return kind if isinstance(kind, str) else ""


def _added(text: str, original: str | None) -> str:
    """The lines of `text` that are not in `original` (whitespace aside); all of it when there is
    no original or the cells are too long to compare line by line."""
    if not original:
        return text.strip()
    if _normalise(text) == _normalise(original):
        return ""
    new, old = text.splitlines(), original.splitlines()
    if len(new) * len(old) > 1_000_000:  # a huge pasted cell: no quadratic diff, keep it all
        return text.strip()
    matcher = difflib.SequenceMatcher(None, [_normalise(x) for x in old], [_normalise(x) for x in new], autojunk=False)
    lines = [line for op, _, _, j1, j2 in matcher.get_opcodes() if op in ("insert", "replace") for line in new[j1:j2]]
    return "\n".join(lines).strip()


def _between_markers(text: str) -> str | None:
    """What stands between the first BEGIN ANSWER and the END ANSWER after it (an old student
    version's answer), or None. Two finds, so thousands of markers cost linear time (a regex
    `BEGIN(.*?)END` would scan from every BEGIN to the end: quadratic)."""
    start = text.find(BEGIN_ANSWER)
    end = text.find(END_ANSWER, start + len(BEGIN_ANSWER)) if start >= 0 else -1
    return text[start + len(BEGIN_ANSWER):end] if end >= 0 else None


def question_records(nb) -> list[dict]:
    """What a student version started from, one record per question: the question cell's text and
    the text of the cell after the answer cell (`make_student` stores them in the metadata, and
    `answers` tells a student's own words from the notebook's by them)."""
    cells = _cell_list(nb)
    records = []
    for i, cell in enumerate(cells):
        if QUESTION_TAG in _tags(cell):
            j = i + 2 if i + 1 < len(cells) and ANSWER_TAG in _tags(cells[i + 1]) else i + 1
            records.append({"question": _cell_source(cell), "after": _cell_source(cells[j]) if j < len(cells) else ""})
    return records


def _stored_records(nb) -> tuple[list[dict], int]:
    """The question records and the number of questions in a student version's metadata."""
    meta = nb.get("metadata") if isinstance(nb, Mapping) else None
    meta = meta.get(METADATA_KEY) if isinstance(meta, Mapping) else None
    if not isinstance(meta, Mapping):
        return [], 0
    raw = meta.get("question_cells")
    records = [
        {k: r.get(k) if isinstance(r.get(k), str) else None for k in ("question", "after")}
        for r in (raw if isinstance(raw, (list, tuple)) else []) if isinstance(r, Mapping)
    ]
    count = meta.get("questions")
    count = count if isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= 1000 else 0
    return records, count


def answers(nb, reference=None) -> list[dict]:
    """The open questions of a (student's) notebook: [{id, cell, status, answer}], in order.

    status is "answered" or "not attempted"; answer is the student's text (None when not
    attempted); cell is the index of the cell the answer was read from (the answer cell, else
    the question cell). The answer is what the `answer` cell after the question holds, less the
    placeholder; where a student also (or instead) typed into the question cell itself, or into
    an untagged markdown cell right after it when the answer cell was deleted, those words count
    too. Which words are the notebook's own comes from `reference` (the solution notebook) or
    else from the records `make_student` left in the metadata. Old student versions, with the
    answer between <!-- BEGIN ANSWER --> markers in the question cell, are read as well.

    Never raises on what a student can change: any notebook-like mapping, cells without a
    source, list sources, odd tags, lone surrogates.
    """
    cells = _cell_list(nb)
    records, count = _stored_records(nb)
    if isinstance(reference, Mapping):
        records = question_records(reference) or records
    at = [i for i, c in enumerate(cells) if QUESTION_TAG in _tags(c)]
    found = []
    for k, i in enumerate(at):
        record = records[k] if k < len(records) else {}
        stop = at[k + 1] if k + 1 < len(at) else len(cells)
        tagged = next((j for j in range(i + 1, stop) if ANSWER_TAG in _tags(cells[j])), None)
        question = _cell_source(cells[i])
        pieces: list[tuple[int, str]] = []
        legacy = _between_markers(question)
        if legacy is not None:
            pieces.append((i, legacy))
        elif record.get("question"):
            pieces.append((i, _added(question, record["question"])))
        if tagged is not None:
            pieces.append((tagged, _cell_source(cells[tagged])))
        elif i + 1 < len(cells) and _cell_type(cells[i + 1]) == "markdown" and not _tags(cells[i + 1]):
            after = _cell_source(cells[i + 1])
            if record.get("after") is not None:
                pieces.append((i + 1, _added(after, record["after"])))
            elif not re.match(r"\s*#{1,6}\s", after):  # no record: a heading starts the notebook's next section
                pieces.append((i + 1, after))
        texts = [(j, t) for j, t in ((j, answer_text(t)) for j, t in sorted(pieces)) if t]
        found.append({
            "id": f"question {k + 1}",
            "cell": texts[0][0] if texts else (tagged if tagged is not None else i),
            "status": "answered" if texts else "not attempted",
            "answer": "\n\n".join(t for _, t in texts) if texts else None,
        })
    for k in range(len(found), count):  # a question cell the student deleted
        found.append({"id": f"question {k + 1}", "cell": None, "status": "not attempted", "answer": None})
    return found

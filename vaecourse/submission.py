"""Reading a student's submission as data, never as code: `read_submission(path)`.

The grader's step 2 (see `vaecourse.grader`): a submission (.ipynb JSON, or jupytext text) is
size-limited, parsed and checked field by field; only cell types, sources and tags are kept.
Nothing of it is executed or parsed as Python here. Whatever the file holds, the only exception is
`Malformed`, whose message is the one-line reason the report gives. `clean` makes whatever text
came from a student (answers, the student process's last words) safe to print and to write as JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

__all__ = ["submission_sha256", "printable", "csv_cell", "MAX_SUBMISSION_BYTES", "MAX_CELLS", "Malformed", "clean", "read_submission"]

MAX_SUBMISSION_BYTES = 20 * 1024**2
MAX_CELLS = 5_000  # the series' notebooks have fewer than 200
_CELL_MARKER = re.compile(r"^# %%", re.M)


class Malformed(Exception):
    """The submission cannot be read; the message is the one-line reason in the report."""


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        if not all(isinstance(s, str) for s in src):
            raise Malformed("a cell's source is a list with non-text items")
        return "".join(src)
    if not isinstance(src, str):
        raise Malformed(f"a cell's source is a {type(src).__name__}, not text")
    return src


def _tags(cell: dict) -> list[str]:
    meta = cell.get("metadata", {})
    tags = meta.get("tags", []) if isinstance(meta, dict) else []
    if isinstance(tags, str):
        return [tags]
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def submission_sha256(path: Path) -> str:
    """sha256 of a submission's bytes, read in chunks and at most MAX_SUBMISSION_BYTES of them (the
    parent never holds a whole file); "" for a link or anything but a regular file, never opened
    through a link nor blocked on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        h, seen = hashlib.sha256(), 0
        while seen <= MAX_SUBMISSION_BYTES and (chunk := f.read(1 << 20)):
            h.update(chunk)
            seen += len(chunk)
    return h.hexdigest()


def printable(text: str) -> str:
    """Text for a terminal: control characters and escape sequences (a submission's name, hint or
    message could repaint the screen) shown as their escapes, e.g. \\x1b, never acted on."""
    return "".join(c if c.isprintable() or c == "\n" else c.encode("unicode_escape").decode("ascii") for c in str(text))


def csv_cell(value: Any) -> Any:
    """A value for the class table: text that a spreadsheet would read as a formula (=, +, -, @, a
    tab or a carriage return first) starts with a quote instead; numbers stay numbers."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def read_submission(path: Path) -> dict:
    """The submission as {"cells": [{"cell_type", "source", "tags"}], "raw": the notebook dict}.
    Raises Malformed with a one-line reason; never anything else for any content of the file."""
    if path.suffix not in (".ipynb", ".py"):
        raise Malformed(f"{path.name} is not a notebook (.ipynb, or a jupytext .py)")
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode) or not stat.S_ISREG(mode):  # never follow a link, never open a FIFO or a device
            raise Malformed(f"{path.name} is {'a symbolic link' if stat.S_ISLNK(mode) else 'not a regular file'}; "
                            "hand in the notebook itself")
        size = path.stat().st_size
        if size > MAX_SUBMISSION_BYTES:
            raise Malformed(f"{path.name} is {size / 1024**2:.0f} MiB, over the {MAX_SUBMISSION_BYTES // 1024**2} MiB "
                            "a notebook may have")
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError as e:
        raise Malformed(f"{path.name} cannot be read ({e.strerror or e})") from None
    markers = len(_CELL_MARKER.findall(text)) if path.suffix == ".py" else 0
    if markers > MAX_CELLS:  # counted in one pass before jupytext parses it (its time grows faster than the cells)
        raise Malformed(f"{path.name} has {markers} cells, over the {MAX_CELLS} a notebook may have")
    try:
        if path.suffix == ".ipynb":
            raw = json.loads(text)
        else:
            import jupytext

            raw = json.loads(jupytext.writes(jupytext.reads(text, fmt="py:percent"), fmt="ipynb"))
    except RecursionError:
        raise Malformed(f"{path.name} is nested too deeply to read") from None
    except Exception as e:  # noqa: BLE001  (any parse failure of student data is "malformed")
        why = (str(e).splitlines() or [type(e).__name__])[0][:200]
        raise Malformed(f"{path.name} is not a readable notebook ({why})") from None
    if not isinstance(raw, dict):
        raise Malformed(f"{path.name} is not a notebook: its JSON is a {type(raw).__name__}, not an object")
    cells = raw.get("cells")
    if not isinstance(cells, list):
        raise Malformed(f"{path.name} is not a notebook: it has no list of cells")
    if len(cells) > MAX_CELLS:
        raise Malformed(f"{path.name} has {len(cells)} cells, over the {MAX_CELLS} a notebook may have")
    out = []
    for cell in cells:
        if not isinstance(cell, dict):
            raise Malformed(f"{path.name}: a cell is a {type(cell).__name__}, not an object")
        kind = cell.get("cell_type")
        out.append({"cell_type": kind if isinstance(kind, str) else "unknown", "source": _source(cell),
                    "tags": _tags(cell)})
    return {"cells": out, "raw": raw}


def clean(x: Any) -> Any:
    """Every string made encodable (lone surrogates replaced) and every non-finite number None,
    recursively: what goes into a report is strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, str):
        return x.encode("utf-8", "replace").decode("utf-8")
    if isinstance(x, list):
        return [clean(v) for v in x]
    if isinstance(x, dict):
        return {clean(k): clean(v) for k, v in x.items()}
    return x

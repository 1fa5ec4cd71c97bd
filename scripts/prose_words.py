"""Count the words of each notebook's prose (its markdown cells), from the jupytext `.py` sources.

    python scripts/prose_words.py                 # every notebook, and the total
    python scripts/prose_words.py 01 02 03        # some notebooks
    python scripts/prose_words.py --json          # one JSON object, for before/after comparisons

A word is a run of non-space characters, so an inline formula such as `$q_\\phi(z|x)$` counts
as one word; code cells and the YAML header do not count.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def markdown_cells(text: str) -> list[str]:
    """The markdown cells of a jupytext percent file, each as plain text (the `# ` stripped)."""
    cells, current, in_markdown = [], [], False
    for line in text.splitlines():
        if line.startswith("# %%"):
            if in_markdown:
                cells.append("\n".join(current))
            current, in_markdown = [], "[markdown]" in line
            continue
        if in_markdown:
            current.append(re.sub(r"^# ?", "", line))
    if in_markdown:
        cells.append("\n".join(current))
    return cells


def prose_words(path: Path) -> int:
    return sum(len(cell.split()) for cell in markdown_cells(path.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("numbers", nargs="*", help="notebook numbers (default: all)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    if args.numbers:
        paths = [p for p in paths if p.name[:2] in args.numbers]
    counts = {p.stem: prose_words(p) for p in paths}
    if args.json:
        print(json.dumps(counts, indent=1))
    else:
        for name, n in counts.items():
            print(f"{n:6d}  {name}")
        print(f"{sum(counts.values()):6d}  total")
    return 0


if __name__ == "__main__":
    sys.exit(main())

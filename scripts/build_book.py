"""Build the book (`make book`): the notebook series as a static site, from the stored notebooks.

    python scripts/build_book.py                    # book/_build/html (open book/_build/html/index.html)
    python scripts/build_book.py --out /tmp/site    # elsewhere
    python scripts/build_book.py --only 01 02       # a few chapters (the pages in book/ always)

Sphinx with MyST-NB reads the pages in book/ and the notebooks with the outputs they carry; no
notebook is executed (book/conf.py says how, book/_ext/vaebook.py what the book adds to a chapter).
Any Sphinx warning fails the build: a link to a missing chapter or heading, a missing figure, bad
markup. Then every internal link of the built site is checked (`dead_links`): each `href` and `src`
that stays on the site must name a file that exists and, after a `#`, an id on that page.

Exit status 0 when the site was built with no warning and no dead link.
"""

from __future__ import annotations

import argparse
import html.parser
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
OUT = BOOK / "_build" / "html"


class _Page(html.parser.HTMLParser):
    """The ids a page defines and the local links it makes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key) and (key == "id" or tag == "a"):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if tag == "link" and a.get("rel") in ("preconnect", "dns-prefetch"):
                continue
            target = a.get(key)
            if target and not re.match(r"^([a-z][a-z0-9+.-]*:|//)", target, flags=re.I):
                self.links.append(target)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def dead_links(site: Path) -> list[str]:
    """'page: link (why)' for every internal link of the site at `site` that leads nowhere."""
    site = site.resolve()
    pages = {p: _parse(p) for p in sorted(site.rglob("*.html"))
             if p.relative_to(site).parts[0] not in ("_static", "_sources")}  # the theme's template files
    dead = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            path = unquote(parts.path)
            target = page if not path else (page.parent / path).resolve()
            if path.endswith("/"):
                target = target / "index.html"
            where = f"{page.relative_to(site)}: {link}"
            if site not in target.parents and target != site:
                dead.append(f"{where} (leaves the site)")
            elif not target.is_file():
                dead.append(f"{where} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    dead.append(f"{where} (no id '{unquote(parts.fragment)}' on that page)")
    return dead


def build(out: Path = OUT, only: list[str] | None = None, quiet: bool = True) -> tuple[int, str]:
    """Run Sphinx into a fresh `out` (an earlier build there is removed first, so no stale page or
    file survives); (its exit status, what it printed). Warnings are errors (-W)."""
    if out.exists() and any(out.iterdir()):
        if not (out / ".buildinfo").is_file():
            return 2, f"{out} holds files that are not an earlier build of the book: not overwriting it"
        shutil.rmtree(out)
    env = dict(os.environ)
    if only:
        env["BOOK_ONLY"] = " ".join(only)
    cmd = [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going",  # -E: a fresh read, never a stale page
           "-c", str(BOOK), str(REPO), str(out),
           "-d", str(out.parent / (out.name + ".doctrees"))]
    if quiet:
        cmd.insert(3, "-q")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    printed = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                        if "MissingIDFieldWarning" not in line and "_validate(nbdict" not in line)
    return proc.returncode, printed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help="where the site goes (default book/_build/html)")
    ap.add_argument("--only", nargs="+", metavar="NN", help="build these chapters only (e.g. 01 02)")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    rc, printed = build(args.out.resolve(), args.only)
    if printed.strip():
        print(printed)
    if rc != 0:
        print(f"make book: Sphinx failed (exit {rc}); the lines above say where", file=sys.stderr)
        return 1
    dead = dead_links(args.out)
    for line in dead:
        print(f"dead link: {line}", file=sys.stderr)
    pages = len([p for p in args.out.rglob("*.html") if p.relative_to(args.out).parts[0] != "_static"])
    print(f"book: {pages} pages in {args.out} ({time.perf_counter() - start:.1f} s), "
          f"{len(dead)} dead internal links; open {args.out / 'index.html'}")
    return 1 if dead else 0


if __name__ == "__main__":
    sys.exit(main())

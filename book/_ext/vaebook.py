"""What the book adds to each chapter as Sphinx reads it (the notebooks on disk are never changed).

- a box under the chapter's title: how to open it in JupyterLab, and a download of the notebook
  (the stored .ipynb, with its outputs), plus its page on the code host when a repository is set;
- exercises (code cells tagged `exercise`) boxed and labelled (book/_static/book.css), their
  solution folded until the reader asks for it; open questions boxed, their model answers folded
  (markdown cells tagged `question` / `answer`). With `book_solutions = "withhold"` (the
  environment's BOOK_SOLUTIONS=withhold, for a class whose assignments are still open) the site
  carries no solution: each solution region becomes a stub, each model answer a note;
- a link from a page to a file of the repository (`../vaelib/losses.py`) goes to that file on the
  code host when a repository is set, and is plain text otherwise: the site copies no source file;
- a page of references, gathered from each chapter's "References" section;
- index.html at the site's root, leading to the landing page (book/index).
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx

CHAPTER = re.compile(r"^notebooks/(\d\d)_\w+$")
REFERENCES = "book/_generated/references"


def jupyter_anchor(title: str) -> str:
    """The anchor JupyterLab gives a heading: its text, spaces as hyphens."""
    return re.sub(r"\s+", "-", title.strip())


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _markdown(text: str, cell_id: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text}


def run_box(app: Sphinx, docname: str) -> str:
    """The note under a chapter's title: open it in JupyterLab, or download it."""
    name = docname.split("/", 1)[1]
    repo = app.config.html_context.get("repository_url", "")
    branch = app.config.html_theme_options.get("repository_branch", "main")
    on_host = (f' · <a href="{html.escape(repo)}/blob/{branch}/notebooks/{name}.py">its source on the code host</a>'
               if repo else "")
    if app.config.book_solutions == "withhold":
        return (":::{admonition} Run this chapter\n:class: tip run-this-chapter\n\n"
                "This page shows the outputs of the notebook's last full run, without the solutions. "
                f"To work on it: open your copy of `{name}.ipynb` (the student version) in JupyterLab.\n:::\n")
    return (
        ":::{admonition} Run this chapter\n:class: tip run-this-chapter\n\n"
        f"This page shows the stored outputs of the notebook's last full run. To run it yourself: "
        f"clone the repository, `make lab`, and open `notebooks/{name}.ipynb` (or its paired "
        f"`{name}.py`); the setup cell prints how long it takes. "
        f'<a class="download-notebook" href="../_sources/notebooks/{name}.ipynb" download>'
        f"Download {name}.ipynb</a>{on_host}.\n:::\n"
    )


def _stub(source: str) -> str:
    """An exercise's source with each `# BEGIN SOLUTION` ... `# END SOLUTION` region a stub."""
    out, inside = [], False
    for line in source.splitlines():
        marker = line.strip()
        if marker == "# BEGIN SOLUTION":
            inside = True
            out.append(line.replace("# BEGIN SOLUTION", 'raise NotImplementedError("your code here")'))
        elif marker == "# END SOLUTION":
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def _exercise(cell: dict, solutions: str) -> dict:
    if "exercise" not in (cell.get("metadata", {}).get("tags", []) or []):
        return cell
    cell = json.loads(json.dumps(cell))
    if solutions == "withhold":
        cell["source"] = _stub(_source(cell))
        cell["outputs"] = []
        return cell
    cell["metadata"]["tags"] = list(cell["metadata"]["tags"]) + ["hide-input"]
    cell["metadata"]["mystnb"] = {"code_prompt_show": "Show a solution", "code_prompt_hide": "Hide the solution"}
    return cell


def _boxed(cell: dict, solutions: str) -> dict:
    tags = cell.get("metadata", {}).get("tags", []) or []
    text = _source(cell).strip()
    if "answer" in tags and solutions == "withhold":
        return _markdown("*The model answer is withheld while this assignment is open.*", cell.get("id", "a"))
    if "question" in tags:
        return _markdown(f":::{{admonition}} Question\n:class: question\n\n{text}\n:::\n", cell.get("id", "q"))
    if "answer" in tags:
        return _markdown(f'<details class="answer">\n<summary>Show the answer</summary>\n\n{text}\n\n</details>\n',
                         cell.get("id", "a"))
    return cell


def on_source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    if not CHAPTER.match(docname):
        return
    nb = json.loads(source[0])
    solutions = app.config.book_solutions
    cells = [_boxed(c, solutions) if c.get("cell_type") == "markdown" else _exercise(c, solutions)
             for c in nb["cells"]]
    nb["cells"] = cells[:1] + [_markdown(run_box(app, docname), "book-run-this-chapter")] + cells[1:]
    source[0] = json.dumps(nb)


def repository_links(app: Sphinx, doctree: nodes.document) -> None:
    """Links to repository files, which MyST would turn into downloads: to the code host, or text."""
    repo = app.config.html_context.get("repository_url", "")
    branch = app.config.html_theme_options.get("repository_branch", "main")
    docdir = posixpath.dirname(app.env.docname)
    for ref in list(doctree.findall(addnodes.download_reference)):
        path = posixpath.normpath(posixpath.join(docdir, ref["reftarget"]))
        if repo:
            link = nodes.reference("", "", *ref.children, refuri=f"{repo}/blob/{branch}/{path}", internal=False)
            ref.replace_self(link)
        else:
            ref.replace_self(ref.children)


def chapter_references(notebooks: Path) -> list[tuple[str, str, str]]:
    """(chapter, title, the text of its "References" section) for each notebook that has one."""
    found = []
    for path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        title = _source(cells[0]).splitlines()[0].lstrip("# ").strip()
        texts = [_source(c) for c in cells if c.get("cell_type") == "markdown"]
        for text in texts:
            m = re.search(r"^## References\s*$(.*?)(?=^#{1,2} |\Z)", text, flags=re.M | re.S)
            body = m.group(1).split("**Next", 1)[0] if m else ""  # the chapter's own "Next:" line is not a reference
            if body.strip():
                # a chapter's link to a sibling chapter, seen from book/_generated/
                body = re.sub(r"\]\((\d\d_\w+\.ipynb)", r"](../../notebooks/\1", body.strip())
                found.append((path.stem, title, body))
    return found


def write_references(srcdir: Path) -> None:
    lines = ["# References", "",
             "The papers, books and code each chapter draws on, gathered from the chapters' own lists.", ""]
    for stem, title, text in chapter_references(srcdir / "notebooks"):
        lines += [f"## [{title}](../../notebooks/{stem}.ipynb)", "", text, ""]
    out = srcdir / f"{REFERENCES}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines)
    if not out.exists() or out.read_text() != text:
        out.write_text(text)


def on_builder_inited(app: Sphinx) -> None:
    write_references(Path(app.srcdir))


def on_build_finished(app: Sphinx, exc: Exception | None) -> None:
    if exc is None and app.builder.format == "html":
        root = app.config.root_doc
        Path(app.outdir, "index.html").write_text(
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(app.config.html_title)}</title>'
            f'<meta http-equiv="refresh" content="0; url={root}.html"></head>'
            f'<body><a href="{root}.html">{html.escape(app.config.html_title)}</a></body></html>\n')


def setup(app: Sphinx) -> dict:
    app.add_config_value("book_solutions", "fold", "env", types=[str])
    app.connect("builder-inited", on_builder_inited)
    app.connect("source-read", on_source_read)
    app.connect("doctree-read", repository_links, priority=100)  # before Sphinx collects downloads
    app.connect("build-finished", on_build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

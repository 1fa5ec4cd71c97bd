"""Sphinx configuration of the book: the notebook series as a static site (`make book`).

The book is built from the stored outputs of the notebooks and never executes one. Sphinx reads
the repository itself (`sphinx-build -c book . book/_build/html`, run by `scripts/build_book.py`),
but only the files `include_patterns` names: the pages in book/ and the notebooks. So a page links
a chapter as `../notebooks/04_fnn_vae.ipynb` and a figure as `../images/x.png`, and the same links
work when the page is read on the code host.

Settings from the environment, all optional:
    BOOK_REPOSITORY_URL   the repository's web address (e.g. https://github.com/you/vae-notebooks):
                          each page then links its source on the code host
    BOOK_REPOSITORY_BRANCH  the branch those links point at (default: main)
    BOOK_SOLUTIONS        "fold" (default: exercises' solutions and model answers folded, one click
                          away) or "withhold" (none on the site: for a class whose assignments are open)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

project = "vae-notebooks"
author = "the vae-notebooks authors"
copyright = "the vae-notebooks authors (MIT licence)"
html_title = "Variational Autoencoders on MNIST"

root_doc = "book/index"
# BOOK_ONLY="01 02" (scripts/build_book.py --only): a preview of a few chapters; links to the
# chapters left out are then plain text, not errors
_only = os.environ.get("BOOK_ONLY", "").split()
include_patterns = ["book/*.md", "book/_generated/*.md"] + (
    [f"notebooks/{n}_*.ipynb" for n in _only] if _only else ["notebooks/[0-9][0-9]_*.ipynb"])
exclude_patterns = ["book/_build", "**/.ipynb_checkpoints", ".venv", ".tools", ".git", "checkpoints", "data",
                    "runs", "student", "bundles", "benchmarks", "tests", "vaelib", "vaecourse"]

extensions = [
    "vaebook",  # book/_ext/vaebook.py: the run box, questions and answers, the references page
    "myst_nb",  # notebooks (.ipynb, stored outputs) and MyST markdown pages
    "sphinx-mathjax-offline",  # MathJax 3 served from the site itself: no CDN needed to read a page
]

# never execute: the book shows what the last full run of each notebook printed and drew
nb_execution_mode = "off"
# a stored widget has its static figure beside it; show the figure, never an empty widget frame
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
nb_merge_streams = True

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_dmath_double_inline = True
# headings get the anchors JupyterLab gives them ("How to read the claims" -> How-to-read-the-claims),
# so a link written for JupyterLab (01_data.ipynb#How-to-read-the-claims) works in the book too
myst_heading_anchors = 4
myst_heading_slug_func = "vaebook.jupyter_anchor"

suppress_warnings = ["myst.header"] + (["myst.xref_missing", "toc.excluded"] if _only else [])

book_solutions = os.environ.get("BOOK_SOLUTIONS", "fold")
if book_solutions not in ("fold", "withhold"):
    raise ValueError(f"BOOK_SOLUTIONS={book_solutions!r}: say fold or withhold")

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_last_updated_fmt = ""
# _sources/notebooks/NN_x.ipynb is the notebook itself, the chapter's download; not while solutions
# are withheld (the stored notebooks are the solutions)
html_copy_source = book_solutions != "withhold"
html_sourcelink_suffix = ""
html_show_sourcelink = False

_repository = os.environ.get("BOOK_REPOSITORY_URL", "").strip().rstrip("/")
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,  # each chapter offers its notebook itself (the box at its top)
    "use_fullscreen_button": True,
    "home_page_in_toc": True,
}
if _repository:
    html_theme_options.update({
        "repository_url": _repository,
        "repository_branch": os.environ.get("BOOK_REPOSITORY_BRANCH", "main"),
        "use_repository_button": True,
        "use_issues_button": True,
    })
html_context = {"repository_url": _repository, "default_mode": "light"}
html_favicon = "_static/favicon.svg"

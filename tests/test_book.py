"""The book (`make book`): the whole site built from the stored notebooks, as a reader gets it, and the
front door (README.md) that leads to it.

The build takes a few seconds (nothing is executed), so the tests build the whole book: no Sphinx
warning, no dead internal link (scripts/build_book.py), and what a reader relies on is there. The
check in a real browser (scripts/check_book_in_browser.py, `make book-check`) needs Chromium and is
run by hand."""

from __future__ import annotations

import html
import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_book = _load("build_book", REPO / "scripts" / "build_book.py")


def _build(out: Path, **env) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        rc, printed = build_book.build(out)
    assert rc == 0, f"the book did not build cleanly:\n{printed}"
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("book") / "html")


def _page(site: Path, name: str) -> str:
    return (site / name).read_text()


def test_the_book_builds_without_a_warning_or_a_dead_link(site):
    assert build_book.dead_links(site) == []
    assert (site / "index.html").is_file() and "book/index.html" in _page(site, "index.html")


def test_every_chapter_is_a_page_in_course_order_in_the_sidebar(site):
    landing = _page(site, "book/index.html")
    positions = [landing.find(f'href="../notebooks/{stem}.html"') for stem in NOTEBOOKS]
    assert all(p >= 0 for p in positions), "a chapter is missing from the landing page"
    for stem in NOTEBOOKS:
        page = _page(site, f"notebooks/{stem}.html")
        sidebar = page.split('class="bd-sidebar-primary', 1)[1].split("</nav>", 1)[0]
        order = [sidebar.find(f'href="{other}.html"') for other in NOTEBOOKS if other != stem]
        assert all(p >= 0 for p in order) and order == sorted(order), f"{stem}: sidebar not in course order"


def test_a_chapter_has_its_math_figures_outputs_and_run_box(site):
    page = _page(site, "notebooks/02_reparameterization.html")
    assert page.count('class="math notranslate nohighlight"') > 20  # TeX handed to MathJax
    assert "_static/mathjax/tex-chtml.js" in page and (site / "_static/mathjax/tex-chtml.js").is_file()
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert images and all((site / "notebooks" / src).resolve().is_file() for src in images)
    assert "Run this chapter" in page and 'href="../_sources/notebooks/02_reparameterization.ipynb" download' in page
    stored = json.loads((site / "_sources/notebooks/02_reparameterization.ipynb").read_text())
    assert stored == json.loads((REPO / "notebooks/02_reparameterization.ipynb").read_text())


def test_exercises_questions_and_answers_are_marked(site):
    page = _page(site, "notebooks/02_reparameterization.html")
    assert page.count("tag_exercise") == 4  # reparameterize, kl_std_normal, elbo, iwae_bound
    assert page.count("Show a solution") == 4 and '<div class="question admonition">' in page
    assert '<details class="answer">' in page and "Show the answer" in page


def test_a_link_between_chapters_lands_on_the_heading_it_names(site):
    # 02 links "01_data.ipynb#How-to-read-the-claims", written for JupyterLab
    page = _page(site, "notebooks/02_reparameterization.html")
    anchors = re.findall(r'href="01_data.html#([^"]+)"', page)
    assert anchors and all(a.lower() == "how-to-read-the-claims" for a in anchors)
    assert all(f'id="{a}"' in _page(site, "notebooks/01_data.html") for a in anchors)


def test_the_references_and_the_search_index_cover_the_chapters(site):
    refs = _page(site, "book/_generated/references.html")
    assert "Kingma" in refs and "02_reparameterization.html" in refs
    index = _page(site, "searchindex.js")
    assert "reparameter" in index and all(f"notebooks/{stem}" in index for stem in NOTEBOOKS)


def test_the_landing_page_carries_the_results_tables(site):
    text = (REPO / "book" / "index.md").read_text()
    for tag in ("results", "results-08", "results-09", "results-10", "results-11", "results-12"):
        table = text.split(f"<!-- {tag}:begin", 1)[1].split(f"<!-- {tag}:end -->", 1)[0]
        assert table.count("\n|") >= 3, f"no table between the {tag} markers"
    assert "<table" in _page(site, "book/index.html")


def test_withheld_solutions_leave_no_solution_or_model_answer_on_the_site(tmp_path):
    site = _build(tmp_path / "html", BOOK_SOLUTIONS="withhold")
    assert build_book.dead_links(site) == []
    secrets = [line for stem in NOTEBOOKS for line in _solutions(REPO / "notebooks" / f"{stem}.ipynb")]
    assert len(secrets) > 20
    for path in site.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".js", ".ipynb", ".txt", ".py", ".md"):
            text = _text(path)
            assert not [s for s in secrets if s in text], f"{path}: a solution or a model answer"
    for stem in NOTEBOOKS:
        assert "BEGIN SOLUTION" not in _text(site / "notebooks" / f"{stem}.html")
    assert "NotImplementedError" in _text(site / "notebooks/02_reparameterization.html")


def _text(path: Path) -> str:
    """A file's text as a reader sees it: for a page, its tags stripped (the highlighter splits
    code into spans) and spaces collapsed."""
    text = path.read_text(errors="replace")
    if path.suffix == ".html":
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\s+", " ", text)


def _solutions(notebook: Path) -> list[str]:
    """The lines of every solution region and the first long line of every model answer."""
    out = []
    for cell in json.loads(notebook.read_text())["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        lines = [re.sub(r"\s+", " ", l.strip()) for l in "".join(cell["source"]).splitlines()]
        if "exercise" in tags:
            inside = False
            for line in lines:
                if line == "# END SOLUTION":
                    inside = False
                if inside and len(line) > 25:
                    out.append(line)
                if line == "# BEGIN SOLUTION":
                    inside = True
        if "answer" in tags:
            out += [l for l in lines if len(l) > 40][:1]
    return out


def test_dead_links_finds_a_missing_page_a_missing_id_and_a_link_out_of_the_site(tmp_path):
    (tmp_path / "a.html").write_text('<p id="here"><a href="b.html#there">x</a><a href="b.html#gone">y</a>'
                                     '<a href="missing.html">z</a><img src="../outside.png"><a href="#here">w</a>'
                                     '<a href="https://example.org/x">ext</a></p>')
    (tmp_path / "b.html").write_text('<h1 id="there">b</h1>')
    dead = build_book.dead_links(tmp_path)
    assert sorted(d.split(" (")[0] for d in dead) == ["a.html: ../outside.png", "a.html: b.html#gone",
                                                     "a.html: missing.html"]


def test_the_readme_is_a_front_door_whose_links_all_lead_somewhere():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 120
    for stem in NOTEBOOKS:
        assert f"(notebooks/{stem}.ipynb)" in readme, f"the README's table misses {stem}"
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme):
        if not re.match(r"^[a-z]+:", target):
            assert (REPO / target).exists(), f"README links {target}, which does not exist"


def test_the_book_pages_link_only_to_files_that_exist():
    for page in (REPO / "book").glob("*.md"):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"^[a-z]+:", target):
                assert (page.parent / target).exists(), f"{page.name} links {target}, which does not exist"


@pytest.mark.parametrize("page, marker", [("running.md", "profile"), ("benchmarks.md", "bench"),
                                          ("index.md", "results")])
def test_the_computed_sections_have_their_markers_where_the_writers_look(page, marker):
    text = (REPO / "book" / page).read_text()
    assert f"<!-- {marker}:begin" in text and f"<!-- {marker}:end -->" in text

"""The shape of vaelib that a newcomer relies on: the student's library alone (the course and the
tooling live outside it), wings that import in one direction with no circle, no private name
borrowed across modules, files split by concept, and a complete `__all__` at the top of every module."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

import vaelib

PACKAGE = Path(vaelib.__file__).parent
REPO = PACKAGE.parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))
#: the core: what a student reads to learn the VAE and how it is trained, and what the rest builds on
CORE = ("data", "datafiles", "losses", "models", "train", "metrics", "runtime", "runs", "checkpoints", "cache")
#: the wings, lowest first: a module may import its own wing and the wings below it, never one above
WINGS = (CORE, ("eval",), ("notebook", "cli", "__main__"))
MAX_FILE_LINES, MAX_FUNCTION_LINES = 500, 60
#: the reading order of book/library.md: data, losses, the VAE and its networks, the trainer, metrics, the
#: registry, checkpoints, the cache entry, runtime and the notebook session; and the line budgets
READING_ORDER = ("data.py", "losses.py", "models/networks.py", "models/vae.py", "train.py", "metrics.py", "runs.py",
                 "checkpoints.py", "cache.py", "runtime.py", "notebook.py")
READING_ORDER_BUDGET, LIBRARY_BUDGET = 3000, 6000


def _load_import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", REPO / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


import_graph = _load_import_graph()


def _name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _wing(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    return next(i for i, wing in enumerate(WINGS) if top in wing)


def test_vaelib_holds_the_students_library_only():
    """The course (vaecourse/) and the tooling (benchmarks/, scripts/) are not in vaelib."""
    tops = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.glob("*") if p.name != "__pycache__"}
    assert tops - {"__init__", "__main__"} <= {w for wing in WINGS for w in wing}, tops
    assert not (PACKAGE / "course").exists() and not (PACKAGE / "perf.py").exists()


def test_imports_flow_one_way_with_no_circle():
    """notebook/CLI -> eval -> the core; inside the core no circle either (scripts/import_graph.py
    reads every import, the ones inside functions too)."""
    edges = import_graph.graph()
    assert import_graph.cycles(edges) == []
    upward = [(a, b) for a, targets in edges.items() if a != "vaelib" for b in targets
              if b != "vaelib" and _wing(b) > _wing(a)]
    assert not upward, f"imports from a higher wing: {upward}"


def test_the_import_graph_finds_a_circle():
    """The check above can fail: a made-up pair that imports each other is a circle."""
    assert import_graph.cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_module_borrows_a_private_name_from_another():
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vaelib"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{_name(path)} imports {private} from {node.module}"


def test_no_module_imports_the_tooling():
    """(That no module imports the course is tests/test_course_layout.py's check.)"""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert not [n for n in names if n.split(".")[0] in ("benchmarks", "scripts")], _name(path)


def _lines() -> dict[str, int]:
    return {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}


def test_the_core_reads_in_one_sitting():
    """The book's page on the library (book/library.md) lists the reading order, and it stays within
    3,000 lines."""
    page = (REPO / "book" / "library.md").read_text()
    assert all(f"vaelib/{f}" in page for f in READING_ORDER), "book/library.md's reading order misses a file"
    assert sum(_lines()[f] for f in READING_ORDER) <= READING_ORDER_BUDGET


def test_the_whole_library_stays_within_its_budget():
    """The whole library (the model families, eval/ and the CLI included) within 6,000 lines."""
    total = sum(_lines().values())
    assert total <= LIBRARY_BUDGET, f"vaelib is {total:,} lines, over its budget of {LIBRARY_BUDGET:,}"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_files_and_functions_are_short(path):
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_FILE_LINES, f"{_name(path)}: {len(source.splitlines())} lines"
    long = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(ast.parse(source))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{_name(path)}: functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_all_is_at_the_top_and_complete(path):
    """`__all__` comes before the first function or class, names only what exists, and names every
    public function and class the module defines."""
    tree = ast.parse(path.read_text())
    first_def = next((n.lineno for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))), 10**9)
    spec = [n for n in tree.body if isinstance(n, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)]
    assert len(spec) == 1 and spec[0].lineno < first_def, f"{_name(path)}: one __all__, above the first def"
    module = importlib.import_module(_name(path))
    assert all(hasattr(module, n) for n in module.__all__), _name(path)
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")}
    assert defined <= set(module.__all__), f"{_name(path)}: missing from __all__: {sorted(defined - set(module.__all__))}"

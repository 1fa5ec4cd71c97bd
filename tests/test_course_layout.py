"""The course's home, `vaecourse/`, beside the student's library `vaelib/`: vaecourse may import
vaelib, vaelib never imports vaecourse; and vaecourse keeps vaelib's rules for every file (at most
400 lines, no function over 60, a complete `__all__` at the top; tests/test_layout.py holds them
for vaelib)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import vaecourse
import vaelib

COURSE = Path(vaecourse.__file__).parent
LIBRARY = Path(vaelib.__file__).parent
COURSE_MODULES = sorted(p for p in COURSE.rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 60
#: the one module allowed to be longer: the autograder copies probes.py alone into its sandbox, so
#: every exercise's probe must live in that one file (one short probe per exercise)
LONGER_FILES = {"vaecourse.probes": 440}


def _name(path: Path, package: Path) -> str:
    return ".".join(path.relative_to(package.parent).with_suffix("").parts)


def _imports(path: Path) -> set[str]:
    """Every module this file imports, at the top or inside functions and classes (`from X import
    Y` counts X and X.Y; `importlib.import_module("X")` and `__import__("X")` with a literal count X)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            f = node.func
            called = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if called in ("import_module", "__import__"):
                found.add(node.args[0].value)
    return found


def test_the_course_lives_beside_the_library_not_in_it():
    assert (COURSE / "__init__.py").exists() and COURSE.parent == LIBRARY.parent
    assert not (LIBRARY / "course").exists()


@pytest.mark.parametrize("path", sorted(LIBRARY.rglob("*.py")), ids=lambda p: _name(p, LIBRARY))
def test_no_module_of_vaelib_imports_vaecourse(path):
    course = sorted(m for m in _imports(path) if m == "vaecourse" or m.startswith("vaecourse."))
    assert not course, f"{_name(path, LIBRARY)} imports {course}"


def test_the_import_check_sees_imports_inside_functions(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from vaecourse.grader import grade\n\n"
                     "class C:\n    def g(self):\n        import vaecourse.checks as c\n"
                     "        return importlib.import_module('vaecourse.answers')\n")
    assert {"vaecourse.grader", "vaecourse.checks", "vaecourse.answers"} <= _imports(probe)


@pytest.mark.parametrize("path", COURSE_MODULES, ids=lambda p: _name(p, COURSE))
def test_files_and_functions_are_short(path):
    source = path.read_text(encoding="utf-8")
    limit = LONGER_FILES.get(_name(path, COURSE), MAX_FILE_LINES)
    assert len(source.splitlines()) <= limit, f"{_name(path, COURSE)}: {len(source.splitlines())} lines"
    long = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(ast.parse(source))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{_name(path, COURSE)}: functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("path", COURSE_MODULES, ids=lambda p: _name(p, COURSE))
def test_all_is_at_the_top_and_complete(path):
    """`__all__` comes before the first function or class, names only what exists, and names every
    public function and class the module defines."""
    name = _name(path, COURSE)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    first_def = next((n.lineno for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))), 10**9)
    spec = [n for n in tree.body if isinstance(n, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)]
    assert len(spec) == 1 and spec[0].lineno < first_def, f"{name}: one __all__, above the first def"
    module = importlib.import_module(name)
    assert all(hasattr(module, n) for n in module.__all__), name
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")}
    assert defined <= set(module.__all__), f"{name}: missing from __all__: {sorted(defined - set(module.__all__))}"

"""The shape of vaelib that a newcomer relies on: three wings that import in one direction, a
trainer that holds training only, short files and functions, and a complete `__all__` at the top
of every module."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import vaelib

PACKAGE = Path(vaelib.__file__).parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))
#: the core wing: what a student reads to learn the VAE, and what every other part builds on
CORE = ("data", "datafiles", "losses", "models", "train", "group", "metrics", "runtime", "runs", "cache")
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 60
#: the one module allowed to be longer: the autograder copies probes.py alone into its sandbox, so
#: every exercise's probe must live in that one file (one short probe per exercise)
LONGER_FILES = {"vaelib.course.probes": 440}


def _name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _vaelib_imports(path: Path) -> set[str]:
    """Every vaelib module this file imports (at the top or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vaelib"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("vaelib")}
    return found


def test_the_three_wings_exist_and_the_core_never_imports_the_others():
    assert (PACKAGE / "eval" / "__init__.py").exists() and (PACKAGE / "course" / "__init__.py").exists()
    for path in MODULES:
        name = _name(path)
        if name.split(".")[1] not in CORE:
            continue
        outward = {m for m in _vaelib_imports(path)
                   if m.startswith(("vaelib.eval", "vaelib.course", "vaelib.notebook", "vaelib.cli"))}
        assert not outward, f"{name} (core) imports {sorted(outward)}"


def test_no_module_imports_helpers_from_the_trainer():
    """train.py holds training; devices, seeding, files and checkpoints come from vaelib.runtime.
    vaelib.group, which trains several of the trainer's runs in one pass, is the one module that
    uses the trainer's own steps (_start, _end_epoch, ...), so that a member is a solo run."""
    import vaelib.train as vtrain

    training = set(vtrain.__all__)
    for path in MODULES:
        if _name(path) == "vaelib.group":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "vaelib.train":
                names = {a.name for a in node.names}
                assert names <= training, f"{_name(path)} imports {sorted(names - training)} from vaelib.train"
    runtime_names = set(importlib.import_module("vaelib.runtime").__all__)
    assert not training & runtime_names


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_files_and_functions_are_short(path):
    source = path.read_text()
    limit = LONGER_FILES.get(_name(path), MAX_FILE_LINES)
    assert len(source.splitlines()) <= limit, f"{_name(path)}: {len(source.splitlines())} lines"
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

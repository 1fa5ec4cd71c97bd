"""The evaluation sizes of vaelib.eval.sizes: what the notebooks name, and nothing else, lives there.

A teaching cell says `session.size("paired_images")`; the two numbers behind it (full and test mode)
are defined once. These tests parse the notebook sources, as tests/test_runs.py does (nothing is
executed).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from vaelib.notebook import Session
from vaelib.runtime import series
from vaelib.eval.sizes import SIZES, Size, size

SOURCES = series()


def _mode_attributes(path: Path) -> list[ast.Attribute]:
    """Every `session.<something>` in the notebook's code (the .py's markdown cells are comments)."""
    return [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "session"]


def names_used() -> dict[str, list[str]]:
    """The sizes the notebooks ask for, `session.size("name")`: name -> the notebooks."""
    used: dict[str, list[str]] = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "size"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "session"):
                used.setdefault(node.args[0].value, []).append(path.name)
    return used


def test_every_size_a_notebook_names_exists_and_every_size_is_named_somewhere() -> None:
    used = names_used()
    assert used, "the notebooks name their evaluation sizes through mode.size"
    assert sorted(set(used) - set(SIZES)) == [], "a notebook names a size vaelib.eval.sizes does not define"
    assert sorted(set(SIZES) - set(used)) == [], "vaelib.eval.sizes defines a size no notebook uses"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_no_teaching_cell_branches_on_the_mode(path: Path) -> None:
    """Test mode is vaelib's business (runs, sizes, claims), not the reader's."""
    offending = [f"line {node.lineno}: mode.{node.attr}" for node in _mode_attributes(path) if node.attr in ("test", "n")]
    assert offending == []


def test_a_size_is_full_after_a_full_run_and_small_in_test_mode() -> None:
    full, test = Session(test=False, device=torch.device("cpu")), Session(test=True, device=torch.device("cpu"))
    for name, entry in SIZES.items():
        assert full.size(name) == entry.full == size(name, test=False)
        assert test.size(name) == entry.test == size(name, test=True)
        assert 0 < entry.test <= entry.full and entry.what
    assert full.size("paired_images") == 2000 and test.size("paired_images") == 200


def test_an_unknown_size_names_the_known_ones_and_a_size_cannot_grow_in_test_mode() -> None:
    with pytest.raises(KeyError, match="paired_images"):
        size("paired_imagse", test=False)
    with pytest.raises(ValueError):
        Size(full=10, test=20, what="a test mode that is larger than the full run")
    with pytest.raises(ValueError):
        Size(full=10, test=0, what="nothing in test mode")

"""environment.yml (for conda users) stays in step with pyproject.toml (what uv installs: the
project's dependencies and its default dependency groups)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_packages_as_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = list(pyproject["project"]["dependencies"])
    for group in pyproject["tool"]["uv"]["default-groups"]:
        deps += pyproject["dependency-groups"][group]
    wanted = {_name(d): d.replace(" ", "") for d in deps}
    text = (ROOT / "environment.yml").read_text()
    dependencies = text.split("dependencies:", 1)[1]
    lines = [l.strip()[2:].strip() for l in dependencies.splitlines()
             if l.strip().startswith("- ") and not l.strip().startswith("- -e")]
    pip_reqs = {_name(l): l.replace(" ", "") for l in lines
                if _name(l) not in ("python", "pip") and not l.endswith(":")}
    assert pip_reqs == wanted

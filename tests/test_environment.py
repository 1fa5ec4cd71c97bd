"""environment.yml (for conda users) stays in step with pyproject.toml (what uv installs)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_packages_as_pyproject():
    pyproject = (ROOT / "pyproject.toml").read_text()
    block = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    deps = re.findall(r'"([^"]+)"', block)
    wanted = {_name(d): d.replace(" ", "") for d in deps}
    text = (ROOT / "environment.yml").read_text()
    dependencies = text.split("dependencies:", 1)[1]
    lines = [l.strip()[2:].strip() for l in dependencies.splitlines()
             if l.strip().startswith("- ") and not l.strip().startswith("- -e")]
    pip_reqs = {_name(l): l.replace(" ", "") for l in lines
                if _name(l) not in ("python", "pip") and not l.endswith(":")}
    assert pip_reqs == wanted

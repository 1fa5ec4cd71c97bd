"""The import graph of vaelib: which module imports which, and any circle.

    python scripts/import_graph.py            # one line per module: what it imports from vaelib
    python scripts/import_graph.py --cycles   # only the circles (none: exit status 0)

Every `import` and `from ... import` counts, at the top of a file or inside a function (an import
inside a function can hide a circle, but not from this). A package's `__init__` imports count as the
package's. Read from the source with `ast`; nothing is imported.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vaelib"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, known: set[str]) -> set[str]:
    """The vaelib modules that `path` imports (`from vaelib.x import y` is vaelib.x.y when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("vaelib"):
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            found |= subs or {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("vaelib")}
    return {m for m in found if m in known} - {module_name(path)}


def graph() -> dict[str, set[str]]:
    """module -> the vaelib modules it imports."""
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in paths}
    return {module_name(p): imports(p, known) for p in paths}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycles", action="store_true", help="print only the circles")
    args = p.parse_args()
    edges = graph()
    found = cycles(edges)
    if not args.cycles:
        for module, targets in sorted(edges.items()):
            print(f"{module:28} -> {', '.join(sorted(targets)) or '-'}")
    print(f"{len(found)} circle(s)" + "".join(f"\n  {' <-> '.join(c)}" for c in found))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

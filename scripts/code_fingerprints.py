"""The fingerprints of the code that the cache's stamp versions (vaelib.cache.CODE_VERSIONS).

    python scripts/code_fingerprints.py            # which files changed since their version was recorded
    python scripts/code_fingerprints.py --record   # record every file's version and fingerprint

A file's fingerprint hashes its syntax tree without docstrings, so editing a comment or a docstring
leaves it alone, and any change to the code does not. tests/test_code_stamp.py fails while a file's
fingerprint or version differs from the recorded pair: a change to the code asks its author to
decide whether it changes the numbers (then bump the file's version in CODE_VERSIONS, and every
cached run that depends on it is trained again) or not (then only record it).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "tests" / "code_fingerprints.json"


def fingerprint(path: Path) -> str:
    """sha256 of the file's syntax tree with every docstring removed (comments never reach the tree)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


def current(versions: dict[str, int]) -> dict[str, dict]:
    """{file: {"version", "fingerprint"}} of vaelib's versioned files as they are now."""
    return {f: {"version": v, "fingerprint": fingerprint(REPO / "vaelib" / f)} for f, v in sorted(versions.items())}


def differences(versions: dict[str, int]) -> list[str]:
    """One line per file whose version or fingerprint differs from the recorded pair."""
    recorded = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    out = []
    for f, now in current(versions).items():
        was = recorded.get(f)
        if was is None:
            out.append(f"vaelib/{f}: no recorded fingerprint")
        elif was["fingerprint"] != now["fingerprint"] and was["version"] == now["version"]:
            out.append(f"vaelib/{f}: its code changed and its version (v{now['version']}) did not")
        elif was != now:
            out.append(f"vaelib/{f}: v{was['version']} recorded, v{now['version']} now, not yet recorded")
    return out


def main() -> int:
    sys.path.insert(0, str(REPO))
    from vaelib.cache import CODE_VERSIONS  # noqa: PLC0415

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--record", action="store_true", help="record every versioned file's version and fingerprint")
    args = p.parse_args()
    if args.record:
        RECORD.write_text(json.dumps(current(CODE_VERSIONS), indent=2) + "\n")
        print(f"recorded {len(CODE_VERSIONS)} files in {RECORD.relative_to(REPO)}")
        return 0
    lines = differences(CODE_VERSIONS)
    print("\n".join(lines) if lines else "every versioned file is as recorded")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())

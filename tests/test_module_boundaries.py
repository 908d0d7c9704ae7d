"""Module boundaries (issue 16): a name with a leading underscore is its module's own; no
other module of gplscan imports it (one that several modules need is made public)."""

from __future__ import annotations

import ast

from tests.helpers import REPO


def _private_imports() -> list[str]:
    found = []
    for path in sorted((REPO / "gplscan").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith(
                "gplscan"
            ):
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    where = path.relative_to(REPO)
                    found.append(f"{where}:{node.lineno}: {node.module}.{alias.name}")
    return found


def test_no_module_imports_another_modules_private_name() -> None:
    assert _private_imports() == []

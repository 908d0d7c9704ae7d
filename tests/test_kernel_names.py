"""gplscan.kernel_names is the one place the magic numbers of the files gplscan reads are
spelled: every other module takes them from there (issue 16)."""

from __future__ import annotations

import ast
from pathlib import Path

import gplscan
from gplscan import kernel_names

PACKAGE = Path(gplscan.__file__).parent
MAGICS = {
    value: name
    for name, value in vars(kernel_names).items()
    if name.endswith("_MAGIC") and isinstance(value, bytes)
}


def test_magic_numbers_are_spelled_only_in_kernel_names() -> None:
    assert MAGICS  # ELF, ar, thin ar, xz, zstd, gzip
    spelled = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "kernel_names.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value in MAGICS:
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                spelled.append(f"{where} spells {MAGICS[node.value]}")
    assert spelled == []

"""The cross-references gplscan's docstrings and comments make (``:class:`~gplscan.x.Y```,
``:mod:`gplscan.x```, ...) name what is there: a module split or a name moved to another
module updates the text that points at it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import gplscan

PACKAGE = Path(gplscan.__file__).parent
_REFERENCE = re.compile(r":(?:class|func|mod|data|meth|attr|exc):`~?(gplscan(?:\.\w+)*)`")


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` names a module, or an attribute reached from one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def test_docstring_references_resolve() -> None:
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        for m in _REFERENCE.finditer(text):
            if not _resolves(m.group(1)):
                line = text.count("\n", 0, m.start()) + 1
                broken.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {m.group(1)}")
    assert broken == []

"""Where gplscan's data lives: ``rules/`` and ``fixtures/`` in a checkout, or the copies a
wheel carries under ``gplscan/_data/``."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    """The data directory ``name`` (``rules`` or ``fixtures``), checkout first."""
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "_data" / name):
        if candidate.exists():
            return candidate
    return _PACKAGE / "_data" / name


def rules_dir() -> Path:
    return data_path("rules")

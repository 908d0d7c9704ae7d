"""Combining license expressions: the AND of the distinct terms several detections found."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any


def combine_and(expressions: Iterable[str]) -> str | None:
    """AND of the distinct terms of ``expressions`` in first-seen order, or None if none.

    AND terms are flattened, at any depth (``(A AND B) AND A`` is ``A AND B``), so that a
    term already present is not repeated;
    terms are compared after simplification (``A OR B`` equals ``B OR A``) but written as first
    seen. Ids license_expression does not know (``LicenseRef-scancode-*``) are kept as given.
    """
    terms: dict[str, Any] = {}
    for text in expressions:
        for key, part in _and_terms(text):
            terms.setdefault(key, part)
    if not terms:
        return None
    values = list(terms.values())
    return str(values[0] if len(values) == 1 else _licensing().AND(*values))


@functools.lru_cache(maxsize=4096)
def _and_terms(text: str) -> tuple[tuple[str, Any], ...]:
    """The AND terms of an expression (an AND in parentheses opened up), each with its
    simplified form as key."""
    licensing = _licensing()
    parsed = licensing.parse(text, validate=False)
    if parsed is None:
        return ()
    parts: list[Any] = []
    pending = [parsed]
    while pending:  # depth first, left to right: the terms in the order they are written
        part = pending.pop()
        if isinstance(part, licensing.AND):
            pending.extend(reversed(part.args))
        else:
            parts.append(part)
    return tuple((str(part.simplify()), part) for part in parts)


@functools.cache
def _licensing() -> Any:
    from license_expression import Licensing

    return Licensing()

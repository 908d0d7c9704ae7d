"""SPDX-License-Identifier tags: find them in any comment style and normalize them.

The kernel still uses SPDX's deprecated GNU ids (``GPL-2.0``, ``GPL-2.0+``); they are
mapped to ``-only``/``-or-later`` so that equal licenses compare equal. Exceptions
(``WITH Linux-syscall-note``) are kept.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

TAG = re.compile(r"SPDX-License-Identifier:[ \t]*(?P<expr>[^\n]*)")
# what closes the comment the tag sits in, in the comment styles sources use
_TRAILERS = re.compile(r"\s*(?:\*/|-->|\*\)|#\}|\]\]>?|\"\"\"|''')\s*$")
_GNU_ID = re.compile(r"^(?P<base>(?:A|L)?GPL|GFDL|LGPLLR)-(?P<ver>\d\.\d)(?P<plus>\+)?$")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-:]*\+?")
_OPERATORS = frozenset({"AND", "OR", "WITH", "and", "or", "with"})


class SpdxError(ValueError):
    """A tag whose expression does not parse; the message says why."""


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag as found: the normalized expression, the raw text and the offset of the tag."""

    expression: str
    raw: str
    offset: int


def _modernize(token: str) -> str:
    m = _GNU_ID.match(token)
    if m is None:
        return token
    suffix = "-or-later" if m.group("plus") else "-only"
    return f"{m.group('base')}-{m.group('ver')}{suffix}"


@functools.cache
def _licensing():  # type: ignore[no-untyped-def]
    from license_expression import Licensing

    return Licensing()


def normalize(raw: str) -> str:
    """Normalize an SPDX expression; raise :class:`SpdxError` when it does not parse."""
    from license_expression import ExpressionError

    text = raw.strip()
    if not text:
        raise SpdxError("empty SPDX-License-Identifier")
    modern = _ID.sub(
        lambda m: m.group(0) if m.group(0) in _OPERATORS else _modernize(m.group(0)), text
    )
    try:
        parsed = _licensing().parse(modern, validate=False, simple=False)
    except ExpressionError as exc:
        raise SpdxError(f"malformed SPDX expression {text!r}: {exc}") from exc
    except Exception as exc:  # license_expression raises plain errors on some garbage
        raise SpdxError(f"malformed SPDX expression {text!r}: {exc}") from exc
    if parsed is None:
        raise SpdxError(f"empty SPDX expression {text!r}")
    return str(parsed)


def find_tag(text: str) -> tuple[str, int] | None:
    """The raw expression of the first tag in ``text`` and the tag's offset."""
    m = TAG.search(text)
    if m is None:
        return None
    raw = _TRAILERS.sub("", m.group("expr")).strip()
    return raw, m.start()

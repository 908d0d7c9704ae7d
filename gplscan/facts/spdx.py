"""SPDX-License-Identifier tags: find them in any comment style and normalize them.

The kernel still uses SPDX's deprecated GNU ids (``GPL-2.0``, ``GPL-2.0+``); they are
mapped to ``-only``/``-or-later`` so that equal licenses compare equal. Exceptions
(``WITH Linux-syscall-note``) are kept.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

from gplscan.errors import SpdxError as SpdxError  # importers: gplscan.errors

TAG = re.compile(r"SPDX-License-Identifier:[ \t]*(?P<expr>[^\n]*)")
# what closes the comment the tag sits in, in the comment styles sources use
_TRAILERS = re.compile(r"\s*(?:\*/|-->|\*\)|#\}|\]\]>?|\"\"\"|''')\s*$")
_GNU_ID = re.compile(r"^(?P<base>(?:A|L)?GPL|GFDL|LGPLLR)-(?P<ver>\d\.\d)(?P<plus>\+)?$")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-:]*\+?")
_OPERATORS = frozenset({"AND", "OR", "WITH", "and", "or", "with"})


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
    for symbol in _licensing().license_symbols(parsed, decompose=True):
        key = str(symbol.key)
        if not is_known_id(key):
            raise SpdxError(f"{key!r} is not an SPDX license id{did_you_mean(key)}")
    return str(parsed)


@functools.cache
def _known_ids() -> dict[str, str]:
    """SPDX license and exception ids, by their lower-case spelling (ids are case-blind)."""
    from license_expression import get_spdx_licensing

    return {str(k).lower(): str(k) for k in get_spdx_licensing().known_symbols}


def is_known_id(token: str) -> bool:
    """An id of the SPDX license list (deprecated ones included), or a ``LicenseRef-``."""
    return token.lower() in _known_ids() or token.startswith(_REFS)


_REFS = ("LicenseRef-", "DocumentRef-")
# what people write for the GNU licenses: GPLv2, GPL2+, LGPLv2.1, AGPL3
_GNU_SHORTHAND = re.compile(
    r"(?i)(?P<base>[la]?gpl)[ -]?v?(?P<major>\d)(?:\.(?P<minor>\d))?(?P<plus>\+)?"
)


def did_you_mean(token: str) -> str:
    """``" (did you mean X?)"`` for an id that is not an SPDX one, or ``""``."""
    m = _GNU_SHORTHAND.fullmatch(token.strip())
    if m is not None:
        guess = _modernize(
            f"{m.group('base').upper()}-{m.group('major')}.{m.group('minor') or 0}"
            + ("+" if m.group("plus") else "")
        )
    else:
        close = difflib.get_close_matches(token.lower(), list(_known_ids()), n=1, cutoff=0.85)
        guess = _known_ids()[close[0]] if close else ""
    return f" (did you mean {guess}?)" if guess else ""


def find_tag(text: str) -> tuple[str, int] | None:
    """The raw expression of the first tag in ``text`` and the tag's offset."""
    m = TAG.search(text)
    if m is None:
        return None
    raw = _TRAILERS.sub("", m.group("expr")).strip()
    return raw, m.start()

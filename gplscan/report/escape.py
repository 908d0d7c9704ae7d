"""Strings from a scanned tree made safe to show in the HTML report: visible in text, and
unable to end a CSS string or an inline ``<script>`` block. Every such string is hostile
(:mod:`gplscan.report.html` applies these to every value it prints)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markupsafe import Markup

_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff\ufeff]"
)
_SCRIPT_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0:
        return "\\0"
    if 0xDC80 <= code <= 0xDCFF:  # a byte surrogateescape could not decode
        return f"\\x{code - 0xDC00:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with everything that would print invisibly, or not at all, made visible.

    NUL becomes ``\\0``, other control characters ``\\xNN``, bidi controls ``\\uNNNN``
    (they could reorder what a reader sees), undecodable bytes kept by surrogateescape
    ``\\xNN`` and other lone surrogates U+FFFD (they cannot be encoded as UTF-8 at all).
    """
    return _UNSAFE.sub(_escape_char, text) if _UNSAFE.search(text) else text


def script_json(data: Any) -> str:
    """``data`` as JSON that is safe inside ``<script type="application/json">``.

    ASCII only (NULs and lone surrogates become ``\\u`` escapes that JSON.parse and
    json.loads read back as they were), and no ``<``, ``>`` or ``&`` at all, so neither
    ``</script>`` nor ``<!--`` can appear in the block.
    """
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).translate(_SCRIPT_ESCAPES)


def css_string(text: str) -> Markup:
    """``text`` as a CSS string literal that cannot end the string, the rule or the
    ``<style>`` element: every character outside printable ASCII letters, digits and a
    few safe signs becomes a CSS escape."""
    from markupsafe import Markup

    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:-_/+()·")
    body = "".join(c if c in safe else f"\\{ord(c):x} " for c in visible(text))
    return Markup(f'"{body}"')

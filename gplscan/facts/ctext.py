"""Small, forgiving C lexing: comments out, literals decoded, line numbers kept.

Not a C parser: just enough to read declarations (MODULE_LICENSE, EXPORT_SYMBOL, function
definitions) from kernel-style source without being fooled by comments, strings or
preprocessor definitions of the very macros being read.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

_STRING_OR_COMMENT = re.compile(
    r'"(?:[^"\\\n]|\\.|\\\n)*"?'  # string literal (an unterminated one ends at the line)
    r"|'(?:[^'\\\n]|\\.)*'?"  # character literal
    r"|/\*.*?(?:\*/|\Z)"  # block comment (an unterminated one runs to the end)
    r"|//(?:[^\n\\]|\\.|\\\n)*",  # line comment, continued by a backslash-newline
    re.DOTALL,
)


def _blank(text: str) -> str:
    """Replace every character but newlines with spaces, so offsets and lines survive."""
    if "\n" not in text:
        return " " * len(text)
    return "\n".join(" " * len(part) for part in text.split("\n"))


def strip_comments(text: str, *, strings: bool = False) -> str:
    """Blank out comments (and, with ``strings=True``, string and char literal contents).

    The result has the same length and the same line structure as ``text``.
    """

    def repl(m: re.Match[str]) -> str:
        s = m.group(0)
        if s.startswith(("/*", "//")):
            return _blank(s)
        if strings and len(s) >= 2:
            return s[0] + _blank(s[1:-1]) + s[-1]
        return s

    return _STRING_OR_COMMENT.sub(repl, text)


_DIRECTIVE = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.MULTILINE)


def directives(text: str) -> Iterator[re.Match[str]]:
    """Preprocessor directives (logical lines, backslash continuations joined)."""
    return _DIRECTIVE.finditer(text)


def blank_directives(text: str) -> str:
    """Blank every preprocessor directive, so ``#define MODULE_LICENSE(x)`` is not a use."""
    return _DIRECTIVE.sub(lambda m: _blank(m.group(0)), text)


class LineIndex:
    """Offsets to 1-based line numbers: counted for the first few, then by bisection."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._calls = 0
        self._starts: list[int] | None = None

    def line(self, offset: int) -> int:
        if self._starts is None:
            self._calls += 1
            if self._calls <= 8:
                return self._text.count("\n", 0, offset) + 1
            self._starts = [0, *(m.end() for m in re.finditer("\n", self._text))]
        return bisect.bisect_right(self._starts, offset)


_ESCAPES = {
    "n": b"\n",
    "t": b"\t",
    "r": b"\r",
    "a": b"\a",
    "b": b"\b",
    "f": b"\f",
    "v": b"\v",
    "e": b"\x1b",
    "\\": b"\\",
    '"': b'"',
    "'": b"'",
    "?": b"?",
    "\n": b"",
}
_LITERAL = re.compile(r'(?:L|u8|u|U)?"((?:[^"\\\n]|\\.|\\\n)*)"', re.DOTALL)
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]+|[0-7]{1,3}|.)", re.DOTALL)


def decode_c_string(body: str) -> bytes:
    """Decode the body of a C string literal to the bytes the compiler emits.

    Octal and hex escapes become their byte (``\\0`` stays a NUL); other characters are
    encoded as UTF-8, undecodable source bytes as themselves (surrogateescape).
    """
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(body):
        out += body[pos : m.start()].encode("utf-8", "surrogateescape")
        esc = m.group(1)
        if esc[0] == "x":
            out.append(int(esc[1:], 16) & 0xFF)
        elif esc[0] in "01234567":
            out.append(int(esc, 8) & 0xFF)
        else:
            out += _ESCAPES.get(esc, esc.encode("utf-8", "surrogateescape"))
        pos = m.end()
    out += body[pos:].encode("utf-8", "surrogateescape")
    return bytes(out)


def string_literals_only(argument: str) -> bytes | None:
    """The bytes of an argument made only of adjacent string literals, else None."""
    pos = 0
    out = b""
    found = False
    for m in _LITERAL.finditer(argument):
        if argument[pos : m.start()].strip():
            return None
        out += decode_c_string(m.group(1))
        pos = m.end()
        found = True
    if not found or argument[pos:].strip():
        return None
    return out


def call_arguments(text: str, open_paren: int) -> tuple[str, int] | None:
    """The text between ``text[open_paren] == '('`` and its matching ``)``, and the end.

    String literals are skipped as units; returns None when the parenthesis never closes.
    """
    depth = 0
    i = open_paren
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"' or c == "'":
            m = _STRING_OR_COMMENT.match(text, i)
            i = m.end() if m else i + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return text[open_paren + 1 : i], i + 1
        i += 1
    return None


def split_arguments(args: str) -> list[str]:
    """Split a macro argument list at top-level commas (not inside literals or parens)."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(args):
        c = args[i]
        if c in "\"'":
            m = _STRING_OR_COMMENT.match(args, i)
            i = m.end() if m else i + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(args[start:i].strip())
            start = i + 1
        i += 1
    parts.append(args[start:].strip())
    return parts

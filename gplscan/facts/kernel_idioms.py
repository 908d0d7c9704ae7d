"""Kernel idioms in license text: ``EXPORT_SYMBOL*(...)`` and ``MODULE_LICENSE(...)`` calls,
and remarks about the kernel's GPL-only interfaces.

scancode reports these as license matches; gplscan reads them as facts of their own
(:mod:`gplscan.facts.source`). :mod:`~gplscan.facts.license_regions` blanks them out of the
text detection sees, and :class:`~gplscan.facts.licenses.Detector` sets aside the matches
that are still only an idiom or a remark.
"""

from __future__ import annotations

import re
from typing import Any

# Kernel idioms that scancode reports as license matches but that gplscan reads as facts of
# their own (facts/source.py): every ``EXPORT_SYMBOL_GPL(x);`` line is a GPL-2.0 match (rule
# ``gpl-2.0_kernel_export_symbol_gpl``) and ``MODULE_LICENSE("GPL")`` is a GPL-2.0-or-later
# one. They state which symbols are GPL-only and what a module declares, not under which
# license the file's text is; folding them into the file's expression would merge the
# MODULE_LICENSE fact into the file license, and would give a file with no license text a
# license. A match is set aside when every line of its matched text is one of these calls.
# The argument part is optional because scancode may report only the start of the call
# (``EXPORT_SYMBOL_GPL(``); a trailing comment on the same line belongs to the idiom.
KERNEL_IDIOMS: tuple[re.Pattern[str], ...] = (
    re.compile(r"EXPORT_(?:UNUSED_)?(?:GPL_)?SYMBOL\w*\s*(?:\([^;()]*(?:\)\s*;?)?)?"),
    re.compile(r'MODULE_LICENSE\s*(?:\(\s*(?:"[^"]*"?\s*(?:\)\s*;?)?)?)?'),
)
_TRAILING_COMMENT = re.compile(r"\s*(?://.*|/\*.*)?")
# a comment line that continues a trailing comment started on an idiom line
_COMMENT_LINE = re.compile(r"(?://|/\*|\*).*|.*\*/")
# The same idioms, as blanked out of a line before detection, with the trailing comment on
# that line (up to its end on the line); the call's arguments stop at the end of the line.
_IDIOM_IN_LINE = re.compile(
    r"(?:EXPORT_(?:UNUSED_)?(?:GPL_)?SYMBOL\w*\s*(?:\([^;()\n]*(?:\)\s*;?)?)?"
    r'|MODULE_LICENSE\s*(?:\(\s*(?:"[^"\n]*"?\s*(?:\)\s*;?)?)?)?)'
    r"(?:\s*(?://.*|/\*(?:.*?\*/|.*)))?"
)
_IDIOM_MARKERS = (b"EXPORT_", b"MODULE_LICENSE")


def has_idiom(raw: bytes) -> bool:
    """True when a line's bytes may hold an idiom call (a cheap test before the patterns)."""
    return any(marker in raw for marker in _IDIOM_MARKERS)


def blank_idioms(text: str) -> str:
    """``text`` with each idiom call (and its trailing comment) replaced by spaces."""
    return _IDIOM_IN_LINE.sub(lambda m: " " * len(m.group(0)), text)


def is_kernel_idiom(matched_text: str) -> bool:
    """True when ``matched_text`` is only EXPORT_SYMBOL*/MODULE_LICENSE calls (KERNEL_IDIOMS)."""
    lines = [line.strip() for line in matched_text.splitlines() if line.strip()]
    if not lines:
        return False
    seen_idiom = False
    for line in lines:
        if _is_idiom_line(line):
            seen_idiom = True
        elif not (seen_idiom and _COMMENT_LINE.fullmatch(line)):
            return False
    return seen_idiom


def is_kernel_idiom_match(match: Any) -> bool:
    """True when a scancode match is on a kernel idiom (see :data:`KERNEL_IDIOMS`)."""
    return _is_idiom_match(match, match.matched_text(whole_lines=False, highlight=False))


def _is_idiom_match(match: Any, matched_text: str) -> bool:
    """True for a match on a kernel idiom, including a fragment of one.

    scancode's tokenizer splits at ``_``, so ``EXPORT_SYMBOL_NS_GPL(x, "NS");`` yields a bare
    ``GPL(`` match: a match is also an idiom when every whole line it spans is an idiom call with
    nothing else on the line (no comment that could hold license words of its own).
    """
    if is_kernel_idiom(matched_text):
        return True
    whole = match.matched_text(whole_lines=True, highlight=False)
    lines = [line.strip() for line in whole.splitlines() if line.strip()]
    return bool(lines) and all(_is_idiom_line(line, comment=False) for line in lines)


def _is_idiom_line(line: str, comment: bool = True) -> bool:
    """True when ``line`` is one idiom call, followed by a comment if ``comment`` allows it."""
    for pattern in KERNEL_IDIOMS:
        m = pattern.match(line)
        if m is None:
            continue
        rest = line[m.end() :]
        if not rest.strip() or (comment and _TRAILING_COMMENT.fullmatch(rest)):
            return True
    return False


# A remark about the kernel's GPL-only interfaces, not a license statement: NVIDIA's
# proprietary nv.c says "to call GPL sme_active symbol" and "uses GPL licensed
# __get_task_ioprio()", which scancode matches as GPL-1.0-or-later (bare "GPL" rules).
_SYMBOL_REMARK = re.compile(r"symbol|export|\w\(\)|GPL[-_ ]only|_GPL\b", re.IGNORECASE)


def is_symbol_remark(match: Any, matched_text: str) -> bool:
    """A match of a few words on a line that speaks of symbols or exports."""
    if len(matched_text.split()) > 3:
        return False
    whole = match.matched_text(whole_lines=True, highlight=False)
    return len(whole.splitlines()) <= 2 and bool(_SYMBOL_REMARK.search(whole))

"""The license-bearing regions of a file (step 1 of license detection; no scancode).

A keyword prefilter over the bytes (:data:`LICENSE_WORDS`), then the regions around the
hits: the comment block or paragraph of each hit, merged when close. Kernel idioms
(:mod:`~gplscan.facts.kernel_idioms`) are blanked out first; gplscan reads them as facts of
their own. Line numbers are the ones scancode gives for the file. Cheap enough for every
file of a tree.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gplscan.facts.kernel_idioms import blank_idioms, has_idiom

# The prefilter: a file is handed to scancode only if its lowercased bytes contain one of
# these outside kernel idioms. Measured on linux-source-6.1: of the 7,068 untagged files the
# list skips, scancode (whole file, approximate) finds a license in 9, none of them a license
# statement: 6 documents about EXPORT_SYMBOL_GPL (matched as idioms there), 2 zlib source
# comments scancode has as zlib rules and "CPL" (CPU privilege level) in a CSV taken for
# CPL-1.0. (bench/license_agreement.py measures the misses on its sample.)
LICENSE_WORDS: tuple[str, ...] = (
    "licen",  # license, licence, licensed, licensing, sublicense, unlicense
    "copyright",
    "copyleft",
    "gpl",  # GPL, LGPL, AGPL, GPLv2
    "warrant",
    "redistribut",
    "hereby granted",
    "permission to use",
    "public domain",
    "spdx",
    "free software",
    "apache",
    "mozilla",
    "artistic",
    "creative commons",
    "proprietary",
    "patent",
    "all rights reserved",
    "derivative work",  # SoftFloat's license (arch/arm/nwfpe) names none of the above
    "freely",  # "freely usable/distributable as long as ..."
    "held responsible",  # warranty disclaimers without "warranty"
)

# Region shape: a hit's region reaches at most this many lines up or down from the hit (it
# stops earlier at a blank line or at the start/end of the C comment the hit is in), and two
# regions at most MERGE_GAP lines apart become one with the lines between them.
MAX_REACH = 20
MERGE_GAP = 10
# A hit inside a multi-line C comment takes the whole comment, blank lines included, when its
# ends are at most this many lines away.
COMMENT_REACH = 60

# Text sniffing: NUL bytes mean binary; text that is not UTF-8 (old Latin-1 sources) is still
# text unless control characters are frequent. Random bytes have ≈10% of them.
_SNIFF_BYTES = 64 * 1024
_CONTROL_BYTES = frozenset(range(0x20)) - frozenset(b"\t\n\v\f\r\x1b")
_MAX_CONTROL_SHARE = 0.02


@dataclass(frozen=True, slots=True)
class Region:
    """Lines ``start_line``..``end_line`` (1-based, inclusive) of a file, as detection sees them.

    ``text`` has one line per file line (``end_line - start_line + 1`` lines joined with
    ``\\n``), each with its whitespace runs collapsed to one space and the kernel idioms
    blanked out. Whitespace never changes scancode's tokens, so regions with equal texts have
    equal matches.
    """

    start_line: int
    end_line: int
    text: str


def license_regions(data: bytes) -> tuple[Region, ...]:
    """The license-bearing regions of a file's bytes, in file order.

    Empty when the bytes contain none of :data:`LICENSE_WORDS` outside kernel idioms, and for
    binary content. Lines are split as scancode splits a file (at ``\\n``, ``\\r\\n`` and
    ``\\r``; a form feed is not a line break) and decoded line by line (UTF-8, else Latin-1).
    """
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lowered = data.lower()
    starts = _keyword_starts(lowered)
    if not starts or not _is_text(data):
        return ()
    lines = data.split(b"\n")
    hit_lines = _hit_lines(starts, lowered, lines)
    return tuple(
        Region(start_line=lo + 1, end_line=hi + 1, text=_region_text(lines[lo : hi + 1]))
        for lo, hi in _spans(hit_lines, lines)
    )


def _hit_lines(starts: Sequence[int], lowered: bytes, lines: Sequence[bytes]) -> list[int]:
    """Indexes of the lines with a keyword hit outside the kernel idioms, ascending."""
    found: list[int] = []
    line = previous = 0
    seen = -1
    for start in starts:
        line += lowered.count(b"\n", previous, start)
        previous = start
        if line == seen:
            continue
        seen = line
        raw = lines[line]
        if has_idiom(raw) and not _keyword_starts(blank_idioms(_decode(raw)).lower().encode()):
            continue
        found.append(line)
    return found


def _spans(hit_lines: Sequence[int], lines: Sequence[bytes]) -> list[tuple[int, int]]:
    """(first, last) line indexes of the regions around ``hit_lines``."""
    spans: list[list[int]] = []
    for hit in hit_lines:
        if spans and hit <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], _reach_down(hit, lines))
            continue
        block = _block_comment(hit, lines)
        lo, hi = block or (_reach_up(hit, lines), _reach_down(hit, lines))
        if spans and lo - spans[-1][1] <= MERGE_GAP:
            spans[-1][1] = max(spans[-1][1], hi)
        else:
            spans.append([lo, hi])
    return [(lo, hi) for lo, hi in spans]


def _block_comment(hit: int, lines: Sequence[bytes]) -> tuple[int, int] | None:
    """(first, last) line of the multi-line ``/* ... */`` comment the hit line is in.

    None when the hit is not inside one, or its ends are more than COMMENT_REACH lines away.
    Blank lines inside the comment do not end it: old notices (SoftFloat's in arch/arm/nwfpe)
    separate their paragraphs with blank lines, and only some paragraphs name a keyword.
    """
    first = None
    for i in range(hit, max(hit - COMMENT_REACH, 0) - 1, -1):
        line = lines[i]
        opens, closes = line.rfind(b"/*"), line.rfind(b"*/")
        if opens > closes:
            first = i
            break
        if closes >= 0 and i != hit:  # a comment ends above the hit: it is not in one
            return None
    if first is None:
        return None
    for j in range(hit, min(hit + COMMENT_REACH, len(lines) - 1) + 1):
        line = lines[j]
        if b"*/" in (line[line.rfind(b"/*") + 2 :] if j == first else line):
            return (first, j) if j > first else None
    return None


def _one_line_comment(line: bytes) -> bool:
    """A whole line that is one ``/* ... */`` comment (a row of a boxed comment)."""
    text = line.strip()
    return text.startswith(b"/*") and text.endswith(b"*/")


def _reach_up(hit: int, lines: Sequence[bytes]) -> int:
    """First line of a hit's region: up to a blank line or the start of its C comment.

    A boxed comment (one ``/* ... */`` per line) is one region, however many rows it has.
    """
    lo = hit
    if _one_line_comment(lines[hit]):
        while lo > 0 and hit - lo < MAX_REACH and _one_line_comment(lines[lo - 1]):
            lo -= 1
        return lo
    if b"/*" in lines[hit]:
        return lo
    while lo > 0 and hit - lo < MAX_REACH:
        above = lines[lo - 1]
        if not above.strip() or b"*/" in above:
            break
        lo -= 1
        if b"/*" in above:
            break
    return lo


def _reach_down(hit: int, lines: Sequence[bytes]) -> int:
    """Last line of a hit's region: down to a blank line or the end of its C comment."""
    hi = hit
    if _one_line_comment(lines[hit]):
        while hi + 1 < len(lines) and hi - hit < MAX_REACH and _one_line_comment(lines[hi + 1]):
            hi += 1
        return hi
    if b"*/" in lines[hit]:
        return hi
    while hi + 1 < len(lines) and hi - hit < MAX_REACH:
        below = lines[hi + 1]
        if not below.strip() or (b"/*" in below and b"*/" not in below.split(b"/*")[0]):
            break
        hi += 1
        if b"*/" in below:
            break
    return hi


def _region_text(lines: Sequence[bytes]) -> str:
    texts = []
    for raw in lines:
        text = _decode(raw)
        if has_idiom(raw):
            text = blank_idioms(text)
        texts.append(" ".join(text.split()))
    return "\n".join(texts)


def _decode(raw: bytes) -> str:
    """One line as scancode decodes it: UTF-8, else Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _keyword_starts(lowered: bytes) -> list[int]:
    """Offsets of the :data:`LICENSE_WORDS` hits in lowercased bytes, ascending."""
    automaton = _keyword_automaton()
    if automaton is None:
        return [m.start() for m in _keyword_pattern().finditer(lowered)]
    # Latin-1 maps each byte to one character, so offsets are byte offsets
    return sorted(end - length + 1 for end, length in automaton.iter(lowered.decode("latin-1")))


@functools.cache
def _keyword_automaton() -> Any:
    """A pyahocorasick automaton of :data:`LICENSE_WORDS`, or None without pyahocorasick.

    pyahocorasick comes with scancode-toolkit (its exact matcher); it scans for all the words
    in one pass, ≈2x faster than the equivalent regular expression.
    """
    try:
        import ahocorasick  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    automaton = ahocorasick.Automaton()
    for word in LICENSE_WORDS:
        automaton.add_word(word, len(word))
    automaton.make_automaton()
    return automaton


@functools.cache
def _keyword_pattern() -> re.Pattern[bytes]:
    return re.compile(b"|".join(re.escape(word.encode()) for word in LICENSE_WORDS))


def _is_text(data: bytes) -> bool:
    """False for binary or undecodable content, which is not scanned."""
    head = data[:_SNIFF_BYTES]
    if b"\0" in head:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        controls = sum(1 for byte in head if byte in _CONTROL_BYTES)
        return controls <= _MAX_CONTROL_SHARE * len(head)
    return True

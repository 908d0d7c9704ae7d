"""Full license detection for files without an SPDX tag: the one place scancode-toolkit lives.

gplscan reads ``SPDX-License-Identifier`` tags itself; this adapter runs scancode's license
matcher on the files that carry none and returns plain, frozen data with SPDX expressions.

Running scancode on whole kernel files costs about half a CPU second per file (≈2 h for the
≈15,900 untagged files of a kernel tree), almost all of it in the approximate matcher. The
fast path here does the same detection on far less text, in three steps:

1. :func:`license_regions` (no scancode, cheap enough for every file of a tree): a keyword
   prefilter over the bytes (:data:`LICENSE_WORDS`), then the license-bearing regions around
   the hits: the comment block or paragraph of each hit, merged when close. Kernel idioms
   (``EXPORT_SYMBOL*(...)``, ``MODULE_LICENSE(...)``) are blanked out first; gplscan reads them
   as facts of their own. Line numbers are the ones scancode gives for the file.
2. :class:`Detector` matches each distinct region once (regions are keyed by their
   normalized text, so the license header repeated over hundreds of files is matched once)
   with scancode's exact matchers (hash, SPDX-id, Aho-Corasick). Only a region where those
   leave many legalese tokens unmatched (:data:`APPROXIMATE_THRESHOLD`), or find pieces of
   different licenses side by side, also goes through scancode's approximate matcher, as
   scancode itself would: a variant of a known text.
   That matcher is narrowed to the rules that can pass its first candidate test
   (:class:`_Candidates`), which finds the same matches ≈1.5x faster.
3. The matches of all regions of a file, at their lines in the file, go through scancode's
   own detection post-processing (grouping, detection analysis, false-positive and clue
   handling), as in ``licensedcode.detection.detect_licenses``.

scancode is imported only when a file has license-like text. Its license index is loaded
once per process (≈4-5 s, ≈1.4 GB RSS) and then reused. Matching always runs without a
deadline: scancode treats a deadline as "stop and return what was found so far", which
silently drops licenses instead of failing.
"""

from __future__ import annotations

import copy
import functools
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gplscan.errors import GplscanError

if TYPE_CHECKING:
    from gplscan.facts.notices import NoticeTable

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

# A region goes through scancode's approximate matcher when its exact matches leave at least
# APPROXIMATE_THRESHOLD legalese tokens unmatched, or APPROXIMATE_THRESHOLD_NO_MATCH when the
# exact matchers found nothing at all in it. (scancode itself goes on with approximate
# matching when any are left; a few are nearly always a "Copyright", an author's words or
# prose about licenses, while a variant of a known notice leaves many next to partial exact
# matches.) Measured on the 4,836 distinct regions of linux-source-6.1's untagged files
# (bench/license_agreement.py): approximate matching on all 2,520 with any left over costs
# ≈8 min; with 8/20, 313 regions go through it (≈40 s) and 71 files (0.45% of the untagged
# files) get an expression that differs from approximate matching on every region.
APPROXIMATE_THRESHOLD = 8
APPROXIMATE_THRESHOLD_NO_MATCH = 20

# LicenseMatch.matched_text arguments of the plain text (no highlighting), as a memo key
_PLAIN_TEXT = (False, False, "{}", "[{}]")

# scancode's query line threshold for text files (build_query), kept for region queries
_TEXT_LINE_THRESHOLD = 15

# Text sniffing: NUL bytes mean binary; text that is not UTF-8 (old Latin-1 sources) is still
# text unless control characters are frequent. Random bytes have ≈10% of them.
_SNIFF_BYTES = 64 * 1024
_CONTROL_BYTES = frozenset(range(0x20)) - frozenset(b"\t\n\v\f\r\x1b")
_MAX_CONTROL_SHARE = 0.02

_INSTALL_HINT = "pip install 'scancode-toolkit>=32.3' 'pluggy<1.7'"


@dataclass(frozen=True, slots=True)
class LicenseMatch:
    """One stretch of license text scancode recognized, with its SPDX expression.

    ``matched_text`` is the text as detection saw it: the region's lines with whitespace runs
    collapsed and kernel idioms blanked (see :class:`Region`).
    """

    expression: str
    start_line: int
    end_line: int
    rule: str
    score: float
    matched_text: str | None


@dataclass(frozen=True, slots=True)
class LicenseDetection:
    """All license text found in one file; ``expression`` is None when there is none."""

    expression: str | None
    matches: tuple[LicenseMatch, ...]


EMPTY = LicenseDetection(expression=None, matches=())


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


class LicenseDetectionUnavailable(GplscanError):
    """scancode-toolkit cannot be imported or its license index cannot be loaded.

    The message says why and how to fix it. Nothing per file: the whole license stage is off.
    """


@dataclass(frozen=True, slots=True)
class _Engine:
    """scancode's loaded license index and the functions gplscan calls on it."""

    index: Any
    licensing: Any
    query: Any
    group_matches: Any
    detection_from_matches: Any
    process_detections: Any
    build_spdx: Any
    copy_match: Any
    is_source: Any


# -- regions (no scancode) -------------------------------------------------------------------


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
        if _has_idiom(raw) and not _keyword_starts(_blank_idioms(_decode(raw)).lower().encode()):
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
        if _has_idiom(raw):
            text = _blank_idioms(text)
        texts.append(" ".join(text.split()))
    return "\n".join(texts)


def _decode(raw: bytes) -> str:
    """One line as scancode decodes it: UTF-8, else Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _has_idiom(raw: bytes) -> bool:
    return any(marker in raw for marker in _IDIOM_MARKERS)


def _blank_idioms(text: str) -> str:
    return _IDIOM_IN_LINE.sub(lambda m: " " * len(m.group(0)), text)


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


# -- detection (scancode) --------------------------------------------------------------------


class Detector:
    """scancode license detection on regions, with a cache of region texts already matched.

    Use one per process: scancode's index is loaded (once per process) on the first call that
    has a region to match, never for license-free input. ``matcher_calls`` counts the region
    texts handed to scancode's matcher (cache misses), ``approximate_calls`` those of them
    that also went through its approximate matcher, ``cache_hits`` the regions answered from
    the cache. The cache keeps scancode's matches with their queries, ≈14 KB per distinct
    region (the 4,836 of a kernel tree's untagged files: ≈70 MB); past ``cache_size``
    entries the oldest are dropped. Not thread-safe (nor is scancode's matcher).
    """

    def __init__(
        self,
        *,
        approximate_threshold: int = APPROXIMATE_THRESHOLD,
        approximate_threshold_no_match: int = APPROXIMATE_THRESHOLD_NO_MATCH,
        cache_size: int = 10_000,
        notices: bool = True,
    ) -> None:
        self.use_notices = notices
        self.notice_hits = 0
        self.approximate_threshold = approximate_threshold
        self.approximate_threshold_no_match = approximate_threshold_no_match
        self.cache_size = cache_size
        self.matcher_calls = 0
        self.approximate_calls = 0
        self.cache_hits = 0
        self._cache: dict[str, tuple[Any, ...]] = {}
        self._engine: _Engine | None = None
        self._candidate_rules: _Candidates | None = None

    @property
    def index_loaded(self) -> bool:
        """True once this detector has used scancode's license index."""
        return self._engine is not None

    def load_index(self) -> None:
        """Load scancode's index now (e.g. in a parent process, before forking workers).

        Raises :class:`LicenseDetectionUnavailable` when scancode cannot run.
        """
        if self._engine is None:
            self._engine = _engine()

    def detect_file(self, path: Path) -> LicenseDetection:
        """Detect the licenses of the file at ``path`` (read, regions, :meth:`detect_text`).

        Binary and license-free files yield an empty detection without loading scancode.
        Raises OSError when the file cannot be read.
        """
        return self.detect_text(license_regions(path.read_bytes()), name=path.name)

    def detect_text(self, regions: Sequence[Region], *, name: str = "") -> LicenseDetection:
        """Detect the licenses in the ``regions`` of one file, as :func:`license_regions` made them.

        ``name`` is the file's name: scancode blanks the literal escapes ``\\n``, ``\\r``,
        ``\\t`` in source files (by extension), and so does this for the same names.
        """
        if not regions:
            return EMPTY
        if self.use_notices:
            known = known_notices(regions)
            if known is not None:
                self.notice_hits += 1
                return known
        self.load_index()
        engine = self._engine
        assert engine is not None
        decrlf = bool(name) and bool(engine.is_source(name))
        raw: list[Any] = []
        for region in regions:
            text = _decrlf(region.text) if decrlf else region.text
            raw.extend(_relocated(engine, self._region_matches(engine, text), region.start_line))
        if not raw:
            return EMPTY
        texts = {id(m): m.matched_text(whole_lines=False, highlight=False) for m in raw}
        # Idiom calls are blanked out of the regions, so a match cannot span only idiom lines
        # (what _is_idiom_match also checks); its own text may still be an idiom variant.
        kept = [
            m
            for m in raw
            if not is_kernel_idiom(texts[id(m)]) and not _symbol_remark(m, texts[id(m)])
        ]
        expressions: list[str] = []
        matches: list[LicenseMatch] = []
        for detection in _detections(engine, kept):
            expressions.append(spdx_expression(detection.license_expression))
            matches.extend(
                LicenseMatch(
                    expression=spdx_expression(m.rule.license_expression),
                    start_line=int(m.start_line),
                    end_line=int(m.end_line),
                    rule=str(m.rule.identifier),
                    score=float(m.score()),
                    matched_text=texts.get(id(m)) or None,
                )
                for m in _expression_matches(engine, detection)
            )
        return LicenseDetection(expression=combine_and(expressions), matches=tuple(matches))

    def _region_matches(self, engine: _Engine, text: str) -> tuple[Any, ...]:
        """scancode's matches in a region text, with lines counted from 1 (cached)."""
        cached = self._cache.get(text)
        if cached is not None:
            self.cache_hits += 1
            return cached
        self.matcher_calls += 1
        query = engine.query(
            query_string=text, idx=engine.index, line_threshold=_TEXT_LINE_THRESHOLD
        )
        matches = engine.index.match_query(query, approximate=False)
        threshold = self.approximate_threshold if matches else self.approximate_threshold_no_match
        left = self._left_unmatched(query, matches) if query.tokens else 0
        if left >= threshold or (left and _pieced(matches)):
            self.approximate_calls += 1
            query = engine.query(
                query_string=text, idx=engine.index, line_threshold=_TEXT_LINE_THRESHOLD
            )
            matches = self._candidates(engine).index_for(query).match_query(query, approximate=True)
        result = tuple(engine.copy_match(m, texts={}) for m in matches)
        for m in result:
            # the form scancode's post-processing asks for; unmatched words are in [brackets]
            highlighted = m.matched_text()
            if "[" not in text and "]" not in text:
                m.texts[_PLAIN_TEXT] = highlighted.replace("[", "").replace("]", "")
        if len(self._cache) >= self.cache_size:
            del self._cache[next(iter(self._cache))]
        self._cache[text] = result
        return result

    def _candidates(self, engine: _Engine) -> _Candidates:
        if self._candidate_rules is None:
            self._candidate_rules = _Candidates(engine.index)
        return self._candidate_rules

    @staticmethod
    def _left_unmatched(query: Any, matches: Sequence[Any]) -> int:
        """Legalese tokens left unmatched, as scancode counts them before approximate matching."""
        left = query.whole_query_run().is_matchable(
            include_low=False, qspans=[m.qspan for m in matches if m.coverage() == 100]
        )
        return len(left) if left else 0


class _Candidates:
    """Narrows scancode's approximate matching to the rules that can pass its first step.

    Approximate matching costs ≈0.2 s per region, nearly all of it in
    ``match_set.compute_candidates``, which compares the query's token set with every
    approximately matchable rule (≈30,000) and drops a rule unless the intersection holds at
    least ``rule.get_min_high_matched_length(unique=True)`` legalese tokens. The rules that
    cannot reach that count are found here with bitset algebra over an inverted index
    (legalese token -> rules) and left out of ``approx_matchable_rids`` in a shallow copy of
    the index: scancode then ranks and matches exactly the same candidates, ≈1.5x faster.
    """

    LEVELS = 16  # counts are exact up to this many shared legalese tokens, capped above

    def __init__(self, index: Any) -> None:
        from intbitset import intbitset  # type: ignore[import-not-found,unused-ignore]

        self._index = index
        self._intbitset = intbitset
        legalese = index.len_legalese
        rules_by_token: dict[int, list[int]] = {}
        by_minimum: dict[int, list[int]] = {}
        for rid in index.approx_matchable_rids:
            for tid in index.sets_by_rid[rid]:  # ascending: legalese ids come first
                if tid >= legalese:
                    break
                rules_by_token.setdefault(tid, []).append(rid)
            needed = index.rules_by_rid[rid].get_min_high_matched_length(True)
            by_minimum.setdefault(min(needed, self.LEVELS), []).append(rid)
        self._rules_by_token = {tid: intbitset(rids) for tid, rids in rules_by_token.items()}
        self._by_minimum = {needed: intbitset(rids) for needed, rids in by_minimum.items()}

    def index_for(self, query: Any) -> Any:
        """A shallow copy of the index whose approximate rules are narrowed for ``query``."""
        legalese = self._index.len_legalese
        # at_least[k]: rules sharing at least k distinct legalese tokens with the query
        at_least = [self._intbitset() for _ in range(self.LEVELS + 1)]
        for tid in {tid for tid in query.tokens if tid < legalese}:
            rules = self._rules_by_token.get(tid)
            if rules is None:
                continue
            for k in range(self.LEVELS, 1, -1):
                at_least[k] |= at_least[k - 1] & rules
            at_least[1] |= rules
        keep = self._intbitset()
        for needed, rules in self._by_minimum.items():
            keep |= rules & at_least[max(needed, 1)]
        view = copy.copy(self._index)
        view.approx_matchable_rids = set(keep)
        return view


def known_notices(
    regions: Sequence[Region], table: NoticeTable | None = None
) -> LicenseDetection | None:
    """The detection of regions that known notices explain entirely (no index), else None.

    ``table`` defaults to ``rules/notices.yml`` (:mod:`gplscan.facts.notices`).
    """
    if table is None:
        from gplscan.facts.notices import load_table

        table = load_table()
    if not table.size:
        return None
    matches: list[LicenseMatch] = []
    for region in regions:
        found = table.explain(region.start_line, region.text)
        if found is None:
            return None
        lines = region.text.split("\n")
        for m in found:
            text = "\n".join(
                lines[m.start_line - region.start_line : m.end_line - region.start_line + 1]
            )
            matches.append(
                LicenseMatch(
                    expression=m.notice.expression,
                    start_line=m.start_line,
                    end_line=m.end_line,
                    rule=m.notice.rule,
                    score=100.0,
                    matched_text=text.strip(),
                )
            )
    return LicenseDetection(
        expression=combine_and(m.expression for m in matches), matches=tuple(matches)
    )


def _pieced(matches: Sequence[Any]) -> bool:
    """True when two exact matches of different licenses overlap or touch.

    They are often pieces of one longer notice that only approximate matching recognizes
    whole: "licensed under the GNU LGPL 2.1" is exactly "licensed under the GNU LGPL"
    (LGPL-2.0-or-later) plus "GNU LGPL 2.1" (LGPL-2.1-only), approximately one LGPL-2.1-only
    rule; dual-license notices split into their GPL and BSD/MIT halves likewise. Such a
    region goes through approximate matching when any legalese token is left unmatched, as
    scancode would send it. On the untagged files of linux-source-6.1 that is 17 more distinct
    regions (≈2 s), and 43 files get the expression scancode gives them.
    """
    ordered = sorted(matches, key=lambda m: m.qspan.start)
    return any(
        b.qspan.start <= a.qspan.end + 1 and a.rule.license_expression != b.rule.license_expression
        for a, b in itertools.pairwise(ordered)
    )


def _relocated(engine: _Engine, matches: Sequence[Any], start_line: int) -> Iterator[Any]:
    """Copies of a region's matches at their lines in the file (region starts at start_line).

    The copies share a copy of the region's query that starts at ``start_line``, so that
    scancode's matched-text and line-based checks see file lines, and they share their matched
    texts with the region's cached match (a text does not depend on where the region is).
    """
    if not matches:
        return
    shift = start_line - 1
    query = copy.copy(matches[0].query)
    query.start_line = start_line
    for m in matches:
        yield engine.copy_match(
            m,
            texts=m.texts,
            start_line=m.start_line + shift,
            end_line=m.end_line + shift,
            query=query,
        )


def _decrlf(text: str) -> str:
    return text.replace("\\r", " ").replace("\\n", " ").replace("\\t", " ")


def detect_licenses(path: Path) -> LicenseDetection:
    """Run scancode's license detection on the file at ``path`` (see :class:`Detector`).

    Uses one detector per process. Binary, undecodable and license-free files yield an empty
    detection. Raises OSError when the file cannot be read, and
    :class:`LicenseDetectionUnavailable` when scancode cannot run at all.
    """
    return _default_detector().detect_file(path)


@functools.cache
def _default_detector() -> Detector:
    return Detector()


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


def _symbol_remark(match: Any, matched_text: str) -> bool:
    """A match of a few words on a line that speaks of symbols or exports."""
    if len(matched_text.split()) > 3:
        return False
    whole = match.matched_text(whole_lines=True, highlight=False)
    return len(whole.splitlines()) <= 2 and bool(_SYMBOL_REMARK.search(whole))


def combine_and(expressions: Iterable[str]) -> str | None:
    """AND of the distinct terms of ``expressions`` in first-seen order, or None if none.

    Top-level AND terms are flattened so that a term already present is not repeated;
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
    """The top-level AND terms of an expression, each with its simplified form as key."""
    licensing = _licensing()
    parsed = licensing.parse(text, validate=False)
    if parsed is None:
        return ()
    parts = parsed.args if isinstance(parsed, licensing.AND) else (parsed,)
    return tuple((str(part.simplify()), part) for part in parts)


def _detections(engine: _Engine, matches: Sequence[Any]) -> Iterator[Any]:
    """scancode's license detections (with an expression) for a file's matches, in file order.

    This is what ``licensedcode.detection.detect_licenses`` does after matching, run on the
    matches left once the kernel idioms are set aside, so that the idioms cannot sway how
    neighbouring matches are grouped and judged. Detections scancode calls clues or false
    positives (no expression) are left out, as scancode leaves them out of a file's
    ``detected_license_expression``.
    """
    if not matches:
        return
    detections = [
        d
        for group in engine.group_matches(license_matches=list(matches))
        if (d := engine.detection_from_matches(matches=group)) is not None
    ]
    for detection in engine.process_detections(detections=detections, licensing=engine.licensing):
        if detection.license_expression is not None:
            yield detection


def _expression_matches(engine: _Engine, detection: Any) -> Iterator[Any]:
    """The matches of a detection that contribute to its expression.

    Left out: matches whose licenses are not in the detection's expression, such as license
    introductions ("Licensed under:") that scancode folds into the match that follows.
    """
    keys = set(engine.licensing.license_keys(detection.license_expression))
    for m in detection.matches:
        if set(engine.licensing.license_keys(m.rule.license_expression)) <= keys:
            yield m


@functools.cache
def spdx_expression(scancode_expression: str) -> str:
    """scancode's expression (its own license keys) with SPDX ids, normalized as gplscan does.

    gplscan's normalization (:func:`gplscan.facts.spdx.normalize`) maps deprecated GNU ids to
    ``-only``/``-or-later``, so that these compare with the expressions of SPDX tags.
    """
    from gplscan.facts.spdx import SpdxError, normalize

    engine = _engine()
    spdx = str(engine.build_spdx(scancode_expression, licensing=engine.licensing))
    try:
        return normalize(spdx)
    except SpdxError:
        return spdx


@functools.cache
def _licensing() -> Any:
    from license_expression import Licensing

    return Licensing()


def _engine() -> _Engine:
    loaded = _load_engine()
    if isinstance(loaded, str):
        raise LicenseDetectionUnavailable(loaded)
    return loaded


@functools.cache
def _load_engine() -> _Engine | str:
    """Import scancode and load its license index, once per process.

    A failure is cached too, as the message to raise: retrying would pay the import or the
    index load again for every file.
    """
    try:
        import attr
        from licensedcode import cache, detection, match, query
        from textcode import analysis  # type: ignore[import-untyped]
    except Exception as exc:  # pluggy 1.7 makes plugincode raise ValueError on import
        return _import_failure(exc)
    try:
        index = cache.get_index()
        licensing = cache.get_licensing()
    except Exception as exc:  # a corrupt or unreadable index pickle raises plain Exception
        return (
            f"scancode-toolkit's license index could not be loaded: {exc}. Reinstall it "
            f"({_INSTALL_HINT}) or rebuild the index with `scancode-reindex-licenses`."
        )
    return _Engine(
        index=index,
        licensing=licensing,
        query=query.Query,
        group_matches=detection.group_matches,
        detection_from_matches=detection.LicenseDetection.from_matches,
        process_detections=detection.process_detections,
        build_spdx=cache.build_spdx_license_expression,
        copy_match=_match_copier(attr, match.LicenseMatch),
        is_source=analysis.is_source,
    )


def _match_copier(attr: Any, base: Any) -> Any:
    """A function copying a scancode LicenseMatch into one that remembers its matched texts.

    scancode's matched_text re-tokenizes the whole query text on every call (≈1 ms for a
    region) and the detection post-processing calls it for every match (false-positive check,
    detection identifier), as gplscan does (idiom check, reported text): on a kernel tree that
    was ≈35 of ≈55 CPU seconds. The copies share one dict of texts per region match.
    """
    names = [a.name for a in attr.fields(base) if a.init]

    class RememberingMatch(base):  # type: ignore[misc]
        __slots__ = ("texts",)

        def matched_text(
            self,
            whole_lines: bool = False,
            highlight: bool = True,
            highlight_matched: str = "{}",
            highlight_not_matched: str = "[{}]",
            _usecache: bool = True,
        ) -> str:
            texts: dict[tuple[bool, bool, str, str], str] | None = getattr(self, "texts", None)
            key = (whole_lines, highlight, highlight_matched, highlight_not_matched)
            if texts is not None and key in texts:
                return texts[key]
            text: str = super().matched_text(
                whole_lines, highlight, highlight_matched, highlight_not_matched, _usecache
            )
            if texts is not None:
                texts[key] = text
            return text

    def copy_match(
        match: Any, texts: dict[tuple[bool, bool, str, str], str], **changes: Any
    ) -> Any:
        copied = RememberingMatch(
            **{name: changes.get(name, getattr(match, name)) for name in names}
        )
        copied.texts = texts
        return copied

    return copy_match


def _import_failure(exc: Exception) -> str:
    from importlib import metadata

    reason = f"scancode-toolkit cannot be imported ({type(exc).__name__}: {exc})"
    try:
        pluggy = metadata.version("pluggy")
    except metadata.PackageNotFoundError:
        pluggy = ""
    m = re.match(r"(\d+)\.(\d+)", pluggy)
    if m is not None and (int(m.group(1)), int(m.group(2))) >= (1, 7):
        return f"{reason}: pluggy {pluggy} is installed, scancode needs pluggy<1.7: {_INSTALL_HINT}"
    return f"{reason}. Install it with: {_INSTALL_HINT}"

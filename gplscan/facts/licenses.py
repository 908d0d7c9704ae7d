"""Full license detection for files without an SPDX tag, with scancode-toolkit.

gplscan reads ``SPDX-License-Identifier`` tags itself; :class:`Detector` runs scancode's
license matcher on the files that carry none and returns plain, frozen data with SPDX
expressions. scancode itself is reached only through :mod:`~gplscan.facts.scancode_adapter`.

Running scancode on whole kernel files costs about half a CPU second per file (≈2 h for the
≈15,900 untagged files of a kernel tree), almost all of it in the approximate matcher. The
fast path here does the same detection on far less text, in three steps:

1. :func:`~gplscan.facts.license_regions.license_regions` (no scancode, cheap enough for
   every file of a tree): a keyword prefilter over the bytes
   (:data:`~gplscan.facts.license_regions.LICENSE_WORDS`), then the license-bearing regions around
   the hits: the comment block or paragraph of each hit, merged when close. Kernel idioms
   (``EXPORT_SYMBOL*(...)``, ``MODULE_LICENSE(...)``) are blanked out first; gplscan reads them
   as facts of their own (:mod:`~gplscan.facts.kernel_idioms`). Line numbers are the ones
   scancode gives for the file.
2. :class:`Detector` matches each distinct region once (regions are keyed by their
   normalized text, so the license header repeated over hundreds of files is matched once)
   with scancode's exact matchers (hash, SPDX-id, Aho-Corasick). Only a region where those
   leave many legalese tokens unmatched (:data:`APPROXIMATE_THRESHOLD`), or find pieces of
   different licenses side by side, also goes through scancode's approximate matcher, as
   scancode itself would: a variant of a known text.
   That matcher is narrowed to the rules that can pass its first candidate test
   (:class:`~gplscan.facts.scancode_adapter.CandidateRules`), which finds the same matches
   ≈1.5x faster.
3. The matches of all regions of a file, at their lines in the file, go through scancode's
   own detection post-processing (grouping, detection analysis, false-positive and clue
   handling), as in ``licensedcode.detection.detect_licenses``; the expressions of a file's
   detections are ANDed (:func:`~gplscan.facts.license_expr.combine_and`).

scancode is imported only when a file has license-like text. Its license index is loaded
once per process (≈4-5 s, ≈1.4 GB RSS) and then reused. Matching always runs without a
deadline: scancode treats a deadline as "stop and return what was found so far", which
silently drops licenses instead of failing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gplscan.facts.kernel_idioms import is_kernel_idiom, is_symbol_remark
from gplscan.facts.license_expr import combine_and
from gplscan.facts.license_regions import Region, license_regions
from gplscan.facts.scancode_adapter import (
    CandidateRules,
    Engine,
    expression_matches,
    file_detections,
    load_engine,
    pieced,
    relocated,
    spdx_expression,
)

if TYPE_CHECKING:
    from gplscan.facts.notices import NoticeTable

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
        self._engine: Engine | None = None
        self._candidate_rules: CandidateRules | None = None

    @property
    def index_loaded(self) -> bool:
        """True once this detector has used scancode's license index."""
        return self._engine is not None

    def load_index(self) -> None:
        """Load scancode's index now (e.g. in a parent process, before forking workers).

        Raises :class:`LicenseDetectionUnavailable` when scancode cannot run.
        """
        if self._engine is None:
            self._engine = load_engine()

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
            raw.extend(relocated(engine, self._region_matches(engine, text), region.start_line))
        if not raw:
            return EMPTY
        texts = {id(m): m.matched_text(whole_lines=False, highlight=False) for m in raw}
        # Idiom calls are blanked out of the regions, so a match cannot span only idiom lines
        # (what is_kernel_idiom_match also checks); its own text may still be an idiom variant.
        kept = [
            m
            for m in raw
            if not is_kernel_idiom(texts[id(m)]) and not is_symbol_remark(m, texts[id(m)])
        ]
        expressions: list[str] = []
        matches: list[LicenseMatch] = []
        for detection in file_detections(engine, kept):
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
                for m in expression_matches(engine, detection)
            )
        return LicenseDetection(expression=combine_and(expressions), matches=tuple(matches))

    def _region_matches(self, engine: Engine, text: str) -> tuple[Any, ...]:
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
        if left >= threshold or (left and pieced(matches)):
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

    def _candidates(self, engine: Engine) -> CandidateRules:
        if self._candidate_rules is None:
            self._candidate_rules = CandidateRules(engine.index)
        return self._candidate_rules

    @staticmethod
    def _left_unmatched(query: Any, matches: Sequence[Any]) -> int:
        """Legalese tokens left unmatched, as scancode counts them before approximate matching."""
        left = query.whole_query_run().is_matchable(
            include_low=False, qspans=[m.qspan for m in matches if m.coverage() == 100]
        )
        return len(left) if left else 0


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

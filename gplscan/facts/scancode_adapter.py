"""The scancode-toolkit adapter: loading its license index once per process, and the
scancode objects gplscan works with (matches, detections, license keys).

scancode is imported only here, and only when a file has license text to match
(:func:`load_engine`). What it offers is gathered in an :class:`Engine`. The helpers narrow
its approximate matcher (:class:`CandidateRules`), move a region's matches to their lines in
the file (:func:`relocated`), and run scancode's own detection post-processing
(:func:`file_detections`, :func:`expression_matches`) as ``licensedcode.detection`` does.
"""

from __future__ import annotations

import copy
import functools
import itertools
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gplscan.errors import LicenseDetectionUnavailable

_INSTALL_HINT = "pip install 'scancode-toolkit>=32.3' 'pluggy<1.7'"


@dataclass(frozen=True, slots=True)
class Engine:
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


class CandidateRules:
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


def pieced(matches: Sequence[Any]) -> bool:
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


def relocated(engine: Engine, matches: Sequence[Any], start_line: int) -> Iterator[Any]:
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


def file_detections(engine: Engine, matches: Sequence[Any]) -> Iterator[Any]:
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


def expression_matches(engine: Engine, detection: Any) -> Iterator[Any]:
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

    engine = load_engine()
    spdx = str(engine.build_spdx(scancode_expression, licensing=engine.licensing))
    try:
        return normalize(spdx)
    except SpdxError:
        return spdx


_LOADING = threading.Lock()


def load_engine() -> Engine:
    """scancode's loaded index (loaded on the first call); raises
    :class:`LicenseDetectionUnavailable` when scancode cannot run."""
    with _LOADING:  # two threads of a Dask worker would each load the 1.4 GB index
        loaded = _load_engine()
    if isinstance(loaded, str):
        raise LicenseDetectionUnavailable(loaded)
    return loaded


@functools.cache
def _load_engine() -> Engine | str:
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
    return Engine(
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

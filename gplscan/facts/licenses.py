"""Full license detection for files without an SPDX tag: the one place scancode-toolkit lives.

gplscan reads ``SPDX-License-Identifier`` tags itself; this adapter runs scancode's license
matcher on the files that carry none and returns plain, frozen data with SPDX expressions.

scancode is imported inside :func:`detect_licenses`, so importing gplscan never pays for it.
Its license index is loaded once per process (≈5 s, ≈1.4 GB RSS) and then reused. Matching
always runs without a deadline: scancode treats a deadline as "stop and return what was found
so far", which silently drops licenses instead of failing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gplscan.errors import GplscanError

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

# Text sniffing: NUL bytes mean binary; text that is not UTF-8 (old Latin-1 sources) is still
# text unless control characters are frequent. Random bytes have ≈10% of them.
_SNIFF_BYTES = 64 * 1024
_CONTROL_BYTES = frozenset(range(0x20)) - frozenset(b"\t\n\v\f\r\x1b")
_MAX_CONTROL_SHARE = 0.02

_INSTALL_HINT = "pip install 'scancode-toolkit>=32.3' 'pluggy<1.7'"


@dataclass(frozen=True, slots=True)
class LicenseMatch:
    """One stretch of license text scancode recognized, with its SPDX expression."""

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


class LicenseDetectionUnavailable(GplscanError):
    """scancode-toolkit cannot be imported or its license index cannot be loaded.

    The message says why and how to fix it. Nothing per file: the whole license stage is off.
    """


@dataclass(frozen=True, slots=True)
class _Engine:
    """scancode's loaded license index and the functions gplscan calls on it."""

    index: Any
    licensing: Any
    group_matches: Any
    detection_from_matches: Any
    process_detections: Any
    build_spdx: Any


def detect_licenses(path: Path) -> LicenseDetection:
    """Run scancode's license detection on the file at ``path``.

    Binary and undecodable files yield an empty detection. Raises OSError when the file cannot
    be read, and :class:`LicenseDetectionUnavailable` when scancode cannot run at all.
    """
    data = path.read_bytes()
    if not data or not _is_text(data):
        return EMPTY
    engine = _engine()
    raw = engine.index.match(location=str(path))
    if not raw:
        return EMPTY
    texts = {id(m): m.matched_text(whole_lines=False, highlight=False) for m in raw}
    kept = [m for m in raw if not _is_idiom_match(m, texts[id(m)])]
    matches = tuple(
        LicenseMatch(
            expression=_spdx_expression(m.rule.license_expression),
            start_line=int(m.start_line),
            end_line=int(m.end_line),
            rule=str(m.rule.identifier),
            score=float(m.score()),
            matched_text=texts[id(m)] or None,
        )
        for m in _license_matches(engine, kept)
    )
    return LicenseDetection(expression=combine_and(m.expression for m in matches), matches=matches)


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


def combine_and(expressions: Iterable[str]) -> str | None:
    """AND of the distinct terms of ``expressions`` in first-seen order, or None if none.

    Top-level AND terms are flattened so that a term already present is not repeated;
    terms are compared after simplification (``A OR B`` equals ``B OR A``) but written as first
    seen. Ids license_expression does not know (``LicenseRef-scancode-*``) are kept as given.
    """
    licensing = _licensing()
    terms: dict[str, Any] = {}
    for text in expressions:
        parsed = licensing.parse(text, validate=False)
        if parsed is None:
            continue
        parts = parsed.args if isinstance(parsed, licensing.AND) else (parsed,)
        for part in parts:
            terms.setdefault(str(part.simplify()), part)
    if not terms:
        return None
    values = list(terms.values())
    return str(values[0] if len(values) == 1 else licensing.AND(*values))


def _license_matches(engine: _Engine, matches: Sequence[Any]) -> Iterable[Any]:
    """The matches scancode's own detection step keeps as license findings, in file order.

    This is what ``licensedcode.detection.detect_licenses`` does after matching, run on the
    matches left once the kernel idioms are set aside, so that the idioms cannot sway how
    neighbouring matches are grouped and judged. Detections scancode calls clues or false
    positives (no expression) are left out, and so are matches that do not contribute to their
    detection's expression (license introductions such as "Licensed under:").
    """
    if not matches:
        return
    detections = [
        d
        for group in engine.group_matches(license_matches=list(matches))
        if (d := engine.detection_from_matches(matches=group)) is not None
    ]
    for detection in engine.process_detections(detections=detections, licensing=engine.licensing):
        if detection.license_expression is None:
            continue
        keys = set(engine.licensing.license_keys(detection.license_expression))
        for m in detection.matches:
            if set(engine.licensing.license_keys(m.rule.license_expression)) <= keys:
                yield m


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


@functools.cache
def _spdx_expression(scancode_expression: str) -> str:
    """scancode's expression (its own license keys) written with SPDX ids."""
    engine = _engine()
    return str(engine.build_spdx(scancode_expression, licensing=engine.licensing))


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
        from licensedcode import cache, detection
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
        group_matches=detection.group_matches,
        detection_from_matches=detection.LicenseDetection.from_matches,
        process_detections=detection.process_detections,
        build_spdx=cache.build_spdx_license_expression,
    )


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

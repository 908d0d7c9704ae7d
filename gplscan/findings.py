"""Findings: the message, the primary location, and a fingerprint that survives moves.

The fingerprint hashes the rule, the module's name (``hv_netvsc.ko``, not its directory),
the object's content digest when the finding is about a closed object (else the object's
file name) and the symbol; never directories, line numbers or absolute paths: the same
violation keeps its identity across machines, checkouts, renamed or moved directories and
unrelated edits, while a different blob at the same path is a new finding.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import hashlib
import string
from collections.abc import Iterable, Mapping
from enum import StrEnum

from gplscan.model import (
    EXIT_CLEAN,
    EXIT_ERROR,
    EXIT_FINDINGS,
    SEVERITY_RANK,
    Binary,
    Evidence,
    Finding,
    Rule,
    ScanResult,
    Severity,
    Waiver,
)
from gplscan.rules.fragments import Said, Text, Value, render
from gplscan.rules.predicates import Match

NOT_JUDGED = "not-judged"  # the rule that reports what could not be established


class Verdict(StrEnum):
    """What a report concludes: the same in the terminal, JSON and HTML."""

    FAILS = "fails"  # findings at or above --fail-on
    INCOMPLETE = "incomplete"  # something was not judged, or not read
    PASSES = "passes"  # everything the target holds was judged, and nothing fails


def verdict(result: ScanResult) -> Verdict:
    """Fails, incomplete or passes, by the threshold the result carries (``fail_on``).

    Fails when the exit code says findings; else incomplete when a file was not read or a
    ``not-judged`` finding stands (the exit code then follows ``--fail-on``, but a report
    never says "passes" about what gplscan did not understand); else passes.
    """
    code = exit_code(result, result.fail_on, result.allow_partial)
    if code == EXIT_FINDINGS:
        return Verdict.FAILS
    if code == EXIT_ERROR or not result.complete or not_judged(result):
        return Verdict.INCOMPLETE
    return Verdict.PASSES


def not_judged(result: ScanResult) -> list[Finding]:
    """The ``not-judged`` findings that stand (not waived, not in the baseline)."""
    return [f for f in result.findings if f.rule == NOT_JUDGED]


def exit_code(result: ScanResult, fail_on: str, allow_partial: bool) -> int:
    """2 for an incomplete scan (unless allowed), 1 for findings at the threshold, else 0.

    The one statement of the rule: the command's exit code and the reports' verdicts
    (HTML) both come from here.
    """
    if not result.complete and not allow_partial:
        return EXIT_ERROR
    if fail_on == "never":
        return EXIT_CLEAN
    threshold = SEVERITY_RANK[Severity(fail_on)]
    if any(SEVERITY_RANK[f.severity] >= threshold for f in result.findings):
        return EXIT_FINDINGS
    return EXIT_CLEAN


def fingerprint(
    rule_id: str,
    binary: str | None,
    obj: str | None,
    symbol: str | None,
    content: str | None = None,
) -> str:
    """A stable identity for a finding: sha256 over its rule, the binary's file name, the
    object's content digest (``content``; a replaced blob is a new finding) or, without
    one, the object's file name, and the symbol. Directories take no part: ``git mv`` of a
    directory whose content is unchanged keeps every fingerprint.

    A finding about no binary (a file not judged) is about that file: it keeps its path,
    as ``content`` (the gap's subject) names it anyway.
    """
    if binary is None:
        key = (rule_id, "", obj or "", symbol or "", content or "")
    else:
        what = content if content is not None else _name(obj)
        key = (rule_id, _name(binary), what, symbol or "", "")
    return hashlib.sha256("\0".join(key).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _name(path: str | None) -> str:
    return path.rsplit("/", 1)[-1] if path else ""


def _with_path(finding: Finding) -> Finding:
    """The finding with a fingerprint that also holds its paths: for two findings the
    path-free identity cannot tell apart (two modules of one name in two directories)."""
    key = "\0".join((finding.fingerprint, finding.binary or "", finding.object or "", finding.path))
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return dataclasses.replace(finding, fingerprint=digest)


class _Fields(dict[str, str]):
    """A match's fields as words, each rendered when the template asks for it."""

    def __init__(self, fields: Mapping[str, Value], words: Mapping[str, Mapping[str, str]]):
        super().__init__()
        self.fields, self.words = fields, words

    def __missing__(self, key: str) -> str:
        value = self.fields.get(key)
        return "unknown" if value is None else render(self.words, value)


def render_message(
    template: str,
    fields: Mapping[str, Value],
    fragments: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (),
) -> str:
    """Fill a rule's message template, its ``fragments`` wording the values that are
    :class:`~gplscan.rules.fragments.Text`; a field the match lacks reads "unknown"."""
    words = {name: dict(cases) for name, cases in fragments}
    return string.Formatter().vformat(template, (), _Fields(fields, words))


def _worded(
    evidence: tuple[Evidence | Said, ...],
    fragments: tuple[tuple[str, tuple[tuple[str, str], ...]], ...],
) -> tuple[Evidence, ...]:
    """The evidence, the links a predicate words through the rule's fragments worded."""
    words = {name: dict(cases) for name, cases in fragments}
    return tuple(e.worded(words) if isinstance(e, Said) else e for e in evidence)


def make_finding(rule: Rule, binary: Binary | None, match: Match) -> Finding:
    """A finding about ``binary``, or about the whole target when it is None."""
    shown = str(binary.path) if binary is not None else None
    # a finding about the whole target words {binary} through the rule's fragment "binary"
    about: Value = shown if shown is not None else Text("binary", "none")
    fields: dict[str, Value] = {"binary": about, **match.fields}
    return Finding(
        rule=rule.name,
        rule_id=rule.id,
        severity=match.severity or rule.severity,
        binary=shown,
        object=match.object,
        symbol=match.symbol,
        path=str(match.location.path),
        line=match.location.line,
        message=render_message(rule.message, fields, rule.fragments),
        evidence=_worded(match.evidence, rule.fragments),
        fingerprint=fingerprint(rule.id, shown, match.object, match.symbol, match.content),
    )


def build_findings(matches: Iterable[tuple[Rule, Binary | None, Match]]) -> list[Finding]:
    """Findings from rule matches, one per fingerprint, sorted for stable output."""
    by_print: dict[str, dict[tuple[str, ...], Finding]] = {}
    for rule, binary, match in matches:
        finding = make_finding(rule, binary, match)
        where = (finding.binary or "", finding.object or "", finding.symbol or "")
        by_print.setdefault(finding.fingerprint, {}).setdefault(where, finding)
    unique = [
        found if len(group) == 1 else _with_path(found)
        for group in by_print.values()
        for found in group.values()
    ]
    return sorted(
        unique,
        key=lambda f: (
            f.binary or "",
            f.rule_id,
            f.object or "",
            f.symbol or "",
            f.path,
            f.line or 0,
        ),
    )


def apply_policy(
    result: ScanResult,
    *,
    severity: Mapping[str, Severity] | None = None,
    waivers: Iterable[Waiver] = (),
    baseline: frozenset[str] = frozenset(),
    today: datetime.date | None = None,
) -> ScanResult:
    """The result as a project's policy sees it.

    Severity overrides (by rule name or id) first; then findings a baseline holds (by
    fingerprint) and findings a live waiver matches are set aside, so that only new,
    unwaived findings count. Expired waivers do not apply; unused ones are listed too.
    """
    today = today or datetime.date.today()
    overrides = dict(severity or {})
    findings = [
        dataclasses.replace(f, severity=overrides.get(f.rule, overrides.get(f.rule_id, f.severity)))
        for f in result.findings
    ]
    live = [w for w in waivers if not w.expired(today)]
    expired = tuple(w for w in waivers if w.expired(today))
    used: set[int] = set()
    active: list[Finding] = []
    held: list[Finding] = []
    waived: list[tuple[Finding, Waiver]] = []
    for f in findings:
        waiver = next((w for w in live if _matches(w, f)), None)
        if waiver is not None:
            used.add(id(waiver))
            waived.append((f, waiver))
        elif f.fingerprint in baseline:
            held.append(f)
        else:
            active.append(f)
    unused = tuple(w for w in live if id(w) not in used)
    return dataclasses.replace(
        result,
        findings=tuple(active),
        baseline=tuple(held),
        waived=tuple(waived),
        expired_waivers=expired,
        unused_waivers=unused,
    )


def _matches(waiver: Waiver, f: Finding) -> bool:
    if not any(fnmatch.fnmatchcase(r, waiver.rule) for r in (f.rule, f.rule_id)):
        return False
    if waiver.fingerprint is not None:
        return waiver.fingerprint == f.fingerprint
    pattern = waiver.path or ""
    return any(fnmatch.fnmatchcase(p, pattern) for p in (f.binary, f.object, f.path) if p)

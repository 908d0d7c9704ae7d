"""Findings: the message, the primary location, and a fingerprint that survives moves.

The fingerprint hashes the rule, the binary, the object and the symbol, all as paths
relative to the target, never line numbers or absolute paths: the same violation keeps its
identity across machines, checkouts and unrelated edits.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable, Mapping

from gplscan.model import Binary, Finding, Rule
from gplscan.rules.predicates import Match


def fingerprint(rule_id: str, binary: str | None, obj: str | None, symbol: str | None) -> str:
    """A stable identity for a finding: sha256 over its rule, binary, object and symbol."""
    key = "\0".join((rule_id, binary or "", obj or "", symbol or ""))
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "unknown"


def render_message(template: str, fields: Mapping[str, str]) -> str:
    """Fill a rule's message template; a field the match lacks reads "unknown"."""
    return string.Formatter().vformat(template, (), _Fields(fields))


def make_finding(rule: Rule, binary: Binary, match: Match) -> Finding:
    fields = {"binary": str(binary.path), **match.fields}
    return Finding(
        rule=rule.name,
        rule_id=rule.id,
        severity=match.severity or rule.severity,
        binary=str(binary.path),
        object=match.object,
        symbol=match.symbol,
        path=str(match.location.path),
        line=match.location.line,
        message=render_message(rule.message, fields),
        evidence=match.evidence,
        fingerprint=fingerprint(rule.id, str(binary.path), match.object, match.symbol),
    )


def build_findings(matches: Iterable[tuple[Rule, Binary, Match]]) -> list[Finding]:
    """Findings from rule matches, one per fingerprint, sorted for stable output."""
    unique: dict[str, Finding] = {}
    for rule, binary, match in matches:
        finding = make_finding(rule, binary, match)
        unique.setdefault(finding.fingerprint, finding)
    return sorted(
        unique.values(),
        key=lambda f: (
            f.binary or "",
            f.rule_id,
            f.object or "",
            f.symbol or "",
            f.path,
            f.line or 0,
        ),
    )

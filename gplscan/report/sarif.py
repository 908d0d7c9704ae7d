"""SARIF 2.1.0 for code-scanning pages (GitHub, GitLab, Azure DevOps).

One rule descriptor per gplscan rule (help from ``rules/``); every result has a physical
location relative to the repository root (``%SRCROOT%``: the git top level when the target
is inside a work tree, so that auditing a subdirectory still places alerts; the
``originalUriBaseIds`` entry describes it and holds no absolute path) (the Makefile line
that links an object, or the
``MODULE_LICENSE`` line), objects and other evidence as related locations, and gplscan's
stable fingerprint under a namespaced ``partialFingerprints`` key. No
``primaryLocationLineHash`` (upload tools compute it from the file), no result without a
location (an upload with one fails as a whole).
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from gplscan import __url__
from gplscan.model import Evidence, Finding, Rule, ScanResult, Severity

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
FINGERPRINT_KEY = "gplscan/v1"


def _descriptor(rule: Rule) -> dict[str, Any]:
    help_text = (
        f"{rule.plain}\n\nWhat to do: {rule.remedy}\n\nWhy: {rule.why}\n\nReferences: "
        + ", ".join(rule.references)
    )
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.why},
        "help": {
            "text": help_text,
            "markdown": f"**{rule.title}**\n\n{rule.plain}\n\n**What to do:** {rule.remedy}"
            f"\n\n**Why:** {rule.why}\n\n" + "\n".join(f"- <{r}>" for r in rule.references),
        },
        "helpUri": rule.references[0] if rule.references else None,
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {"tags": ["license", "gpl", "compliance"], "precision": "high"},
    }


def _uri(path: str, base: str) -> str:
    """A path relative to the scanned directory as a URI relative to the repository root."""
    if not base:
        return path
    return base if path in ("", ".") else posixpath.join(base, path)


def _physical(path: str, line: int | None, base: str) -> dict[str, Any]:
    uri = _uri(path, base)
    location: dict[str, Any] = {"artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"}}
    if line:
        location["region"] = {"startLine": line}
    return location


def _related(evidence: tuple[Evidence, ...], base: str) -> list[dict[str, Any]]:
    out = []
    for i, e in enumerate(evidence, 1):
        if e.path is None:
            continue
        out.append(
            {
                "id": i,
                "physicalLocation": _physical(str(e.path), e.line, base),
                "message": {"text": f"{e.kind}: {e.text}"},
            }
        )
    return out


def _result(f: Finding, index: dict[str, int], base: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "level": _LEVEL[f.severity],
        "message": {"text": f.message},
        "locations": [{"physicalLocation": _physical(f.path or ".", f.line, base)}],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "properties": {"rule": f.rule, "binary": f.binary, "object": f.object, "symbol": f.symbol},
    }
    if f.rule_id in index:
        result["ruleIndex"] = index[f.rule_id]
    related = _related(f.evidence, base)
    if related:
        result["relatedLocations"] = related
    return result


def _suppressed(
    result: dict[str, Any], kind: str, status: str, justification: str
) -> dict[str, Any]:
    result["suppressions"] = [{"kind": kind, "status": status, "justification": justification}]
    return result


def as_dict(result: ScanResult) -> dict[str, Any]:
    base = result.repo_path
    rules = sorted(result.rules, key=lambda r: r.id)
    index = {r.id: i for i, r in enumerate(rules)}
    descriptors = []
    for r in rules:
        d = _descriptor(r)
        if d["helpUri"] is None:
            del d["helpUri"]
        descriptors.append(d)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "gplscan",
                        "version": result.tool_version,
                        "informationUri": __url__,
                        "rules": descriptors,
                    }
                },
                "automationDetails": {"id": "gplscan/"},
                "originalUriBaseIds": {
                    "%SRCROOT%": {
                        "description": {
                            "text": "The repository root: the git top level of the scanned "
                            "directory, else the scanned directory itself"
                        }
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": [
                    *(_result(f, index, base) for f in result.findings),
                    *(
                        _suppressed(
                            _result(f, index, base),
                            "external",
                            "accepted",
                            f"in the baseline (fingerprint {f.fingerprint})",
                        )
                        for f in result.baseline
                    ),
                    *(
                        _suppressed(
                            _result(f, index, base),
                            "external",
                            "accepted",
                            f"{w.justification} ({w.source})",
                        )
                        for f, w in result.waived
                    ),
                ],
                "invocations": [
                    {
                        "executionSuccessful": result.complete,
                        "toolExecutionNotifications": [
                            {
                                "level": "warning" if i.skipped else "note",
                                "message": {"text": i.message},
                                "locations": [
                                    {"physicalLocation": _physical(str(i.path), None, base)}
                                ],
                            }
                            for i in result.issues
                        ],
                    }
                ],
            }
        ],
    }


def render(result: ScanResult) -> str:
    return json.dumps(as_dict(result), indent=2) + "\n"

"""The JSON report, schema ``gplscan/1`` (DESIGN.md), plus the scan's own ``issues``."""

from __future__ import annotations

import json
from typing import Any

from gplscan.findings import verdict
from gplscan.model import (
    Binary,
    Evidence,
    Finding,
    LicenseStatus,
    ScanIssue,
    ScanResult,
    Severity,
    Waiver,
)
from gplscan.report.stats import stat_lines

SCHEMA = "gplscan/1"


def _evidence(e: Evidence) -> dict[str, Any]:
    return {
        "kind": e.kind,
        "path": str(e.path) if e.path is not None else None,
        "line": e.line,
        "text": e.text,
    }


def _binary(b: Binary) -> dict[str, Any]:
    licenses = sorted({c.license for c in b.components if c.license})
    return {
        "path": str(b.path),
        "kind": b.kind,
        "declared_license": b.declared.value.decode("utf-8", "surrogateescape")
        if b.declared is not None
        else None,
        "licenses": licenses,
        "components": [
            {
                "path": str(c.path),
                "origin": str(c.origin),
                "sources": [str(s) for s in c.sources],
                "license": c.license,
                "file": str(c.file) if c.file is not None else None,
                "reasons": list(c.reasons),
            }
            for c in b.components
        ],
        "composition_known": b.composition_known,
        "needed": list(b.needed),  # DT_NEEDED: shared libraries it links dynamically
        "imports": _imports(b),
        "exports": [{"symbol": sym, "gpl_only": gpl} for sym, gpl in b.exports],
        "license_note": b.license_note,
    }


def _imports(b: Binary) -> dict[str, Any]:
    """Imports grouped by provider: how many plain and GPL-only symbols each provides."""
    providers: dict[str, dict[str, int]] = {}
    unresolved: list[str] = []
    # counted once, where the imports are resolved (4,000 modules import ≈184,000 symbols);
    # providers in order of first use
    for (provider, gpl_only), n in b.counted_imports():
        if provider == "unresolved":
            unresolved = [i.symbol for i in b.imports if i.provider == "unresolved"]
            continue
        counts = providers.setdefault(provider, {"EXPORT_SYMBOL": 0, "EXPORT_SYMBOL_GPL": 0})
        counts["EXPORT_SYMBOL_GPL" if gpl_only else "EXPORT_SYMBOL"] += n
    return {"providers": providers, "unresolved": unresolved}


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "rule_id": f.rule_id,
        "severity": str(f.severity),
        "binary": f.binary,
        "object": f.object,
        "symbol": f.symbol,
        "path": f.path,
        "line": f.line,
        "message": f.message,
        "evidence": [_evidence(e) for e in f.evidence],
        "fingerprint": f.fingerprint,
    }


def _waiver(w: Waiver) -> dict[str, Any]:
    return {
        "rule": w.rule,
        "path": w.path,
        "fingerprint": w.fingerprint,
        "justification": w.justification,
        "approved_by": w.approved_by,
        "expires": w.expires.isoformat() if w.expires else None,
        "source": w.source,
    }


def _issue(i: ScanIssue) -> dict[str, Any]:
    return {"path": str(i.path), "stage": i.stage, "message": i.message, "skipped": i.skipped}


def as_dict(result: ScanResult) -> dict[str, Any]:
    counts = {str(s): 0 for s in Severity}
    for f in result.findings:
        counts[str(f.severity)] += 1
    return {
        "schema": SCHEMA,
        "tool": {"name": "gplscan", "version": result.tool_version},
        "target": result.target,
        "summary": {
            "files": len(result.files),
            "sources": result.source_count,
            "objects": result.object_count,
            "binaries": len(result.binaries),
            "findings": counts,
            # fails | incomplete | passes, by --fail-on: never "passes" with anything
            # not judged (a not-judged finding) or not read (an issue that skipped a file)
            "verdict": str(verdict(result)),
            "fail_on": result.fail_on,
        },
        "binaries": [_binary(b) for b in result.binaries],
        "findings": [_finding(f) for f in result.findings],
        "complete": result.complete,
        # partial: only the binaries the changes since a revision can affect were judged
        # (--changed-since); a passing partial run says nothing of the rest of the target
        "judged": {
            "partial": result.changed_since is not None,
            "changed_since": result.changed_since,
            "binaries": len(result.binaries),
        },
        "issues": [_issue(i) for i in result.issues],
        "baseline": [_finding(f) for f in result.baseline],
        "waived": [{**_finding(f), "waiver": _waiver(w)} for f, w in result.waived],
        "waivers": {
            "expired": [_waiver(w) for w in result.expired_waivers],
            "unused": [_waiver(w) for w in result.unused_waivers],
        },
        "inventory": _inventory(result),
        # facts of the run itself, not of the target, are left out: the report is deterministic
        "scan": {s.label: s.text for s in stat_lines(result.stats) if not s.volatile},
        "provenance": _provenance(result),
    }


def _provenance(result: ScanResult) -> dict[str, Any] | None:
    """When, how and on what the report was made; the digest and size of every object
    the report finds closed or cannot account for (to match against a delivery)."""
    p = result.provenance
    sizes = {str(f.path): f.size for f in result.files}
    parts: dict[str, dict[str, Any]] = {}
    for b in result.binaries:
        for c in b.components:
            if str(c.origin) in ("closed", "unknown") and c.file is not None:
                parts.setdefault(
                    str(c.file),
                    {
                        "path": str(c.file),
                        "origin": str(c.origin),
                        "sha256": c.sha256,
                        "size": sizes.get(str(c.file)),
                    },
                )
    return {
        "scanned_at": p.scanned_at if p else None,
        "command": list(p.command) if p else None,
        "gplscan": result.tool_version,
        "rules_sha256": p.rules_digest if p else None,
        "input": {"sha256": p.input_sha256, "size": p.input_size} if p and p.input_sha256 else None,
        "closed_and_unknown_objects": [parts[k] for k in sorted(parts)],
    }


def _inventory(result: ScanResult) -> dict[str, Any]:
    counts: dict[str, int] = {}
    licenses: dict[str, list[str]] = {}
    for f in result.inventory:
        status = str(f.status)  # a plain str: orjson takes no str subclass as a key
        counts[status] = counts.get(status, 0) + 1
        if f.license:
            licenses.setdefault(f.license, []).append(str(f.path))
    return {
        "scope": result.inventory_scope,
        "counts": counts,
        "licenses": licenses,
        "files": [
            {
                "path": str(f.path),
                "status": f.status,
                "license": f.license,
                "line": f.line,
                **(
                    {"end_line": f.end_line, "rule": f.rule, "score": f.score}
                    if f.status == LicenseStatus.DETECTED
                    else {}
                ),
                "binaries": list(f.binaries),
            }
            for f in result.inventory
        ],
    }


def render(result: ScanResult) -> str:
    """The report as indented JSON text (keys in schema order, deterministic).

    orjson writes it (the report of 4,000 modules in ≈30 ms instead of ≈0.5 s), as UTF-8;
    the standard library takes over, with \\u escapes, when a string holds what UTF-8
    cannot (a file name that is not UTF-8 keeps its bytes as lone surrogates).
    """
    data = as_dict(result)
    try:
        import orjson

        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"
    except (ImportError, TypeError):
        return json.dumps(data, indent=2) + "\n"

"""GitLab Code Quality report (a Code Climate subset) for merge-request annotations."""

from __future__ import annotations

import json
from typing import Any

from gplscan.model import ScanResult, Severity

_SEVERITY = {Severity.ERROR: "critical", Severity.WARNING: "major", Severity.INFO: "info"}


def as_list(result: ScanResult) -> list[dict[str, Any]]:
    return [
        {
            "description": f.message,
            "check_name": f.rule,
            "fingerprint": f.fingerprint,
            "severity": _SEVERITY[f.severity],
            "location": {"path": f.path or ".", "lines": {"begin": f.line or 1}},
        }
        for f in result.findings
    ]


def render(result: ScanResult) -> str:
    return json.dumps(as_list(result), indent=2) + "\n"

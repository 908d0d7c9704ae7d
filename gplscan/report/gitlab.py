"""GitLab Code Quality report (a Code Climate subset) for merge-request annotations.

Paths are relative to the repository root (the git top level when the target is inside a
work tree), as GitLab places them in the merge request's diff."""

from __future__ import annotations

import json
import posixpath
from typing import Any

from gplscan.model import ScanResult, Severity

_SEVERITY = {Severity.ERROR: "critical", Severity.WARNING: "major", Severity.INFO: "info"}


def as_list(result: ScanResult) -> list[dict[str, Any]]:
    base = result.repo_path
    return [
        {
            "description": f.message,
            "check_name": f.rule,
            "fingerprint": f.fingerprint,
            "severity": _SEVERITY[f.severity],
            "location": {"path": _path(f.path, base), "lines": {"begin": f.line or 1}},
        }
        for f in result.findings
    ]


def _path(path: str, base: str) -> str:
    if path in ("", "."):
        return base or "."
    return posixpath.join(base, path) if base else path


def render(result: ScanResult) -> str:
    return json.dumps(as_list(result), indent=2) + "\n"

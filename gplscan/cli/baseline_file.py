"""A baseline: a previous gplscan/1 JSON report, read for the fingerprints it holds."""

from __future__ import annotations

from pathlib import Path


def fingerprints(path: Path) -> frozenset[str]:
    """Fingerprints of every finding a previous JSON report holds (new and baseline)."""
    import json

    from gplscan.errors import GplscanError

    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        if report.get("schema") != "gplscan/1":
            raise ValueError("not a gplscan/1 JSON report")
        items = [
            *report.get("findings", []),
            *report.get("baseline", []),
            *report.get("waived", []),
        ]
        return frozenset(str(f["fingerprint"]) for f in items)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GplscanError(f"--baseline {path}: cannot use it as a baseline: {exc}") from exc

"""The license inventory as text: license -> files, with every file accounted for."""

from __future__ import annotations

from collections import Counter, defaultdict

from gplscan.model import FileLicense, LicenseStatus, ScanResult

STATUS_LABELS: dict[LicenseStatus, str] = {
    LicenseStatus.NONE: "(no license found)",
    LicenseStatus.BINARY: "(binary: objects and data, no license text)",
    LicenseStatus.MALFORMED: "(malformed SPDX tag)",
    LicenseStatus.UNREAD: "(not read)",
}


def group(files: tuple[FileLicense, ...]) -> dict[str, list[FileLicense]]:
    """license expression (or a status label) -> files, largest group first."""
    groups: dict[str, list[FileLicense]] = defaultdict(list)
    for f in files:
        groups[f.license if f.license else STATUS_LABELS.get(f.status, f.status)].append(f)
    return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def counts_line(files: tuple[FileLicense, ...]) -> str:
    counts = Counter(f.status for f in files)
    parts = [f"{counts[s]} {s}" for s in LicenseStatus if counts[s]]
    noun = "file" if len(files) == 1 else "files"
    return f"{len(files)} {noun}: " + ", ".join(parts)


def _safe(text: str) -> str:
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" for c in text)


def render(result: ScanResult, *, list_files: bool = False) -> str:
    lines = [f"gplscan {result.tool_version}  inventory of {_safe(result.target)}", ""]
    groups = group(result.inventory)
    width = min(70, max((len(k) for k in groups), default=10))
    lines.append(f"{'license':<{width}}  {'files':>8}")
    for license, files in groups.items():
        lines.append(f"{_safe(license):<{width}}  {len(files):>8}")
        if list_files:
            lines.extend(
                f"    {_safe(str(f.path))}" + (f":{f.line}" if f.line else "") for f in files
            )
    skipped = [i for i in result.issues if i.skipped]
    if skipped:
        lines += ["", "Not read:"]
        lines.extend(f"  {_safe(str(i.path))}: {_safe(i.message)}" for i in skipped)
    lines += ["", counts_line(result.inventory)]
    return "\n".join(lines) + "\n"

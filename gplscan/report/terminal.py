"""The terminal report: per binary its components as a tree, closed parts marked, then the
findings with their evidence, and a summary line.

Built from rich ``Text`` objects only, never from markup strings, so names from the scanned
tree (which may hold ``[``, escapes or control characters) print as they are.
"""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.text import Text
from rich.tree import Tree

from gplscan.findings import Verdict, not_judged, verdict
from gplscan.model import SEVERITY_RANK, Binary, Finding, Origin, ScanResult, Severity

_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_ORIGIN_STYLE = {Origin.SOURCE: "green", Origin.CLOSED: "bold red", Origin.UNKNOWN: "yellow"}


def _safe(text: str) -> str:
    """Printable form of a string from the scanned tree (NULs and controls escaped)."""
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" for c in text)


def _binary_tree(binary: Binary) -> Tree:
    declared = (
        f'MODULE_LICENSE("{_safe(binary.declared.value.decode("utf-8", "replace"))}")'
        if binary.declared is not None
        else f"license unknown: {binary.license_note}"
        if binary.license_note
        else "no MODULE_LICENSE"
    )
    label = Text.assemble((_safe(str(binary.path)), "bold"), f"  {binary.kind}, ", declared)
    tree = Tree(label)
    if not binary.composition_known:
        tree.add(
            Text("composition unknown: no build files or sources for it in the target", style="dim")
        )
    for c in binary.components:
        line = Text.assemble(
            (_safe(str(c.path)), "bold"),
            "  ",
            (
                c.origin.value.upper() if c.origin is not Origin.SOURCE else "source",
                _ORIGIN_STYLE[c.origin],
            ),
        )
        if c.sources:
            line.append("  <- " + ", ".join(_safe(str(s)) for s in c.sources))
        elif c.file is not None:
            line.append("  <- " + _safe(str(c.file)))
        line.append(f"  {c.license or 'license unknown'}", style="dim")
        node = tree.add(line)
        if c.origin is not Origin.SOURCE:
            for reason in c.reasons:
                node.add(Text(_safe(reason), style="dim"))
    return tree


def _finding(f: Finding) -> Group:
    where = f"{f.path}:{f.line}" if f.line else f.path
    head = Text.assemble(
        (f"{f.severity.value:<7}", _SEVERITY_STYLE[f.severity]),
        " ",
        (f"{f.rule_id} {f.rule}", "bold"),
        "  ",
        _safe(where),
    )
    parts: list[Text] = [head, Text("  " + _safe(f.message))]
    for e in f.evidence:
        loc = ""
        if e.path is not None:
            loc = f"{e.path}:{e.line}" if e.line else str(e.path)
        parts.append(
            Text.assemble(
                ("    " + e.kind.ljust(9), "dim"), _safe(loc), "  " if loc else "", _safe(e.text)
            )
        )
    parts.append(Text(f"    fingerprint {f.fingerprint}", style="dim"))
    return Group(*parts)


def summary_line(result: ScanResult) -> str:
    counts = dict.fromkeys(Severity, 0)
    for f in result.findings:
        counts[f.severity] += 1
    skipped = sum(1 for i in result.issues if i.skipped)
    text = (
        f"{len(result.binaries)} binaries, {len(result.files)} files: "
        f"{counts[Severity.ERROR]} errors, {counts[Severity.WARNING]} warnings, "
        f"{counts[Severity.INFO]} info"
    )
    if skipped:
        text += f"; {skipped} file(s) or part(s) not read"
    gaps = len(not_judged(result))
    if gaps:
        text += f"; {gaps} thing(s) not judged"
    return f"{_VERDICT_WORD[verdict(result)]}: {text}"


_VERDICT_WORD = {Verdict.FAILS: "FAIL", Verdict.INCOMPLETE: "INCOMPLETE", Verdict.PASSES: "PASS"}


def render(result: ScanResult, *, color: bool = False, width: int | None = None) -> str:
    """The report as text (with ANSI colour when ``color``), wrapped at ``width`` if given."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        no_color=not color,
        width=width or 200,
        highlight=False,
        soft_wrap=width is None,
    )
    console.print(
        Text.assemble(
            ("gplscan ", "bold"), result.tool_version, "  audit of ", _safe(result.target)
        )
    )
    console.print()
    if not result.binaries:
        console.print(
            Text(
                "No binaries found: no Kbuild/Makefile module and no built module in the target.",
                style="yellow",
            )
        )
    for binary in result.binaries:
        console.print(_binary_tree(binary))
    if result.findings:
        console.print()
        console.print(Text("Findings", style="bold underline"))
        for f in sorted(result.findings, key=lambda f: -SEVERITY_RANK[f.severity]):
            console.print(_finding(f))
    if result.waived:
        console.print()
        console.print(Text("Waived", style="bold underline"))
        for f, w in result.waived:
            console.print(
                Text.assemble(
                    ("  waived  ", "dim"),
                    f"{f.rule_id} {f.rule} ",
                    _safe(f.binary or ""),
                    " ",
                    _safe(f.object or ""),
                    (
                        f"  ({w.source}: {_safe(w.justification)}"
                        + (f"; until {w.expires}" if w.expires else "")
                        + (f"; approved by {w.approved_by}" if w.approved_by else "")
                        + ")",
                        "dim",
                    ),
                )
            )
    if result.baseline:
        console.print()
        console.print(
            Text(
                f"{len(result.baseline)} finding(s) already in the baseline (not counted)",
                style="dim",
            )
        )
    for w in result.expired_waivers:
        console.print(
            Text(
                f"expired waiver: {w.source} ({w.rule}) ended {w.expires}; its "
                "findings count again",
                style="yellow",
            )
        )
    for w in result.unused_waivers:
        console.print(
            Text(f"unused waiver: {w.source} ({w.rule}) matches no finding", style="yellow")
        )
    notes = list(result.issues)
    if notes:
        console.print()
        console.print(Text("Scan issues", style="bold underline"))
        for i in notes:
            mark = "skipped" if i.skipped else "note"
            console.print(
                Text.assemble(
                    (f"  {mark:<8}", "yellow" if i.skipped else "dim"),
                    _safe(str(i.path)),
                    ": ",
                    _safe(i.message),
                )
            )
    console.print()
    if result.facts:
        console.print(Text("; ".join(f"{k}: {v}" for k, v in result.facts), style="dim"))
    console.print(Text(summary_line(result), style="bold"))
    return buffer.getvalue()

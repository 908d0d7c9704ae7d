"""The terminal report, in the order a compliance engineer reads a failing audit: the
findings with their evidence, what was not judged, the binaries worth looking at as trees
(clean ones counted in one line, with a histogram of declared licenses), then a short
labelled block of scan facts and a last line that starts FAIL, INCOMPLETE or PASS.

Built from rich ``Text`` objects only, never from markup strings, so names from the scanned
tree (which may hold ``[``, escapes or control characters) print as they are; control
characters are shown escaped, so an escape sequence planted in a scanned file never reaches
the terminal. Long lines wrap with a hanging indent at the width given.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.text import Text

from gplscan.findings import NOT_JUDGED, Verdict, verdict
from gplscan.model import (
    SEVERITY_RANK,
    Binary,
    Evidence,
    EvidenceKind,
    Finding,
    Origin,
    ScanIssue,
    ScanResult,
    Severity,
)
from gplscan.report.stats import stat_lines

_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_ORIGIN_STYLE = {Origin.SOURCE: "green", Origin.CLOSED: "bold red", Origin.UNKNOWN: "yellow"}
_VERDICT_WORD = {Verdict.FAILS: "FAIL", Verdict.INCOMPLETE: "INCOMPLETE", Verdict.PASSES: "PASS"}
_VERDICT_STYLE = {
    Verdict.FAILS: "bold white on red",
    Verdict.INCOMPLETE: "bold black on yellow",
    Verdict.PASSES: "bold white on green",
}
_PLURALS = {"binary": "binaries", "info": "info", "file or part": "files or parts"}
_LISTED_CLEAN = 5  # clean binaries named one by one in the default report, at most
_HISTOGRAM_ROWS = 12  # declared licenses listed one by one, at most


def plural(count: int, word: str) -> str:
    """``count`` and ``word`` in agreement: "1 binary", "4,022 binaries", "2 info"."""
    form = word if count == 1 else _PLURALS.get(word, word + "s")
    return f"{count:,} {form}"


def _escape(c: str) -> str:
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _safe(text: str) -> str:
    """Printable form of a string from the scanned tree: tabs become spaces, every other
    control or non-printing character is escaped (``\\x1b``, ``\\u202e``)."""
    text = text.expandtabs(8) if "\t" in text else text
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _literal(text: str) -> str:
    """A string whose exact bytes decide a verdict (a module's license string): a tab is
    shown as ``\\t``, as in the C source, because "GPL\\tv2" is not "GPL v2" to the kernel."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else "\\t" if c == "\t" else "\\n" if c == "\n" else _escape(c)
        for c in text
    )


def _declared(binary: Binary) -> str:
    if binary.declared is not None:
        return f'MODULE_LICENSE("{_literal(binary.declared.value.decode("utf-8", "replace"))}")'
    if binary.license_note:
        return f"license unknown: {_safe(binary.license_note)}"
    return "no MODULE_LICENSE"


def _spans(plain: str, first: int, rest: int) -> list[tuple[int, int]]:
    """Where to break ``plain`` into lines of at most ``first`` then ``rest`` characters,
    at spaces only: a word longer than a line (a path, a URL) is kept whole, so that it
    can still be copied or searched for."""
    spans: list[tuple[int, int]] = []
    pos, size, width = 0, len(plain), first
    while size - pos > width:
        cut = plain.rfind(" ", pos + 1, pos + width + 1)
        if cut == -1:  # the next word alone is longer than the line
            cut = plain.find(" ", pos + width)
            if cut == -1:
                break
        spans.append((pos, len(plain[pos:cut].rstrip(" ")) + pos))
        pos = cut
        while pos < size and plain[pos] == " ":
            pos += 1
        width = rest
    if pos < size or not spans:
        spans.append((pos, size))
    return spans


class _Writer:
    """Collects the report's lines, wrapping each with a hanging indent."""

    def __init__(self, width: int | None) -> None:
        self.width = width
        self.lines: list[Text] = []

    def line(self, text: Text | str = "") -> None:
        self.lines.append(text if isinstance(text, Text) else Text(text))

    def text(self, color: bool) -> str:
        """The lines as one string: plain, or with ANSI styles (the 16 standard colours,
        which every terminal shows). Each line is rendered as it is, never wrapped again:
        rich's own printing would divide every line anew (≈1.7 s for 9,500 lines)."""
        if not color:
            return "".join(line.plain + "\n" for line in self.lines)
        from rich.color import ColorSystem

        console = Console(file=io.StringIO(), force_terminal=True, width=10_000)
        parts: list[str] = []
        for line in self.lines:
            base = console.get_style(line.style) if line.style else None
            for segment in line.render(console):
                style = base + segment.style if base else segment.style
                text = segment.text
                parts.append(
                    style.render(text, color_system=ColorSystem.STANDARD) if style else text
                )
            parts.append("\n")
        return "".join(parts)

    def hang(
        self,
        lead: Text | str,
        body: Text | str,
        indent: int | None = None,
        cont: Text | str | None = None,
    ) -> None:
        """``lead`` then ``body``; wrapped lines of ``body`` start under its first
        character, or at column ``indent``, or after ``cont``."""
        lead = lead if isinstance(lead, Text) else Text(lead)
        body = body if isinstance(body, Text) else Text(body)
        if cont is None:
            cont = " " * (len(lead) if indent is None else indent)
        cont = cont if isinstance(cont, Text) else Text(cont)
        if self.width is None or len(lead) + len(body) <= self.width:
            self.line(Text.assemble(lead, body))
            return
        spans = _spans(body.plain, max(self.width - len(lead), 10), max(self.width - len(cont), 10))
        for n, (start, end) in enumerate(spans):
            self.line(Text.assemble(cont if n else lead, body[start:end]))

    def tree(self, label: Text, children: Sequence[tuple[Text, Sequence[Text]]]) -> None:
        """A two-level tree drawn with box guides, every label wrapped under itself."""
        self.hang("", label, cont="│   " if children else "    ")
        for i, (child, leaves) in enumerate(children):
            last = i == len(children) - 1
            bar = "    " if last else "│   "
            self.hang("└── " if last else "├── ", child, cont=bar + ("│   " if leaves else "    "))
            for j, leaf in enumerate(leaves):
                end = j == len(leaves) - 1
                self.hang(
                    bar + ("└── " if end else "├── "), leaf, cont=bar + ("    " if end else "│   ")
                )


def _binary_tree(out: _Writer, binary: Binary) -> None:
    label = Text.assemble(
        (_safe(str(binary.path)), "bold"), f"  {binary.kind}, ", _declared(binary)
    )
    children: list[tuple[Text, Sequence[Text]]] = []
    if not binary.composition_known:
        children.append(
            (
                Text(
                    "composition unknown: no build files or sources for it in the target",
                    style="dim",
                ),
                (),
            )
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
        reasons = (
            [Text(_safe(reason), style="dim") for reason in c.reasons]
            if c.origin is not Origin.SOURCE
            else []
        )
        children.append((line, reasons))
    out.tree(label, children)


def _evidence(out: _Writer, e: Evidence) -> None:
    loc = ""
    if e.path is not None:
        loc = f"{e.path}:{e.line}" if e.line else str(e.path)
    text = _literal(e.text) if e.kind == EvidenceKind.MODINFO else _safe(e.text)
    body = Text.assemble(_safe(loc), "  " if loc else "", text)
    out.hang(Text("    " + e.kind.ljust(9), style="dim"), body)


def _finding(out: _Writer, f: Finding) -> None:
    where = f"{f.path}:{f.line}" if f.line else f.path
    out.hang(
        Text.assemble(
            (f"{f.severity.value:<8}", _SEVERITY_STYLE[f.severity]),
            (f"{f.rule_id} {f.rule}", "bold"),
            "  ",
        ),
        _safe(where),
        indent=8,
    )
    out.hang("  ", _safe(f.message))
    for e in f.evidence:
        _evidence(out, e)
    out.line(Text(f"    fingerprint {f.fingerprint}", style="dim"))


def _remedies(out: _Writer, result: ScanResult) -> None:
    """What to do, once for each rule that has a standing finding."""
    fired = {f.rule_id for f in result.findings}
    rules = [r for r in result.rules if r.id in fired and r.remedy.strip()]
    if not rules:
        return
    _heading(out, "What to do")
    for r in sorted(rules, key=lambda r: (-SEVERITY_RANK[r.severity], r.id)):
        out.hang(
            Text.assemble("  ", (f"{r.id} {r.name}", "bold"), ": "),
            " ".join(r.remedy.split()),
            indent=4,
        )
    out.line(Text("  gplscan rules show ID explains a rule in full.", style="dim"))


def _heading(out: _Writer, title: str) -> None:
    out.line()
    out.line(Text(title, style="bold underline"))


def _counts(findings: Iterable[Finding]) -> Counter[Severity]:
    return Counter(f.severity for f in findings)


def _severity_counts(counts: Counter[Severity]) -> str:
    return ", ".join(
        plural(counts[s], s.value) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)
    )


def _worth_a_tree(result: ScanResult) -> set[str]:
    """Binaries shown as trees by default: those a standing finding names, or holding a
    part that is not from source."""
    named = {f.binary for f in result.findings if f.binary is not None}
    return {
        str(b.path)
        for b in result.binaries
        if str(b.path) in named or any(c.origin is not Origin.SOURCE for c in b.components)
    }


def _binaries(out: _Writer, result: ScanResult, verbose: bool) -> None:
    worth = _worth_a_tree(result)
    rank: dict[str, int] = {}
    for f in result.findings:
        if f.binary is not None:
            rank[f.binary] = max(rank.get(f.binary, 0), SEVERITY_RANK[f.severity])
    shown = sorted(
        (b for b in result.binaries if str(b.path) in worth),
        key=lambda b: (-rank.get(str(b.path), -1), str(b.path)),
    )
    clean = [b for b in result.binaries if str(b.path) not in worth]
    title = f"Binaries: {len(result.binaries):,}"
    if shown and clean:
        title += f" ({len(shown):,} with findings or parts not from source, {len(clean):,} clean)"
    _heading(out, title)
    for binary in shown:
        _binary_tree(out, binary)
    if clean and verbose:
        for binary in clean:
            _binary_tree(out, binary)
    elif clean:
        _clean_line(out, clean, bool(shown))
    _histogram(out, result.binaries)


def _clean_line(out: _Writer, clean: Sequence[Binary], others: bool) -> None:
    unknown = sum(1 for b in clean if not b.composition_known)
    what = plural(len(clean), "binary")
    if others:
        what = what.replace(" ", " other ", 1)
    text = f"{what} with nothing to report"
    if unknown == len(clean):
        text += ": built modules whose build files and sources are not in the target"
    elif unknown:
        text += (
            f" ({unknown:,} of them built modules whose build files and sources are not "
            "in the target)"
        )
    else:
        text += ", every part built from source"
    if len(clean) <= _LISTED_CLEAN:
        text += ": " + ", ".join(_safe(str(b.path)) for b in clean)
    else:
        text += "; --verbose shows each as a tree"
    out.hang("", Text(text), indent=2)


def _histogram(out: _Writer, binaries: Sequence[Binary]) -> None:
    if not binaries:
        return
    counts = Counter(_declared(b) for b in binaries)
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    out.line(Text("Declared licenses", style="bold"))
    wide = len(f"{rows[0][1]:,}")
    for label, n in rows[:_HISTOGRAM_ROWS]:
        out.hang(f"  {n:>{wide},}  ", label)
    rest = rows[_HISTOGRAM_ROWS:]
    if rest:
        out.line(
            f"  {sum(n for _, n in rest):>{wide},}  with "
            f"{plural(len(rest), 'other license string')}"
        )


def _issue(out: _Writer, i: ScanIssue) -> None:
    mark = "skipped" if i.skipped else "note"
    out.hang(
        Text(f"  {mark:<9}", style="yellow" if i.skipped else "dim"),
        Text.assemble(_safe(str(i.path)), ": ", _safe(i.message)),
    )


def _policy(out: _Writer, result: ScanResult) -> None:
    if result.waived:
        _heading(out, f"Waived: {plural(len(result.waived), 'finding')}")
        for f, w in result.waived:
            out.hang(
                Text("  waived  ", style="dim"),
                Text.assemble(
                    f"{f.rule_id} {f.rule} ",
                    _safe(f.binary or ""),
                    " ",
                    _safe(f.object or ""),
                    (
                        f"  ({_safe(w.source)}: {_safe(w.justification)}"
                        + (f"; until {w.expires}" if w.expires else "")
                        + (f"; approved by {_safe(w.approved_by)}" if w.approved_by else "")
                        + ")",
                        "dim",
                    ),
                ),
            )
    if result.baseline:
        out.line()
        n = len(result.baseline)
        out.line(
            Text(
                f"{plural(n, 'finding')} already in the baseline (not counted)",
                style="dim",
            )
        )
    for w in result.expired_waivers:
        out.hang(
            "",
            Text(
                f"expired waiver: {_safe(w.source)} ({w.rule}) ended {w.expires}; its "
                "findings count again",
                style="yellow",
            ),
            indent=2,
        )
    for w in result.unused_waivers:
        out.hang(
            "",
            Text(f"unused waiver: {_safe(w.source)} ({w.rule}) matches no finding", style="yellow"),
            indent=2,
        )


def _facts(out: _Writer, result: ScanResult, verbose: bool) -> None:
    facts = [(s.label, s.text) for s in stat_lines(result.stats) if verbose or not s.internal]
    if not facts:
        return
    _heading(out, "Scan")
    wide = max(len(k) for k, _ in facts) + 2
    for key, value in facts:
        out.hang(Text(f"  {key + ':':<{wide}}", style="dim"), Text(_safe(value), style="dim"))


def summary_line(result: ScanResult) -> str:
    """The verdict word and the counts behind it, in one line: the report's last line and
    what the command says after writing a report to a file."""
    counts = _counts(result.findings)
    parts = [_severity_counts(counts)]
    skipped = sum(1 for i in result.issues if i.skipped)
    if skipped:
        parts.append(f"{plural(skipped, 'file or part')} not read")
    gaps = sum(1 for f in result.findings if f.rule == NOT_JUDGED)
    if gaps:
        parts.append(f"{plural(gaps, 'thing')} not judged")
    parts.append(f"{plural(len(result.binaries), 'binary')} judged")
    return f"{_VERDICT_WORD[verdict(result)]}: " + "; ".join(parts)


def render(
    result: ScanResult, *, color: bool = False, width: int | None = None, verbose: bool = False
) -> str:
    """The report as text (with ANSI styles when ``color``), wrapped at ``width`` with
    hanging indents, or not wrapped when ``width`` is None. ``verbose`` shows every binary
    as a tree and every scan fact."""
    out = _Writer(width)
    out.hang(
        Text.assemble(("gplscan ", "bold"), result.tool_version, "  audit of "),
        _safe(result.target),
        indent=2,
    )
    if not result.binaries:
        out.line()
        out.hang(
            "",
            Text(
                "No binaries found: no Kbuild/Makefile module and no built module in the target.",
                style="yellow",
            ),
        )
    findings = sorted(
        (f for f in result.findings if f.rule != NOT_JUDGED),
        key=lambda f: -SEVERITY_RANK[f.severity],
    )
    if findings:
        _heading(out, f"Findings: {_severity_counts(_counts(findings))}")
        for f in findings:
            _finding(out, f)
    gaps = [f for f in result.findings if f.rule == NOT_JUDGED]
    skipped = [i for i in result.issues if i.skipped]
    if gaps or skipped:
        _heading(
            out,
            "Not judged: "
            + ", ".join(
                part
                for part in (
                    plural(len(gaps), "thing") if gaps else "",
                    f"{plural(len(skipped), 'file or part')} not read" if skipped else "",
                )
                if part
            ),
        )
        for f in gaps:
            _finding(out, f)
        for i in skipped:
            _issue(out, i)
    _remedies(out, result)
    if result.binaries:
        _binaries(out, result, verbose)
    _policy(out, result)
    notes = [i for i in result.issues if not i.skipped]
    if notes:
        _heading(out, f"Notes: {len(notes):,}")
        for i in notes:
            _issue(out, i)
    _facts(out, result, verbose)
    out.line()
    word = _VERDICT_WORD[verdict(result)]
    line = summary_line(result)
    out.hang(
        Text(word, style=_VERDICT_STYLE[verdict(result)]),
        Text(line[len(word) :], style="bold"),
        indent=len(word) + 2,
    )
    return out.text(color)

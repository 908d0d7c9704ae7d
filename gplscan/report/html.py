"""The HTML report: one self-contained file a compliance engineer or a lawyer can read.

Rendered server-side with Jinja2 (autoescaping on), so every section reads with
JavaScript off; the inline script only adds search, filters and expand/collapse. CSS and
JavaScript are inlined and nothing is loaded from anywhere: the file opens offline. The
gplscan/1 JSON report is embedded for machines in a ``<script type="application/json">``
block.

Every string from the scanned tree is hostile. In HTML, Jinja escapes it; before that,
:func:`~gplscan.report.escape.visible` turns NULs, control characters, bidi overrides and
lone surrogates (undecodable bytes of surrogateescape-decoded paths) into visible escapes,
for every value the template prints. In the embedded JSON,
:func:`~gplscan.report.escape.script_json` escapes ``<``, ``>``, ``&`` and U+2028/2029 so
that no string can end the script block or open a comment.

jinja2 is imported only when a report is rendered (``gplscan --help`` stays fast).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from gplscan.findings import exit_code, not_judged
from gplscan.model import (
    EXIT_ERROR,
    EXIT_FINDINGS,
    MODULE_KINDS,
    SEVERITY_RANK,
    Binary,
    Finding,
    LicenseStatus,
    Origin,
    Rule,
    ScanResult,
    Severity,
    Waiver,
    few,
)
from gplscan.report import json as json_report
from gplscan.report.escape import css_string, script_json, visible
from gplscan.report.inventory import STATUS_LABELS
from gplscan.report.layout import MAX_PER_COLUMN, Layout, layout_binary, where
from gplscan.report.stats import stat_lines

if TYPE_CHECKING:
    import jinja2

TEMPLATE = "report.html.j2"
# findings whose object is drawn as "incompatible" in its binary's graph
INCOMPATIBLE_RULES = frozenset({"gpl-links-incompatible-license", "denied-license"})
# binaries drawn open when the report is this small, else only those with findings
OPEN_ALL_BELOW = 20
# above this many binaries, those with nothing to show (no finding, no closed or unknown
# part) are one row each of a table, not a section with a graph: Debian's 4,022 modules
# made a 16 MiB page of 4,022 graphs that each drew only "module -> imports"
COMPACT_ABOVE = 200
# an embedded JSON report larger than this is stored gzip-compressed, in base64
EMBED_RAW_BELOW = 256 * 1024
TOP_FINDINGS = 10
TOP_UNRESOLVED = 100


def _embedding(text: str) -> dict[str, str]:
    """The JSON report as the page embeds it: as text, or, above EMBED_RAW_BELOW, gzip
    (no timestamp: the page stays reproducible) in base64, which the page's script
    unpacks for "Save JSON" and :func:`embedded_report` reads back."""
    if len(text) < EMBED_RAW_BELOW:
        return {"data_json": text, "data_encoding": ""}
    packed = gzip.compress(text.encode("ascii"), compresslevel=9, mtime=0)
    return {"data_json": base64.b64encode(packed).decode("ascii"), "data_encoding": "gzip+base64"}


_DATA_BLOCK = re.compile(
    r'<script type="application/json" id="gplscan-data"(?: data-encoding="([^"]*)")?>'
    r"(.*?)</script>",
    re.S,
)


def embedded_report(page: str) -> Any:
    """The gplscan/1 JSON report a page embeds, as data."""
    m = _DATA_BLOCK.search(page)
    if m is None:
        raise ValueError("no gplscan-data block in the page")
    body = m.group(2)
    if m.group(1) == "gzip+base64":
        body = gzip.decompress(base64.b64decode(body)).decode("ascii")
    return json.loads(body)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the run concludes, as the command's exit code would say it."""

    status: str  # fail | pass | incomplete
    exit_code: int
    headline: str
    detail: str


def verdict(result: ScanResult, fail_on: str, allow_partial: bool) -> Verdict:
    """The exit verdict, by the rule of ``gplscan audit`` (:func:`gplscan.findings.exit_code`)."""
    code = exit_code(result, fail_on, allow_partial)
    if code == EXIT_ERROR:
        skipped = sum(1 for i in result.issues if i.skipped)
        return Verdict(
            "incomplete",
            code,
            "Incomplete scan",
            f"{_count(skipped, 'file or part', 'files or parts')} could not be read (listed "
            "under Scan facts), so the package cannot be said to pass; the findings below "
            "cover the rest.",
        )
    if code == EXIT_FINDINGS:
        threshold = SEVERITY_RANK[Severity(fail_on)]
        failing = [f for f in result.findings if SEVERITY_RANK[f.severity] >= threshold]
        binaries = sorted({f.binary for f in failing if f.binary})
        what = f"in {few(binaries)}" if binaries else "in the target"
        return Verdict(
            "fail",
            code,
            "Fails",
            f"{_count(len(failing), 'problem')} serious enough to stop a release {what} "
            f"(findings of severity {fail_on} or worse; --fail-on {fail_on}). What they "
            "mean and what to do is said in plain words below.",
        )
    gaps = not_judged(result)
    if gaps:
        return Verdict(
            "incomplete",
            code,
            "Incomplete: not everything could be judged",
            f"{_count(len(gaps), 'thing')} that decide the verdict could not be established; each "
            "not-judged finding below says what and why. Nothing at or above "
            f"{fail_on} was found in the rest.",
        )
    return Verdict(
        "pass",
        code,
        "Passes",
        f"No new finding at or above {fail_on} (--fail-on {fail_on})."
        if fail_on != "never"
        else "--fail-on never: findings are reported, never failed on.",
    )


@dataclass(frozen=True, slots=True)
class FindingView:
    """A finding as the report shows it: with its rule, anchor and waiver."""

    anchor: str
    finding: Finding
    rule: Rule | None
    status: str  # new | waived | baseline
    waiver: Waiver | None
    binary_anchor: str | None


@dataclass(frozen=True, slots=True)
class BinaryView:
    """A binary's section: its graph, components, imports and findings."""

    anchor: str
    binary: Binary
    graph: Layout | None  # drawn only where it says more than the imports line
    findings: tuple[FindingView, ...]
    severities: tuple[tuple[str, int], ...]
    rules: tuple[str, ...]
    closed: int
    flagged: frozenset[str]
    declared: str | None
    licenses: tuple[str, ...]
    providers: tuple[tuple[str, int, int], ...]  # (provider, symbols, GPL-only symbols)
    gpl_imports: tuple[str, ...]
    unresolved: tuple[str, ...]
    open: bool
    notable: bool  # findings, closed, unknown or incompatible parts: shown in full
    draw: bool  # a graph that says more than the imports line does


@dataclass(frozen=True, slots=True)
class InventoryGroup:
    """One license (or status, for files without one) and its files with their binaries."""

    license: str
    is_license: bool
    files: tuple[tuple[str, int | None, str, tuple[str, ...]], ...]  # path, line, status, bins
    binaries: tuple[str, ...]


def _sort_key(f: Finding) -> tuple[int, str, str, str, str]:
    return (-SEVERITY_RANK[f.severity], f.rule_id, f.binary or "", f.object or "", f.path)


def _finding_views(result: ScanResult, anchors: dict[str, str]) -> list[FindingView]:
    rules = {r.name: r for r in result.rules}
    entries: list[tuple[Finding, str, Waiver | None]] = [
        *((f, "new", None) for f in sorted(result.findings, key=_sort_key)),
        *((f, "waived", w) for f, w in sorted(result.waived, key=lambda fw: _sort_key(fw[0]))),
        *((f, "baseline", None) for f in sorted(result.baseline, key=_sort_key)),
    ]
    return [
        FindingView(
            f"f-{i}",
            f,
            rules.get(f.rule),
            status,
            waiver,
            anchors.get(f.binary) if f.binary is not None else None,
        )
        for i, (f, status, waiver) in enumerate(entries, 1)
    ]


def _binary_view(
    b: Binary,
    anchor: str,
    findings: list[FindingView],
    licenses: dict[str, str | None],
    many: bool,
) -> BinaryView:
    new = [v for v in findings if v.status == "new"]
    flagged = frozenset(
        v.finding.object
        for v in new
        if v.finding.rule in INCOMPATIBLE_RULES and v.finding.object is not None
    )
    counts = Counter(str(v.finding.severity) for v in new)
    providers: dict[str, list[int]] = {}
    for imp in b.imports:
        if imp.provider != "unresolved":
            row = providers.setdefault(imp.provider, [0, 0])
            row[0] += 1
            row[1] += 1 if imp.gpl_only else 0
    serious = any(v.finding.severity is not Severity.INFO for v in new)
    draw = bool(b.components) or bool(findings)
    return BinaryView(
        anchor=anchor,
        binary=b,
        graph=layout_binary(b, licenses=licenses, flagged=flagged) if draw else None,
        findings=tuple(findings),
        severities=tuple((str(s), counts[str(s)]) for s in Severity if counts[str(s)]),
        rules=tuple(sorted({v.finding.rule for v in new})),
        closed=sum(1 for c in b.components if c.origin is Origin.CLOSED),
        flagged=flagged,
        declared=b.declared.value.decode("utf-8", "surrogateescape") if b.declared else None,
        licenses=tuple(sorted({c.license for c in b.components if c.license})),
        providers=tuple(
            (p, n, g) for p, (n, g) in sorted(providers.items(), key=lambda kv: -kv[1][0])
        ),
        gpl_imports=tuple(sorted(i.symbol for i in b.imports if i.gpl_only)),
        unresolved=tuple(sorted(i.symbol for i in b.imports if i.provider == "unresolved")),
        open=not many or serious,
        notable=bool(findings) or any(c.origin is not Origin.SOURCE for c in b.components),
        draw=draw,
    )


def _ordered(binaries: list[BinaryView]) -> list[BinaryView]:
    """Binaries with findings first (most severe first), then those with closed or unknown
    parts, then the rest; by path within each group."""

    def key(b: BinaryView) -> tuple[int, int, str]:
        worst = max((SEVERITY_RANK[Severity(s)] for s, _ in b.severities), default=-1)
        return (-worst, 0 if b.notable else 1, str(b.binary.path))

    return sorted(binaries, key=key)


def _overview(result: ScanResult, binaries: list[BinaryView]) -> dict[str, Any]:
    """What a large target holds, at a glance: declared licenses (with how many binaries
    declare each), binaries with findings, closed and unknown parts, GPL-only importers."""
    declared = Counter(
        b.declared if b.declared is not None else "(none declared)"
        for b in binaries
        if b.binary.kind in MODULE_KINDS
    )
    return {
        "declared": declared.most_common(),
        "with_findings": sum(1 for b in binaries if b.severities),
        "closed": sum(b.closed for b in binaries),
        "unknown": sum(
            1 for b in binaries for c in b.binary.components if c.origin is Origin.UNKNOWN
        ),
        "gpl_importers": sum(1 for b in binaries if b.gpl_imports),
        "kinds": Counter(b.binary.kind for b in binaries).most_common(),
    }


def _file_binaries(result: ScanResult) -> dict[str, list[str]]:
    """file path -> the binaries its code reaches (as a source or a shipped file)."""
    reach: dict[str, list[str]] = {}
    for b in result.binaries:
        for c in b.components:
            files = {str(s) for s in c.sources}
            if c.file is not None:
                files.add(str(c.file))
            for path in files:
                holders = reach.setdefault(path, [])
                if not holders or holders[-1] != str(b.path):
                    holders.append(str(b.path))
    return reach


def _inventory(result: ScanResult) -> list[InventoryGroup]:
    reach = _file_binaries(result)
    groups: dict[tuple[str, bool], list[tuple[str, int | None, str, tuple[str, ...]]]] = {}
    for f in result.inventory:
        key = (f.license, True) if f.license else (STATUS_LABELS.get(f.status, f.status), False)
        path = str(f.path)
        how: str = f.status
        if f.status == LicenseStatus.DETECTED and f.rule:
            lines = f"lines {f.line}-{f.end_line}" if f.line and f.end_line else ""
            score = f"score {f.score:g}" if f.score is not None else ""
            how = f"detected: scancode rule {f.rule}" + "".join(
                f", {part}" for part in (score, lines) if part
            )
        bins = f.binaries or tuple(reach.get(path, ()))
        groups.setdefault(key, []).append((path, f.line, how, bins))
    ordered = sorted(groups.items(), key=lambda kv: (not kv[0][1], -len(kv[1]), kv[0][0]))
    return [
        InventoryGroup(
            license,
            is_license,
            tuple(files),
            tuple(sorted({b for *_, bins in files for b in bins})),
        )
        for (license, is_license), files in ordered
    ]


def _kernel_use(
    result: ScanResult,
) -> tuple[list[tuple[str, int, int, int]], list[tuple[str, int]], int]:
    """Import providers over all binaries (provider, modules, symbols, GPL-only), the
    most-used unresolved symbols (symbol, modules), and the number of unresolved ones."""
    modules: Counter[str] = Counter()
    symbols: Counter[str] = Counter()
    gpl: Counter[str] = Counter()
    unresolved: Counter[str] = Counter()
    for b in result.binaries:
        for provider in {i.provider for i in b.imports if i.provider != "unresolved"}:
            modules[provider] += 1
        for imp in b.imports:
            if imp.provider == "unresolved":
                unresolved[imp.symbol] += 1
            else:
                symbols[imp.provider] += 1
                gpl[imp.provider] += 1 if imp.gpl_only else 0
    providers = [(p, modules[p], symbols[p], gpl[p]) for p, _ in symbols.most_common()]
    return providers, unresolved.most_common(TOP_UNRESOLVED), len(unresolved)


def context(
    result: ScanResult, fail_on: str = "error", allow_partial: bool = False
) -> dict[str, Any]:
    """Everything the template shows, computed here so that the template only lays out."""
    anchors = {str(b.path): f"b-{i}" for i, b in enumerate(result.binaries, 1)}
    views = _finding_views(result, anchors)
    by_binary: dict[str, list[FindingView]] = {}
    for v in views:
        if v.finding.binary is not None:
            by_binary.setdefault(v.finding.binary, []).append(v)
    licenses = {str(f.path): f.license for f in result.inventory}
    many = len(result.binaries) > OPEN_ALL_BELOW
    binaries = _ordered(
        [
            _binary_view(b, anchors[str(b.path)], by_binary.get(str(b.path), []), licenses, many)
            for b in result.binaries
        ]
    )
    compact = len(binaries) > COMPACT_ABOVE
    data = json_report.as_dict(result)
    providers, unresolved, unresolved_total = _kernel_use(result)
    new = [v for v in views if v.status == "new"]
    js = _asset("report.js")
    return {
        "result": result,
        "summary": data["summary"],
        "provenance": data["provenance"],
        "plain": _plain(views, result.rules, fail_on),
        "print_header": css_string(
            f"gplscan report: {result.target}"
            + (f" · scanned {result.provenance.scanned_at}" if result.provenance else "")
        ),
        "verdict": verdict(result, fail_on, allow_partial),
        "fail_on": fail_on,
        "findings": views,
        "new_count": len(new),
        "top": new[:TOP_FINDINGS],
        "binaries": [b for b in binaries if b.notable or not compact],
        "plain_binaries": [b for b in binaries if compact and not b.notable],
        "overview": _overview(result, binaries),
        "many": many,
        "meeting": [b for b in binaries if len(b.licenses) > 1 or b.closed or b.flagged],
        "inventory": _inventory(result),
        "inventory_counts": Counter(f.status for f in result.inventory),
        "providers": providers,
        "unresolved": unresolved,
        "unresolved_total": unresolved_total,
        "facts": [(s.label, s.text) for s in stat_lines(result.stats) if not s.volatile],
        "skipped": [i for i in result.issues if i.skipped],
        "notes": [i for i in result.issues if not i.skipped],
        "rules_used": sorted({v.finding.rule for v in views}),
        "severities": [str(s) for s in Severity],
        "max_per_column": MAX_PER_COLUMN,
        **_embedding(script_json(data)),
        "css": _asset("report.css"),
        "js": js,
        # the CSP lets this one script run and nothing else, not even an inline handler
        "script_hash": base64.b64encode(hashlib.sha256(js.encode()).digest()).decode(),
    }


def _plain(
    views: list[FindingView], rules: tuple[Rule, ...], fail_on: str
) -> list[tuple[Rule, list[str]]]:
    """Per rule with new findings at or above ``fail_on`` (errors when nothing fails): the
    rule, for its plain words and remedy, and the binaries it names, in rule order."""
    bar = Severity(fail_on) if fail_on in {str(s) for s in Severity} else Severity.ERROR
    names: dict[str, set[str]] = {}
    for v in views:
        if v.status == "new" and SEVERITY_RANK[v.finding.severity] >= SEVERITY_RANK[bar]:
            names.setdefault(v.finding.rule, set()).add(v.finding.binary or str(v.finding.path))
    return [(r, sorted(names[r.name])) for r in rules if r.name in names and r.plain]


def _asset(name: str) -> str:
    return (resources.files("gplscan.report") / "templates" / name).read_text(encoding="utf-8")


def _finalize(value: Any) -> Any:
    """Applied to every value the template prints, before autoescaping."""
    from markupsafe import Markup

    if value is None:
        return ""
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return visible(value)
    return visible(str(value))


def _location(path: object, line: int | None = None) -> str:
    if path is None:
        return ""
    return f"{path}:{line}" if line else str(path)


def environment() -> jinja2.Environment:
    """The Jinja2 environment of the report: package templates, autoescape everywhere."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gplscan.report", "templates"),
        autoescape=True,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["loc"] = _location
    env.filters["where"] = where
    env.filters["plural"] = _plural
    return env


def _count(count: int, word: str, plural: str | None = None) -> str:
    return _plural(count, word, plural)


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def render(result: ScanResult, *, fail_on: str = "error", allow_partial: bool = False) -> str:
    """The report as one HTML document (deterministic: no timestamp, sorted sections)."""
    from markupsafe import Markup

    ctx = context(result, fail_on, allow_partial)
    for key in ("data_json", "css", "js"):
        ctx[key] = Markup(ctx[key])  # trusted: ours, or escaped for the script context
    return environment().get_template(TEMPLATE).render(ctx)

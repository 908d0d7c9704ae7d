"""One report for many targets: a summary row per target and each target's own report.

- JSON (schema ``gplscan-fleet/1``): ``summary`` (counts of verdicts, the worst exit
  code), ``targets`` (the table: one row per target) and ``reports`` (each target's
  gplscan/1 report, as ``gplscan audit TARGET --format json`` writes it, in the same
  order; null for a target that could not be judged).
- Terminal: the table, one line per target, and a last line with the counts.
- HTML: an index page (verdict, findings, binaries, closed parts per target, each
  linking to the target's own HTML report, written beside it).

Rows are read from each target's JSON report, so that a row says what its report says,
whether it was judged now or taken from an earlier run.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gplscan import __version__
from gplscan.fleet.judge import Outcome

SCHEMA = "gplscan-fleet/1"
ERROR = "error"  # the verdict of a target that could not be judged


@dataclass(frozen=True, slots=True)
class Row:
    """One target in the summary table."""

    target: str
    verdict: str  # fails | incomplete | passes (inventory: complete | incomplete) | error
    exit_code: int
    findings: dict[str, int]
    files: int
    binaries: int
    closed: int  # distinct objects no source accounts for
    unknown: int  # distinct objects whose origin could not be told
    licenses: dict[str, int]  # inventory: files by status (tagged, detected, none, ...)
    error: str | None
    seconds: float
    worker: str
    resumed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "findings": self.findings,
            "files": self.files,
            "binaries": self.binaries,
            "closed": self.closed,
            "unknown": self.unknown,
            "inventory": self.licenses,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "worker": self.worker,
            "resumed": self.resumed,
        }


def parsed(outcome: Outcome) -> dict[str, Any] | None:
    """The target's gplscan/1 report as data, or None when it has none (read by orjson:
    a Linux tree's report is 24 MB, ≈5 times faster than the json module)."""
    if outcome.report is None:
        return None
    data: dict[str, Any]
    try:
        import orjson

        data = orjson.loads(outcome.report)
    except (ImportError, ValueError):  # e.g. a lone surrogate the json module wrote as \udcxx
        data = json.loads(outcome.report)
    return data


_UNREAD: Any = object()


def row(outcome: Outcome, inventory: bool, report: Any = _UNREAD) -> Row:
    """The summary row of ``outcome``, read from its report (``report``: already parsed)."""
    if report is _UNREAD:
        report = parsed(outcome)
    if report is None:
        return Row(
            outcome.shown, ERROR, outcome.exit_code, {}, 0, 0, 0, 0, {}, outcome.error,
            outcome.seconds, outcome.worker, outcome.resumed,
        )  # fmt: skip
    summary = report.get("summary", {})
    origins: dict[str, set[str]] = {"closed": set(), "unknown": set()}
    for binary in report.get("binaries", []):
        for part in binary.get("components", []):
            if part.get("origin") in origins:
                origins[part["origin"]].add(part.get("file") or part.get("path"))
    if inventory:
        verdict = "complete" if report.get("complete") else "incomplete"
    else:
        verdict = str(summary.get("verdict"))
    return Row(
        target=outcome.shown,
        verdict=verdict,
        exit_code=outcome.exit_code,
        findings=dict(summary.get("findings", {})),
        files=int(summary.get("files", 0)),
        binaries=int(summary.get("binaries", 0)),
        closed=len(origins["closed"]),
        unknown=len(origins["unknown"]),
        licenses=dict(report.get("inventory", {}).get("counts", {})),
        error=outcome.error,
        seconds=outcome.seconds,
        worker=outcome.worker,
        resumed=outcome.resumed,
    )


def worst(outcomes: Sequence[Outcome]) -> int:
    """The run's exit code: the worst of its targets' (2 > 1 > 0)."""
    return max((o.exit_code for o in outcomes), default=0)


def render_json(outcomes: Sequence[Outcome], *, inventory: bool) -> str:
    """The aggregated JSON report."""
    reports = [parsed(o) for o in outcomes]  # each read once: they can be large
    rows = [row(o, inventory, r) for o, r in zip(outcomes, reports, strict=True)]
    data = {
        "schema": SCHEMA,
        "tool": {"name": "gplscan", "version": __version__},
        "command": "inventory" if inventory else "audit",
        "summary": {
            "targets": len(rows),
            "verdicts": dict(sorted(Counter(r.verdict for r in rows).items())),
            "exit_code": worst(outcomes),
            "resumed": sum(r.resumed for r in rows),
        },
        "targets": [r.as_dict() for r in rows],
        "reports": reports,
    }
    try:  # orjson, ≈5 times faster on 50 MB: the json module's text for every value a report
        # holds (it would differ only for floats below 1e-4, which no report has)
        import orjson

        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"
    except (ImportError, TypeError):  # a string UTF-8 cannot hold (lone surrogates)
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _safe(text: str) -> str:
    """A name as the terminal may show it: control characters escaped."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def render_table(outcomes: Sequence[Outcome], *, inventory: bool) -> str:
    """The terminal's table: one line per target, then the counts and the exit code.
    Target names are never cut; the columns after them line up."""
    reports = [parsed(o) for o in outcomes]  # each read once: they can be large
    rows = [row(o, inventory, r) for o, r in zip(outcomes, reports, strict=True)]
    if inventory:
        head = ["TARGET", "INVENTORY", "FILES", "TAGGED", "DETECTED", "NONE", "UNREAD", "TIME"]
        cells = [
            [_safe(r.target), r.verdict, str(r.files)]
            + [str(r.licenses.get(k, 0)) for k in ("tagged", "detected", "none", "unread")]
            + [_time(r)]
            for r in rows
        ]
    else:
        head = ["TARGET", "VERDICT", "ERRORS", "WARNINGS", "INFO", "BINARIES", "CLOSED", "TIME"]
        cells = [
            [_safe(r.target), r.verdict]
            + [str(r.findings.get(k, 0)) for k in ("error", "warning", "info")]
            + [str(r.binaries), str(r.closed), _time(r)]
            for r in rows
        ]
    widths = [max(len(c[i]) for c in [head, *cells]) for i in range(len(head))]
    lines = []
    for line in [head, *cells]:
        text = line[0].ljust(widths[0]) + "  " + line[1].ljust(widths[1])
        text += "".join("  " + c.rjust(w) for c, w in zip(line[2:], widths[2:], strict=True))
        lines.append(text.rstrip())
    lines.extend(f"{_safe(r.target)}: {_safe(r.error)}" for r in rows if r.error)
    counts = Counter(r.verdict for r in rows)
    said = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    resumed = sum(r.resumed for r in rows)
    again = f"; {resumed} from earlier runs" if resumed else ""
    lines.append(f"{_plural(len(rows), 'target')}: {said}{again}; exit code {worst(outcomes)}")
    return "\n".join(lines) + "\n"


def _time(r: Row) -> str:
    return "earlier" if r.resumed else f"{r.seconds:.1f}s"


def report_names(outcomes: Sequence[Outcome]) -> list[str | None]:
    """File names for the targets' HTML reports (None: the target has none): numbered in
    the targets' order, then the target's last path part, in characters safe anywhere."""
    names: list[str | None] = []
    for n, o in enumerate(outcomes, 1):
        if o.html is None:
            names.append(None)
            continue
        last = o.shown.rstrip("/").rsplit("/", 1)[-1].split(" (", 1)[0] or "target"
        names.append(f"{n:03d}-{re.sub(r'[^A-Za-z0-9._+-]+', '_', last)[:80]}.html")
    return names


_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gplscan: {{ rows|length }} targets</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem;color:#1b1f24}
table{border-collapse:collapse;width:100%}th,td{padding:.3rem .6rem;border-bottom:1px solid #d0d7de}
th{text-align:left;background:#f6f8fa;position:sticky;top:0}td.n{text-align:right}
.fails,.error{color:#a40e26;font-weight:600}.incomplete{color:#7d4e00;font-weight:600}
.passes,.complete{color:#116329;font-weight:600}.err{color:#57606a;font-size:90%}
.wrap{overflow-x:auto}
</style></head><body>
<h1>gplscan {{ version }}: {{ rows|length }} targets</h1>
<p>{% for verdict, n in counts %}{{ n }} {{ verdict }}{% if not loop.last %}, {% endif %}
{%- endfor %};
exit code {{ exit_code }}{% if resumed %}; {{ resumed }} taken from earlier runs{% endif %}.</p>
<div class="wrap"><table>
<thead><tr><th>Target</th><th>Verdict</th><th>Errors</th><th>Warnings</th><th>Info</th>
<th>Binaries</th><th>Closed parts</th><th>Unknown parts</th></tr></thead><tbody>
{% for r, link in rows %}<tr>
<td>{% if link %}<a href="{{ link }}">{{ r.target }}</a>{% else %}{{ r.target }}{% endif %}
{% if r.error %}<div class="err">{{ r.error }}</div>{% endif %}</td>
<td class="{{ r.verdict }}">{{ r.verdict }}</td>
<td class="n">{{ r.findings.get("error", 0) }}</td>
<td class="n">{{ r.findings.get("warning", 0) }}</td>
<td class="n">{{ r.findings.get("info", 0) }}</td><td class="n">{{ r.binaries }}</td>
<td class="n">{{ r.closed }}</td><td class="n">{{ r.unknown }}</td></tr>
{% endfor %}</tbody></table></div>
</body></html>
"""


def render_index(outcomes: Sequence[Outcome], links: Sequence[str | None]) -> str:
    """The HTML index page: a row per target linking to its report (``links``: each
    target's report, relative to the page, or None)."""
    import jinja2

    rows = [row(o, False) for o in outcomes]
    page = jinja2.Environment(autoescape=True).from_string(_INDEX)
    return page.render(
        version=__version__,
        rows=list(zip(rows, links, strict=True)),
        counts=sorted(Counter(r.verdict for r in rows).items()),
        exit_code=worst(outcomes),
        resumed=sum(r.resumed for r in rows),
    )

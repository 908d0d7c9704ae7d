"""One target audited and its report written: what ``audit``, ``demo`` and ``baseline
write`` share. Returns the exit code; the commands exit with it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gplscan.cli.baseline_file import fingerprints
from gplscan.cli.options import ReportChoices
from gplscan.cli.output import report_width, use_color, write_report
from gplscan.cli.progress import progress, show_progress
from gplscan.model import EXIT_ERROR

if TYPE_CHECKING:
    from gplscan.scan import Options


def audit_and_report(
    path: Path, shown: str, opts: Options, report: ReportChoices, *, policy: bool = True
) -> int:
    """Audit ``path`` (named ``shown`` in the report) as ``report`` asks, write the report,
    and return the exit code. ``policy``: apply the config's severities, waivers and the
    baseline (a baseline being written holds every finding as found)."""
    from gplscan.errors import GplscanError
    from gplscan.fleet.judge import audited
    from gplscan.report.registry import RenderOptions, render

    fmt, output = report.fmt, report.output
    if fmt == "html" and output is None and not report.quiet:
        click.echo(
            "gplscan: writing HTML to standard output; "
            "use --output report.html to write a file to open in a browser",
            err=True,
        )
    try:
        held = fingerprints(report.baseline) if report.baseline is not None else frozenset()
        bar_color = use_color(report.color, sys.stderr)
        with progress(show_progress(report.quiet, fmt, output), bar_color) as bar:
            # the steps a fleet's task takes for each of its targets (gplscan.fleet.judge)
            result = audited(
                path,
                shown,
                opts,
                fail_on=report.fail_on,
                allow_partial=report.allow_partial,
                command=("gplscan", *sys.argv[1:]),
                config_path=report.config_path,
                held=held,
                policy=policy,
                progress=bar.update,
                busy=bar.busy,
            )
            layout = RenderOptions(
                color=use_color(report.color, sys.stdout if output is None else None),
                width=report_width(output is None and sys.stdout.isatty()),
                verbose=report.verbose,
            )
            text = render(fmt, result, layout)
    except GplscanError as exc:
        click.echo(f"gplscan: {exc}", err=True)
        return EXIT_ERROR
    if not write_report(text, output, report.quiet, result):
        return EXIT_ERROR
    from gplscan.findings import exit_code

    return exit_code(result, result.fail_on, report.allow_partial)

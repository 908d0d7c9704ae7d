"""``gplscan baseline write``: accept today's findings, so that CI fails only on new ones."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gplscan.cli.options import ReportChoices, ScanChoices, scan_options
from gplscan.cli.single import audit_and_report


@click.group()
def baseline() -> None:
    """Baselines: accept today's findings so that CI fails only on new ones."""


@baseline.command("write")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("gplscan-baseline.json"),
    show_default=True,
    help="Where to write the baseline (a gplscan/1 JSON report).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress on standard error.")
@scan_options
def baseline_write(path: Path, output: Path, quiet: bool, scan: ScanChoices) -> None:
    """Audit PATH and write every current finding to a baseline file.

    Then `gplscan audit PATH --baseline gplscan-baseline.json` fails only on findings the
    baseline does not hold (matched by fingerprint: rule, binary, object and symbol, never
    line numbers or absolute paths). Exit 0 once written, 2 on an error.
    """
    report = ReportChoices(fmt="json", output=output, fail_on="never", color=False, quiet=quiet)
    sys.exit(audit_and_report(path, str(path), scan.options(), report, policy=False))

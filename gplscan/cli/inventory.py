"""``gplscan inventory``: license -> files for every file of a target (or of several)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from gplscan.cli.fleet import run_fleet
from gplscan.cli.options import (
    FleetChoices,
    ReportChoices,
    ScanChoices,
    fleet_options,
    scan_options,
)
from gplscan.cli.output import use_color, write_report
from gplscan.cli.progress import progress, show_progress
from gplscan.model import EXIT_CLEAN, EXIT_ERROR
from gplscan.report.registry import INVENTORY_REPORTERS


@click.command()
@click.argument(
    "paths", metavar="TARGET...", nargs=-1, type=click.Path(exists=True, path_type=Path)
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(INVENTORY_REPORTERS)),
    default="terminal",
    show_default=True,
    help="A license -> files listing, or JSON (schema gplscan/1).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the inventory to FILE instead of standard output.",
)
@click.option("--files", "list_files", is_flag=True, help="Name every file under its license.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on standard error.")
@scan_options
@fleet_options
def inventory(
    paths: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    list_files: bool,
    quiet: bool,
    scan: ScanChoices,
    fleet: FleetChoices,
) -> None:
    """License inventory of every file under TARGET: license -> files.

    Every file is accounted for: tagged (SPDX-License-Identifier), detected (license text
    found by scancode-toolkit), none (text with no license), malformed (a tag that does not
    parse), binary (objects and data), or unread (the reason is listed). Exit 2 when some
    file could not be read, else 0.
    """
    from gplscan.errors import GplscanError
    from gplscan.fleet.judge import run_prepared
    from gplscan.report.registry import RenderOptions, render

    # the inventory reads no kernel: --kernel is accepted (the options are shared) and unused
    opts = replace(scan.options(inventory=True, rules=False), kernel=None)
    if fleet.asked(paths):
        report = ReportChoices(fmt=fmt, output=output, quiet=quiet)
        sys.exit(run_fleet(fleet.targets(paths), opts, fleet, report, inventory=True))
    (path,) = paths
    try:
        with progress(show_progress(quiet, fmt, output), use_color(None, sys.stderr)) as bar:
            # a .deb or tarball is unpacked into a scratch area, removed afterwards
            result = run_prepared(path, str(path), opts, bar.update)
    except GplscanError as exc:
        click.echo(f"gplscan: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    layout = RenderOptions(list_files=list_files)
    text = render(fmt, result, layout, reporters=INVENTORY_REPORTERS)
    written = write_report(text, output, quiet, None)
    sys.exit(EXIT_CLEAN if written and result.complete else EXIT_ERROR)

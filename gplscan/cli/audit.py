"""``gplscan audit``: judge one target, or several (a fleet), and report."""

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
    output_options,
    scan_options,
)
from gplscan.cli.single import audit_and_report
from gplscan.model import EXIT_ERROR


@click.command()
@click.argument(
    "paths", metavar="TARGET...", nargs=-1, type=click.Path(exists=True, path_type=Path)
)
@click.option(
    "--inventory",
    is_flag=True,
    help="License-scan every file of PATH, not only what can reach a binary, "
    "and list license -> files in the report.",
)
@click.option(
    "--changed-since",
    metavar="REV",
    default=None,
    help="In a git work tree: judge only the binaries the changes since REV (committed, "
    "staged, unstaged, untracked) can affect: their build lines and included make "
    "fragments, members, objects, sources and the headers these include; a change to a "
    "config file, Module.symvers or Kconfig judges everything. For fast pre-merge runs; "
    "the JSON report's 'judged' says the run was partial.",
)
@click.option(
    "--missing-baseline-ok",
    is_flag=True,
    help="A --baseline file that does not exist means no baseline (CI recipes and the "
    "pre-commit hook, for projects with and without one).",
)
@output_options
@scan_options
@fleet_options
def audit(
    paths: tuple[Path, ...],
    inventory: bool,
    changed_since: str | None,
    missing_baseline_ok: bool,
    report: ReportChoices,
    scan: ScanChoices,
    fleet: FleetChoices,
) -> None:
    """Audit TARGET: a driver source tree, a built tree, a package, or a single object.

    Every module the Kbuild files describe (obj-m, <mod>-objs, <mod>-y, EXTRA_LDFLAGS) and
    every built .ko is a binary; each member object is traced to its source or marked
    closed. Files gplscan cannot read are listed and make the exit code 2.

    Licenses are read for the files that can reach a binary (the sources compiled into
    its objects and the headers they include): SPDX tags first, scancode-toolkit only for
    files without one. Facts are cached by content, so a re-scan reads only what changed.

    Several targets (or --from-file LIST) are judged each as it would be alone, on a
    local process pool or a Dask cluster (--scheduler), into one report: a table, JSON
    with every target's report, or an HTML index linking to each target's report. The
    exit code is the worst of the targets'.
    """
    opts = scan.options(inventory=inventory)
    if missing_baseline_ok and report.baseline is not None and not report.baseline.exists():
        report = replace(report, baseline=None)
    if fleet.asked(paths):
        if changed_since is not None:
            raise click.UsageError("--changed-since takes one target")
        sys.exit(run_fleet(fleet.targets(paths), opts, fleet, report, inventory=False))
    (path,) = paths
    if changed_since is not None:
        from gplscan.cli.git import changed_files

        try:
            changed = changed_files(path, changed_since)
            if changed is not None:  # None: a repository with no commit yet, all is new
                opts = replace(opts, changed=changed, changed_since=changed_since)
        except click.UsageError as exc:
            click.echo(f"gplscan: {exc.message}", err=True)
            sys.exit(EXIT_ERROR)
    sys.exit(audit_and_report(path, str(path), opts, report))

"""Several targets (``audit``/``inventory`` with more than one, a list, a scheduler or
--resume): each judged as it would be alone (:mod:`gplscan.fleet`), into one report."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gplscan.cli.baseline_file import fingerprints
from gplscan.cli.options import FleetChoices, ReportChoices
from gplscan.cli.output import use_color, write_report
from gplscan.cli.progress import progress, show_progress
from gplscan.model import EXIT_ERROR

if TYPE_CHECKING:
    from gplscan.fleet.judge import Outcome
    from gplscan.fleet.run import Engine
    from gplscan.fleet.store import Store
    from gplscan.scan import Options


def run_fleet(
    targets: list[Path],
    opts: Options,
    fleet: FleetChoices,
    report: ReportChoices,
    *,
    inventory: bool,
) -> int:
    """Judge every target (gplscan.fleet), write the aggregated report, return the worst
    exit code."""
    from gplscan.errors import GplscanError
    from gplscan.fleet import aggregate
    from gplscan.fleet import run as fleet_run

    fmt, output = report.fmt, report.output
    if fmt in ("sarif", "gitlab"):
        raise click.UsageError(f"--format {fmt} takes one target; use json for several")
    if fmt == "html" and output is None:
        raise click.UsageError(
            "--format html with several targets needs --output INDEX.html (each target's "
            "report is written into INDEX-targets/ beside it)"
        )
    address = fleet.scheduler or os.environ.get("GPLSCAN_SCHEDULER") or None
    try:
        held = fingerprints(report.baseline) if report.baseline is not None else frozenset()
        tasks = fleet_run.plan(
            targets,
            opts,
            inventory=inventory,
            fail_on=report.fail_on,
            allow_partial=report.allow_partial,
            command=("gplscan", *sys.argv[1:]),
            config_path=report.config_path,
            held=held,
            html=fmt == "html",
        )
        store = _store(opts)
        engine = _engine(address, opts, fleet, len(tasks))
        with progress(show_progress(report.quiet, fmt, output), use_color(None, sys.stderr)) as bar:
            if address is not None:
                bar.busy(f"connecting to {address}")

            def advanced(outcome: Any, done: int, total: int) -> None:
                bar.update("targets", done, total)

            outcomes = fleet_run.run(
                tasks,
                engine,
                store,
                resume=fleet.resume,
                progress=advanced,
                one_core_each=not _in_process(engine),
            )
    except GplscanError as exc:
        click.echo(f"gplscan: {exc}", err=True)
        return EXIT_ERROR
    text = _aggregated(outcomes, report, inventory=inventory)
    if text is None or not write_report(text, output, report.quiet, None):
        return EXIT_ERROR
    return aggregate.worst(outcomes)


def _store(opts: Options) -> Store | None:
    """Where earlier results are kept (CACHE_DIR/fleet); none without a cache."""
    root = opts.cache_directory
    if root is None:
        return None
    from gplscan.fleet.store import Store

    return Store(root / "fleet")


def _engine(address: str | None, opts: Options, fleet: FleetChoices, tasks: int) -> Engine:
    """A Dask cluster when given one, a local pool for several tasks and workers, else this
    process."""
    from gplscan.facts.pool import default_jobs
    from gplscan.fleet import engines
    from gplscan.fleet.spread import SPREAD_AT

    jobs = opts.jobs or default_jobs()
    spread_at = SPREAD_AT if fleet.spread else None
    if address is not None:
        return engines.DaskCluster(
            address, retries=fleet.retries, timeout=fleet.timeout, spread_at=spread_at
        )
    if jobs > 1 and tasks > 1:
        return engines.LocalPool(
            min(jobs, tasks), retries=fleet.retries, timeout=fleet.timeout, spread_at=spread_at
        )
    return engines.InProcess()


def _in_process(engine: Engine) -> bool:
    from gplscan.fleet import engines

    return isinstance(engine, engines.InProcess)


def _aggregated(outcomes: list[Outcome], report: ReportChoices, *, inventory: bool) -> str | None:
    """The report of all targets: an HTML index (each target's page written beside it),
    JSON, or a table. None when a target's page could not be written (said)."""
    from gplscan.fleet import aggregate

    if report.fmt == "json":
        return aggregate.render_json(outcomes, inventory=inventory)
    if report.fmt != "html":
        return aggregate.render_table(outcomes, inventory=inventory)
    assert report.output is not None
    folder = report.output.parent / f"{report.output.stem}-targets"
    names = aggregate.report_names(outcomes)
    from gplscan.process import write_atomically

    try:
        folder.mkdir(parents=True, exist_ok=True)
        for outcome, name in zip(outcomes, names, strict=True):
            if name is not None and outcome.html is not None:
                write_atomically(folder / name, outcome.html)
    except OSError as exc:
        click.echo(f"gplscan: cannot write into {folder}: {exc.strerror}", err=True)
        return None
    links = [f"{folder.name}/{name}" if name else None for name in names]
    return aggregate.render_index(outcomes, links)

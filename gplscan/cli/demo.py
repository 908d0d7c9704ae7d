"""``gplscan demo``: build the bundled Hyper-V 2009 reconstruction and audit it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from gplscan.cli.options import ReportChoices, ScanChoices, output_options
from gplscan.cli.single import audit_and_report
from gplscan.model import EXIT_ERROR


@click.command()
@click.option(
    "--clean",
    is_flag=True,
    help="Audit the clean twin (the drivers as released under the GPL in 2009).",
)
@click.option(
    "--source-only",
    is_flag=True,
    help="Audit the tree as shipped (sources and the shipped blob), not built.",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Build the example in this directory and keep it, to look at or re-audit.",
)
@output_options
def demo(clean: bool, source_only: bool, keep: Path | None, report: ReportChoices) -> None:
    """Build the bundled Hyper-V 2009 reconstruction and audit it.

    The example is a miniature of the 2009 Hyper-V drivers: a VMBus core module and network
    and storage drivers, all GPL source, where the VMBus module also links hv_core.o_shipped,
    a closed x86-64 object with no source in the tree. gplscan compiles it with gcc and ld
    (the closed object from source kept outside the tree) in a temporary directory and
    audits the result. Expect gpl-links-closed-object and module-license-misdeclared, and
    exit code 1; with --clean, no errors and exit code 0.
    """
    from gplscan.examples import ExampleError, prepare_example

    name = "hyperv-2009-open" if clean else "hyperv-2009"
    form = "source-only" if source_only else "built"
    with _workdir(keep) as work:
        try:
            if not report.quiet:
                click.echo(f"Building the {name} example ({form}) in {work} ...", err=True)
            tree = prepare_example(name, work, built=not source_only)
        except ExampleError as exc:
            click.echo(f"gplscan demo: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        code = audit_and_report(tree, f"{name} ({form})", ScanChoices().options(), report)
    sys.exit(code)


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep.resolve()
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gplscan-demo-") as tmp:
        yield Path(tmp)

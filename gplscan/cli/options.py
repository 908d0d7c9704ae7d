"""The options commands share, each set gathered into one dataclass the command receives.

``@output_options`` gives a command ``report: ReportChoices`` (format, output, threshold,
baseline, config, colour, verbosity); ``@scan_options`` gives ``scan: ScanChoices`` (jobs,
cache, kernel, arch); ``@fleet_options`` gives ``fleet: FleetChoices`` (several targets).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from gplscan.fleet import RETRIES, TIMEOUT
from gplscan.model import FAIL_ON
from gplscan.report.registry import REPORTERS

if TYPE_CHECKING:
    from gplscan.scan import Options


@dataclass(frozen=True)
class ReportChoices:
    """What to do with a scan's result: its format, where it goes, what fails the run."""

    fmt: str = "terminal"
    output: Path | None = None
    fail_on: str | None = None
    baseline: Path | None = None
    config_path: Path | None = None
    allow_partial: bool = False
    color: bool | None = None
    verbose: bool = False
    quiet: bool = False


@dataclass(frozen=True)
class ScanChoices:
    """How to scan: workers, cache, the kernel and architecture modules are for."""

    jobs: int | None = None
    cache_dir: Path | None = None
    no_cache: bool = False
    kernel: Path | None = None
    arch: str | None = None

    def options(self, *, inventory: bool = False, rules: bool = True) -> Options:
        """The scan's :class:`gplscan.scan.Options`."""
        from gplscan.scan import Options

        base = Options(
            jobs=self.jobs, arch=self.arch, kernel=self.kernel, inventory=inventory, rules=rules
        )
        if self.no_cache:
            return replace(base, cache_dir=None)
        if self.cache_dir is not None:
            return replace(base, cache_dir=self.cache_dir)
        return base


@dataclass(frozen=True)
class FleetChoices:
    """How to judge several targets: which, where, and how often to try each."""

    from_file: TextIO | None = None
    scheduler: str | None = None
    resume: bool = False
    retries: int = 2
    timeout: float = 3600.0
    spread: bool = True

    def asked(self, paths: tuple[Path, ...]) -> bool:
        """Whether the run is a fleet's: not exactly one target, a list, a scheduler or
        --resume. One target and none of these is today's single-target run, unchanged."""
        return (
            len(paths) != 1
            or self.from_file is not None
            or self.scheduler is not None
            or self.resume
        )

    def targets(self, paths: tuple[Path, ...]) -> list[Path]:
        """The targets given as arguments, then those the list names."""
        targets = list(paths)
        if self.from_file is not None:
            for line in self.from_file:
                name = line.strip()
                if name and not name.startswith("#"):
                    targets.append(Path(name))
        if not targets:
            raise click.UsageError("no target: give one or more TARGETs, or --from-file LIST")
        return targets


def _gathered(
    options: list[Callable[[Any], Any]], keyword: str, kind: type[Any]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding ``options`` to a command, whose values it receives as one
    ``kind`` in the argument ``keyword``."""
    names = [f.name for f in fields(kind)]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def command(**values: Any) -> Any:
            gathered = kind(**{name: values.pop(name) for name in names})
            return func(**values, **{keyword: gathered})

        for option in reversed(options):
            command = option(command)
        return command

    return decorate


output_options = _gathered(
    [
        click.option(
            "--format",
            "fmt",
            type=click.Choice(list(REPORTERS)),
            default="terminal",
            show_default=True,
            help="Report format: a readable tree, JSON (schema gplscan/1), SARIF 2.1.0 for "
            "code-scanning pages, GitLab Code Quality, or html: one self-contained page "
            "(no network, works with JavaScript off) with each binary's link graph, the "
            "findings with their evidence and the license inventory; use it with --output. "
            "SBOMs: spdx (SPDX 2.3 JSON) or cyclonedx (CycloneDX 1.6 JSON), with the link "
            "graph as STATIC_LINK/DYNAMIC_LINK/GENERATED_FROM/CONTAINS and each finding as an "
            "annotation on the part it is about.",
        ),
        click.option(
            "--output",
            "-o",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write the report to FILE instead of standard output "
            "(e.g. --format html -o report.html).",
        ),
        click.option(
            "--fail-on",
            type=click.Choice(FAIL_ON),
            default=None,
            help="Exit 1 when a new finding of this severity or worse is found "
            "(default: the config's fail-on, else error).",
        ),
        click.option(
            "--baseline",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="A previous JSON report (see 'gplscan baseline write'): findings it holds "
            "are shown as baseline and do not fail the run. A file that does not exist is "
            "an error (exit 2), unless --missing-baseline-ok.",
        ),
        click.option(
            "--config",
            "config_path",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Configuration file (default: .gplscan.toml, gplscan.toml or "
            "[tool.gplscan] in pyproject.toml, from the target upwards).",
        ),
        click.option(
            "--allow-partial",
            is_flag=True,
            help="Do not exit 2 when some files could not be read; judge the rest.",
        ),
        click.option(
            "--color/--no-color",
            default=None,
            help="Colour the terminal report and the progress bar, or not. The default is "
            "colour on a terminal; NO_COLOR=1 in the environment turns it off, FORCE_COLOR=1 "
            "turns it on where output is not a terminal; this option overrides both.",
        ),
        click.option(
            "--verbose",
            "-v",
            is_flag=True,
            help="Terminal report: every binary as a tree (by default those with nothing "
            "to report are counted in one line) and every scan fact.",
        ),
        click.option("--quiet", "-q", is_flag=True, help="No progress on standard error."),
    ],
    "report",
    ReportChoices,
)

scan_options = _gathered(
    [
        click.option(
            "--jobs",
            "-j",
            type=click.IntRange(min=1),
            default=None,
            help="Worker processes (default: all cores).",
        ),
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Where to keep the cache of per-file facts "
            "(default: $XDG_CACHE_HOME/gplscan, i.e. ~/.cache/gplscan).",
        ),
        click.option(
            "--no-cache", is_flag=True, help="Neither read nor write the cache: read every file."
        ),
        click.option(
            "--kernel",
            type=click.Path(exists=True, path_type=Path),
            default=None,
            help="The kernel the modules are for: its Module.symvers, a headers or build "
            "tree holding one, or a kernel source tree (default: the target's own "
            "Module.symvers, else the kernel its Kbuild records (.*.o.cmd) were compiled "
            "against, else the running system's; the report says which).",
        ),
        click.option(
            "--arch",
            default=None,
            metavar="ARCH",
            help="Kernel architecture whose arch/ARCH/include headers count (default: the host's).",
        ),
    ],
    "scan",
    ScanChoices,
)

fleet_options = _gathered(
    [
        click.option(
            "--from-file",
            "from_file",
            type=click.File("r", encoding="utf-8"),
            default=None,
            metavar="LIST",
            help="Also judge the targets LIST names, one a line ('-': standard input); "
            "blank lines and lines starting with # are skipped.",
        ),
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            default=None,
            help="Run one task per target on the Dask cluster whose scheduler is at ADDRESS "
            "(tcp://HOST:8786; for several targets the default is $GPLSCAN_SCHEDULER); "
            "needs gplscan[fleet], here and on every worker. Without one, several targets "
            "run on a local process pool of --jobs workers.",
        ),
        click.option(
            "--resume",
            is_flag=True,
            help="Take a target's result from an earlier run (kept in CACHE_DIR/fleet) when "
            "the target, gplscan, its rules and the options are unchanged: a re-run after "
            "a crash, or after some targets changed, judges only the rest.",
        ),
        click.option(
            "--retries",
            type=click.IntRange(min=0),
            default=RETRIES,
            show_default=True,
            help="Several targets: tries after the first for a target whose worker failed "
            "or was lost; then it is reported as not judged (exit 2).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=1),
            default=TIMEOUT,
            show_default=True,
            help="Several targets: seconds one target may run on a worker before it is "
            "reported as not judged (exit 2).",
        ),
        click.option(
            "--spread/--no-spread",
            default=True,
            show_default=True,
            help="Several targets: a large directory (64 MiB of files or more) shares its "
            "per-file work (reading, source facts, license detection) with workers that "
            "have no target of their own: a cluster's free threads, or a local pool's "
            "idle workers once no target is left to start. The tree is still judged "
            "whole; its verdicts are the same either way.",
        ),
    ],
    "fleet",
    FleetChoices,
)

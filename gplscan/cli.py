"""The command line: wiring only. The one place that prints, and knows exit codes.

Exit codes: 0 clean, 1 findings at or above ``--fail-on``, 2 usage or input error, or a
scan that could not read everything (unless ``--allow-partial``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TextIO

import click

from gplscan import __version__

if TYPE_CHECKING:
    from gplscan.model import Rule, ScanResult
    from gplscan.scan import Options

from gplscan.process import EXIT_CLEAN, EXIT_ERROR

FAIL_ON = ("error", "warning", "info", "never")


def _output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["terminal", "json", "sarif", "gitlab", "html", "spdx", "cyclonedx"]),
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
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _scan_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
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
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _fleet_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
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
            default=2,
            show_default=True,
            help="Several targets: tries after the first for a target whose worker failed "
            "or was lost; then it is reported as not judged (exit 2).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=1),
            default=3600.0,
            show_default=True,
            help="Several targets: seconds one target may run on a worker before it is "
            "reported as not judged (exit 2).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


_DEBUG: list[bool] = [bool(os.environ.get("GPLSCAN_DEBUG"))]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="gplscan")
@click.option(
    "--debug",
    is_flag=True,
    help="Show the Python traceback of an internal error (also GPLSCAN_DEBUG=1).",
)
def cli(debug: bool) -> None:
    """Find GPL-mixing in Linux drivers: GPL code statically linked with closed objects.

    gplscan reads a driver tree (sources, Kbuild files, built objects), works out which
    objects are linked into which module, finds the parts no source accounts for, and
    reports each violation with its evidence: the Makefile line, the symbols, the
    MODULE_LICENSE text.

    \b
    Start here:
      gplscan demo                      audit the bundled 2009 Hyper-V reconstruction
      gplscan audit path/to/driver      audit a driver tree (source-only or built)
      gplscan audit DIR --format json -o report.json
      gplscan inventory path/to/tree    license -> files for every file of a tree
      gplscan rules list                what gplscan checks

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input error
    (including a scan that could not read every file, unless --allow-partial, and any
    internal error), 130/143/129 stopped by Ctrl-C/SIGTERM/SIGHUP, 141 output pipe
    closed. A stopped run removes its scratch files and writes no partial report.
    """
    _DEBUG[0] = _DEBUG[0] or debug


@cli.command()
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
@_output_options
@_scan_options
@_fleet_options
def audit(
    paths: tuple[Path, ...],
    inventory: bool,
    changed_since: str | None,
    missing_baseline_ok: bool,
    fmt: str,
    output: Path | None,
    fail_on: str | None,
    baseline: Path | None,
    config_path: Path | None,
    allow_partial: bool,
    color: bool | None,
    verbose: bool,
    quiet: bool,
    jobs: int | None,
    cache_dir: Path | None,
    no_cache: bool,
    kernel: Path | None,
    arch: str | None,
    from_file: TextIO | None,
    scheduler: str | None,
    resume: bool,
    retries: int,
    timeout: float,
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
    opts = _options(jobs, cache_dir, no_cache, arch, kernel=kernel, inventory=inventory)
    if missing_baseline_ok and baseline is not None and not baseline.exists():
        baseline = None
    if _fleet_asked(paths, from_file, scheduler, resume):
        if changed_since is not None:
            raise click.UsageError("--changed-since takes one target")
        sys.exit(
            _fleet(
                _fleet_targets(paths, from_file),
                opts,
                inventory=False,
                fmt=fmt,
                output=output,
                fail_on=fail_on,
                allow_partial=allow_partial,
                config_path=config_path,
                baseline=baseline,
                quiet=quiet,
                scheduler=scheduler,
                resume=resume,
                retries=retries,
                timeout=timeout,
            )
        )
    (path,) = paths
    if changed_since is not None:
        try:
            changed = changed_files(path, changed_since)
            if changed is not None:  # None: a repository with no commit yet, all is new
                opts = replace(opts, changed=changed, changed_since=changed_since)
        except click.UsageError as exc:
            click.echo(f"gplscan: {exc.message}", err=True)
            sys.exit(EXIT_ERROR)
    sys.exit(
        _audit_and_report(
            path,
            str(path),
            fmt,
            output,
            fail_on,
            allow_partial,
            color,
            quiet,
            opts,
            baseline=baseline,
            config_path=config_path,
            verbose=verbose,
        )
    )


def changed_files(target: Path, rev: str) -> frozenset[PurePosixPath] | None:
    """Files changed since ``rev`` (committed, staged, unstaged, untracked), relative to
    the scanned directory; None in a repository with no commit yet (HEAD names nothing:
    every file is new, the whole target is judged)."""
    import subprocess

    root = target if target.is_dir() else target.parent

    def git(*args: str, check: bool = True) -> str:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        if proc.returncode != 0 and not check:
            return ""
        if proc.returncode != 0:
            raise click.UsageError(
                f"--changed-since {rev}: git {' '.join(args)}: {proc.stderr.strip() or 'failed'}"
            )
        return proc.stdout

    top = Path(git("rev-parse", "--show-toplevel").strip())
    if rev == "HEAD" and not git("rev-parse", "--verify", "-q", "HEAD", check=False).strip():
        return None
    # --no-renames: a renamed file is its old path deleted and its new path added
    names = git("diff", "--name-only", "--no-renames", rev, "--").splitlines()
    names += git("ls-files", "--others", "--exclude-standard", "--full-name").splitlines()
    base = PurePosixPath(root.resolve().relative_to(top.resolve()).as_posix())
    paths = [PurePosixPath(name) for name in names]
    inside = {p.relative_to(base) for p in paths if p.is_relative_to(base)}
    # a configuration above the target (the repository's pyproject.toml) applies to it too
    configs = {".gplscan.toml", "gplscan.toml", "pyproject.toml"}
    inside |= {PurePosixPath(p.name) for p in paths if p.name in configs and p not in inside}
    return frozenset(inside)


@cli.group()
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
@_scan_options
def baseline_write(
    path: Path,
    output: Path,
    quiet: bool,
    jobs: int | None,
    cache_dir: Path | None,
    no_cache: bool,
    kernel: Path | None,
    arch: str | None,
) -> None:
    """Audit PATH and write every current finding to a baseline file.

    Then `gplscan audit PATH --baseline gplscan-baseline.json` fails only on findings the
    baseline does not hold (matched by fingerprint: rule, binary, object and symbol, never
    line numbers or absolute paths). Exit 0 once written, 2 on an error.
    """
    opts = _options(jobs, cache_dir, no_cache, arch, kernel=kernel)
    code = _audit_and_report(
        path, str(path), "json", output, "never", False, False, quiet, opts, policy=False
    )
    sys.exit(code)


@cli.command()
@click.argument(
    "paths", metavar="TARGET...", nargs=-1, type=click.Path(exists=True, path_type=Path)
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["terminal", "json"]),
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
@_scan_options
@_fleet_options
def inventory(
    paths: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    list_files: bool,
    quiet: bool,
    jobs: int | None,
    cache_dir: Path | None,
    no_cache: bool,
    kernel: Path | None,
    arch: str | None,
    from_file: TextIO | None,
    scheduler: str | None,
    resume: bool,
    retries: int,
    timeout: float,
) -> None:
    """License inventory of every file under TARGET: license -> files.

    Every file is accounted for: tagged (SPDX-License-Identifier), detected (license text
    found by scancode-toolkit), none (text with no license), malformed (a tag that does not
    parse), binary (objects and data), or unread (the reason is listed). Exit 2 when some
    file could not be read, else 0.
    """
    from gplscan.errors import GplscanError

    opts = _options(jobs, cache_dir, no_cache, arch, inventory=True, rules=False)
    if _fleet_asked(paths, from_file, scheduler, resume):
        sys.exit(
            _fleet(
                _fleet_targets(paths, from_file),
                opts,
                inventory=True,
                fmt=fmt,
                output=output,
                quiet=quiet,
                scheduler=scheduler,
                resume=resume,
                retries=retries,
                timeout=timeout,
            )
        )
    (path,) = paths
    try:
        with _progress(_show_progress(quiet, fmt, output), use_color(None, sys.stderr)) as bar:
            result = _run_prepared(path, str(path), opts, bar.update)
    except GplscanError as exc:
        click.echo(f"gplscan: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    if fmt == "json":
        from gplscan.report import json as json_report

        text = json_report.render(result)
    else:
        from gplscan.report.inventory import render

        text = render(result, list_files=list_files)
    written = _write(text, output, quiet, None)
    sys.exit(EXIT_CLEAN if written and result.complete else EXIT_ERROR)


@cli.command()
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
@_output_options
def demo(
    clean: bool,
    source_only: bool,
    keep: Path | None,
    fmt: str,
    output: Path | None,
    fail_on: str | None,
    baseline: Path | None,
    config_path: Path | None,
    allow_partial: bool,
    color: bool | None,
    verbose: bool,
    quiet: bool,
) -> None:
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
            if not quiet:
                click.echo(f"Building the {name} example ({form}) in {work} ...", err=True)
            tree = prepare_example(name, work, built=not source_only)
        except ExampleError as exc:
            click.echo(f"gplscan demo: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        opts = _options(None, None, False, None)
        code = _audit_and_report(
            tree,
            f"{name} ({form})",
            fmt,
            output,
            fail_on,
            allow_partial,
            color,
            quiet,
            opts,
            baseline=baseline,
            config_path=config_path,
            verbose=verbose,
        )
    sys.exit(code)


@cli.group()
def rules() -> None:
    """What gplscan checks: the rules in rules/ and their default severities.

    'gplscan rules list' names them; 'gplscan rules show GPL001' (or a rule's name) says
    what one means, why it matters and what to do about a finding.
    """


def _load_rules_or_exit() -> tuple[Rule, ...]:
    from gplscan.errors import GplscanError
    from gplscan.rules import load_rules

    try:
        return load_rules()
    except GplscanError as exc:
        click.echo(f"gplscan: {exc}", err=True)
        sys.exit(EXIT_ERROR)


def _rule_json(r: Rule) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "severity": str(r.severity),
        "title": r.title,
        "plain": r.plain,
        "why": r.why,
        "remedy": r.remedy,
        "references": list(r.references),
        "source": str(r.source),
    }


@rules.command("list")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "md"]),
    default="text",
    show_default=True,
    help="md: the rule reference page (docs/rules.md is made with it).",
)
def rules_list(fmt: str) -> None:
    """List every rule: id, name, severity and title ('gplscan rules show ID' for one)."""
    import json

    loaded = _load_rules_or_exit()
    if fmt == "json":
        click.echo(json.dumps([_rule_json(r) for r in loaded], indent=2))
        return
    if fmt == "md":
        click.echo(rules_markdown(loaded), nl=False)
        return
    click.echo(rules_table(loaded, report_width(sys.stdout.isatty())), nl=False)


def rules_markdown(loaded: Iterable[Rule]) -> str:
    """The rule reference page, from the rule files alone."""
    out = [
        "# gplscan rules\n\n",
        "Generated from `rules/*.yaml` by `gplscan rules list --format md`; do not edit.\n\n",
        "| id | name | severity | title |\n|---|---|---|---|\n",
    ]
    from gplscan.rules.vocabulary import fragment_text, reference, when_text

    rows = list(loaded)
    out.extend(
        f"| [{r.id}](#{r.id.lower()}) | `{r.name}` | {r.severity} | {r.title} |\n" for r in rows
    )
    out.append("\n" + reference())
    for r in rows:
        out.append(f"\n## {r.id}\n\n**`{r.name}`** ({r.severity}): {r.title}\n\n")
        out.append(f"**In plain words.** {r.plain}\n\n**What to do.** {r.remedy}\n\n")
        out.append(f"**Why.** {r.why}\n\n**Message.** `{r.message}`\n\n")
        out.append(f"**When.** {when_text(r)}; defined in `{r.source}`.\n")
        out.extend(
            f"\n**Fragment `{n}`.** " + fragment_text(cases) + "\n" for n, cases in r.fragments
        )
        if r.references:
            out.append("\n**References.**\n\n" + "".join(f"- <{u}>\n" for u in r.references))
    return "".join(out)


def rules_table(loaded: Iterable[Rule], width: int) -> str:
    """One rule a line (id, name, severity, title) when that fits ``width``; else the
    title on the lines below, wrapped at word boundaries under a hanging indent."""
    import textwrap

    rows = list(loaded)
    if not rows:
        return ""
    name_width = max(len(r.name) for r in rows)
    lead = 8 + name_width + 2 + 9
    if lead + max(len(r.title) for r in rows) <= width:
        return "".join(
            f"{r.id:<6}  {r.name:<{name_width}}  {r.severity.value:<8} {r.title}\n" for r in rows
        )
    out: list[str] = []
    for r in rows:
        out.append(f"{r.id:<6}  {r.name}  {r.severity.value}\n")
        out.extend(
            line + "\n"
            for line in textwrap.wrap(
                r.title,
                width,
                initial_indent=" " * 8,
                subsequent_indent=" " * 8,
                break_on_hyphens=False,
            )
        )
    return "".join(out)


@rules.command("show")
@click.argument("rule_id", metavar="ID")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def rules_show(rule_id: str, fmt: str) -> None:
    """Explain one rule, by id (GPL001) or name (gpl-links-closed-object): its title,
    severity, what it means, why it matters, what to do about a finding, references."""
    import json

    loaded = _load_rules_or_exit()
    wanted = rule_id.strip().casefold()
    rule = next((r for r in loaded if wanted in (r.id.casefold(), r.name.casefold())), None)
    if rule is None:
        import difflib

        names = [r.id for r in loaded] + [r.name for r in loaded]
        close = difflib.get_close_matches(rule_id, names, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        click.echo(
            f"gplscan: no rule {rule_id!r}{hint} ('gplscan rules list' names them all)", err=True
        )
        sys.exit(EXIT_ERROR)
    if fmt == "json":
        click.echo(json.dumps(_rule_json(rule), indent=2))
        return
    click.echo(rule_text(rule, report_width(sys.stdout.isatty())), nl=False)


def rule_text(rule: Rule, width: int) -> str:
    """A rule explained in plain text, each paragraph wrapped at ``width``."""
    import textwrap

    def block(title: str, text: str) -> list[str]:
        body = (
            textwrap.wrap(" ".join(text.split()), width - 2, break_on_hyphens=False)
            if text.strip()
            else []
        )
        return ["", title, *(f"  {line}" for line in body)] if body else []

    lines = [
        f"{rule.id}  {rule.name}",
        *textwrap.wrap(rule.title, width, break_on_hyphens=False),
        "",
        f"Severity: {rule.severity.value} (a config's [severity] table can change it)",
        *block("What it means", rule.plain),
        *block("Why it matters", rule.why),
        *block("What to do", rule.remedy),
    ]
    if rule.references:
        lines += ["", "References", *(f"  {ref}" for ref in rule.references)]
    lines += ["", f"Defined in {rule.source}"]
    return "\n".join(lines) + "\n"


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep.resolve()
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gplscan-demo-") as tmp:
        yield Path(tmp)


def _options(
    jobs: int | None,
    cache_dir: Path | None,
    no_cache: bool,
    arch: str | None,
    *,
    kernel: Path | None = None,
    inventory: bool = False,
    rules: bool = True,
) -> Options:
    from gplscan.scan import Options

    base = Options(jobs=jobs, arch=arch, kernel=kernel, inventory=inventory, rules=rules)
    if no_cache:
        return replace(base, cache_dir=None)
    if cache_dir is not None:
        return replace(base, cache_dir=cache_dir)
    return base


def _run_prepared(
    path: Path, shown: str, opts: Options, progress: Callable[[str, int, int], None]
) -> ScanResult:
    """Unpack a .deb or tarball into a scratch area (removed afterwards) and scan it; a
    directory or a single object is scanned where it is (what a fleet's task does too)."""
    from gplscan.fleet.judge import run_prepared

    return run_prepared(path, shown, opts, progress)


def _show_progress(quiet: bool, fmt: str, output: Path | None) -> bool:
    """A bar on standard error, unless asked for quiet, not a terminal, or JSON on stdout."""
    if quiet or not sys.stderr.isatty():
        return False
    return not (fmt != "terminal" and output is None)


def _audit_and_report(
    path: Path,
    shown: str,
    fmt: str,
    output: Path | None,
    fail_on: str | None,
    allow_partial: bool,
    color: bool | None,
    quiet: bool,
    opts: Options,
    baseline: Path | None = None,
    config_path: Path | None = None,
    policy: bool = True,
    verbose: bool = False,
) -> int:
    from gplscan.errors import GplscanError
    from gplscan.fleet.judge import audited

    if fmt == "html" and output is None and not quiet:
        click.echo(
            "gplscan: writing HTML to standard output; "
            "use --output report.html to write a file to open in a browser",
            err=True,
        )
    try:
        held = _baseline_fingerprints(baseline) if baseline is not None else frozenset()
        bar_color = use_color(color, sys.stderr)
        with _progress(_show_progress(quiet, fmt, output), bar_color) as bar:
            # the steps a fleet's task takes for each of its targets (gplscan.fleet.judge)
            result = audited(
                path,
                shown,
                opts,
                fail_on=fail_on,
                allow_partial=allow_partial,
                command=("gplscan", *sys.argv[1:]),
                config_path=config_path,
                held=held,
                policy=policy,
                progress=bar.update,
                busy=bar.busy,
            )
            fail_on = result.fail_on
            if fmt == "html":
                from gplscan.report import html

                text = html.render(result, fail_on=fail_on, allow_partial=allow_partial)
            else:
                to_terminal = output is None and sys.stdout.isatty()
                text = _render(
                    result,
                    fmt,
                    use_color(color, sys.stdout if output is None else None),
                    report_width(to_terminal),
                    verbose,
                )
    except GplscanError as exc:
        click.echo(f"gplscan: {exc}", err=True)
        return EXIT_ERROR
    if not _write(text, output, quiet, result):
        return EXIT_ERROR
    return exit_code(result, fail_on, allow_partial)


def _fleet_asked(
    paths: tuple[Path, ...], from_file: TextIO | None, scheduler: str | None, resume: bool
) -> bool:
    """Whether the run is a fleet's: not exactly one target, a list, a scheduler or
    --resume. One target and none of these is today's single-target run, unchanged."""
    return len(paths) != 1 or from_file is not None or scheduler is not None or resume


def _fleet_targets(paths: tuple[Path, ...], from_file: TextIO | None) -> list[Path]:
    """The targets given as arguments, then those the list names."""
    targets = list(paths)
    if from_file is not None:
        for line in from_file:
            name = line.strip()
            if name and not name.startswith("#"):
                targets.append(Path(name))
    if not targets:
        raise click.UsageError("no target: give one or more TARGETs, or --from-file LIST")
    return targets


def _fleet(
    targets: list[Path],
    opts: Options,
    *,
    inventory: bool,
    fmt: str,
    output: Path | None,
    quiet: bool,
    scheduler: str | None,
    resume: bool,
    retries: int,
    timeout: float,
    fail_on: str | None = None,
    allow_partial: bool = False,
    config_path: Path | None = None,
    baseline: Path | None = None,
) -> int:
    """Judge every target (gplscan.fleet), write the aggregated report, return the worst
    exit code."""
    from gplscan.errors import GplscanError
    from gplscan.fleet import aggregate, engines
    from gplscan.fleet import run as fleet
    from gplscan.fleet.store import Store

    if fmt in ("sarif", "gitlab"):
        raise click.UsageError(f"--format {fmt} takes one target; use json for several")
    if fmt == "html" and output is None:
        raise click.UsageError(
            "--format html with several targets needs --output INDEX.html (each target's "
            "report is written into INDEX-targets/ beside it)"
        )
    address = scheduler or os.environ.get("GPLSCAN_SCHEDULER") or None
    try:
        held = _baseline_fingerprints(baseline) if baseline is not None else frozenset()
        tasks = fleet.plan(
            targets,
            opts,
            inventory=inventory,
            fail_on=fail_on,
            allow_partial=allow_partial,
            command=("gplscan", *sys.argv[1:]),
            config_path=config_path,
            held=held,
            html=fmt == "html",
        )
        store = None
        if opts.cache_dir is not None:
            from gplscan.facts.cache import default_cache_dir
            from gplscan.scan import Options

            root = default_cache_dir() if opts.cache_dir == Options().cache_dir else opts.cache_dir
            store = Store(root / "fleet")
        from gplscan.facts.pool import default_jobs

        jobs = opts.jobs or default_jobs()
        engine: fleet.Engine
        if address is not None:
            engine = engines.DaskCluster(address, retries=retries, timeout=timeout)
        elif jobs > 1 and len(tasks) > 1:
            engine = engines.LocalPool(min(jobs, len(tasks)), retries=retries, timeout=timeout)
        else:
            engine = engines.InProcess()
        with _progress(_show_progress(quiet, fmt, output), use_color(None, sys.stderr)) as bar:
            if address is not None:
                bar.busy(f"connecting to {address}")

            def progress(outcome: Any, done: int, total: int) -> None:
                bar.update("targets", done, total)

            outcomes = fleet.run(
                tasks,
                engine,
                store,
                resume=resume,
                progress=progress,
                one_core_each=not isinstance(engine, engines.InProcess),
            )
    except GplscanError as exc:
        click.echo(f"gplscan: {exc}", err=True)
        return EXIT_ERROR
    if fmt == "html":
        assert output is not None
        folder = output.parent / f"{output.stem}-targets"
        names = aggregate.report_names(outcomes)
        from gplscan.process import write_atomically

        try:
            folder.mkdir(parents=True, exist_ok=True)
            for outcome, name in zip(outcomes, names, strict=True):
                if name is not None and outcome.html is not None:
                    write_atomically(folder / name, outcome.html)
        except OSError as exc:
            click.echo(f"gplscan: cannot write into {folder}: {exc.strerror}", err=True)
            return EXIT_ERROR
        links = [f"{folder.name}/{name}" if name else None for name in names]
        text = aggregate.render_index(outcomes, links)
    elif fmt == "json":
        text = aggregate.render_json(outcomes, inventory=inventory)
    else:
        text = aggregate.render_table(outcomes, inventory=inventory)
    if not _write(text, output, quiet, None):
        return EXIT_ERROR
    return aggregate.worst(outcomes)


def use_color(flag: bool | None, stream: TextIO | None) -> bool:
    """Whether to colour what goes to ``stream``: --color/--no-color when given; else no
    when NO_COLOR is set to anything, yes when FORCE_COLOR is (no-color.org,
    force-color.org); else when ``stream`` is a terminal. A report written to a file
    (``stream`` None) is coloured only with --color."""
    if flag is not None or stream is None:
        return bool(flag)
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream is not None and stream.isatty()


def report_width(to_terminal: bool) -> int:
    """The width text is wrapped at: the terminal's; else $COLUMNS, else 80.

    Output that goes to a pipe or a file is wrapped too, at a fixed width, rather than
    left as lines of any length: it ends up in a pager, an editor, a CI log or a ticket,
    all of which either wrap long lines back to column 0 or make them scroll sideways,
    and the hanging indents are what keep findings and their evidence apart. Nothing
    worth grepping is split: a finding's head line (severity, rule, place) and paths are
    never broken.
    """
    import shutil

    if to_terminal:
        return max(shutil.get_terminal_size().columns, 40)
    columns = os.environ.get("COLUMNS", "")
    return max(int(columns), 40) if columns.isdigit() else 80


def _baseline_fingerprints(path: Path) -> frozenset[str]:
    """Fingerprints of every finding a previous JSON report holds (new and baseline)."""
    import json

    from gplscan.errors import GplscanError

    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        if report.get("schema") != "gplscan/1":
            raise ValueError("not a gplscan/1 JSON report")
        items = [
            *report.get("findings", []),
            *report.get("baseline", []),
            *report.get("waived", []),
        ]
        return frozenset(str(f["fingerprint"]) for f in items)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GplscanError(f"--baseline {path}: cannot use it as a baseline: {exc}") from exc


def _write(text: str, output: Path | None, quiet: bool, result: ScanResult | None) -> bool:
    if output is None:
        sys.stdout.write(text)
        return True
    from gplscan.process import write_atomically

    try:
        write_atomically(output, text)
    except OSError as exc:
        click.echo(f"gplscan: cannot write {output}: {exc.strerror}", err=True)
        return False
    if not quiet:
        summary = ""
        if result is not None:
            from gplscan.report.terminal import summary_line

            summary = ": " + summary_line(result)
        click.echo(f"Report written to {output}{summary}", err=True)
    return True


def _render(result: ScanResult, fmt: str, color: bool, width: int, verbose: bool) -> str:
    if fmt == "json":
        from gplscan.report import json as json_report

        return json_report.render(result)
    if fmt == "sarif":
        from gplscan.report import sarif

        return sarif.render(result)
    if fmt == "gitlab":
        from gplscan.report import gitlab

        return gitlab.render(result)
    if fmt == "spdx":
        from gplscan.report import spdx

        return spdx.render(result)
    if fmt == "cyclonedx":
        from gplscan.report import cyclonedx

        return cyclonedx.render(result)
    from gplscan.report import terminal

    return terminal.render(result, color=color, width=width, verbose=verbose)


def exit_code(result: ScanResult, fail_on: str, allow_partial: bool) -> int:
    """2 for an incomplete scan (unless allowed), 1 for findings at the threshold, else 0."""
    from gplscan.findings import exit_code as code

    return code(result, fail_on, allow_partial)


class _Bar(Protocol):
    """Progress on standard error: the scan's stages as they run, and what it is busy
    with between them."""

    def update(self, stage: str, done: int, total: int) -> None: ...

    def busy(self, what: str) -> None: ...


class _NoBar:
    def update(self, stage: str, done: int, total: int) -> None:
        pass

    def busy(self, what: str) -> None:
        pass


_JUDGING = "linking and judging"  # what follows the last bar: graph, kernel symbols, rules


def _after(stage: str) -> str:
    """What the run is busy with once ``stage`` is complete."""
    return "reading" if stage == "discover" else _JUDGING


class _PlainBar:
    """Progress without escape sequences (for NO_COLOR and --no-color): one line, redrawn
    in place with carriage returns, at most ten times a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = 0
        self.drawn = 0.0
        self.started: dict[str, tuple[float, int]] = {}

    def update(self, stage: str, done: int, total: int) -> None:
        import time

        now = time.monotonic()
        began, first = self.started.setdefault(stage, (now, done))
        if done >= total:
            self.busy(_after(stage))
            return
        if now - self.drawn < 0.1:
            return
        filled = 20 * done // max(total, 1)
        rate = (done - first) / (now - began) if now > began else 0.0
        self._draw(
            f"{stage:<10} [{'#' * filled}{'.' * (20 - filled)}] {done:,}/{total:,}"
            + (f"  {rate:,.0f} files/s" if rate else "")
        )

    def busy(self, what: str) -> None:
        self._draw(f"{what} ...")

    def _draw(self, text: str) -> None:
        import shutil
        import time

        text = text[: shutil.get_terminal_size().columns - 1]
        self.stream.write("\r" + text + " " * max(self.shown - len(text), 0))
        self.stream.flush()
        self.shown = len(text)
        self.drawn = time.monotonic()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()


@contextmanager
def _progress(enabled: bool, color: bool) -> Iterator[_Bar]:
    """Progress on standard error: rich bars in colour, a plain line without colour (no
    escape sequence at all), or nothing. Between and after the bars a spinner (or the
    plain line) says what the run is busy with, up to the report being written."""
    if not enabled:
        yield _NoBar()
        return
    if not color:
        plain = _PlainBar(sys.stderr)
        try:
            yield plain
        finally:
            plain.close()
        return
    from rich.console import Console, RenderableType
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.spinner import Spinner
    from rich.text import Text

    class Bars(Progress):
        """rich's bars, and below them a spinner naming the stage without a bar."""

        working: Spinner | None = None

        def get_renderables(self) -> Iterable[RenderableType]:
            yield from super().get_renderables()
            if self.working is not None:
                yield self.working

        def update_stage(self, stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = self.add_task(stage, total=total, rate="")
            task = self.tasks[tasks[stage]] if tasks[stage] < len(self.tasks) else None
            speed = task.speed if task is not None else None
            rate = f"{speed:,.0f} files/s" if speed else ""
            self.update(tasks[stage], completed=done, total=total, rate=rate)
            self.busy(_after(stage) if done >= total else None)

        def busy(self, what: str | None) -> None:
            self.working = None if what is None else Spinner("dots", Text(what), style="cyan")

    class Adapter:
        def __init__(self, bars: Bars) -> None:
            self.bars = bars

        def update(self, stage: str, done: int, total: int) -> None:
            self.bars.update_stage(stage, done, total)

        def busy(self, what: str) -> None:
            self.bars.busy(what)

    tasks: dict[str, Any] = {}
    with Bars(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>12}"),
        TimeRemainingColumn(),
        console=Console(stderr=True, no_color=False),
        transient=True,
    ) as bars:
        yield Adapter(bars)


def main() -> None:
    import gc

    from gplscan.tuning import GC_THRESHOLDS

    gc.set_threshold(*GC_THRESHOLDS)  # for the whole command: the scan and its report
    from gplscan.process import (
        GuardedStdout,
        Interrupted,
        PipeClosed,
        private_scancode_temp,
        signals_end_the_scan,
        silence_stdout,
    )

    sys.stdout = GuardedStdout(sys.stdout)
    code = EXIT_ERROR
    with private_scancode_temp():
        try:
            with signals_end_the_scan():
                code = _invoke()
        except Interrupted as stop:
            click.echo(f"\ngplscan: stopped by {stop}; no report was written", err=True)
            code = stop.code
        except PipeClosed as closed:
            silence_stdout()
            code = closed.code
    _leave(code)


def _invoke() -> int:
    """Run the command line; the exit code it ends with. Usage errors are 2; an error
    gplscan did not anticipate is 2 with one line (its traceback with --debug)."""
    try:
        cli.main(standalone_mode=False)
    except SystemExit as done:
        if done.code is not None and not isinstance(done.code, int):
            click.echo(str(done.code), err=True)
            return EXIT_ERROR
        return done.code or EXIT_CLEAN
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except click.exceptions.Abort:
        click.echo("gplscan: aborted", err=True)
        return EXIT_ERROR
    except Exception as exc:  # a bug: said in one line, never as "findings"
        if _DEBUG[0]:
            import traceback

            traceback.print_exc()
        else:
            click.echo(
                f"gplscan: internal error: {type(exc).__name__}: {exc}\n"
                "gplscan: this is a bug in gplscan, not a finding; run again with --debug "
                "for the traceback and report it",
                err=True,
            )
        return EXIT_ERROR
    return EXIT_CLEAN


def _leave(code: int) -> NoReturn:
    """Exit with ``code`` once everything is written, without the interpreter's teardown.

    The command has finished its work by now: its report is written, files and the cache
    are closed, scratch areas removed and worker pools joined (all by ``with`` blocks).
    What the teardown would add is freeing every object one by one, ≈40 ms after an audit
    of 4,000 modules. While a child process is still running, the ordinary exit is taken
    (multiprocessing ends daemonic children there).
    """
    processes = sys.modules.get("multiprocessing")
    if processes is not None and processes.active_children():
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken pipe: nothing more can be said
        pass
    os._exit(code)

"""The library API: ``gplscan.audit(path) -> Report``, what ``gplscan audit`` computes.

A :data:`Report` is a :class:`gplscan.model.ScanResult`: the binaries, the findings with
their evidence, the files not read, the baseline and waivers applied. :func:`render` turns
it into text in any of the command's formats (``gplscan.report.registry``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path, PurePosixPath

from gplscan.model import ScanResult

#: What :func:`audit` returns (a type alias: a report is the scan's result).
Report = ScanResult


def audit(
    path: str | Path,
    *,
    config: str | Path | None = None,
    baseline: Iterable[str] = (),
    changed: Iterable[str | PurePosixPath] | None = None,
    fail_on: str | None = None,
    jobs: int | None = None,
    cache: bool = True,
) -> Report:
    """Audit ``path`` (a driver tree, a built tree, an object, a .deb or tarball) as
    ``gplscan audit`` does, and return the report.

    ``config``: a ``.gplscan.toml`` (default: the nearest one from ``path`` upwards, as the
    command finds it); its severities, waivers and license lists apply. ``baseline``:
    fingerprints of accepted findings (those of a previous report's ``findings``).
    ``changed``: judge only the binaries these files (relative to ``path``) can affect.
    ``fail_on``: the threshold the verdict uses (default: the config's, else ``error``).
    ``cache``: keep per-file facts in gplscan's cache (``~/.cache/gplscan``).

    Raises :class:`gplscan.errors.GplscanError` for a target or configuration it cannot
    use. ``gplscan.findings.exit_code(report, report.fail_on, False)`` gives the command's
    exit code; ``gplscan.findings.verdict(report)`` fails, incomplete or passes.
    """
    from gplscan.config import find_config, load_config
    from gplscan.findings import apply_policy
    from gplscan.scan import Options, run

    target = Path(path)
    settings = load_config(Path(config) if config is not None else find_config(target))
    options = Options(
        jobs=jobs,
        license_allow=settings.allow,
        license_deny=settings.deny,
        changed=frozenset(PurePosixPath(p) for p in changed) if changed is not None else None,
    )
    if not cache:
        options = replace(options, cache_dir=None)
    if target.is_dir():
        result = run(target, options)
    else:  # a .deb or tarball is unpacked into a scratch area, removed afterwards
        from gplscan.unpack import prepare

        with prepare(target) as prepared:
            root = prepared.root
            if prepared.source_root is not None:  # a DKMS package: its usr/src/<name>-<ver>
                root = root / prepared.source_root
            result = run(root, options, display_target=str(target), notes=prepared.notes)
    result = apply_policy(
        result,
        severity=dict(settings.severity),
        waivers=settings.waivers,
        baseline=frozenset(baseline),
    )
    return replace(result, fail_on=fail_on or settings.fail_on or "error")


def render(
    report: Report,
    fmt: str = "json",
    *,
    color: bool = False,
    width: int | None = None,
    verbose: bool = False,
) -> str:
    """``report`` as ``gplscan audit --format FMT`` writes it: ``fmt`` is terminal, json,
    sarif, gitlab, html, spdx or cyclonedx. ``color``, ``width`` (None: no wrapping) and
    ``verbose`` lay out the terminal report. Raises ValueError for another format."""
    from gplscan.report.registry import RenderOptions
    from gplscan.report.registry import render as render_report

    options = RenderOptions(color=color, width=width, verbose=verbose)
    return render_report(fmt, report, options)

"""The one orchestrator: discover -> facts -> link graph -> rules -> findings.

``run()`` never prints; progress reaches the caller through a callback. A file that cannot
be read becomes a :class:`ScanIssue` on the result and the scan goes on with the rest.

The stages are in :mod:`gplscan.scan.pipeline` (the order they run in, and why the link
graph is built twice); :mod:`~gplscan.scan.session` is one scan's access to the files'
facts, :mod:`~gplscan.scan.build` reads the build files, :mod:`~gplscan.scan.gaps` says
what could not be judged, :mod:`~gplscan.scan.judge` evaluates the rules,
:mod:`~gplscan.scan.inventory` lists each file's license.
"""

from __future__ import annotations

from pathlib import Path

from gplscan.model import LicenseFinding, ScanIssue, ScanResult
from gplscan.scan.options import Detector, Options, Progress, no_progress
from gplscan.scan.pipeline import Widen, scan
from gplscan.tuning import few_collections


def run(
    target: Path,
    options: Options | None = None,
    *,
    progress: Progress = no_progress,
    detector: Detector | None = None,
    display_target: str | None = None,
    notes: tuple[ScanIssue, ...] = (),
) -> ScanResult:
    """Scan ``target`` (a directory or one file) and evaluate every rule on it."""
    with few_collections():
        opts = options or Options()
        try:
            return scan(target, opts, progress, detector, display_target, notes)
        except Widen:  # a narrow --changed-since run left a changed file unaccounted for
            return scan(target, opts, progress, detector, display_target, notes, wide=True)


__all__ = ["Detector", "LicenseFinding", "Options", "Progress", "run"]

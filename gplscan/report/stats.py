"""The scan's own facts (:class:`ScanStats`) as the labelled lines the reports show.

Every report shows them in this order, under these labels; each line says whether it is a
fact of the run rather than of the target (``volatile``: left out of the JSON and HTML
reports, so that the same target gives the same report) and whether it is of interest
mainly to gplscan's developers (``internal``: the terminal shows it with ``--verbose``).
"""

from __future__ import annotations

from dataclasses import dataclass

from gplscan.model import ChangeStats, ScanStats, Scope

_HOW = {
    Scope.ALL: "a change to a file that can affect every binary: the whole target judged",
    Scope.NARROW: "only the binaries the changed build files and sources reach judged",
    Scope.WIDE: "only the binaries whose inputs (headers, make fragments, objects "
    "and sources included) changed judged",
}


@dataclass(frozen=True, slots=True)
class StatLine:
    label: str
    text: str
    volatile: bool = False  # a fact of the run, not of the target
    internal: bool = False  # shown by the terminal with --verbose only


def stat_lines(stats: ScanStats | None) -> list[StatLine]:
    """The lines of a scan's facts (none for a result no scan made)."""
    if stats is None:
        return []
    lines = [
        StatLine("jobs", str(stats.jobs), volatile=True, internal=True),
        StatLine("files read", _files_read(stats), volatile=True),
        StatLine(
            "license detection",
            f"{stats.detected} untagged file(s) in scope"
            if stats.detected
            else "not needed: every file in scope carries an SPDX tag",
        ),
        StatLine(
            "scancode index",
            "loaded" if stats.scancode_loaded else "not loaded",
            # whether scancode's index was loaded depends on the cache: a warm one needs none
            volatile=True,
            internal=True,
        ),
        StatLine(
            "symbol index", "read" if stats.symbol_index_read else "not needed", internal=True
        ),
        StatLine(
            "kernel exports",
            f"{stats.kernel_exports} from {stats.kernel_source}"
            if stats.kernel_exports
            else stats.kernel_source,
        ),
        StatLine("seconds", f"{stats.seconds:.2f}", volatile=True),
    ]
    if stats.changed is not None:
        lines.append(StatLine("changed since", _changed(stats.changed)))
    return lines


def _files_read(stats: ScanStats) -> str:
    if stats.files_read < stats.files:
        return f"{stats.files_read} of {stats.files} (the rest unchanged, from the cache)"
    return str(stats.files_read)


def _changed(changed: ChangeStats) -> str:
    since = changed.since or "the files given"
    return f"{since}: {changed.files} changed file(s); {_HOW[changed.scope]}"

"""The scan's own facts: jobs, files read, license detection, kernel exports, timing."""

from __future__ import annotations

from pathlib import PurePosixPath

from gplscan.changes import Scope
from gplscan.facts.symvers import KernelSymbols

_HOW = {
    Scope.ALL: "a change to a file that can affect every binary: the whole target judged",
    Scope.NARROW: "only the binaries the changed build files and sources reach judged",
    Scope.WIDE: "only the binaries whose inputs (headers, make fragments, objects "
    "and sources included) changed judged",
}


def scan_facts(
    *,
    jobs: int,
    files: int,
    files_read: int,
    detected: int,
    scancode_loaded: bool,
    symbols_read: bool,
    kernel: KernelSymbols,
    seconds: float,
    changed: frozenset[PurePosixPath] | None,
    changed_since: str | None,
    judging: Scope,
) -> tuple[tuple[str, str], ...]:
    facts: tuple[tuple[str, str], ...] = (
        ("jobs", str(jobs)),
        (
            "files read",
            f"{files_read} of {files} (the rest unchanged, from the cache)"
            if files_read < files
            else str(files_read),
        ),
        (
            "license detection",
            f"{detected} untagged file(s) in scope"
            if detected
            else "not needed: every file in scope carries an SPDX tag",
        ),
        ("scancode index", "loaded" if scancode_loaded else "not loaded"),
        ("symbol index", "read" if symbols_read else "not needed"),
        (
            "kernel exports",
            f"{len(kernel.exports)} from {kernel.source}" if kernel.exports else kernel.source,
        ),
        ("seconds", f"{seconds:.2f}"),
    )
    if changed is not None:
        since = changed_since or "the files given"
        how = _HOW[judging]
        facts += (("changed since", f"{since}: {len(changed)} changed file(s); {how}"),)
    return facts
